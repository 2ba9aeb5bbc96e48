#include "core/model_registry.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSet>

namespace appcore {

namespace {

QStringList stringList(const QJsonValue& v) {
    QStringList out;
    for (const QJsonValue& item : v.toArray()) {
        out.append(item.toString());
    }
    return out;
}

bool hasWildcard(const QString& pattern) {
    return pattern.contains(QLatin1Char('*')) || pattern.contains(QLatin1Char('?')) ||
           pattern.contains(QLatin1Char('['));
}

// A file that opens: a regular file or a symlink whose blob exists.
bool isUsableFile(const QString& path) {
    const QFileInfo info(path);
    return info.exists() && info.isFile();
}

}  // namespace

PullOptions ModelEntry::pullOptions() const {
    PullOptions o;
    o.revision = revision.isEmpty() ? QStringLiteral("main") : revision;
    o.selection = selection;
    return o;
}

std::optional<ModelRegistry> ModelRegistry::fromJson(const QByteArray& json, QString* error) {
    auto fail = [error](const QString& message) -> std::optional<ModelRegistry> {
        if (error) {
            *error = message;
        }
        return std::nullopt;
    };
    QJsonParseError parseError{};
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        return fail(QStringLiteral("models.json is not valid JSON: %1 at offset %2")
                        .arg(parseError.errorString())
                        .arg(parseError.offset));
    }
    if (doc.object().value(QStringLiteral("schema")).toInt() != 1) {
        return fail(QStringLiteral("models.json: unknown \"schema\" (expected 1)"));
    }
    static const QSet<QString> kTasks = {QStringLiteral("t2i"), QStringLiteral("t2v"), QStringLiteral("i2v"),
                                         QStringLiteral("tokenizer"), QStringLiteral("text-encoder")};
    ModelRegistry registry;
    QSet<QString> ids;
    for (const QJsonValue& v : doc.object().value(QStringLiteral("models")).toArray()) {
        const QJsonObject o = v.toObject();
        ModelEntry e;
        e.id = o.value(QStringLiteral("id")).toString();
        e.name = o.value(QStringLiteral("name")).toString();
        e.family = o.value(QStringLiteral("family")).toString();
        e.description = o.value(QStringLiteral("description")).toString();
        e.repoId = o.value(QStringLiteral("repo")).toString();
        e.revision = o.value(QStringLiteral("revision")).toString(QStringLiteral("main"));
        e.format = o.value(QStringLiteral("format")).toString();
        e.configName = o.value(QStringLiteral("config_name")).toString();
        e.tasks = stringList(o.value(QStringLiteral("tasks")));
        e.selection.include = stringList(o.value(QStringLiteral("include")));
        e.selection.exclude = stringList(o.value(QStringLiteral("exclude")));
        e.selection.variant = o.value(QStringLiteral("variant")).toString();
        e.approxSizeBytes = static_cast<qint64>(o.value(QStringLiteral("approx_size_bytes")).toDouble(0));
        const QJsonObject licence = o.value(QStringLiteral("licence")).toObject();
        e.licenceName = licence.value(QStringLiteral("name")).toString();
        e.licenceUrl = licence.value(QStringLiteral("url")).toString();
        e.gated = o.value(QStringLiteral("gated")).toBool(false);
        e.access = o.value(QStringLiteral("access")).toString();
        e.defaults = o.value(QStringLiteral("defaults")).toObject();
        e.requires = stringList(o.value(QStringLiteral("requires")));
        e.unverified = stringList(o.value(QStringLiteral("unverified")));
        const QString where = QStringLiteral("models.json, model \"%1\": ").arg(e.id);
        if (e.id.isEmpty() || ids.contains(e.id)) {
            return fail(where + QStringLiteral("missing or repeated \"id\""));
        }
        if (e.name.isEmpty()) {
            return fail(where + QStringLiteral("missing \"name\""));
        }
        if (!HubCache::isValidRepoId(e.repoId) || !e.repoId.contains(QLatin1Char('/'))) {
            return fail(where + QStringLiteral("\"repo\" must be \"organisation/name\""));
        }
        if (!HubCache::isValidRevision(e.revision)) {
            return fail(where + QStringLiteral("invalid \"revision\""));
        }
        if (e.tasks.isEmpty()) {
            return fail(where + QStringLiteral("\"tasks\" is empty"));
        }
        for (const QString& t : e.tasks) {
            if (!kTasks.contains(t)) {
                return fail(where + QStringLiteral("unknown task \"%1\"").arg(t));
            }
        }
        if (e.licenceName.isEmpty()) {
            return fail(where + QStringLiteral("missing \"licence\".name"));
        }
        if (e.gated && e.access.isEmpty()) {
            return fail(where + QStringLiteral("a gated model needs \"access\" (how to get access)"));
        }
        ids.insert(e.id);
        registry.models_.append(e);
    }
    if (registry.models_.isEmpty()) {
        return fail(QStringLiteral("models.json lists no models"));
    }
    for (const ModelEntry& e : registry.models_) {
        for (const QString& r : e.requires) {
            if (!ids.contains(r) || r == e.id) {
                return fail(QStringLiteral("models.json, model \"%1\": requires unknown model \"%2\"").arg(e.id, r));
            }
        }
    }
    return registry;
}

std::optional<ModelRegistry> ModelRegistry::fromFile(const QString& path, QString* error) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        if (error) {
            *error = QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
        }
        return std::nullopt;
    }
    return fromJson(f.readAll(), error);
}

ModelRegistry ModelRegistry::builtIn() {
    QString error;
    const QString overridePath = qEnvironmentVariable("KINORA_MODELS_JSON");
    if (!overridePath.isEmpty()) {
        if (auto r = fromFile(overridePath, &error)) {
            return *r;
        }
        qWarning("KINORA_MODELS_JSON: %s; using the built-in model list", qPrintable(error));
    }
    if (auto r = fromFile(QStringLiteral(":/kinora/models.json"), &error)) {
        return *r;
    }
    qWarning("built-in model list: %s", qPrintable(error));
    return ModelRegistry();
}

const ModelEntry* ModelRegistry::find(const QString& idOrRepo) const {
    for (const ModelEntry& e : models_) {
        if (e.id == idOrRepo) {
            return &e;
        }
    }
    for (const ModelEntry& e : models_) {
        if (e.repoId.compare(idOrRepo, Qt::CaseInsensitive) == 0) {
            return &e;
        }
    }
    return nullptr;
}

QList<const ModelEntry*> ModelRegistry::withRequirements(const ModelEntry& entry) const {
    QList<const ModelEntry*> out;
    QList<const ModelEntry*> stack{&entry};
    QSet<QString> seen;
    while (!stack.isEmpty()) {
        const ModelEntry* e = stack.takeFirst();
        if (!e || seen.contains(e->id)) {
            continue;
        }
        seen.insert(e->id);
        out.append(e);
        for (const QString& r : e->requires) {
            stack.append(find(r));
        }
    }
    return out;
}

ModelStatus ModelRegistry::status(const ModelEntry& entry, const HubCache& cache) {
    ModelStatus s;
    const CachedRepo repo = cache.scanRepo(entry.repoId);
    s.bytesOnDisk = repo.blobBytes;
    s.partialBytes = repo.partialBytes;
    const QString snapshot = cache.resolveSnapshot(entry.repoId, entry.revision);
    if (snapshot.isEmpty()) {
        s.state = repo.numPartials > 0 || repo.numBlobs > 0 ? InstallState::Partial : InstallState::NotInstalled;
        if (s.state == InstallState::Partial) {
            s.note = QStringLiteral("download not finished");
        }
        return s;
    }
    s.snapshotDir = snapshot;
    QStringList missing;
    for (const QString& pattern : entry.selection.include) {
        if (!hasWildcard(pattern) && !isUsableFile(snapshot + QLatin1Char('/') + pattern)) {
            missing.append(pattern);
        }
    }
    if (entry.format == QStringLiteral("diffusers")) {
        QFile index(snapshot + QStringLiteral("/model_index.json"));
        if (!index.open(QIODevice::ReadOnly)) {
            if (!missing.contains(QStringLiteral("model_index.json"))) {
                missing.append(QStringLiteral("model_index.json"));
            }
        } else {
            const QJsonObject components = QJsonDocument::fromJson(index.readAll()).object();
            for (auto it = components.begin(); it != components.end(); ++it) {
                const QJsonArray spec = it.value().toArray();
                if (it.key().startsWith(QLatin1Char('_')) || spec.size() != 2 || spec.at(0).isNull()) {
                    continue;
                }
                const QDir dir(snapshot + QLatin1Char('/') + it.key());
                if (!dir.exists() || dir.entryList(QDir::Files).isEmpty()) {
                    missing.append(it.key() + QLatin1Char('/'));
                }
            }
        }
    }
    // Every shard an index names, and no dangling link anywhere.
    QDirIterator it(snapshot, QDir::Files | QDir::System | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString rel = QDir(snapshot).relativeFilePath(path);
        if (!isUsableFile(path)) {
            missing.append(rel);
            continue;
        }
        if (path.endsWith(QStringLiteral(".json")) && path.contains(QStringLiteral(".index"))) {
            QFile f(path);
            if (f.open(QIODevice::ReadOnly)) {
                const QJsonObject map =
                    QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("weight_map")).toObject();
                QSet<QString> shards;
                for (const QJsonValue& v : map) {
                    shards.insert(v.toString());
                }
                for (const QString& shard : shards) {
                    if (HubCache::isSafeRelativePath(shard) &&
                        !isUsableFile(QFileInfo(path).absolutePath() + QLatin1Char('/') + shard)) {
                        missing.append(QFileInfo(rel).path() + QLatin1Char('/') + shard);
                    }
                }
            }
        }
    }
    if (missing.isEmpty()) {
        s.state = InstallState::Installed;
    } else {
        s.state = InstallState::Partial;
        missing.removeDuplicates();
        s.note = QStringLiteral("missing: ") + missing.mid(0, 5).join(QStringLiteral(", ")) +
                 (missing.size() > 5 ? QStringLiteral(", ...") : QString());
    }
    return s;
}

}  // namespace appcore
