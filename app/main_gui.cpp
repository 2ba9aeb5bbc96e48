// kinora: the desktop app. Builds the main window; the engine runs on its own worker thread.
#include <QApplication>
#include <QFile>
#include <QMessageBox>

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
    QObject::connect(&window, &ui::MainWindow::modelManagerRequested, &window, [&window] {
        QMessageBox::information(&window, QObject::tr("Model Manager"),
                                 QObject::tr("The model manager is not part of this build yet. Put a downloaded "
                                             "model folder under the models folder, or use kinora-cli."));
    });
    window.show();
    return app.exec();
}
