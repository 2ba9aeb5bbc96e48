// ParameterPanel: the generation parameters of the chosen model and task (size with aspect presets,
// steps, guidance, frames, fps / frame stride, eta, flow shift, Sana's trained-size snapping), each a
// slider with a numeric field and the model's range and default. Rows a model does not take are hidden.
#pragma once

#include <QWidget>

#include "core/local_models.h"
#include "ui/generation_types.h"

class QCheckBox;
class QComboBox;
class QFormLayout;
class QLabel;
class QSpinBox;
class QToolButton;

namespace ui {

class SliderSpinBox;

class ParameterPanel : public QWidget {
    Q_OBJECT
public:
    explicit ParameterPanel(QWidget* parent = nullptr);

    /// Shows the rows of this spec. Values are reset to its defaults unless keepValues (then clamped).
    void setSpec(const appcore::ParameterSpec& spec, bool keepValues);
    const appcore::ParameterSpec& spec() const { return spec_; }
    /// Writes the visible parameters into params.
    void applyTo(GenerationParams& params) const;
    /// Takes the parameters that are set in params (and visible here).
    void setFromParams(const GenerationParams& params);
    void resetToDefaults();

    int widthPx() const;
    int heightPx() const;
    void setSize(int width, int height);

    // For tests and keyboard focus.
    SliderSpinBox* stepsControl() const { return steps_; }
    SliderSpinBox* guidanceControl() const { return guidance_; }
    SliderSpinBox* framesControl() const { return frames_; }
    SliderSpinBox* fpsControl() const { return fps_; }
    SliderSpinBox* frameStrideControl() const { return frameStride_; }
    SliderSpinBox* etaControl() const { return eta_; }
    SliderSpinBox* flowShiftControl() const { return flowShift_; }
    QComboBox* aspectCombo() const { return aspect_; }
    QCheckBox* binningCheck() const { return binning_; }

signals:
    void changed();

private:
    void applyAspect(int index);
    void updateAspectFromSize();
    void setRowVisible(QWidget* field, bool visible);
    static int snap(int value, int step, int min, int max);

    appcore::ParameterSpec spec_;
    QFormLayout* form_ = nullptr;
    QComboBox* aspect_ = nullptr;
    QSpinBox* width_ = nullptr;
    QSpinBox* height_ = nullptr;
    QToolButton* swap_ = nullptr;
    QWidget* sizeRow_ = nullptr;
    SliderSpinBox* steps_ = nullptr;
    SliderSpinBox* guidance_ = nullptr;
    SliderSpinBox* frames_ = nullptr;
    SliderSpinBox* fps_ = nullptr;
    SliderSpinBox* frameStride_ = nullptr;
    SliderSpinBox* eta_ = nullptr;
    SliderSpinBox* flowShift_ = nullptr;
    QCheckBox* binning_ = nullptr;
    QLabel* fpsLabel_ = nullptr;
    bool updating_ = false;
};

}  // namespace ui
