// Ref: Doubiiu/DynamiCrafter lvdm/modules/encoders/resampler.py@c453369 Resampler, PerceiverAttention, FeedForward
// Ref: AILab-CVC/VideoCrafter lvdm/modules/encoders/ip_resampler.py@11bcd76 Resampler (the same without video_length)
// The image-token Resampler (a perceiver) that turns CLIP vision tokens into the image context of the UNet's
// image cross-attention: VideoCrafter-i2v (16 queries) and DynamiCrafter (frame-wise: 16 queries × 16 frames).
//   x = proj_in(image_tokens)                                         // [B, N, dim]
//   lat = latents (learned, [1, Q, dim]) repeated over the batch     // Q = num_queries (× video_length)
//   per layer: lat += attn(LN1(x), LN2(lat)) ; lat += FF(lat)       // keys/values over cat[x, lat]
//   out = norm_out(proj_out(lat))                                     // [B, Q, output_dim]
//
//     auto config = core::unwrap(models::ImageResamplerConfig::from_json(yaml_image_proj_stage_params));
//     auto resampler = core::unwrap(models::load_image_resampler(weights, config, {at::kFloat, at::kCPU}));
//     at::Tensor image_context = resampler->forward(clip_tokens);   // [B, 257, 1280] -> [B, 256, 1024] (DC)
//
// Thread safety: a loaded module is read-only during forward(); the engine uses it from its worker thread.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "models/common/plain_layers.h"

namespace engine::models {

/// The Resampler's constructor arguments (the YAML's image_proj_stage_config.params). Defaults are the Python
/// signature's; the real VideoCrafter-i2v / DynamiCrafter values are dim 1024, depth 4, dim_head 64, heads 12,
/// num_queries 16, embedding_dim 1280, output_dim 1024, ff_mult 4 (DynamiCrafter: video_length 16).
struct ImageResamplerConfig {
    std::int64_t dim = 1024;
    std::int64_t depth = 8;
    std::int64_t dim_head = 64;
    std::int64_t heads = 16;
    std::int64_t num_queries = 8;  // per frame when video_length is set
    std::int64_t embedding_dim = 768;
    std::int64_t output_dim = 1024;
    std::int64_t ff_mult = 4;
    std::optional<std::int64_t> video_length;  // DynamiCrafter's frame-wise queries; nullopt: one set (VideoCrafter)
    double layer_norm_eps = 1e-5;              // nn.LayerNorm's default

    /// Learned queries in all: num_queries × video_length (or num_queries).
    std::int64_t num_latents() const { return num_queries * video_length.value_or(1); }
    /// heads × dim_head (768 for the real models, not dim).
    std::int64_t inner_dim() const { return heads * dim_head; }

    /// The Resampler params object (dim, depth, dim_head, heads, num_queries, embedding_dim, output_dim, ff_mult,
    /// video_length; absent keys take the Python defaults, video_length null = VideoCrafter's single set).
    static Expected<ImageResamplerConfig> from_json(const nlohmann::json& params);
};

/// open_flamingo-style PerceiverAttention. Keys: norm1.*, norm2.*, to_q.weight, to_kv.weight, to_out.weight.
class PerceiverAttentionImpl : public torch::nn::Module {
public:
    PerceiverAttentionImpl(const ImageResamplerConfig& config, const at::TensorOptions& options);
    /// x [B, N, dim] (projected image tokens), latents [B, Q, dim] -> [B, Q, dim]. Keys and values come from
    /// cat[norm1(x), norm2(latents)]; softmax((q·s)(k·s)ᵀ) v with s = dim_head^-1/4, i.e. scale 1/sqrt(dim_head)
    /// (engine::core::scaled_dot_product_attention, no mask).
    at::Tensor forward(const at::Tensor& x, const at::Tensor& latents);

    PlainLayerNorm norm1{nullptr};  // of the image tokens
    PlainLayerNorm norm2{nullptr};  // of the latents
    PlainLinear to_q{nullptr};      // [inner, dim], no bias
    PlainLinear to_kv{nullptr};     // [2 inner, dim]: k rows, then v rows; no bias
    PlainLinear to_out{nullptr};    // [dim, inner], no bias

private:
    std::int64_t heads_, dim_head_;
};
TORCH_MODULE(PerceiverAttention);

/// The FeedForward of the Resampler: nn.Sequential(LayerNorm, Linear(no bias), GELU, Linear(no bias)).
/// Keys: 0.{weight,bias}, 1.weight, 3.weight.
class ResamplerFeedForwardImpl : public torch::nn::Module {
public:
    ResamplerFeedForwardImpl(const ImageResamplerConfig& config, const at::TensorOptions& options);
    /// [B, Q, dim] -> [B, Q, dim]
    at::Tensor forward(const at::Tensor& x);

    PlainLayerNorm norm{nullptr};  // key 0
    PlainLinear fc1{nullptr};      // key 1: [dim · ff_mult, dim]
    PlainLinear fc2{nullptr};      // key 3: [dim, dim · ff_mult]
};
TORCH_MODULE(ResamplerFeedForward);

/// The Resampler. Registration names are the checkpoint keys after `image_proj_model.`: latents,
/// proj_in.{weight,bias}, proj_out.{weight,bias}, norm_out.{weight,bias}, layers.N.0.* (PerceiverAttention),
/// layers.N.1.* (FeedForward).
class ImageResamplerImpl : public torch::nn::Module {
public:
    /// Parameters are allocated with `options` and left uninitialised: load weights (load_image_resampler).
    explicit ImageResamplerImpl(const ImageResamplerConfig& config, const at::TensorOptions& options = {});

    /// image_tokens [B, N, embedding_dim] (the CLIP vision tokens; N = 257 for ViT-H-14) ->
    /// [B, num_latents, output_dim] in the model dtype. Bad inputs throw core::EngineError(InvalidRequest).
    at::Tensor forward(const at::Tensor& image_tokens);

    /// dtype and device of the parameters.
    at::TensorOptions options() const;

    ImageResamplerConfig config;
    at::Tensor latents;  // [1, num_latents, dim]
    PlainLinear proj_in{nullptr};
    PlainLinear proj_out{nullptr};
    PlainLayerNorm norm_out{nullptr};
    torch::nn::ModuleList layers{nullptr};  // layers.N = ModuleList[PerceiverAttention, FeedForward]

private:
    std::vector<PerceiverAttention> attentions_;
    std::vector<ResamplerFeedForward> feed_forwards_;
};
TORCH_MODULE(ImageResampler);

struct ImageResamplerLoadOptions {
    at::ScalarType dtype = at::kFloat;
    c10::Device device = c10::Device(c10::kCPU);
};

/// The key prefix of the Resampler in VideoCrafter-i2v / DynamiCrafter checkpoints.
inline constexpr const char* kImageResamplerPrefix = "image_proj_model.";

/// Builds the Resampler and loads it strictly from the keys of `weights` under `prefix`. ModelLoadFailed when the
/// weights do not fit, e.g. a frame-wise (DynamiCrafter) checkpoint with a config without video_length.
Expected<ImageResampler> load_image_resampler(const io::TensorMap& weights, const ImageResamplerConfig& config,
                                              const ImageResamplerLoadOptions& options = {},
                                              const std::string& prefix = kImageResamplerPrefix);

}  // namespace engine::models
