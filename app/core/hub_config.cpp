#include "core/hub_config.h"

#include <QDir>
#include <QFile>

#include "core/app_paths.h"

namespace appcore {

namespace {

QString envPath(const char* name) {
    QString value = qEnvironmentVariable(name);
    if (value == QStringLiteral("~") || value.startsWith(QStringLiteral("~/"))) {
        value = QDir::homePath() + value.mid(1);
    }
    return value;
}

int envInt(const char* name, int fallback, int lo, int hi) {
    bool ok = false;
    const int v = qEnvironmentVariableIntValue(name, &ok);
    return ok && v >= lo && v <= hi ? v : fallback;
}

}  // namespace

bool HubConfig::isTrueValue(const QByteArray& value) {
    const QByteArray v = value.trimmed().toUpper();
    return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

QString hfHomeDir() {
    const QString home = envPath("HF_HOME");
    if (!home.isEmpty()) {
        return home;
    }
    const QString xdg = envPath("XDG_CACHE_HOME");
    return (xdg.isEmpty() ? QDir::homePath() + QStringLiteral("/.cache") : xdg) + QStringLiteral("/huggingface");
}

QString hubCacheDir() {
    QString dir = envPath("HF_HUB_CACHE");
    if (dir.isEmpty()) {
        dir = envPath("HUGGINGFACE_HUB_CACHE");
    }
    return dir.isEmpty() ? hfHomeDir() + QStringLiteral("/hub") : dir;
}

HubConfig HubConfig::fromEnvironment() {
    HubConfig c;
    QString endpoint = qEnvironmentVariable("HF_ENDPOINT").trimmed();
    if (endpoint.isEmpty()) {
        endpoint = QStringLiteral("https://huggingface.co");
    }
    while (endpoint.endsWith(QLatin1Char('/'))) {
        endpoint.chop(1);
    }
    c.endpoint = QUrl(endpoint);
    c.cacheDir = hubCacheDir();
    c.offline = isTrueValue(qgetenv("HF_HUB_OFFLINE")) || isTrueValue(qgetenv("TRANSFORMERS_OFFLINE"));
    if (!isTrueValue(qgetenv("HF_HUB_DISABLE_IMPLICIT_TOKEN"))) {
        if (qEnvironmentVariableIsSet("HF_TOKEN") && !qEnvironmentVariable("HF_TOKEN").trimmed().isEmpty()) {
            c.token = qEnvironmentVariable("HF_TOKEN").trimmed();
            c.tokenSource = QStringLiteral("HF_TOKEN");
        } else if (!qEnvironmentVariable("HUGGING_FACE_HUB_TOKEN").trimmed().isEmpty()) {
            c.token = qEnvironmentVariable("HUGGING_FACE_HUB_TOKEN").trimmed();
            c.tokenSource = QStringLiteral("HUGGING_FACE_HUB_TOKEN");
        } else {
            QString path = envPath("HF_TOKEN_PATH");
            if (path.isEmpty()) {
                path = hfHomeDir() + QStringLiteral("/token");
            }
            QFile file(path);
            if (file.open(QIODevice::ReadOnly)) {
                const QString token = QString::fromUtf8(file.readAll()).trimmed();
                if (!token.isEmpty()) {
                    c.token = token;
                    c.tokenSource = QStringLiteral("token file ") + path;
                }
            }
        }
    }
    c.reserveBytes = qint64(envInt("KINORA_HUB_MIN_FREE_MB", 1024, 0, 1 << 30)) * 1024 * 1024;
    c.maxParallelFiles = envInt("KINORA_HUB_PARALLEL", 4, 1, 16);
    return c;
}

}  // namespace appcore
