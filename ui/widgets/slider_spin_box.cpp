#include "ui/widgets/slider_spin_box.h"

#include <QContextMenuEvent>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QMenu>
#include <QSlider>
#include <QtMath>

namespace ui {

SliderSpinBox::SliderSpinBox(QWidget* parent) : QWidget(parent) {
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(8);
    slider_ = new QSlider(Qt::Horizontal, this);
    slider_->setFocusPolicy(Qt::StrongFocus);
    spin_ = new QDoubleSpinBox(this);
    spin_->setKeyboardTracking(false);
    spin_->setAlignment(Qt::AlignRight);
    spin_->setButtonSymbols(QAbstractSpinBox::NoButtons);
    spin_->setMinimumWidth(spin_->fontMetrics().horizontalAdvance(QStringLiteral("00000.00")) + 12);
    spin_->setMaximumWidth(spin_->minimumWidth() + 12);
    layout->addWidget(slider_, 1);
    layout->addWidget(spin_);
    setFocusProxy(spin_);

    connect(slider_, &QSlider::valueChanged, this, [this](int tick) {
        if (syncing_) {
            return;
        }
        spin_->setValue(spin_->minimum() + tick * step_);
    });
    connect(spin_, &QDoubleSpinBox::valueChanged, this, [this](double v) {
        syncSlider();
        emit valueChanged(v);
    });
}

void SliderSpinBox::configure(double min, double max, double step, int decimals, double defaultValue) {
    step_ = step > 0 ? step : 1.0;
    default_ = qBound(min, defaultValue, max);
    const QSignalBlocker block(spin_);
    spin_->setDecimals(decimals);
    spin_->setRange(min, max);
    spin_->setSingleStep(step_);
    syncing_ = true;
    slider_->setRange(0, qMax(1, qRound((max - min) / step_)));
    slider_->setPageStep(qMax(1, slider_->maximum() / 10));
    syncing_ = false;
    setToolTip(tr("%1 to %2, default %3. Right-click to reset.")
                   .arg(QString::number(min, 'f', decimals), QString::number(max, 'f', decimals),
                        QString::number(default_, 'f', decimals)));
    syncSlider();
}

double SliderSpinBox::value() const {
    return spin_->value();
}
double SliderSpinBox::minimum() const {
    return spin_->minimum();
}
double SliderSpinBox::maximum() const {
    return spin_->maximum();
}

void SliderSpinBox::setValue(double value) {
    spin_->setValue(value);
}

void SliderSpinBox::resetToDefault() {
    setValue(default_);
}

void SliderSpinBox::syncSlider() {
    syncing_ = true;
    slider_->setValue(qRound((spin_->value() - spin_->minimum()) / step_));
    syncing_ = false;
}

void SliderSpinBox::contextMenuEvent(QContextMenuEvent* event) {
    QMenu menu(this);
    menu.addAction(tr("Reset to default (%1)").arg(QString::number(default_, 'f', spin_->decimals())), this,
                   &SliderSpinBox::resetToDefault);
    menu.exec(event->globalPos());
}

}  // namespace ui
