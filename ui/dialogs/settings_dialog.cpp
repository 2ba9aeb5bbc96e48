#include "ui/dialogs/settings_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/file_dialogs.h"
#include "ui/icons.h"

namespace ui {
namespace {

QWidget* pathRow(QWidget* parent, QLineEdit* edit, const QString& purpose, const QString& caption) {
    auto* row = new QWidget(parent);
    auto* l = new QHBoxLayout(row);
    l->setContentsMargins(0, 0, 0, 0);
    l->setSpacing(6);
    auto* browse = new QToolButton(row);
    browse->setIcon(icon(QStringLiteral("folder")));
    browse->setToolTip(QObject::tr("Choose a folder"));
    l->addWidget(edit, 1);
    l->addWidget(browse);
    QObject::connect(browse, &QToolButton::clicked, row, [row, edit, purpose, caption] {
        const QString dir = askDirectory(row, purpose, caption, edit->text());
        if (!dir.isEmpty()) {
            edit->setText(dir);
        }
    });
    return row;
}

QLabel* note(QWidget* parent) {
    auto* l = new QLabel(parent);
    l->setObjectName(QStringLiteral("noteLabel"));
    l->setWordWrap(true);
    return l;
}

}  // namespace

SettingsDialog::SettingsDialog(const appcore::AppSettings& settings, QWidget* parent)
    : QDialog(parent), base_(settings) {
    setWindowTitle(tr("Settings"));
    setObjectName(QStringLiteral("settingsDialog"));
    auto* layout = new QVBoxLayout(this);
    layout->setSpacing(12);

    auto* paths = new QGroupBox(tr("Folders"), this);
    auto* pathsForm = new QFormLayout(paths);
    modelsDir_ = new QLineEdit(paths);
    modelsDir_->setObjectName(QStringLiteral("modelsDirEdit"));
    hubCache_ = new QLineEdit(paths);
    hubCache_->setObjectName(QStringLiteral("hubCacheEdit"));
    pathsForm->addRow(tr("Models folder"),
                      pathRow(paths, modelsDir_, QStringLiteral("models-dir"), tr("Models folder")));
    auto* modelsNote = note(paths);
    modelsNote->setText(tr("Each model is a folder (diffusers) or a checkpoint in here."));
    pathsForm->addRow(QString(), modelsNote);
    pathsForm->addRow(tr("Hugging Face cache"),
                      pathRow(paths, hubCache_, QStringLiteral("hub-cache"), tr("Hugging Face cache")));
    auto* hubNote = note(paths);
    hubNote->setText(tr("Shared with Python tools (HF_HOME / HF_HUB_CACHE), so models are not downloaded twice."));
    pathsForm->addRow(QString(), hubNote);
    layout->addWidget(paths);

    auto* engineBox = new QGroupBox(tr("Engine"), this);
    auto* engineForm = new QFormLayout(engineBox);
    auto* deviceRow = new QWidget(engineBox);
    auto* dl = new QHBoxLayout(deviceRow);
    dl->setContentsMargins(0, 0, 0, 0);
    device_ = new QComboBox(deviceRow);
    device_->setObjectName(QStringLiteral("deviceCombo"));
    device_->addItem(tr("CPU"), static_cast<int>(appcore::DeviceChoice::Cpu));
    device_->addItem(tr("CUDA GPU"), static_cast<int>(appcore::DeviceChoice::Cuda));
    deviceIndex_ = new QSpinBox(deviceRow);
    deviceIndex_->setRange(0, 15);
    deviceIndex_->setPrefix(tr("GPU "));
    dl->addWidget(device_, 1);
    dl->addWidget(deviceIndex_);
    engineForm->addRow(tr("Device"), deviceRow);
    deviceNote_ = note(engineBox);
    engineForm->addRow(QString(), deviceNote_);
    precision_ = new QComboBox(engineBox);
    precision_->setObjectName(QStringLiteral("precisionCombo"));
    for (auto p : {appcore::PrecisionChoice::Auto, appcore::PrecisionChoice::Float32,
                   appcore::PrecisionChoice::BFloat16, appcore::PrecisionChoice::Float16}) {
        precision_->addItem(appcore::precisionLabel(p), static_cast<int>(p));
    }
    precision_->setToolTip(tr("Automatic: FP32 on the CPU, BF16 on CUDA. Lower precision halves memory use."));
    engineForm->addRow(tr("Precision"), precision_);
    memoryMode_ = new QComboBox(engineBox);
    memoryMode_->setObjectName(QStringLiteral("memoryModeCombo"));
    for (auto m : {appcore::MemoryModeChoice::Balanced, appcore::MemoryModeChoice::LowMemory,
                   appcore::MemoryModeChoice::KeepLoaded}) {
        memoryMode_->addItem(appcore::memoryModeLabel(m), static_cast<int>(m));
    }
    engineForm->addRow(tr("Memory"), memoryMode_);
    memoryNote_ = note(engineBox);
    engineForm->addRow(QString(), memoryNote_);
    quantization_ = new QComboBox(engineBox);
    quantization_->setObjectName(QStringLiteral("quantizationCombo"));
    for (auto q : {appcore::QuantizationChoice::None, appcore::QuantizationChoice::Int8,
                   appcore::QuantizationChoice::Fp8}) {
        quantization_->addItem(appcore::quantizationLabel(q), static_cast<int>(q));
    }
    quantization_->setToolTip(
        tr("Sana models: store the transformer's weights in 8 bits. INT8 works everywhere and halves their memory; "
           "FP8 also computes on the FP8 tensor cores of NVIDIA Ada and Hopper GPUs (BF16 or automatic precision). "
           "Images change slightly."));
    engineForm->addRow(tr("Quantization"), quantization_);
    layout->addWidget(engineBox);

    auto* previewBox = new QGroupBox(tr("Live preview"), this);
    auto* previewForm = new QFormLayout(previewBox);
    preview_ = new QCheckBox(tr("Show the picture forming while it is generated"), previewBox);
    preview_->setObjectName(QStringLiteral("previewCheck"));
    previewEvery_ = new QSpinBox(previewBox);
    previewEvery_->setRange(1, 50);
    previewEvery_->setSuffix(tr(" steps"));
    previewForm->addRow(preview_);
    previewForm->addRow(tr("Every"), previewEvery_);
    layout->addWidget(previewBox);
    layout->addStretch(1);

    auto* buttons =
        new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel | QDialogButtonBox::RestoreDefaults, this);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(buttons->button(QDialogButtonBox::RestoreDefaults), &QPushButton::clicked, this,
            [this] { setSettings(appcore::AppSettings::defaults()); });
    connect(device_, &QComboBox::currentIndexChanged, this, &SettingsDialog::updateDescriptions);
    connect(memoryMode_, &QComboBox::currentIndexChanged, this, &SettingsDialog::updateDescriptions);
    connect(preview_, &QCheckBox::toggled, previewEvery_, &QSpinBox::setEnabled);

    setSettings(settings);
    setMinimumWidth(fontMetrics().horizontalAdvance(QLatin1Char('x')) * 70);
}

void SettingsDialog::setSettings(const appcore::AppSettings& s) {
    modelsDir_->setText(s.modelsDir);
    hubCache_->setText(s.hubCacheDir);
    device_->setCurrentIndex(device_->findData(static_cast<int>(s.engine.device)));
    deviceIndex_->setValue(s.engine.deviceIndex);
    precision_->setCurrentIndex(precision_->findData(static_cast<int>(s.engine.precision)));
    memoryMode_->setCurrentIndex(memoryMode_->findData(static_cast<int>(s.engine.memoryMode)));
    quantization_->setCurrentIndex(quantization_->findData(static_cast<int>(s.engine.quantization)));
    preview_->setChecked(s.previewEnabled);
    previewEvery_->setValue(s.previewEveryNSteps);
    previewEvery_->setEnabled(s.previewEnabled);
    updateDescriptions();
}

appcore::AppSettings SettingsDialog::settings() const {
    appcore::AppSettings s = base_;
    s.modelsDir = modelsDir_->text().trimmed();
    s.hubCacheDir = hubCache_->text().trimmed();
    s.engine.device = static_cast<appcore::DeviceChoice>(device_->currentData().toInt());
    s.engine.deviceIndex = deviceIndex_->value();
    s.engine.precision = static_cast<appcore::PrecisionChoice>(precision_->currentData().toInt());
    s.engine.memoryMode = static_cast<appcore::MemoryModeChoice>(memoryMode_->currentData().toInt());
    s.engine.quantization = static_cast<appcore::QuantizationChoice>(quantization_->currentData().toInt());
    s.previewEnabled = preview_->isChecked();
    s.previewEveryNSteps = previewEvery_->value();
    return s;
}

void SettingsDialog::setDeviceNote(const QString& text) {
    deviceNote_->setText(text);
    deviceNote_->setVisible(!text.isEmpty());
}

void SettingsDialog::updateDescriptions() {
    deviceIndex_->setVisible(device_->currentData().toInt() == static_cast<int>(appcore::DeviceChoice::Cuda));
    switch (static_cast<appcore::MemoryModeChoice>(memoryMode_->currentData().toInt())) {
        case appcore::MemoryModeChoice::Balanced:
            memoryNote_->setText(tr("Keeps the denoiser loaded between jobs and frees the text encoder after use."));
            break;
        case appcore::MemoryModeChoice::LowMemory:
            memoryNote_->setText(
                tr("Frees every part after each job and decodes in tiles: slower, but fits "
                   "smaller GPUs. Try this after an out-of-memory error."));
            break;
        case appcore::MemoryModeChoice::KeepLoaded:
            memoryNote_->setText(tr("Keeps everything loaded: the fastest repeat jobs, the most memory."));
            break;
    }
}

}  // namespace ui
