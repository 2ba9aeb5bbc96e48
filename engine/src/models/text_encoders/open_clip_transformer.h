// Ref: mlfoundations/open_clip src/open_clip/transformer.py@v2.22.0 LayerNorm, LayerNormFp32, ResidualAttentionBlock,
//      Transformer (with torch.nn.MultiheadAttention's parameter layout)
// The residual attention transformer shared by open_clip's text and vision towers (OpenCLIPTextEncoder,
// CLIPVisionEncoder). Pre-norm blocks: x += attn(ln_1(x)); x += mlp(ln_2(x)), mlp = c_proj(GELU(c_fc(x))).
//
// Layout: open_clip runs its blocks sequence-first ([L, B, W]); these run batch-first ([B, L, W]). The math is the
// same (nn.MultiheadAttention transposes to [B·H, L, D] internally either way).
//
// Parameters are allocated uninitialised (at::empty, models/common/plain_layers.h) in the requested dtype / device:
// strict loading fills every one, and a random float32 init of the ViT-H towers (~1 B parameters) would be waste.
// Layer norms of half / bfloat16 towers run in float32 (open_clip's LayerNormFp32).
//
// Thread safety: a loaded module is read-only during forward(); the engine uses it from its worker thread.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "models/common/plain_layers.h"

namespace engine::models {

class JsonConfigReader;

/// Refuses the keys of an open_clip tower config (CLIPTextCfg / CLIPVisionCfg) that would change these blocks and are
/// not implemented: LayerScale (ls_init_value), QuickGELU, act_kwargs, norm_kwargs. Throws as JsonConfigReader::fail.
void refuse_unsupported_block_options(const JsonConfigReader& r);

/// Sizes of an open_clip Transformer (open_clip's Transformer(width, layers, heads, mlp_ratio)).
struct OpenCLIPTransformerOptions {
    std::int64_t width = 0;
    std::int64_t layers = 0;
    std::int64_t heads = 0;
    double mlp_ratio = 4.0;        // MLP width = int(width · mlp_ratio)
    double layer_norm_eps = 1e-5;  // nn.LayerNorm's default

    /// The tower sizes of a config that has these five fields (the text and the vision tower configs).
    template <typename Config>
    static OpenCLIPTransformerOptions of(const Config& c) {
        OpenCLIPTransformerOptions o;
        o.width = c.width;
        o.layers = c.layers;
        o.heads = c.heads;
        o.mlp_ratio = c.mlp_ratio;
        o.layer_norm_eps = c.layer_norm_eps;
        return o;
    }
};

/// torch.nn.MultiheadAttention (self-attention, bias, no add_bias_kv / zero_attn) with its checkpoint layout: keys
/// in_proj_weight [3W, W], in_proj_bias [3W] (q, k, v stacked in that order), out_proj.{weight,bias}.
class OpenCLIPMultiheadAttentionImpl : public torch::nn::Module {
public:
    OpenCLIPMultiheadAttentionImpl(std::int64_t width, std::int64_t heads, const at::TensorOptions& options);
    /// x [B, L, W]; mask: bool [L, L] (true = may attend) or nullopt -> [B, L, W].
    /// softmax(q kᵀ / sqrt(W / heads) + mask) v per head (engine::core::scaled_dot_product_attention), then out_proj.
    at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& mask);

    at::Tensor in_proj_weight;
    at::Tensor in_proj_bias;
    PlainLinear out_proj{nullptr};

private:
    std::int64_t heads_;
};
TORCH_MODULE(OpenCLIPMultiheadAttention);

/// open_clip ResidualAttentionBlock (no LayerScale, no cross-attention: what ViT-H-14 uses). Keys: ln_1.*, attn.*,
/// ln_2.*, mlp.c_fc.*, mlp.c_proj.*.
class OpenCLIPResidualAttentionBlockImpl : public torch::nn::Module {
public:
    OpenCLIPResidualAttentionBlockImpl(const OpenCLIPTransformerOptions& options,
                                       const at::TensorOptions& tensor_options);
    /// x [B, L, W] -> [B, L, W].
    at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& mask);

    PlainLayerNorm ln_1{nullptr};
    OpenCLIPMultiheadAttention attn{nullptr};
    PlainLayerNorm ln_2{nullptr};
    std::shared_ptr<torch::nn::Module> mlp;  // holds c_fc, c_proj (nn.Sequential of c_fc, gelu, c_proj)
    PlainLinear c_fc{nullptr};               // == mlp.c_fc
    PlainLinear c_proj{nullptr};             // == mlp.c_proj
};
TORCH_MODULE(OpenCLIPResidualAttentionBlock);

/// open_clip Transformer: `resblocks.N.*`.
class OpenCLIPTransformerImpl : public torch::nn::Module {
public:
    OpenCLIPTransformerImpl(const OpenCLIPTransformerOptions& options, const at::TensorOptions& tensor_options);
    /// Runs the first `num_blocks` blocks (all when nullopt) over x [B, L, W] -> [B, L, W].
    at::Tensor forward(at::Tensor x, const std::optional<at::Tensor>& mask,
                       std::optional<std::int64_t> num_blocks = std::nullopt);

    OpenCLIPTransformerOptions options;
    torch::nn::ModuleList resblocks{nullptr};

private:
    std::vector<OpenCLIPResidualAttentionBlock> blocks_;
};
TORCH_MODULE(OpenCLIPTransformer);

}  // namespace engine::models
