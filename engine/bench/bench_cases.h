// kinora-bench's cases: each builds the real components of one released model at real size with random weights (no
// tokenizer, no checkpoint), runs the engine's own pipeline code end to end several times, times the stages and the
// reference's component numbers (one denoiser forward at the real batch, the VAE decode, the text encoder), and
// returns one JSON object.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace kinora_bench {

struct BenchOptions {
    int repeats = 3;             // timed end-to-end runs (median reported)
    int warmup = 1;              // untimed runs first (with --warmup-steps denoising steps)
    int warmup_steps = 2;        // denoising steps of a warm-up run: every kernel and shape, at a fraction of the cost
    int component_repeats = 10;  // timed calls per component (median reported)
    std::optional<at::ScalarType> dtype;  // nullopt: the reference's (bf16 Sana, fp16 LVDM); float32 on the CPU
    c10::Device device = c10::Device(c10::kCUDA);
    bool tiny = false;         // tiny configs of the same model families (CPU smoke tests)
    std::optional<int> steps;  // overrides the case's denoising steps
    std::uint64_t seed = 0;
    bool graphs = true;  // Sana / Sprint: the transformer step through CUDA graphs (SanaLoadOptions::cuda_graphs)
    /// Sana / Sprint: skip the caption work that cannot change the image (SanaGenerateOptions::trim_caption).
    bool trim_caption = true;
    /// Sana / Sprint pipeline runs: live previews as the app makes them (its renderer and step hooks). Off: no hooks.
    /// App: the app's default throttle (every step, at most one per 150 ms). Every: one per step.
    enum class Previews { Off, App, Every } previews = Previews::Off;
    /// Channels-last convolutions in the DC-AE, the KL VAE and the LVDM UNet; nullopt: the engine's default (on for
    /// CUDA unless KINORA_DISABLE_CHANNELS_LAST=1, off on the CPU).
    std::optional<bool> channels_last;
    /// Non-empty (CUDA only): one denoiser forward, one VAE decode and (Sana) one text-encoder call are profiled
    /// with LibTorch's profiler after the timings; Chrome traces go to <profile_dir>/<case>_<component>.json.
    std::string profile_dir;
    /// Sana / Sprint: the transformer blocks quantised (SanaTransformer2DImpl::quantize_blocks) after a reference
    /// run of the unquantised model, which the quality figures compare against.
    engine::WeightQuantization quantization = engine::WeightQuantization::None;
};

struct CaseInfo {
    std::string name;
    std::string description;
};

/// The cases, in the order `--case all` runs them.
const std::vector<CaseInfo>& cases();

/// Runs one case; throws (c10::Error, core::EngineError, std::invalid_argument) on failure.
nlohmann::json run_case(const std::string& name, const BenchOptions& options);

}  // namespace kinora_bench
