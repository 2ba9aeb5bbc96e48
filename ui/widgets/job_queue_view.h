// JobQueueView: the queue panel: one row per job with its preview, prompt, status (step, ETA, or the
// failure with a hint) and progress, a cancel button on active rows, and "Cancel all" / "Clear".
// Delete cancels the selected job; Enter shows it.
#pragma once

#include <QStyledItemDelegate>
#include <QWidget>

#include "ui/generation_types.h"

class QLabel;
class QListView;
class QPushButton;

namespace ui {

class JobQueueModel;

class JobQueueDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;

    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    bool editorEvent(QEvent* event, QAbstractItemModel* model, const QStyleOptionViewItem& option,
                     const QModelIndex& index) override;
    /// Where the cancel button of a row is drawn.
    static QRect cancelRect(const QRect& row);

signals:
    void cancelClicked(ui::JobId job);
};

class JobQueueView : public QWidget {
    Q_OBJECT
public:
    explicit JobQueueView(JobQueueModel* model, QWidget* parent = nullptr);

    QListView* listView() const { return list_; }

signals:
    void cancelRequested(ui::JobId job);
    void cancelAllRequested();
    /// The user picked a job (to follow its preview).
    void jobActivated(ui::JobId job);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void updateHeader();

    JobQueueModel* model_ = nullptr;
    QListView* list_ = nullptr;
    QLabel* summary_ = nullptr;
    QLabel* empty_ = nullptr;
    QPushButton* cancelAll_ = nullptr;
    QPushButton* clear_ = nullptr;
};

}  // namespace ui
