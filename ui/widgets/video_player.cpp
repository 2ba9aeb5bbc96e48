#include "ui/widgets/video_player.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QSlider>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/icons.h"
#include "ui/widgets/image_canvas.h"

namespace ui {

VideoPlayer::VideoPlayer(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("videoPlayer"));
    setFocusPolicy(Qt::StrongFocus);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    canvas_ = new ImageCanvas(this);
    layout->addWidget(canvas_, 1);

    auto* bar = new QWidget(this);
    bar->setObjectName(QStringLiteral("playerBar"));
    auto* controls = new QHBoxLayout(bar);
    controls->setContentsMargins(10, 6, 10, 6);
    controls->setSpacing(4);
    auto makeButton = [bar](const QString& iconName, const QString& tip) {
        auto* b = new QToolButton(bar);
        b->setIcon(icon(iconName));
        b->setToolTip(tip);
        b->setAutoRaise(true);
        b->setFocusPolicy(Qt::TabFocus);
        return b;
    };
    toStart_ = makeButton(QStringLiteral("to-start"), tr("First frame (Home)"));
    back_ = makeButton(QStringLiteral("step-back"), tr("Previous frame (Left)"));
    playButton_ = makeButton(QStringLiteral("play"), tr("Play (Space)"));
    playButton_->setObjectName(QStringLiteral("playButton"));
    forward_ = makeButton(QStringLiteral("step-forward"), tr("Next frame (Right)"));
    loop_ = makeButton(QStringLiteral("loop"), tr("Loop"));
    loop_->setCheckable(true);
    loop_->setChecked(true);
    scrubber_ = new QSlider(Qt::Horizontal, bar);
    scrubber_->setObjectName(QStringLiteral("scrubber"));
    scrubber_->setToolTip(tr("Frame"));
    frameLabel_ = new QLabel(bar);
    frameLabel_->setObjectName(QStringLiteral("frameLabel"));
    frameLabel_->setMinimumWidth(frameLabel_->fontMetrics().horizontalAdvance(QStringLiteral("000 / 000")) + 8);
    frameLabel_->setAlignment(Qt::AlignCenter);
    fpsSpin_ = new QDoubleSpinBox(bar);
    fpsSpin_->setRange(1.0, 60.0);
    fpsSpin_->setDecimals(0);
    fpsSpin_->setSuffix(tr(" fps"));
    fpsSpin_->setValue(8.0);
    fpsSpin_->setToolTip(tr("Playback speed"));
    fpsSpin_->setButtonSymbols(QAbstractSpinBox::NoButtons);
    fpsSpin_->setAlignment(Qt::AlignRight);
    controls->addWidget(toStart_);
    controls->addWidget(back_);
    controls->addWidget(playButton_);
    controls->addWidget(forward_);
    controls->addSpacing(6);
    controls->addWidget(scrubber_, 1);
    controls->addWidget(frameLabel_);
    controls->addWidget(loop_);
    controls->addWidget(fpsSpin_);
    layout->addWidget(bar);

    timer_ = new QTimer(this);
    timer_->setTimerType(Qt::PreciseTimer);
    connect(timer_, &QTimer::timeout, this, &VideoPlayer::advance);
    connect(toStart_, &QToolButton::clicked, this, [this] { setCurrentFrame(0); });
    connect(back_, &QToolButton::clicked, this, [this] { stepFrames(-1); });
    connect(forward_, &QToolButton::clicked, this, [this] { stepFrames(1); });
    connect(playButton_, &QToolButton::clicked, this, &VideoPlayer::togglePlay);
    connect(scrubber_, &QSlider::valueChanged, this, [this](int v) {
        if (v != current_) {
            pause();
            setCurrentFrame(v);
        }
    });
    connect(fpsSpin_, &QDoubleSpinBox::valueChanged, this, &VideoPlayer::setFps);
    updateControls();
}

void VideoPlayer::setFrames(const QList<QImage>& frames, double fps) {
    pause();
    frames_ = frames;
    current_ = 0;
    if (fps > 0) {
        const QSignalBlocker block(fpsSpin_);
        fpsSpin_->setValue(fps);
        timer_->setInterval(qMax(1, qRound(1000.0 / fps)));
    }
    scrubber_->setRange(0, qMax(0, frameCount() - 1));
    canvas_->setImage(frames_.isEmpty() ? QImage() : frames_.first());
    updateControls();
}

void VideoPlayer::clear() {
    setFrames({}, 0.0);
}

bool VideoPlayer::isPlaying() const {
    return timer_->isActive();
}
bool VideoPlayer::loops() const {
    return loop_->isChecked();
}
double VideoPlayer::fps() const {
    return fpsSpin_->value();
}

void VideoPlayer::play() {
    if (frames_.size() < 2) {
        return;
    }
    if (current_ >= frameCount() - 1) {
        setCurrentFrame(0);
    }
    timer_->start(qMax(1, qRound(1000.0 / fpsSpin_->value())));
    updateControls();
}

void VideoPlayer::pause() {
    timer_->stop();
    updateControls();
}

void VideoPlayer::togglePlay() {
    isPlaying() ? pause() : play();
}

void VideoPlayer::setLoop(bool loop) {
    loop_->setChecked(loop);
}

void VideoPlayer::setFps(double fps) {
    if (fps <= 0) {
        return;
    }
    if (!qFuzzyCompare(fpsSpin_->value(), fps)) {
        fpsSpin_->setValue(fps);
    }
    timer_->setInterval(qMax(1, qRound(1000.0 / fps)));
}

void VideoPlayer::setCurrentFrame(int index) {
    if (frames_.isEmpty()) {
        return;
    }
    index = qBound(0, index, frameCount() - 1);
    if (index == current_ && canvas_->image().cacheKey() == frames_[index].cacheKey()) {
        return;
    }
    current_ = index;
    canvas_->setImage(frames_[index]);
    updateControls();
    emit frameChanged(index);
}

void VideoPlayer::stepFrames(int delta) {
    pause();
    if (frames_.isEmpty()) {
        return;
    }
    int next = current_ + delta;
    if (loops()) {
        next = ((next % frameCount()) + frameCount()) % frameCount();
    }
    setCurrentFrame(next);
}

void VideoPlayer::advance() {
    if (frames_.isEmpty()) {
        pause();
        return;
    }
    if (current_ + 1 >= frameCount()) {
        if (!loops()) {
            pause();
            return;
        }
        setCurrentFrame(0);
        return;
    }
    setCurrentFrame(current_ + 1);
}

void VideoPlayer::updateControls() {
    const bool has = !frames_.isEmpty();
    for (QWidget* w :
         {static_cast<QWidget*>(toStart_), static_cast<QWidget*>(back_), static_cast<QWidget*>(playButton_),
          static_cast<QWidget*>(forward_), static_cast<QWidget*>(scrubber_)}) {
        w->setEnabled(has);
    }
    playButton_->setIcon(icon(isPlaying() ? QStringLiteral("pause") : QStringLiteral("play")));
    playButton_->setToolTip(isPlaying() ? tr("Pause (Space)") : tr("Play (Space)"));
    {
        const QSignalBlocker block(scrubber_);
        scrubber_->setValue(current_);
    }
    frameLabel_->setText(has ? tr("%1 / %2").arg(current_ + 1).arg(frameCount()) : QStringLiteral("–"));
}

void VideoPlayer::keyPressEvent(QKeyEvent* event) {
    switch (event->key()) {
        case Qt::Key_Space:
            togglePlay();
            break;
        case Qt::Key_Left:
            stepFrames(-1);
            break;
        case Qt::Key_Right:
            stepFrames(1);
            break;
        case Qt::Key_Home:
            pause();
            setCurrentFrame(0);
            break;
        case Qt::Key_End:
            pause();
            setCurrentFrame(frameCount() - 1);
            break;
        default:
            QWidget::keyPressEvent(event);
            return;
    }
    event->accept();
}

}  // namespace ui
