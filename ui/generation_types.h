// Qt-side value types for jobs: what the user asked for (GenerationParams), what came back
// (GenerationResult), and the job states. The EngineBridge converts them to and from the engine's
// types; nothing else in ui/ sees the engine. All are cheap to copy (QImage is implicitly shared)
// and registered as metatypes, so they travel in queued signals and QSignalSpy.
//
// Thread safety: plain value types.
#pragma once

#include <QImage>
#include <QList>
#include <QMetaType>
#include <QPair>
#include <QString>

#include <cmath>
#include <limits>

#include "core/task.h"

namespace ui {

/// A job's id, as the engine hands it out; 0 is never valid.
using JobId = quint64;
/// Ordered key/value parameters ("prompt", "seed", "steps", ...).
using ParamList = QList<QPair<QString, QString>>;

/// Means "not set: the model's default" for real parameters.
inline constexpr double kDefault = std::numeric_limits<double>::quiet_NaN();

/// Where a job stands.
enum class JobState { Queued = 0, Running, Finished, Failed, Cancelled };
/// The stage of a running job (mirrors engine::JobStage).
enum class JobStage { None = 0, LoadingModel, EncodingPrompt, Denoising, Decoding, Finishing };
/// Why a job failed (mirrors engine::ErrorCode; checked by static_assert in the bridge).
enum class FailureCode {
    None = 0,
    InvalidRequest,
    ModelNotFound,
    ModelLoadFailed,
    UnsupportedModel,
    OutOfMemory,
    DeviceUnavailable,
    IoError,
    Internal,
};

/// What the user asked for. Zero / NaN fields mean "the model's default".
struct GenerationParams {
    appcore::Task task = appcore::Task::None;
    QString modelName;
    QString modelPath;
    QString configPath;
    QString prompt;
    QString negativePrompt;
    quint64 seed = 0;
    int steps = 0;
    double guidance = kDefault;
    int width = 0;
    int height = 0;
    int numFrames = 0;
    double fps = kDefault;
    double eta = kDefault;
    int frameStride = 0;
    double flowShift = kDefault;
    bool resolutionBinning = true;  // Sana: generate at the nearest trained size, then resize to width × height
    QImage inputImage;              // image-to-video only
    QString inputImageName;         // file name or "pasted image"
    bool previewEnabled = true;
    int previewEveryNSteps = 1;

    /// The parameters as recorded in the gallery and PNG metadata (only the ones that are set).
    ParamList toParamList() const;
    /// Parameters read back from a gallery item or PNG; unknown keys are ignored. Returns the fields
    /// found (the model fields only when present).
    static GenerationParams fromParamList(const ParamList& params);
};

/// A finished job's output, converted from the engine's result.
struct GenerationResult {
    JobId job = 0;
    appcore::Task task = appcore::Task::None;
    QImage image;          // text-to-image
    QList<QImage> frames;  // video tasks
    double fps = 0.0;
    ParamList parameters;  // as the engine reports them (defaults resolved)
    quint64 seed = 0;
    double durationS = 0.0;

    bool isVideo() const { return !frames.isEmpty(); }
};

/// "Denoising", "Loading model", ...
QString stageLabel(JobStage stage);
/// A sentence on what to do about a failure, given what was asked (e.g. a smaller size for OOM).
QString failureHint(FailureCode code, const GenerationParams& params);
/// Registers the types for queued connections and QSignalSpy; call once (main, test main).
void registerMetaTypes();

/// True when a real parameter is set (not kDefault).
inline bool isSet(double v) {
    return !std::isnan(v);
}

}  // namespace ui

Q_DECLARE_METATYPE(ui::GenerationParams)
Q_DECLARE_METATYPE(ui::GenerationResult)
Q_DECLARE_METATYPE(ui::JobStage)
Q_DECLARE_METATYPE(ui::JobState)
Q_DECLARE_METATYPE(ui::FailureCode)
