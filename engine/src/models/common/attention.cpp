// Ref: huggingface/diffusers src/diffusers/models/attention_processor.py@58eb52c0803e (see attention.h)
#include "models/common/attention.h"

#include <ATen/ATen.h>

#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include "core/torch_compat.h"
#include "kernels/ops.h"

namespace engine::models {

const char* to_string(QKNorm norm) noexcept {
    switch (norm) {
        case QKNorm::RMSNormAcrossHeads:
            return "rms_norm_across_heads";
        case QKNorm::None:
            break;
    }
    return "none";
}

std::optional<QKNorm> qk_norm_from_string(const std::string& name) {
    if (name.empty() || name == "none") {
        return QKNorm::None;
    }
    if (name == "rms_norm_across_heads") {
        return QKNorm::RMSNormAcrossHeads;
    }
    return std::nullopt;
}

AttentionImpl::AttentionImpl(const AttentionOptions& opts, const at::TensorOptions& tensor_options) : options(opts) {
    const int64_t inner = options.heads * options.dim_head;
    const int64_t kv_heads = options.kv_heads.value_or(options.heads);
    const int64_t inner_kv = options.dim_head * kv_heads;
    const int64_t kv_in = options.cross_attention_dim.value_or(options.query_dim);
    const at::TensorOptions& o = tensor_options;
    to_q = register_module("to_q", PlainLinear(options.query_dim, inner, options.bias, o));
    to_k = register_module("to_k", PlainLinear(kv_in, inner_kv, options.bias, o));
    to_v = register_module("to_v", PlainLinear(kv_in, inner_kv, options.bias, o));
    to_out_0 = PlainLinear(inner, options.query_dim, options.out_bias, o);
    to_out = register_module("to_out", torch::nn::ModuleList(to_out_0));
    if (options.qk_norm == QKNorm::RMSNormAcrossHeads) {
        norm_q = register_module("norm_q", RMSNorm(RMSNormOptions{inner, options.eps, true, false}, o));
        norm_k = register_module("norm_k", RMSNorm(RMSNormOptions{inner_kv, options.eps, true, false}, o));
    }
}

namespace {

// The layers' weights as one [Σ out, in] matrix, and their biases as one vector (undefined when none has a bias), when
// pack_projections laid them out one after another in one storage (and nothing has moved them since); nullopt
// otherwise.
std::optional<std::pair<at::Tensor, at::Tensor>> packed_weights(std::initializer_list<PlainLinear*> layers) {
    const PlainLinear& first = **layers.begin();
    const at::Tensor& w0 = first->weight;
    if (layers.size() < 2 || !w0.defined() || w0.dim() != 2 || !w0.is_contiguous()) {
        return std::nullopt;
    }
    const bool biased = first->bias.defined();
    int64_t rows = 0;
    for (const PlainLinear* layer : layers) {
        const at::Tensor& w = (*layer)->weight;
        const at::Tensor& b = (*layer)->bias;
        if ((*layer)->quantized || !w.defined() || w.dim() != 2 || !w.is_contiguous() || w.size(1) != w0.size(1) ||
            !w.is_alias_of(w0) || w.storage_offset() != w0.storage_offset() + rows * w0.size(1) ||
            b.defined() != biased ||
            (biased && (!b.is_contiguous() || !b.is_alias_of(first->bias) ||
                        b.storage_offset() != first->bias.storage_offset() + rows))) {
            return std::nullopt;
        }
        rows += w.size(0);
    }
    at::Tensor weight = w0.as_strided({rows, w0.size(1)}, {w0.size(1), 1});
    at::Tensor bias = biased ? first->bias.as_strided({rows}, {1}) : at::Tensor();
    return std::make_pair(weight, bias);
}

// The projections of one input by several layers (q, k, v of a self-attention; k, v of a cross-attention). When all
// of them hold FP8 weights the input is quantised once for all of them; when pack_projections packed them, one
// matrix product computes all of them (the outputs are column slices of its result: views, no copy); otherwise each
// layer runs as it is.
std::vector<at::Tensor> project(const at::Tensor& x, std::initializer_list<PlainLinear*> layers) {
    bool all_fp8 = true;
    for (const PlainLinear* layer : layers) {
        all_fp8 = all_fp8 && (*layer)->quantized && (*layer)->quantized->mode == WeightQuantization::Fp8;
    }
    std::vector<at::Tensor> out;
    out.reserve(layers.size());
    if (all_fp8) {
        const QuantizedActivation xq = quantize_activation_e4m3(x);
        for (PlainLinear* layer : layers) {
            out.push_back(quantized_linear(xq, *(*layer)->quantized, (*layer)->bias));
        }
    } else if (const auto packed = packed_weights(layers)) {
        const at::Tensor all =
            packed->second.defined() ? at::linear(x, packed->first, packed->second) : at::linear(x, packed->first);
        int64_t column = 0;
        for (const PlainLinear* layer : layers) {
            const int64_t width = (*layer)->weight.size(0);
            out.push_back(all.narrow(-1, column, width));
            column += width;
        }
    } else {
        for (PlainLinear* layer : layers) {
            out.push_back((*layer)->forward(x));
        }
    }
    return out;
}

}  // namespace

bool pack_projections(std::initializer_list<PlainLinear*> layers) {
    if (layers.size() < 2) {
        return false;
    }
    if (packed_weights(layers)) {
        return true;  // packed already
    }
    const PlainLinear& first = **layers.begin();
    std::vector<at::Tensor> weights, biases;
    for (const PlainLinear* layer : layers) {
        const at::Tensor& w = (*layer)->weight;
        if ((*layer)->quantized || !w.defined() || w.dim() != 2 || w.size(1) != first->weight.size(1) ||
            w.scalar_type() != first->weight.scalar_type() || w.device() != first->weight.device() ||
            (*layer)->bias.defined() != first->bias.defined() ||
            ((*layer)->bias.defined() && ((*layer)->bias.scalar_type() != first->bias.scalar_type() ||
                                          (*layer)->bias.device() != first->bias.device()))) {
            return false;
        }
        weights.push_back(w);
        if ((*layer)->bias.defined()) {
            biases.push_back((*layer)->bias);
        }
    }
    const at::Tensor weight = at::cat(weights, 0);
    const at::Tensor bias = biases.empty() ? at::Tensor() : at::cat(biases, 0);
    int64_t row = 0;
    for (PlainLinear* layer : layers) {
        // set_data: the registered parameter itself becomes the slice (state_dict, to(), ... see it), and the layer's
        // own storage is released.
        const int64_t rows = (*layer)->weight.size(0);
        (*layer)->weight.set_data(weight.narrow(0, row, rows));
        if (bias.defined()) {
            (*layer)->bias.set_data(bias.narrow(0, row, rows));
        }
        row += rows;
    }
    return packed_weights(layers).has_value();
}

at::Tensor attention_mask_to_bias(const at::Tensor& mask, at::ScalarType dtype) {
    TORCH_CHECK(mask.dim() == 2, "attention mask must be [B, L], got ", mask.sizes());
    return ((1 - mask.to(dtype)) * -10000.0).unsqueeze(1);  // [B, 1, L]
}

at::Tensor sana_linear_attention(AttentionImpl& attn, const at::Tensor& hidden_states) {
    const auto original_dtype = hidden_states.scalar_type();
    const int64_t batch = hidden_states.size(0);
    const int64_t tokens = hidden_states.size(1);
    const int64_t heads = attn.options.heads;
    const auto qkv = project(hidden_states, {&attn.to_q, &attn.to_k, &attn.to_v});  // [B, N, H·d] each
    at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    if (!attn.norm_q.is_empty()) {
        q = attn.norm_q->forward(q);
        k = attn.norm_k->forward(k);
    }
    // Head h owns channels [h·d, (h+1)·d) (diffusers: transpose(1, 2).unflatten(1, (heads, -1))).
    q = q.view({batch, tokens, heads, -1}).transpose(1, 2);  // [B, H, N, d]
    k = k.view({batch, tokens, heads, -1}).transpose(1, 2);
    v = v.view({batch, tokens, heads, -1}).transpose(1, 2);
    // The one seam to the ReLU linear-attention kernel (CPU reference, or CUDA when built and on a CUDA device).
    at::Tensor out = kernels::relu_linear_attention(q, k, v, 1e-15);            // [B, H, N, d], v's dtype
    out = out.transpose(1, 2).reshape({batch, tokens, -1}).to(original_dtype);  // [B, N, H·d]
    out = attn.to_out_0->forward(out);
    if (original_dtype == at::kHalf) {
        out = out.clamp(-65504, 65504);
    }
    return out;
}

std::pair<at::Tensor, at::Tensor> sdpa_context_kv(AttentionImpl& attn, const at::Tensor& context) {
    const int64_t batch = context.size(0);
    const int64_t heads = attn.options.heads;
    const auto kv = project(context, {&attn.to_k, &attn.to_v});  // [B, L, H·d] each
    at::Tensor k = kv[0], v = kv[1];
    if (!attn.norm_k.is_empty()) {
        k = attn.norm_k->forward(k);
    }
    const int64_t head_dim = k.size(-1) / heads;
    k = k.view({batch, -1, heads, head_dim}).transpose(1, 2);  // [B, H, L, d]
    v = v.view({batch, -1, heads, head_dim}).transpose(1, 2);
    return {k, v};
}

at::Tensor sdpa_attention(AttentionImpl& attn, const at::Tensor& hidden_states, const at::Tensor& context,
                          const std::optional<at::Tensor>& bias) {
    const auto [k, v] = sdpa_context_kv(attn, context);
    return sdpa_attention_kv(attn, hidden_states, k, v, bias);
}

at::Tensor sdpa_attention_kv(AttentionImpl& attn, const at::Tensor& hidden_states, const at::Tensor& k,
                             const at::Tensor& v, const std::optional<at::Tensor>& bias, const at::Tensor& into) {
    const int64_t batch = hidden_states.size(0);
    const int64_t heads = attn.options.heads;
    const int64_t head_dim = k.size(-1);
    at::Tensor q = attn.to_q->forward(hidden_states);  // [B, N, H·d]
    if (!attn.norm_q.is_empty()) {
        q = attn.norm_q->forward(q);
    }
    q = q.view({batch, -1, heads, head_dim}).transpose(1, 2);  // [B, H, N, d]
    std::optional<at::Tensor> mask;
    if (bias) {
        // diffusers repeats the [B, 1, L] bias per head and views it as [B, H, 1, L]; broadcasting is the same.
        mask = bias->dim() == 3 ? bias->unsqueeze(1) : *bias;  // [B, 1, 1, L]
    }
    at::Tensor out = core::scaled_dot_product_attention(q, k, v, mask);  // [B, H, N, d]
    out = out.transpose(1, 2).reshape({batch, -1, heads * head_dim}).to(q.scalar_type());
    if (into.defined()) {
        attn.to_out_0->forward_into(out, into);
        return into;
    }
    return attn.to_out_0->forward(out);
}

}  // namespace engine::models
