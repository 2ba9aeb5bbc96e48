#include "ui/widgets/parameter_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSpinBox>
#include <QToolButton>
#include <QtMath>

#include "ui/icons.h"
#include "ui/widgets/slider_spin_box.h"

namespace ui {
namespace {

struct Aspect {
    const char* label;
    int w;
    int h;
};

// Common photo, screen and social formats; 16:10 is VideoCrafter's native 512×320.
constexpr Aspect kAspects[] = {{"1:1", 1, 1},     {"4:3", 4, 3},     {"3:4", 3, 4},   {"3:2", 3, 2},   {"2:3", 2, 3},
                               {"16:10", 16, 10}, {"10:16", 10, 16}, {"16:9", 16, 9}, {"9:16", 9, 16}, {"21:9", 21, 9}};
constexpr int kNumAspects = static_cast<int>(sizeof(kAspects) / sizeof(kAspects[0]));

}  // namespace

ParameterPanel::ParameterPanel(QWidget* parent) : QWidget(parent) {
    form_ = new QFormLayout(this);
    form_->setContentsMargins(0, 0, 0, 0);
    form_->setLabelAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    form_->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form_->setRowWrapPolicy(QFormLayout::DontWrapRows);
    form_->setHorizontalSpacing(10);
    form_->setVerticalSpacing(8);

    // Size: aspect preset, then width × height (snapped to the model's multiple), and a swap button.
    sizeRow_ = new QWidget(this);
    sizeRow_->setObjectName(QStringLiteral("sizeRow"));
    auto* sizeLayout = new QHBoxLayout(sizeRow_);
    sizeLayout->setContentsMargins(0, 0, 0, 0);
    sizeLayout->setSpacing(4);
    aspect_ = new QComboBox(sizeRow_);
    aspect_->setObjectName(QStringLiteral("aspectCombo"));
    for (const Aspect& a : kAspects) {
        aspect_->addItem(QString::fromLatin1(a.label));
    }
    aspect_->addItem(tr("Custom"));
    aspect_->setToolTip(tr("Aspect ratio at the model's native pixel count"));
    width_ = new QSpinBox(sizeRow_);
    height_ = new QSpinBox(sizeRow_);
    for (QSpinBox* s : {width_, height_}) {
        s->setKeyboardTracking(false);
        s->setButtonSymbols(QAbstractSpinBox::NoButtons);
        s->setAlignment(Qt::AlignRight);
        s->setMinimumWidth(s->fontMetrics().horizontalAdvance(QStringLiteral("00000")) + 12);
    }
    width_->setToolTip(tr("Width in pixels"));
    height_->setToolTip(tr("Height in pixels"));
    auto* times = new QLabel(QStringLiteral("×"), sizeRow_);
    swap_ = new QToolButton(sizeRow_);
    swap_->setIcon(icon(QStringLiteral("swap")));
    swap_->setToolTip(tr("Swap width and height"));
    swap_->setAutoRaise(true);
    sizeLayout->addWidget(width_, 1);
    sizeLayout->addWidget(times);
    sizeLayout->addWidget(height_, 1);
    sizeLayout->addWidget(swap_);
    auto* aspectRow = new QWidget(this);
    aspectRow->setObjectName(QStringLiteral("sizeRow"));
    auto* aspectLayout = new QHBoxLayout(aspectRow);
    aspectLayout->setContentsMargins(0, 0, 0, 0);
    aspectLayout->addWidget(aspect_, 1);
    form_->addRow(tr("Aspect"), aspectRow);
    form_->addRow(tr("Size"), sizeRow_);

    steps_ = new SliderSpinBox(this);
    steps_->setObjectName(QStringLiteral("stepsControl"));
    form_->addRow(tr("Steps"), steps_);
    guidance_ = new SliderSpinBox(this);
    guidance_->setObjectName(QStringLiteral("guidanceControl"));
    form_->addRow(tr("Guidance"), guidance_);
    frames_ = new SliderSpinBox(this);
    frames_->setObjectName(QStringLiteral("framesControl"));
    form_->addRow(tr("Frames"), frames_);
    fps_ = new SliderSpinBox(this);
    fps_->setObjectName(QStringLiteral("fpsControl"));
    fpsLabel_ = new QLabel(tr("FPS"), this);
    form_->addRow(fpsLabel_, fps_);
    frameStride_ = new SliderSpinBox(this);
    frameStride_->setObjectName(QStringLiteral("frameStrideControl"));
    frameStride_->setToolTip(tr("DynamiCrafter frame stride: smaller values give more motion."));
    form_->addRow(tr("Motion"), frameStride_);
    eta_ = new SliderSpinBox(this);
    eta_->setObjectName(QStringLiteral("etaControl"));
    form_->addRow(tr("Eta"), eta_);
    flowShift_ = new SliderSpinBox(this);
    flowShift_->setObjectName(QStringLiteral("flowShiftControl"));
    form_->addRow(tr("Flow shift"), flowShift_);
    binning_ = new QCheckBox(tr("Generate at the nearest trained size"), this);
    binning_->setObjectName(QStringLiteral("binningCheck"));
    binning_->setChecked(true);
    binning_->setToolTip(
        tr("Sana was trained on a fixed set of sizes. On: it generates at the trained size closest in shape, "
           "then resizes the picture to the size above (as diffusers does). Off: it generates at exactly "
           "that size."));
    form_->addRow(tr("Trained size"), binning_);
    connect(binning_, &QCheckBox::toggled, this, &ParameterPanel::changed);

    for (SliderSpinBox* s : {steps_, guidance_, frames_, fps_, frameStride_, eta_, flowShift_}) {
        connect(s, &SliderSpinBox::valueChanged, this, &ParameterPanel::changed);
    }
    connect(aspect_, &QComboBox::activated, this, &ParameterPanel::applyAspect);
    for (QSpinBox* s : {width_, height_}) {
        connect(s, &QSpinBox::editingFinished, this, [this, s] {
            const appcore::IntSpec& is = s == width_ ? spec_.width : spec_.height;
            const int snapped = snap(s->value(), is.step, is.min, is.max);
            if (snapped != s->value()) {
                s->setValue(snapped);
            }
        });
        connect(s, &QSpinBox::valueChanged, this, [this] {
            updateAspectFromSize();
            emit changed();
        });
    }
    connect(swap_, &QToolButton::clicked, this, [this] { setSize(height_->value(), width_->value()); });

    appcore::LocalModel none;
    setSpec(appcore::parameterSpec(none, appcore::Task::TextToImage), false);
}

int ParameterPanel::snap(int value, int step, int min, int max) {
    if (step <= 1) {
        return qBound(min, value, max);
    }
    return qBound(min, qRound(static_cast<double>(value) / step) * step, max);
}

void ParameterPanel::setRowVisible(QWidget* field, bool visible) {
    form_->setRowVisible(field, visible);
}

void ParameterPanel::setSpec(const appcore::ParameterSpec& spec, bool keepValues) {
    GenerationParams kept;
    if (keepValues) {
        applyTo(kept);
    }
    spec_ = spec;
    updating_ = true;
    width_->setRange(spec.width.min, spec.width.max);
    width_->setSingleStep(spec.width.step);
    height_->setRange(spec.height.min, spec.height.max);
    height_->setSingleStep(spec.height.step);
    steps_->configure(spec.steps.min, spec.steps.max, spec.steps.step, 0, spec.steps.value);
    guidance_->configure(spec.guidance.min, spec.guidance.max, spec.guidance.step, spec.guidance.decimals,
                         spec.guidance.value);
    setRowVisible(frames_, spec.hasFrames);
    if (spec.hasFrames) {
        frames_->configure(spec.frames.min, spec.frames.max, spec.frames.step, 0, spec.frames.value);
    }
    setRowVisible(fps_, spec.hasFps);
    if (spec.hasFps) {
        fps_->configure(spec.fps.min, spec.fps.max, spec.fps.step, spec.fps.decimals, spec.fps.value);
        // DynamiCrafter conditions on the frame stride; its fps is only the playback rate.
        fpsLabel_->setText(spec.hasFrameStride ? tr("Playback FPS") : tr("FPS"));
        fps_->setToolTip(spec.hasFrameStride ? tr("Frames per second of the clip")
                                             : tr("Frame-rate conditioning and playback rate: higher values give "
                                                  "calmer motion."));
    }
    setRowVisible(frameStride_, spec.hasFrameStride);
    if (spec.hasFrameStride) {
        frameStride_->configure(spec.frameStride.min, spec.frameStride.max, spec.frameStride.step, 0,
                                spec.frameStride.value);
    }
    setRowVisible(eta_, spec.hasEta);
    if (spec.hasEta) {
        eta_->configure(spec.eta.min, spec.eta.max, spec.eta.step, spec.eta.decimals, spec.eta.value);
    }
    setRowVisible(binning_, spec.hasResolutionBinning);
    setRowVisible(flowShift_, spec.hasFlowShift);
    if (spec.hasFlowShift) {
        flowShift_->configure(spec.flowShift.min, spec.flowShift.max, spec.flowShift.step, spec.flowShift.decimals,
                              spec.flowShift.value);
    }
    updating_ = false;
    resetToDefaults();
    if (keepValues) {
        setFromParams(kept);
    }
}

void ParameterPanel::resetToDefaults() {
    updating_ = true;
    for (SliderSpinBox* s : {steps_, guidance_, frames_, fps_, frameStride_, eta_, flowShift_}) {
        s->resetToDefault();
    }
    {
        const QSignalBlocker block(binning_);
        binning_->setChecked(true);
    }
    updating_ = false;
    setSize(spec_.width.value, spec_.height.value);
}

int ParameterPanel::widthPx() const {
    return width_->value();
}
int ParameterPanel::heightPx() const {
    return height_->value();
}

void ParameterPanel::setSize(int width, int height) {
    {
        const QSignalBlocker bw(width_);
        const QSignalBlocker bh(height_);
        width_->setValue(snap(width, spec_.width.step, spec_.width.min, spec_.width.max));
        height_->setValue(snap(height, spec_.height.step, spec_.height.min, spec_.height.max));
    }
    updateAspectFromSize();
    emit changed();
}

void ParameterPanel::applyAspect(int index) {
    if (index < 0 || index >= kNumAspects) {
        return;  // Custom: leave the numbers alone
    }
    // Keep the model's native pixel count, change the shape.
    const double area = static_cast<double>(spec_.width.value) * spec_.height.value;
    const double ratio = static_cast<double>(kAspects[index].w) / kAspects[index].h;
    const int w = static_cast<int>(std::sqrt(area * ratio));
    const int h = static_cast<int>(std::sqrt(area / ratio));
    setSize(w, h);
    aspect_->setCurrentIndex(index);
}

void ParameterPanel::updateAspectFromSize() {
    const double ratio = static_cast<double>(width_->value()) / qMax(1, height_->value());
    int best = kNumAspects;  // Custom
    for (int i = 0; i < kNumAspects; ++i) {
        const double r = static_cast<double>(kAspects[i].w) / kAspects[i].h;
        // Snapping to multiples of 32/64 moves the ratio a little.
        if (qAbs(r - ratio) / r < 0.04) {
            best = i;
            break;
        }
    }
    const QSignalBlocker block(aspect_);
    aspect_->setCurrentIndex(best);
}

void ParameterPanel::applyTo(GenerationParams& p) const {
    p.width = width_->value();
    p.height = height_->value();
    p.steps = steps_->intValue();
    p.guidance = guidance_->value();
    p.numFrames = spec_.hasFrames ? frames_->intValue() : 0;
    p.fps = spec_.hasFps ? fps_->value() : kDefault;
    p.frameStride = spec_.hasFrameStride ? frameStride_->intValue() : 0;
    p.eta = spec_.hasEta ? eta_->value() : kDefault;
    p.flowShift = spec_.hasFlowShift ? flowShift_->value() : kDefault;
    // A model without trained-size bins (e.g. a small test model) is always generated at the exact size.
    p.resolutionBinning = spec_.hasResolutionBinning && binning_->isChecked();
}

void ParameterPanel::setFromParams(const GenerationParams& p) {
    if (p.width > 0 && p.height > 0) {
        setSize(p.width, p.height);
    }
    if (p.steps > 0) {
        steps_->setValue(p.steps);
    }
    if (isSet(p.guidance)) {
        guidance_->setValue(p.guidance);
    }
    if (spec_.hasFrames && p.numFrames > 0) {
        frames_->setValue(p.numFrames);
    }
    if (spec_.hasFps && isSet(p.fps)) {
        fps_->setValue(p.fps);
    }
    if (spec_.hasFrameStride && p.frameStride > 0) {
        frameStride_->setValue(p.frameStride);
    }
    if (spec_.hasEta && isSet(p.eta)) {
        eta_->setValue(p.eta);
    }
    if (spec_.hasFlowShift && isSet(p.flowShift)) {
        flowShift_->setValue(p.flowShift);
    }
    if (spec_.hasResolutionBinning) {
        binning_->setChecked(p.resolutionBinning);
    }
}

}  // namespace ui
