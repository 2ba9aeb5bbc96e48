#include "core/app_settings.h"

#include <QCoreApplication>
#include <QSettings>

#include "core/app_paths.h"

namespace appcore {
namespace {

template <typename E>
E enumValue(const QSettings& s, const QString& key, E fallback, int maxValue) {
    bool ok = false;
    const int v = s.value(key, static_cast<int>(fallback)).toInt(&ok);
    if (!ok || v < 0 || v > maxValue) {
        return fallback;
    }
    return static_cast<E>(v);
}

}  // namespace

QString defaultModelsDir() {
    return dataDir() + QStringLiteral("/models");
}

AppSettings AppSettings::defaults() {
    AppSettings s;
    s.modelsDir = defaultModelsDir();
    s.hubCacheDir = appcore::hubCacheDir();
    return s;
}

AppSettings AppSettings::load(QSettings& qs) {
    AppSettings s = defaults();
    qs.beginGroup(QStringLiteral("paths"));
    const QString models = qs.value(QStringLiteral("modelsDir")).toString();
    if (!models.isEmpty()) {
        s.modelsDir = models;
    }
    const QString hub = qs.value(QStringLiteral("hubCacheDir")).toString();
    if (!hub.isEmpty()) {
        s.hubCacheDir = hub;
    }
    s.extraModelPaths = qs.value(QStringLiteral("extraModelPaths")).toStringList();
    qs.endGroup();

    qs.beginGroup(QStringLiteral("engine"));
    s.engine.device = enumValue(qs, QStringLiteral("device"), DeviceChoice::Cpu, 1);
    s.engine.deviceIndex = qBound(0, qs.value(QStringLiteral("deviceIndex"), 0).toInt(), 63);
    s.engine.precision = enumValue(qs, QStringLiteral("precision"), PrecisionChoice::Auto, 3);
    s.engine.memoryMode = enumValue(qs, QStringLiteral("memoryMode"), MemoryModeChoice::Balanced, 2);
    s.engine.quantization = enumValue(qs, QStringLiteral("quantization"), QuantizationChoice::None, 2);
    qs.endGroup();

    qs.beginGroup(QStringLiteral("preview"));
    s.previewEnabled = qs.value(QStringLiteral("enabled"), true).toBool();
    s.previewEveryNSteps = qBound(1, qs.value(QStringLiteral("everyNSteps"), 1).toInt(), 100);
    qs.endGroup();
    return s;
}

void AppSettings::save(QSettings& qs) const {
    qs.beginGroup(QStringLiteral("paths"));
    qs.setValue(QStringLiteral("modelsDir"), modelsDir);
    qs.setValue(QStringLiteral("hubCacheDir"), hubCacheDir);
    qs.setValue(QStringLiteral("extraModelPaths"), extraModelPaths);
    qs.endGroup();
    qs.beginGroup(QStringLiteral("engine"));
    qs.setValue(QStringLiteral("device"), static_cast<int>(engine.device));
    qs.setValue(QStringLiteral("deviceIndex"), engine.deviceIndex);
    qs.setValue(QStringLiteral("precision"), static_cast<int>(engine.precision));
    qs.setValue(QStringLiteral("memoryMode"), static_cast<int>(engine.memoryMode));
    qs.setValue(QStringLiteral("quantization"), static_cast<int>(engine.quantization));
    qs.endGroup();
    qs.beginGroup(QStringLiteral("preview"));
    qs.setValue(QStringLiteral("enabled"), previewEnabled);
    qs.setValue(QStringLiteral("everyNSteps"), previewEveryNSteps);
    qs.endGroup();
}

QString deviceLabel(const EngineSettings& engine) {
    if (engine.device == DeviceChoice::Cuda) {
        return QStringLiteral("CUDA %1").arg(engine.deviceIndex);
    }
    return QStringLiteral("CPU");
}

QString precisionLabel(PrecisionChoice precision) {
    switch (precision) {
        case PrecisionChoice::Auto:
            return QCoreApplication::translate("appcore", "Automatic");
        case PrecisionChoice::Float32:
            return QStringLiteral("FP32");
        case PrecisionChoice::BFloat16:
            return QStringLiteral("BF16");
        case PrecisionChoice::Float16:
            return QStringLiteral("FP16");
    }
    return {};
}

QString memoryModeLabel(MemoryModeChoice mode) {
    switch (mode) {
        case MemoryModeChoice::Balanced:
            return QCoreApplication::translate("appcore", "Balanced");
        case MemoryModeChoice::LowMemory:
            return QCoreApplication::translate("appcore", "Low memory");
        case MemoryModeChoice::KeepLoaded:
            return QCoreApplication::translate("appcore", "Keep loaded (fastest)");
    }
    return {};
}

QString quantizationLabel(QuantizationChoice quantization) {
    switch (quantization) {
        case QuantizationChoice::None:
            return QCoreApplication::translate("appcore", "None (full precision weights)");
        case QuantizationChoice::Int8:
            return QCoreApplication::translate("appcore", "INT8 weights (half the memory)");
        case QuantizationChoice::Fp8:
            return QCoreApplication::translate("appcore", "FP8 (Ada / Hopper GPUs, fastest)");
    }
    return {};
}

}  // namespace appcore
