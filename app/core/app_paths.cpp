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

QString hubCacheDir() {
    const QByteArray cache = qgetenv("HF_HUB_CACHE");
    if (!cache.isEmpty()) {
        return QString::fromLocal8Bit(cache);
    }
    const QByteArray home = qgetenv("HF_HOME");
    if (!home.isEmpty()) {
        return QString::fromLocal8Bit(home) + QStringLiteral("/hub");
    }
    const QByteArray xdg = qgetenv("XDG_CACHE_HOME");
    if (!xdg.isEmpty()) {
        return QString::fromLocal8Bit(xdg) + QStringLiteral("/huggingface/hub");
    }
    return QDir::homePath() + QStringLiteral("/.cache/huggingface/hub");
}

QString logFilePath() {
    QString dir = QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation);
    QDir().mkpath(dir);
    return dir + QStringLiteral("/kinora.log");
}

}  // namespace appcore
