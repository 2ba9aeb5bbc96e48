// Ref: huggingface/diffusers src/diffusers/models/embeddings.py@58eb52c0803e (see embeddings.h)
#include "models/common/embeddings.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>

#include <cmath>

namespace engine::models {

at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                              double downscale_freq_shift, double scale, double max_period) {
    TORCH_CHECK(timesteps.dim() == 1, "timestep_embedding: timesteps must be 1-D [N], got ", timesteps.sizes());
    const int64_t half_dim = dim / 2;
    const auto f32 = timesteps.options().dtype(at::kFloat);
    // The same float32 operations, in the same order, as diffusers.
    at::Tensor exponent = at::arange(0, half_dim, f32) * (-std::log(max_period));  // [half]
    exponent = exponent / (static_cast<double>(half_dim) - downscale_freq_shift);
    at::Tensor freqs = at::exp(exponent);                                         // [half]
    at::Tensor emb = timesteps.unsqueeze(1).to(at::kFloat) * freqs.unsqueeze(0);  // [N, half]
    if (scale != 1.0) {
        emb = emb * scale;
    }
    emb = flip_sin_to_cos ? at::cat({at::cos(emb), at::sin(emb)}, -1) : at::cat({at::sin(emb), at::cos(emb)}, -1);
    if (dim % 2 == 1) {
        emb = at::constant_pad_nd(emb, {0, 1, 0, 0}, 0.0);  // [N, dim]
    }
    return emb;
}

namespace {

// get_1d_sincos_pos_embed_from_grid in float64: pos [M] → [M, dim] = [sin(pos ω), cos(pos ω)].
at::Tensor sincos_1d(int64_t dim, const at::Tensor& pos) {
    const auto f64 = pos.options().dtype(at::kDouble);
    at::Tensor omega = at::arange(dim / 2, f64);
    omega = omega / (static_cast<double>(dim) / 2.0);
    omega = at::reciprocal(at::pow(10000.0, omega));                             // [dim/2]
    at::Tensor out = pos.reshape({-1, 1}).to(at::kDouble) * omega.unsqueeze(0);  // [M, dim/2]
    return at::cat({at::sin(out), at::cos(out)}, 1);                             // [M, dim]
}

}  // namespace

at::Tensor sincos_pos_embed_2d(int64_t embed_dim, int64_t grid_h, int64_t grid_w, double base_size,
                               double interpolation_scale, const c10::Device& device) {
    TORCH_CHECK(embed_dim % 4 == 0, "sincos_pos_embed_2d: embed_dim must be divisible by 4, got ", embed_dim);
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
    // Grid coordinates in float32, as diffusers computes them.
    at::Tensor coord_h = at::arange(grid_h, f32) / (static_cast<double>(grid_h) / base_size) / interpolation_scale;
    at::Tensor coord_w = at::arange(grid_w, f32) / (static_cast<double>(grid_w) / base_size) / interpolation_scale;
    // meshgrid(w, h, indexing="xy") flattened row-major: token i·grid_w + j sits at (h_i, w_j).
    at::Tensor pos_w = coord_w.unsqueeze(0).expand({grid_h, grid_w}).reshape({-1});  // [N]
    at::Tensor pos_h = coord_h.unsqueeze(1).expand({grid_h, grid_w}).reshape({-1});  // [N]
    // The first half encodes w, the second h (diffusers' grid[0] is the w grid).
    at::Tensor emb = at::cat({sincos_1d(embed_dim / 2, pos_w), sincos_1d(embed_dim / 2, pos_h)}, 1);  // [N, D]
    return emb.to(at::kFloat);
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim,
                                             const at::TensorOptions& options) {
    linear_1 = register_module("linear_1", PlainLinear(in_channels, time_embed_dim, true, options));
    linear_2 = register_module("linear_2", PlainLinear(time_embed_dim, time_embed_dim, true, options));
}

at::Tensor TimestepEmbeddingImpl::forward(const at::Tensor& sample) {
    return linear_2->forward(at::silu(linear_1->forward(sample)));
}

PixArtAlphaCombinedTimestepSizeEmbeddingsImpl::PixArtAlphaCombinedTimestepSizeEmbeddingsImpl(
    int64_t embedding_dim, const at::TensorOptions& options) {
    timestep_embedder = register_module("timestep_embedder", TimestepEmbedding(256, embedding_dim, options));
}

at::Tensor PixArtAlphaCombinedTimestepSizeEmbeddingsImpl::forward(const at::Tensor& timestep,
                                                                  at::ScalarType hidden_dtype) {
    at::Tensor proj = timestep_embedding(timestep, 256, /*flip_sin_to_cos=*/true, /*downscale_freq_shift=*/0.0);
    return timestep_embedder->forward(proj.to(hidden_dtype));  // [B, D]
}

PixArtAlphaTextProjectionImpl::PixArtAlphaTextProjectionImpl(int64_t in_features, int64_t hidden_size,
                                                             const at::TensorOptions& options) {
    linear_1 = register_module("linear_1", PlainLinear(in_features, hidden_size, true, options));
    linear_2 = register_module("linear_2", PlainLinear(hidden_size, hidden_size, true, options));
}

at::Tensor PixArtAlphaTextProjectionImpl::forward(const at::Tensor& caption) {
    return linear_2->forward(at::gelu(linear_1->forward(caption), "tanh"));
}

PatchEmbedImpl::PatchEmbedImpl(const PatchEmbedOptions& opts, const at::TensorOptions& tensor_options)
    : options(opts) {
    TORCH_CHECK(options.patch_size >= 1, "PatchEmbed: patch_size must be >= 1, got ", options.patch_size);
    proj = register_module("proj", PlainConv(options.in_channels, options.embed_dim,
                                             conv2d_geometry(options.patch_size, options.patch_size, 0, options.bias),
                                             tensor_options));
}

at::Tensor PatchEmbedImpl::forward(const at::Tensor& latent) {
    const int64_t grid_h = latent.size(-2) / options.patch_size;
    const int64_t grid_w = latent.size(-1) / options.patch_size;
    at::Tensor x = proj->forward(latent).flatten(2).transpose(1, 2);  // [B, N, D]
    if (!options.interpolation_scale) {
        return x;
    }
    if (!pos_embed_cache_.defined() || cache_grid_h_ != grid_h || cache_grid_w_ != grid_w ||
        pos_embed_cache_.device() != x.device()) {
        const double base_size = static_cast<double>(options.height / options.patch_size);
        pos_embed_cache_ =
            sincos_pos_embed_2d(options.embed_dim, grid_h, grid_w, base_size, *options.interpolation_scale, x.device())
                .unsqueeze(0);  // [1, N, D] float32
        cache_grid_h_ = grid_h;
        cache_grid_w_ = grid_w;
    }
    // Added in float32 (type promotion), then back to the activation dtype, as diffusers does.
    return (x + pos_embed_cache_).to(x.scalar_type());
}

}  // namespace engine::models
