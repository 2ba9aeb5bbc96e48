// Models installed on this machine: folders and checkpoints in the models folder, ones the user added
// from elsewhere, and diffusers snapshots in the Hugging Face hub cache. Each is identified by family
// (what it is) and tasks (what it can do), and each family/task pair has its parameter ranges.
//
//     QList<appcore::LocalModel> models = appcore::scanModels(settings.modelsDir, settings.hubCacheDir, {});
//     appcore::ParameterSpec spec = appcore::parameterSpec(models[0], appcore::Task::TextToImage);
//
// Thread safety: free functions touching only the file system; call from any thread.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

#include "core/task.h"

namespace appcore {

/// What a model is. Unknown models are not listed.
enum class ModelFamily { Unknown = 0, Sana, SanaSprint, VideoCrafter, VideoCrafterI2V, DynamiCrafter };

/// Where a listed model came from.
enum class ModelSource { ModelsFolder = 0, Added, HubCache };

struct LocalModel {
    QString name;        // shown in the picker
    QString path;        // diffusers folder or checkpoint file, as the engine takes it
    QString configPath;  // optional model config next to a checkpoint
    ModelFamily family = ModelFamily::Unknown;
    int tasks = 0;  // TaskFlag bits
    ModelSource source = ModelSource::ModelsFolder;
    // Native resolution: Sana's from its configs (sample_size × the VAE's compression), else from the
    // name (e.g. "_512px", "DynamiCrafter_1024").
    int nativeWidth = 0;
    int nativeHeight = 0;
    int nativeFrames = 0;  // LVDM: temporal_length from a config.json next to the checkpoint (0: the family's)
    qint64 sizeBytes = 0;
    // Sana (read from transformer/, vae/ and scheduler/ configs; 0 when a config is missing):
    int sampleSize = 0;              // the transformer's sample_size (latent side at the native resolution)
    int vaeScaleFactor = 0;          // the DC-AE's spatial compression (32 for the released models)
    double flowShift = 0.0;          // scheduler_config.json flow_shift
    bool resolutionBinning = false;  // the engine can snap sizes to this model's trained aspect-ratio bins
    QStringList missingParts;        // components model_index.json names whose folders are missing

    bool supports(Task task) const { return (tasks & taskFlag(task)) != 0; }
    /// The first task it supports (T2I, T2V, I2V order).
    Task defaultTask() const;
};

/// Identifies one folder or file. On failure returns a model with family Unknown and sets *why.
/// Diffusers folders must hold a SanaPipeline or SanaSprintPipeline (the classes the engine runs); their
/// configs give the native size, flow shift and whether resolution binning applies.
LocalModel identifyModel(const QString& path, QString* why = nullptr);
/// Lists models: direct children of modelsDir, extraPaths, and hub-cache snapshots (models--*/snapshots).
/// Duplicates (same canonical path) are listed once; the result is sorted by name.
QList<LocalModel> scanModels(const QString& modelsDir, const QString& hubCacheDir, const QStringList& extraPaths);

/// "Sana", "Sana-Sprint", "VideoCrafter2", "VideoCrafter i2v", "DynamiCrafter".
QString familyLabel(ModelFamily family);

/// An integer parameter: range, step, default.
struct IntSpec {
    int min = 0;
    int max = 0;
    int step = 1;
    int value = 0;
};
/// A real parameter: range, step, default, decimals shown.
struct RealSpec {
    double min = 0.0;
    double max = 0.0;
    double step = 0.1;
    double value = 0.0;
    int decimals = 1;
};

/// The parameters a model/task pair takes, with ranges and defaults. Absent ones have has* false.
struct ParameterSpec {
    IntSpec steps;
    RealSpec guidance;
    IntSpec width;
    IntSpec height;  // step is the size multiple the model needs (32 for Sana, 64 for the video UNets)
    bool hasFrames = false;
    IntSpec frames;
    bool hasFps = false;
    RealSpec fps;  // fps conditioning (VideoCrafter) and playback rate
    bool hasFrameStride = false;
    IntSpec frameStride;  // DynamiCrafter "fs": smaller = more motion
    bool hasEta = false;
    RealSpec eta;  // DDIM eta
    bool hasFlowShift = false;
    RealSpec flowShift;                 // Sana's flow shift
    bool hasNegativePrompt = true;      // Sana-Sprint has none (its guidance is distilled into the model)
    bool hasResolutionBinning = false;  // Sana: generate at the nearest trained size, then resize
};

/// Ranges and defaults (from the models' reference scripts) for one model and task.
ParameterSpec parameterSpec(const LocalModel& model, Task task);

}  // namespace appcore
