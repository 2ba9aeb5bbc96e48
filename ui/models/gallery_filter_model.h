// GalleryFilterModel: the gallery filtered by model and by words in the prompt (all words must match,
// case-insensitive; the negative prompt and the seed count too).
#pragma once

#include <QSortFilterProxyModel>
#include <QStringList>

namespace ui {

class GalleryFilterModel : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit GalleryFilterModel(QObject* parent = nullptr);

    /// Words to look for ("" shows everything).
    void setTextFilter(const QString& text);
    /// Only results of this model ("" for all).
    void setModelFilter(const QString& modelName);
    /// Only images (0), only videos (1), or both (-1).
    void setKindFilter(int kind);

    QString textFilter() const { return text_; }
    QString modelFilter() const { return model_; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    QString text_;
    QStringList words_;
    QString model_;
    int kind_ = -1;
};

}  // namespace ui
