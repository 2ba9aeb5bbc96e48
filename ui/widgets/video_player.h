// VideoPlayer: plays frames held as QImages: play/pause, loop, a frame scrubber, frame stepping, and the
// playback rate. Keys when focused: Space play/pause, Left/Right one frame, Home/End first/last.
#pragma once

#include <QImage>
#include <QList>
#include <QWidget>

class QDoubleSpinBox;
class QLabel;
class QSlider;
class QTimer;
class QToolButton;

namespace ui {

class ImageCanvas;

class VideoPlayer : public QWidget {
    Q_OBJECT
public:
    explicit VideoPlayer(QWidget* parent = nullptr);

    void setFrames(const QList<QImage>& frames, double fps);
    void clear();
    int frameCount() const { return static_cast<int>(frames_.size()); }
    int currentFrame() const { return current_; }
    bool isPlaying() const;
    bool loops() const;
    double fps() const;
    const QList<QImage>& frames() const { return frames_; }
    ImageCanvas* canvas() const { return canvas_; }

public slots:
    void play();
    void pause();
    void togglePlay();
    void setLoop(bool loop);
    void setFps(double fps);
    void setCurrentFrame(int index);
    void stepFrames(int delta);

signals:
    void frameChanged(int index);

protected:
    void keyPressEvent(QKeyEvent* event) override;

private:
    void advance();
    void updateControls();

    QList<QImage> frames_;
    int current_ = 0;
    ImageCanvas* canvas_ = nullptr;
    QTimer* timer_ = nullptr;
    QToolButton* toStart_ = nullptr;
    QToolButton* back_ = nullptr;
    QToolButton* playButton_ = nullptr;
    QToolButton* forward_ = nullptr;
    QToolButton* loop_ = nullptr;
    QSlider* scrubber_ = nullptr;
    QLabel* frameLabel_ = nullptr;
    QDoubleSpinBox* fpsSpin_ = nullptr;
};

}  // namespace ui
