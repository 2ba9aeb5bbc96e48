// InputImageWidget: the picture an image-to-video job animates, as a thumbnail with its name and a
// remove button; empty, it invites a drop, a paste or a click to browse.
#pragma once

#include <QImage>
#include <QWidget>

class QLabel;
class QToolButton;

namespace ui {

class InputImageWidget : public QWidget {
    Q_OBJECT
public:
    explicit InputImageWidget(QWidget* parent = nullptr);

    void setImage(const QImage& image, const QString& name);
    void clearImage();
    QImage image() const { return image_; }
    QString name() const { return name_; }
    bool hasImage() const { return !image_.isNull(); }

signals:
    void removeRequested();
    void browseRequested();

protected:
    void mouseReleaseEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void paintEvent(QPaintEvent* event) override;

private:
    void refresh();

    QImage image_;
    QString name_;
    QLabel* thumb_ = nullptr;
    QLabel* text_ = nullptr;
    QToolButton* remove_ = nullptr;
};

}  // namespace ui
