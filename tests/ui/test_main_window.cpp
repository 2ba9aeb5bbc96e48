// The main window on the FakeEngine: drag & drop and paste of the image-to-video input, Ctrl+Enter /
// Esc, results landing in the gallery, PNG export with the parameters embedded, reuse, the video
// timeline, failure messages, seed modes and prompt history.
#include <catch2/catch.hpp>

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDropEvent>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStackedWidget>
#include <QTest>
#include <QToolButton>
#include <QUrl>

#include <engine/media_io.h>

#include "ui/dialogs/export_dialog.h"
#include "ui/main_window.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/result_archiver.h"
#include "ui/widgets/input_image_widget.h"
#include "ui/widgets/notification_bar.h"
#include "ui/widgets/parameter_panel.h"
#include "ui/widgets/prompt_editor.h"
#include "ui/widgets/seed_control.h"
#include "ui/widgets/slider_spin_box.h"
#include "ui/widgets/video_player.h"
#include "uitest_support.h"

using testsupport::FakeEngine;
using testsupport::FakeEvent;

namespace {

struct WindowFixture {
    QTemporaryDir models;
    std::unique_ptr<QTemporaryDir> galleryDir = uitest::homeTempDir();
    uitest::FakeBridge fb;
    std::unique_ptr<ui::GalleryModel> gallery;
    std::unique_ptr<ui::MainWindow> window;

    explicit WindowFixture(FakeEngine::ScriptFn script = nullptr, bool withModels = true) : fb(std::move(script)) {
        QSettings().clear();
        if (withModels) {
            uitest::makeDiffusersModel(models.path(), QStringLiteral("Sana_1600M_1024px_diffusers"),
                                       QStringLiteral("SanaPipeline"));
            uitest::makeCheckpointModel(models.path(), QStringLiteral("VideoCrafter2"));
            uitest::makeCheckpointModel(models.path(), QStringLiteral("DynamiCrafter_512"));
        }
        appcore::AppSettings settings;
        settings.modelsDir = models.path();
        fb.bridge->setPreviewIntervalMs(0);
        gallery = std::make_unique<ui::GalleryModel>(galleryDir->path());
        window = std::make_unique<ui::MainWindow>(fb.bridge.get(), gallery.get(), settings);
    }
    ~WindowFixture() {
        window->archiver()->waitForIdle(5000);
        window.reset();
    }

    ui::MainWindow* w() const { return window.get(); }

    QString writeFile(const QString& name, const QByteArray& bytes) const {
        const QString path = galleryDir->filePath(name);
        QFile f(path);
        f.open(QIODevice::WriteOnly);
        f.write(bytes);
        return path;
    }
};

bool dropFiles(QWidget* target, const QStringList& paths) {
    QMimeData mime;
    QList<QUrl> urls;
    for (const QString& p : paths) {
        urls << QUrl::fromLocalFile(p);
    }
    mime.setUrls(urls);
    const QPointF pos(target->width() / 2.0, target->height() / 2.0);
    QDragEnterEvent enter(pos.toPoint(), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &enter);
    if (!enter.isAccepted()) {
        return false;
    }
    QDropEvent drop(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &drop);
    return true;
}

ui::JobState stateOf(ui::MainWindow* w, ui::JobId id) {
    return static_cast<ui::JobState>(
        w->jobQueue()->index(w->jobQueue()->rowOf(id)).data(ui::JobQueueModel::StateRole).toInt());
}

}  // namespace

TEST_CASE("MainWindow: dropping an image sets the image-to-video input, a non-image says why", "[ui]") {
    WindowFixture f;
    ui::MainWindow* w = f.w();
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    CHECK(w->currentTask() == appcore::Task::TextToImage);

    const QString png = f.galleryDir->filePath(QStringLiteral("harbour.png"));
    REQUIRE(uitest::testImage(48, 32).save(png));
    REQUIRE(dropFiles(w, {png}));
    REQUIRE(w->inputImageWidget()->hasImage());
    CHECK(w->inputImageWidget()->name() == QStringLiteral("harbour.png"));
    CHECK(w->inputImageWidget()->image().size() == QSize(48, 32));
    // Sana cannot animate: the window offers the installed image-to-video model instead of switching.
    CHECK(w->currentTask() == appcore::Task::TextToImage);
    CHECK(w->notificationBar()->text().contains(QStringLiteral("DynamiCrafter_512")));

    // A non-image: a clear message naming the file; the input picture is kept.
    const QString txt = f.writeFile(QStringLiteral("notes.txt"), "shopping list: milk, eggs\n");
    REQUIRE(dropFiles(w, {txt}));
    CHECK(w->notificationBar()->kind() == ui::NotificationBar::Kind::Error);
    CHECK(w->notificationBar()->text().contains(QStringLiteral("notes.txt")));
    CHECK(w->notificationBar()->text().contains(QStringLiteral("can't be used")));
    CHECK(w->inputImageWidget()->name() == QStringLiteral("harbour.png"));

    // Plain text is not offered as a drop.
    QMimeData text;
    text.setText(QStringLiteral("just words"));
    QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(w, &enter);
    CHECK_FALSE(enter.isAccepted());

    // With an image-to-video model selected, a drop switches the task to Animate.
    REQUIRE(w->selectModel(QStringLiteral("DynamiCrafter_512")));
    REQUIRE(dropFiles(w, {png}));
    CHECK(w->currentTask() == appcore::Task::ImageToVideo);
    CHECK_FALSE(w->inputImageWidget()->isHidden());

    // The remove button clears it.
    auto* remove = w->inputImageWidget()->findChild<QToolButton*>(QStringLiteral("removeInputImage"));
    REQUIRE(remove != nullptr);
    remove->click();
    CHECK_FALSE(w->inputImageWidget()->hasImage());
}

TEST_CASE("MainWindow: a pasted picture (clipboard image data) becomes the input, also inside the prompt", "[ui]") {
    WindowFixture f;
    ui::MainWindow* w = f.w();
    REQUIRE(w->selectModel(QStringLiteral("DynamiCrafter_512")));
    QMimeData mime;
    mime.setImageData(uitest::testImage(20, 30));
    CHECK(w->acceptMedia(&mime));
    CHECK(w->inputImageWidget()->image().size() == QSize(20, 30));
    CHECK(w->inputImageWidget()->name() == QStringLiteral("Pasted image"));

    w->clearInputImage();
    QApplication::clipboard()->setImage(uitest::testImage(12, 10));
    w->promptEditor()->setPlainText(QStringLiteral("waves"));
    w->promptEditor()->paste();  // an image is not pasted as text: it becomes the input
    CHECK(w->promptEditor()->toPlainText() == QStringLiteral("waves"));
    CHECK(w->inputImageWidget()->image().size() == QSize(12, 10));
}

TEST_CASE(
    "MainWindow: Ctrl+Enter generates, the result lands in the gallery and exports as a PNG with its "
    "parameters",
    "[ui]") {
    WindowFixture f;
    ui::MainWindow* w = f.w();
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    w->promptEditor()->setPlainText(QStringLiteral("a lighthouse at dusk, 35mm, film grain"));
    w->negativePromptEditor()->setPlainText(QStringLiteral("text, watermark"));
    w->parameterPanel()->stepsControl()->setValue(3);
    w->parameterPanel()->guidanceControl()->setValue(5.5);
    w->parameterPanel()->setSize(256, 320);
    w->seedControl()->setMode(ui::SeedMode::Increment);
    w->seedControl()->setSeed(100);

    QTest::keyClick(w->promptEditor(), Qt::Key_Return, Qt::ControlModifier);
    REQUIRE(w->jobQueue()->rowCount() == 1);
    CHECK(w->promptEditor()->toPlainText() == QStringLiteral("a lighthouse at dusk, 35mm, film grain"));  // no newline
    CHECK(w->seedControl()->seed() == 101);  // incremented after use
    const auto requests = f.fb.fake->requests();
    REQUIRE(requests.size() == 1);
    const auto* r = std::get_if<engine::TextToImageRequest>(&requests[0]);
    REQUIRE(r != nullptr);
    CHECK(r->seed == 100);
    CHECK(r->num_inference_steps == 3);
    CHECK(r->guidance_scale == Approx(5.5));
    CHECK(r->width_px == 256);
    CHECK(r->height_px == 320);
    CHECK(r->negative_prompt == "text, watermark");
    CHECK(std::isfinite(r->flow_shift));  // Sana's flow shift is sent

    REQUIRE(uitest::waitUntil([&] { return f.gallery->rowCount() == 1; }));
    const appcore::GalleryItem item = f.gallery->item(0);
    CHECK(item.prompt == QStringLiteral("a lighthouse at dusk, 35mm, film grain"));
    CHECK(item.seed == 100);
    CHECK(item.modelName == QStringLiteral("Sana_1600M_1024px_diffusers"));
    CHECK(QImage(item.filePath).size() == QSize(256, 320));
    CHECK(w->viewedItemId() == item.id);  // the finished result is shown and selected
    CHECK(w->windowTitle() == QStringLiteral("Kinora"));

    // Export: a PNG whose text chunks hold the parameters (read back through the engine).
    const QString out = f.galleryDir->filePath(QStringLiteral("export/lighthouse.png"));
    QDir().mkpath(QFileInfo(out).absolutePath());
    QString error;
    REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Png, out, true, &error));
    CHECK(QImage(out).size() == QSize(256, 320));
    const auto text = engine::read_png_text(QFile::encodeName(out).toStdString());
    REQUIRE(text.has_value());
    std::string a1111, json;
    for (const auto& [k, v] : *text) {
        if (k == "parameters") a1111 = v;
        if (k == "kinora") json = v;
    }
    INFO("parameters chunk: " << a1111);
    CHECK(a1111.rfind("a lighthouse at dusk, 35mm, film grain", 0) == 0);
    CHECK(a1111.find("Negative prompt: text, watermark") != std::string::npos);
    CHECK(a1111.find("Steps: 3") != std::string::npos);
    CHECK(a1111.find("Seed: 100") != std::string::npos);
    CHECK(a1111.find("Size: 256x320") != std::string::npos);
    CHECK(json.find("\"guidance_scale\": \"5.5\"") != std::string::npos);
    CHECK(json.find("\"model\": \"Sana_1600M_1024px_diffusers\"") != std::string::npos);

    // Without "embed parameters" there is no parameters chunk.
    const QString bare = f.galleryDir->filePath(QStringLiteral("export/bare.png"));
    REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Png, bare, false, &error));
    const auto bareText = engine::read_png_text(QFile::encodeName(bare).toStdString());
    REQUIRE(bareText.has_value());
    for (const auto& [k, v] : *bareText) {
        if (k == "parameters") CHECK(v.find("Seed") == std::string::npos);
    }

    // A picture is not a clip: MP4 says what to do instead.
    CHECK(ui::ExportDialog::formatAvailable(ui::ExportDialog::Format::Gif));  // GIF needs no FFmpeg
    CHECK_FALSE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Mp4,
                                             f.galleryDir->filePath(QStringLiteral("x.mp4")), true, &error));
    CHECK(error.contains(QStringLiteral("export it as PNG")));
    CHECK_FALSE(QFileInfo::exists(f.galleryDir->filePath(QStringLiteral("x.mp4"))));

    // Reuse parameters: change everything, then restore from the result.
    w->promptEditor()->setPlainText(QStringLiteral("something else"));
    w->parameterPanel()->stepsControl()->setValue(9);
    w->seedControl()->setMode(ui::SeedMode::Random);
    w->reuseParameters(item.id);
    CHECK(w->promptEditor()->toPlainText() == item.prompt);
    CHECK(w->negativePromptEditor()->toPlainText() == QStringLiteral("text, watermark"));
    CHECK(w->parameterPanel()->stepsControl()->intValue() == 3);
    CHECK(w->parameterPanel()->guidanceControl()->value() == Approx(5.5));
    CHECK(w->parameterPanel()->widthPx() == 256);
    CHECK(w->parameterPanel()->heightPx() == 320);
    CHECK(w->seedControl()->mode() == ui::SeedMode::Fixed);
    CHECK(w->seedControl()->seed() == 100);
}

TEST_CASE("MainWindow: Esc cancels the running job, queued jobs keep their order", "[ui]") {
    WindowFixture f(FakeEngine::default_script(20));
    ui::MainWindow* w = f.w();
    w->show();
    REQUIRE(QTest::qWaitForWindowExposed(w));
    w->activateWindow();
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    w->promptEditor()->setPlainText(QStringLiteral("a slow job"));
    w->parameterPanel()->stepsControl()->setValue(60);
    w->parameterPanel()->setSize(256, 256);
    const ui::JobId a = w->generate();
    const ui::JobId b = w->generate();
    REQUIRE((a && b));
    REQUIRE(uitest::waitUntil([&] { return stateOf(w, a) == ui::JobState::Running; }));
    CHECK(w->windowTitle().startsWith(QStringLiteral("[")));  // progress in the title
    if (QApplication::activeWindow() == w) {
        QTest::keyClick(w, Qt::Key_Escape);
    } else {
        w->cancelCurrent();  // the platform gave us no active window; the action is the same
    }
    REQUIRE(uitest::waitUntil([&] { return stateOf(w, a) == ui::JobState::Cancelled; }));
    REQUIRE(uitest::waitUntil([&] { return stateOf(w, b) == ui::JobState::Running; }));
    w->cancelAll();
    REQUIRE(uitest::waitUntil([&] { return stateOf(w, b) == ui::JobState::Cancelled; }));
    CHECK(f.gallery->rowCount() == 0);
}

TEST_CASE("MainWindow: a failure shows its message and hint, the out-of-memory action halves the size", "[ui]") {
    WindowFixture f([](engine::JobId, const engine::GenerationRequest&) {
        return FakeEngine::Script{
            FakeEvent::progress(engine::JobStage::LoadingModel, 1, 1, 0.5),
            FakeEvent::fail(engine::ErrorCode::OutOfMemory,
                            "CUDA out of memory. Tried to allocate 6.00 GiB (GPU 0; 7.79 GiB total capacity)")};
    });
    ui::MainWindow* w = f.w();
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    w->promptEditor()->setPlainText(QStringLiteral("a huge poster"));
    w->parameterPanel()->setSize(2048, 1024);
    const ui::JobId id = w->generate();
    REQUIRE(id != 0);
    REQUIRE(uitest::waitUntil([&] { return stateOf(w, id) == ui::JobState::Failed; }));
    const QString text = w->notificationBar()->text();
    CHECK(w->notificationBar()->kind() == ui::NotificationBar::Kind::Error);
    CHECK(text.contains(QStringLiteral("out of memory")));
    CHECK(text.contains(QStringLiteral("1024×512")));
    auto* action = w->notificationBar()->findChild<QPushButton*>(QStringLiteral("notificationAction"));
    REQUIRE(action != nullptr);
    CHECK_FALSE(action->isHidden());
    action->click();
    CHECK(w->parameterPanel()->widthPx() == 1024);
    CHECK(w->parameterPanel()->heightPx() == 512);
    // The engine keeps serving: the next job is accepted.
    CHECK(w->generate() != 0);
}

TEST_CASE("MainWindow: a clip plays in the timeline and is kept frame by frame in the gallery", "[ui]") {
    WindowFixture f;
    ui::MainWindow* w = f.w();
    REQUIRE(w->selectModel(QStringLiteral("VideoCrafter2")));
    CHECK(w->currentTask() == appcore::Task::TextToVideo);
    w->promptEditor()->setPlainText(QStringLiteral("clouds over mountains, timelapse"));
    w->parameterPanel()->stepsControl()->setValue(2);
    w->parameterPanel()->framesControl()->setValue(6);
    w->parameterPanel()->fpsControl()->setValue(12);
    w->parameterPanel()->setSize(256, 256);
    REQUIRE(w->generate() != 0);
    REQUIRE(uitest::waitUntil([&] { return f.gallery->rowCount() == 1; }));
    const appcore::GalleryItem item = f.gallery->item(0);
    CHECK(item.kind == appcore::GalleryItem::Kind::Video);
    CHECK(item.framePaths.size() == 6);
    CHECK(item.fps == Approx(12.0));

    w->showGalleryItem(item.id);
    ui::VideoPlayer* player = w->videoPlayer();
    auto* stack = qobject_cast<QStackedWidget*>(player->parentWidget());
    REQUIRE(stack != nullptr);
    CHECK(stack->currentWidget() == player);
    CHECK(player->frameCount() == 6);
    CHECK(player->fps() == Approx(12.0));
    player->setCurrentFrame(2);
    player->stepFrames(1);
    CHECK(player->currentFrame() == 3);
    CHECK_FALSE(player->isPlaying());
    QTest::keyClick(player, Qt::Key_End);
    CHECK(player->currentFrame() == 5);
    player->setLoop(true);
    player->stepFrames(1);  // wraps when looping
    CHECK(player->currentFrame() == 0);
    QTest::keyClick(player, Qt::Key_Space);
    CHECK(player->isPlaying());
    QSignalSpy frames(player, &ui::VideoPlayer::frameChanged);
    REQUIRE(frames.wait(1000));
    QTest::keyClick(player, Qt::Key_Space);
    CHECK_FALSE(player->isPlaying());

    // Export the frames as PNGs.
    const QString folder = f.galleryDir->filePath(QStringLiteral("frames-out"));
    QString error;
    REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::PngFrames, folder, true, &error));
    CHECK(QDir(folder).entryList({QStringLiteral("frame_*.png")}, QDir::Files).size() == 6);

    // And as a GIF (the engine's own encoder, in every build): a GIF89a file holding the clip.
    const QString gif = f.galleryDir->filePath(QStringLiteral("clip.gif"));
    REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Gif, gif, true, &error));
    QFile gifFile(gif);
    REQUIRE(gifFile.open(QIODevice::ReadOnly));
    CHECK(gifFile.read(6) == QByteArray("GIF89a"));
    if (ui::ExportDialog::formatAvailable(ui::ExportDialog::Format::Mp4)) {
        const QString mp4 = f.galleryDir->filePath(QStringLiteral("clip.mp4"));
        INFO(error.toStdString());
        REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Mp4, mp4, true, &error));
        QFile mp4File(mp4);
        REQUIRE(mp4File.open(QIODevice::ReadOnly));
        CHECK(mp4File.read(12).mid(4, 4) == QByteArray("ftyp"));
    }
}

TEST_CASE("MainWindow: deleting the viewed result moves it to the trash", "[ui]") {
    WindowFixture f;
    ui::MainWindow* w = f.w();
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    w->promptEditor()->setPlainText(QStringLiteral("one"));
    w->parameterPanel()->setSize(256, 256);
    w->parameterPanel()->stepsControl()->setValue(1);
    REQUIRE(w->generate() != 0);
    REQUIRE(uitest::waitUntil([&] { return f.gallery->rowCount() == 1 && !w->viewedItemId().isEmpty(); }));
    const appcore::GalleryItem item = f.gallery->item(0);
    w->deleteItem(item.id);
    CHECK(f.gallery->rowCount() == 0);
    CHECK_FALSE(QFileInfo::exists(item.filePath));
    CHECK(w->viewedItemId().isEmpty());
}

TEST_CASE("MainWindow: without models it shows the way to get one, and Generate explains", "[ui]") {
    WindowFixture f(nullptr, false);
    ui::MainWindow* w = f.w();
    QSignalSpy manager(w, &ui::MainWindow::modelManagerRequested);
    CHECK(w->currentModel() == nullptr);
    CHECK(w->generate() == 0);
    CHECK(w->notificationBar()->text().contains(QStringLiteral("model")));
    auto* open = w->findChild<QPushButton*>(QStringLiteral("primaryButton"));
    REQUIRE(open != nullptr);
    open->click();
    CHECK(manager.count() == 1);
}

TEST_CASE("SeedControl: random, fixed and increment modes, reuse fixes the seed", "[ui]") {
    ui::SeedControl seed;
    seed.setMode(ui::SeedMode::Fixed);
    seed.setSeed(42);
    CHECK(seed.takeSeedForJob() == 42);
    CHECK(seed.takeSeedForJob() == 42);
    seed.setMode(ui::SeedMode::Increment);
    CHECK(seed.takeSeedForJob() == 42);
    CHECK(seed.takeSeedForJob() == 43);
    CHECK(seed.seed() == 44);
    seed.setMode(ui::SeedMode::Random);
    QSet<quint64> drawn;
    for (int i = 0; i < 5; ++i) {
        const quint64 s = seed.takeSeedForJob();
        CHECK(seed.seed() == s);  // shown, so it can be copied or reused
        drawn.insert(s);
    }
    CHECK(drawn.size() >= 4);
    seed.reuseSeed(Q_UINT64_C(18446744073709551615));
    CHECK(seed.mode() == ui::SeedMode::Fixed);
    CHECK(seed.seed() == Q_UINT64_C(18446744073709551615));
    seed.copyToClipboard();
    CHECK(QApplication::clipboard()->text() == QStringLiteral("18446744073709551615"));
}

TEST_CASE("PromptEditor: history with Ctrl+Up / Ctrl+Down keeps the draft", "[ui]") {
    QSettings().remove(QStringLiteral("test/history"));
    ui::PromptEditor editor;
    editor.setHistoryKey(QStringLiteral("test/history"));
    editor.setPlainText(QStringLiteral("first"));
    editor.commitToHistory();
    editor.setPlainText(QStringLiteral("second"));
    editor.commitToHistory();
    editor.setPlainText(QStringLiteral("first"));
    editor.commitToHistory();  // moves to the top, no duplicate
    CHECK(editor.history() == (QStringList{QStringLiteral("first"), QStringLiteral("second")}));
    editor.setPlainText(QStringLiteral("draft"));
    QTest::keyClick(&editor, Qt::Key_Up, Qt::ControlModifier);
    CHECK(editor.toPlainText() == QStringLiteral("first"));
    QTest::keyClick(&editor, Qt::Key_Up, Qt::ControlModifier);
    CHECK(editor.toPlainText() == QStringLiteral("second"));
    QTest::keyClick(&editor, Qt::Key_Up, Qt::ControlModifier);  // stays at the oldest
    CHECK(editor.toPlainText() == QStringLiteral("second"));
    QTest::keyClick(&editor, Qt::Key_Down, Qt::ControlModifier);
    QTest::keyClick(&editor, Qt::Key_Down, Qt::ControlModifier);
    CHECK(editor.toPlainText() == QStringLiteral("draft"));
    // Persisted: a new editor on the same key sees it.
    ui::PromptEditor other;
    other.setHistoryKey(QStringLiteral("test/history"));
    CHECK(other.history().size() == 2);
    QSignalSpy submit(&editor, &ui::PromptEditor::submitRequested);
    QTest::keyClick(&editor, Qt::Key_Enter, Qt::ControlModifier);
    CHECK(submit.count() == 1);
}

TEST_CASE("ParameterPanel: aspect presets keep the native pixel count and snap to the model's multiple", "[ui]") {
    appcore::LocalModel sana;
    sana.family = appcore::ModelFamily::Sana;
    sana.tasks = appcore::kTaskTextToImage;
    sana.nativeWidth = sana.nativeHeight = 1024;
    ui::ParameterPanel panel;
    panel.setSpec(appcore::parameterSpec(sana, appcore::Task::TextToImage), false);
    CHECK(panel.widthPx() == 1024);
    CHECK(panel.heightPx() == 1024);
    CHECK(panel.aspectCombo()->currentText() == QStringLiteral("1:1"));
    const int i169 = panel.aspectCombo()->findText(QStringLiteral("16:9"));
    REQUIRE(i169 >= 0);
    panel.aspectCombo()->setCurrentIndex(i169);
    emit panel.aspectCombo()->activated(i169);
    CHECK(panel.widthPx() % 32 == 0);
    CHECK(panel.heightPx() % 32 == 0);
    const double area = static_cast<double>(panel.widthPx()) * panel.heightPx();
    CHECK(area == Approx(1024.0 * 1024.0).epsilon(0.06));
    CHECK(static_cast<double>(panel.widthPx()) / panel.heightPx() == Approx(16.0 / 9.0).epsilon(0.04));
    CHECK(panel.flowShiftControl()->value() == Approx(3.0));
    CHECK(panel.framesControl()->isHidden());

    appcore::LocalModel vc;
    vc.family = appcore::ModelFamily::VideoCrafter;
    vc.tasks = appcore::kTaskTextToVideo;
    vc.nativeWidth = 512;
    vc.nativeHeight = 320;
    panel.setSpec(appcore::parameterSpec(vc, appcore::Task::TextToVideo), false);
    CHECK(panel.widthPx() == 512);
    CHECK(panel.heightPx() == 320);
    CHECK_FALSE(panel.framesControl()->isHidden());
    CHECK(panel.flowShiftControl()->isHidden());
    panel.setSize(500, 300);  // snapped to multiples of 64
    CHECK(panel.widthPx() == 512);
    CHECK(panel.heightPx() == 320);
}

TEST_CASE(
    "MainWindow: Sana's trained-size snapping is a parameter the request carries; Sprint hides the negative prompt",
    "[ui]") {
    WindowFixture f;
    ui::MainWindow* w = f.w();
    uitest::makeDiffusersModel(f.models.path(), QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers"),
                               QStringLiteral("SanaSprintPipeline"));
    w->rescanModels();
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    QCheckBox* binning = w->parameterPanel()->binningCheck();
    CHECK_FALSE(binning->isHidden());
    CHECK(binning->isChecked());  // diffusers' default
    w->promptEditor()->setPlainText(QStringLiteral("a tall poster"));
    w->negativePromptEditor()->setPlainText(QStringLiteral("blurry"));
    binning->setChecked(false);
    REQUIRE(w->generate() != 0);
    const auto sent = f.fb.fake->requests();
    const auto* r = std::get_if<engine::TextToImageRequest>(&sent.back());
    REQUIRE(r != nullptr);
    CHECK_FALSE(r->use_resolution_binning);
    CHECK(r->negative_prompt == "blurry");
    REQUIRE(uitest::waitUntil([&] { return f.gallery->rowCount() == 1; }));
    CHECK(f.gallery->item(0).parameter(QStringLiteral("resolution_binning")) == QStringLiteral("off"));
    // Reuse brings the choice back.
    binning->setChecked(true);
    w->reuseParameters(f.gallery->item(0).id);
    CHECK_FALSE(binning->isChecked());

    // Sana-Sprint: 1-4 steps, no negative prompt (hidden, and not sent).
    REQUIRE(w->selectModel(QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers")));
    CHECK(w->negativePromptEditor()->isHidden());
    CHECK(w->parameterPanel()->stepsControl()->maximum() == 4);
    CHECK(w->parameterPanel()->stepsControl()->value() == 2);
    REQUIRE(w->generate() != 0);
    const auto sentSprint = f.fb.fake->requests();
    const auto* s = std::get_if<engine::TextToImageRequest>(&sentSprint.back());
    REQUIRE(s != nullptr);
    CHECK(s->negative_prompt.empty());
    CHECK(s->num_inference_steps == 2);
    CHECK(s->use_resolution_binning);  // Sprint 1024 px has bins
    REQUIRE(w->selectModel(QStringLiteral("Sana_1600M_1024px_diffusers")));
    CHECK_FALSE(w->negativePromptEditor()->isHidden());
    CHECK(w->negativePromptEditor()->toPlainText() == QStringLiteral("blurry"));
}
