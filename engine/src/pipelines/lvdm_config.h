// Ref: AILab-CVC/VideoCrafter@11bcd76 configs/inference_{t2v_512_v2.0,t2v_512_v1.0,t2v_1024_v1.0,i2v_512_v1.0}.yaml,
//      lvdm/models/ddpm3d.py DDPM / LatentDiffusion / LatentVisualDiffusion (constructor keys and defaults)
// Ref: Doubiiu/DynamiCrafter@c453369 configs/inference_{256,512,1024}_v1.0.yaml, lvdm/models/ddpm3d.py,
//      scripts/evaluation/funcs.py load_model_checkpoint (the framestride_embed rename)
//
// The model configuration of VideoCrafter 1/2 and DynamiCrafter checkpoints: the original YAML files
// (read with io/yaml_subset), the goldens' JSON rendering of them, or a built-in preset (resources/presets/
// *.json, compiled in) when the user passes no --config; plus telling the checkpoints apart from their tensors.
//
//     auto weights = ...;                                         // the checkpoint's state_dict
//     auto det = pipelines::detect_lvdm_model(weights);           // UnsupportedModel for Sana, SD, ...
//     auto cfg = user_config.empty() ? pipelines::lvdm_preset(det->presets.front())
//                                    : pipelines::read_lvdm_config(user_config);
//     auto ae = models::AutoencoderKLConfig::from_json(cfg->first_stage_params);
//     double sf = cfg->scale_factor;                                  // 0.18215
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "schedulers/scheduler_kind.h"

namespace engine::pipelines {

/// model.target: lvdm.models.ddpm3d.LatentDiffusion (text-to-video) or LatentVisualDiffusion (image-to-video).
enum class LVDMTarget { None = 0, LatentDiffusion, LatentVisualDiffusion };

/// The released model a config or checkpoint belongs to. VideoCrafter and DynamiCrafter share lvdm's class
/// names but not their constructor keys (use_scale vs use_dynamic_rescale, cond_img_config vs
/// img_cond_stage_config, fps_cond vs fs_condition), so the family also says which code base's
/// semantics apply.
enum class LVDMFamily {
    None = 0,
    VideoCrafter1T2V,  // Text2Video-512 / -1024: temporal attention with relative positions, no temporal convs
    VideoCrafter2,     // temporal convs, no relative positions, fps conditioning
    VideoCrafter1I2V,  // Image2Video-512: VideoCrafter2's UNet + image cross-attention, 16 image tokens
    DynamiCrafter,     // 8-channel hybrid conditioning, 16 image tokens per frame, frame-stride/fps input
};

/// model.params.conditioning_key: how the UNet receives its conditions.
enum class LVDMConditioning { None = 0, CrossAttn, Hybrid };

/// model.params.uncond_type: the negative branch of classifier-free guidance.
enum class LVDMUncondType { None = 0, EmptySeq, ZeroEmbed };

/// What the UNet's frame-rate input means (VideoCrafter `fps_cond` is frames per second; DynamiCrafter
/// `fs_condition` follows `fps_condition_type`: 'fs' = frame stride (DynamiCrafter 256), 'fps' = fps).
enum class LVDMFrameRateInput { None = 0, Fps, FrameStride };

const char* to_string(LVDMFamily family) noexcept;
const char* to_string(LVDMFrameRateInput input) noexcept;

/// The open_clip towers a config's cond_stage / img_cond_stage name (ViT-H-14 for every released model;
/// the goldens give their tiny sizes in an "open_clip" section).
struct OpenCLIPTowers {
    std::string arch;  // "ViT-H-14", or "golden" for a config's own open_clip section
    int64_t vocab_size = 49408;
    int64_t context_length = 77;
    int64_t text_width = 0, text_heads = 0, text_layers = 0;
    int64_t vision_width = 0, vision_heads = 0, vision_layers = 0;  // 0 when the config has no image branch
    int64_t vision_patch_size = 0, vision_image_size = 0, embed_dim = 0;
};

/// One LVDM model configuration (the `model` node of the YAML).
struct LVDMModelConfig {
    LVDMTarget target = LVDMTarget::None;
    LVDMFamily family = LVDMFamily::None;
    /// timesteps, betas (linear_start/end, zero-SNR rescale), parameterization (eps/v) and the latent rescale
    /// (VideoCrafter use_scale/scale_b, DynamiCrafter use_dynamic_rescale/base_scale).
    schedulers::LVDMDiffusionConfig diffusion;
    double scale_factor = 1.0;  // latent = scale_factor · first-stage latent (0.18215 in every released model)
    LVDMConditioning conditioning = LVDMConditioning::CrossAttn;
    LVDMUncondType uncond_type = LVDMUncondType::EmptySeq;
    std::vector<int64_t> image_size;  // latent [h, w] the model was trained at (pixels = 8x)
    int64_t channels = 0;             // latent channels
    int64_t temporal_length = 16;     // frames (unet_config.params.temporal_length)
    LVDMFrameRateInput frame_rate_input = LVDMFrameRateInput::None;
    int64_t default_fs = 0;    // DynamiCrafter's unet default_fs (0: none)
    bool perframe_ae = false;  // DynamiCrafter: run the autoencoder one frame at a time

    nlohmann::json unet_params;         // unet_config.params, as written
    nlohmann::json first_stage_params;  // first_stage_config.params (for models::AutoencoderKLConfig)
    std::string cond_stage_layer;       // "penultimate" | "last"
    OpenCLIPTowers open_clip;
    /// Image branch (LatentVisualDiffusion only): the open_clip image embedder's params and the Resampler's
    /// (DynamiCrafter: image_proj_stage_config.params; VideoCrafter i2v: the values its init_projector
    /// hard-codes, with video_length null).
    nlohmann::json img_cond_params;
    nlohmann::json image_proj_params;

    std::string source;  // file, preset id or "json"

    bool has_image_branch() const { return target == LVDMTarget::LatentVisualDiffusion; }

    /// Parses a config: the whole document ({model: {...}}) or its `model` node. Keys that change inference
    /// and are not implemented are UnsupportedModel; keys of training only are ignored; malformed values are
    /// ModelLoadFailed. `what` names the source in messages.
    static Expected<LVDMModelConfig> from_json(const nlohmann::json& config, const std::string& what);
};

/// Reads a config file: .yaml/.yml through io::read_yaml_file, anything else as (lenient) JSON.
Expected<LVDMModelConfig> read_lvdm_config(const std::string& path);

/// The ids of the built-in presets (resources/presets/*.json with an lvdm model), sorted.
std::vector<std::string> lvdm_preset_ids();
/// A built-in preset's configuration. InvalidRequest for an unknown id (the message lists the known ones).
Expected<LVDMModelConfig> lvdm_preset(const std::string& id);
/// A built-in preset's whole file (id, name, source, checkpoint, config).
Expected<nlohmann::json> lvdm_preset_document(const std::string& id);

/// What a checkpoint's tensors say about it.
struct LVDMDetection {
    LVDMFamily family = LVDMFamily::None;
    /// Built-in presets that fit the tensors, best first. DynamiCrafter 512 and 1024 have identical tensors;
    /// both are listed (512 first) and the caller picks by the repository / file name or --config.
    std::vector<std::string> presets;
    int64_t unet_in_channels = 0;       // 4 (text-to-video, VideoCrafter i2v) or 8 (DynamiCrafter)
    int64_t model_channels = 0;         // 320 in every released model
    int64_t context_dim = 0;            // 1024 (open_clip ViT-H-14)
    int64_t image_tokens = 0;           // image_proj_model.latents queries: 16 (VC i2v) or 256 (DC), 0 for t2v
    bool temporal_conv = false;         // "temopral_conv" blocks (VideoCrafter2, i2v, DynamiCrafter)
    bool relative_position = false;     // relative_position_k tables in the temporal attention (VideoCrafter1)
    bool frame_rate_embedding = false;  // fps_embedding (or DynamiCrafter 256's framestride_embed)
    /// DynamiCrafter 256's original key names: its loader renames model.diffusion_model.framestride_embed.* to
    /// fps_embedding.* (io::StateDictOptions::renames {"framestride_embed.", "fps_embedding."} after the prefix).
    bool framestride_embed_keys = false;
    bool learnable_image_scale = false;  // attn2.alpha (DynamiCrafter 256)
    std::string summary;                 // one line: what decided
};

/// Tells a VideoCrafter2 / VideoCrafter1 t2v / VideoCrafter1 i2v / DynamiCrafter checkpoint apart from its keys
/// and shapes (the state_dict's own names: model.diffusion_model.*, first_stage_model.*, ...). Any other model
/// (Stable Diffusion, Sana, a diffusers folder, an LVDM checkpoint with an unknown layout) is UnsupportedModel
/// with a message naming what it looks like.
Expected<LVDMDetection> detect_lvdm_model(const io::TensorMap& weights);

/// Checks that a configuration fits the checkpoint's tensors (UNet input channels and width, context width,
/// temporal convs, relative positions, frame-rate embedding, image tokens), so a wrong --config fails with a
/// message instead of a wall of state-dict mismatches. ModelLoadFailed naming the first disagreement.
Expected<void> check_lvdm_config_matches(const LVDMModelConfig& config, const LVDMDetection& detection);

}  // namespace engine::pipelines
