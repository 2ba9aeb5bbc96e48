#include "ui/widgets/job_queue_view.h"

#include <QApplication>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QListView>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/icons.h"
#include "ui/models/job_queue_model.h"

namespace ui {
namespace {

constexpr int kThumb = 44;
constexpr int kPad = 8;

QColor stateColor(JobState s) {
    switch (s) {
        case JobState::Queued:
            return {0x8e, 0x92, 0x9a};
        case JobState::Running:
            return {0x8f, 0xb4, 0xff};
        case JobState::Finished:
            return {0x6f, 0xcf, 0x97};
        case JobState::Failed:
            return {0xff, 0x7b, 0x72};
        case JobState::Cancelled:
            return {0x8e, 0x92, 0x9a};
    }
    return {0xdf, 0xe1, 0xe5};
}

bool isActive(JobState s) {
    return s == JobState::Queued || s == JobState::Running;
}

}  // namespace

QRect JobQueueDelegate::cancelRect(const QRect& row) {
    return QRect(row.right() - kPad - 22, row.top() + kPad, 22, 22);
}

QSize JobQueueDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const {
    const QFontMetrics fm(option.font);
    int h = kPad * 2 + qMax(kThumb, fm.height() * 2 + 10);
    const auto state = static_cast<JobState>(index.data(JobQueueModel::StateRole).toInt());
    if (state == JobState::Failed) {
        // Room for the message and the hint, wrapped to the list's width.
        const auto* view = qobject_cast<const QAbstractItemView*>(parent());
        const int rowWidth = view ? view->viewport()->width() : option.rect.width();
        const int width = qMax(120, rowWidth - 8 - kThumb - kPad * 2 - 2 - kPad);
        const QString text = index.data(JobQueueModel::HintRole).toString();
        h += fm.boundingRect(QRect(0, 0, width, 1000), Qt::TextWordWrap, text).height() + 4;
        h += fm.boundingRect(QRect(0, 0, width, 1000), Qt::TextWordWrap,
                             index.data(JobQueueModel::StatusTextRole).toString())
                 .height() -
             fm.height();
    }
    return {kThumb + kPad * 4, h};
}

void JobQueueDelegate::paint(QPainter* p, const QStyleOptionViewItem& option, const QModelIndex& index) const {
    p->save();
    p->setRenderHint(QPainter::Antialiasing);
    const QRect r = option.rect.adjusted(4, 2, -4, -2);
    const auto state = static_cast<JobState>(index.data(JobQueueModel::StateRole).toInt());
    const bool selected = option.state & QStyle::State_Selected;
    QPainterPath bg;
    bg.addRoundedRect(QRectF(r), 8, 8);
    p->fillPath(bg, selected ? QColor(0x2f, 0x3a, 0x52) : QColor(0x26, 0x28, 0x2c));
    if (option.state & QStyle::State_HasFocus) {
        p->setPen(QPen(QColor(0x4f, 0x86, 0xf7), 1.2));
        p->drawPath(bg);
    }

    // Thumbnail: the latest preview, or the task icon.
    const QRect thumb(r.left() + kPad, r.top() + kPad, kThumb, kThumb);
    const QImage preview = index.data(JobQueueModel::PreviewRole).value<QImage>();
    QPainterPath clip;
    clip.addRoundedRect(QRectF(thumb), 6, 6);
    p->fillPath(clip, QColor(0x1b, 0x1c, 0x1f));
    if (!preview.isNull()) {
        p->save();
        p->setClipPath(clip);
        p->setRenderHint(QPainter::SmoothPixmapTransform);
        QSize s = preview.size().scaled(thumb.size(), Qt::KeepAspectRatioByExpanding);
        p->drawImage(QRect(thumb.center() - QPoint(s.width() / 2, s.height() / 2), s), preview);
        p->restore();
    } else {
        const auto task = static_cast<appcore::Task>(index.data(JobQueueModel::TaskRole).toInt());
        icon(appcore::isVideoTask(task) ? QStringLiteral("video") : QStringLiteral("image"))
            .paint(p, thumb.adjusted(12, 12, -12, -12));
    }

    const int textLeft = thumb.right() + kPad + 2;
    const int textRight = isActive(state) ? cancelRect(r).left() - 6 : r.right() - kPad;
    const QFontMetrics fm(option.font);
    QFont bold = option.font;
    bold.setWeight(QFont::DemiBold);
    p->setFont(bold);
    p->setPen(QColor(0xe8, 0xea, 0xed));
    const QString prompt = index.data(JobQueueModel::PromptRole).toString().simplified();
    const QRect promptRect(textLeft, r.top() + kPad - 1, textRight - textLeft, fm.height());
    p->drawText(promptRect, Qt::AlignLeft | Qt::AlignVCenter,
                QFontMetrics(bold).elidedText(prompt.isEmpty() ? tr("(no prompt)") : prompt, Qt::ElideRight,
                                              promptRect.width()));

    p->setFont(option.font);
    p->setPen(stateColor(state));
    const QString status = index.data(JobQueueModel::StatusTextRole).toString();
    QRect statusRect(textLeft, promptRect.bottom() + 3, textRight - textLeft, fm.height());
    if (state == JobState::Failed) {
        statusRect.setHeight(fm.boundingRect(QRect(0, 0, statusRect.width(), 1000), Qt::TextWordWrap, status).height());
        p->drawText(statusRect, Qt::TextWordWrap, status);
        const QString hint = index.data(JobQueueModel::HintRole).toString();
        p->setPen(QColor(0xc9, 0xcc, 0xd1));
        const QRect hintRect(textLeft, statusRect.bottom() + 4, textRight - textLeft, r.bottom() - statusRect.bottom());
        p->drawText(hintRect, Qt::TextWordWrap, hint);
    } else {
        p->drawText(statusRect, Qt::AlignLeft | Qt::AlignVCenter,
                    fm.elidedText(status, Qt::ElideRight, statusRect.width()));
    }

    if (state == JobState::Running || state == JobState::Queued) {
        const double progress = index.data(JobQueueModel::ProgressRole).toDouble();
        const QRectF track(textLeft, statusRect.bottom() + 6, textRight - textLeft, 4);
        QPainterPath t;
        t.addRoundedRect(track, 2, 2);
        p->fillPath(t, QColor(0x3a, 0x3d, 0x44));
        if (progress > 0) {
            QPainterPath f;
            f.addRoundedRect(QRectF(track.left(), track.top(), track.width() * qBound(0.0, progress, 1.0), 4), 2, 2);
            p->fillPath(f, QColor(0x4f, 0x86, 0xf7));
        }
        icon(QStringLiteral("close")).paint(p, cancelRect(r).adjusted(3, 3, -3, -3));
    }
    p->restore();
}

bool JobQueueDelegate::editorEvent(QEvent* event, QAbstractItemModel* model, const QStyleOptionViewItem& option,
                                   const QModelIndex& index) {
    if (event->type() == QEvent::MouseButtonRelease) {
        auto* me = static_cast<QMouseEvent*>(event);
        const auto state = static_cast<JobState>(index.data(JobQueueModel::StateRole).toInt());
        const QRect r = option.rect.adjusted(4, 2, -4, -2);
        if (isActive(state) && cancelRect(r).contains(me->position().toPoint())) {
            emit cancelClicked(index.data(JobQueueModel::JobIdRole).value<quint64>());
            return true;
        }
    }
    return QStyledItemDelegate::editorEvent(event, model, option, index);
}

JobQueueView::JobQueueView(JobQueueModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    setObjectName(QStringLiteral("jobQueueView"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->setSpacing(6);
    auto* header = new QHBoxLayout;
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("queueSummary"));
    cancelAll_ = new QPushButton(icon(QStringLiteral("stop")), tr("Cancel all"), this);
    cancelAll_->setObjectName(QStringLiteral("cancelAllButton"));
    cancelAll_->setToolTip(tr("Cancel every queued and running job (Shift+Esc)"));
    clear_ = new QPushButton(icon(QStringLiteral("clear")), tr("Clear"), this);
    clear_->setToolTip(tr("Remove finished, failed and cancelled jobs from the list"));
    header->addWidget(summary_, 1);
    header->addWidget(clear_);
    header->addWidget(cancelAll_);
    layout->addLayout(header);

    list_ = new QListView(this);
    list_->setObjectName(QStringLiteral("jobList"));
    list_->setModel(model);
    auto* delegate = new JobQueueDelegate(list_);
    list_->setItemDelegate(delegate);
    list_->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    list_->setSelectionMode(QAbstractItemView::SingleSelection);
    list_->setUniformItemSizes(false);
    list_->setMouseTracking(true);
    list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    list_->setResizeMode(QListView::Adjust);
    list_->installEventFilter(this);
    layout->addWidget(list_, 1);
    empty_ = new QLabel(tr("Jobs queue up here while they run: press Generate again to add more."), this);
    empty_->setObjectName(QStringLiteral("placeholderLabel"));
    empty_->setAlignment(Qt::AlignCenter);
    empty_->setWordWrap(true);
    layout->addWidget(empty_, 1);

    connect(delegate, &JobQueueDelegate::cancelClicked, this, &JobQueueView::cancelRequested);
    connect(cancelAll_, &QPushButton::clicked, this, &JobQueueView::cancelAllRequested);
    connect(clear_, &QPushButton::clicked, model, &JobQueueModel::clearFinished);
    connect(list_, &QListView::activated, this,
            [this](const QModelIndex& i) { emit jobActivated(i.data(JobQueueModel::JobIdRole).value<quint64>()); });
    connect(list_, &QListView::clicked, this,
            [this](const QModelIndex& i) { emit jobActivated(i.data(JobQueueModel::JobIdRole).value<quint64>()); });
    connect(model, &JobQueueModel::summaryChanged, this, &JobQueueView::updateHeader);
    connect(model, &QAbstractItemModel::rowsInserted, this,
            [this](const QModelIndex&, int first, int) { list_->scrollTo(model_->index(first)); });
    // Row heights change with the state (failures take more room).
    connect(model, &QAbstractItemModel::dataChanged, delegate,
            [delegate](const QModelIndex& topLeft, const QModelIndex& bottomRight) {
                for (int row = topLeft.row(); row <= bottomRight.row(); ++row) {
                    emit delegate->sizeHintChanged(topLeft.siblingAtRow(row));
                }
            });
    updateHeader();
}

void JobQueueView::updateHeader() {
    const int active = model_->activeCount();
    const int total = model_->rowCount();
    if (active == 0) {
        summary_->setText(total == 0 ? tr("No jobs") : tr("Idle"));
    } else {
        summary_->setText(tr("%1 active").arg(active));
    }
    cancelAll_->setEnabled(active > 0);
    clear_->setEnabled(total > active);
    list_->setVisible(total > 0);
    empty_->setVisible(total == 0);
}

bool JobQueueView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == list_ && event->type() == QEvent::KeyPress) {
        auto* ke = static_cast<QKeyEvent*>(event);
        if (ke->key() == Qt::Key_Delete || ke->key() == Qt::Key_Backspace) {
            const QModelIndex i = list_->currentIndex();
            if (i.isValid()) {
                const JobId id = i.data(JobQueueModel::JobIdRole).value<quint64>();
                const auto state = static_cast<JobState>(i.data(JobQueueModel::StateRole).toInt());
                if (isActive(state)) {
                    emit cancelRequested(id);
                } else {
                    model_->removeJob(id);
                }
                return true;
            }
        }
    }
    return QWidget::eventFilter(watched, event);
}

}  // namespace ui
