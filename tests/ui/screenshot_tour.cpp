// kinora-screenshot-tour: the real main window on the scripted FakeEngine, walked through its main
// states (no model, ready, generating with a live preview and a queue, gallery, video timeline, failure,
// image-to-video input, settings, export), saving a PNG of each into OUT_DIR. Run it under Xvfb with
// tests/ui/screenshots.sh. Uses Qt's test locations, so the user's settings and gallery are untouched.
//
//     kinora-screenshot-tour OUT_DIR [--size WxH]
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QMimeData>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>
#include <QUrl>

#include <cstdio>

#include "ui/dialogs/export_dialog.h"
#include "ui/dialogs/settings_dialog.h"
#include "ui/main_window.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/result_archiver.h"
#include "ui/widgets/parameter_panel.h"
#include "ui/widgets/prompt_editor.h"
#include "ui/widgets/seed_control.h"
#include "ui/widgets/slider_spin_box.h"
#include "ui/widgets/video_player.h"
#include "uitest_support.h"

using testsupport::FakeEngine;
using testsupport::FakeEvent;

namespace {

QString g_out;
int g_failures = 0;

void settle(int ms = 150) {
    uitest::waitUntil([] { return false; }, ms);
}

void shoot(QWidget* w, const QString& name) {
    settle();
    const QString path = QDir(g_out).filePath(name + QStringLiteral(".png"));
    if (!w->grab().save(path)) {
        std::fprintf(stderr, "could not save %s\n", qPrintable(path));
        ++g_failures;
        return;
    }
    std::printf("%s\n", qPrintable(path));
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "screenshot tour: %s did not happen\n", what);
        ++g_failures;
    }
}

ui::JobState stateOf(ui::MainWindow* w, ui::JobId id) {
    const int row = w->jobQueue()->rowOf(id);
    return row < 0 ? ui::JobState::Cancelled
                   : static_cast<ui::JobState>(w->jobQueue()->index(row).data(ui::JobQueueModel::StateRole).toInt());
}

void setPrompt(ui::MainWindow* w, const QString& text) {
    w->promptEditor()->setPlainText(text);
}

}  // namespace

int main(int argc, char** argv) {
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("KinoraScreenshotTour"));
    QApplication::setOrganizationName(QStringLiteral("KinoraTests"));
    QApplication::setApplicationVersion(QStringLiteral(KINORA_VERSION));
    ui::registerMetaTypes();
    QSettings().clear();
    const QStringList args = QApplication::arguments();
    if (args.size() < 2) {
        std::fprintf(stderr, "usage: kinora-screenshot-tour OUT_DIR [--size WxH]\n");
        return 2;
    }
    g_out = args[1];
    QDir().mkpath(g_out);
    QSize size(1280, 800);
    const int sizeArg = static_cast<int>(args.indexOf(QStringLiteral("--size")));
    if (sizeArg > 0 && sizeArg + 1 < args.size()) {
        const QStringList wh = args[sizeArg + 1].split(QLatin1Char('x'));
        if (wh.size() == 2) {
            size = QSize(wh[0].toInt(), wh[1].toInt());
        }
    }
    QFile style(QStringLiteral(":/styles/dark.qss"));
    if (style.open(QIODevice::ReadOnly)) {
        app.setStyleSheet(QString::fromUtf8(style.readAll()));
    }

    QTemporaryDir emptyModels;
    QTemporaryDir models;
    auto galleryDir = uitest::homeTempDir();
    QTemporaryDir hubCache;
    appcore::AppSettings settings;
    settings.hubCacheDir = hubCache.path();

    // 1. No model installed.
    {
        uitest::FakeBridge fb;
        ui::GalleryModel gallery(galleryDir->filePath(QStringLiteral("empty-gallery")));
        settings.modelsDir = emptyModels.path();
        ui::MainWindow window(fb.bridge.get(), &gallery, settings);
        window.resize(size);
        window.show();
        shoot(&window, QStringLiteral("01-no-model"));
    }

    uitest::makeDiffusersModel(models.path(), QStringLiteral("Sana_1600M_1024px_diffusers"),
                               QStringLiteral("SanaPipeline"));
    uitest::makeDiffusersModel(models.path(), QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers"),
                               QStringLiteral("SanaSprintPipeline"));
    uitest::makeCheckpointModel(models.path(), QStringLiteral("VideoCrafter2"));
    uitest::makeCheckpointModel(models.path(), QStringLiteral("DynamiCrafter_512"));
    settings.modelsDir = models.path();

    uitest::FakeBridge fb(FakeEngine::default_script(70));
    ui::GalleryModel gallery(galleryDir->filePath(QStringLiteral("gallery")));
    ui::MainWindow window(fb.bridge.get(), &gallery, settings);
    window.resize(size);
    window.show();
    settle(300);

    // 2. Ready: a model picked, a prompt typed.
    window.selectModel(QStringLiteral("Sana_1600M_1024px_diffusers"));
    setPrompt(&window,
              QStringLiteral("A lighthouse on a cliff at dusk, warm light in the windows, stormy sea, 35mm film, "
                             "grain"));
    window.negativePromptEditor()->setPlainText(QStringLiteral("blurry, text, watermark"));
    window.seedControl()->setMode(ui::SeedMode::Increment);
    window.seedControl()->setSeed(1234);
    shoot(&window, QStringLiteral("02-ready"));

    // 3. Generating: a live preview half-way, a second job queued.
    window.parameterPanel()->stepsControl()->setValue(20);
    const ui::JobId first = window.generate();
    setPrompt(&window, QStringLiteral("The same lighthouse in fog, early morning, pastel colours"));
    const ui::JobId second = window.generate();
    check(first && second, "submitting two jobs");
    uitest::waitUntil([&] {
        const int row = window.jobQueue()->rowOf(first);
        return row >= 0 && window.jobQueue()->index(row).data(ui::JobQueueModel::StepRole).toInt() >= 11 &&
               window.jobQueue()->index(row).data(ui::JobQueueModel::StageRole).toInt() ==
                   static_cast<int>(ui::JobStage::Denoising);
    });
    fb.fake->hold();
    shoot(&window, QStringLiteral("03-generating"));
    fb.fake->release();
    check(uitest::waitUntil([&] { return stateOf(&window, second) == ui::JobState::Finished; }, 20000),
          "the two jobs finishing");

    // 4. Gallery: a few more results, quickly.
    fb.fake->set_script(FakeEngine::default_script(5));
    const QStringList prompts = {
        QStringLiteral("Desert dunes under a violet sky, long shadows"),
        QStringLiteral("A quiet alpine lake, reflections, golden hour"),
        QStringLiteral("Neon city street after rain, cinematic"),
        QStringLiteral("Terraced rice fields at sunrise, mist"),
        QStringLiteral("A red fox in fresh snow, telephoto"),
    };
    window.selectModel(QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers"));
    for (const QString& p : prompts) {
        setPrompt(&window, p);
        window.generate();
    }
    check(uitest::waitUntil(
              [&] { return window.jobQueue()->activeCount() == 0 && window.archiver()->pendingCount() == 0; }, 30000),
          "the gallery batch finishing");
    window.archiver()->waitForIdle(5000);
    window.showGalleryItem(gallery.item(2).id);
    shoot(&window, QStringLiteral("04-gallery"));

    // 5. Video timeline.
    window.selectModel(QStringLiteral("VideoCrafter2"));
    setPrompt(&window, QStringLiteral("Clouds rolling over mountain peaks, timelapse"));
    window.parameterPanel()->stepsControl()->setValue(6);
    window.generate();
    check(uitest::waitUntil(
              [&] { return window.jobQueue()->activeCount() == 0 && window.archiver()->pendingCount() == 0; }, 30000),
          "the clip finishing");
    window.archiver()->waitForIdle(5000);
    window.showGalleryItem(gallery.item(0).id);
    window.videoPlayer()->pause();
    window.videoPlayer()->setCurrentFrame(6);
    shoot(&window, QStringLiteral("05-video-timeline"));

    // 6. Failure with a hint.
    fb.fake->set_script([](engine::JobId, const engine::GenerationRequest&) {
        return FakeEngine::Script{
            FakeEvent::progress(engine::JobStage::LoadingModel, 1, 1, 0.4, 50),
            FakeEvent::progress(engine::JobStage::Denoising, 1, 30, 1.2, 50),
            FakeEvent::fail(engine::ErrorCode::OutOfMemory,
                            "CUDA out of memory. Tried to allocate 9.00 GiB (GPU 0; 7.79 GiB total capacity).", 50)};
    });
    window.selectModel(QStringLiteral("Sana_1600M_1024px_diffusers"));
    setPrompt(&window, QStringLiteral("A gigantic panorama of the Alps, every peak in detail"));
    window.parameterPanel()->setSize(4096, 2048);
    const ui::JobId failing = window.generate();
    check(uitest::waitUntil([&] { return stateOf(&window, failing) == ui::JobState::Failed; }, 10000), "the failure");
    shoot(&window, QStringLiteral("06-failure"));

    // 7. Image to video: an input picture dropped on the window.
    window.notificationBar();
    window.selectModel(QStringLiteral("DynamiCrafter_512"));
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(gallery.item(3).filePath)});
    window.acceptMedia(&mime);
    setPrompt(&window, QStringLiteral("Gentle wind, the sea moves, clouds drift"));
    shoot(&window, QStringLiteral("07-image-to-video"));

    // 8. Settings and export dialogs.
    {
        ui::SettingsDialog dialog(settings, &window);
        dialog.setDeviceNote(QStringLiteral("The engine now runs on cpu."));
        dialog.show();
        settle(200);
        shoot(&dialog, QStringLiteral("08-settings"));
    }
    {
        int clip = 0;
        for (int i = 0; i < gallery.rowCount(); ++i) {
            if (gallery.item(i).kind == appcore::GalleryItem::Kind::Video) {
                clip = i;
                break;
            }
        }
        ui::ExportDialog dialog(gallery.item(clip), &window);
        dialog.show();
        settle(200);
        shoot(&dialog, QStringLiteral("09-export-clip"));
    }
    window.archiver()->waitForIdle(5000);
    return g_failures == 0 ? 0 : 1;
}
