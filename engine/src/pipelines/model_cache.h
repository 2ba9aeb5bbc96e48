// Keeps the most recently used model loaded between jobs (one model at a time: they are gigabytes).
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "pipelines/lvdm_pipeline.h"
#include "pipelines/sana_pipeline.h"

namespace engine::pipelines {

/// Device and dtypes chosen from the engine options.
struct ComputeSettings {
    c10::Device device = c10::Device(c10::kCPU);
    at::ScalarType dtype = at::kFloat;      // transformer / UNet / text encoders
    at::ScalarType vae_dtype = at::kFloat;  // autoencoders
    WeightQuantization quantization = WeightQuantization::None;  // the Sana transformer's blocks
    MemoryMode memory_mode = MemoryMode::Balanced;
};

ComputeSettings compute_settings_for(const EngineOptions& options);

class ModelCache {
public:
    explicit ModelCache(ComputeSettings settings) : settings_(settings) {}

    const ComputeSettings& settings() const { return settings_; }

    /// The Sana pipeline of `dir`, loading it (and dropping any other model) when needed.
    /// on_component(done, total) reports loading progress.
    std::shared_ptr<SanaPipeline> sana(const std::string& dir, const std::function<void(int, int)>& on_component);

    /// The VideoCrafter / DynamiCrafter checkpoint at `checkpoint` with its config and vocabulary (empty: the
    /// preset / the looked-up vocabulary), loading it (and dropping any other model) when needed.
    std::shared_ptr<LVDMPipeline> lvdm(const std::string& checkpoint, const std::string& config_path,
                                       const std::string& tokenizer_path,
                                       const std::function<void(int, int)>& on_component);

    /// Drops everything (after a job in low-memory mode, or on an out-of-memory error).
    void clear();

private:
    ComputeSettings settings_;
    std::string sana_dir_;
    std::shared_ptr<SanaPipeline> sana_;
    std::string lvdm_key_;
    std::shared_ptr<LVDMPipeline> lvdm_;
};

}  // namespace engine::pipelines
