#include "ui/widgets/input_image_widget.h"

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>
#include <QToolButton>

#include "ui/icons.h"

namespace ui {

InputImageWidget::InputImageWidget(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("inputImage"));
    setFocusPolicy(Qt::StrongFocus);
    setCursor(Qt::PointingHandCursor);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(10, 8, 8, 8);
    layout->setSpacing(10);
    thumb_ = new QLabel(this);
    thumb_->setFixedSize(64, 64);
    thumb_->setAlignment(Qt::AlignCenter);
    text_ = new QLabel(this);
    text_->setWordWrap(true);
    text_->setObjectName(QStringLiteral("inputImageText"));
    remove_ = new QToolButton(this);
    remove_->setObjectName(QStringLiteral("removeInputImage"));
    remove_->setIcon(icon(QStringLiteral("close")));
    remove_->setToolTip(tr("Remove the input image (Delete)"));
    remove_->setAutoRaise(true);
    layout->addWidget(thumb_);
    layout->addWidget(text_, 1);
    layout->addWidget(remove_, 0, Qt::AlignTop);
    connect(remove_, &QToolButton::clicked, this, &InputImageWidget::removeRequested);
    refresh();
}

void InputImageWidget::setImage(const QImage& image, const QString& name) {
    image_ = image;
    name_ = name;
    refresh();
}

void InputImageWidget::clearImage() {
    setImage({}, {});
}

void InputImageWidget::refresh() {
    remove_->setVisible(hasImage());
    if (hasImage()) {
        thumb_->setPixmap(QPixmap::fromImage(
            image_.scaled(thumb_->size() * devicePixelRatioF(), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
        text_->setText(tr("<b>%1</b><br><span style='color:#8e929a'>%2×%3 · the first frame of the clip</span>")
                           .arg(name_.toHtmlEscaped())
                           .arg(image_.width())
                           .arg(image_.height()));
        setToolTip(tr("Input image for image-to-video. Drop or paste another to replace it."));
    } else {
        thumb_->setPixmap(icon(QStringLiteral("drop")).pixmap(28, 28));
        text_->setText(
            tr("<b>Input image</b><br><span style='color:#8e929a'>Drop, paste (Ctrl+V) or click to "
               "choose a picture to animate</span>"));
        setToolTip({});
    }
    update();
}

void InputImageWidget::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton && !hasImage()) {
        emit browseRequested();
    }
    QWidget::mouseReleaseEvent(event);
}

void InputImageWidget::keyPressEvent(QKeyEvent* event) {
    if ((event->key() == Qt::Key_Delete || event->key() == Qt::Key_Backspace) && hasImage()) {
        emit removeRequested();
        return;
    }
    if ((event->key() == Qt::Key_Return || event->key() == Qt::Key_Space) && !hasImage()) {
        emit browseRequested();
        return;
    }
    QWidget::keyPressEvent(event);
}

void InputImageWidget::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    QPen pen(hasFocus() ? QColor(0x4f, 0x86, 0xf7) : QColor(0x4a, 0x4d, 0x55));
    pen.setWidthF(1.2);
    if (!hasImage()) {
        pen.setStyle(Qt::DashLine);
    }
    p.setPen(pen);
    p.setBrush(QColor(0x25, 0x27, 0x2b));
    p.drawRoundedRect(QRectF(rect()).adjusted(1, 1, -1, -1), 8, 8);
}

}  // namespace ui
