// Ref: AILab-CVC/VideoCrafter lvdm/modules/attention.py@11bcd76; Doubiiu/DynamiCrafter
//      lvdm/modules/attention.py@c453369 (see lvdm_attention.h)
#include "models/unets/lvdm_attention.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/dropout.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "core/engine_error.h"
#include "core/torch_compat.h"
#include "kernels/ops.h"

namespace engine::models {
namespace {

constexpr int64_t kNumGroups = 32;
constexpr double kTransformerNormEps = 1e-6;  // SpatialTransformer / TemporalTransformer GroupNorm
constexpr double kLayerNormEps = 1e-5;        // nn.LayerNorm default

// The most negative finite value of a floating dtype (LVDM masks with -finfo(dtype).max).
double lowest_value(at::ScalarType dtype) {
    switch (dtype) {
        case at::kHalf:
            return -65504.0;
        case at::kBFloat16:
            return -3.3895313892515355e38;
        case at::kDouble:
            return std::numeric_limits<double>::lowest();
        default:
            return static_cast<double>(std::numeric_limits<float>::lowest());
    }
}

// [B, N, H·d] → [B, H, N, d] (a view).
at::Tensor split_heads(const at::Tensor& t, int64_t heads) {
    return t.view({t.size(0), t.size(1), heads, -1}).transpose(1, 2);
}

// [B, H, N, d] → [B, N, H·d].
at::Tensor merge_heads(const at::Tensor& t) {
    return t.transpose(1, 2).reshape({t.size(0), t.size(2), -1});
}

// A 1×1 convolution over channels, applied to channels-last tokens [..., C_in] → [..., C_out].
at::Tensor pointwise(const at::Tensor& tokens, const at::Tensor& conv_weight, const at::Tensor& conv_bias) {
    return at::linear(tokens, conv_weight.flatten(1), conv_bias);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// RelativePosition

LVDMRelativePositionImpl::LVDMRelativePositionImpl(int64_t num_units, int64_t max_relative_position_,
                                                   const at::TensorOptions& options)
    : max_relative_position(max_relative_position_) {
    TORCH_CHECK(max_relative_position >= 0, "RelativePosition: negative max distance ", max_relative_position);
    embeddings_table = register_parameter(
        "embeddings_table", at::empty({2 * max_relative_position + 1, num_units}, options.requires_grad(false)),
        /*requires_grad=*/false);
}

at::Tensor LVDMRelativePositionImpl::forward(int64_t length_q, int64_t length_k) {
    const auto options = at::TensorOptions().dtype(at::kLong).device(embeddings_table.device());
    at::Tensor distance = at::arange(length_k, options).unsqueeze(0) - at::arange(length_q, options).unsqueeze(1);
    distance = distance.clamp(-max_relative_position, max_relative_position) + max_relative_position;  // [Lq, Lk]
    return embeddings_table.index_select(0, distance.flatten()).view({length_q, length_k, -1});
}

// ---------------------------------------------------------------------------------------------------------------
// CrossAttention

LVDMCrossAttentionImpl::LVDMCrossAttentionImpl(const LVDMAttentionOptions& opts, const at::TensorOptions& tensor_options)
    : options(opts) {
    const int64_t inner = options.heads * options.dim_head;
    const int64_t context_dim = options.context_dim.value_or(options.query_dim);
    auto linear = [&tensor_options](int64_t in, int64_t out, bool bias) {
        return PlainLinear(in, out, bias, tensor_options);
    };
    to_q = register_module("to_q", linear(options.query_dim, inner, false));
    to_k = register_module("to_k", linear(context_dim, inner, false));
    to_v = register_module("to_v", linear(context_dim, inner, false));
    to_out_0 = linear(inner, options.query_dim, true);
    to_out = register_module("to_out", torch::nn::ModuleList(to_out_0, torch::nn::Dropout(0.0)));
    if (options.relative_position) {
        relative_position_k = register_module(
            "relative_position_k", LVDMRelativePosition(options.dim_head, *options.relative_position, tensor_options));
        relative_position_v = register_module(
            "relative_position_v", LVDMRelativePosition(options.dim_head, *options.relative_position, tensor_options));
    }
    if (options.image_cross_attention) {
        to_k_ip = register_module("to_k_ip", linear(context_dim, inner, false));
        to_v_ip = register_module("to_v_ip", linear(context_dim, inner, false));
        if (options.image_scale_learnable) {
            alpha = register_parameter("alpha", at::empty({}, tensor_options.requires_grad(false)), false);
        }
    }
}

at::Tensor LVDMCrossAttentionImpl::relative_position_attention(const at::Tensor& q, const at::Tensor& k,
                                                               const at::Tensor& v,
                                                               const std::optional<at::Tensor>& mask) {
    // q [B, H, Lq, d], k and v [B, H, Lk, d]; E_k, E_v [Lq, Lk, d]. Shaw et al.: the key-side embedding adds
    // q·E_k[i, j] to the logits, the value-side one adds Σ_j p_ij E_v[i, j] to the output.
    const double scale = 1.0 / std::sqrt(static_cast<double>(options.dim_head));
    const int64_t len_q = q.size(2);
    const int64_t len_k = k.size(2);
    at::Tensor sim = at::matmul(q, k.transpose(-2, -1)) * scale;  // [B, H, Lq, Lk]
    at::Tensor rel_k = relative_position_k->forward(len_q, len_k).to(q.scalar_type());
    sim = sim + at::einsum("bhid,ijd->bhij", {q, rel_k}) * scale;
    if (mask) {
        sim = sim.masked_fill(mask->logical_not(), lowest_value(sim.scalar_type()));
    }
    at::Tensor probs = at::softmax(sim, -1, at::kFloat).to(q.scalar_type());
    at::Tensor rel_v = relative_position_v->forward(len_q, len_k).to(q.scalar_type());
    return at::matmul(probs, v) + at::einsum("bhij,ijd->bhid", {probs, rel_v});  // [B, H, Lq, d]
}

at::Tensor LVDMCrossAttentionImpl::forward(const at::Tensor& x, const std::optional<at::Tensor>& context,
                                           const std::optional<at::Tensor>& mask) {
    const int64_t heads = options.heads;
    at::Tensor ctx = context ? *context : x;
    at::Tensor ctx_image;
    if (context && options.image_cross_attention) {
        // [77 text tokens | image tokens]
        const int64_t length = ctx.size(1);
        ctx_image = ctx.narrow(1, kLVDMTextContextLength, length - kLVDMTextContextLength);
        ctx = ctx.narrow(1, 0, kLVDMTextContextLength);
    } else if (context && options.text_only_context) {
        ctx = ctx.narrow(1, 0, std::min<int64_t>(kLVDMTextContextLength, ctx.size(1)));
    }

    at::Tensor q = split_heads(to_q->forward(x), heads);    // [B, H, N, d]
    at::Tensor k = split_heads(to_k->forward(ctx), heads);  // [B, H, L, d]
    at::Tensor v = split_heads(to_v->forward(ctx), heads);
    at::Tensor out;
    if (options.relative_position) {
        out = relative_position_attention(q, k, v, mask);
    } else if (std::max(q.size(2), k.size(2)) <= kernels::kShortSequenceMaxLength) {
        // The temporal attention over frames: tiny problems the flash kernels tile poorly (kernels/ops.h).
        out = kernels::short_sequence_attention(q, k, v, mask ? *mask : at::Tensor());
    } else {
        out = core::scaled_dot_product_attention(q, k, v, mask);
    }
    out = merge_heads(out);  // [B, N, H·d]

    if (ctx_image.defined()) {
        at::Tensor k_ip = split_heads(to_k_ip->forward(ctx_image), heads);
        at::Tensor v_ip = split_heads(to_v_ip->forward(ctx_image), heads);
        at::Tensor out_ip = merge_heads(core::scaled_dot_product_attention(q, k_ip, v_ip));
        out_ip = out_ip * options.image_cross_attention_scale;
        if (alpha.defined()) {
            out_ip = out_ip * (at::tanh(alpha) + 1);
        }
        out = out + out_ip;
    }
    return to_out_0->forward(out);
}

// ---------------------------------------------------------------------------------------------------------------
// BasicTransformerBlock

LVDMTransformerBlockImpl::LVDMTransformerBlockImpl(const LVDMAttentionOptions& attn1_options,
                                                   const LVDMAttentionOptions& attn2_options,
                                                   const at::TensorOptions& tensor_options) {
    const int64_t dim = attn1_options.query_dim;
    attn1 = register_module("attn1", LVDMCrossAttention(attn1_options, tensor_options));
    ff = register_module("ff", FeedForward(dim, 4, tensor_options));
    attn2 = register_module("attn2", LVDMCrossAttention(attn2_options, tensor_options));
    auto layer_norm = [dim, &tensor_options] { return PlainLayerNorm(dim, kLayerNormEps, tensor_options); };
    norm1 = register_module("norm1", layer_norm());
    norm2 = register_module("norm2", layer_norm());
    norm3 = register_module("norm3", layer_norm());
}

at::Tensor LVDMTransformerBlockImpl::forward(const at::Tensor& x, const std::optional<at::Tensor>& context,
                                             const std::optional<at::Tensor>& mask) {
    // LayerNorm in float32 (autocast's), each residual add fused into the next norm's pass: {normed, sum}.
    at::Tensor normed, h;
    std::tie(normed, h) = kernels::add_layer_norm(x, {}, norm1->weight, norm1->bias, kLayerNormEps);
    at::Tensor a = attn1->forward(normed, std::nullopt, mask);
    std::tie(normed, h) = kernels::add_layer_norm(a, h, norm2->weight, norm2->bias, kLayerNormEps);  // h = attn1 + x
    a = attn2->forward(normed, context, mask);
    std::tie(normed, h) = kernels::add_layer_norm(a, h, norm3->weight, norm3->bias, kLayerNormEps);  // h = attn2 + h
    return ff->forward(normed) + h;
}

// ---------------------------------------------------------------------------------------------------------------
// SpatialTransformer

LVDMSpatialTransformerImpl::LVDMSpatialTransformerImpl(const LVDMSpatialTransformerOptions& opts,
                                                       const at::TensorOptions& tensor_options)
    : options(opts) {
    const int64_t c = options.in_channels;
    const int64_t inner = options.heads * options.dim_head;
    const at::TensorOptions& o = tensor_options;
    norm = register_module("norm", PlainGroupNorm(kNumGroups, c, kTransformerNormEps, o));
    if (options.use_linear) {
        proj_in_linear = register_module("proj_in", PlainLinear(c, inner, true, o));
    } else {
        proj_in_conv = register_module("proj_in", PlainConv(c, inner, conv2d_geometry(1), o));
    }

    LVDMAttentionOptions self_attn;
    self_attn.query_dim = inner;
    self_attn.heads = options.heads;
    self_attn.dim_head = options.dim_head;
    LVDMAttentionOptions cross_attn = self_attn;
    cross_attn.context_dim = options.context_dim;
    cross_attn.image_cross_attention = options.image_cross_attention;
    cross_attn.image_scale_learnable = options.image_scale_learnable;
    cross_attn.text_only_context = options.text_only_context;
    transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < options.depth; ++i) {
        transformer_blocks->push_back(LVDMTransformerBlock(self_attn, cross_attn, o));
    }

    if (options.use_linear) {
        proj_out_linear = register_module("proj_out", PlainLinear(inner, c, true, o));
    } else {
        proj_out_conv = register_module("proj_out", PlainConv(inner, c, conv2d_geometry(1), o));
    }
}

at::Tensor LVDMSpatialTransformerImpl::forward(const at::Tensor& x, const at::Tensor& context) {
    const int64_t n = x.size(0);
    const int64_t c = x.size(1);
    const int64_t height = x.size(2);
    const int64_t width = x.size(3);
    // GroupNorm per frame, written straight into token order: [N, H, W, C].
    at::Tensor tokens = at::empty({n, height, width, c}, x.options());
    kernels::group_norm(x, kNumGroups, norm->weight, norm->bias, kTransformerNormEps, /*silu=*/false, {},
                        tokens.permute({0, 3, 1, 2}));
    tokens = tokens.view({n, height * width, c});
    tokens = options.use_linear ? proj_in_linear->forward(tokens)
                                : pointwise(tokens, proj_in_conv->weight, proj_in_conv->bias);  // [N, HW, inner]
    for (const auto& block : *transformer_blocks) {
        tokens = block->as<LVDMTransformerBlockImpl>()->forward(tokens, context, std::nullopt);
    }
    tokens = options.use_linear ? proj_out_linear->forward(tokens)
                                : pointwise(tokens, proj_out_conv->weight, proj_out_conv->bias);  // [N, HW, C]
    // Back to x's layout and the residual, in one pass (a plain add when x is channels-last: tokens are its order).
    at::Tensor out = at::empty_like(x);
    return at::add_out(out, tokens.view({n, height, width, c}).permute({0, 3, 1, 2}), x);
}

// ---------------------------------------------------------------------------------------------------------------
// TemporalTransformer

LVDMTemporalTransformerImpl::LVDMTemporalTransformerImpl(const LVDMTemporalTransformerOptions& opts,
                                                         const at::TensorOptions& tensor_options)
    : options(opts) {
    const int64_t c = options.in_channels;
    const int64_t inner = options.heads * options.dim_head;
    const at::TensorOptions& o = tensor_options;
    const ConvGeometry pointwise_1d{{1}, {1}, {0}, 1, true};
    norm = register_module("norm", PlainGroupNorm(kNumGroups, c, kTransformerNormEps, o));
    if (options.use_linear) {
        proj_in_linear = register_module("proj_in", PlainLinear(c, inner, true, o));
    } else {
        proj_in_conv = register_module("proj_in", PlainConv(c, inner, pointwise_1d, o));
    }

    // only_self_att: attn2 has no context either; both attentions carry the relative position tables.
    LVDMAttentionOptions attn;
    attn.query_dim = inner;
    attn.heads = options.heads;
    attn.dim_head = options.dim_head;
    attn.relative_position = options.relative_position;
    transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < options.depth; ++i) {
        transformer_blocks->push_back(LVDMTransformerBlock(attn, attn, o));
    }

    if (options.use_linear) {
        proj_out_linear = register_module("proj_out", PlainLinear(inner, c, true, o));
    } else {
        proj_out_conv = register_module("proj_out", PlainConv(inner, c, pointwise_1d, o));
    }
}

at::Tensor LVDMTemporalTransformerImpl::forward(const at::Tensor& x, int64_t batch) {
    const int64_t c = x.size(1);
    const int64_t height = x.size(2);
    const int64_t width = x.size(3);
    const int64_t frames = x.size(0) / batch;
    const at::Tensor video = x.view({batch, frames, c, height, width});  // [B, F, C, H, W]

    // GroupNorm over all frames of a video (statistics per group over F·H·W), written straight into sequence
    // order [B, H, W, F, C] = [(B·H·W), F, C]. Both sides are viewed as [B, C, F, H, W].
    at::Tensor seq = at::empty({batch, height, width, frames, c}, x.options());
    kernels::group_norm(video.permute({0, 2, 1, 3, 4}), kNumGroups, norm->weight, norm->bias, kTransformerNormEps,
                        /*silu=*/false, {}, seq.permute({0, 4, 3, 1, 2}));
    seq = seq.view({batch * height * width, frames, c});
    seq = options.use_linear ? proj_in_linear->forward(seq)
                             : pointwise(seq, proj_in_conv->weight, proj_in_conv->bias);  // [BHW, F, inner]

    std::optional<at::Tensor> mask;
    if (options.causal != LVDMCausalMask::None) {
        if (options.causal == LVDMCausalMask::FullLength) {
            core::require(frames == options.temporal_length, ErrorCode::InvalidRequest,
                          "LVDM temporal attention: this model's causal mask covers exactly " +
                              std::to_string(options.temporal_length) + " frames (temporal_length), got " +
                              std::to_string(frames) + "; generate " + std::to_string(options.temporal_length) +
                              " frames");
        } else {
            core::require(frames <= options.temporal_length, ErrorCode::InvalidRequest,
                          "LVDM temporal attention: this model's causal mask covers at most " +
                              std::to_string(options.temporal_length) + " frames (temporal_length), got " +
                              std::to_string(frames));
        }
        mask = at::ones({frames, frames}, x.options().dtype(at::kBool)).tril();  // frame i sees frames ≤ i
    }
    for (const auto& block : *transformer_blocks) {
        seq = block->as<LVDMTransformerBlockImpl>()->forward(seq, std::nullopt, mask);
    }
    seq = options.use_linear ? proj_out_linear->forward(seq)
                             : pointwise(seq, proj_out_conv->weight, proj_out_conv->bias);  // [BHW, F, C]

    // Back to x's layout [(B·F), C, H, W] and the residual, in one pass.
    at::Tensor out = at::empty_like(x);
    at::Tensor out_video = out.view({batch, frames, c, height, width});
    at::add_out(out_video, seq.view({batch, height, width, frames, c}).permute({0, 3, 4, 1, 2}), video);
    return out;
}

}  // namespace engine::models
