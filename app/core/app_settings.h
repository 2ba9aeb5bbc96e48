// The user's settings (models folder, hub cache, device, precision, memory mode, previews), persisted
// with QSettings. Plain value type: load, edit a copy, save.
//
//     QSettings qs;
//     appcore::AppSettings s = appcore::AppSettings::load(qs);
//     s.device = appcore::DeviceChoice::Cuda;
//     s.save(qs);
//
// Thread safety: a value type; QSettings itself is reentrant (one instance per thread).
#pragma once

#include <QString>
#include <QStringList>

class QSettings;

namespace appcore {

/// Where the engine runs.
enum class DeviceChoice { Cpu = 0, Cuda };
/// Weights/activations precision (Auto: float32 on CPU, bfloat16 on CUDA).
enum class PrecisionChoice { Auto = 0, Float32, BFloat16, Float16 };
/// How hard the engine tries to save memory.
enum class MemoryModeChoice { Balanced = 0, LowMemory, KeepLoaded };
/// Weight quantisation of the Sana transformer (engine::WeightQuantization).
enum class QuantizationChoice { None = 0, Int8, Fp8 };

/// The settings that need a new engine when they change.
struct EngineSettings {
    DeviceChoice device = DeviceChoice::Cpu;
    int deviceIndex = 0;
    PrecisionChoice precision = PrecisionChoice::Auto;
    MemoryModeChoice memoryMode = MemoryModeChoice::Balanced;
    QuantizationChoice quantization = QuantizationChoice::None;

    bool operator==(const EngineSettings& o) const {
        return device == o.device && deviceIndex == o.deviceIndex && precision == o.precision &&
               memoryMode == o.memoryMode && quantization == o.quantization;
    }
    bool operator!=(const EngineSettings& o) const { return !(*this == o); }
};

struct AppSettings {
    QString modelsDir;            // folder scanned for models (one folder or checkpoint per model)
    QString hubCacheDir;          // Hugging Face hub cache (shared with Python tools)
    QStringList extraModelPaths;  // models the user added from elsewhere
    EngineSettings engine;
    bool previewEnabled = true;  // live latent previews while denoising
    int previewEveryNSteps = 1;

    /// Reads every key, falling back to the defaults for missing or invalid ones.
    static AppSettings load(QSettings& settings);
    /// Writes every key.
    void save(QSettings& settings) const;
    /// The defaults (models folder under the data dir, hub cache from HF_* variables).
    static AppSettings defaults();
};

/// ~/.local/share/Kinora/models.
QString defaultModelsDir();
/// "CPU", "CUDA 0", ...
QString deviceLabel(const EngineSettings& engine);
QString precisionLabel(PrecisionChoice precision);
QString memoryModeLabel(MemoryModeChoice mode);
QString quantizationLabel(QuantizationChoice quantization);

}  // namespace appcore
