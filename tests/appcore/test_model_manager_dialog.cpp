// The model manager dialog (offscreen): it shows the registry, follows a real download from the test hub
// with its progress bar and status, deletes, and shows the gated-repo advice.
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>

#include "hub_test_util.h"
#include "ui/dialogs/model_manager_dialog.h"

namespace {

const char* kRegistry = R"({"schema": 1, "models": [
  {"id": "tiny", "name": "Tiny video model", "repo": "test-org/tiny-video", "format": "lvdm-ckpt",
   "config_name": "x.yaml", "tasks": ["t2v"], "include": ["model.ckpt"], "approx_size_bytes": 400000,
   "licence": {"name": "Apache-2.0", "url": "https://example.invalid/licence"},
   "defaults": {"num_inference_steps": 50}, "requires": ["vocab"]},
  {"id": "vocab", "name": "Tiny vocabulary", "repo": "test-org/tiny-vocab", "format": "clip-bpe",
   "tasks": ["tokenizer"], "include": ["vocab.json"], "approx_size_bytes": 30,
   "licence": {"name": "MIT"}},
  {"id": "locked", "name": "Gated model", "repo": "test-org/gated", "format": "lvdm-ckpt", "tasks": ["i2v"],
   "include": ["model.ckpt"], "licence": {"name": "Custom"}, "gated": true,
   "access": "Accept the licence on the model page, then enter a token."}
]})";

}  // namespace

TEST_CASE("model manager dialog: shows the registry and follows a download's progress", "[appcore][ui]") {
    testhub::HubFixture fx;
    testhub::Repo video;
    video.commit = testhub::HubTestServer::makeCommit(11);
    testhub::File ckpt;
    ckpt.content = testhub::HubTestServer::makeContent(400000, 4);
    video.files.insert(QStringLiteral("model.ckpt"), ckpt);
    fx.server.addRepo(QStringLiteral("test-org/tiny-video"), video);
    testhub::Fault slow;
    slow.slowChunkBytes = 16384;
    slow.slowIntervalMs = 15;
    fx.server.setFault(QStringLiteral("test-org/tiny-video/model.ckpt"), slow);
    testhub::Repo vocab;
    vocab.commit = testhub::HubTestServer::makeCommit(12);
    testhub::File v;
    v.lfs = false;
    v.content = "{\"a\": 0, \"b\": 1}";
    vocab.files.insert(QStringLiteral("vocab.json"), v);
    fx.server.addRepo(QStringLiteral("test-org/tiny-vocab"), vocab);
    testhub::Repo gated;
    gated.commit = testhub::HubTestServer::makeCommit(13);
    gated.gated = QStringLiteral("auto");
    gated.files.insert(QStringLiteral("model.ckpt"), ckpt);
    fx.server.addRepo(QStringLiteral("test-org/gated"), gated);

    QString error;
    const auto registry = appcore::ModelRegistry::fromJson(kRegistry, &error);
    INFO(error.toStdString());
    REQUIRE(registry.has_value());
    ui::ModelManagerDialog dialog(*registry, fx.config);
    dialog.show();

    auto* tree = dialog.findChild<QTreeWidget*>(QStringLiteral("modelTree"));
    REQUIRE(tree);
    REQUIRE(tree->topLevelItemCount() == 3);
    CHECK(tree->topLevelItem(0)->text(0) == QStringLiteral("Tiny video model"));
    CHECK(tree->topLevelItem(0)->text(1) == QStringLiteral("text to video"));
    CHECK(tree->topLevelItem(0)->text(2) == QStringLiteral("≈ 400 kB"));
    CHECK(tree->topLevelItem(2)->text(4).contains(QStringLiteral("gated")));
    auto* licence = qobject_cast<QLabel*>(tree->itemWidget(tree->topLevelItem(0), 3));
    REQUIRE(licence);
    CHECK(licence->text().contains(QStringLiteral("https://example.invalid/licence")));
    CHECK(dialog.statusText(QStringLiteral("tiny")) == QStringLiteral("Available"));
    auto* bar = dialog.findChild<QProgressBar*>(QStringLiteral("progress_tiny"));
    REQUIRE(bar);
    CHECK(bar->value() == 0);

    QSignalSpy progressed(&dialog, &ui::ModelManagerDialog::downloadProgressed);
    QSignalSpy finished(&dialog, &ui::ModelManagerDialog::downloadFinished);
    dialog.startDownload(QStringLiteral("tiny"));
    // Mid-download the row shows it.
    REQUIRE(QTest::qWaitFor([&] { return bar->value() > 0 && bar->value() < 100; }, 10000));
    CHECK(dialog.statusText(QStringLiteral("tiny")).startsWith(QStringLiteral("Downloading")));
    CHECK(tree->topLevelItem(0)->text(2) == appcore::formatBytes(400000));  // exact, from the listing
    auto* pause = dialog.findChild<QPushButton*>(QStringLiteral("pauseButton"));
    REQUIRE(pause);
    tree->setCurrentItem(tree->topLevelItem(0));
    CHECK(pause->isEnabled());
    // Both the model and what it requires finish.
    REQUIRE(QTest::qWaitFor([&] { return finished.count() == 2; }, 20000));
    QStringList done;
    for (const auto& args : finished) {
        done.append(args.at(0).toString());
    }
    done.sort();
    CHECK(done == QStringList({QStringLiteral("tiny"), QStringLiteral("vocab")}));
    CHECK(bar->value() == 100);
    CHECK(dialog.statusText(QStringLiteral("tiny")) == QStringLiteral("Installed"));
    CHECK(dialog.statusText(QStringLiteral("vocab")) == QStringLiteral("Installed"));
    // Progress went up step by step to the total.
    qint64 previous = -1;
    int forTiny = 0;
    for (const auto& args : progressed) {
        if (args.at(0).toString() != QStringLiteral("tiny")) {
            continue;
        }
        ++forTiny;
        const qint64 doneBytes = args.at(1).toLongLong();
        CHECK(doneBytes >= previous);
        CHECK(args.at(2).toLongLong() == 400000);
        previous = doneBytes;
    }
    CHECK(forTiny >= 3);
    CHECK(previous == 400000);

    QSignalSpy deleted(&dialog, &ui::ModelManagerDialog::modelDeleted);
    REQUIRE(dialog.deleteModel(QStringLiteral("tiny")));
    CHECK(deleted.count() == 1);
    CHECK(dialog.statusText(QStringLiteral("tiny")) == QStringLiteral("Available"));
    CHECK(bar->value() == 0);
    CHECK_FALSE(QFileInfo::exists(fx.config.cacheDir + QStringLiteral("/models--test-org--tiny-video")));

    // Gated: the message says what to do; the token field gets the focus.
    QSignalSpy failed(&dialog, &ui::ModelManagerDialog::downloadFailed);
    dialog.startDownload(QStringLiteral("locked"));
    REQUIRE(QTest::qWaitFor([&] { return failed.count() == 1; }, 10000));
    const QString message = dialog.messageText();
    INFO(message.toStdString());
    CHECK(message.contains(QStringLiteral("gated")));
    CHECK(message.contains(QStringLiteral("token")));
    CHECK(message.contains(QStringLiteral("licence")));
    CHECK(dialog.statusText(QStringLiteral("locked")) == QStringLiteral("Failed"));
    // With a token typed in, it downloads.
    auto* token = dialog.findChild<QLineEdit*>(QStringLiteral("tokenField"));
    REQUIRE(token);
    token->setText(QStringLiteral("hf_ok"));
    fx.server.addRepo(QStringLiteral("test-org/gated"), [&] {
        testhub::Repo r = gated;
        r.acceptedToken = QStringLiteral("hf_ok");
        return r;
    }());
    dialog.startDownload(QStringLiteral("locked"));
    REQUIRE(QTest::qWaitFor([&] { return finished.count() == 3; }, 20000));
    CHECK(dialog.statusText(QStringLiteral("locked")) == QStringLiteral("Installed"));
    int withToken = 0;
    for (const testhub::Request& r : fx.server.requests()) {
        withToken += r.authorization == "Bearer hf_ok" ? 1 : 0;
    }
    CHECK(withToken >= 2);  // listing + resolve
}

TEST_CASE("model manager dialog: pause and resume a download", "[appcore][ui]") {
    testhub::HubFixture fx;
    testhub::Repo vocab;
    vocab.commit = testhub::HubTestServer::makeCommit(21);
    testhub::File v;
    v.content = testhub::HubTestServer::makeContent(300000, 5);
    vocab.files.insert(QStringLiteral("vocab.json"), v);
    fx.server.addRepo(QStringLiteral("test-org/tiny-vocab"), vocab);
    testhub::Fault slow;
    slow.slowChunkBytes = 8192;
    slow.slowIntervalMs = 15;
    fx.server.setFault(QStringLiteral("test-org/tiny-vocab/vocab.json"), slow);
    QString error;
    const auto registry = appcore::ModelRegistry::fromJson(kRegistry, &error);
    REQUIRE(registry.has_value());
    ui::ModelManagerDialog dialog(*registry, fx.config);
    QSignalSpy finished(&dialog, &ui::ModelManagerDialog::downloadFinished);
    dialog.startDownload(QStringLiteral("vocab"));
    REQUIRE(QTest::qWaitFor([&] { return dialog.progressPercent(QStringLiteral("vocab")) >= 10; }, 10000));
    dialog.pauseDownload(QStringLiteral("vocab"));
    CHECK(dialog.statusText(QStringLiteral("vocab")).startsWith(QStringLiteral("Paused")));
    const int atPause = dialog.progressPercent(QStringLiteral("vocab"));
    QTest::qWait(200);
    CHECK(dialog.progressPercent(QStringLiteral("vocab")) == atPause);
    dialog.startDownload(QStringLiteral("vocab"));  // the Resume button does this
    REQUIRE(QTest::qWaitFor([&] { return finished.count() == 1; }, 20000));
    CHECK(dialog.statusText(QStringLiteral("vocab")) == QStringLiteral("Installed"));
    CHECK(fx.server.requests().last().range.startsWith("bytes="));
}
