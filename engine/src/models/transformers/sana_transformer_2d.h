// Ref: huggingface/diffusers src/diffusers/models/transformers/sana_transformer.py@58eb52c0803e
//      SanaTransformer2DModel, SanaTransformerBlock, SanaModulatedNorm, SanaCombinedTimestepGuidanceEmbeddings
// The Sana / SANA-Sprint / SANA-1.5 denoiser (linear-attention DiT), computing what diffusers computes.
//
//     auto model = core::unwrap(models::load_sana_transformer_2d(dir + "/transformer", {at::kBFloat16, device}));
//     models::SanaConditioning cond;
//     cond.encoder_attention_mask = mask;                       // [B, L], 1 = keep
//     at::Tensor v = model->forward(latents, prompt_embeds, t * model->config.timestep_scale, cond);
//
// The caller (pipeline) owns timestep scaling: Sana passes t · config.timestep_scale (t = σ·1000), Sprint passes
// the TrigFlow value sin t / (sin t + cos t) unscaled and guidance = guidance_scale · config.guidance_embeds_scale
// (diffusers casts guidance_scale to the prompt-embeddings dtype before that multiply).
// Thread safety: a module is used by one thread at a time (the engine worker).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "models/common/attention.h"
#include "models/common/embeddings.h"
#include "models/common/feed_forward.h"
#include "models/common/normalization.h"
#include "models/common/plain_layers.h"

namespace engine::models {

/// diffusers SanaTransformer2DModel's config (transformer/config.json). Absent keys take diffusers' defaults.
struct SanaTransformer2DConfig {
    int64_t in_channels = 32;
    int64_t out_channels = 32;  // null or 0 in the JSON → in_channels
    int64_t num_attention_heads = 70;
    int64_t attention_head_dim = 32;
    int64_t num_layers = 20;
    int64_t num_cross_attention_heads = 20;
    int64_t cross_attention_head_dim = 112;
    int64_t cross_attention_dim = 2240;
    int64_t caption_channels = 2304;
    double mlp_ratio = 2.5;
    double dropout = 0.0;  // training only
    bool attention_bias = false;
    int64_t sample_size = 32;  // the base latent size: 1024 px / 32 = 32; base_size of the positional embedding
    int64_t patch_size = 1;
    bool norm_elementwise_affine = false;
    double norm_eps = 1e-6;
    std::optional<double> interpolation_scale;  // set (2K: 1.0, 4K: 2.0) → 2D sin-cos positional embedding
    bool guidance_embeds = false;               // SANA-Sprint: a guidance embedder beside the timestep embedder
    double guidance_embeds_scale = 0.1;         // used by the pipeline: guidance = scale_ui · guidance_embeds_scale
    QKNorm qk_norm = QKNorm::None;              // Sprint / SANA-1.5: rms_norm_across_heads
    double timestep_scale = 1.0;                // used by the pipeline: timestep = t · timestep_scale

    /// D = num_attention_heads · attention_head_dim (the token width).
    int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
    /// num_cross_attention_heads · cross_attention_head_dim.
    int64_t cross_inner_dim() const { return num_cross_attention_heads * cross_attention_head_dim; }

    /// Parses diffusers' config.json. Keys starting with '_' are metadata and ignored. Any other unknown key, or
    /// a known key with a value Kinora does not implement, is an UnsupportedModel error naming the key (an
    /// unknown key may change the computation, and a silently wrong image is worse than a refusal); wrong types
    /// or impossible values are ModelLoadFailed.
    static Expected<SanaTransformer2DConfig> from_json(const nlohmann::json& json);
};

/// Optional inputs of SanaTransformer2D::forward.
struct SanaConditioning {
    /// [B, L], 1 = keep, 0 = padding (any dtype); nullopt = attend to every caption token.
    std::optional<at::Tensor> encoder_attention_mask;
    /// [B], already multiplied by config.guidance_embeds_scale; required iff config.guidance_embeds.
    std::optional<at::Tensor> guidance;
    /// The blocks' cross-attention keys and values of encoder_hidden_states, as SanaTransformer2DImpl::caption_kv
    /// computes them: [k₀, v₀, k₁, v₁, …]. The caption is the same at every denoising step, so the pipeline computes
    /// them once per image. Empty: forward computes them. Given: encoder_hidden_states is only checked, not used.
    std::vector<at::Tensor> caption_kv;
    /// With caption_kv only: the cross-attention outputs of the first S samples, whose captions hold one token each
    /// (Sana's empty negative prompt: <bos> alone), as SanaTransformer2DImpl::caption_constants computes them: one
    /// [S, 1, D] per block. Such a sample's softmax gives its one key the weight 1 and every masked key exactly 0, so
    /// its cross-attention is the same row for every query; the blocks add it instead of computing it. Empty: every
    /// sample's cross-attention is computed.
    std::vector<at::Tensor> caption_constants;
};

/// SanaCombinedTimestepGuidanceEmbeddings (guidance_embeds=True). Keys: timestep_embedder.*, guidance_embedder.*,
/// linear.* (no ".emb." level, unlike AdaLayerNormSingle).
class SanaCombinedTimestepGuidanceEmbeddingsImpl : public torch::nn::Module {
public:
    explicit SanaCombinedTimestepGuidanceEmbeddingsImpl(int64_t embedding_dim, const at::TensorOptions& options = {});
    TimestepModulation forward(const at::Tensor& timestep, const at::Tensor& guidance, at::ScalarType hidden_dtype);

    TimestepEmbedding timestep_embedder{nullptr};
    TimestepEmbedding guidance_embedder{nullptr};
    PlainLinear linear{nullptr};
};
TORCH_MODULE(SanaCombinedTimestepGuidanceEmbeddings);

/// The adaLN modulation of one SanaTransformerBlock, each [B, 1, D]: shift, scale and gate of the self-attention, then
/// of the feed-forward (rows of the table + timestep sum, scale_shift_table + modulation).
struct SanaBlockModulation {
    at::Tensor shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp;
};

/// The modulated LayerNorm that follows a block's output: the next block's norm1 or the model's final norm_out.
struct SanaFollowingNorm {
    at::Tensor shift, scale;  // [B, 1, D]
    double eps = 1e-6;
};

/// SanaTransformerBlock: adaLN-modulated linear self-attention, ungated and unnormalized cross-attention, and
/// the GLUMBConv feed-forward on the token grid. Keys: scale_shift_table, attn1.*, attn2.*, ff.*, norm2.* (only
/// with norm_elementwise_affine). Each residual add runs in one pass with the modulated LayerNorm that follows it
/// (kernels::residual_layer_norm_modulate), so a block ends with the next block's norm1 input.
class SanaTransformerBlockImpl : public torch::nn::Module {
public:
    explicit SanaTransformerBlockImpl(const SanaTransformer2DConfig& config, const at::TensorOptions& options = {});
    /// hidden_states [B, N, D] and norm1 = LN(hidden_states)·(1 + scale_msa) + shift_msa (computed by the caller, or
    /// by the previous block's forward as its second result); context_k, context_v: the projected caption's keys and
    /// values for attn2 (sdpa_context_kv), [B, H, L, d]; context_bias [B, 1, L] or nullopt; height × width = N (token
    /// grid); hidden_states and norm1 may hold one sample for all B of the caption (the same latent for each:
    /// widened to B after the self-attention); cross_constant: undefined, or the cross-attention output [S, 1, D] of
    /// the first S samples (SanaConditioning::caption_constants), which are then not computed. Returns {the block's
    /// output [B, N, D], following(output) [B, N, D]}.
    std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& hidden_states, const at::Tensor& norm1,
                                              const at::Tensor& context_k, const at::Tensor& context_v,
                                              const std::optional<at::Tensor>& context_bias,
                                              const SanaBlockModulation& mod, int64_t height, int64_t width,
                                              const SanaFollowingNorm& following,
                                              const at::Tensor& cross_constant = {});

    double norm_eps = 1e-6;
    Attention attn1{nullptr};
    Attention attn2{nullptr};
    GLUMBConv ff{nullptr};
    PlainLayerNorm norm2{nullptr};  // only with norm_elementwise_affine; otherwise a parameter-free LayerNorm
    at::Tensor scale_shift_table;   // [6, D]
};
TORCH_MODULE(SanaTransformerBlock);

/// diffusers SanaTransformer2DModel. Registration names are the diffusers checkpoint keys.
class SanaTransformer2DImpl : public torch::nn::Module {
public:
    /// Parameters are allocated with `options` (dtype, device) and left uninitialised: load weights into them
    /// (load_sana_transformer_2d does) before use. No float32 CPU init of 1.6 B parameters for a bfloat16 GPU model.
    explicit SanaTransformer2DImpl(const SanaTransformer2DConfig& config, const at::TensorOptions& options = {});

    /// hidden_states [B, in_channels, H, W] (H, W divisible by patch_size), encoder_hidden_states
    /// [B, L, caption_channels], timestep [B] (float; see the header comment for its scaling)
    /// → [B, out_channels, H, W] in the model's dtype. hidden_states [1, …] with timestep [1] (and guidance [1])
    /// is one latent for all B captions (CFG): the same output as that latent repeated B times, with what comes
    /// before block 0's cross-attention computed once. Inputs are cast to the model's dtype (its parameters');
    /// the timestep / guidance sinusoids are float32 as in diffusers. Bad shapes throw core::EngineError
    /// (InvalidRequest).
    at::Tensor forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                       const at::Tensor& timestep, const SanaConditioning& conditioning = {});

    /// The blocks' cross-attention keys and values of a caption (SanaConditioning::caption_kv): the caption projection
    /// and norm, then each block's attn2 to_k / to_v (+ norm_k). encoder_hidden_states [B, L, caption_channels] →
    /// [k₀, v₀, k₁, v₁, …], each [B, H, L, d] in the model's dtype. 40 GEMMs of the caption for Sana 1600M.
    std::vector<at::Tensor> caption_kv(const at::Tensor& encoder_hidden_states);

    /// SanaConditioning::caption_constants for the first `samples` samples of a caption whose rows there hold exactly
    /// one token each (checked: the mask is read on the host, once per run): each block's attn2 on one query row
    /// against caption_kv(...)'s keys and values and the mask [B, L]. [c₀, c₁, …], each [samples, 1, D].
    std::vector<at::Tensor> caption_constants(const std::vector<at::Tensor>& caption_kv, const at::Tensor& mask,
                                              int64_t samples);

    /// The dtype of the parameters (the activation dtype of forward).
    at::ScalarType dtype() const;

    /// Packs each block's self-attention q, k, v (and cross-attention k, v) projections so that each set runs as one
    /// matrix product (models/common/attention.h, pack_projections); not where a qk norm follows them. The loader calls
    /// it; memory neutral. Returns the number of sets packed.
    int64_t pack_projections();
    /// Quantises the blocks' linear layers (attn1 / attn2 to_q, to_k, to_v, to_out.0; ff.conv_inverted, ff.conv_point:
    /// ~98 % of the weights and of the FLOPs) with `mode` (models/common/quantized_linear.h), releasing their float
    /// weights; the embeddings, adaLN, caption projection and proj_out stay in the model's dtype. Layers whose shape the
    /// mode does not take stay too. Returns the number quantised. The last step of loading: no moves afterwards.
    int64_t quantize_blocks(WeightQuantization mode);
    /// What quantize_blocks applied (None: not quantised).
    WeightQuantization quantization = WeightQuantization::None;

    SanaTransformer2DConfig config;
    PatchEmbed patch_embed{nullptr};
    AdaLayerNormSingle time_embed{nullptr};                               // guidance_embeds = false
    SanaCombinedTimestepGuidanceEmbeddings time_embed_guidance{nullptr};  // guidance_embeds = true (key "time_embed")
    PixArtAlphaTextProjection caption_projection{nullptr};
    RMSNorm caption_norm{nullptr};
    torch::nn::ModuleList transformer_blocks{nullptr};
    at::Tensor scale_shift_table;  // [2, D]: final layer [shift, scale]
    PlainLinear proj_out{nullptr};
};
TORCH_MODULE(SanaTransformer2D);

struct SanaTransformer2DLoadOptions {
    at::ScalarType dtype = at::kFloat;
    c10::Device device = c10::Device(c10::kCPU);
};

/// Builds the model from <folder>/config.json and loads <folder>/diffusion_pytorch_model.safetensors (or its
/// sharded .index.json) strictly: every key must match by name and shape. Errors name the file and the keys.
Expected<SanaTransformer2D> load_sana_transformer_2d(const std::string& folder,
                                                     const SanaTransformer2DLoadOptions& options = {});

}  // namespace engine::models
