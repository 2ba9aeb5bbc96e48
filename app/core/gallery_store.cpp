#include "core/gallery_store.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace appcore {
namespace {

constexpr int kIndexVersion = 1;

QString indexPath(const QString& dir) {
    return dir + QStringLiteral("/index.json");
}

// Paths inside the gallery are stored relative to it, so the folder can be moved.
QString toStored(const QString& path, const QDir& base) {
    if (path.isEmpty()) {
        return {};
    }
    const QString rel = base.relativeFilePath(path);
    return rel.startsWith(QLatin1String("..")) ? path : rel;
}

QString fromStored(const QString& stored, const QDir& base) {
    if (stored.isEmpty()) {
        return {};
    }
    return QDir::isAbsolutePath(stored) ? stored : base.absoluteFilePath(stored);
}

QString tr(const char* text) {
    return QCoreApplication::translate("appcore", text);
}

}  // namespace

QString GalleryItem::parameter(const QString& key) const {
    for (const auto& p : parameters) {
        if (p.first == key) {
            return p.second;
        }
    }
    return {};
}

QStringList GalleryItem::files() const {
    QStringList out;
    if (kind == Kind::Video && !framePaths.isEmpty()) {
        out << framePaths;
    } else if (!filePath.isEmpty()) {
        out << filePath;
    }
    if (!thumbnailPath.isEmpty()) {
        out << thumbnailPath;
    }
    return out;
}

GalleryStore::GalleryStore(QString dir) : dir_(std::move(dir)) {
    QDir().mkpath(dir_);
}

int GalleryStore::indexOf(const QString& id) const {
    for (int i = 0; i < items_.size(); ++i) {
        if (items_[i].id == id) {
            return i;
        }
    }
    return -1;
}

QString GalleryStore::newItemId() {
    const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss-zzz"));
    QString id;
    do {
        id = stamp + QLatin1Char('-') + QString::number(++idCounter_);
    } while (indexOf(id) >= 0 || QFileInfo::exists(dir_ + QLatin1Char('/') + id + QStringLiteral(".png")) ||
             QFileInfo::exists(dir_ + QLatin1Char('/') + id));
    return id;
}

QJsonObject GalleryStore::toJson(const GalleryItem& item, const QString& baseDir) {
    const QDir base(baseDir);
    QJsonObject o;
    o[QStringLiteral("id")] = item.id;
    o[QStringLiteral("kind")] =
        item.kind == GalleryItem::Kind::Video ? QStringLiteral("video") : QStringLiteral("image");
    o[QStringLiteral("task")] = taskId(item.task);
    o[QStringLiteral("file")] = toStored(item.filePath, base);
    QJsonArray frames;
    for (const QString& f : item.framePaths) {
        frames.append(toStored(f, base));
    }
    o[QStringLiteral("frames")] = frames;
    o[QStringLiteral("thumbnail")] = toStored(item.thumbnailPath, base);
    o[QStringLiteral("created")] = item.createdAt.toString(Qt::ISODateWithMs);
    o[QStringLiteral("model_name")] = item.modelName;
    o[QStringLiteral("model_path")] = item.modelPath;
    o[QStringLiteral("prompt")] = item.prompt;
    o[QStringLiteral("negative_prompt")] = item.negativePrompt;
    // JSON numbers are doubles: a 64-bit seed goes as a string.
    o[QStringLiteral("seed")] = QString::number(item.seed);
    o[QStringLiteral("width")] = item.width;
    o[QStringLiteral("height")] = item.height;
    o[QStringLiteral("num_frames")] = item.numFrames;
    o[QStringLiteral("fps")] = item.fps;
    o[QStringLiteral("duration_s")] = item.durationS;
    QJsonArray params;
    for (const auto& p : item.parameters) {
        params.append(QJsonArray{p.first, p.second});
    }
    o[QStringLiteral("parameters")] = params;
    return o;
}

GalleryItem GalleryStore::fromJson(const QJsonObject& o, const QString& baseDir) {
    const QDir base(baseDir);
    GalleryItem item;
    item.id = o.value(QStringLiteral("id")).toString();
    item.kind = o.value(QStringLiteral("kind")).toString() == QLatin1String("video") ? GalleryItem::Kind::Video
                                                                                     : GalleryItem::Kind::Image;
    item.task = taskFromId(o.value(QStringLiteral("task")).toString());
    item.filePath = fromStored(o.value(QStringLiteral("file")).toString(), base);
    for (const QJsonValue& f : o.value(QStringLiteral("frames")).toArray()) {
        item.framePaths << fromStored(f.toString(), base);
    }
    item.thumbnailPath = fromStored(o.value(QStringLiteral("thumbnail")).toString(), base);
    item.createdAt = QDateTime::fromString(o.value(QStringLiteral("created")).toString(), Qt::ISODateWithMs);
    item.modelName = o.value(QStringLiteral("model_name")).toString();
    item.modelPath = o.value(QStringLiteral("model_path")).toString();
    item.prompt = o.value(QStringLiteral("prompt")).toString();
    item.negativePrompt = o.value(QStringLiteral("negative_prompt")).toString();
    item.seed = o.value(QStringLiteral("seed")).toString().toULongLong();
    item.width = o.value(QStringLiteral("width")).toInt();
    item.height = o.value(QStringLiteral("height")).toInt();
    item.numFrames = o.value(QStringLiteral("num_frames")).toInt();
    item.fps = o.value(QStringLiteral("fps")).toDouble();
    item.durationS = o.value(QStringLiteral("duration_s")).toDouble();
    for (const QJsonValue& p : o.value(QStringLiteral("parameters")).toArray()) {
        const QJsonArray pair = p.toArray();
        if (pair.size() == 2) {
            item.parameters.append({pair[0].toString(), pair[1].toString()});
        }
    }
    return item;
}

bool GalleryStore::load(QString* error) {
    items_.clear();
    QFile f(indexPath(dir_));
    if (!f.exists()) {
        return true;
    }
    if (!f.open(QIODevice::ReadOnly)) {
        if (error) {
            *error = tr("Cannot read the gallery index %1: %2").arg(f.fileName(), f.errorString());
        }
        return false;
    }
    QJsonParseError parseError{};
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &parseError);
    f.close();
    if (parseError.error != QJsonParseError::NoError || !doc.isObject()) {
        // Keep the damaged file for the user instead of overwriting it with the next save.
        const QString bad = indexPath(dir_) + QStringLiteral(".bad");
        QFile::remove(bad);
        QFile::rename(indexPath(dir_), bad);
        if (error) {
            *error = tr("The gallery index was damaged (%1); it was kept as %2 and the gallery starts empty.")
                         .arg(parseError.errorString(), bad);
        }
        return false;
    }
    for (const QJsonValue& v : doc.object().value(QStringLiteral("items")).toArray()) {
        GalleryItem item = fromJson(v.toObject(), dir_);
        if (item.id.isEmpty() || !QFileInfo::exists(item.filePath)) {
            continue;  // deleted behind our back
        }
        items_.append(item);
    }
    return true;
}

bool GalleryStore::save(QString* error) const {
    QJsonArray arr;
    for (const GalleryItem& item : items_) {
        arr.append(toJson(item, dir_));
    }
    QJsonObject root;
    root[QStringLiteral("version")] = kIndexVersion;
    root[QStringLiteral("items")] = arr;
    QSaveFile f(indexPath(dir_));
    if (!f.open(QIODevice::WriteOnly) || f.write(QJsonDocument(root).toJson(QJsonDocument::Indented)) < 0 ||
        !f.commit()) {
        if (error) {
            *error = tr("Cannot write the gallery index %1: %2").arg(indexPath(dir_), f.errorString());
        }
        return false;
    }
    return true;
}

bool GalleryStore::add(const GalleryItem& item, QString* error) {
    if (item.id.isEmpty() || indexOf(item.id) >= 0) {
        if (error) {
            *error = tr("Gallery item id “%1” is empty or already used.").arg(item.id);
        }
        return false;
    }
    items_.prepend(item);
    return save(error);
}

bool GalleryStore::remove(const QString& id, RemoveMode mode, QString* error) {
    const int i = indexOf(id);
    if (i < 0) {
        if (error) {
            *error = tr("No gallery item “%1”.").arg(id);
        }
        return false;
    }
    const GalleryItem& item = items_[i];
    if (mode != RemoveMode::IndexOnly) {
        QStringList paths = item.files();
        // A video's frames sit in their own folder: move the folder as one.
        if (item.kind == GalleryItem::Kind::Video && !item.framePaths.isEmpty()) {
            const QString folder = QFileInfo(item.framePaths.first()).absolutePath();
            if (folder != QDir(dir_).absolutePath()) {
                paths = QStringList{folder};
                if (!item.thumbnailPath.isEmpty() && !item.thumbnailPath.startsWith(folder + QLatin1Char('/'))) {
                    paths << item.thumbnailPath;
                }
            }
        }
        for (int k = 0; k < paths.size(); ++k) {
            const QString& p = paths[k];
            if (!QFileInfo::exists(p)) {
                continue;
            }
            bool ok = false;
            if (mode == RemoveMode::Trash) {
                ok = QFile::moveToTrash(p);
            }
            if (!ok && (mode == RemoveMode::Delete || k > 0)) {
                // The result itself decides; a thumbnail that cannot go to the trash is just deleted.
                ok = QFileInfo(p).isDir() ? QDir(p).removeRecursively() : QFile::remove(p);
            }
            if (!ok) {
                if (error) {
                    *error = mode == RemoveMode::Trash ? tr("Cannot move %1 to the trash.").arg(p)
                                                       : tr("Cannot delete %1.").arg(p);
                }
                return false;
            }
        }
    }
    items_.removeAt(i);
    return save(error);
}

}  // namespace appcore
