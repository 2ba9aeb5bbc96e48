// SettingsDialog: models folder, Hugging Face cache, device, precision, memory mode and previews.
// Edits a copy of AppSettings; the caller saves it (QSettings) and applies it.
#pragma once

#include <QDialog>

#include "core/app_settings.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace ui {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const appcore::AppSettings& settings, QWidget* parent = nullptr);

    appcore::AppSettings settings() const;
    void setSettings(const appcore::AppSettings& settings);
    /// Shown under the device choice, e.g. the engine's own description ("cuda:0").
    void setDeviceNote(const QString& note);

private:
    void updateDescriptions();

    appcore::AppSettings base_;
    QLineEdit* modelsDir_ = nullptr;
    QLineEdit* hubCache_ = nullptr;
    QComboBox* device_ = nullptr;
    QSpinBox* deviceIndex_ = nullptr;
    QLabel* deviceNote_ = nullptr;
    QComboBox* precision_ = nullptr;
    QComboBox* quantization_ = nullptr;
    QComboBox* memoryMode_ = nullptr;
    QLabel* memoryNote_ = nullptr;
    QCheckBox* preview_ = nullptr;
    QSpinBox* previewEvery_ = nullptr;
};

}  // namespace ui
