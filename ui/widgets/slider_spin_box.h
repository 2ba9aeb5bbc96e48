// SliderSpinBox: a slider and a numeric field kept in step, for one parameter with a range, a step and a
// default (right-click or the field's context menu resets it). Integer when decimals is 0.
#pragma once

#include <QWidget>

class QDoubleSpinBox;
class QSlider;

namespace ui {

class SliderSpinBox : public QWidget {
    Q_OBJECT
public:
    explicit SliderSpinBox(QWidget* parent = nullptr);

    /// Range, step, decimals shown, and the default the reset goes back to.
    void configure(double min, double max, double step, int decimals, double defaultValue);
    double value() const;
    int intValue() const { return qRound(value()); }
    double defaultValue() const { return default_; }
    double minimum() const;
    double maximum() const;
    QDoubleSpinBox* spinBox() const { return spin_; }
    QSlider* slider() const { return slider_; }

public slots:
    void setValue(double value);
    void resetToDefault();

signals:
    void valueChanged(double value);

protected:
    void contextMenuEvent(QContextMenuEvent* event) override;

private:
    void syncSlider();

    QSlider* slider_ = nullptr;
    QDoubleSpinBox* spin_ = nullptr;
    double step_ = 1.0;
    double default_ = 0.0;
    bool syncing_ = false;
};

}  // namespace ui
