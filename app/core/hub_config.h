// Settings of the Hugging Face hub client, read from the same environment variables as Python's
// huggingface_hub so both share one cache and one login:
//   HF_ENDPOINT                 hub address (default https://huggingface.co)
//   HF_HOME                     default ${XDG_CACHE_HOME:-~/.cache}/huggingface
//   HF_HUB_CACHE                default $HF_HOME/hub (legacy HUGGINGFACE_HUB_CACHE)
//   HF_TOKEN                    access token (legacy HUGGING_FACE_HUB_TOKEN), else the file
//                               HF_TOKEN_PATH (default $HF_HOME/token) that `hf auth login` writes
//   HF_HUB_OFFLINE              1/ON/YES/TRUE: no network at all (also TRANSFORMERS_OFFLINE)
//   HF_HUB_DISABLE_IMPLICIT_TOKEN  do not send the environment/file token
// Kinora's own:
//   KINORA_HUB_MIN_FREE_MB      space to leave free on the cache disk (default 1024)
//   KINORA_HUB_PARALLEL         files downloaded at once (default 4)
#pragma once

#include <QString>
#include <QUrl>

namespace appcore {

struct HubConfig {
    QUrl endpoint;        // no trailing slash
    QString cacheDir;     // the huggingface_hub cache ("hub" folder)
    QString token;        // empty: anonymous
    QString tokenSource;  // "HF_TOKEN", "token file <path>", "settings", "" (for messages)
    bool offline = false;
    int maxParallelFiles = 4;
    int maxAttempts = 5;          // per file and request, for network errors, 408/429/5xx
    int retryBaseDelayMs = 1000;  // backoff: base, 2 base, 4 base, ... capped at retryMaxDelayMs
    int retryMaxDelayMs = 16000;
    int stallTimeoutMs = 30000;                  // no byte for this long: the attempt fails and is retried
    qint64 reserveBytes = 1024LL * 1024 * 1024;  // keep this much free on the cache disk

    /// Reads the environment variables above.
    static HubConfig fromEnvironment();
    /// huggingface_hub's notion of a true environment value (1, ON, YES, TRUE; any case).
    static bool isTrueValue(const QByteArray& value);
};

/// $HF_HOME as huggingface_hub computes it.
QString hfHomeDir();

}  // namespace appcore
