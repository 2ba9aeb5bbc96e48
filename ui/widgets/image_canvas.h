// ImageCanvas: shows one picture fitted to the widget (or at 100 %), a grid of frames for video
// previews, and while a job runs a progress strip and a status caption. With nothing to show it shows a
// hint. Previews are tiny latent projections, so they are scaled up smoothly.
#pragma once

#include <QImage>
#include <QList>
#include <QWidget>

namespace ui {

class ImageCanvas : public QWidget {
    Q_OBJECT
public:
    explicit ImageCanvas(QWidget* parent = nullptr);

    void setImage(const QImage& image);
    /// A contact sheet of video frames (a live video preview).
    void setFrames(const QList<QImage>& frames);
    QImage image() const { return image_; }
    void clear();

    /// Caption and progress (0..1; < 0 hides the strip) drawn over the picture.
    void setOverlay(const QString& caption, double progress);
    void clearOverlay() { setOverlay({}, -1.0); }
    QString caption() const { return caption_; }

    /// Text shown when there is no picture.
    void setPlaceholder(const QString& title, const QString& body);
    /// Back to the default hint.
    void resetPlaceholder();

    /// Fit to the widget (default) or 1:1 pixels.
    void setFitToWindow(bool fit);
    bool fitToWindow() const { return fit_; }

    QSize sizeHint() const override { return {640, 480}; }
    QSize minimumSizeHint() const override { return {240, 180}; }

    /// Lays frames out in the grid whose shape is closest to targetAspect (width / height).
    static QImage contactSheet(const QList<QImage>& frames, double targetAspect, int gap = 2);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;

private:
    QImage image_;
    QString caption_;
    double progress_ = -1.0;
    QString placeholderTitle_;
    QString placeholderBody_;
    bool fit_ = true;
};

}  // namespace ui
