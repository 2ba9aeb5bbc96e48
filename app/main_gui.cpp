// kinora: the desktop app. Builds the engine bridge, the gallery and the main window; the engine runs
// on its own worker thread and reports back through queued signals.
#include <QApplication>
#include <QDateTime>
#include <QFile>
#include <QMutex>
#include <QSettings>
#include <QThreadPool>

#include <cstdio>

#include <engine/log.h>

#include "core/app_paths.h"
#include "core/app_settings.h"
#include "core/hub_config.h"
#include "core/model_registry.h"
#include "ui/app_wiring.h"
#include "ui/dialogs/model_manager_dialog.h"
#include "ui/engine_bridge.h"
#include "ui/main_window.h"
#include "ui/models/gallery_model.h"

namespace {

QFile* g_logFile = nullptr;
QMutex g_logMutex;

// Qt messages (and the engine's, forwarded below) go to stderr and to the log file.
void messageHandler(QtMsgType type, const QMessageLogContext&, const QString& message) {
    const char* level = "info";
    switch (type) {
        case QtDebugMsg:
            level = "debug";
            break;
        case QtInfoMsg:
            level = "info";
            break;
        case QtWarningMsg:
            level = "warning";
            break;
        case QtCriticalMsg:
            level = "error";
            break;
        case QtFatalMsg:
            level = "fatal";
            break;
    }
    const QByteArray line =
        QStringLiteral("%1 [%2] %3\n")
            .arg(QDateTime::currentDateTime().toString(Qt::ISODateWithMs), QString::fromLatin1(level), message)
            .toUtf8();
    QMutexLocker lock(&g_logMutex);
    std::fputs(line.constData(), stderr);
    if (g_logFile) {
        g_logFile->write(line);
        g_logFile->flush();
    }
}

void openLogFile() {
    const QString path = appcore::logFilePath();
    // Keep one previous log: a simple rotation that bounds the size per run.
    if (QFile::exists(path) && QFile(path).size() > 4 * 1024 * 1024) {
        QFile::remove(path + QStringLiteral(".1"));
        QFile::rename(path, path + QStringLiteral(".1"));
    }
    static QFile file(path);
    if (file.open(QIODevice::Append | QIODevice::Text)) {
        g_logFile = &file;
    }
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Kinora"));
    QApplication::setOrganizationName(QStringLiteral("Kinora"));
    QApplication::setApplicationVersion(QStringLiteral(KINORA_VERSION));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/kinora.svg")));

    openLogFile();
    qInstallMessageHandler(messageHandler);
    engine::set_log_sink([](engine::LogLevel level, const std::string& line) {
        const QString text = QString::fromStdString(line);
        if (level >= engine::LogLevel::Warn) {
            qWarning().noquote() << "engine:" << text;
        } else {
            qInfo().noquote() << "engine:" << text;
        }
    });
    ui::registerMetaTypes();

    QFile style(QStringLiteral(":/styles/dark.qss"));
    if (style.open(QIODevice::ReadOnly)) {
        app.setStyleSheet(QString::fromUtf8(style.readAll()));
    }

    QSettings qs;
    const appcore::AppSettings settings = appcore::AppSettings::load(qs);

    int rc = 0;
    {
        // Destroyed in reverse order: the window first, the bridge (which joins the engine) last.
        ui::EngineBridge bridge(ui::EngineBridge::realEngineFactory(settings.engine));
        ui::GalleryModel gallery(appcore::galleryDir());
        ui::MainWindow window(&bridge, &gallery, settings);
        ui::connectEngineSettings(&window, &bridge, &ui::EngineBridge::realEngineFactory);
        // One model manager for the whole session: closing it only hides it, so downloads go on. It
        // downloads into the hub cache of the settings, the one the model picker scans.
        ui::ModelManagerDialog* modelManager = nullptr;
        QObject::connect(&window, &ui::MainWindow::modelManagerRequested, &window, [&window, &modelManager] {
            if (!modelManager) {
                modelManager = new ui::ModelManagerDialog(
                    appcore::ModelRegistry::builtIn(),
                    ui::hubConfigFor(window.settings(), appcore::HubConfig::fromEnvironment()), &window);
                ui::connectModelManager(&window, modelManager);
            }
            modelManager->show();
            modelManager->raise();
            modelManager->activateWindow();
        });
        if (!gallery.lastError().isEmpty()) {
            qWarning().noquote() << gallery.lastError();
        }
        window.show();
        rc = app.exec();
    }
    QThreadPool::globalInstance()->waitForDone();
    engine::set_log_sink(nullptr);
    return rc;
}
