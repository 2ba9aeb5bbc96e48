// Ref: huggingface/diffusers src/diffusers/models/embeddings.py@58eb52c0803e get_timestep_embedding,
//      get_2d_sincos_pos_embed, PatchEmbed, TimestepEmbedding, PixArtAlphaCombinedTimestepSizeEmbeddings,
//      PixArtAlphaTextProjection
// Embeddings shared by the models (the diffusers embeddings.py role).
#pragma once

#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <optional>

#include "models/common/plain_layers.h"

namespace engine::models {

/// Sinusoidal timestep embedding (diffusers get_timestep_embedding), always float32:
///   freq_i = exp(-ln(max_period) · i / (dim/2 - downscale_freq_shift)), i < dim/2
///   emb = [sin(scale · t · freq), cos(scale · t · freq)]  ([cos, sin] with flip_sin_to_cos), zero-padded if dim is
///   odd.
/// timesteps: [N] (any dtype; may be fractional) → [N, dim].
at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                              double downscale_freq_shift, double scale = 1.0, double max_period = 10000.0);

/// 2D sin-cos positional embedding (diffusers get_2d_sincos_pos_embed, output_type "pt") for a grid_h × grid_w
/// token grid in row-major (h, w) order: [grid_h · grid_w, embed_dim], float32.
///   h_i = i / (grid_h / base_size) / interpolation_scale,  w_j likewise with grid_w
///   emb[i·grid_w + j] = [sin(w_j ω), cos(w_j ω), sin(h_i ω), cos(h_i ω)],  ω_k = 10000^(-k / (D/4)), k < D/4
/// The coordinates are float32, the sin/cos float64 (diffusers' default), then cast to float32.
/// embed_dim must be divisible by 4.
at::Tensor sincos_pos_embed_2d(int64_t embed_dim, int64_t grid_h, int64_t grid_w, double base_size,
                               double interpolation_scale, const c10::Device& device);

// The modules below allocate their parameters uninitialised with `options` (dtype, device): loading fills them.

/// diffusers TimestepEmbedding (act "silu", no cond_proj, no post_act): linear_2(SiLU(linear_1(x))).
class TimestepEmbeddingImpl : public torch::nn::Module {
public:
    TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim, const at::TensorOptions& options = {});
    at::Tensor forward(const at::Tensor& sample);

    PlainLinear linear_1{nullptr};
    PlainLinear linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

/// diffusers PixArtAlphaCombinedTimestepSizeEmbeddings with use_additional_conditions=False (Sana, PixArt-Σ):
/// timestep_embedder(timestep_embedding(t, 256, flip_sin_to_cos, shift 0).to(hidden_dtype)) → [B, D].
class PixArtAlphaCombinedTimestepSizeEmbeddingsImpl : public torch::nn::Module {
public:
    explicit PixArtAlphaCombinedTimestepSizeEmbeddingsImpl(int64_t embedding_dim,
                                                           const at::TensorOptions& options = {});
    at::Tensor forward(const at::Tensor& timestep, at::ScalarType hidden_dtype);

    TimestepEmbedding timestep_embedder{nullptr};
};
TORCH_MODULE(PixArtAlphaCombinedTimestepSizeEmbeddings);

/// diffusers PixArtAlphaTextProjection with act_fn "gelu_tanh": linear_2(GELU_tanh(linear_1(caption))).
class PixArtAlphaTextProjectionImpl : public torch::nn::Module {
public:
    PixArtAlphaTextProjectionImpl(int64_t in_features, int64_t hidden_size, const at::TensorOptions& options = {});
    at::Tensor forward(const at::Tensor& caption);

    PlainLinear linear_1{nullptr};
    PlainLinear linear_2{nullptr};
};
TORCH_MODULE(PixArtAlphaTextProjection);

struct PatchEmbedOptions {
    int64_t height = 224;  // the base latent size (sample_size); sets base_size = height / patch_size
    int64_t width = 224;
    int64_t patch_size = 16;
    int64_t in_channels = 3;
    int64_t embed_dim = 768;
    bool bias = true;
    /// nullopt: no positional embedding (pos_embed_type=None); else the sin-cos embedding's interpolation_scale.
    std::optional<double> interpolation_scale;
};

/// diffusers PatchEmbed without layer_norm and without pos_embed_max_size (SD3 cropping): Conv2d with
/// kernel = stride = patch_size, tokens in row-major (h, w) order, plus the 2D sin-cos embedding computed for the
/// actual grid when interpolation_scale is set. The embedding is a non-persistent buffer in diffusers, so it is
/// not registered here (not part of the checkpoint); it is cached per grid size and device.
class PatchEmbedImpl : public torch::nn::Module {
public:
    explicit PatchEmbedImpl(const PatchEmbedOptions& options, const at::TensorOptions& tensor_options = {});
    /// latent: [B, C, H, W] with H, W divisible by patch_size → [B, (H/p)·(W/p), embed_dim].
    at::Tensor forward(const at::Tensor& latent);

    PatchEmbedOptions options;
    PlainConv proj{nullptr};

private:
    at::Tensor pos_embed_cache_;  // [1, N, D] float32
    int64_t cache_grid_h_ = -1;
    int64_t cache_grid_w_ = -1;
};
TORCH_MODULE(PatchEmbed);

}  // namespace engine::models
