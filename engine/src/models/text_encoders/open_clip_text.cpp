// Ref: AILab-CVC/VideoCrafter lvdm/modules/encoders/condition.py@11bcd76 FrozenOpenCLIPEmbedder
// Ref: mlfoundations/open_clip src/open_clip/model.py@v2.22.0 CLIPTextCfg, CLIP.encode_text, build_attention_mask;
//      src/open_clip/model_configs/ViT-H-14.json
#include "models/text_encoders/open_clip_text.h"

#include <ATen/ATen.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "core/engine_error.h"
#include "models/common/model_loading.h"
#include "io/state_dict.h"
#include "models/common/json_config.h"
#include "models/text_encoders/open_clip_loading.h"

namespace engine::models {

const char* to_string(OpenCLIPTextLayer layer) noexcept {
    switch (layer) {
        case OpenCLIPTextLayer::Last:
            return "last";
        case OpenCLIPTextLayer::Penultimate:
            return "penultimate";
        case OpenCLIPTextLayer::None:
            break;
    }
    return "none";
}

std::optional<OpenCLIPTextLayer> open_clip_text_layer_from_string(const std::string& name) noexcept {
    if (name == "last") return OpenCLIPTextLayer::Last;
    if (name == "penultimate") return OpenCLIPTextLayer::Penultimate;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------
namespace {

constexpr const char* kWhat = "open_clip text tower config";

// Everything the module relies on; used by from_json and by the constructor (hand-made configs).
void check_config(const OpenCLIPTextConfig& c) {
    auto fail = [](const std::string& m) {
        throw core::EngineError(ErrorCode::ModelLoadFailed, std::string(kWhat) + ": " + m);
    };
    auto positive = [&](std::int64_t v, const char* name) {
        if (v <= 0) fail(std::string(name) + " must be positive, got " + std::to_string(v));
    };
    positive(c.vocab_size, "vocab_size");
    positive(c.context_length, "context_length");
    positive(c.width, "width");
    positive(c.heads, "heads");
    positive(c.layers, "layers");
    if (c.width % c.heads != 0) {
        fail("width (" + std::to_string(c.width) + ") must be a multiple of heads (" + std::to_string(c.heads) + ")");
    }
    if (!(c.mlp_ratio > 0.0) || static_cast<std::int64_t>(static_cast<double>(c.width) * c.mlp_ratio) <= 0) {
        fail("mlp_ratio must give a positive MLP width");
    }
    if (!(c.layer_norm_eps > 0.0)) fail("layer_norm_eps must be positive");
    if (c.layer == OpenCLIPTextLayer::None) fail("no output layer chosen (\"last\" or \"penultimate\")");
    if (c.layer == OpenCLIPTextLayer::Penultimate && c.layers < 2) {
        fail("layer \"penultimate\" needs at least 2 blocks, the tower has " + std::to_string(c.layers));
    }
}

OpenCLIPTextLayer read_layer(const JsonConfigReader& r, const std::string& fallback) {
    const std::string name = r.string("layer", fallback);
    if (name == "pooled") {
        r.fail(ErrorCode::UnsupportedModel,
               "layer \"pooled\" is not implemented (FrozenOpenCLIPEmbedder supports \"last\" and \"penultimate\")");
    }
    const auto layer = open_clip_text_layer_from_string(name);
    if (!layer) {
        r.fail(ErrorCode::ModelLoadFailed, "layer \"" + name + "\" is not one of \"last\", \"penultimate\"");
    }
    return *layer;
}


}  // namespace

std::int64_t OpenCLIPTextConfig::num_blocks_run() const {
    return layer == OpenCLIPTextLayer::Penultimate ? layers - 1 : layers;
}

OpenCLIPTransformerOptions OpenCLIPTextConfig::transformer_options() const {
    return OpenCLIPTransformerOptions::of(*this);
}

OpenCLIPTextConfig OpenCLIPTextConfig::vit_h_14() {
    OpenCLIPTextConfig c;
    c.vocab_size = 49408;
    c.context_length = 77;
    c.width = 1024;
    c.heads = 16;
    c.layers = 24;
    c.mlp_ratio = 4.0;
    c.layer = OpenCLIPTextLayer::Penultimate;
    return c;
}

Expected<OpenCLIPTextConfig> OpenCLIPTextConfig::from_arch(const std::string& arch) {
    if (arch == "ViT-H-14") {
        return vit_h_14();
    }
    return make_error(ErrorCode::UnsupportedModel,
                      std::string(kWhat) + ": open_clip architecture \"" + arch +
                          "\" is not known; VideoCrafter / DynamiCrafter use \"ViT-H-14\" (give the tower sizes "
                          "explicitly for anything else)");
}

Expected<OpenCLIPTextConfig> OpenCLIPTextConfig::from_json(const nlohmann::json& tower) {
    return guarded_config_parse(kWhat, [&] {
        const JsonConfigReader r(tower, kWhat);
        OpenCLIPTextConfig c;
        c.vocab_size = r.positive_int("vocab_size", c.vocab_size);
        c.context_length = r.positive_int("context_length", c.context_length);
        c.width = r.positive_int("width", c.width);
        c.heads = r.positive_int("heads", c.heads);
        c.layers = r.positive_int("layers", c.layers);
        c.mlp_ratio = r.number("mlp_ratio", c.mlp_ratio);
        c.layer = read_layer(r, to_string(c.layer));
        // Keys of open_clip's CLIPTextCfg that would change the per-token states computed here. Keys that only
        // touch pooling / projection (pool_type, proj_type, proj_bias, pad_id, output_tokens, ...) are ignored.
        const std::string hf = r.string("hf_model_name", "");
        if (!hf.empty()) {
            r.fail(ErrorCode::UnsupportedModel, "a Hugging Face text model (hf_model_name \"" + hf +
                                                    "\") is not implemented; only open_clip's own "
                                                    "text transformer is");
        }
        r.require_default("embed_cls", false, "a learned class token is not implemented");
        r.require_default("no_causal_mask", false, "only the causal text transformer is implemented");
        refuse_unsupported_block_options(r);
        check_config(c);
        return c;
    });
}

Expected<OpenCLIPTextConfig> OpenCLIPTextConfig::from_embedder_params(const nlohmann::json& params,
                                                                      const nlohmann::json* tower) {
    return guarded_config_parse(kWhat, [&] {
        const JsonConfigReader r(params, "FrozenOpenCLIPEmbedder params");
        // max_length is stored by the Python class but never used (open_clip.tokenize always makes 77 tokens).
        OpenCLIPTextConfig c =
            core::unwrap(tower != nullptr ? from_json(*tower) : from_arch(r.string("arch", "ViT-H-14")));
        c.layer = read_layer(r, "last");  // the Python class defaults to "last"; the YAMLs say "penultimate"
        check_config(c);
        return c;
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Module
// ---------------------------------------------------------------------------------------------------------------
namespace {

[[noreturn]] void input_fail(const std::string& message) {
    throw core::EngineError(ErrorCode::InvalidRequest, "open_clip text encoder: " + message);
}

std::string sizes_string(at::IntArrayRef s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

}  // namespace

OpenCLIPTextEncoderImpl::OpenCLIPTextEncoderImpl(const OpenCLIPTextConfig& cfg, const at::TensorOptions& options)
    : config(cfg) {
    check_config(config);
    const at::TensorOptions o = options.requires_grad(false);
    auto token_embedding = register_module("token_embedding", std::make_shared<torch::nn::Module>());
    token_embedding_weight =
        token_embedding->register_parameter("weight", at::empty({config.vocab_size, config.width}, o), false);
    positional_embedding =
        register_parameter("positional_embedding", at::empty({config.context_length, config.width}, o), false);
    transformer = register_module("transformer", OpenCLIPTransformer(config.transformer_options(), o));
    ln_final = register_module("ln_final", PlainLayerNorm(config.width, config.layer_norm_eps, o));
}

at::TensorOptions OpenCLIPTextEncoderImpl::options() const {
    return positional_embedding.options();
}

at::Tensor OpenCLIPTextEncoderImpl::forward(const at::Tensor& tokens) {
    if (!tokens.defined() || tokens.dim() != 2 || tokens.size(0) < 1) {
        input_fail("tokens must be a [batch, " + std::to_string(config.context_length) + "] tensor, got " +
                   (tokens.defined() ? sizes_string(tokens.sizes()) : std::string("none")));
    }
    if (tokens.size(1) != config.context_length) {
        input_fail("each prompt must have exactly " + std::to_string(config.context_length) +
                   " token ids (open_clip's context length: SOT, text, EOT, zero padding), got " +
                   std::to_string(tokens.size(1)) + "; tokenize with CLIPTokenizer::tokenize");
    }
    if (!at::isIntegralType(tokens.scalar_type(), /*includeBool=*/false)) {
        input_fail(std::string("tokens must hold integer ids, got ") + c10::toString(tokens.scalar_type()));
    }
    const at::TensorOptions opts = options();
    const at::Tensor ids = tokens.to(opts.device(), at::kLong);  // [B, L]
    const std::int64_t lo = ids.min().item<std::int64_t>();
    const std::int64_t hi = ids.max().item<std::int64_t>();
    if (lo < 0 || hi >= config.vocab_size) {
        input_fail("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary [0, " +
                   std::to_string(config.vocab_size) + "); the tokenizer does not match this text encoder");
    }
    const std::int64_t length = config.context_length;

    at::Tensor x = at::embedding(token_embedding_weight, ids) + positional_embedding;  // [B, L, W]
    // build_attention_mask: -inf strictly above the diagonal, i.e. token i attends to tokens 0..i.
    const at::Tensor causal =
        at::ones({length, length}, at::TensorOptions().dtype(at::kBool).device(opts.device())).tril();  // [L, L]
    x = transformer->forward(x, causal, config.num_blocks_run());                                       // [B, L, W]
    return ln_final->forward(x);
}

// ---------------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------------
Expected<OpenCLIPTextEncoder> load_open_clip_text_encoder(const io::TensorMap& weights,
                                                          const OpenCLIPTextConfig& config,
                                                          const OpenCLIPLoadOptions& options,
                                                          const std::string& prefix) {
    // text_projection and logit_scale are in the checkpoint, unused by FrozenOpenCLIPEmbedder (they serve the pooled
    // CLIP embedding).
    return load_open_clip_tower<OpenCLIPTextEncoder>(weights, config, options, prefix, "open_clip text encoder",
                                                     {"^text_projection$", "^logit_scale$"});
}

}  // namespace engine::models
