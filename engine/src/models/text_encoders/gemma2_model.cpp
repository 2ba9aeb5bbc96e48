// Ref: huggingface/transformers src/transformers/models/gemma2/modeling_gemma2.py Gemma2Model (v5.x, eager attention)
// Ref: huggingface/transformers src/transformers/masking_utils.py sdpa_mask / eager_mask (padding + causal + window)
#include "models/text_encoders/gemma2_model.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "core/engine_error.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "kernels/ops.h"

namespace engine::models {

const char* to_string(Gemma2LayerType type) noexcept {
    switch (type) {
        case Gemma2LayerType::SlidingAttention:
            return "sliding_attention";
        case Gemma2LayerType::FullAttention:
            return "full_attention";
        case Gemma2LayerType::None:
            break;
    }
    return "none";
}

Gemma2LayerType gemma2_layer_type_from_string(const std::string& name) noexcept {
    if (name == "sliding_attention") return Gemma2LayerType::SlidingAttention;
    if (name == "full_attention") return Gemma2LayerType::FullAttention;
    return Gemma2LayerType::None;
}

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------
namespace {

using nlohmann::json;

[[noreturn]] void config_fail(ErrorCode code, const std::string& message) {
    throw core::EngineError(code, "Gemma-2 config: " + message);
}

const json* find_key(const json& j, const char* key) {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

// An integer key; `fallback` when absent or null, else required.
std::int64_t read_int(const json& j, const char* key, std::optional<std::int64_t> fallback) {
    const json* v = find_key(j, key);
    if (v == nullptr || v->is_null()) {
        if (!fallback) {
            config_fail(ErrorCode::ModelLoadFailed, std::string("missing required key \"") + key +
                                                        "\" (is this a transformers Gemma-2 config.json?)");
        }
        return *fallback;
    }
    if (v->is_number_integer()) {
        return v->get<std::int64_t>();
    }
    if (v->is_number_float()) {
        const double d = v->get<double>();
        if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) {
            return static_cast<std::int64_t>(d);
        }
    }
    config_fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must be an integer, got " + v->dump());
}

std::int64_t read_positive_int(const json& j, const char* key, std::optional<std::int64_t> fallback) {
    const std::int64_t v = read_int(j, key, fallback);
    if (v <= 0) {
        config_fail(ErrorCode::ModelLoadFailed,
                    std::string("key \"") + key + "\" must be positive, got " + std::to_string(v));
    }
    return v;
}

// A number key; nullopt when null (the caller decides what null means), `fallback` when absent.
std::optional<double> read_number(const json& j, const char* key, std::optional<double> fallback) {
    const json* v = find_key(j, key);
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_null()) {
        return std::nullopt;
    }
    if (!v->is_number()) {
        config_fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must be a number, got " + v->dump());
    }
    return v->get<double>();
}

bool read_flag(const json& j, const char* key) {
    const json* v = find_key(j, key);
    if (v == nullptr || v->is_null()) {
        return false;
    }
    if (!v->is_boolean()) {
        config_fail(ErrorCode::ModelLoadFailed,
                    std::string("key \"") + key + "\" must be true or false, got " + v->dump());
    }
    return v->get<bool>();
}

// RoPE: v4 configs carry `rope_theta` (+ optional `rope_scaling`), v5 configs `rope_parameters`
// {rope_type, rope_theta}. Only the default (unscaled) RoPE is implemented.
double read_rope_theta(const json& j) {
    auto check_type = [](const json& params, const char* where) {
        std::string type = "default";
        if (const json* t = find_key(params, "rope_type"); t != nullptr && !t->is_null()) {
            type = t->is_string() ? t->get<std::string>() : t->dump();
        } else if (const json* t2 = find_key(params, "type"); t2 != nullptr && !t2->is_null()) {
            type = t2->is_string() ? t2->get<std::string>() : t2->dump();
        }
        if (type != "default") {
            config_fail(ErrorCode::UnsupportedModel, std::string(where) + " asks for RoPE type \"" + type +
                                                         "\"; only the default (unscaled) RoPE is implemented");
        }
    };
    double theta = read_number(j, "rope_theta", 10000.0).value_or(10000.0);
    if (const json* scaling = find_key(j, "rope_scaling"); scaling != nullptr && !scaling->is_null()) {
        if (!scaling->is_object()) {
            config_fail(ErrorCode::ModelLoadFailed, "\"rope_scaling\" must be an object or null");
        }
        check_type(*scaling, "\"rope_scaling\"");
    }
    if (const json* params = find_key(j, "rope_parameters"); params != nullptr && !params->is_null()) {
        if (!params->is_object()) {
            config_fail(ErrorCode::ModelLoadFailed, "\"rope_parameters\" must be an object or null");
        }
        if (params->contains("full_attention") || params->contains("sliding_attention")) {
            config_fail(ErrorCode::UnsupportedModel,
                        "per-layer-type \"rope_parameters\" are not implemented for Gemma-2 (one RoPE for all layers)");
        }
        check_type(*params, "\"rope_parameters\"");
        theta = read_number(*params, "rope_theta", theta).value_or(theta);
    }
    if (!(theta > 0.0) || !std::isfinite(theta)) {
        config_fail(ErrorCode::ModelLoadFailed, "rope_theta must be a positive number");
    }
    return theta;
}

// Everything the module relies on; used by from_json and by the module constructor (hand-made configs).
void check_config(const Gemma2Config& c) {
    auto positive = [](std::int64_t v, const char* name) {
        if (v <= 0) {
            config_fail(ErrorCode::ModelLoadFailed, std::string(name) + " must be positive, got " + std::to_string(v));
        }
    };
    positive(c.vocab_size, "vocab_size");
    positive(c.hidden_size, "hidden_size");
    positive(c.intermediate_size, "intermediate_size");
    positive(c.num_hidden_layers, "num_hidden_layers");
    positive(c.num_attention_heads, "num_attention_heads");
    positive(c.num_key_value_heads, "num_key_value_heads");
    positive(c.head_dim, "head_dim");
    if (c.num_attention_heads % c.num_key_value_heads != 0) {
        config_fail(ErrorCode::ModelLoadFailed, "num_attention_heads (" + std::to_string(c.num_attention_heads) +
                                                    ") must be a multiple of num_key_value_heads (" +
                                                    std::to_string(c.num_key_value_heads) + ")");
    }
    if (c.head_dim % 2 != 0) {
        config_fail(ErrorCode::ModelLoadFailed, "head_dim must be even for RoPE, got " + std::to_string(c.head_dim));
    }
    if (!(c.query_pre_attn_scalar > 0.0)) {
        config_fail(ErrorCode::ModelLoadFailed, "query_pre_attn_scalar must be positive");
    }
    if (c.attn_logit_softcapping && !(*c.attn_logit_softcapping > 0.0)) {
        config_fail(ErrorCode::ModelLoadFailed, "attn_logit_softcapping must be positive or null");
    }
    if (!(c.rms_norm_eps >= 0.0)) {
        config_fail(ErrorCode::ModelLoadFailed, "rms_norm_eps must not be negative");
    }
    if (!(c.rope_theta > 0.0)) {
        config_fail(ErrorCode::ModelLoadFailed, "rope_theta must be positive");
    }
    if (static_cast<std::int64_t>(c.layer_types.size()) != c.num_hidden_layers) {
        config_fail(ErrorCode::ModelLoadFailed, "layer_types has " + std::to_string(c.layer_types.size()) +
                                                    " entries for " + std::to_string(c.num_hidden_layers) + " layers");
    }
    for (std::size_t i = 0; i < c.layer_types.size(); ++i) {
        if (c.layer_types[i] == Gemma2LayerType::None) {
            config_fail(ErrorCode::ModelLoadFailed, "layer " + std::to_string(i) + " has no attention type");
        }
        if (c.layer_types[i] == Gemma2LayerType::SlidingAttention && (!c.sliding_window || *c.sliding_window <= 0)) {
            config_fail(ErrorCode::ModelLoadFailed, "layer " + std::to_string(i) +
                                                        " is a sliding_attention layer but sliding_window is not "
                                                        "a positive integer");
        }
    }
}

}  // namespace

Expected<Gemma2Config> Gemma2Config::from_json(const nlohmann::json& j) {
    try {
        if (!j.is_object()) {
            config_fail(ErrorCode::ModelLoadFailed, "expected a JSON object");
        }
        if (const json* mt = find_key(j, "model_type"); mt != nullptr && !mt->is_null()) {
            const std::string type = mt->is_string() ? mt->get<std::string>() : mt->dump();
            if (type != "gemma2") {
                config_fail(ErrorCode::UnsupportedModel,
                            "model_type is \"" + type +
                                "\", but this text encoder runs Gemma-2 (model_type \"gemma2\", as in Sana)");
            }
        }
        Gemma2Config c;
        c.vocab_size = read_positive_int(j, "vocab_size", std::nullopt);
        c.hidden_size = read_positive_int(j, "hidden_size", std::nullopt);
        c.intermediate_size = read_positive_int(j, "intermediate_size", std::nullopt);
        c.num_hidden_layers = read_positive_int(j, "num_hidden_layers", std::nullopt);
        c.num_attention_heads = read_positive_int(j, "num_attention_heads", std::nullopt);
        c.num_key_value_heads = read_positive_int(j, "num_key_value_heads", std::nullopt);
        c.head_dim = read_positive_int(j, "head_dim", std::nullopt);

        // transformers' defaults for the rest (configuration_gemma2.py).
        c.query_pre_attn_scalar = read_number(j, "query_pre_attn_scalar", 256.0).value_or(256.0);
        c.attn_logit_softcapping = read_number(j, "attn_logit_softcapping", 50.0);  // null = off
        c.rms_norm_eps = read_number(j, "rms_norm_eps", 1e-6).value_or(1e-6);
        c.rope_theta = read_rope_theta(j);
        c.max_position_embeddings = read_int(j, "max_position_embeddings", 8192);
        c.pad_token_id = read_int(j, "pad_token_id", 0);
        if (const json* sw = find_key(j, "sliding_window"); sw != nullptr && sw->is_null()) {
            c.sliding_window = std::nullopt;
        } else {
            c.sliding_window = read_positive_int(j, "sliding_window", 4096);
        }

        if (const json* lt = find_key(j, "layer_types"); lt != nullptr && !lt->is_null()) {
            if (!lt->is_array()) {
                config_fail(ErrorCode::ModelLoadFailed, "\"layer_types\" must be a list of strings");
            }
            for (const json& t : *lt) {
                const std::string s = t.is_string() ? t.get<std::string>() : t.dump();
                const Gemma2LayerType type = gemma2_layer_type_from_string(s);
                if (type == Gemma2LayerType::None) {
                    config_fail(ErrorCode::UnsupportedModel,
                                "layer type \"" + s + "\" is not implemented (only sliding_attention, full_attention)");
                }
                c.layer_types.push_back(type);
            }
        } else {
            // Default pattern: even layers slide, odd layers are global.
            for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
                c.layer_types.push_back(i % 2 == 0 ? Gemma2LayerType::SlidingAttention
                                                   : Gemma2LayerType::FullAttention);
            }
        }

        // Keys that would change the math in ways not implemented here.
        if (const json* act = find_key(j, "hidden_activation"); act != nullptr) {
            const std::string a = act->is_string() ? act->get<std::string>() : act->dump();
            if (a != "gelu_pytorch_tanh") {
                config_fail(ErrorCode::UnsupportedModel,
                            "hidden_activation \"" + a + "\" is not implemented (Gemma-2 uses gelu_pytorch_tanh)");
            }
        }
        if (read_flag(j, "attention_bias")) {
            config_fail(ErrorCode::UnsupportedModel,
                        "attention_bias = true (biased q/k/v/o projections) is not "
                        "implemented; Gemma-2 checkpoints have none");
        }
        if (read_flag(j, "use_bidirectional_attention")) {
            config_fail(ErrorCode::UnsupportedModel,
                        "use_bidirectional_attention = true (non-causal Gemma-2) is not implemented");
        }
        if (const json* q = find_key(j, "quantization_config"); q != nullptr && !q->is_null()) {
            config_fail(ErrorCode::UnsupportedModel,
                        "quantized checkpoints (quantization_config) are not supported; use the bf16/fp32 weights");
        }
        check_config(c);
        return c;
    } catch (const core::EngineError& e) {
        return Unexpected{e.to_error()};
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::ModelLoadFailed, std::string("Gemma-2 config: ") + e.what());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------------------
namespace detail {

// Parameters are created uninitialised (at::empty) with the model's dtype/device: the checkpoint fills
// every one of them (strict loading), so a random init would be wasted work (and, in float32, 10 GB for
// the 2.6B-parameter encoder).
class Gemma2EmbeddingImpl : public torch::nn::Module {
public:
    Gemma2EmbeddingImpl(std::int64_t num_embeddings, std::int64_t dim, const at::TensorOptions& options) {
        weight = register_parameter("weight", at::empty({num_embeddings, dim}, options), /*requires_grad=*/false);
    }
    at::Tensor forward(const at::Tensor& ids) { return at::embedding(weight, ids); }  // [B, L] -> [B, L, dim]

    at::Tensor weight;
};

class Gemma2LinearImpl : public torch::nn::Module {  // nn.Linear(in, out, bias=False)
public:
    Gemma2LinearImpl(std::int64_t in_features, std::int64_t out_features, const at::TensorOptions& options) {
        weight = register_parameter("weight", at::empty({out_features, in_features}, options), false);
    }
    at::Tensor forward(const at::Tensor& x) { return at::linear(x, weight); }

    at::Tensor weight;
};

// Gemma's RMSNorm: computed in float32, scaled by (1 + w), then cast back to the input dtype
// (not x.to(dtype) * w as in Llama).
class Gemma2RMSNormImpl : public torch::nn::Module {
public:
    Gemma2RMSNormImpl(std::int64_t dim, double eps, const at::TensorOptions& options) : eps_(eps) {
        weight = register_parameter("weight", at::empty({dim}, options), false);
    }
    // kernels::rms_norm with the float32 weight 1 + w and the result in x's dtype computes exactly this (its CPU
    // reference: x·rsqrt(mean(x²) + eps) in float32, times the float32 weight, then .to(dtype)); on CUDA one kernel.
    at::Tensor forward(const at::Tensor& x) {
        if (!scale_.defined() || scale_source_ != weight.data_ptr() || scale_version_ != weight._version() ||
            scale_.device() != weight.device()) {
            scale_ = weight.to(at::kFloat) + 1.0;  // (re)made when the weight is loaded or moved
            scale_source_ = weight.data_ptr();
            scale_version_ = weight._version();
        }
        return kernels::rms_norm(x, scale_, {}, eps_, x.scalar_type());
    }

    at::Tensor weight;

private:
    double eps_;
    at::Tensor scale_;  // 1 + weight, float32
    const void* scale_source_ = nullptr;
    std::int64_t scale_version_ = 0;
};

namespace {

// rotate_half on the last dim: [x1, x2] -> [-x2, x1] (the non-interleaved RoPE layout).
at::Tensor rotate_half(const at::Tensor& x) {
    const std::int64_t half = x.size(-1) / 2;
    return at::cat({x.slice(-1, half).neg(), x.slice(-1, 0, half)}, -1);
}

// Eager attention as transformers' eager_attention_forward computes it, without materialising the
// repeated K/V of grouped-query attention: the R = H / KV query heads that share a K/V head are stacked
// along the query axis, so one batched matmul per K/V head serves all of them.
//   q [B, H, L, D], k, v [B, KV, L, D], mask [B or 1, 1, L, L] additive (0 / dtype lowest) -> [B, L, H*D]
// Math: p = softmax_fp32(c * tanh((q kᵀ · s) / c) + mask).to(dtype); out = p v.
// Faster path (later, GPU issue): torch 2.x SDPA has no soft-capping, so a fused kernel (scores, cap,
// mask and an online softmax in one pass, flash-style) belongs in kernels/; this explicit form is the oracle.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                     double scaling, const std::optional<double>& softcap) {
    const std::int64_t b = q.size(0), h = q.size(1), l = q.size(2), d = q.size(3);
    const std::int64_t kv = k.size(1), r = h / kv;
    const at::Tensor qg = q.reshape({b, kv, r * l, d});                          // [B, KV, R*L, D]
    at::Tensor scores = at::matmul(qg, k.transpose(-2, -1)).view({b, h, l, l});  // [B, H, L, L]
    scores = scores * scaling;
    if (softcap) {
        scores = at::tanh(scores / *softcap) * *softcap;
    }
    // Masked entries become dtype-lowest (+ a capped score, absorbed by rounding). A query whose keys are
    // all masked (a padding query whose window holds only padding) thus gets uniform weights over all keys,
    // exactly as the reference's additive mask does; only padding positions are affected.
    scores = scores + mask;
    const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());  // [B, H, L, L]
    const at::Tensor out = at::matmul(probs.view({b, kv, r * l, l}), v);               // [B, KV, R*L, D]
    return out.view({b, h, l, d}).transpose(1, 2).reshape({b, l, h * d});
}

}  // namespace

class Gemma2AttentionImpl : public torch::nn::Module {
public:
    Gemma2AttentionImpl(const Gemma2Config& c, const at::TensorOptions& options)
        : num_heads_(c.num_attention_heads),
          num_kv_heads_(c.num_key_value_heads),
          head_dim_(c.head_dim),
          scaling_(std::pow(c.query_pre_attn_scalar, -0.5)),
          softcap_(c.attn_logit_softcapping) {
        q_proj = register_module("q_proj",
                                 std::make_shared<Gemma2LinearImpl>(c.hidden_size, num_heads_ * head_dim_, options));
        k_proj = register_module("k_proj",
                                 std::make_shared<Gemma2LinearImpl>(c.hidden_size, num_kv_heads_ * head_dim_, options));
        v_proj = register_module("v_proj",
                                 std::make_shared<Gemma2LinearImpl>(c.hidden_size, num_kv_heads_ * head_dim_, options));
        o_proj = register_module("o_proj",
                                 std::make_shared<Gemma2LinearImpl>(num_heads_ * head_dim_, c.hidden_size, options));
    }

    // x [B, L, hidden]; cos, sin [L, 1, D] in the model dtype; mask additive [B or 1, 1, L, L].
    at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask) {
        const std::int64_t b = x.size(0), l = x.size(1);
        at::Tensor q = q_proj->forward(x).view({b, l, num_heads_, head_dim_});     // [B, L, H, D]
        at::Tensor k = k_proj->forward(x).view({b, l, num_kv_heads_, head_dim_});  // [B, L, KV, D]
        at::Tensor v = v_proj->forward(x).view({b, l, num_kv_heads_, head_dim_});  // [B, L, KV, D]
        q = q * cos + rotate_half(q) * sin;
        k = k * cos + rotate_half(k) * sin;
        const at::Tensor out = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask, scaling_,
                                         softcap_);  // [B, L, H*D]
        return o_proj->forward(out);
    }

    std::shared_ptr<Gemma2LinearImpl> q_proj, k_proj, v_proj, o_proj;

private:
    std::int64_t num_heads_, num_kv_heads_, head_dim_;
    double scaling_;
    std::optional<double> softcap_;
};

class Gemma2MLPImpl : public torch::nn::Module {  // down(gelu_tanh(gate(x)) * up(x))
public:
    Gemma2MLPImpl(const Gemma2Config& c, const at::TensorOptions& options) {
        gate_proj = register_module("gate_proj",
                                    std::make_shared<Gemma2LinearImpl>(c.hidden_size, c.intermediate_size, options));
        up_proj =
            register_module("up_proj", std::make_shared<Gemma2LinearImpl>(c.hidden_size, c.intermediate_size, options));
        down_proj = register_module("down_proj",
                                    std::make_shared<Gemma2LinearImpl>(c.intermediate_size, c.hidden_size, options));
    }
    at::Tensor forward(const at::Tensor& x) {
        return down_proj->forward(at::gelu(gate_proj->forward(x), "tanh") * up_proj->forward(x));
    }

    std::shared_ptr<Gemma2LinearImpl> gate_proj, up_proj, down_proj;
};

class Gemma2DecoderLayerImpl : public torch::nn::Module {
public:
    Gemma2DecoderLayerImpl(const Gemma2Config& c, std::int64_t layer_index, const at::TensorOptions& options)
        : type(c.layer_types.at(static_cast<std::size_t>(layer_index))) {
        self_attn = register_module("self_attn", std::make_shared<Gemma2AttentionImpl>(c, options));
        mlp = register_module("mlp", std::make_shared<Gemma2MLPImpl>(c, options));
        auto norm = [&](const char* name) {
            return register_module(name, std::make_shared<Gemma2RMSNormImpl>(c.hidden_size, c.rms_norm_eps, options));
        };
        input_layernorm = norm("input_layernorm");
        post_attention_layernorm = norm("post_attention_layernorm");
        pre_feedforward_layernorm = norm("pre_feedforward_layernorm");
        post_feedforward_layernorm = norm("post_feedforward_layernorm");
    }

    // Sandwich norms: h += post_norm(block(pre_norm(h))) for attention, then for the MLP.
    at::Tensor forward(const at::Tensor& hidden, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask) {
        at::Tensor attn = self_attn->forward(input_layernorm->forward(hidden), cos, sin, mask);
        const at::Tensor h = hidden + post_attention_layernorm->forward(attn);
        const at::Tensor ff = mlp->forward(pre_feedforward_layernorm->forward(h));
        return h + post_feedforward_layernorm->forward(ff);
    }

    Gemma2LayerType type;
    std::shared_ptr<Gemma2AttentionImpl> self_attn;
    std::shared_ptr<Gemma2MLPImpl> mlp;
    std::shared_ptr<Gemma2RMSNormImpl> input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
        post_feedforward_layernorm;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------------------------
namespace {

double lowest_of(at::ScalarType t) {
    switch (t) {
        case at::kDouble:
            return std::numeric_limits<double>::lowest();
        case at::kBFloat16:
            return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
        case at::kHalf:
            return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
        default:
            return std::numeric_limits<float>::lowest();
    }
}

// The additive mask of transformers' eager_mask: 0 where query q may attend key k, dtype-lowest elsewhere.
// Allowed: k <= q (causal), k > q - window (sliding layers), and key k is not padding.
//   padding [B, L] bool (true = token) or undefined -> [B or 1, 1, L, L]
at::Tensor additive_mask(std::int64_t length, const std::optional<std::int64_t>& window, const at::Tensor& padding,
                         const at::TensorOptions& options) {
    const at::Tensor pos = at::arange(length, at::TensorOptions().dtype(at::kLong).device(options.device()));
    const at::Tensor q = pos.view({length, 1});
    const at::Tensor k = pos.view({1, length});
    at::Tensor allowed = k.le(q);  // [L, L]
    if (window) {
        allowed = allowed.logical_and(k.gt(q - *window));
    }
    allowed = allowed.view({1, 1, length, length});
    if (padding.defined()) {
        allowed = allowed.logical_and(padding.reshape({padding.size(0), 1, 1, length}));  // [B, 1, L, L]
    }
    const double lowest = lowest_of(options.dtype().toScalarType());
    return at::zeros(allowed.sizes(), options).masked_fill_(allowed.logical_not(), lowest);
}

[[noreturn]] void input_fail(const std::string& message) {
    throw core::EngineError(ErrorCode::InvalidRequest, "Gemma-2 text encoder: " + message);
}

std::string sizes_string(at::IntArrayRef s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

}  // namespace

Gemma2ModelImpl::Gemma2ModelImpl(const Gemma2Config& cfg, const at::TensorOptions& options) : config(cfg) {
    check_config(config);
    const at::TensorOptions o = options.requires_grad(false);
    embed_tokens_ = register_module(
        "embed_tokens", std::make_shared<detail::Gemma2EmbeddingImpl>(config.vocab_size, config.hidden_size, o));
    layers_ = register_module("layers", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
        auto layer = std::make_shared<detail::Gemma2DecoderLayerImpl>(config, i, o);
        layers_->push_back(layer);
        layer_impls_.push_back(layer);
    }
    norm_ = register_module("norm",
                            std::make_shared<detail::Gemma2RMSNormImpl>(config.hidden_size, config.rms_norm_eps, o));
}

at::TensorOptions Gemma2ModelImpl::options() const {
    return embed_tokens_->weight.options();
}

at::Tensor Gemma2ModelImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) {
    return run(input_ids, attention_mask, -1).last_hidden_state;
}

Gemma2Output Gemma2ModelImpl::forward_with_hidden_state(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                                        std::int64_t num_layers) {
    if (num_layers < 0 || num_layers > config.num_hidden_layers) {
        input_fail("hidden state after " + std::to_string(num_layers) + " layers asked for; the model has " +
                   std::to_string(config.num_hidden_layers));
    }
    return run(input_ids, attention_mask, num_layers);
}

void Gemma2ModelImpl::check_inputs(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
    if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(0) < 1 || input_ids.size(1) < 1) {
        input_fail("input_ids must be a non-empty [batch, length] tensor, got " +
                   (input_ids.defined() ? sizes_string(input_ids.sizes()) : std::string("none")));
    }
    if (!at::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
        input_fail(std::string("input_ids must hold integer token ids, got ") + c10::toString(input_ids.scalar_type()));
    }
    const std::int64_t lo = input_ids.min().item<std::int64_t>();
    const std::int64_t hi = input_ids.max().item<std::int64_t>();
    if (lo < 0 || hi >= config.vocab_size) {
        input_fail("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary [0, " +
                   std::to_string(config.vocab_size) +
                   "); the tokenizer does not match this text encoder (or the ids are corrupt)");
    }
    if (attention_mask.defined()) {
        if (attention_mask.sizes() != input_ids.sizes()) {
            input_fail("attention_mask " + sizes_string(attention_mask.sizes()) + " does not match input_ids " +
                       sizes_string(input_ids.sizes()));
        }
        if (attention_mask.scalar_type() != at::kBool &&
            attention_mask.ne(0).logical_and(attention_mask.ne(1)).any().item<bool>()) {
            input_fail("attention_mask must hold only 0 (padding) and 1 (token)");
        }
    }
}

Gemma2Output Gemma2ModelImpl::run(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                  std::int64_t capture_layers) {
    check_inputs(input_ids, attention_mask);
    const at::Device device = options().device();
    const at::Tensor padding =  // [B, L] bool, true = token; undefined = no padding
        attention_mask.defined() ? attention_mask.to(device, at::kBool) : at::Tensor();
    return compute(input_ids.to(device, at::kLong), padding, capture_layers);
}

at::Tensor Gemma2ModelImpl::forward_checked(const at::Tensor& input_ids, const at::Tensor& token_mask) {
    return compute(input_ids, token_mask, -1).last_hidden_state;
}

Gemma2Output Gemma2ModelImpl::compute(const at::Tensor& ids, const at::Tensor& padding, std::int64_t capture_layers) {
    const at::TensorOptions opts = options();
    const at::ScalarType dtype = opts.dtype().toScalarType();
    const std::int64_t length = ids.size(1);

    // --- Embedding, RoPE tables, masks --------------------------------------------------------------------------
    // h = embed(ids) * sqrt(hidden), the normaliser rounded to the model dtype first as transformers does
    // (sqrt(2304) = 48 is exact in bf16; other sizes are not).
    at::Tensor hidden = embed_tokens_->forward(ids);  // [B, L, hidden]
    hidden = hidden * at::scalar_tensor(std::sqrt(static_cast<double>(config.hidden_size)), opts);

    // RoPE in float32: inv_freq_i = 1 / theta^(2i / D), angle = position * inv_freq, positions 0..L-1
    // (padding sits on the right, so real tokens get 0..n-1), [cos | cos] layout; then cast to the model dtype.
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(opts.device());
    const at::Tensor exponents =
        at::arange(0, config.head_dim, 2, f32.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(config.head_dim);
    const at::Tensor inv_freq = at::pow(config.rope_theta, exponents).reciprocal();          // [D/2]
    const at::Tensor angles = at::arange(length, f32).unsqueeze(1) * inv_freq.unsqueeze(0);  // [L, D/2]
    const at::Tensor emb = at::cat({angles, angles}, -1);                                    // [L, D]
    const at::Tensor cos = emb.cos().to(dtype).unsqueeze(1);                                 // [L, 1, D]
    const at::Tensor sin = emb.sin().to(dtype).unsqueeze(1);                                 // [L, 1, D]

    at::Tensor full_mask, sliding_mask;  // built on first use
    auto mask_for = [&](Gemma2LayerType type) -> const at::Tensor& {
        if (type == Gemma2LayerType::SlidingAttention) {
            if (!sliding_mask.defined()) sliding_mask = additive_mask(length, config.sliding_window, padding, opts);
            return sliding_mask;
        }
        if (!full_mask.defined()) full_mask = additive_mask(length, std::nullopt, padding, opts);
        return full_mask;
    };

    // --- Layers ---------------------------------------------------------------------------------------------
    Gemma2Output out;
    if (capture_layers == 0) out.hidden_state = hidden;
    for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
        const auto& layer = layer_impls_[static_cast<std::size_t>(i)];
        hidden = layer->forward(hidden, cos, sin, mask_for(layer->type));
        if (capture_layers == i + 1) out.hidden_state = hidden;
    }
    out.last_hidden_state = norm_->forward(hidden);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------------
Expected<Gemma2Model> load_gemma2_model(const std::string& dir, const Gemma2LoadOptions& options) {
    namespace fs = std::filesystem;
    if (!at::isFloatingType(options.dtype)) {
        return make_error(ErrorCode::InvalidRequest, std::string("Gemma-2 text encoder: dtype ") +
                                                         c10::toString(options.dtype) + " is not a floating type");
    }
    const std::string config_path = (fs::path(dir) / "config.json").string();
    auto json = core::read_json_file(config_path);
    if (!json) {
        return Unexpected{json.error()};
    }
    auto config = Gemma2Config::from_json(*json);
    if (!config) {
        return make_error(config.error().code, config_path + ": " + config.error().message);
    }
    auto weights = io::load_safetensors_folder(dir, {"model"});
    if (!weights) {
        return Unexpected{weights.error()};
    }
    try {
        Gemma2Model model(*config, at::TensorOptions().dtype(options.dtype).device(options.device));
        io::StateDictOptions load_options;
        // A Gemma2ForCausalLM checkpoint keeps the decoder under "model." (and a tied lm_head outside it).
        if (weights->count("embed_tokens.weight") == 0 && weights->count("model.embed_tokens.weight") != 0) {
            load_options.prefix = "model.";
        }
        auto report = io::load_state_dict(*model, *weights, load_options, "Gemma-2 text encoder in " + dir);
        if (!report) {
            return Unexpected{report.error()};
        }
        model->eval();
        return model;
    } catch (const core::EngineError& e) {
        return Unexpected{e.to_error()};
    }
}

}  // namespace engine::models
