#include "ui/widgets/gallery_view.h"

#include <QAction>
#include <QComboBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QPainter>
#include <QPainterPath>
#include <QScrollBar>
#include <QVBoxLayout>

#include "core/gallery_store.h"
#include "ui/icons.h"
#include "ui/models/gallery_filter_model.h"
#include "ui/models/gallery_model.h"

namespace ui {

QSize GalleryDelegate::sizeHint(const QStyleOptionViewItem&, const QModelIndex&) const {
    return {cell_, cell_};
}

void GalleryDelegate::paint(QPainter* p, const QStyleOptionViewItem& option, const QModelIndex& index) const {
    p->save();
    p->setRenderHint(QPainter::Antialiasing);
    p->setRenderHint(QPainter::SmoothPixmapTransform);
    const QRectF r = QRectF(option.rect).adjusted(3, 3, -3, -3);
    QPainterPath clip;
    clip.addRoundedRect(r, 6, 6);
    p->fillPath(clip, QColor(0x1b, 0x1c, 0x1f));
    const QPixmap pm = index.data(Qt::DecorationRole).value<QPixmap>();
    if (!pm.isNull()) {
        p->save();
        p->setClipPath(clip);
        // Fill the square cell (crop), like most photo grids.
        QSizeF s = QSizeF(pm.size()).scaled(r.size(), Qt::KeepAspectRatioByExpanding);
        p->drawPixmap(QRectF(r.center() - QPointF(s.width() / 2, s.height() / 2), s), pm, QRectF(pm.rect()));
        p->restore();
    }
    if (index.data(GalleryModel::KindRole).toInt() == static_cast<int>(appcore::GalleryItem::Kind::Video)) {
        const QString frames = index.data(GalleryModel::SizeTextRole).toString().section(QStringLiteral(" · "), 1);
        const QFontMetrics fm(option.font);
        const QString label = QStringLiteral("▶ ") + frames.section(QLatin1Char(' '), 0, 0);
        const QRectF badge(r.left() + 5, r.bottom() - fm.height() - 9, fm.horizontalAdvance(label) + 12,
                           fm.height() + 4);
        QPainterPath bp;
        bp.addRoundedRect(badge, 4, 4);
        p->fillPath(bp, QColor(0, 0, 0, 170));
        p->setPen(Qt::white);
        p->drawText(badge, Qt::AlignCenter, label);
    }
    if (option.state & (QStyle::State_Selected | QStyle::State_HasFocus)) {
        const bool sel = option.state & QStyle::State_Selected;
        p->setPen(QPen(sel ? QColor(0x4f, 0x86, 0xf7) : QColor(0x6a, 0x6e, 0x76), sel ? 2.5 : 1.2));
        p->setBrush(Qt::NoBrush);
        p->drawRoundedRect(r.adjusted(1, 1, -1, -1), 6, 6);
    } else if (option.state & QStyle::State_MouseOver) {
        p->setPen(QPen(QColor(255, 255, 255, 60), 1.2));
        p->drawRoundedRect(r.adjusted(1, 1, -1, -1), 6, 6);
    }
    p->restore();
}

GalleryView::GalleryView(GalleryModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    setObjectName(QStringLiteral("galleryView"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->setSpacing(6);
    auto* filters = new QHBoxLayout;
    filters->setSpacing(6);
    search_ = new QLineEdit(this);
    search_->setObjectName(QStringLiteral("gallerySearch"));
    search_->setPlaceholderText(tr("Search prompts…"));
    search_->setClearButtonEnabled(true);
    search_->addAction(icon(QStringLiteral("search")), QLineEdit::LeadingPosition);
    modelFilter_ = new QComboBox(this);
    modelFilter_->setObjectName(QStringLiteral("galleryModelFilter"));
    modelFilter_->setToolTip(tr("Show the results of one model"));
    modelFilter_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    modelFilter_->setMinimumContentsLength(8);
    filters->addWidget(search_, 3);
    filters->addWidget(modelFilter_, 2);
    layout->addLayout(filters);

    filter_ = new GalleryFilterModel(this);
    filter_->setSourceModel(model);
    list_ = new QListView(this);
    list_->setObjectName(QStringLiteral("galleryList"));
    list_->setModel(filter_);
    list_->setViewMode(QListView::IconMode);
    list_->setResizeMode(QListView::Adjust);
    list_->setMovement(QListView::Static);
    list_->setUniformItemSizes(true);
    list_->setSelectionMode(QAbstractItemView::SingleSelection);
    list_->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    list_->setSpacing(0);
    list_->setMouseTracking(true);
    list_->setContextMenuPolicy(Qt::CustomContextMenu);
    delegate_ = new GalleryDelegate(list_);
    list_->setItemDelegate(delegate_);
    list_->installEventFilter(this);
    list_->viewport()->installEventFilter(this);
    list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    layout->addWidget(list_, 1);
    empty_ = new QLabel(this);
    empty_->setObjectName(QStringLiteral("placeholderLabel"));
    empty_->setAlignment(Qt::AlignCenter);
    empty_->setWordWrap(true);
    layout->addWidget(empty_, 1);

    connect(search_, &QLineEdit::textChanged, this, [this](const QString& t) {
        filter_->setTextFilter(t);
        updateEmptyState();
    });
    connect(modelFilter_, &QComboBox::currentIndexChanged, this, [this] {
        filter_->setModelFilter(modelFilter_->currentData().toString());
        updateEmptyState();
    });
    connect(model, &GalleryModel::modelNamesChanged, this, &GalleryView::refreshModelFilter);
    connect(model, &QAbstractItemModel::rowsInserted, this, &GalleryView::updateEmptyState);
    connect(model, &QAbstractItemModel::rowsRemoved, this, &GalleryView::updateEmptyState);
    connect(model, &QAbstractItemModel::modelReset, this, &GalleryView::updateEmptyState);
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& current) {
        emit currentItemChanged(current.data(GalleryModel::ItemIdRole).toString());
    });
    connect(list_, &QListView::activated, this,
            [this](const QModelIndex& i) { emit itemActivated(i.data(GalleryModel::ItemIdRole).toString()); });
    connect(list_, &QListView::clicked, this,
            [this](const QModelIndex& i) { emit itemActivated(i.data(GalleryModel::ItemIdRole).toString()); });
    connect(list_, &QListView::customContextMenuRequested, this, &GalleryView::showContextMenu);
    refreshModelFilter();
    updateEmptyState();
}

QString GalleryView::currentItemId() const {
    return list_->currentIndex().data(GalleryModel::ItemIdRole).toString();
}

void GalleryView::selectItem(const QString& id) {
    const int row = model_->rowOf(id);
    if (row < 0) {
        return;
    }
    QModelIndex proxy = filter_->mapFromSource(model_->index(row));
    if (!proxy.isValid()) {
        search_->clear();
        modelFilter_->setCurrentIndex(0);
        proxy = filter_->mapFromSource(model_->index(row));
    }
    const QSignalBlocker block(list_->selectionModel());
    list_->setCurrentIndex(proxy);
    list_->scrollTo(proxy);
}

void GalleryView::refreshModelFilter() {
    const QString current = modelFilter_->currentData().toString();
    const QSignalBlocker block(modelFilter_);
    modelFilter_->clear();
    modelFilter_->addItem(tr("All models"), QString());
    for (const QString& name : model_->modelNames()) {
        modelFilter_->addItem(name, name);
    }
    const int i = modelFilter_->findData(current);
    modelFilter_->setCurrentIndex(i < 0 ? 0 : i);
    filter_->setModelFilter(modelFilter_->currentData().toString());
}

void GalleryView::updateEmptyState() {
    const bool anything = model_->rowCount() > 0;
    const bool shown = filter_->rowCount() > 0;
    list_->setVisible(shown);
    empty_->setVisible(!shown);
    empty_->setText(anything ? tr("Nothing matches the filter.")
                             : tr("No results yet.\nEverything you generate is kept here, with its parameters."));
}

void GalleryView::updateGrid() {
    // Columns of at least ~100 px that exactly fill the width.
    const int avail = list_->viewport()->width() - 1;
    if (avail <= 0) {
        return;
    }
    const int minCell = fontMetrics().horizontalAdvance(QLatin1Char('M')) * 9;
    const int cols = qMax(1, avail / minCell);
    const int cell = (avail - 4) / cols;
    if (list_->gridSize() == QSize(cell, cell)) {
        return;
    }
    delegate_->setCellSize(cell);
    list_->setGridSize(QSize(cell, cell));
}

void GalleryView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    updateGrid();
}

void GalleryView::showContextMenu(const QPoint& pos) {
    const QModelIndex i = list_->indexAt(pos);
    if (!i.isValid()) {
        return;
    }
    const QString id = i.data(GalleryModel::ItemIdRole).toString();
    QMenu menu(this);
    menu.addAction(icon(QStringLiteral("image")), tr("View"), this, [this, id] { emit itemActivated(id); });
    menu.addSeparator();
    menu.addAction(icon(QStringLiteral("reuse")), tr("Reuse Parameters"), QKeySequence(tr("Ctrl+R")), this,
                   [this, id] { emit reuseParametersRequested(id); });
    menu.addAction(icon(QStringLiteral("dice")), tr("Reuse Seed"), this, [this, id] { emit reuseSeedRequested(id); });
    menu.addAction(icon(QStringLiteral("copy")), tr("Copy Prompt"), this, [this, id] { emit copyPromptRequested(id); });
    menu.addSeparator();
    menu.addAction(icon(QStringLiteral("export")), tr("Export…"), QKeySequence(tr("Ctrl+E")), this,
                   [this, id] { emit exportRequested(id); });
    menu.addAction(icon(QStringLiteral("folder")), tr("Show in Folder"), this,
                   [this, id] { emit revealRequested(id); });
    menu.addSeparator();
    menu.addAction(icon(QStringLiteral("trash")), tr("Move to Trash"), QKeySequence::Delete, this,
                   [this, id] { emit deleteRequested(id); });
    menu.exec(list_->viewport()->mapToGlobal(pos));
}

bool GalleryView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == list_->viewport() && event->type() == QEvent::Resize) {
        updateGrid();
    }
    if (watched == list_ && event->type() == QEvent::KeyPress) {
        auto* ke = static_cast<QKeyEvent*>(event);
        const QString id = currentItemId();
        if (!id.isEmpty()) {
            if (ke->key() == Qt::Key_Delete || ke->key() == Qt::Key_Backspace) {
                emit deleteRequested(id);
                return true;
            }
            if (ke->matches(QKeySequence::Copy)) {
                emit copyPromptRequested(id);
                return true;
            }
        }
    }
    return QWidget::eventFilter(watched, event);
}

}  // namespace ui
