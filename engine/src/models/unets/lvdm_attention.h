// Ref: AILab-CVC/VideoCrafter lvdm/modules/attention.py@11bcd76 RelativePosition, CrossAttention,
//      BasicTransformerBlock, SpatialTransformer, TemporalTransformer
// Ref: Doubiiu/DynamiCrafter lvdm/modules/attention.py@c453369 (same classes: learnable image scale `alpha`,
//      text-only cross-attention keeps the first 77 tokens, causal mask sliced to the frame count)
// The attention blocks of the LVDM video UNet (VideoCrafter1/2, VideoCrafter-i2v, DynamiCrafter). Registration
// names are the LVDM checkpoint keys. Activations are laid out per frame, [(B·F), C, H, W], as in LVDM; the
// temporal transformer regroups them into sequences over frames itself.
// Thread safety: a module is used by one thread at a time (the engine worker).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>
#include <optional>

#include "models/common/feed_forward.h"
#include "models/common/plain_layers.h"

namespace engine::models {

// Every module here allocates its parameters uninitialised with the TensorOptions it is given (dtype, device):
// loading fills them.

/// LVDM's text context length: cross-attention context = 77 text tokens, then image tokens.
constexpr int64_t kLVDMTextContextLength = 77;

/// Shaw-style relative position embeddings over frames (VideoCrafter1). Key: embeddings_table
/// [2·max_relative_position + 1, num_units].
class LVDMRelativePositionImpl : public torch::nn::Module {
public:
    LVDMRelativePositionImpl(int64_t num_units, int64_t max_relative_position, const at::TensorOptions& options = {});
    /// E[i, j] = table[clamp(j - i, -m, m) + m]: [length_q, length_k, num_units].
    at::Tensor forward(int64_t length_q, int64_t length_k);

    int64_t max_relative_position = 0;
    at::Tensor embeddings_table;
};
TORCH_MODULE(LVDMRelativePosition);

struct LVDMAttentionOptions {
    int64_t query_dim = 0;
    std::optional<int64_t> context_dim;  // nullopt: self-attention (to_k / to_v read query_dim)
    int64_t heads = 8;
    int64_t dim_head = 64;
    /// Decoupled image cross-attention (to_k_ip, to_v_ip): context = [77 text tokens, image tokens], the two parts
    /// attended with separate softmaxes and summed: out = attn(text) + scale · attn(image).
    bool image_cross_attention = false;
    double image_cross_attention_scale = 1.0;
    bool image_scale_learnable = false;  // DynamiCrafter-256: scale · (tanh(alpha) + 1), key "alpha"
    /// DynamiCrafter: a cross-attention without image attention reads only the first 77 context tokens.
    bool text_only_context = false;
    /// Set: relative position embeddings relative_position_{k,v} with this maximum distance (temporal_length).
    std::optional<int64_t> relative_position;
};

/// LVDM CrossAttention: to_q, to_k, to_v (no bias), to_out.0 (bias), softmax(q kᵀ / sqrt(dim_head)) v per head.
class LVDMCrossAttentionImpl : public torch::nn::Module {
public:
    explicit LVDMCrossAttentionImpl(const LVDMAttentionOptions& options, const at::TensorOptions& tensor_options = {});

    /// x: [B, N, query_dim]; context: [B, L, context_dim] or nullopt (self-attention); mask: bool [N, L] (true =
    /// attend), shared by the batch, or nullopt → [B, N, query_dim].
    at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& context,
                       const std::optional<at::Tensor>& mask);

    LVDMAttentionOptions options;
    PlainLinear to_q{nullptr};
    PlainLinear to_k{nullptr};
    PlainLinear to_v{nullptr};
    torch::nn::ModuleList to_out{nullptr};  // [0]: Linear; [1]: dropout (no parameters)
    PlainLinear to_out_0{nullptr};          // == to_out[0]
    LVDMRelativePosition relative_position_k{nullptr};
    LVDMRelativePosition relative_position_v{nullptr};
    PlainLinear to_k_ip{nullptr};
    PlainLinear to_v_ip{nullptr};
    at::Tensor alpha;  // [] (image_scale_learnable only)

private:
    // softmax(q kᵀ·s + q E_kᵀ·s) (v + E_v), explicitly (the relative terms need the probabilities).
    at::Tensor relative_position_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                           const std::optional<at::Tensor>& mask);
};
TORCH_MODULE(LVDMCrossAttention);

/// LVDM BasicTransformerBlock: x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x).
/// Keys: attn1.*, ff.net.*, attn2.*, norm{1,2,3}.* (LayerNorm, eps 1e-5).
class LVDMTransformerBlockImpl : public torch::nn::Module {
public:
    /// attn1_options is the self-attention's; attn2_options the (cross-)attention's.
    LVDMTransformerBlockImpl(const LVDMAttentionOptions& attn1_options, const LVDMAttentionOptions& attn2_options,
                             const at::TensorOptions& tensor_options = {});
    /// x: [B, N, D]; context: [B, L, context_dim] or nullopt (attn2 is then self-attention); mask: bool [N, N]
    /// for both attentions or nullopt.
    at::Tensor forward(const at::Tensor& x, const std::optional<at::Tensor>& context,
                       const std::optional<at::Tensor>& mask);

    LVDMCrossAttention attn1{nullptr};
    FeedForward ff{nullptr};
    LVDMCrossAttention attn2{nullptr};
    PlainLayerNorm norm1{nullptr};  // weight and bias only: the block normalises with kernels::add_layer_norm
    PlainLayerNorm norm2{nullptr};
    PlainLayerNorm norm3{nullptr};
};
TORCH_MODULE(LVDMTransformerBlock);

struct LVDMSpatialTransformerOptions {
    int64_t in_channels = 0;
    int64_t heads = 8;
    int64_t dim_head = 64;
    int64_t depth = 1;
    int64_t context_dim = 0;
    bool use_linear = false;  // Linear proj_in / proj_out; else 1×1 Conv2d (same maths, other weight shapes)
    bool image_cross_attention = false;
    bool image_scale_learnable = false;
    bool text_only_context = false;
};

/// LVDM SpatialTransformer: per-frame attention over the H·W tokens plus cross-attention to the context.
/// Keys: norm.* (GroupNorm 32, eps 1e-6), proj_in.*, transformer_blocks.N.*, proj_out.*.
class LVDMSpatialTransformerImpl : public torch::nn::Module {
public:
    explicit LVDMSpatialTransformerImpl(const LVDMSpatialTransformerOptions& options,
                                        const at::TensorOptions& tensor_options = {});
    /// x: [N, C, H, W] (N = B·F); context: [N, L, context_dim] → [N, C, H, W].
    at::Tensor forward(const at::Tensor& x, const at::Tensor& context);

    LVDMSpatialTransformerOptions options;
    PlainGroupNorm norm{nullptr};
    PlainLinear proj_in_linear{nullptr};  // registered as "proj_in" with use_linear
    PlainConv proj_in_conv{nullptr};      // registered as "proj_in" without (1×1 Conv2d)
    torch::nn::ModuleList transformer_blocks{nullptr};
    PlainLinear proj_out_linear{nullptr};
    PlainConv proj_out_conv{nullptr};
};
TORCH_MODULE(LVDMSpatialTransformer);

/// How a temporal transformer builds its causal mask (all released configs have causal attention off).
enum class LVDMCausalMask {
    None = 0,
    FullLength,  // VideoCrafter: tril over temporal_length frames; the frame count must equal it
    Sliced,      // DynamiCrafter: tril over temporal_length frames sliced to the frame count (≤ temporal_length)
};

struct LVDMTemporalTransformerOptions {
    int64_t in_channels = 0;
    int64_t heads = 8;
    int64_t dim_head = 64;
    int64_t depth = 1;
    bool use_linear = false;                   // Linear proj_in / proj_out; else 1×1 Conv1d (init_attn)
    std::optional<int64_t> relative_position;  // max distance (temporal_length) → relative_position_{k,v}
    LVDMCausalMask causal = LVDMCausalMask::None;
    int64_t temporal_length = 0;  // for the causal mask
};

/// LVDM TemporalTransformer with only_self_att: GroupNorm over all frames of a video, then self-attention over the
/// frames at each spatial position (both attn1 and attn2 are self-attention). Keys: norm.*, proj_in.*,
/// transformer_blocks.N.*, proj_out.*.
class LVDMTemporalTransformerImpl : public torch::nn::Module {
public:
    explicit LVDMTemporalTransformerImpl(const LVDMTemporalTransformerOptions& options,
                                         const at::TensorOptions& tensor_options = {});
    /// x: [B·F, C, H, W] with the frames of each video consecutive; batch = B → [B·F, C, H, W].
    at::Tensor forward(const at::Tensor& x, int64_t batch);

    LVDMTemporalTransformerOptions options;
    PlainGroupNorm norm{nullptr};
    PlainLinear proj_in_linear{nullptr};
    PlainConv proj_in_conv{nullptr};  // 1×1 Conv1d
    torch::nn::ModuleList transformer_blocks{nullptr};
    PlainLinear proj_out_linear{nullptr};
    PlainConv proj_out_conv{nullptr};
};
TORCH_MODULE(LVDMTemporalTransformer);

}  // namespace engine::models
