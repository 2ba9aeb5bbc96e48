// What a user can ask the engine for: one request struct per task, each with defaults that mean
// "use the model's own default" (0 or NaN), resolved by the pipeline once the model is known.
//
//     engine::TextToImageRequest r;
//     r.model_path = "/models/Sana_1600M_1024px_diffusers";
//     r.prompt = "a cat in a spacesuit";
//     r.seed = 42;
//     engine->submit(r);
//
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "engine/media.h"

namespace engine {

/// Which task a request asks for.
enum class TaskKind { None = 0, TextToImage, TextToVideo, ImageToVideo };

/// The sampler; Default picks what the model's scheduler config names.
enum class SamplerKind {
    Default = 0,
    FlowDPMSolverMultistep,  // diffusers DPMSolverMultistepScheduler with flow sigmas (Sana)
    FlowEuler,               // diffusers FlowMatchEulerDiscreteScheduler (Sana)
    SCM,                     // TrigFlow consistency sampler (Sana-Sprint)
    DDIM,                    // LVDM DDIM (VideoCrafter, DynamiCrafter)
};

const char* to_string(TaskKind kind) noexcept;
const char* to_string(SamplerKind kind) noexcept;
/// "dpmpp_2m" / "flow_dpmpp" / "euler" / "scm" / "ddim" / "default"; SamplerKind::Default when unknown.
SamplerKind sampler_kind_from_string(const std::string& name) noexcept;

/// Means "not set: use the model's default" for floating-point parameters.
inline constexpr double kUseModelDefault = std::numeric_limits<double>::quiet_NaN();

/// How often previews are made; previews are cheap latent projections, not VAE decodes.
struct PreviewOptions {
    bool enabled = true;
    int every_n_steps = 1;     // at most one preview every n steps
    int min_interval_ms = 150; // and at most one per this many milliseconds (the last step always gets one)
};

/// Fields every request shares.
struct RequestCommon {
    std::string model_path;       // diffusers folder (Sana) or checkpoint file (VideoCrafter/DynamiCrafter)
    std::string config_path;      // optional model config (YAML/JSON) for single-file checkpoints
    std::string prompt;
    std::string negative_prompt;
    std::uint64_t seed = 0;
    int num_inference_steps = 0;  // 0: model default
    double guidance_scale = kUseModelDefault;
    SamplerKind sampler = SamplerKind::Default;
    PreviewOptions preview;
};

/// Sana / Sana-Sprint text-to-image.
struct TextToImageRequest : RequestCommon {
    int width_px = 0;   // 0: model default (its native resolution)
    int height_px = 0;
    bool use_resolution_binning = true;       // snap to the model's aspect-ratio bins, then resize/crop back
    bool use_complex_human_instruction = true;
    int max_sequence_length = 300;
    double flow_shift = kUseModelDefault;     // Sana's flow_shift (3.0, 6.0 for 4K)
    // Sana-Sprint (SCM/TrigFlow) only:
    double max_timestep = kUseModelDefault;           // default 1.57080
    double intermediate_timestep = kUseModelDefault;  // default 1.3 for 2 steps, none otherwise
    bool no_intermediate_timestep = false;            // force a plain linspace schedule for 2 steps
    std::vector<double> custom_timesteps;             // num_inference_steps + 1 values, overrides the above
};

/// VideoCrafter2 / VideoCrafter1 text-to-video.
struct TextToVideoRequest : RequestCommon {
    int width_px = 0;   // 0: model default (512 for VideoCrafter2)
    int height_px = 0;  // 0: model default (320)
    int num_frames = 0; // 0: model default (16)
    double fps = kUseModelDefault;  // fps conditioning and playback rate
    double eta = kUseModelDefault;  // DDIM eta (1.0 in VideoCrafter's scripts)
    /// The open_clip vocabulary (a folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz); empty:
    /// looked up next to the checkpoint and in the Hugging Face cache (laion/CLIP-ViT-H-14-laion2B-s32B-b79K).
    std::string tokenizer_path;
};

/// DynamiCrafter / VideoCrafter-i2v image-to-video.
struct ImageToVideoRequest : TextToVideoRequest {
    Image image;                    // the picture to animate (any size; resized/cropped to the model's aspect)
    int frame_stride = 0;           // 0: model default (DynamiCrafter "fs")
    double guidance_rescale = kUseModelDefault;
};

/// Any request.
using GenerationRequest = std::variant<TextToImageRequest, TextToVideoRequest, ImageToVideoRequest>;

/// The task of a request.
TaskKind task_of(const GenerationRequest& request) noexcept;

}  // namespace engine
