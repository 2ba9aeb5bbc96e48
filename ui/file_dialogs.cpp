#include "ui/file_dialogs.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>
#include <QStandardPaths>

namespace ui {
namespace {

QString key(const QString& purpose) {
    return QStringLiteral("dialogs/lastDir/") + purpose;
}

}  // namespace

QString rememberedDir(const QString& purpose) {
    const QString dir = QSettings().value(key(purpose)).toString();
    if (!dir.isEmpty() && QFileInfo(dir).isDir()) {
        return dir;
    }
    const QString pictures = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    return pictures.isEmpty() ? QDir::homePath() : pictures;
}

void rememberDir(const QString& purpose, const QString& path) {
    if (path.isEmpty()) {
        return;
    }
    const QFileInfo info(path);
    QSettings().setValue(key(purpose), info.isDir() ? info.absoluteFilePath() : info.absolutePath());
}

QString askSaveFileName(QWidget* parent, const QString& purpose, const QString& caption, const QString& suggestedName,
                        const QString& filter) {
    const QString start = QDir(rememberedDir(purpose)).filePath(suggestedName);
    const QString path = QFileDialog::getSaveFileName(parent, caption, start, filter);
    rememberDir(purpose, path);
    return path;
}

QString askOpenFileName(QWidget* parent, const QString& purpose, const QString& caption, const QString& filter) {
    const QString path = QFileDialog::getOpenFileName(parent, caption, rememberedDir(purpose), filter);
    rememberDir(purpose, path);
    return path;
}

QString askDirectory(QWidget* parent, const QString& purpose, const QString& caption, const QString& start) {
    const QString path =
        QFileDialog::getExistingDirectory(parent, caption, start.isEmpty() ? rememberedDir(purpose) : start);
    rememberDir(purpose, path);
    return path;
}

}  // namespace ui
