// Ref: AILab-CVC/VideoCrafter lvdm/modules/encoders/condition.py@11bcd76 FrozenOpenCLIPEmbedder
//      (identical in Doubiiu/DynamiCrafter@c453369)
// Ref: mlfoundations/open_clip src/open_clip/model.py@v2.22.0 CLIP (text tower), build_attention_mask
// The text encoder of VideoCrafter / DynamiCrafter: open_clip's text tower as FrozenOpenCLIPEmbedder runs it.
//   x = token_embedding(tokens) + positional_embedding          // [B, 77, W]
//   x = resblocks[0 .. n)(x, causal mask)                        // n = layers - 1 for layer="penultimate"
//   x = ln_final(x)                                              // applied after the penultimate block too
// The output is every token's state ([B, 77, W]; W = 1024 for ViT-H-14), not the pooled/projected embedding:
// text_projection and logit_scale are in the checkpoint but unused (ignored by name at load).
//
//     auto weights = core::unwrap(io::load_safetensors(path));            // or the .ckpt state_dict
//     auto config = core::unwrap(models::OpenCLIPTextConfig::from_embedder_params(yaml_cond_stage_params));
//     auto text = core::unwrap(models::load_open_clip_text_encoder(weights, config, {at::kFloat, at::kCPU}));
//     auto batch = core::unwrap(tokenizer.tokenize({"a cat"}));          // tokenizers::CLIPTokenizer, 77 ids
//     at::Tensor ids = at::tensor(batch.input_ids, at::kLong).view({batch.batch_size, batch.sequence_length});
//     at::Tensor context = text->forward(ids);                            // [1, 77, 1024]
//
// Thread safety: a loaded encoder is read-only during forward(); the engine uses it from its worker thread.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "engine/error.h"
#include "io/safetensors.h"
#include "models/text_encoders/open_clip_transformer.h"

namespace engine::models {

/// Which hidden state FrozenOpenCLIPEmbedder returns (its `layer` parameter; "pooled" is not implemented there).
enum class OpenCLIPTextLayer {
    None = 0,
    Last,         // "last": all blocks, then ln_final
    Penultimate,  // "penultimate": all blocks but the last, then ln_final (VideoCrafter, DynamiCrafter)
};

/// "last" / "penultimate" ("none" for None).
const char* to_string(OpenCLIPTextLayer layer) noexcept;
/// The inverse of to_string; nullopt for any other name.
std::optional<OpenCLIPTextLayer> open_clip_text_layer_from_string(const std::string& name) noexcept;

/// open_clip's CLIPTextCfg fields that shape the weights or the math, plus the embedder's layer choice.
/// Defaults are open_clip's CLIPTextCfg defaults; vit_h_14() gives the real VideoCrafter / DynamiCrafter sizes.
struct OpenCLIPTextConfig {
    std::int64_t vocab_size = 49408;
    std::int64_t context_length = 77;
    std::int64_t width = 512;
    std::int64_t heads = 8;
    std::int64_t layers = 12;
    double mlp_ratio = 4.0;
    double layer_norm_eps = 1e-5;
    OpenCLIPTextLayer layer = OpenCLIPTextLayer::Penultimate;

    /// The blocks forward() runs: layers - 1 for Penultimate, layers for Last.
    std::int64_t num_blocks_run() const;
    /// The transformer sizes.
    OpenCLIPTransformerOptions transformer_options() const;

    /// ViT-H-14's text tower (open_clip model_configs/ViT-H-14.json): width 1024, 16 heads, 24 layers, 77 tokens,
    /// vocabulary 49408; layer = Penultimate.
    static OpenCLIPTextConfig vit_h_14();
    /// An open_clip architecture name; only "ViT-H-14" (what every VideoCrafter / DynamiCrafter checkpoint uses)
    /// is known: others are UnsupportedModel errors.
    static Expected<OpenCLIPTextConfig> from_arch(const std::string& arch);
    /// A text tower section: open_clip's "text_cfg" of a model config, or the "open_clip"."text" section of the
    /// golden configs (keys vocab_size, context_length, width, heads, layers, mlp_ratio; an optional "layer").
    /// Absent keys take open_clip's defaults; keys that change the math in ways not implemented (an HF text model,
    /// LayerScale, a class token, no causal mask, QuickGELU, other norms / activations) are UnsupportedModel errors.
    static Expected<OpenCLIPTextConfig> from_json(const nlohmann::json& tower);
    /// The params of the YAML's cond_stage_config (FrozenOpenCLIPEmbedder: arch, layer, max_length; defaults
    /// "ViT-H-14", "last", 77 as in the Python class). `tower`, when given, replaces the arch's sizes (the tiny
    /// golden configs carry their sizes in an "open_clip"."text" section).
    static Expected<OpenCLIPTextConfig> from_embedder_params(const nlohmann::json& params,
                                                             const nlohmann::json* tower = nullptr);
};

/// open_clip's text tower as FrozenOpenCLIPEmbedder uses it. Registration names are the checkpoint keys after
/// `cond_stage_model.model.`: token_embedding.weight, positional_embedding, transformer.resblocks.N.*, ln_final.*.
/// All `layers` blocks are registered (the checkpoint has them) even when the last one is not run.
class OpenCLIPTextEncoderImpl : public torch::nn::Module {
public:
    /// Parameters are allocated with `options` (dtype, device) and left uninitialised: load weights into them
    /// (load_open_clip_text_encoder does) before use.
    explicit OpenCLIPTextEncoderImpl(const OpenCLIPTextConfig& config, const at::TensorOptions& options = {});

    /// tokens [B, context_length] (integer ids in [0, vocab_size), as CLIPTokenizer::tokenize makes them)
    /// -> [B, context_length, width] in the model dtype, on the model device. Bad inputs throw
    /// core::EngineError(InvalidRequest).
    at::Tensor forward(const at::Tensor& tokens);

    /// dtype and device of the parameters.
    at::TensorOptions options() const;

    OpenCLIPTextConfig config;
    at::Tensor token_embedding_weight;  // key token_embedding.weight: [vocab_size, width]
    at::Tensor positional_embedding;    // [context_length, width]
    OpenCLIPTransformer transformer{nullptr};
    PlainLayerNorm ln_final{nullptr};
};
TORCH_MODULE(OpenCLIPTextEncoder);

/// Where and how a conditioning encoder is loaded.
struct OpenCLIPLoadOptions {
    at::ScalarType dtype = at::kFloat;  // float32 (default), bfloat16, float16 or float64
    c10::Device device = c10::Device(c10::kCPU);
};

/// The key prefix of the text tower in VideoCrafter / DynamiCrafter checkpoints.
inline constexpr const char* kOpenCLIPTextPrefix = "cond_stage_model.model.";

/// Builds the encoder and loads it strictly from the keys of `weights` under `prefix` (text_projection and
/// logit_scale are skipped as unused). ModelLoadFailed when the weights do not fit (missing, unexpected or mis-shaped
/// keys).
Expected<OpenCLIPTextEncoder> load_open_clip_text_encoder(const io::TensorMap& weights,
                                                          const OpenCLIPTextConfig& config,
                                                          const OpenCLIPLoadOptions& options = {},
                                                          const std::string& prefix = kOpenCLIPTextPrefix);

}  // namespace engine::models
