#include "ui/models/gallery_filter_model.h"

#include "ui/models/gallery_model.h"

namespace ui {

GalleryFilterModel::GalleryFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {}

void GalleryFilterModel::setTextFilter(const QString& text) {
    if (text == text_) {
        return;
    }
    text_ = text;
    words_ = text.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    invalidateRowsFilter();
}

void GalleryFilterModel::setModelFilter(const QString& modelName) {
    if (modelName == model_) {
        return;
    }
    model_ = modelName;
    invalidateRowsFilter();
}

void GalleryFilterModel::setKindFilter(int kind) {
    if (kind == kind_) {
        return;
    }
    kind_ = kind;
    invalidateRowsFilter();
}

bool GalleryFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    const QModelIndex i = sourceModel()->index(sourceRow, 0, sourceParent);
    if (!model_.isEmpty() && i.data(GalleryModel::ModelNameRole).toString() != model_) {
        return false;
    }
    if (kind_ >= 0 && i.data(GalleryModel::KindRole).toInt() != kind_) {
        return false;
    }
    if (words_.isEmpty()) {
        return true;
    }
    const QString haystack = i.data(GalleryModel::PromptRole).toString() + QLatin1Char(' ') +
                             i.data(GalleryModel::NegativePromptRole).toString() + QLatin1Char(' ') +
                             QString::number(i.data(GalleryModel::SeedRole).value<quint64>());
    for (const QString& w : words_) {
        if (!haystack.contains(w, Qt::CaseInsensitive)) {
            return false;
        }
    }
    return true;
}

}  // namespace ui
