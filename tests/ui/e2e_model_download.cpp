// A model downloaded by the model manager shows up in the main window's model picker (the app's wiring,
// ui::connectModelManager + ui::hubConfigFor, as app/main_gui.cpp uses them), and the real engine runs it:
// the tiny golden Sana pipeline is served by the test hub (a real HTTP server on 127.0.0.1), downloaded
// into the hub cache chosen in Settings, picked, generated; deleting it removes it from the picker.
#include <catch2/catch.hpp>

#include <QDirIterator>
#include <QSettings>
#include <QSignalSpy>
#include <QTest>

#include "golden_qt.h"
#include "hub_test_util.h"
#include "ui/app_wiring.h"
#include "ui/dialogs/model_manager_dialog.h"
#include "ui/main_window.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/model_list_model.h"
#include "ui/result_archiver.h"
#include "ui/widgets/parameter_panel.h"
#include "ui/widgets/prompt_editor.h"
#include "ui/widgets/seed_control.h"
#include "ui/widgets/slider_spin_box.h"
#include "uitest_support.h"

namespace {

const char* kRegistry = R"json({"schema": 1, "models": [
  {"id": "sana-tiny", "name": "Sana tiny (test)", "repo": "test-org/Sana_tiny_diffusers", "format": "diffusers",
   "tasks": ["t2i"], "approx_size_bytes": 500000, "licence": {"name": "Apache-2.0"},
   "include": ["model_index.json", "scheduler/*", "tokenizer/*", "text_encoder/*", "transformer/*", "vae/*"],
   "defaults": {"num_inference_steps": 4, "guidance_scale": 4.5}}
]})json";

}  // namespace

TEST_CASE("E2E: a model the model manager downloads appears in the picker and runs on the real engine", "[ui][e2e]") {
    const QString golden = uitest::goldenCaseDir(QStringLiteral("sana_pipeline_tiny"));
    REQUIRE(QFileInfo(golden + QStringLiteral("/model_index.json")).isFile());
    QString error;
    const QJsonObject meta = uitest::goldenMeta(QStringLiteral("sana_pipeline_tiny"), &error);
    REQUIRE(!meta.isEmpty());

    // The hub serves the golden folder as a diffusers repo (weights as LFS files, configs as git files).
    testhub::HubFixture fx;
    testhub::Repo repo;
    repo.commit = testhub::HubTestServer::makeCommit(21);
    QDirIterator it(golden, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString rel = QDir(golden).relativeFilePath(path);
        if (rel == QLatin1String("io.safetensors")) {
            continue;  // the golden's reference outputs are not part of the model
        }
        QFile f(path);
        REQUIRE(f.open(QIODevice::ReadOnly));
        testhub::File file;
        file.content = f.readAll();
        file.lfs = rel.endsWith(QLatin1String(".safetensors")) || rel.endsWith(QLatin1String(".model"));
        repo.files.insert(rel, file);
    }
    fx.server.addRepo(QStringLiteral("test-org/Sana_tiny_diffusers"), repo);

    // The window scans the hub cache of its settings; the "environment" names another cache, which the
    // manager must not use (hubConfigFor).
    QSettings().clear();
    std::unique_ptr<QTemporaryDir> home = uitest::homeTempDir();
    appcore::AppSettings settings;
    settings.modelsDir = home->filePath(QStringLiteral("models"));
    settings.hubCacheDir = home->filePath(QStringLiteral("hub-from-settings"));
    ui::EngineBridge bridge(ui::EngineBridge::realEngineFactory(settings.engine));
    ui::GalleryModel gallery(home->filePath(QStringLiteral("gallery")));
    ui::MainWindow window(&bridge, &gallery, settings);
    CHECK(window.modelList()->rowCount() == 0);

    const auto registry = appcore::ModelRegistry::fromJson(kRegistry, &error);
    INFO(error.toStdString());
    REQUIRE(registry.has_value());
    const appcore::HubConfig config = ui::hubConfigFor(window.settings(), fx.config);
    CHECK(config.cacheDir == settings.hubCacheDir);
    CHECK(config.endpoint == fx.config.endpoint);
    ui::ModelManagerDialog dialog(*registry, config, &window);
    ui::connectModelManager(&window, &dialog);

    QSignalSpy finished(&dialog, &ui::ModelManagerDialog::downloadFinished);
    QSignalSpy failed(&dialog, &ui::ModelManagerDialog::downloadFailed);
    dialog.startDownload(QStringLiteral("sana-tiny"));
    REQUIRE(QTest::qWaitFor([&] { return finished.count() + failed.count() > 0; }, 30000));
    if (!failed.isEmpty()) {
        FAIL("download failed: " << failed.at(0).at(1).toString().toStdString());
    }
    CHECK(dialog.statusText(QStringLiteral("sana-tiny")).contains(QStringLiteral("Installed")));

    // It is in the picker now, found in the hub cache, identified from its configs, and selectable.
    REQUIRE(window.modelList()->rowCount() == 1);
    REQUIRE(window.selectModel(QStringLiteral("Sana_tiny_diffusers")));
    const appcore::LocalModel* m = window.currentModel();
    REQUIRE(m != nullptr);
    CHECK(m->source == appcore::ModelSource::HubCache);
    CHECK(m->family == appcore::ModelFamily::Sana);
    CHECK(m->sampleSize == 8);
    CHECK(m->path.startsWith(settings.hubCacheDir));

    // And it runs: the downloaded copy gives the golden picture.
    window.promptEditor()->setPlainText(meta.value(QStringLiteral("prompt")).toString());
    window.parameterPanel()->stepsControl()->setValue(meta.value(QStringLiteral("num_inference_steps")).toInt());
    window.parameterPanel()->guidanceControl()->setValue(meta.value(QStringLiteral("guidance_scale")).toDouble());
    window.parameterPanel()->setSize(meta.value(QStringLiteral("width")).toInt(),
                                     meta.value(QStringLiteral("height")).toInt());
    window.seedControl()->setMode(ui::SeedMode::Fixed);
    window.seedControl()->setSeed(static_cast<quint64>(meta.value(QStringLiteral("seed")).toInt()));
    const ui::JobId id = window.generate();
    REQUIRE(id != 0);
    REQUIRE(uitest::waitUntil([&] { return gallery.rowCount() == 1 || bridge.numPending() == 0; }, 60000));
    window.archiver()->waitForIdle(10000);
    REQUIRE(gallery.rowCount() == 1);
    const QImage expected = uitest::goldenImage(QStringLiteral("sana_pipeline_tiny"), QStringLiteral("image"), &error);
    const int diff = uitest::maxChannelDiff(QImage(gallery.item(0).filePath), expected);
    INFO("max 8-bit channel diff vs the golden: " << diff);
    CHECK(diff >= 0);
    CHECK(diff <= 1);

    // Deleting it in the manager takes it out of the picker.
    REQUIRE(dialog.deleteModel(QStringLiteral("sana-tiny")));
    CHECK(window.modelList()->rowCount() == 0);
    CHECK(window.currentModel() == nullptr);
}
