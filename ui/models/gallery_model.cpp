#include "ui/models/gallery_model.h"

#include <QDateTime>
#include <QFileInfo>
#include <QImage>
#include <QLocale>
#include <QSet>

namespace ui {

GalleryModel::GalleryModel(const QString& dir, QObject* parent)
    : QAbstractListModel(parent), store_(std::make_unique<appcore::GalleryStore>(dir)), thumbnails_(400) {
    store_->load(&lastError_);
}

GalleryModel::~GalleryModel() = default;

QString GalleryModel::dir() const {
    return store_->dir();
}

int GalleryModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(store_->items().size());
}

QHash<int, QByteArray> GalleryModel::roleNames() const {
    QHash<int, QByteArray> r = QAbstractListModel::roleNames();
    r.insert(ItemIdRole, "itemId");
    r.insert(KindRole, "kind");
    r.insert(TaskRole, "task");
    r.insert(PromptRole, "prompt");
    r.insert(NegativePromptRole, "negativePrompt");
    r.insert(ModelNameRole, "modelName");
    r.insert(SeedRole, "seed");
    r.insert(FilePathRole, "filePath");
    r.insert(ThumbnailPathRole, "thumbnailPath");
    r.insert(CreatedRole, "created");
    r.insert(SizeTextRole, "sizeText");
    return r;
}

QVariant GalleryModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const appcore::GalleryItem& it = store_->items()[index.row()];
    switch (role) {
        case Qt::DisplayRole:
        case PromptRole:
            return it.prompt;
        case Qt::DecorationRole: {
            if (QPixmap* cached = thumbnails_.object(it.id)) {
                return *cached;
            }
            QImage img(it.thumbnailPath);
            if (img.isNull()) {
                img.load(it.filePath);
            }
            if (img.isNull()) {
                return {};
            }
            if (img.width() > kThumbnailSize * 2 || img.height() > kThumbnailSize * 2) {
                img = img.scaled(kThumbnailSize * 2, kThumbnailSize * 2, Qt::KeepAspectRatio, Qt::SmoothTransformation);
            }
            auto* pm = new QPixmap(QPixmap::fromImage(img));
            const QPixmap copy = *pm;
            thumbnails_.insert(it.id, pm);
            return copy;
        }
        case Qt::ToolTipRole: {
            QString tip = QStringLiteral("<b>%1</b>").arg(it.prompt.toHtmlEscaped());
            if (!it.negativePrompt.isEmpty()) {
                tip += QStringLiteral("<br>%1 %2").arg(tr("Negative:"), it.negativePrompt.toHtmlEscaped());
            }
            tip += QStringLiteral("<br><i>%1 · %2 · %3 %4</i>")
                       .arg(it.modelName.toHtmlEscaped(), data(index, SizeTextRole).toString(), tr("seed"),
                            QString::number(it.seed));
            tip += QStringLiteral("<br><i>%1</i>").arg(QLocale().toString(it.createdAt, QLocale::ShortFormat));
            return tip;
        }
        case ItemIdRole:
            return it.id;
        case KindRole:
            return static_cast<int>(it.kind);
        case TaskRole:
            return static_cast<int>(it.task);
        case NegativePromptRole:
            return it.negativePrompt;
        case ModelNameRole:
            return it.modelName;
        case SeedRole:
            return QVariant::fromValue<quint64>(it.seed);
        case FilePathRole:
            return it.filePath;
        case ThumbnailPathRole:
            return it.thumbnailPath;
        case CreatedRole:
            return it.createdAt;
        case SizeTextRole: {
            QString s = QStringLiteral("%1×%2").arg(it.width).arg(it.height);
            if (it.kind == appcore::GalleryItem::Kind::Video) {
                s += it.numFrames == 1 ? tr(" · 1 frame") : tr(" · %1 frames").arg(it.numFrames);
            }
            return s;
        }
        default:
            break;
    }
    return {};
}

const appcore::GalleryItem& GalleryModel::item(int row) const {
    return store_->items()[row];
}

int GalleryModel::rowOf(const QString& id) const {
    return store_->indexOf(id);
}

QString GalleryModel::newItemId() {
    return store_->newItemId();
}

QStringList GalleryModel::modelNames() const {
    QStringList names;
    QSet<QString> seen;
    for (const auto& it : store_->items()) {
        if (!it.modelName.isEmpty() && !seen.contains(it.modelName)) {
            seen.insert(it.modelName);
            names << it.modelName;
        }
    }
    names.sort(Qt::CaseInsensitive);
    return names;
}

bool GalleryModel::addItem(const appcore::GalleryItem& item) {
    if (item.id.isEmpty() || store_->indexOf(item.id) >= 0) {
        lastError_ = tr("Gallery item id “%1” is empty or already used.").arg(item.id);
        return false;
    }
    const QStringList before = modelNames();
    beginInsertRows(QModelIndex(), 0, 0);
    const bool ok = store_->add(item, &lastError_);
    // store.add inserts in memory even when saving the index fails; keep the view in step with it.
    endInsertRows();
    if (ok) {
        lastError_.clear();
    }
    if (modelNames() != before) {
        emit modelNamesChanged();
    }
    return ok;
}

bool GalleryModel::removeItem(const QString& id, appcore::GalleryStore::RemoveMode mode) {
    const int row = store_->indexOf(id);
    if (row < 0) {
        lastError_ = tr("That result is no longer in the gallery.");
        return false;
    }
    const QStringList before = modelNames();
    // Move the files first; only then change the rows.
    appcore::GalleryStore probe = *store_;
    QString error;
    if (!probe.remove(id, mode, &error)) {
        const bool indexSaveFailed = probe.indexOf(id) < 0;
        if (!indexSaveFailed) {
            lastError_ = error;
            return false;
        }
    }
    beginRemoveRows(QModelIndex(), row, row);
    *store_ = probe;
    endRemoveRows();
    thumbnails_.remove(id);
    lastError_ = error;
    if (modelNames() != before) {
        emit modelNamesChanged();
    }
    return error.isEmpty();
}

void GalleryModel::reload() {
    beginResetModel();
    thumbnails_.clear();
    store_->load(&lastError_);
    endResetModel();
    emit modelNamesChanged();
}

}  // namespace ui
