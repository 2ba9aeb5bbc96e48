// The item models under QAbstractItemModelTester, driven through their whole life: the job queue fed
// by the bridge's signals, the gallery with its filter, and the model list.
#include <catch2/catch.hpp>

#include <QAbstractItemModelTester>
#include <QSignalSpy>

#include "ui/models/gallery_filter_model.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/model_list_model.h"
#include "ui/result_archiver.h"
#include "uitest_support.h"

using Tester = QAbstractItemModelTester;

namespace {

ui::GenerationParams params(const QString& prompt) {
    ui::GenerationParams p;
    p.task = appcore::Task::TextToImage;
    p.modelName = QStringLiteral("Sana");
    p.modelPath = QStringLiteral("/m/Sana");
    p.prompt = prompt;
    p.steps = 4;
    p.width = 64;
    p.height = 64;
    return p;
}

appcore::GalleryItem writeItem(ui::GalleryModel& gallery, const QString& prompt, const QString& model, quint64 seed,
                               bool video = false) {
    ui::GenerationResult r;
    r.task = video ? appcore::Task::TextToVideo : appcore::Task::TextToImage;
    r.seed = seed;
    if (video) {
        r.frames = {uitest::testImage(32, 24), uitest::testImage(32, 24), uitest::testImage(32, 24)};
        r.fps = 8;
    } else {
        r.image = uitest::testImage(32, 32);
    }
    ui::GenerationParams p = params(prompt);
    p.modelName = model;
    p.seed = seed;
    appcore::GalleryItem item;
    QString error;
    REQUIRE(ui::ResultArchiver::writeFiles(gallery.dir(), gallery.newItemId(), r, p, &item, &error));
    return item;
}

}  // namespace

TEST_CASE("JobQueueModel: rows follow the jobs from queued to finished, failed and cancelled", "[ui]") {
    ui::JobQueueModel model;
    Tester tester(&model, Tester::FailureReportingMode::Fatal);
    QSignalSpy summary(&model, &ui::JobQueueModel::summaryChanged);

    model.addJob(1, params(QStringLiteral("one")));
    model.addJob(2, params(QStringLiteral("two")));
    model.addJob(3, params(QStringLiteral("three")));
    model.addJob(2, params(QStringLiteral("duplicate")));  // ignored
    REQUIRE(model.rowCount() == 3);
    CHECK(model.activeCount() == 3);
    CHECK(model.index(1).data(ui::JobQueueModel::QueuePositionRole).toInt() == 2);
    CHECK(model.index(0).data(ui::JobQueueModel::StatusTextRole).toString().contains(QStringLiteral("Queued")));

    model.markStarted(1);
    model.updateProgress(1, ui::JobStage::LoadingModel, 1, 1, 2.0);
    CHECK(model.index(0).data(ui::JobQueueModel::EtaRole).toDouble() < 0);  // no pace yet
    model.updateProgress(1, ui::JobStage::Denoising, 1, 10, 3.0);
    model.updateProgress(1, ui::JobStage::Denoising, 5, 10, 7.0);
    // The pace counts from the first denoising step: (7 - 3) s / (5 - 1) steps = 1 s per step.
    // Left: 5 steps + about two steps' worth for the decode.
    const double perStep = (7.0 - 3.0) / (5 - 1);
    CHECK(model.index(0).data(ui::JobQueueModel::EtaRole).toDouble() == Approx(perStep * (10 - 5) + 2 * perStep));
    const double progress = model.index(0).data(ui::JobQueueModel::ProgressRole).toDouble();
    CHECK(progress > 0.0);
    CHECK(progress < 1.0);
    CHECK(model.index(0).data(ui::JobQueueModel::StatusTextRole).toString().startsWith(QStringLiteral("Step 5/10")));
    CHECK(model.index(1).data(ui::JobQueueModel::QueuePositionRole).toInt() == 1);

    model.setPreview(1, 5, 10, {uitest::testImage(8, 8)});
    CHECK_FALSE(model.index(0).data(ui::JobQueueModel::PreviewRole).value<QImage>().isNull());

    ui::GenerationResult r;
    r.job = 1;
    r.image = uitest::testImage(64, 64);
    r.durationS = 12.5;
    model.markFinished(1, r);
    CHECK(model.index(0).data(ui::JobQueueModel::StateRole).toInt() == static_cast<int>(ui::JobState::Finished));
    CHECK(model.index(0).data(ui::JobQueueModel::ProgressRole).toDouble() == Approx(1.0));

    model.markStarted(2);
    model.markFailed(2, QStringLiteral("CUDA out of memory"), static_cast<int>(ui::FailureCode::OutOfMemory));
    CHECK(model.index(1).data(ui::JobQueueModel::MessageRole).toString() == QStringLiteral("CUDA out of memory"));
    CHECK(model.index(1).data(ui::JobQueueModel::HintRole).toString().contains(QStringLiteral("smaller size")));
    model.markFailed(2, QStringLiteral("x"), 999);  // an unknown code is treated as internal
    CHECK(model.index(1).data(ui::JobQueueModel::FailureCodeRole).toInt() ==
          static_cast<int>(ui::FailureCode::Internal));

    model.markCancelling(3);
    CHECK(model.index(2).data(ui::JobQueueModel::StatusTextRole).toString().startsWith(QStringLiteral("Cancelling")));
    model.markCancelled(3);
    CHECK(model.activeCount() == 0);
    CHECK(model.overallProgress() < 0);

    CHECK_FALSE(model.removeJob(42));
    CHECK(model.removeJob(3));
    model.clearFinished();
    CHECK(model.rowCount() == 0);
    CHECK(summary.count() > 0);
}

TEST_CASE("JobQueueModel: fed by the bridge, with a failing and a cancelled job", "[ui]") {
    int n = 0;
    uitest::FakeBridge fb([&n](engine::JobId, const engine::GenerationRequest& request) {
        if (n++ == 1) {
            return testsupport::FakeEngine::Script{
                testsupport::FakeEvent::fail(engine::ErrorCode::ModelLoadFailed, "model.safetensors is truncated")};
        }
        return testsupport::FakeEngine::job_script(request, 1);
    });
    ui::JobQueueModel model;
    Tester tester(&model, Tester::FailureReportingMode::Fatal);
    model.connectTo(fb.bridge.get());
    fb.fake->hold();
    const ui::JobId a = fb.bridge->submitJob(params(QStringLiteral("a")));
    const ui::JobId b = fb.bridge->submitJob(params(QStringLiteral("b")));
    const ui::JobId c = fb.bridge->submitJob(params(QStringLiteral("c")));
    const ui::JobId d = fb.bridge->submitJob(params(QStringLiteral("d")));
    REQUIRE(model.rowCount() == 4);
    fb.bridge->cancelJob(d);
    fb.fake->release();
    REQUIRE(uitest::waitUntil([&] { return model.activeCount() == 0; }));
    auto state = [&](ui::JobId id) { return model.index(model.rowOf(id)).data(ui::JobQueueModel::StateRole).toInt(); };
    CHECK(state(a) == static_cast<int>(ui::JobState::Finished));
    CHECK(state(b) == static_cast<int>(ui::JobState::Failed));
    CHECK(state(c) == static_cast<int>(ui::JobState::Finished));
    CHECK(state(d) == static_cast<int>(ui::JobState::Cancelled));
    CHECK(model.index(model.rowOf(b)).data(ui::JobQueueModel::HintRole).toString().contains(QStringLiteral("again")));
}

TEST_CASE("GalleryModel and GalleryFilterModel: add, filter by words and model, remove", "[ui]") {
    auto dir = uitest::homeTempDir();
    REQUIRE(dir->isValid());
    ui::GalleryModel gallery(dir->path());
    Tester galleryTester(&gallery, Tester::FailureReportingMode::Fatal);
    ui::GalleryFilterModel filter;
    filter.setSourceModel(&gallery);
    Tester filterTester(&filter, Tester::FailureReportingMode::Fatal);
    QSignalSpy names(&gallery, &ui::GalleryModel::modelNamesChanged);

    CHECK(gallery.rowCount() == 0);
    REQUIRE(gallery.addItem(writeItem(gallery, QStringLiteral("A red fox in the snow"), QStringLiteral("Sana"), 1)));
    REQUIRE(gallery.addItem(writeItem(gallery, QStringLiteral("A blue whale"), QStringLiteral("Sana-Sprint"), 2)));
    REQUIRE(gallery.addItem(
        writeItem(gallery, QStringLiteral("Waves at night, red moon"), QStringLiteral("VideoCrafter2"), 3, true)));
    CHECK(gallery.rowCount() == 3);
    CHECK(names.count() == 3);
    // Newest first.
    CHECK(gallery.index(0).data(ui::GalleryModel::PromptRole).toString().startsWith(QStringLiteral("Waves")));
    CHECK(gallery.index(0).data(ui::GalleryModel::SizeTextRole).toString().contains(QStringLiteral("3 frames")));
    CHECK_FALSE(gallery.index(1).data(Qt::DecorationRole).value<QPixmap>().isNull());
    CHECK(gallery.modelNames() ==
          (QStringList{QStringLiteral("Sana"), QStringLiteral("Sana-Sprint"), QStringLiteral("VideoCrafter2")}));

    filter.setTextFilter(QStringLiteral("red"));
    CHECK(filter.rowCount() == 2);
    filter.setTextFilter(QStringLiteral("RED fox"));  // all words, any case
    CHECK(filter.rowCount() == 1);
    filter.setTextFilter(QString());
    filter.setModelFilter(QStringLiteral("Sana-Sprint"));
    CHECK(filter.rowCount() == 1);
    CHECK(filter.index(0, 0).data(ui::GalleryModel::SeedRole).value<quint64>() == 2);
    filter.setModelFilter(QString());
    filter.setKindFilter(static_cast<int>(appcore::GalleryItem::Kind::Video));
    CHECK(filter.rowCount() == 1);
    filter.setKindFilter(-1);
    filter.setTextFilter(QStringLiteral("3"));  // the seed counts as text too
    CHECK(filter.rowCount() == 1);
    filter.setTextFilter(QString());

    const QString whale = gallery.index(1).data(ui::GalleryModel::ItemIdRole).toString();
    REQUIRE(gallery.removeItem(whale, appcore::GalleryStore::RemoveMode::Delete));
    CHECK(gallery.rowCount() == 2);
    CHECK(gallery.rowOf(whale) < 0);
    CHECK_FALSE(gallery.removeItem(whale));
    CHECK(filter.rowCount() == 2);
    gallery.reload();
    CHECK(gallery.rowCount() == 2);
}

TEST_CASE("ModelListModel: lists installed models with their tasks", "[ui]") {
    QTemporaryDir dir;
    REQUIRE(dir.isValid());
    uitest::makeDiffusersModel(dir.path(), QStringLiteral("Sana_1600M_1024px_diffusers"),
                               QStringLiteral("SanaPipeline"));
    uitest::makeDiffusersModel(dir.path(), QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers"),
                               QStringLiteral("SanaSprintPipeline"));
    uitest::makeCheckpointModel(dir.path(), QStringLiteral("VideoCrafter2"));
    uitest::makeCheckpointModel(dir.path(), QStringLiteral("DynamiCrafter_1024"));
    uitest::makeDiffusersModel(dir.path(), QStringLiteral("stable-diffusion-v1-5"),
                               QStringLiteral("StableDiffusionPipeline"));  // not ours: not listed
    QDir(dir.path()).mkpath(QStringLiteral("empty-folder"));

    ui::ModelListModel model;
    Tester tester(&model, Tester::FailureReportingMode::Fatal);
    model.setModels(appcore::scanModels(dir.path(), QString(), {}));
    REQUIRE(model.rowCount() == 4);
    CHECK(model.index(0).data().toString() == QStringLiteral("DynamiCrafter_1024"));
    CHECK(model.index(0).data(ui::ModelListModel::TaskBadgesRole).toString() == QStringLiteral("I2V"));
    const int sana = model.rowOf(QStringLiteral("Sana_1600M_1024px_diffusers"));
    REQUIRE(sana >= 0);
    CHECK(model.index(sana).data(ui::ModelListModel::TaskBadgesRole).toString() == QStringLiteral("T2I"));
    const int vc = model.rowOf(QStringLiteral("VideoCrafter2"));
    REQUIRE(vc >= 0);
    CHECK(model.index(vc).data(ui::ModelListModel::TaskBadgesRole).toString() == QStringLiteral("T2V"));
    // A checkpoint folder's path is its checkpoint, as the engine takes it.
    CHECK(model.index(vc).data(ui::ModelListModel::PathRole).toString().endsWith(QStringLiteral("/model.ckpt")));
    model.setModels({});
    CHECK(model.rowCount() == 0);
}
