// The gallery's persistent index: every result with the files that hold it and all its parameters,
// kept in <dir>/index.json so the gallery survives restarts. The files themselves (the full-size PNG
// or the frames of a video, and a thumbnail) are written by whoever produces the result; the store
// records, lists, filters and deletes them (to the trash).
//
//     appcore::GalleryStore store(appcore::galleryDir());
//     store.load();
//     appcore::GalleryItem item; item.id = store.newItemId(); ...write files under store.dir()...
//     store.add(item);
//
// Thread safety: not thread-safe; use from one thread (the GUI thread). newItemId() and the path
// helpers are pure and may be used to prepare files on another thread.
#pragma once

#include <QDateTime>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

#include "core/task.h"

class QJsonObject;

namespace appcore {

using ParameterPairs = QList<QPair<QString, QString>>;

struct GalleryItem {
    enum class Kind { Image = 0, Video };

    QString id;
    Kind kind = Kind::Image;
    Task task = Task::None;
    QString filePath;        // the image (PNG), or the first frame of a video
    QStringList framePaths;  // every frame of a video, in order
    QString thumbnailPath;
    QDateTime createdAt;
    QString modelName;
    QString modelPath;
    QString prompt;
    QString negativePrompt;
    quint64 seed = 0;
    int width = 0;
    int height = 0;
    int numFrames = 0;
    double fps = 0.0;
    double durationS = 0.0;     // time the job took
    ParameterPairs parameters;  // everything, in order (prompt, negative_prompt, steps, seed, ...)

    /// Value of a parameter by key ("" when absent).
    QString parameter(const QString& key) const;
    /// All files of the item (image or frames, and the thumbnail).
    QStringList files() const;
};

class GalleryStore {
public:
    /// Results live under dir (created when missing).
    explicit GalleryStore(QString dir);

    /// Reads index.json. A missing index is an empty gallery; entries whose files are gone are dropped.
    /// Returns false (with *error) only for an unreadable or corrupt index, which is kept aside as
    /// index.json.bad so nothing is lost.
    bool load(QString* error = nullptr);
    /// Items, newest first.
    const QList<GalleryItem>& items() const { return items_; }
    /// Index of an item by id, or -1.
    int indexOf(const QString& id) const;
    /// The folder the files go in.
    QString dir() const { return dir_; }
    /// A fresh unique id ("20250314-101502-042-7"), usable as a file name.
    QString newItemId();

    /// Adds a result whose files exist; saves the index. Newest first.
    bool add(const GalleryItem& item, QString* error = nullptr);

    enum class RemoveMode { Trash = 0, Delete, IndexOnly };
    /// Removes an item: its files go to the trash (Trash), are deleted (Delete), or are left (IndexOnly).
    /// Returns false with *error when the files could not be moved; the item then stays.
    bool remove(const QString& id, RemoveMode mode, QString* error = nullptr);

    /// Writes index.json atomically (QSaveFile).
    bool save(QString* error = nullptr) const;

    static QJsonObject toJson(const GalleryItem& item, const QString& baseDir);
    static GalleryItem fromJson(const QJsonObject& object, const QString& baseDir);

private:
    QString dir_;
    QList<GalleryItem> items_;
    int idCounter_ = 0;
};

}  // namespace appcore
