// Ref: AILab-CVC/VideoCrafter lvdm/modules/encoders/condition.py@11bcd76 FrozenOpenCLIPImageEmbedderV2
//      (identical in Doubiiu/DynamiCrafter@c453369)
// Ref: mlfoundations/open_clip src/open_clip/transformer.py@v2.22.0 VisionTransformer
// Ref: kornia/kornia kornia/geometry/transform/affwarp.py@b4f5a78 resize; kornia/filters/gaussian.py gaussian_blur2d;
//      kornia/filters/kernels.py gaussian; kornia/filters/filter.py filter2d, filter2d_separable
// The image encoder of VideoCrafter-i2v / DynamiCrafter: open_clip's vision tower as FrozenOpenCLIPImageEmbedderV2
// runs it, returning every token (class token + patches) after the last block, without ln_post or proj.
//   x = kornia resize to 224×224 (bicubic, align_corners, Gaussian antialias when shrinking)   // [B, 3, 224, 224]
//   x = ((x + 1) / 2 - mean) / std                                                             // CLIP normalisation
//   x = conv1(x) -> [B, grid², W]; prepend class_embedding; + positional_embedding; ln_pre
//   x = resblocks(x)                                                                            // [B, 257, W]
//
//     auto config = core::unwrap(models::CLIPVisionConfig::from_embedder_params(yaml_img_cond_stage_params));
//     auto vision = core::unwrap(models::load_clip_vision_encoder(weights, config, {at::kFloat, at::kCPU}));
//     at::Tensor tokens = vision->encode(image);   // image [B, 3, H, W] in [-1, 1] -> [B, 257, 1280]
//
// Thread safety: a loaded encoder is read-only during forward(); the engine uses it from its worker thread.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "io/safetensors.h"
#include "models/text_encoders/open_clip_text.h"  // OpenCLIPLoadOptions
#include "models/text_encoders/open_clip_transformer.h"

namespace engine::models {

/// open_clip's CLIPVisionCfg fields that shape the weights or the token math, plus the embedder's preprocessing.
/// Defaults are open_clip's CLIPVisionCfg defaults; vit_h_14() gives the real DynamiCrafter sizes.
struct CLIPVisionConfig {
    std::int64_t image_size = 224;
    std::int64_t patch_size = 16;
    std::int64_t width = 768;
    std::int64_t layers = 12;
    std::int64_t heads = 12;  // open_clip: width / head_width (head_width 64 by default)
    double mlp_ratio = 4.0;
    double layer_norm_eps = 1e-5;
    bool antialias = true;  // FrozenOpenCLIPImageEmbedderV2(antialias=True)
    std::array<double, 3> norm_mean{0.48145466, 0.4578275, 0.40821073};  // CLIP's (OpenAI) RGB mean
    std::array<double, 3> norm_std{0.26862954, 0.26130258, 0.27577711};  // and std

    /// Patches per side (image_size / patch_size) and tokens (grid² + 1 class token).
    std::int64_t grid_size() const { return image_size / patch_size; }
    std::int64_t num_tokens() const { return grid_size() * grid_size() + 1; }
    /// The transformer sizes.
    OpenCLIPTransformerOptions transformer_options() const;

    /// ViT-H-14's vision tower: 224 px, patch 14, width 1280, 32 layers, head_width 80 (16 heads).
    static CLIPVisionConfig vit_h_14();
    /// An open_clip architecture name; only "ViT-H-14" is known (UnsupportedModel otherwise).
    static Expected<CLIPVisionConfig> from_arch(const std::string& arch);
    /// A vision tower section: open_clip's "vision_cfg" (image_size, patch_size, width, layers, head_width,
    /// mlp_ratio) or the golden configs' "open_clip"."vision" section (which gives "heads" instead of head_width).
    /// Keys that change the token math in ways not implemented (timm towers, input patchnorm, LayerScale, no ln_pre,
    /// non-learned positions, QuickGELU) are UnsupportedModel errors; pooling / projection keys are ignored.
    static Expected<CLIPVisionConfig> from_json(const nlohmann::json& tower);
    /// The params of the YAML's img_cond_stage_config (FrozenOpenCLIPImageEmbedderV2: arch, antialias, layer; the
    /// defaults of the Python class). `tower`, when given, replaces the arch's sizes (tiny golden configs).
    static Expected<CLIPVisionConfig> from_embedder_params(const nlohmann::json& params,
                                                           const nlohmann::json* tower = nullptr);
};

/// kornia.geometry.resize(image, (height, width), interpolation="bicubic", align_corners=True, antialias):
/// when antialias and the image shrinks along some axis (factor f = in / out > 1 on either side), it is first
/// blurred with a separable Gaussian (per axis σ = max((f - 1) / 2, 0.001), kernel size int(max(4σ, 3)) made odd,
/// float32 taps normalised to sum 1, reflect padding, x then y), then bicubic-interpolated (A = -0.75, corners
/// aligned). image: [B, C, H, W] floating (H, W >= 2) -> [B, C, height, width] in the same dtype.
at::Tensor kornia_resize_bicubic(const at::Tensor& image, std::int64_t height, std::int64_t width, bool antialias);

/// open_clip's VisionTransformer as FrozenOpenCLIPImageEmbedderV2 runs it. Registration names are the checkpoint
/// keys after `embedder.model.visual.`: conv1.weight, class_embedding, positional_embedding, ln_pre.*,
/// transformer.resblocks.N.* (ln_post and proj are in the checkpoint but unused, and skipped at load).
class CLIPVisionEncoderImpl : public torch::nn::Module {
public:
    /// Parameters are allocated with `options` (dtype, device) and left uninitialised: load weights into them
    /// (load_clip_vision_encoder does) before use.
    explicit CLIPVisionEncoderImpl(const CLIPVisionConfig& config, const at::TensorOptions& options = {});

    /// FrozenOpenCLIPImageEmbedderV2.preprocess: image [B, 3, H, W] in [-1, 1] (any size, any float dtype) ->
    /// pixel values [B, 3, image_size, image_size], float32, on the model device. The resize runs in float32.
    at::Tensor preprocess(const at::Tensor& image) const;
    /// The tower on preprocessed pixels [B, 3, image_size, image_size] -> tokens [B, num_tokens, width] in the
    /// model dtype (no ln_post, no projection).
    at::Tensor forward(const at::Tensor& pixel_values);
    /// preprocess, then forward: image [B, 3, H, W] in [-1, 1] -> [B, num_tokens, width].
    at::Tensor encode(const at::Tensor& image);

    /// dtype and device of the parameters.
    at::TensorOptions options() const;

    CLIPVisionConfig config;
    at::Tensor conv1_weight;          // key conv1.weight: [W, 3, P, P] (no bias)
    at::Tensor class_embedding;       // [W]
    at::Tensor positional_embedding;  // [grid² + 1, W]
    PlainLayerNorm ln_pre{nullptr};
    OpenCLIPTransformer transformer{nullptr};
};
TORCH_MODULE(CLIPVisionEncoder);

/// The key prefix of the vision tower in DynamiCrafter / VideoCrafter-i2v checkpoints.
inline constexpr const char* kCLIPVisionPrefix = "embedder.model.visual.";

/// Builds the encoder and loads it strictly from the keys of `weights` under `prefix` (ln_post.* and proj are
/// skipped as unused). ModelLoadFailed when the weights do not fit.
Expected<CLIPVisionEncoder> load_clip_vision_encoder(const io::TensorMap& weights, const CLIPVisionConfig& config,
                                                     const OpenCLIPLoadOptions& options = {},
                                                     const std::string& prefix = kCLIPVisionPrefix);

}  // namespace engine::models
