// Ref: huggingface/transformers src/transformers/models/gemma2/modeling_gemma2.py Gemma2Model (v5.x, eager attention)
// Gemma-2 decoder used by Sana as its text encoder: token embedding scaled by sqrt(hidden), then layers of
// pre/post-normed GQA self-attention (RoPE, logit soft-capping, sliding-window layers alternating with global ones)
// and pre/post-normed GeGLU MLPs, then a final (1+w) RMSNorm. Sana uses last_hidden_state.
//
//     auto model = core::unwrap(models::load_gemma2_model(dir, {at::kBFloat16, at::kCUDA}));
//     at::Tensor embeds = model->forward(input_ids, attention_mask);   // [B, L, hidden]
//
// Thread safety: a loaded model is read-only during forward(); concurrent forwards are safe, but the engine
// runs one job at a time on its worker anyway.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"

namespace engine::models {

/// Attention span of one decoder layer (transformers' `layer_types` entries).
enum class Gemma2LayerType {
    None = 0,
    SlidingAttention,  // "sliding_attention": causal, keys within the last `sliding_window` positions
    FullAttention,     // "full_attention": causal over the whole sequence
};

/// "sliding_attention" / "full_attention" ("none" for None).
const char* to_string(Gemma2LayerType type) noexcept;
/// The inverse of to_string; None for any other name.
Gemma2LayerType gemma2_layer_type_from_string(const std::string& name) noexcept;

/// The transformers `Gemma2Config` fields that shape the weights or the math of Gemma2Model.
struct Gemma2Config {
    std::int64_t vocab_size = 0;
    std::int64_t hidden_size = 0;
    std::int64_t intermediate_size = 0;
    std::int64_t num_hidden_layers = 0;
    std::int64_t num_attention_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::int64_t head_dim = 0;
    double query_pre_attn_scalar = 256.0;                 // scores are scaled by query_pre_attn_scalar^-0.5
    std::optional<double> attn_logit_softcapping = 50.0;  // scores = c * tanh(scores / c); nullopt = off
    std::optional<std::int64_t> sliding_window = 4096;    // keys k with q - window < k <= q (sliding layers)
    std::vector<Gemma2LayerType> layer_types;             // one per layer
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    std::int64_t max_position_embeddings = 8192;  // informational; not enforced (as in transformers)
    std::int64_t pad_token_id = 0;

    /// Parses a transformers config.json (v4 `rope_theta` or v5 `rope_parameters` layout). Shape keys are
    /// required; other keys default as in transformers. Keys that would change the math in ways this port
    /// does not implement (bidirectional attention, RoPE scaling, attention bias, other activations,
    /// quantisation, another model_type) are UnsupportedModel errors; harmless unknown keys are ignored.
    static Expected<Gemma2Config> from_json(const nlohmann::json& json);
};

/// Outputs of Gemma2ModelImpl::forward_with_hidden_state.
struct Gemma2Output {
    at::Tensor last_hidden_state;  // [B, L, hidden], after the final norm
    at::Tensor hidden_state;       // [B, L, hidden], transformers' hidden_states[n] (n = layers applied)
};

namespace detail {
class Gemma2EmbeddingImpl;
class Gemma2RMSNormImpl;
class Gemma2DecoderLayerImpl;
}  // namespace detail

/// transformers `Gemma2Model`. Registration names equal the checkpoint keys: `embed_tokens.weight`,
/// `layers.N.self_attn.{q,k,v,o}_proj.weight`, `layers.N.mlp.{gate,up,down}_proj.weight`,
/// `layers.N.{input,post_attention,pre_feedforward,post_feedforward}_layernorm.weight`, `norm.weight`.
class Gemma2ModelImpl : public torch::nn::Module {
public:
    /// Parameters are allocated with `options` (dtype, device) and left uninitialised: load weights into
    /// them (load_gemma2_model does) before use. This avoids a float32 random init of ~2.6B parameters.
    explicit Gemma2ModelImpl(const Gemma2Config& config, const at::TensorOptions& options = {});

    /// input_ids [B, L] (int64 or int32, each in [0, vocab_size)), attention_mask [B, L] (1 = token,
    /// 0 = padding; undefined = all ones) → last_hidden_state [B, L, hidden] in the model dtype.
    /// Bad inputs throw core::EngineError(InvalidRequest).
    at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {});

    /// Same, also returning the hidden state after the first `num_layers` layers (0 = scaled embeddings;
    /// 1 = after layer 0, the golden `hidden_state_1`; num_hidden_layers = before the final norm).
    Gemma2Output forward_with_hidden_state(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                           std::int64_t num_layers);

    /// The input checks of forward() alone: shapes, integer ids inside the vocabulary, a 0/1 mask. They read the
    /// values on the inputs' device, so CPU inputs (what a tokenizer produces) are checked without a device sync.
    /// Bad inputs throw core::EngineError(InvalidRequest).
    void check_inputs(const at::Tensor& input_ids, const at::Tensor& attention_mask = {}) const;

    /// forward() on inputs that passed check_inputs(), with no read of device values: what a CUDA graph can
    /// capture (the Sana pipeline checks its CPU token ids, then replays a graph of this on the GPU).
    ///   input_ids [B, L] int64 on the model's device; token_mask [B, L] bool on the model's device (true = token)
    ///   or undefined (no padding) → last_hidden_state [B, L, hidden].
    at::Tensor forward_checked(const at::Tensor& input_ids, const at::Tensor& token_mask);

    /// dtype and device of the parameters.
    at::TensorOptions options() const;

    Gemma2Config config;

private:
    Gemma2Output run(const at::Tensor& input_ids, const at::Tensor& attention_mask, std::int64_t capture_layers);
    Gemma2Output compute(const at::Tensor& ids, const at::Tensor& token_mask, std::int64_t capture_layers);

    std::shared_ptr<detail::Gemma2EmbeddingImpl> embed_tokens_;
    torch::nn::ModuleList layers_{nullptr};
    std::vector<std::shared_ptr<detail::Gemma2DecoderLayerImpl>> layer_impls_;
    std::shared_ptr<detail::Gemma2RMSNormImpl> norm_;
};
TORCH_MODULE(Gemma2Model);

struct Gemma2LoadOptions {
    at::ScalarType dtype = at::kFloat;  // float32 (default), bfloat16, float16 or float64
    at::Device device = at::kCPU;
};

/// Loads a transformers Gemma2Model folder: `config.json` plus `model.safetensors` or the sharded
/// `model.safetensors.index.json`. Loading is strict (every key must match by name and shape); a
/// Gemma2ForCausalLM checkpoint (`model.` prefix, tied `lm_head.weight`) is accepted too.
Expected<Gemma2Model> load_gemma2_model(const std::string& dir, const Gemma2LoadOptions& options = {});

}  // namespace engine::models
