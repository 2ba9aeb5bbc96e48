#include "core/app_paths.h"

#include <QDir>
#include <QStandardPaths>

namespace appcore {

QString dataDir() {
    QString dir = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
    QDir().mkpath(dir);
    return dir;
}

QString galleryDir() {
    QString dir = dataDir() + QStringLiteral("/gallery");
    QDir().mkpath(dir);
    return dir;
}

QString logFilePath() {
    QString dir = QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation);
    QDir().mkpath(dir);
    return dir + QStringLiteral("/kinora.log");
}

}  // namespace appcore
