#include "ui/widgets/image_canvas.h"

#include <QPainter>
#include <QPainterPath>
#include <QtMath>

#include "ui/icons.h"

namespace ui {

ImageCanvas::ImageCanvas(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("imageCanvas"));
    setAttribute(Qt::WA_OpaquePaintEvent);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setFocusPolicy(Qt::ClickFocus);
    resetPlaceholder();
}

void ImageCanvas::resetPlaceholder() {
    setPlaceholder(tr("Your pictures and clips appear here"),
                   tr("Describe what you want in the prompt and press Ctrl+Enter.\n"
                      "Drop or paste a picture to animate it with an image-to-video model."));
}

void ImageCanvas::setImage(const QImage& image) {
    image_ = image;
    update();
}

void ImageCanvas::setFrames(const QList<QImage>& frames) {
    image_ = frames.size() == 1 ? frames.first()
                                : contactSheet(frames, static_cast<double>(qMax(1, width())) / qMax(1, height()));
    update();
}

void ImageCanvas::clear() {
    image_ = QImage();
    update();
}

void ImageCanvas::setOverlay(const QString& caption, double progress) {
    caption_ = caption;
    progress_ = progress;
    update();
}

void ImageCanvas::setPlaceholder(const QString& title, const QString& body) {
    placeholderTitle_ = title;
    placeholderBody_ = body;
    update();
}

void ImageCanvas::setFitToWindow(bool fit) {
    fit_ = fit;
    update();
}

QImage ImageCanvas::contactSheet(const QList<QImage>& frames, double targetAspect, int gap) {
    if (frames.isEmpty()) {
        return {};
    }
    const int n = static_cast<int>(frames.size());
    const QSize cell = frames.first().size();
    // The column count whose sheet shape best matches the space it is shown in (by log-ratio).
    int cols = 1;
    double best = 1e9;
    for (int c = 1; c <= n; ++c) {
        const int r = (n + c - 1) / c;
        const double aspect = static_cast<double>(c * cell.width()) / qMax(1, r * cell.height());
        const double score = std::abs(std::log(aspect / qMax(0.01, targetAspect)));
        if (score < best - 1e-9) {
            best = score;
            cols = c;
        }
    }
    const int rows = (n + cols - 1) / cols;
    QImage sheet(cols * cell.width() + (cols - 1) * gap, rows * cell.height() + (rows - 1) * gap, QImage::Format_RGB32);
    sheet.fill(QColor(0x16, 0x17, 0x19));
    QPainter p(&sheet);
    for (int i = 0; i < n; ++i) {
        const int r = i / cols;
        const int c = i % cols;
        p.drawImage(QPoint(c * (cell.width() + gap), r * (cell.height() + gap)), frames[i]);
    }
    return sheet;
}

void ImageCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), QColor(0x16, 0x17, 0x19));
    p.setRenderHint(QPainter::Antialiasing);
    p.setRenderHint(QPainter::SmoothPixmapTransform);

    if (image_.isNull()) {
        const QRect area = rect().adjusted(40, 40, -40, -40);
        QFont titleFont = font();
        titleFont.setPointSizeF(titleFont.pointSizeF() * 1.5);
        titleFont.setWeight(QFont::DemiBold);
        const int iconSize = qMin(96, qMax(48, height() / 8));
        const QRect iconRect(area.center().x() - iconSize / 2, area.center().y() - iconSize - 40, iconSize, iconSize);
        p.setOpacity(0.35);
        icon(QStringLiteral("image")).paint(&p, iconRect);
        p.setOpacity(1.0);
        p.setFont(titleFont);
        p.setPen(QColor(0xdf, 0xe1, 0xe5));
        const QRect titleRect(area.left(), iconRect.bottom() + 16, area.width(), QFontMetrics(titleFont).height() + 4);
        p.drawText(titleRect, Qt::AlignHCenter | Qt::AlignTop, placeholderTitle_);
        p.setFont(font());
        p.setPen(QColor(0x8e, 0x92, 0x9a));
        p.drawText(QRect(area.left(), titleRect.bottom() + 8, area.width(), area.bottom() - titleRect.bottom()),
                   Qt::AlignHCenter | Qt::AlignTop | Qt::TextWordWrap, placeholderBody_);
    } else {
        const QSizeF avail = QSizeF(size()) - QSizeF(24, 24);
        QSizeF target = image_.size();
        if (fit_ || target.width() > avail.width() || target.height() > avail.height()) {
            target.scale(avail, Qt::KeepAspectRatio);
        }
        const QRectF dst(QPointF((width() - target.width()) / 2.0, (height() - target.height()) / 2.0), target);
        // Tiny previews (32×32 latents) are upscaled smoothly; big pictures too.
        p.drawImage(dst, image_);
    }

    if (!caption_.isEmpty() || progress_ >= 0.0) {
        const int pad = 12;
        if (!caption_.isEmpty()) {
            const QFontMetrics fm(font());
            const int w = fm.horizontalAdvance(caption_) + 24;
            const QRectF pill(pad, height() - pad - 8 - fm.height() - 12, w, fm.height() + 12);
            QPainterPath path;
            path.addRoundedRect(pill, pill.height() / 2, pill.height() / 2);
            p.fillPath(path, QColor(0, 0, 0, 170));
            p.setPen(QColor(0xf0, 0xf1, 0xf3));
            p.drawText(pill, Qt::AlignCenter, caption_);
        }
        if (progress_ >= 0.0) {
            const QRectF track(0, height() - 4, width(), 4);
            p.fillRect(track, QColor(255, 255, 255, 30));
            p.fillRect(QRectF(0, height() - 4, width() * qBound(0.0, progress_, 1.0), 4), QColor(0x4f, 0x86, 0xf7));
        }
    }
}

void ImageCanvas::mouseDoubleClickEvent(QMouseEvent*) {
    setFitToWindow(!fit_);
}

}  // namespace ui
