// kinora: the desktop app. Builds the main window; the engine runs on its own worker thread.
#include <QApplication>
#include <QFile>

#include "core/hub_config.h"
#include "core/model_registry.h"
#include "ui/dialogs/model_manager_dialog.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Kinora"));
    QApplication::setOrganizationName(QStringLiteral("Kinora"));
    QApplication::setApplicationVersion(QStringLiteral(KINORA_VERSION));

    QFile style(QStringLiteral(":/styles/dark.qss"));
    if (style.open(QIODevice::ReadOnly)) {
        app.setStyleSheet(QString::fromUtf8(style.readAll()));
    }

    ui::MainWindow window;
    // One model manager for the whole session: closing it only hides it, so downloads go on.
    ui::ModelManagerDialog* modelManager = nullptr;
    QObject::connect(&window, &ui::MainWindow::modelManagerRequested, &window, [&window, &modelManager] {
        if (!modelManager) {
            modelManager = new ui::ModelManagerDialog(appcore::ModelRegistry::builtIn(),
                                                      appcore::HubConfig::fromEnvironment(), &window);
        }
        modelManager->show();
        modelManager->raise();
        modelManager->activateWindow();
    });
    window.show();
    return app.exec();
}
