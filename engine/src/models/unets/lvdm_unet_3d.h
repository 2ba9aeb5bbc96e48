// Ref: AILab-CVC/VideoCrafter lvdm/modules/networks/openaimodel3d.py@11bcd76 UNetModel, ResBlock,
//      TemporalConvBlock, Downsample, Upsample, TimestepEmbedSequential
// Ref: Doubiiu/DynamiCrafter lvdm/modules/networks/openaimodel3d.py@c453369 UNetModel (fs conditioning, per-frame
//      image tokens, hybrid 8-channel input)
// The LVDM video UNet of VideoCrafter1/2, VideoCrafter-i2v and DynamiCrafter, computing what LVDM computes.
// Registration names are the LVDM checkpoint keys after "model.diffusion_model." (including the upstream spelling
// "temopral_conv").
//
//     auto config = core::unwrap(models::LVDMUNet3DConfig::from_json(yaml["model"]["params"]["unet_config"]));
//     auto unet = core::unwrap(models::load_lvdm_unet_3d(config, checkpoint_tensors));  // strict
//     models::LVDMUNet3DConditioning cond;
//     cond.fps = at::full({B}, 8, at::kLong);                 // VideoCrafter (fps_cond); DynamiCrafter: cond.fs
//     at::Tensor eps = unet->forward(x, t, context, cond);    // x [B, C, F, H, W], context [B, L, D]
//
// DynamiCrafter's hybrid conditioning is the caller's: x = cat([noisy latent, first-frame latent], dim 1) (8
// channels); context = [77 text tokens, image tokens]. With exactly 77 + 16·F tokens each frame gets its own 16
// image tokens (LVDM hard-codes this test); otherwise every frame sees the whole context.
// Thread safety: a module is used by one thread at a time (the engine worker).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "models/common/plain_layers.h"
#include "models/unets/lvdm_attention.h"

namespace engine::models {

/// Which LVDM code base a UNet config is written for. Both define lvdm.modules.networks.openaimodel3d.UNetModel,
/// with different keys and a few different computations.
enum class LVDMVariant {
    None = 0,
    VideoCrafter,   // AILab-CVC/VideoCrafter: fps_cond, use_image_attention, temporal_transformer_depth
    DynamiCrafter,  // Doubiiu/DynamiCrafter: fs_condition, default_fs, image_cross_attention(_scale_learnable)
};
const char* to_string(LVDMVariant variant) noexcept;

/// UNetModel's constructor arguments (the YAML's unet_config.params). Absent keys take LVDM's defaults.
struct LVDMUNet3DConfig {
    /// Detected from the keys: DynamiCrafter-only keys → DynamiCrafter; otherwise VideoCrafter (a config with
    /// neither kind of key, e.g. VideoCrafter1 t2v 512, computes the same either way for a 77-token context).
    LVDMVariant variant = LVDMVariant::VideoCrafter;
    int64_t in_channels = 4;  // DynamiCrafter: 8 (noisy latent + first-frame latent)
    int64_t out_channels = 4;
    int64_t model_channels = 320;
    int64_t num_res_blocks = 2;
    std::vector<int64_t> attention_resolutions = {4, 2, 1};  // downsampling factors with attention
    std::vector<int64_t> channel_mult = {1, 2, 4, 8};
    double dropout = 0.0;    // training only
    int64_t num_heads = -1;  // used when num_head_channels is -1
    int64_t num_head_channels = -1;
    int64_t transformer_depth = 1;
    int64_t temporal_transformer_depth = 1;  // VideoCrafter only (DynamiCrafter uses transformer_depth)
    int64_t context_dim = 1024;
    bool use_linear = false;     // Linear proj_in/proj_out in the transformers (init_attn always uses Conv1d)
    bool temporal_conv = false;  // ResBlocks carry a TemporalConvBlock ("temopral_conv")
    bool temporal_attention = true;
    bool use_relative_position = true;  // VideoCrafter1: relative position embeddings in temporal attention
    bool use_causal_attention = false;
    std::optional<int64_t> temporal_length;  // needed by relative positions and causal masks
    bool addition_attention = false;         // init_attn after the input conv
    bool image_cross_attention = false;      // VC use_image_attention / DC image_cross_attention: to_k_ip, to_v_ip
    bool image_cross_attention_scale_learnable = false;  // DC-256: attn2.alpha
    bool fps_condition = false;                          // VC fps_cond / DC fs_condition: fps_embedding
    /// The fps / frame stride used when forward() gets none: VideoCrafter's forward default fps=16, DynamiCrafter's
    /// default_fs (constructor default 4).
    int64_t default_fps = 16;

    /// time_embed width: 4 · model_channels.
    int64_t time_embed_dim() const { return 4 * model_channels; }
    /// 2^(levels - 1): latent height and width must be multiples of it.
    int64_t spatial_divisor() const;

    /// Parses unet_config.params, or a {"target": "...UNetModel", "params": {...}} object. A key LVDM knows but
    /// whose value Kinora does not implement (use_scale_shift_norm, resblock_updown, tempspatial_aware, dims != 2,
    /// conv_resample false, temporal cross-attention) and any unknown key are UnsupportedModel errors naming the key;
    /// wrong types and impossible values are ModelLoadFailed.
    static Expected<LVDMUNet3DConfig> from_json(const nlohmann::json& json);
};

/// Optional inputs of LVDMUNet3D::forward. Both are ignored by a model without an fps embedding (VideoCrafter1
/// t2v 512); a model with one takes only its own variant's field.
struct LVDMUNet3DConditioning {
    /// VideoCrafter (fps_cond): frames per second, [B] or a scalar; nullopt → config.default_fps (16).
    std::optional<at::Tensor> fps;
    /// DynamiCrafter (fs_condition): the frame stride (or fps, as the DC-512/1024 pipelines pass), [B] or a scalar;
    /// nullopt → config.default_fps (default_fs).
    std::optional<at::Tensor> fs;
};

/// ModelScope's TemporalConvBlock: x + conv4(conv3(conv2(conv1(x)))), each GroupNorm(32, over all frames) → SiLU →
/// [dropout] → Conv3d (3, 1, 1) with zero padding in time. Keys: conv1.{0,2}, conv{2,3,4}.{0,3}.
class LVDMTemporalConvBlockImpl : public torch::nn::Module {
public:
    explicit LVDMTemporalConvBlockImpl(int64_t channels, const at::TensorOptions& options = {});
    /// x: [B·F, C, H, W] → [B·F, C, H, W].
    at::Tensor forward(const at::Tensor& x, int64_t batch);

    torch::nn::ModuleList conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};
    PlainGroupNorm norms[4] = {nullptr, nullptr, nullptr, nullptr};
    PlainConv convs[4] = {nullptr, nullptr, nullptr, nullptr};  // Conv3d (3, 1, 1)
};
TORCH_MODULE(LVDMTemporalConvBlock);

/// LVDM ResBlock (use_scale_shift_norm off, no up/down): in_layers (GroupNorm32, SiLU, 3×3 conv), + emb_layers
/// (SiLU, Linear), out_layers (GroupNorm32, SiLU, dropout, 3×3 conv), + skip_connection (1×1 conv when channels
/// change), then the optional TemporalConvBlock. Keys: in_layers.{0,2}, emb_layers.1, out_layers.{0,3},
/// skip_connection, temopral_conv.conv{1..4}.
class LVDMResBlockImpl : public torch::nn::Module {
public:
    LVDMResBlockImpl(int64_t channels, int64_t emb_channels, int64_t out_channels, bool temporal_conv,
                     const at::TensorOptions& options = {});
    /// x: [B·F, C, H, W], emb: [B·F, E] → [B·F, out_channels, H, W].
    at::Tensor forward(const at::Tensor& x, const at::Tensor& emb, int64_t batch);

    torch::nn::ModuleList in_layers{nullptr};
    torch::nn::ModuleList emb_layers{nullptr};
    torch::nn::ModuleList out_layers{nullptr};
    PlainConv skip_connection{nullptr};            // only when out_channels != channels
    LVDMTemporalConvBlock temopral_conv{nullptr};  // upstream spelling (it is the checkpoint key)
    PlainGroupNorm in_norm{nullptr};
    PlainConv in_conv{nullptr};
    PlainLinear emb_linear{nullptr};
    PlainGroupNorm out_norm{nullptr};
    PlainConv out_conv{nullptr};
};
TORCH_MODULE(LVDMResBlock);

/// Downsample with conv_resample: 3×3 conv, stride 2, padding 1. Key: op.
class LVDMDownsampleImpl : public torch::nn::Module {
public:
    explicit LVDMDownsampleImpl(int64_t channels, const at::TensorOptions& options = {});
    at::Tensor forward(const at::Tensor& x);
    PlainConv op{nullptr};
};
TORCH_MODULE(LVDMDownsample);

/// Upsample with conv_resample: nearest ×2, then 3×3 conv, padding 1. Key: conv.
class LVDMUpsampleImpl : public torch::nn::Module {
public:
    explicit LVDMUpsampleImpl(int64_t channels, const at::TensorOptions& options = {});
    at::Tensor forward(const at::Tensor& x);
    PlainConv conv{nullptr};
};
TORCH_MODULE(LVDMUpsample);

/// lvdm.modules.networks.openaimodel3d.UNetModel.
class LVDMUNet3DImpl : public torch::nn::Module {
public:
    /// Parameters are allocated with `options` (dtype, device) and left uninitialised: load weights into them
    /// (load_lvdm_unet_3d does) before use. No float32 CPU init of 1.4 B parameters for a half-precision GPU model.
    explicit LVDMUNet3DImpl(const LVDMUNet3DConfig& config, const at::TensorOptions& options = {});

    /// x [B, in_channels, F, H, W] (H, W multiples of config.spatial_divisor()), timesteps [B] (or a scalar),
    /// context [B, L, context_dim] → [B, out_channels, F, H, W] (eps or v, as the checkpoint was trained) in the
    /// model's dtype. Inputs are cast to the model's dtype; the sinusoidal embeddings are computed in float32. Bad
    /// shapes or conditioning throw core::EngineError (InvalidRequest).
    at::Tensor forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                       const LVDMUNet3DConditioning& conditioning = {});

    /// The dtype of the parameters (the activation dtype of forward).
    at::ScalarType dtype() const;
    c10::Device device() const;
    /// Channels-last 2-D convolutions (models/common/memory_format.h) for the per-frame [(B·F), C, H, W] activations:
    /// converts the 2-D conv kernels and the folded input; the result stays contiguous [B, C, F, H, W].
    void set_channels_last(bool on);
    bool channels_last() const { return channels_last_; }

    LVDMUNet3DConfig config;
    torch::nn::ModuleList time_embed{nullptr};     // [0] Linear, [1] SiLU, [2] Linear
    torch::nn::ModuleList fps_embedding{nullptr};  // same, with fps_condition
    torch::nn::ModuleList input_blocks{nullptr};   // each a ModuleList ("TimestepEmbedSequential")
    torch::nn::ModuleList init_attn{nullptr};      // [0] TemporalTransformer, with addition_attention
    torch::nn::ModuleList middle_block{nullptr};
    torch::nn::ModuleList output_blocks{nullptr};
    torch::nn::ModuleList out{nullptr};  // [0] GroupNorm32, [1] SiLU, [2] Conv2d

private:
    at::Tensor embed_timesteps(PlainLinearImpl& linear_in, PlainLinearImpl& linear_out, const at::Tensor& values);
    at::Tensor run_sequential(const torch::nn::ModuleListImpl& layers, at::Tensor h, const at::Tensor& emb,
                              const at::Tensor& context, int64_t batch);

    PlainLinear time_embed_in_{nullptr};  // == time_embed[0], [2]
    PlainLinear time_embed_out_{nullptr};
    PlainLinear fps_embed_in_{nullptr};  // == fps_embedding[0], [2]
    PlainLinear fps_embed_out_{nullptr};
    PlainGroupNorm out_norm_{nullptr};  // == out[0]
    PlainConv out_conv_{nullptr};       // == out[2]
    bool channels_last_ = false;
};
TORCH_MODULE(LVDMUNet3D);

struct LVDMUNet3DLoadOptions {
    at::ScalarType dtype = at::kFloat;
    c10::Device device = c10::Device(c10::kCPU);
    /// Keys of the UNet in the checkpoint start with this; others are ignored.
    std::string prefix = "model.diffusion_model.";
    /// Names the weights in error messages (a file path).
    std::string source = "checkpoint";
};

/// Builds the UNet from config and loads it strictly from weights (every module key must be present with its
/// shape, no other key under the prefix). DynamiCrafter-256's "framestride_embed" is read as "fps_embedding", as
/// DynamiCrafter's loader renames it. Errors name the keys.
Expected<LVDMUNet3D> load_lvdm_unet_3d(const LVDMUNet3DConfig& config, const io::TensorMap& weights,
                                       const LVDMUNet3DLoadOptions& options = {});

}  // namespace engine::models
