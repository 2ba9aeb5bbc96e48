// kinora-screenshot-real: the main window on the REAL engine (CPU), with the tiny golden Sana and
// Sana-Sprint pipelines added as models, saving a PNG of each state into OUT_DIR: a run in progress with
// its live preview, the finished golden picture, Sana-Sprint's parameters (no negative prompt), and the
// failure of a model whose weights are truncated. Run by tests/ui/screenshots.sh after the scripted tour.
//
//     kinora-screenshot-real OUT_DIR [--size WxH]      (KINORA_GOLDEN_DIR names the goldens)
#include <QApplication>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <cstdio>

#include "support/test_environment.h"
#include "ui/main_window.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/result_archiver.h"
#include "ui/widgets/parameter_panel.h"
#include "ui/widgets/prompt_editor.h"
#include "ui/widgets/seed_control.h"
#include "ui/widgets/slider_spin_box.h"
#include "uitest_support.h"

namespace {

QString g_out;
int g_failures = 0;

void settle(int ms = 200) {
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
        std::fprintf(stderr, "real-engine screenshots: %s did not happen\n", what);
        ++g_failures;
    }
}

ui::JobState stateOf(ui::MainWindow* w, ui::JobId id) {
    const int row = w->jobQueue()->rowOf(id);
    return row < 0 ? ui::JobState::Cancelled
                   : static_cast<ui::JobState>(w->jobQueue()->index(row).data(ui::JobQueueModel::StateRole).toInt());
}

QVariant jobData(ui::MainWindow* w, ui::JobId id, int role) {
    return w->jobQueue()->index(w->jobQueue()->rowOf(id)).data(role);
}

// The golden's prompt and parameters (sana_pipeline_tiny: 96×64, 4 steps, CFG 4.5, seed 42).
void goldenParameters(ui::MainWindow* w, int steps) {
    w->promptEditor()->setPlainText(QStringLiteral("a small fluffy white cat sleeping on a warm windowsill"));
    w->parameterPanel()->stepsControl()->setValue(steps);
    w->parameterPanel()->guidanceControl()->setValue(4.5);
    w->parameterPanel()->setSize(96, 64);
    w->seedControl()->setMode(ui::SeedMode::Fixed);
    w->seedControl()->setSeed(42);
}

bool copyTree(const QString& from, const QString& to) {
    QDirIterator it(from, QDir::Files, QDirIterator::Subdirectories);
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

}  // namespace

int main(int argc, char** argv) {
    test_support::apply_default_test_environment();
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("KinoraScreenshotReal"));
    QApplication::setOrganizationName(QStringLiteral("KinoraTests"));
    ui::registerMetaTypes();
    QSettings().clear();
    const QStringList args = QApplication::arguments();
    if (args.size() < 2) {
        std::fprintf(stderr, "usage: kinora-screenshot-real OUT_DIR [--size WxH]\n");
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
    const QDir goldens(qEnvironmentVariable("KINORA_GOLDEN_DIR"));
    const QString sana = goldens.filePath(QStringLiteral("sana_pipeline_tiny"));
    const QString sprint = goldens.filePath(QStringLiteral("sana_sprint_pipeline_tiny"));
    if (!QFile::exists(sana + QStringLiteral("/model_index.json"))) {
        std::fprintf(stderr, "no golden Sana pipeline at %s (set KINORA_GOLDEN_DIR)\n", qPrintable(sana));
        return 2;
    }

    auto home = uitest::homeTempDir();
    appcore::AppSettings settings;
    settings.modelsDir = home->filePath(QStringLiteral("models"));
    settings.hubCacheDir = home->filePath(QStringLiteral("hub"));
    QDir().mkpath(settings.modelsDir);
    ui::EngineBridge bridge(ui::EngineBridge::realEngineFactory(settings.engine));
    ui::GalleryModel gallery(home->filePath(QStringLiteral("gallery")));
    ui::MainWindow window(&bridge, &gallery, settings);
    window.resize(size);
    window.show();
    settle(300);

    // 10. A real run in progress: a long job at 512×512 with its live preview, the golden job queued.
    check(window.addModelPath(sana), "adding the golden Sana folder");
    goldenParameters(&window, 60);
    window.parameterPanel()->setSize(512, 512);
    const ui::JobId slow = window.generate();
    goldenParameters(&window, 4);
    const ui::JobId golden = window.generate();
    check(slow && golden, "submitting the jobs");
    check(uitest::waitUntil(
              [&] {
                  return jobData(&window, slow, ui::JobQueueModel::StepRole).toInt() >= 20 &&
                         jobData(&window, slow, ui::JobQueueModel::StageRole).toInt() ==
                             static_cast<int>(ui::JobStage::Denoising);
              },
              120000),
          "the long run reaching step 20");
    shoot(&window, QStringLiteral("10-real-generating"));
    window.cancelCurrent();
    check(uitest::waitUntil([&] { return stateOf(&window, slow) == ui::JobState::Cancelled; }, 30000),
          "the long run being cancelled");

    // 11. The golden picture, finished and shown with its parameters.
    check(uitest::waitUntil([&] { return stateOf(&window, golden) == ui::JobState::Finished; }, 60000),
          "the golden job finishing");
    window.archiver()->waitForIdle(10000);
    shoot(&window, QStringLiteral("11-real-sana-result"));

    // 12. Sana-Sprint: no negative prompt, 1-4 steps; its golden picture.
    if (QFile::exists(sprint + QStringLiteral("/model_index.json"))) {
        check(window.addModelPath(sprint), "adding the golden Sana-Sprint folder");
        goldenParameters(&window, 2);
        const ui::JobId id = window.generate();
        check(uitest::waitUntil([&] { return stateOf(&window, id) == ui::JobState::Finished; }, 60000),
              "the Sprint job finishing");
        window.archiver()->waitForIdle(10000);
        shoot(&window, QStringLiteral("12-real-sprint-result"));
    }

    // 13. A model whose transformer weights are truncated: the failure as the user sees it.
    QTemporaryDir copy;
    const QString broken = copy.filePath(QStringLiteral("Sana_broken_diffusers"));
    check(copyTree(sana, broken), "copying the golden");
    QFile weights(broken + QStringLiteral("/transformer/diffusion_pytorch_model.safetensors"));
    weights.resize(weights.size() / 2);
    check(window.addModelPath(broken), "adding the broken copy");
    goldenParameters(&window, 4);
    const ui::JobId failing = window.generate();
    check(uitest::waitUntil([&] { return stateOf(&window, failing) == ui::JobState::Failed; }, 60000),
          "the broken model failing");
    shoot(&window, QStringLiteral("13-real-corrupt-model"));

    window.archiver()->waitForIdle(10000);
    return g_failures == 0 ? 0 : 1;
}
