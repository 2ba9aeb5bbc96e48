// GalleryModel: the persisted results (appcore::GalleryStore) as a list model, newest first, with
// thumbnails loaded lazily and cached. GUI thread only.
#pragma once

#include <QAbstractListModel>
#include <QCache>
#include <QPixmap>
#include <memory>

#include "core/gallery_store.h"

namespace ui {

class GalleryModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        ItemIdRole = Qt::UserRole + 1,
        KindRole,  // int (GalleryItem::Kind)
        TaskRole,  // int (appcore::Task)
        PromptRole,
        NegativePromptRole,
        ModelNameRole,
        SeedRole,  // quint64
        FilePathRole,
        ThumbnailPathRole,
        CreatedRole,   // QDateTime
        SizeTextRole,  // "1024×1024" / "512×320 · 16 frames"
    };

    /// Opens (and loads) the gallery in dir.
    explicit GalleryModel(const QString& dir, QObject* parent = nullptr);
    ~GalleryModel() override;

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    /// The error of the last load/add/remove ("" when fine).
    QString lastError() const { return lastError_; }
    QString dir() const;
    /// The item at a row (row must be valid).
    const appcore::GalleryItem& item(int row) const;
    int rowOf(const QString& id) const;
    /// A fresh id for files about to be written.
    QString newItemId();
    /// Distinct model names, for the filter.
    QStringList modelNames() const;

    /// Adds a result whose files exist (row 0). False with lastError() on failure.
    bool addItem(const appcore::GalleryItem& item);
    /// Removes an item, moving its files to the trash (or deleting them). False with lastError().
    bool removeItem(const QString& id,
                    appcore::GalleryStore::RemoveMode mode = appcore::GalleryStore::RemoveMode::Trash);
    /// Reloads from disk.
    void reload();

    /// Thumbnail edge in device-independent pixels.
    static constexpr int kThumbnailSize = 160;

signals:
    void modelNamesChanged();

private:
    std::unique_ptr<appcore::GalleryStore> store_;
    mutable QCache<QString, QPixmap> thumbnails_;
    QString lastError_;
};

}  // namespace ui
