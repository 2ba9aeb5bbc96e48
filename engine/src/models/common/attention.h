// Ref: huggingface/diffusers src/diffusers/models/attention_processor.py@58eb52c0803e Attention,
//      Attention.prepare_attention_mask, SanaLinearAttnProcessor2_0;
//      src/diffusers/models/transformers/sana_transformer.py@58eb52c0803e SanaAttnProcessor2_0
// diffusers' Attention parameters (to_q, to_k, to_v, to_out.0, optional norm_q / norm_k) and the processors
// that compute with them, as free functions (the attention_processor.py role).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "models/common/normalization.h"
#include "models/common/plain_layers.h"

namespace engine::models {

/// diffusers Attention's qk_norm choices that Kinora implements.
enum class QKNorm {
    None = 0,
    RMSNormAcrossHeads,  // "rms_norm_across_heads": RMSNorm over all heads' channels (weight, no bias)
};

/// "rms_norm_across_heads" ↔ QKNorm; "" or "none" ↔ QKNorm::None.
const char* to_string(QKNorm norm) noexcept;
std::optional<QKNorm> qk_norm_from_string(const std::string& name);

struct AttentionOptions {
    int64_t query_dim = 0;
    std::optional<int64_t> cross_attention_dim;  // nullopt: self-attention (keys/values from query_dim)
    int64_t heads = 8;
    int64_t dim_head = 64;
    std::optional<int64_t> kv_heads;  // nullopt: heads
    bool bias = false;                // to_q / to_k / to_v
    bool out_bias = true;             // to_out.0
    QKNorm qk_norm = QKNorm::None;
    double eps = 1e-5;  // of the qk norms
};

/// The parameters of diffusers' Attention (no group norm, spatial norm, added kv or cross-attention norm). Keys:
/// to_q.*, to_k.*, to_v.*, to_out.0.*, norm_q.weight, norm_k.weight. Parameters are allocated uninitialised with
/// `tensor_options` (loading fills them).
class AttentionImpl : public torch::nn::Module {
public:
    explicit AttentionImpl(const AttentionOptions& options, const at::TensorOptions& tensor_options = {});

    int64_t inner_dim() const { return options.heads * options.dim_head; }

    AttentionOptions options;
    PlainLinear to_q{nullptr};
    PlainLinear to_k{nullptr};
    PlainLinear to_v{nullptr};
    torch::nn::ModuleList to_out{nullptr};  // [0]: Linear (the Dropout of diffusers has no parameters)
    PlainLinear to_out_0{nullptr};          // == to_out[0]
    RMSNorm norm_q{nullptr};                // only with a qk_norm
    RMSNorm norm_k{nullptr};
};
TORCH_MODULE(Attention);

/// Lays the weights (and biases) of layers that project one input (q, k, v of a self-attention; k, v of a
/// cross-attention) out one after another in one storage, each layer's parameter a slice of it, so that the attention
/// computes them as one matrix product: one GEMM launch instead of three, the same products (each output column is
/// the same dot product). Memory neutral: the layers' own storages are released. False (nothing changed) when the
/// layers cannot be packed: quantised, of different dtypes, devices or input widths, or with and without biases. A
/// later move or conversion of the module unpacks them (each parameter is copied on its own); the attention then
/// runs the layers one by one again.
bool pack_projections(std::initializer_list<PlainLinear*> layers);

/// A key-padding mask [B, L] (1 = keep, 0 = discard; any dtype) as the additive bias diffusers uses:
/// (1 - mask) · -10000 in `dtype`, shaped [B, 1, L] (broadcast over queries).
at::Tensor attention_mask_to_bias(const at::Tensor& mask, at::ScalarType dtype);

/// diffusers SanaLinearAttnProcessor2_0 (self-attention): q, k, v projections, optional qk norms, head split by
/// channel blocks of dim_head, then kernels::relu_linear_attention (ReLU kernel, float32 accumulation, eps 1e-15,
/// no 1/sqrt(d) scale), to_out.0; float16 results are clipped to ±65504.
/// hidden_states: [B, N, query_dim] → [B, N, query_dim].
at::Tensor sana_linear_attention(AttentionImpl& attn, const at::Tensor& hidden_states);

/// Scaled-dot-product attention as diffusers' SanaAttnProcessor2_0 / AttnProcessor2_0 compute it: q from
/// hidden_states, k and v from context, optional qk norms before the head split, softmax(q kᵀ / sqrt(dim_head) +
/// bias) v in the activation dtype (engine::core::scaled_dot_product_attention), heads merged, to_out.0.
/// hidden_states: [B, N, query_dim]; context: [B, L, cross_attention_dim]; bias: additive, [B, 1, L] (see
/// attention_mask_to_bias) or nullopt → [B, N, query_dim].
at::Tensor sdpa_attention(AttentionImpl& attn, const at::Tensor& hidden_states, const at::Tensor& context,
                          const std::optional<at::Tensor>& bias);

/// The keys and values sdpa_attention computes from its context: to_k / to_v, norm_k, the head split.
/// context: [B, L, cross_attention_dim] → {k, v}, each [B, H, L, dim_head]. A constant context (Sana's caption over the
/// denoising steps) gives constant keys and values: computed once, they serve every step.
std::pair<at::Tensor, at::Tensor> sdpa_context_kv(AttentionImpl& attn, const at::Tensor& context);

/// sdpa_attention with the context's keys and values given (sdpa_context_kv): the same result. `into`, when defined
/// (dense [B, N, query_dim] of the result's dtype, e.g. a slice of a larger batch), receives it and is returned: the
/// output projection writes there directly instead of into a new tensor.
at::Tensor sdpa_attention_kv(AttentionImpl& attn, const at::Tensor& hidden_states, const at::Tensor& k,
                             const at::Tensor& v, const std::optional<at::Tensor>& bias, const at::Tensor& into = {});

}  // namespace engine::models
