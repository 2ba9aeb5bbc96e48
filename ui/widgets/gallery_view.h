// GalleryView: the gallery panel: a search field and a model filter over a grid of thumbnails (videos
// carry a frame-count badge). Selecting shows a result; the context menu and keys act on it:
// Enter view, Delete to trash, Ctrl+R reuse parameters, Ctrl+E export.
#pragma once

#include <QStyledItemDelegate>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QListView;

namespace ui {

class GalleryFilterModel;
class GalleryModel;

class GalleryDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    void setCellSize(int px) { cell_ = px; }

private:
    int cell_ = 120;
};

class GalleryView : public QWidget {
    Q_OBJECT
public:
    explicit GalleryView(GalleryModel* model, QWidget* parent = nullptr);

    GalleryFilterModel* filterModel() const { return filter_; }
    QListView* listView() const { return list_; }
    QLineEdit* searchField() const { return search_; }
    QComboBox* modelFilter() const { return modelFilter_; }
    /// Id of the selected item ("" when none).
    QString currentItemId() const;
    /// Selects an item (clearing the filter when it hides it).
    void selectItem(const QString& id);

signals:
    void currentItemChanged(const QString& id);
    void itemActivated(const QString& id);
    void reuseParametersRequested(const QString& id);
    void reuseSeedRequested(const QString& id);
    void copyPromptRequested(const QString& id);
    void exportRequested(const QString& id);
    void revealRequested(const QString& id);
    void deleteRequested(const QString& id);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    void showContextMenu(const QPoint& pos);
    void refreshModelFilter();
    void updateEmptyState();
    void updateGrid();

    GalleryModel* model_ = nullptr;
    GalleryFilterModel* filter_ = nullptr;
    GalleryDelegate* delegate_ = nullptr;
    QListView* list_ = nullptr;
    QLineEdit* search_ = nullptr;
    QComboBox* modelFilter_ = nullptr;
    QLabel* empty_ = nullptr;
};

}  // namespace ui
