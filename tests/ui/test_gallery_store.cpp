// The gallery survives restarts: items with all their parameters are read back by a new store; damaged
// or missing files are handled; deleting moves files to the trash.
#include <catch2/catch.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include "core/gallery_store.h"
#include "ui/result_archiver.h"
#include "uitest_support.h"

namespace {

appcore::GalleryItem makeImageItem(appcore::GalleryStore& store, const QString& prompt, quint64 seed) {
    ui::GenerationResult r;
    r.task = appcore::Task::TextToImage;
    r.image = uitest::testImage(40, 24);
    r.seed = seed;
    r.durationS = 3.25;
    r.parameters = {{QStringLiteral("prompt"), prompt},
                    {QStringLiteral("negative_prompt"), QStringLiteral("blurry, text")},
                    {QStringLiteral("steps"), QStringLiteral("20")},
                    {QStringLiteral("guidance_scale"), QStringLiteral("4.5")},
                    {QStringLiteral("seed"), QString::number(seed)},
                    {QStringLiteral("size"), QStringLiteral("40x24")}};
    ui::GenerationParams p;
    p.task = appcore::Task::TextToImage;
    p.modelName = QStringLiteral("Sana_1600M_1024px_diffusers");
    p.modelPath = QStringLiteral("/models/Sana_1600M_1024px_diffusers");
    p.prompt = prompt;
    p.flowShift = 3.0;
    appcore::GalleryItem item;
    QString error;
    REQUIRE(ui::ResultArchiver::writeFiles(store.dir(), store.newItemId(), r, p, &item, &error));
    return item;
}

}  // namespace

TEST_CASE("GalleryStore: results and all their parameters persist across a restart", "[ui]") {
    auto dir = uitest::homeTempDir();
    REQUIRE(dir->isValid());
    QString firstId, videoId;
    const quint64 bigSeed = Q_UINT64_C(18446744073709551557);  // above 2^53: must not pass through a double
    {
        appcore::GalleryStore store(dir->path());
        REQUIRE(store.load());
        CHECK(store.items().isEmpty());
        appcore::GalleryItem a = makeImageItem(store, QStringLiteral("a lighthouse, \"stormy\", 35mm"), bigSeed);
        firstId = a.id;
        REQUIRE(store.add(a));

        ui::GenerationResult v;
        v.task = appcore::Task::TextToVideo;
        v.frames = {uitest::testImage(16, 8), uitest::testImage(16, 8)};
        v.fps = 10;
        v.seed = 5;
        ui::GenerationParams vp;
        vp.task = appcore::Task::TextToVideo;
        vp.modelName = QStringLiteral("VideoCrafter2");
        vp.prompt = QStringLiteral("clouds");
        vp.numFrames = 2;
        appcore::GalleryItem vi;
        QString error;
        REQUIRE(ui::ResultArchiver::writeFiles(store.dir(), store.newItemId(), v, vp, &vi, &error));
        videoId = vi.id;
        REQUIRE(store.add(vi));
        CHECK_FALSE(store.add(vi));  // same id twice
    }
    // "Restart": a new store on the same folder.
    appcore::GalleryStore reopened(dir->path());
    REQUIRE(reopened.load());
    REQUIRE(reopened.items().size() == 2);
    const appcore::GalleryItem& video = reopened.items()[0];
    const appcore::GalleryItem& image = reopened.items()[1];
    CHECK(video.id == videoId);
    CHECK(video.kind == appcore::GalleryItem::Kind::Video);
    CHECK(video.framePaths.size() == 2);
    CHECK(video.fps == Approx(10.0));
    CHECK(video.numFrames == 2);
    CHECK(QFileInfo::exists(video.thumbnailPath));

    CHECK(image.id == firstId);
    CHECK(image.kind == appcore::GalleryItem::Kind::Image);
    CHECK(image.prompt == QStringLiteral("a lighthouse, \"stormy\", 35mm"));
    CHECK(image.negativePrompt == QStringLiteral("blurry, text"));
    CHECK(image.seed == bigSeed);
    CHECK(image.modelName == QStringLiteral("Sana_1600M_1024px_diffusers"));
    CHECK(image.task == appcore::Task::TextToImage);
    CHECK(image.width == 40);
    CHECK(image.height == 24);
    CHECK(image.durationS == Approx(3.25));
    CHECK(image.parameter(QStringLiteral("steps")) == QStringLiteral("20"));
    CHECK(image.parameter(QStringLiteral("guidance_scale")) == QStringLiteral("4.5"));
    // The user's settings the engine did not report are kept too.
    CHECK(image.parameter(QStringLiteral("flow_shift")) == QStringLiteral("3"));
    CHECK(image.parameter(QStringLiteral("model")) == QStringLiteral("Sana_1600M_1024px_diffusers"));
    CHECK(QImage(image.filePath).size() == QSize(40, 24));
    CHECK(QFileInfo::exists(image.thumbnailPath));
    // Parameter order is kept (prompt first, as A1111 readers expect).
    CHECK(image.parameters.first().first == QStringLiteral("prompt"));

    // Paths are stored relative to the gallery, so the folder can move.
    QFile index(dir->filePath(QStringLiteral("index.json")));
    REQUIRE(index.open(QIODevice::ReadOnly));
    CHECK_FALSE(index.readAll().contains(dir->path().toUtf8()));
}

TEST_CASE("GalleryStore: a result whose file vanished is dropped, a damaged index is kept aside", "[ui]") {
    auto dir = uitest::homeTempDir();
    {
        appcore::GalleryStore store(dir->path());
        store.load();
        appcore::GalleryItem a = makeImageItem(store, QStringLiteral("kept"), 1);
        appcore::GalleryItem b = makeImageItem(store, QStringLiteral("vanishes"), 2);
        REQUIRE(store.add(a));
        REQUIRE(store.add(b));
        REQUIRE(QFile::remove(b.filePath));
    }
    {
        appcore::GalleryStore store(dir->path());
        REQUIRE(store.load());
        REQUIRE(store.items().size() == 1);
        CHECK(store.items()[0].prompt == QStringLiteral("kept"));
    }
    QFile index(dir->filePath(QStringLiteral("index.json")));
    REQUIRE(index.open(QIODevice::WriteOnly | QIODevice::Truncate));
    index.write("{ this is not json");
    index.close();
    appcore::GalleryStore store(dir->path());
    QString error;
    CHECK_FALSE(store.load(&error));
    CHECK(error.contains(QStringLiteral("index.json.bad")));
    CHECK(store.items().isEmpty());
    CHECK(QFileInfo::exists(dir->filePath(QStringLiteral("index.json.bad"))));
}

TEST_CASE("GalleryStore: delete moves the files to the trash and survives a restart", "[ui]") {
    auto dir = uitest::homeTempDir();
    QString trashedFile;
    QString keptId;
    {
        appcore::GalleryStore store(dir->path());
        store.load();
        appcore::GalleryItem a = makeImageItem(store, QStringLiteral("to the trash"), 1);
        appcore::GalleryItem b = makeImageItem(store, QStringLiteral("stays"), 2);
        REQUIRE(store.add(a));
        REQUIRE(store.add(b));
        keptId = b.id;
        trashedFile = a.filePath;
        QString error;
        REQUIRE(store.remove(a.id, appcore::GalleryStore::RemoveMode::Trash, &error));
        INFO(error.toStdString());
        CHECK_FALSE(QFileInfo::exists(a.filePath));
        CHECK_FALSE(QFileInfo::exists(a.thumbnailPath));
        CHECK_FALSE(store.remove(a.id, appcore::GalleryStore::RemoveMode::Trash, &error));
    }
    // In the trash (freedesktop layout): Trash/files/<name>.
    const QString trash =
        QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + QStringLiteral("/Trash/files");
    CHECK(QFileInfo::exists(QDir(trash).filePath(QFileInfo(trashedFile).fileName())));
    appcore::GalleryStore reopened(dir->path());
    REQUIRE(reopened.load());
    REQUIRE(reopened.items().size() == 1);
    CHECK(reopened.items()[0].id == keptId);
}
