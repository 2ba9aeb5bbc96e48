// End to end through the REAL engine (EngineBridge::realEngineFactory, CPU): the main window adds the tiny
// golden Sana pipeline (shared/golden/sana_pipeline_tiny, a diffusers folder as save_pretrained writes it),
// the prompt and parameters of the golden are entered, Generate is pressed, and the picture that lands in
// the gallery must equal diffusers' image within ±1 per 8-bit channel. Also: cancelling a real run with
// Esc, real load failures with their hints, the engine settings reaching engine::EngineOptions, and model
// detection of the real diffusers folders.
#include <catch2/catch.hpp>

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

#include <engine/media_io.h>

#include "golden_qt.h"
#include "ui/app_wiring.h"
#include "ui/dialogs/export_dialog.h"
#include "ui/main_window.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/model_list_model.h"
#include "ui/result_archiver.h"
#include "ui/widgets/image_canvas.h"
#include "ui/widgets/notification_bar.h"
#include "ui/widgets/parameter_panel.h"
#include "ui/widgets/prompt_editor.h"
#include "ui/widgets/seed_control.h"
#include "ui/widgets/slider_spin_box.h"
#include "uitest_support.h"

namespace {

const QString kSanaCase = QStringLiteral("sana_pipeline_tiny");
const QString kSprintCase = QStringLiteral("sana_sprint_pipeline_tiny");

// The main window on the real engine, with its own (empty) models folder, hub cache and gallery.
struct RealWindow {
    std::unique_ptr<QTemporaryDir> home = uitest::homeTempDir();
    std::unique_ptr<ui::EngineBridge> bridge;
    std::unique_ptr<ui::GalleryModel> gallery;
    std::unique_ptr<ui::MainWindow> window;

    explicit RealWindow(const appcore::EngineSettings& engine = {}) {
        QSettings().clear();
        appcore::AppSettings settings;
        settings.modelsDir = home->filePath(QStringLiteral("models"));
        settings.hubCacheDir = home->filePath(QStringLiteral("hub"));
        settings.engine = engine;
        QDir().mkpath(settings.modelsDir);
        bridge = std::make_unique<ui::EngineBridge>(ui::EngineBridge::realEngineFactory(engine));
        gallery = std::make_unique<ui::GalleryModel>(home->filePath(QStringLiteral("gallery")));
        window = std::make_unique<ui::MainWindow>(bridge.get(), gallery.get(), settings);
        window->show();
        REQUIRE(QTest::qWaitForWindowExposed(window.get()));
    }
    ~RealWindow() {
        window->archiver()->waitForIdle(10000);
        window.reset();
        bridge.reset();  // joins the engine's worker
    }
    ui::MainWindow* w() const { return window.get(); }

    ui::JobState state(ui::JobId id) const {
        return static_cast<ui::JobState>(
            window->jobQueue()->index(window->jobQueue()->rowOf(id)).data(ui::JobQueueModel::StateRole).toInt());
    }
    QVariant jobData(ui::JobId id, int role) const {
        return window->jobQueue()->index(window->jobQueue()->rowOf(id)).data(role);
    }
};

// Types the golden's prompt and sets its parameters through the window's controls.
void enterGoldenParameters(ui::MainWindow* w, const QJsonObject& meta) {
    w->promptEditor()->clear();
    QTest::keyClicks(w->promptEditor(), meta.value(QStringLiteral("prompt")).toString());
    if (meta.contains(QStringLiteral("negative_prompt"))) {  // Sana-Sprint's has none
        w->negativePromptEditor()->setPlainText(meta.value(QStringLiteral("negative_prompt")).toString());
    }
    w->parameterPanel()->stepsControl()->setValue(meta.value(QStringLiteral("num_inference_steps")).toInt());
    w->parameterPanel()->guidanceControl()->setValue(meta.value(QStringLiteral("guidance_scale")).toDouble());
    w->parameterPanel()->setSize(meta.value(QStringLiteral("width")).toInt(),
                                 meta.value(QStringLiteral("height")).toInt());
    w->seedControl()->setMode(ui::SeedMode::Fixed);
    w->seedControl()->field()->clear();
    QTest::keyClicks(w->seedControl()->field(), QString::number(meta.value(QStringLiteral("seed")).toInt()));
    QTest::keyClick(w->seedControl()->field(), Qt::Key_Tab);
}

QString paramOf(const appcore::GalleryItem& item, const QString& key) {
    return item.parameter(key);
}

// Copies a folder tree (the goldens are read-only; the copy is writable).
bool copyTree(const QString& from, const QString& to) {
    QDirIterator it(from, QDir::Files | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString src = it.next();
        const QString dst = QDir(to).filePath(QDir(from).relativeFilePath(src));
        QDir().mkpath(QFileInfo(dst).absolutePath());
        if (!QFile::copy(src, dst)) {
            return false;
        }
        QFile::setPermissions(dst, QFile::ReadOwner | QFile::WriteOwner);
    }
    return true;
}

void requireGolden(const QString& name) {
    const QString dir = uitest::goldenCaseDir(name);
    INFO("golden case " << dir.toStdString() << " (KINORA_GOLDEN_DIR)");
    REQUIRE(QFileInfo(dir + QStringLiteral("/model_index.json")).isFile());
}

}  // namespace

TEST_CASE("E2E: the real engine generates the golden Sana picture from the GUI; gallery, previews and PNG export",
          "[ui][e2e]") {
    requireGolden(kSanaCase);
    QString error;
    const QJsonObject meta = uitest::goldenMeta(kSanaCase, &error);
    INFO(error.toStdString());
    REQUIRE(!meta.isEmpty());
    const QImage golden = uitest::goldenImage(kSanaCase, QStringLiteral("image"), &error);
    REQUIRE(!golden.isNull());
    REQUIRE(golden.size() ==
            QSize(meta.value(QStringLiteral("width")).toInt(), meta.value(QStringLiteral("height")).toInt()));

    QElapsedTimer clock;
    clock.start();
    RealWindow f;
    ui::MainWindow* w = f.w();
    REQUIRE(f.bridge->isReady());

    // Add the golden folder as a model (Models ▸ Add Model… without its file dialog).
    REQUIRE(w->addModelPath(uitest::goldenCaseDir(kSanaCase)));
    const appcore::LocalModel* m = w->currentModel();
    REQUIRE(m != nullptr);
    CHECK(m->family == appcore::ModelFamily::Sana);
    CHECK(m->name == kSanaCase);
    CHECK(m->missingParts.isEmpty());
    // Read from its configs: sample_size 8 × the tiny DC-AE's 2× compression; no trained-size bins.
    CHECK(m->nativeWidth == 16);
    CHECK(m->flowShift == Approx(3.0));
    CHECK_FALSE(m->resolutionBinning);
    CHECK(w->parameterPanel()->binningCheck()->isHidden());
    CHECK_FALSE(w->negativePromptEditor()->isHidden());

    enterGoldenParameters(w, meta);
    CHECK(w->seedControl()->seed() == 42u);

    // What Generate will submit is what diffusers ran: no resolution binning, the complex human
    // instruction, 300 tokens, the golden's size, steps, guidance, seed, negative prompt and flow shift.
    const ui::GenerationParams params = w->currentParams();
    engine::GenerationRequest request;
    REQUIRE(ui::EngineBridge::buildRequest(params, &request, &error));
    const auto* r = std::get_if<engine::TextToImageRequest>(&request);
    REQUIRE(r != nullptr);
    CHECK(r->prompt == meta.value(QStringLiteral("prompt")).toString().toStdString());
    CHECK(r->negative_prompt == meta.value(QStringLiteral("negative_prompt")).toString().toStdString());
    CHECK(r->width_px == meta.value(QStringLiteral("width")).toInt());
    CHECK(r->height_px == meta.value(QStringLiteral("height")).toInt());
    CHECK(r->num_inference_steps == meta.value(QStringLiteral("num_inference_steps")).toInt());
    CHECK(r->guidance_scale == Approx(meta.value(QStringLiteral("guidance_scale")).toDouble()));
    CHECK(r->seed == static_cast<std::uint64_t>(meta.value(QStringLiteral("seed")).toInt()));
    CHECK(r->use_resolution_binning == meta.value(QStringLiteral("use_resolution_binning")).toBool());
    CHECK(r->use_complex_human_instruction);
    CHECK(r->max_sequence_length == 300);
    CHECK(r->flow_shift == Approx(3.0));  // the scheduler config's
    CHECK(r->preview.enabled);

    QSignalSpy previews(f.bridge.get(), &ui::EngineBridge::previewReady);
    QSignalSpy progressed(f.bridge.get(), &ui::EngineBridge::jobProgressed);
    QTest::mouseClick(w->generateButton(), Qt::LeftButton);
    REQUIRE(w->jobQueue()->rowCount() == 1);
    const ui::JobId id = w->jobQueue()->jobAt(0);
    REQUIRE(
        uitest::waitUntil([&] { return f.gallery->rowCount() == 1 || f.state(id) == ui::JobState::Failed; }, 60000));
    INFO("job message: " << f.jobData(id, ui::JobQueueModel::MessageRole).toString().toStdString());
    REQUIRE(f.state(id) == ui::JobState::Finished);
    REQUIRE(f.gallery->rowCount() == 1);

    // Previews of the denoising steps reached the GUI while it ran.
    REQUIRE(previews.count() >= 1);
    const auto frames = previews.last().at(3).value<QList<QImage>>();
    REQUIRE(frames.size() == 1);
    CHECK_FALSE(frames[0].isNull());
    bool denoised = false;
    for (const QList<QVariant>& p : progressed) {
        denoised = denoised || p.at(1).value<ui::JobStage>() == ui::JobStage::Denoising;
    }
    CHECK(denoised);

    // The gallery item: diffusers' picture within ±1, and the parameters the engine reports.
    const appcore::GalleryItem item = f.gallery->item(0);
    const QImage saved(item.filePath);
    REQUIRE(saved.size() == golden.size());
    const int diff = uitest::maxChannelDiff(saved, golden);
    INFO("max abs diff of the gallery PNG vs the golden (8-bit): " << diff);
    CHECK(diff >= 0);
    CHECK(diff <= 1);
    WARN("sana_pipeline_tiny through the GUI: max 8-bit channel diff " << diff);
    CHECK(item.prompt == meta.value(QStringLiteral("prompt")).toString());
    CHECK(item.seed == 42u);
    CHECK(paramOf(item, QStringLiteral("steps")) == QStringLiteral("4"));
    CHECK(paramOf(item, QStringLiteral("guidance_scale")) == QStringLiteral("4.5"));
    CHECK(paramOf(item, QStringLiteral("size")) == QStringLiteral("96x64"));
    CHECK(paramOf(item, QStringLiteral("model")) == kSanaCase);
    CHECK(paramOf(item, QStringLiteral("model_type")) == QStringLiteral("Sana"));
    CHECK(paramOf(item, QStringLiteral("resolution_binning")) == QStringLiteral("off"));
    CHECK(w->viewedItemId() == item.id);  // the canvas shows the finished picture
    CHECK(QFileInfo::exists(item.thumbnailPath));

    // Persisted: a new gallery on the same folder (the next start of the app) has it, parameters included.
    {
        ui::GalleryModel reopened(f.gallery->dir());
        REQUIRE(reopened.rowCount() == 1);
        CHECK(reopened.item(0).id == item.id);
        CHECK(reopened.item(0).parameters == item.parameters);
        CHECK(uitest::maxChannelDiff(QImage(reopened.item(0).filePath), golden) <= 1);
    }

    // Export: a PNG with the same pixels whose text chunks hold the parameters (read back by the engine).
    const QString out = f.home->filePath(QStringLiteral("export/cat.png"));
    QDir().mkpath(QFileInfo(out).absolutePath());
    REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Png, out, true, &error));
    CHECK(uitest::maxChannelDiff(QImage(out), golden) <= 1);
    const auto text = engine::read_png_text(QFile::encodeName(out).toStdString());
    REQUIRE(text.has_value());
    std::string a1111, json;
    for (const auto& [k, v] : *text) {
        if (k == "parameters") a1111 = v;
        if (k == "kinora") json = v;
    }
    INFO("parameters chunk: " << a1111);
    CHECK(a1111.rfind(meta.value(QStringLiteral("prompt")).toString().toStdString(), 0) == 0);
    CHECK(a1111.find("Steps: 4") != std::string::npos);
    CHECK(a1111.find("Seed: 42") != std::string::npos);
    CHECK(a1111.find("Size: 96x64") != std::string::npos);
    CHECK(json.find("\"guidance_scale\": \"4.5\"") != std::string::npos);
    CHECK(json.find("\"model_type\": \"Sana\"") != std::string::npos);

    WARN("E2E golden run (window, engine start, load, 4 steps, archive, export): " << clock.elapsed() << " ms");
    CHECK(clock.elapsed() < 60000);
}

TEST_CASE("E2E: Esc cancels a real run within a step and the queue goes on with the next job", "[ui][e2e]") {
    requireGolden(kSanaCase);
    QString error;
    const QJsonObject meta = uitest::goldenMeta(kSanaCase, &error);
    REQUIRE(!meta.isEmpty());
    RealWindow f;
    ui::MainWindow* w = f.w();
    w->activateWindow();
    REQUIRE(w->addModelPath(uitest::goldenCaseDir(kSanaCase)));
    enterGoldenParameters(w, meta);

    // A long job: many steps at a larger size, so Esc lands mid-denoising.
    w->parameterPanel()->stepsControl()->setValue(100);
    w->parameterPanel()->setSize(512, 512);
    const ui::JobId slow = w->generate();
    REQUIRE(slow != 0);
    // Then the golden job, queued behind it.
    enterGoldenParameters(w, meta);
    const ui::JobId next = w->generate();
    REQUIRE(next != 0);
    CHECK(f.state(next) == ui::JobState::Queued);

    QSignalSpy cancelled(f.bridge.get(), &ui::EngineBridge::jobCancelled);
    REQUIRE(uitest::waitUntil(
        [&] {
            return f.jobData(slow, ui::JobQueueModel::StageRole).toInt() == static_cast<int>(ui::JobStage::Denoising) &&
                   f.jobData(slow, ui::JobQueueModel::StepRole).toInt() >= 1;
        },
        60000));
    const int stepAtCancel = f.jobData(slow, ui::JobQueueModel::StepRole).toInt();
    QElapsedTimer clock;
    clock.start();
    if (QApplication::activeWindow() == w) {
        QTest::keyClick(w, Qt::Key_Escape);
    } else {
        WARN("no active window on this platform: Esc's action is triggered directly");
        w->cancelCurrent();
    }
    REQUIRE(uitest::waitUntil([&] { return f.state(slow) == ui::JobState::Cancelled; }, 30000));
    WARN("cancelled at step " << stepAtCancel << "/100 after " << clock.elapsed() << " ms");
    CHECK(cancelled.count() == 1);
    CHECK(f.jobData(slow, ui::JobQueueModel::StepRole).toInt() < 100);

    // The engine keeps serving: the queued golden job runs and lands in the gallery.
    REQUIRE(
        uitest::waitUntil([&] { return f.gallery->rowCount() == 1 || f.state(next) == ui::JobState::Failed; }, 60000));
    INFO("job message: " << f.jobData(next, ui::JobQueueModel::MessageRole).toString().toStdString());
    REQUIRE(f.state(next) == ui::JobState::Finished);
    const QImage golden = uitest::goldenImage(kSanaCase, QStringLiteral("image"), &error);
    CHECK(uitest::maxChannelDiff(QImage(f.gallery->item(0).filePath), golden) <= 1);
    CHECK(f.gallery->rowCount() == 1);  // nothing of the cancelled job
}

TEST_CASE("E2E: real load failures say what is wrong and what to do, and the queue keeps serving", "[ui][e2e]") {
    requireGolden(kSanaCase);
    QString error;
    const QJsonObject meta = uitest::goldenMeta(kSanaCase, &error);
    REQUIRE(!meta.isEmpty());
    RealWindow f;
    ui::MainWindow* w = f.w();

    SECTION("a folder that is not a model is refused when added, with the reason") {
        QTemporaryDir notModel;
        QFile readme(notModel.filePath(QStringLiteral("README.md")));
        REQUIRE(readme.open(QIODevice::WriteOnly));
        readme.write("# holiday photos\n");
        readme.close();
        CHECK_FALSE(w->addModelPath(notModel.path()));
        CHECK(w->notificationBar()->kind() == ui::NotificationBar::Kind::Error);
        CHECK(w->notificationBar()->text().contains(QStringLiteral("Not a model Kinora can use")));
        CHECK(w->notificationBar()->text().contains(QStringLiteral("model_index.json")));
        WARN("not a model, as the user sees it: " << w->notificationBar()->text().toStdString());
        CHECK(w->modelList()->rowCount() == 0);
    }

    SECTION("a truncated checkpoint fails the job with the file named and advice to download again") {
        QTemporaryDir copy;
        const QString broken = copy.filePath(QStringLiteral("Sana_broken_diffusers"));
        REQUIRE(copyTree(uitest::goldenCaseDir(kSanaCase), broken));
        QFile weights(broken + QStringLiteral("/transformer/diffusion_pytorch_model.safetensors"));
        const qint64 full = weights.size();
        REQUIRE(weights.resize(full / 2));
        REQUIRE(w->addModelPath(broken));  // it looks like a model until its weights are read
        enterGoldenParameters(w, meta);
        const ui::JobId id = w->generate();
        REQUIRE(id != 0);
        REQUIRE(uitest::waitUntil([&] { return f.state(id) == ui::JobState::Failed; }, 60000));
        const QString message = f.jobData(id, ui::JobQueueModel::MessageRole).toString();
        INFO("engine message: " << message.toStdString());
        CHECK(static_cast<ui::FailureCode>(f.jobData(id, ui::JobQueueModel::FailureCodeRole).toInt()) ==
              ui::FailureCode::ModelLoadFailed);
        CHECK(message.contains(QStringLiteral("diffusion_pytorch_model.safetensors")));
        const QString bar = w->notificationBar()->text();
        WARN("truncated checkpoint, as the user sees it: " << bar.toStdString());
        CHECK(w->notificationBar()->kind() == ui::NotificationBar::Kind::Error);
        CHECK(bar.contains(QStringLiteral("Generation failed")));
        CHECK(bar.contains(QStringLiteral("Download the model again")));

        // The next job, on the intact model, runs.
        REQUIRE(w->addModelPath(uitest::goldenCaseDir(kSanaCase)));
        enterGoldenParameters(w, meta);
        const ui::JobId good = w->generate();
        REQUIRE(uitest::waitUntil([&] { return f.state(good) == ui::JobState::Finished; }, 60000));
    }

    SECTION("a model folder with a missing component is flagged in the picker and fails with a hint") {
        QTemporaryDir copy;
        const QString partial = copy.filePath(QStringLiteral("Sana_partial_diffusers"));
        REQUIRE(copyTree(uitest::goldenCaseDir(kSanaCase), partial));
        REQUIRE(QDir(partial + QStringLiteral("/vae")).removeRecursively());
        REQUIRE(w->addModelPath(partial));
        REQUIRE(w->currentModel() != nullptr);
        CHECK(w->currentModel()->missingParts == QStringList{QStringLiteral("vae")});
        auto* info = w->findChild<QLabel*>(QStringLiteral("noteLabel"));
        REQUIRE(info != nullptr);
        CHECK(info->text().contains(QStringLiteral("Incomplete: vae missing")));
        enterGoldenParameters(w, meta);
        const ui::JobId id = w->generate();
        REQUIRE(uitest::waitUntil([&] { return f.state(id) == ui::JobState::Failed; }, 60000));
        const QString message = f.jobData(id, ui::JobQueueModel::MessageRole).toString();
        INFO("engine message: " << message.toStdString());
        CHECK(message.contains(QStringLiteral("vae")));
        const QString bar = w->notificationBar()->text();
        WARN("missing component, as the user sees it: " << bar.toStdString());
        CHECK((bar.contains(QStringLiteral("Model Manager")) || bar.contains(QStringLiteral("download"))));
    }
}

TEST_CASE("E2E: Sana-Sprint from its real folder: no negative prompt, 1-4 steps, the golden picture", "[ui][e2e]") {
    requireGolden(kSprintCase);
    QString error;
    const QJsonObject meta = uitest::goldenMeta(kSprintCase, &error);
    REQUIRE(!meta.isEmpty());
    const QImage golden = uitest::goldenImage(kSprintCase, QStringLiteral("image"), &error);
    REQUIRE(!golden.isNull());
    RealWindow f;
    ui::MainWindow* w = f.w();
    REQUIRE(w->addModelPath(uitest::goldenCaseDir(kSprintCase)));
    REQUIRE(w->currentModel() != nullptr);
    CHECK(w->currentModel()->family == appcore::ModelFamily::SanaSprint);
    // Sprint takes no negative prompt: the field is hidden and nothing of it is sent.
    CHECK(w->negativePromptEditor()->isHidden());
    w->negativePromptEditor()->setPlainText(QStringLiteral("left over from a Sana prompt"));
    CHECK(w->parameterPanel()->stepsControl()->minimum() == 1);
    CHECK(w->parameterPanel()->stepsControl()->maximum() == 4);
    CHECK(w->parameterPanel()->stepsControl()->value() == 2);
    CHECK(w->parameterPanel()->guidanceControl()->value() == Approx(4.5));
    CHECK(w->parameterPanel()->flowShiftControl()->isHidden());

    enterGoldenParameters(w, meta);
    CHECK(w->currentParams().negativePrompt.isEmpty());
    const ui::JobId id = w->generate();
    REQUIRE(id != 0);
    REQUIRE(
        uitest::waitUntil([&] { return f.gallery->rowCount() == 1 || f.state(id) == ui::JobState::Failed; }, 60000));
    INFO("job message: " << f.jobData(id, ui::JobQueueModel::MessageRole).toString().toStdString());
    REQUIRE(f.state(id) == ui::JobState::Finished);
    const int diff = uitest::maxChannelDiff(QImage(f.gallery->item(0).filePath), golden);
    WARN("sana_sprint_pipeline_tiny through the GUI: max 8-bit channel diff " << diff);
    CHECK(diff >= 0);
    CHECK(diff <= 1);
    CHECK(f.gallery->item(0).parameter(QStringLiteral("model_type")) == QStringLiteral("Sana-Sprint"));

    // Switching back to Sana brings the negative prompt back with its text.
    REQUIRE(w->addModelPath(uitest::goldenCaseDir(kSanaCase)));
    CHECK_FALSE(w->negativePromptEditor()->isHidden());
    CHECK(w->negativePromptEditor()->toPlainText() == QStringLiteral("left over from a Sana prompt"));
}

TEST_CASE("E2E: engine settings reach engine::EngineOptions and a change restarts the real engine", "[ui][e2e]") {
    appcore::EngineSettings s;
    engine::EngineOptions o = ui::EngineBridge::engineOptions(s);
    CHECK(o.device == engine::DeviceKind::Cpu);
    CHECK(o.precision == engine::Precision::Auto);
    CHECK(o.memory_mode == engine::MemoryMode::Balanced);
    s.device = appcore::DeviceChoice::Cuda;
    s.deviceIndex = 1;
    s.precision = appcore::PrecisionChoice::BFloat16;
    s.memoryMode = appcore::MemoryModeChoice::LowMemory;
    o = ui::EngineBridge::engineOptions(s);
    CHECK(o.device == engine::DeviceKind::Cuda);
    CHECK(o.device_index == 1);
    CHECK(o.precision == engine::Precision::BFloat16);
    CHECK(o.memory_mode == engine::MemoryMode::LowMemory);
    s.precision = appcore::PrecisionChoice::Float16;
    s.memoryMode = appcore::MemoryModeChoice::KeepLoaded;
    o = ui::EngineBridge::engineOptions(s);
    CHECK(o.precision == engine::Precision::Float16);
    CHECK(o.memory_mode == engine::MemoryMode::KeepLoaded);
    s.precision = appcore::PrecisionChoice::Float32;
    CHECK(ui::EngineBridge::engineOptions(s).precision == engine::Precision::Float32);
    CHECK(ui::EngineBridge::engineOptions(s).quantization == engine::WeightQuantization::None);
    s.quantization = appcore::QuantizationChoice::Int8;
    CHECK(ui::EngineBridge::engineOptions(s).quantization == engine::WeightQuantization::Int8);
    s.quantization = appcore::QuantizationChoice::Fp8;
    CHECK(ui::EngineBridge::engineOptions(s).quantization == engine::WeightQuantization::Fp8);
    {
        // The choice survives a restart of the app (QSettings in a file).
        QTemporaryDir dir;
        QSettings store(dir.filePath(QStringLiteral("kinora.ini")), QSettings::IniFormat);
        appcore::AppSettings saved = appcore::AppSettings::defaults();
        saved.engine.quantization = appcore::QuantizationChoice::Int8;
        saved.save(store);
        store.sync();
        CHECK(appcore::AppSettings::load(store).engine.quantization == appcore::QuantizationChoice::Int8);
        CHECK(appcore::AppSettings::load(store).engine == saved.engine);
    }

    // The app's wiring: a device/precision change in Settings makes a new real engine; other changes don't.
    RealWindow f;
    ui::MainWindow* w = f.w();
    QList<appcore::EngineSettings> made;
    ui::connectEngineSettings(w, f.bridge.get(), [&made](const appcore::EngineSettings& e) {
        made << e;
        return ui::EngineBridge::realEngineFactory(e);
    });
    QSignalSpy restarted(f.bridge.get(), &ui::EngineBridge::engineRestarted);
    appcore::AppSettings next = w->settings();
    next.previewEveryNSteps = 2;
    w->applySettings(next);
    CHECK(made.isEmpty());
    CHECK(restarted.count() == 0);

    next.engine.precision = appcore::PrecisionChoice::Float32;
    next.engine.memoryMode = appcore::MemoryModeChoice::LowMemory;
    w->applySettings(next);
    REQUIRE(made.size() == 1);
    CHECK(made[0].precision == appcore::PrecisionChoice::Float32);
    CHECK(restarted.count() == 1);
    CHECK(f.bridge->isReady());

    // CUDA on a machine or build without it: the real engine refuses to start, the window says so and
    // offers the settings; Generate explains instead of failing silently.
    next.engine.device = appcore::DeviceChoice::Cuda;
    w->applySettings(next);
    REQUIRE(made.size() == 2);
    if (f.bridge->isReady()) {
        WARN("this machine has CUDA: the device-unavailable path is not exercised here");
        CHECK(f.bridge->deviceDescription().startsWith(QStringLiteral("cuda")));
    } else {
        INFO("engine error: " << f.bridge->engineError().toStdString());
        CHECK(f.bridge->engineError().contains(QStringLiteral("CPU")));
        CHECK(w->notificationBar()->kind() == ui::NotificationBar::Kind::Error);
        CHECK(w->notificationBar()->text().contains(QStringLiteral("could not start")));
        requireGolden(kSanaCase);
        REQUIRE(w->addModelPath(uitest::goldenCaseDir(kSanaCase)));
        w->promptEditor()->setPlainText(QStringLiteral("a cat"));
        CHECK(w->generate() == 0);
        CHECK(w->notificationBar()->text().contains(QStringLiteral("engine is not running")));
    }

    // Back to the CPU: it runs again.
    next.engine.device = appcore::DeviceChoice::Cpu;
    w->applySettings(next);
    CHECK(f.bridge->isReady());
    CHECK(f.bridge->deviceDescription() == QStringLiteral("cpu"));

    // Quantization is an engine setting: int8 restarts the engine and runs on the CPU; FP8 there is refused at once
    // with what to choose instead.
    next.engine.quantization = appcore::QuantizationChoice::Int8;
    w->applySettings(next);
    REQUIRE(made.size() == 4);
    CHECK(made.last().quantization == appcore::QuantizationChoice::Int8);
    CHECK(f.bridge->isReady());
    next.engine.quantization = appcore::QuantizationChoice::Fp8;
    w->applySettings(next);
    REQUIRE(made.size() == 5);
    CHECK_FALSE(f.bridge->isReady());
    INFO("engine error: " << f.bridge->engineError().toStdString());
    CHECK(f.bridge->engineError().contains(QStringLiteral("FP8")));
    CHECK(f.bridge->engineError().contains(QStringLiteral("int8")));
    CHECK(w->notificationBar()->kind() == ui::NotificationBar::Kind::Error);
    next.engine.quantization = appcore::QuantizationChoice::None;
    w->applySettings(next);
    CHECK(f.bridge->isReady());
}

TEST_CASE("E2E: model detection of the real diffusers folders and the hub cache layout", "[ui][e2e]") {
    requireGolden(kSanaCase);
    requireGolden(kSprintCase);
    QString why;
    const appcore::LocalModel sana = appcore::identifyModel(uitest::goldenCaseDir(kSanaCase), &why);
    INFO(why.toStdString());
    CHECK(sana.family == appcore::ModelFamily::Sana);
    CHECK(sana.sampleSize == 8);
    CHECK(sana.vaeScaleFactor == 2);
    CHECK(sana.flowShift == Approx(3.0));  // read past the scheduler config's -Infinity
    const appcore::LocalModel sprint = appcore::identifyModel(uitest::goldenCaseDir(kSprintCase), &why);
    CHECK(sprint.family == appcore::ModelFamily::SanaSprint);
    const appcore::ParameterSpec sprintSpec = appcore::parameterSpec(sprint, appcore::Task::TextToImage);
    CHECK_FALSE(sprintSpec.hasNegativePrompt);
    CHECK_FALSE(sprintSpec.hasFlowShift);
    CHECK(sprintSpec.steps.max == 4);
    const appcore::ParameterSpec sanaSpec = appcore::parameterSpec(sana, appcore::Task::TextToImage);
    CHECK(sanaSpec.width.step == 32);
    CHECK(sanaSpec.width.min <= 96);  // the golden's 96×64 can be entered
    CHECK(sanaSpec.height.min <= 64);
    CHECK_FALSE(sanaSpec.hasResolutionBinning);

    // A released 1024 px model's configs (sample_size 32, six DC-AE stages): native 1024, bins on.
    QTemporaryDir dir;
    const QString real = QDir(dir.path()).filePath(QStringLiteral("Sana_1600M_1024px_diffusers"));
    REQUIRE(copyTree(uitest::goldenCaseDir(kSanaCase), real));
    auto rewrite = [](const QString& path, const QByteArray& from, const QByteArray& to) {
        QFile file(path);
        REQUIRE(file.open(QIODevice::ReadOnly));
        QByteArray text = file.readAll();
        file.close();
        REQUIRE(text.contains(from));
        text.replace(from, to);
        REQUIRE(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(text);
    };
    rewrite(real + QStringLiteral("/transformer/config.json"), "\"sample_size\": 8", "\"sample_size\": 32");
    rewrite(real + QStringLiteral("/vae/config.json"), "\"encoder_block_out_channels\": [\n    8,\n    16\n  ]",
            "\"encoder_block_out_channels\": [128, 256, 512, 512, 1024, 1024]");
    const appcore::LocalModel big = appcore::identifyModel(real, &why);
    CHECK(big.nativeWidth == 1024);
    CHECK(big.resolutionBinning);
    const appcore::ParameterSpec bigSpec = appcore::parameterSpec(big, appcore::Task::TextToImage);
    CHECK(bigSpec.hasResolutionBinning);
    CHECK(bigSpec.width.value == 1024);
    CHECK(bigSpec.width.min == 256);

    // Diffusers pipelines of the Sana family the engine does not run are refused by name.
    const QString pag =
        uitest::makeDiffusersModel(dir.path(), QStringLiteral("Sana_PAG"), QStringLiteral("SanaPAGPipeline"));
    CHECK(appcore::identifyModel(pag, &why).family == appcore::ModelFamily::Unknown);
    CHECK(why.contains(QStringLiteral("SanaPAGPipeline")));

    // A hub-cache snapshot whose files are symlinks into blobs/ (huggingface_hub's layout) is listed.
    QTemporaryDir hub;
    const QString repo = hub.filePath(QStringLiteral("models--test-org--Sana_tiny_diffusers"));
    const QString commit = QStringLiteral("0123456789abcdef0123456789abcdef01234567");
    QDir().mkpath(repo + QStringLiteral("/refs"));
    QDir().mkpath(repo + QStringLiteral("/blobs"));
    {
        QFile ref(repo + QStringLiteral("/refs/main"));
        REQUIRE(ref.open(QIODevice::WriteOnly));
        ref.write(commit.toUtf8());
    }
    const QString snapshot = repo + QStringLiteral("/snapshots/") + commit;
    QDirIterator it(uitest::goldenCaseDir(kSanaCase), QDir::Files, QDirIterator::Subdirectories);
    int n = 0;
    while (it.hasNext()) {
        const QString src = it.next();
        const QString rel = QDir(uitest::goldenCaseDir(kSanaCase)).relativeFilePath(src);
        const QString blob = repo + QStringLiteral("/blobs/blob%1").arg(n++);
        REQUIRE(QFile::copy(src, blob));
        const QString link = snapshot + QLatin1Char('/') + rel;
        QDir().mkpath(QFileInfo(link).absolutePath());
        REQUIRE(QFile::link(QDir(QFileInfo(link).absolutePath()).relativeFilePath(blob), link));
    }
    const QList<appcore::LocalModel> found = appcore::scanModels({}, hub.path(), {});
    REQUIRE(found.size() == 1);
    CHECK(found[0].name == QStringLiteral("Sana_tiny_diffusers"));
    CHECK(found[0].source == appcore::ModelSource::HubCache);
    CHECK(found[0].family == appcore::ModelFamily::Sana);
    CHECK(found[0].sampleSize == 8);
    CHECK(found[0].missingParts.isEmpty());
}

// VideoCrafter2 text-to-video from the GUI on the real engine: the tiny golden checkpoint in a models folder
// named after the model (with its config.json and the CLIP vocabulary beside it, as the model manager lays
// them out), the golden's prompt and parameters entered through the controls, Generate; every frame of the
// clip in the gallery equals the original lvdm code's video within ±1 per 8-bit channel, and the clip exports
// as MP4 (when this FFmpeg has H.264) and GIF.
TEST_CASE("E2E: VideoCrafter2 text-to-video from the GUI: the golden frames in the gallery, MP4 and GIF export",
          "[ui][e2e]") {
    const QString vc2Case = QStringLiteral("vc2_pipeline_tiny");
    const QString ckpt = QDir(uitest::goldenCaseDir(vc2Case)).filePath(QStringLiteral("model.ckpt"));
    INFO("golden case " << ckpt.toStdString());
    REQUIRE(QFileInfo(ckpt).isFile());
    QString error;
    const QJsonObject meta = uitest::goldenMeta(vc2Case, &error);
    INFO(error.toStdString());
    REQUIRE(!meta.isEmpty());

    RealWindow f;
    ui::MainWindow* w = f.w();
    const QString folder = f.home->filePath(QStringLiteral("models/VideoCrafter2"));
    REQUIRE(QDir().mkpath(folder));
    REQUIRE(QFile::copy(ckpt, folder + QStringLiteral("/model.ckpt")));
    REQUIRE(QFile::copy(QDir(uitest::goldenCaseDir(vc2Case)).filePath(QStringLiteral("config.json")),
                        folder + QStringLiteral("/config.json")));
    for (const QString& name : {QStringLiteral("vocab.json"), QStringLiteral("merges.txt")}) {
        REQUIRE(QFile::copy(QDir(uitest::goldenCaseDir(QStringLiteral("clip_tokenizer"))).filePath(name),
                            folder + QLatin1Char('/') + name));
    }
    REQUIRE(w->addModelPath(folder));
    const appcore::LocalModel* m = w->currentModel();
    REQUIRE(m != nullptr);
    CHECK(m->family == appcore::ModelFamily::VideoCrafter);
    CHECK(m->name == QStringLiteral("VideoCrafter2"));
    CHECK(m->configPath.endsWith(QStringLiteral("config.json")));
    // From its config: image_size [8, 12] latents × 4 (ch_mult [1, 2, 2]), temporal_length 4.
    CHECK(m->nativeWidth == 48);
    CHECK(m->nativeHeight == 32);
    CHECK(m->nativeFrames == 4);
    CHECK_FALSE(w->parameterPanel()->framesControl()->isHidden());
    CHECK_FALSE(w->parameterPanel()->etaControl()->isHidden());

    w->promptEditor()->clear();
    QTest::keyClicks(w->promptEditor(), meta.value(QStringLiteral("prompt")).toString());
    w->negativePromptEditor()->clear();  // VideoCrafter2's unconditional prompt is the empty one
    w->parameterPanel()->stepsControl()->setValue(meta.value(QStringLiteral("steps")).toInt());
    w->parameterPanel()->guidanceControl()->setValue(meta.value(QStringLiteral("cfg")).toDouble());
    w->parameterPanel()->framesControl()->setValue(4);
    w->parameterPanel()->fpsControl()->setValue(meta.value(QStringLiteral("fps")).toDouble());
    w->parameterPanel()->etaControl()->setValue(1.0);
    w->parameterPanel()->setSize(48, 32);
    w->seedControl()->setMode(ui::SeedMode::Fixed);
    w->seedControl()->field()->clear();
    QTest::keyClicks(w->seedControl()->field(), QStringLiteral("7"));  // the golden's x_T seed (steps: seed + 1)
    QTest::keyClick(w->seedControl()->field(), Qt::Key_Tab);

    engine::GenerationRequest request;
    REQUIRE(ui::EngineBridge::buildRequest(w->currentParams(), &request, &error));
    const auto* r = std::get_if<engine::TextToVideoRequest>(&request);
    REQUIRE(r != nullptr);
    CHECK(r->num_frames == 4);
    CHECK(r->width_px == 48);
    CHECK(r->height_px == 32);
    CHECK(r->num_inference_steps == 6);
    CHECK(r->guidance_scale == Approx(12.0));
    CHECK(r->fps == Approx(8.0));
    CHECK(r->eta == Approx(1.0));
    CHECK(r->seed == 7u);
    CHECK(r->negative_prompt.empty());

    QSignalSpy previews(f.bridge.get(), &ui::EngineBridge::previewReady);
    const ui::JobId id = w->generate();
    REQUIRE(id != 0);
    REQUIRE(
        uitest::waitUntil([&] { return f.gallery->rowCount() == 1 || f.state(id) == ui::JobState::Failed; }, 120000));
    INFO("job message: " << f.jobData(id, ui::JobQueueModel::MessageRole).toString().toStdString());
    REQUIRE(f.state(id) == ui::JobState::Finished);
    REQUIRE(previews.count() >= 1);
    CHECK(previews.last().at(3).value<QList<QImage>>().size() == 4);  // a preview shows every frame

    const appcore::GalleryItem item = f.gallery->item(0);
    CHECK(item.kind == appcore::GalleryItem::Kind::Video);
    CHECK(item.numFrames == 4);
    CHECK(item.fps == Approx(8.0));
    REQUIRE(item.framePaths.size() == 4);
    int worst = 0;
    for (int i = 0; i < 4; ++i) {
        const QImage golden = uitest::goldenPicture(vc2Case, QStringLiteral("eta1.video"), i, 0.5, 0.5, &error);
        INFO(error.toStdString());
        REQUIRE(!golden.isNull());
        const int diff = uitest::maxChannelDiff(QImage(item.framePaths[i]), golden);
        CAPTURE(i, diff);
        CHECK(diff >= 0);
        CHECK(diff <= 1);
        worst = qMax(worst, diff);
    }
    WARN("vc2_pipeline_tiny through the GUI: max 8-bit channel diff over 4 frames " << worst);
    CHECK(item.parameter(QStringLiteral("model_type")) == QStringLiteral("VideoCrafter2"));

    const QString gif = f.home->filePath(QStringLiteral("export/panda.gif"));
    QDir().mkpath(QFileInfo(gif).absolutePath());
    REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Gif, gif, true, &error));
    CHECK(QFileInfo(gif).size() > 0);
    const auto formats = engine::available_video_formats();
    if (std::find(formats.begin(), formats.end(), engine::VideoFormat::Mp4) != formats.end()) {
        const QString mp4 = f.home->filePath(QStringLiteral("export/panda.mp4"));
        INFO(error.toStdString());
        REQUIRE(ui::ExportDialog::exportItem(item, ui::ExportDialog::Format::Mp4, mp4, true, &error));
        CHECK(QFileInfo(mp4).size() > 0);
    } else {
        WARN("this FFmpeg has no H.264 encoder: MP4 export not checked");
    }
}
