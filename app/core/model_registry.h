// The models Kinora offers, as data (resources/models.json, built into appcore as :/kinora/models.json):
// which hub repo and which of its files make up "Sana 1600M 1024px" or "VideoCrafter2", their licences,
// sizes, tasks and default settings, and whether the local cache holds them completely.
#pragma once

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <optional>

#include "core/hub_cache.h"
#include "core/hub_client.h"
#include "core/hub_selection.h"

namespace appcore {

struct ModelEntry {
    QString id;      // "sana-1600m-1024"
    QString name;    // "Sana 1600M (1024 px)"
    QString family;  // "sana", "sana-sprint", "videocrafter", "dynamicrafter", "tokenizer", ...
    QString description;
    QString repoId;
    QString revision;
    QString format;      // "diffusers", "lvdm-ckpt", "clip-bpe", "transformers"
    QString configName;  // LVDM config the checkpoint needs (lvdm-ckpt only)
    QStringList tasks;   // "t2i", "t2v", "i2v", "tokenizer", "text-encoder"
    FileSelection selection;
    qint64 approxSizeBytes = 0;
    QString licenceName;
    QString licenceUrl;
    bool gated = false;
    QString access;        // how to get access to a gated repo
    QJsonObject defaults;  // engine request field names -> values
    QStringList requires;  // ids of entries this one needs (tokenizer files)
    QStringList unverified;

    PullOptions pullOptions() const;
};

enum class InstallState { NotInstalled, Partial, Installed };

struct ModelStatus {
    InstallState state = InstallState::NotInstalled;
    QString snapshotDir;      // when a snapshot exists
    qint64 bytesOnDisk = 0;   // complete blobs of the repo (all snapshots)
    qint64 partialBytes = 0;  // downloads in progress / paused
    QString note;             // what is missing, for Partial
};

class ModelRegistry {
public:
    /// The registry built into Kinora (or the file $KINORA_MODELS_JSON when that is set).
    static ModelRegistry builtIn();
    static std::optional<ModelRegistry> fromJson(const QByteArray& json, QString* error);
    static std::optional<ModelRegistry> fromFile(const QString& path, QString* error);

    const QList<ModelEntry>& models() const { return models_; }
    /// By id, or by repo id (case-insensitive).
    const ModelEntry* find(const QString& idOrRepo) const;
    /// The entry followed by everything it requires (depth first, no duplicates).
    QList<const ModelEntry*> withRequirements(const ModelEntry& entry) const;

    /// Whether `cache` holds the entry's files for its revision: for diffusers folders, model_index.json,
    /// every component folder it names, every shard the *.index.json files name; for the others, every
    /// file named without wildcards in `include`. Dangling links count as missing.
    static ModelStatus status(const ModelEntry& entry, const HubCache& cache);

private:
    QList<ModelEntry> models_;
};

}  // namespace appcore
