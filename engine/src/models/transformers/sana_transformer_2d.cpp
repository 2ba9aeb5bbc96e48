// Ref: huggingface/diffusers src/diffusers/models/transformers/sana_transformer.py@58eb52c0803e
//      SanaTransformer2DModel, SanaTransformerBlock, SanaModulatedNorm, SanaCombinedTimestepGuidanceEmbeddings
#include "models/transformers/sana_transformer_2d.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <tuple>
#include <utility>

#include "core/engine_error.h"
#include "models/common/json_config.h"
#include "models/common/model_loading.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "kernels/ops.h"

namespace engine::models {
namespace {

const char* const kWhat = "SanaTransformer2D config";

std::string shape_of(const at::Tensor& t) {
    std::ostringstream os;
    os << t.sizes();
    return os.str();
}

// Throws InvalidRequest with the message unless cond holds.
void require_input(bool cond, const std::string& message) {
    core::require(cond, ErrorCode::InvalidRequest, "SanaTransformer2D: " + message);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Config

Expected<SanaTransformer2DConfig> SanaTransformer2DConfig::from_json(const nlohmann::json& json) {
    return guarded_config_parse(kWhat, [&] {
        const JsonConfigReader r(json, kWhat, JsonConfigReader::Integers::Strict);
        if (const nlohmann::json* cls = r.find("_class_name");
            cls != nullptr && (!cls->is_string() || cls->get<std::string>() != "SanaTransformer2DModel")) {
            r.fail(ErrorCode::UnsupportedModel,
                   "\"_class_name\" is " + cls->dump() + ", not \"SanaTransformer2DModel\": this is not a Sana transformer");
        }
        r.refuse_unknown_keys({"in_channels", "out_channels", "num_attention_heads", "attention_head_dim", "num_layers",
                               "num_cross_attention_heads", "cross_attention_head_dim", "cross_attention_dim",
                               "caption_channels", "mlp_ratio", "dropout", "attention_bias", "sample_size",
                               "patch_size", "norm_elementwise_affine", "norm_eps", "interpolation_scale",
                               "guidance_embeds", "guidance_embeds_scale", "qk_norm", "timestep_scale"},
                              "it may change the computation, so this model is refused. The transformer may come from "
                              "a newer diffusers version than Kinora knows");
        // Keys diffusers accepts as null but whose null breaks SanaTransformer2DModel (no cross-attention → no norm2).
        for (const char* key : {"num_cross_attention_heads", "cross_attention_head_dim", "cross_attention_dim"}) {
            if (r.is_null(key)) {
                r.fail(ErrorCode::UnsupportedModel, std::string("key \"") + key +
                                                        "\" = null (a Sana transformer without cross-attention) is "
                                                        "not supported");
            }
        }
        // Only out_channels, interpolation_scale and qk_norm mean something as null (the reader reads a null as
        // "absent, use the default", which would hide a broken config here).
        for (const char* key : {"in_channels", "num_attention_heads", "attention_head_dim", "num_layers",
                                "caption_channels", "mlp_ratio", "dropout", "attention_bias", "sample_size",
                                "patch_size", "norm_elementwise_affine", "norm_eps", "guidance_embeds",
                                "guidance_embeds_scale", "timestep_scale"}) {
            if (r.is_null(key)) {
                r.fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must not be null");
            }
        }

        SanaTransformer2DConfig c;
        c.in_channels = r.positive_int("in_channels", c.in_channels);
        // diffusers: out_channels or in_channels (null → in_channels; absent → the signature's default).
        c.out_channels = r.is_null("out_channels") ? c.in_channels : r.positive_int("out_channels", c.out_channels);
        c.num_attention_heads = r.positive_int("num_attention_heads", c.num_attention_heads);
        c.attention_head_dim = r.positive_int("attention_head_dim", c.attention_head_dim);
        c.num_layers = r.optional_int("num_layers").value_or(c.num_layers);
        if (c.num_layers < 0) {
            r.fail(ErrorCode::ModelLoadFailed,
                   "key \"num_layers\" must not be negative, got " + std::to_string(c.num_layers));
        }
        c.num_cross_attention_heads = r.positive_int("num_cross_attention_heads", c.num_cross_attention_heads);
        c.cross_attention_head_dim = r.positive_int("cross_attention_head_dim", c.cross_attention_head_dim);
        c.cross_attention_dim = r.positive_int("cross_attention_dim", c.cross_attention_dim);
        c.caption_channels = r.positive_int("caption_channels", c.caption_channels);
        c.mlp_ratio = r.number("mlp_ratio", c.mlp_ratio);
        c.dropout = r.number("dropout", c.dropout);  // inference: no effect
        c.attention_bias = r.flag("attention_bias", c.attention_bias);
        c.sample_size = r.positive_int("sample_size", c.sample_size);
        c.patch_size = r.positive_int("patch_size", c.patch_size);
        c.norm_elementwise_affine = r.flag("norm_elementwise_affine", c.norm_elementwise_affine);
        c.norm_eps = r.number("norm_eps", c.norm_eps);
        c.interpolation_scale = r.optional_number("interpolation_scale");
        c.guidance_embeds = r.flag("guidance_embeds", c.guidance_embeds);
        c.guidance_embeds_scale = r.number("guidance_embeds_scale", c.guidance_embeds_scale);
        c.timestep_scale = r.number("timestep_scale", c.timestep_scale);
        if (const nlohmann::json* v = r.find("qk_norm")) {
            if (!v->is_string()) {
                r.fail(ErrorCode::ModelLoadFailed, "key \"qk_norm\" must be a string or null, got " + v->dump());
            }
            const auto norm = qk_norm_from_string(v->get<std::string>());
            if (!norm || *norm == QKNorm::None) {
                r.fail(ErrorCode::UnsupportedModel, "key \"qk_norm\" = " + v->dump() +
                                                        " is not supported (Kinora implements null and "
                                                        "\"rms_norm_across_heads\")");
            }
            c.qk_norm = *norm;
        }

        // Values that cannot describe a working model.
        if (!(c.mlp_ratio > 0.0) || static_cast<int64_t>(c.mlp_ratio * static_cast<double>(c.inner_dim())) <= 0) {
            r.fail(ErrorCode::ModelLoadFailed, "key \"mlp_ratio\" must be positive, got " + std::to_string(c.mlp_ratio));
        }
        if (!(c.norm_eps > 0.0)) {
            r.fail(ErrorCode::ModelLoadFailed, "key \"norm_eps\" must be positive, got " + std::to_string(c.norm_eps));
        }
        if (c.sample_size < c.patch_size) {
            r.fail(ErrorCode::ModelLoadFailed, "\"sample_size\" (" + std::to_string(c.sample_size) +
                                                   ") is smaller than \"patch_size\" (" + std::to_string(c.patch_size) +
                                                   ")");
        }
        if (c.cross_attention_dim != c.inner_dim()) {
            // The caption projection outputs inner_dim channels, which attn2's to_k / to_v read.
            r.fail(ErrorCode::UnsupportedModel,
                   "\"cross_attention_dim\" (" + std::to_string(c.cross_attention_dim) +
                       ") must equal num_attention_heads × attention_head_dim (" + std::to_string(c.inner_dim()) +
                       "): the projected captions feed the cross-attention");
        }
        if (c.interpolation_scale) {
            if (!(*c.interpolation_scale > 0.0)) {
                r.fail(ErrorCode::ModelLoadFailed, "key \"interpolation_scale\" must be positive or null, got " +
                                                       std::to_string(*c.interpolation_scale));
            }
            if (c.inner_dim() % 4 != 0) {
                r.fail(ErrorCode::UnsupportedModel,
                       "the 2D sin-cos positional embedding needs num_attention_heads × attention_head_dim divisible "
                       "by 4, got " +
                           std::to_string(c.inner_dim()));
            }
        }
        return c;
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Time embedding with guidance (SANA-Sprint)

SanaCombinedTimestepGuidanceEmbeddingsImpl::SanaCombinedTimestepGuidanceEmbeddingsImpl(
    int64_t embedding_dim, const at::TensorOptions& options) {
    timestep_embedder = register_module("timestep_embedder", TimestepEmbedding(256, embedding_dim, options));
    guidance_embedder = register_module("guidance_embedder", TimestepEmbedding(256, embedding_dim, options));
    linear = register_module("linear", PlainLinear(embedding_dim, 6 * embedding_dim, true, options));
}

TimestepModulation SanaCombinedTimestepGuidanceEmbeddingsImpl::forward(const at::Tensor& timestep,
                                                                       const at::Tensor& guidance,
                                                                       at::ScalarType hidden_dtype) {
    // Both sinusoids: 256 channels, cos first, no frequency shift (diffusers Timesteps(256, True, 0)).
    at::Tensor t_proj = timestep_embedding(timestep, 256, /*flip_sin_to_cos=*/true, /*downscale_freq_shift=*/0.0);
    at::Tensor g_proj = timestep_embedding(guidance, 256, /*flip_sin_to_cos=*/true, /*downscale_freq_shift=*/0.0);
    at::Tensor conditioning = timestep_embedder->forward(t_proj.to(hidden_dtype)) +
                              guidance_embedder->forward(g_proj.to(hidden_dtype));  // [B, D]
    return {linear->forward(at::silu(conditioning)), conditioning};                 // [B, 6D], [B, D]
}

// ---------------------------------------------------------------------------------------------------------------
// Block

SanaTransformerBlockImpl::SanaTransformerBlockImpl(const SanaTransformer2DConfig& config,
                                                   const at::TensorOptions& options)
    : norm_eps(config.norm_eps) {
    const int64_t dim = config.inner_dim();
    const bool has_qk_norm = config.qk_norm != QKNorm::None;

    AttentionOptions self_attn;
    self_attn.query_dim = dim;
    self_attn.heads = config.num_attention_heads;
    self_attn.dim_head = config.attention_head_dim;
    if (has_qk_norm) {
        self_attn.kv_heads = config.num_attention_heads;
    }
    self_attn.bias = config.attention_bias;
    self_attn.out_bias = true;
    self_attn.qk_norm = config.qk_norm;
    attn1 = register_module("attn1", Attention(self_attn, options));

    AttentionOptions cross_attn;
    cross_attn.query_dim = dim;
    cross_attn.cross_attention_dim = config.cross_attention_dim;
    cross_attn.heads = config.num_cross_attention_heads;
    cross_attn.dim_head = config.cross_attention_head_dim;
    if (has_qk_norm) {
        cross_attn.kv_heads = config.num_cross_attention_heads;
    }
    cross_attn.bias = true;
    cross_attn.out_bias = true;
    cross_attn.qk_norm = config.qk_norm;
    attn2 = register_module("attn2", Attention(cross_attn, options));

    if (config.norm_elementwise_affine) {
        norm2 = register_module("norm2", PlainLayerNorm(dim, config.norm_eps, options));
    }

    GLUMBConvOptions ff_options;
    ff_options.in_channels = dim;
    ff_options.out_channels = dim;
    ff_options.expand_ratio = config.mlp_ratio;
    ff_options.rms_norm = false;
    ff_options.residual_connection = false;
    ff = register_module("ff", GLUMBConv(ff_options, options));

    scale_shift_table = register_parameter("scale_shift_table", at::empty({6, dim}, options.requires_grad(false)),
                                           /*requires_grad=*/false);
}

std::pair<at::Tensor, at::Tensor> SanaTransformerBlockImpl::forward(
    const at::Tensor& hidden_states, const at::Tensor& norm1, const at::Tensor& context_k, const at::Tensor& context_v,
    const std::optional<at::Tensor>& context_bias, const SanaBlockModulation& mod, int64_t height, int64_t width,
    const SanaFollowingNorm& following, const at::Tensor& cross_constant) {
    const int64_t batch = context_k.size(0);
    // 1. Linear self-attention on the modulated LayerNorm (norm1: no affine), then x + gate · attention (one rounding).
    at::Tensor x = kernels::gated_residual(hidden_states, mod.gate_msa, sana_linear_attention(*attn1, norm1));
    if (x.size(0) != batch) x = x.expand({batch, -1, -1}).contiguous();  // one latent for all captions: widen

    // 2. Cross-attention: no norm before it, no gate. Its residual add and the feed-forward's norm in one pass.
    // The first S samples' rows may be given (one-token captions): only the others' are computed.
    at::Tensor cross;
    const bool fused_seam = norm2.is_empty();
    if (!cross_constant.defined()) {
        cross = sdpa_attention_kv(*attn2, x, context_k, context_v, context_bias);
    } else {
        // One [B, N, D] tensor: the output projection of the other samples is written into its tail (an at::cat of
        // the two parts took 15 µs a block on the H100). The seam below reads the given rows from cross_constant
        // itself (y_head), so the head is left unwritten; the affine-norm path needs it filled (a broadcast copy).
        const int64_t given = cross_constant.size(0);
        cross = at::empty(x.sizes(), x.options());
        if (!fused_seam) cross.narrow(0, 0, given).copy_(cross_constant.expand({given, x.size(1), x.size(2)}));
        if (given < batch) {
            const int64_t rest = batch - given;
            std::optional<at::Tensor> rest_bias;
            if (context_bias) rest_bias = context_bias->narrow(0, given, rest);
            sdpa_attention_kv(*attn2, x.narrow(0, given, rest), context_k.narrow(0, given, rest),
                              context_v.narrow(0, given, rest), rest_bias, cross.narrow(0, given, rest));
        }
    }
    at::Tensor norm_hidden;
    if (fused_seam) {
        std::tie(norm_hidden, x) =
            kernels::residual_layer_norm_modulate(x, cross, {}, mod.shift_mlp, mod.scale_mlp, norm_eps, cross_constant);
    } else {
        // nn.LayerNorm with affine parameters, in the activation dtype.
        x = cross + x;
        norm_hidden = at::layer_norm(x, {x.size(-1)}, norm2->weight, norm2->bias, norm_eps);
        norm_hidden = norm_hidden * (1 + mod.scale_mlp) + mod.shift_mlp;
    }

    // 3. GLUMBConv feed-forward on the token grid as it lies in memory ([B, h, w, D], channels innermost): no NCHW
    // round trip. Its gated residual and the following norm in one pass.
    at::Tensor ff_out = ff->forward_nhwc(norm_hidden.reshape({batch, height, width, -1})).view_as(x);  // [B, N, D]
    auto [following_norm, out] = kernels::residual_layer_norm_modulate(x, ff_out, mod.gate_mlp, following.shift,
                                                                       following.scale, following.eps);
    return {out, following_norm};
}

// ---------------------------------------------------------------------------------------------------------------
// Model

SanaTransformer2DImpl::SanaTransformer2DImpl(const SanaTransformer2DConfig& cfg, const at::TensorOptions& options)
    : config(cfg) {
    const int64_t dim = config.inner_dim();

    PatchEmbedOptions patch;
    patch.height = config.sample_size;
    patch.width = config.sample_size;
    patch.patch_size = config.patch_size;
    patch.in_channels = config.in_channels;
    patch.embed_dim = dim;
    patch.bias = true;
    patch.interpolation_scale = config.interpolation_scale;
    patch_embed = register_module("patch_embed", PatchEmbed(patch, options));

    if (config.guidance_embeds) {
        time_embed_guidance = register_module("time_embed", SanaCombinedTimestepGuidanceEmbeddings(dim, options));
    } else {
        time_embed = register_module("time_embed", AdaLayerNormSingle(dim, options));
    }

    caption_projection =
        register_module("caption_projection", PixArtAlphaTextProjection(config.caption_channels, dim, options));
    caption_norm = register_module("caption_norm", RMSNorm(RMSNormOptions{dim, 1e-5, true, false}, options));

    transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < config.num_layers; ++i) {
        transformer_blocks->push_back(SanaTransformerBlock(config, options));
    }

    scale_shift_table = register_parameter("scale_shift_table", at::empty({2, dim}, options.requires_grad(false)),
                                           /*requires_grad=*/false);
    proj_out = register_module(
        "proj_out", PlainLinear(dim, config.patch_size * config.patch_size * config.out_channels, true, options));
}

at::ScalarType SanaTransformer2DImpl::dtype() const {
    return patch_embed->proj->weight.scalar_type();
}

int64_t SanaTransformer2DImpl::quantize_blocks(WeightQuantization mode) {
    if (mode == WeightQuantization::None) {
        return 0;
    }
    int64_t count = 0;
    for (const auto& module : *transformer_blocks) {
        auto& block = *module->as<SanaTransformerBlockImpl>();
        for (Attention* attn : {&block.attn1, &block.attn2}) {
            for (PlainLinear* layer : {&(*attn)->to_q, &(*attn)->to_k, &(*attn)->to_v, &(*attn)->to_out_0}) {
                count += (*layer)->quantize(mode) ? 1 : 0;
            }
        }
        count += block.ff->conv_inverted->quantize(mode) ? 1 : 0;
        count += block.ff->conv_point->quantize(mode) ? 1 : 0;
    }
    quantization = mode;
    return count;
}

int64_t SanaTransformer2DImpl::pack_projections() {
    // Not where q and k go through an RMSNorm (Sprint's qk norm): its kernel takes dense rows, so the column slices
    // would be copied first, two copies for the one launch saved.
    int64_t packed = 0;
    for (const auto& module : *transformer_blocks) {
        auto& block = *module->as<SanaTransformerBlockImpl>();
        if (block.attn1->norm_q.is_empty() &&
            models::pack_projections({&block.attn1->to_q, &block.attn1->to_k, &block.attn1->to_v})) {
            ++packed;
        }
        if (block.attn2->norm_k.is_empty() && models::pack_projections({&block.attn2->to_k, &block.attn2->to_v})) {
            ++packed;
        }
    }
    return packed;
}

std::vector<at::Tensor> SanaTransformer2DImpl::caption_kv(const at::Tensor& encoder_hidden_states) {
    require_input(encoder_hidden_states.defined() && encoder_hidden_states.dim() == 3 &&
                      encoder_hidden_states.size(2) == config.caption_channels,
                  "encoder_hidden_states must be [B, L, " + std::to_string(config.caption_channels) + "], got " +
                      (encoder_hidden_states.defined() ? shape_of(encoder_hidden_states) : std::string("undefined")));
    const auto device = patch_embed->proj->weight.device();
    const int64_t batch = encoder_hidden_states.size(0);
    at::Tensor context = caption_projection->forward(encoder_hidden_states.to(device, dtype()));
    context = caption_norm->forward(context.view({batch, encoder_hidden_states.size(1), -1}));  // [B, L, D]
    std::vector<at::Tensor> kv;
    kv.reserve(2 * transformer_blocks->size());
    for (const auto& module : *transformer_blocks) {
        auto [k, v] = sdpa_context_kv(*module->as<SanaTransformerBlockImpl>()->attn2, context);
        kv.push_back(std::move(k));
        kv.push_back(std::move(v));
    }
    return kv;
}

std::vector<at::Tensor> SanaTransformer2DImpl::caption_constants(const std::vector<at::Tensor>& caption_kv,
                                                                 const at::Tensor& mask, int64_t samples) {
    const int64_t blocks = static_cast<int64_t>(transformer_blocks->size());
    TORCH_CHECK(static_cast<int64_t>(caption_kv.size()) == 2 * blocks,
                "caption_constants: caption_kv must hold a key and a value for each block");
    TORCH_CHECK(mask.dim() == 2 && samples >= 1 && samples <= mask.size(0),
                "caption_constants: the mask must be [B, L] and 1 <= samples <= B");
    // Once per run, outside any graph: the rows must hold one token each, or the constant would be wrong.
    TORCH_CHECK(mask.narrow(0, 0, samples).ne(0).sum(1).eq(1).all().item<bool>(),
                "caption_constants: the first ", samples, " rows of the mask must hold exactly one token each");
    const auto dtype = this->dtype();
    const auto device = patch_embed->proj->weight.device();
    const int64_t dim = config.inner_dim();
    const at::Tensor bias = attention_mask_to_bias(mask.narrow(0, 0, samples).to(device), dtype);  // [S, 1, L]
    // Any query gives the one key all of the weight; a zero row is as good as any.
    const at::Tensor query = at::zeros({samples, 1, dim}, at::TensorOptions().dtype(dtype).device(device));
    std::vector<at::Tensor> constants;
    constants.reserve(static_cast<size_t>(blocks));
    for (int64_t i = 0; i < blocks; ++i) {
        auto* block = transformer_blocks->ptr<SanaTransformerBlockImpl>(i).get();
        const at::Tensor& k = caption_kv[static_cast<size_t>(2 * i)];
        const at::Tensor& v = caption_kv[static_cast<size_t>(2 * i + 1)];
        constants.push_back(sdpa_attention_kv(*block->attn2, query, k.narrow(0, 0, samples), v.narrow(0, 0, samples),
                                              bias));  // [S, 1, D]
    }
    return constants;
}

at::Tensor SanaTransformer2DImpl::forward(const at::Tensor& hidden_states, const at::Tensor& encoder_hidden_states,
                                          const at::Tensor& timestep, const SanaConditioning& conditioning) {
    // Inputs: every user-reachable shape problem is an InvalidRequest naming the tensor.
    require_input(hidden_states.defined() && hidden_states.dim() == 4,
                  "hidden_states must be [B, C, H, W], got " +
                      (hidden_states.defined() ? shape_of(hidden_states) : std::string("an undefined tensor")));
    require_input(encoder_hidden_states.defined() && encoder_hidden_states.dim() == 3 &&
                      encoder_hidden_states.size(2) == config.caption_channels,
                  "encoder_hidden_states must be [B, L, " + std::to_string(config.caption_channels) + "], got " +
                      (encoder_hidden_states.defined() ? shape_of(encoder_hidden_states) : std::string("undefined")));
    // B captions, and B latents or one latent for all of them (CFG: the same latent and timestep for each caption).
    const int64_t batch = encoder_hidden_states.size(0);
    const int64_t latents = hidden_states.size(0);
    require_input(latents == batch || latents == 1,
                  "hidden_states must hold B=" + std::to_string(batch) +
                      " latents (one per caption) or one for all captions, got " + shape_of(hidden_states));
    const int64_t height = hidden_states.size(2);
    const int64_t width = hidden_states.size(3);
    const int64_t p = config.patch_size;
    require_input(hidden_states.size(1) == config.in_channels,
                  "hidden_states has " + std::to_string(hidden_states.size(1)) + " channels, the model expects " +
                      std::to_string(config.in_channels));
    require_input(height % p == 0 && width % p == 0 && height > 0 && width > 0,
                  "the latent size " + std::to_string(height) + "x" + std::to_string(width) +
                      " is not a positive multiple of the patch size " + std::to_string(p) +
                      "; choose an image size whose latent is divisible by it");
    require_input(timestep.defined() && timestep.dim() == 1 && timestep.size(0) == latents,
                  "timestep must be [" + std::to_string(latents) + "] (one per latent), got " +
                      (timestep.defined() ? shape_of(timestep) : std::string("undefined")));
    const int64_t caption_len = encoder_hidden_states.size(1);
    if (conditioning.encoder_attention_mask) {
        const at::Tensor& m = *conditioning.encoder_attention_mask;
        require_input(m.defined() && m.dim() == 2 && m.size(0) == batch && m.size(1) == caption_len,
                      "encoder_attention_mask must be [B=" + std::to_string(batch) +
                          ", L=" + std::to_string(caption_len) + "], got " + (m.defined() ? shape_of(m) : "undefined"));
    }
    if (config.guidance_embeds) {
        require_input(conditioning.guidance.has_value() && conditioning.guidance->defined(),
                      "this model has a guidance embedder (guidance_embeds = true, e.g. SANA-Sprint) and needs "
                      "guidance [B] (guidance_scale × guidance_embeds_scale)");
        const at::Tensor& g = *conditioning.guidance;
        require_input(g.dim() == 1 && g.size(0) == latents,
                      "guidance must be [" + std::to_string(latents) + "] (one per latent), got " + shape_of(g));
    } else {
        require_input(!conditioning.guidance.has_value(),
                      "guidance was given, but this model has no guidance embedder (guidance_embeds = false): "
                      "use classifier-free guidance instead");
    }

    const auto dtype = this->dtype();
    const auto device = patch_embed->proj->weight.device();
    const int64_t grid_h = height / p;
    const int64_t grid_w = width / p;

    // Cross-attention bias from the caption mask: (1 - mask) · -10000 in the model dtype, [B, 1, L].
    std::optional<at::Tensor> context_bias;
    if (conditioning.encoder_attention_mask) {
        context_bias = attention_mask_to_bias(conditioning.encoder_attention_mask->to(device), dtype);
    }

    // 1. Patch embedding (+ sin-cos positions for 2K/4K) and time embedding, once per latent: with one latent for B
    // captions, everything up to block 0's cross-attention runs once, and that block widens the stream to B.
    // Dense [latents, N, D] (the conv's tokens come out transposed): the residual stream's kernels read rows.
    at::Tensor x = patch_embed->forward(hidden_states.to(device, dtype)).contiguous();  // [latents, N, D]
    TimestepModulation temb =
        config.guidance_embeds
            ? time_embed_guidance->forward(timestep.to(device), conditioning.guidance->to(device), dtype)
            : time_embed->forward(timestep.to(device), dtype);

    // 2. The caption's keys and values for every block's cross-attention: given (computed once per image), or from
    // the caption projection and RMSNorm here.
    const auto& kv = conditioning.caption_kv;
    const int64_t blocks = static_cast<int64_t>(transformer_blocks->size());
    at::Tensor context;
    if (kv.empty()) {
        context = caption_projection->forward(encoder_hidden_states.to(device, dtype));
        context = caption_norm->forward(context.view({batch, -1, x.size(-1)}));  // [B, L, D]
    } else {
        require_input(static_cast<int64_t>(kv.size()) == 2 * blocks,
                      "caption_kv must hold a key and a value for each of the " + std::to_string(blocks) +
                          " blocks, got " + std::to_string(kv.size()) + " tensors");
        for (const at::Tensor& t : kv) {
            require_input(t.defined() && t.dim() == 4 && t.size(0) == batch && t.size(2) == caption_len &&
                              t.device() == device && t.scalar_type() == dtype,
                          "caption_kv tensors must be [B=" + std::to_string(batch) + ", heads, L=" +
                              std::to_string(caption_len) + ", d] on the model's device and dtype, got " +
                              (t.defined() ? shape_of(t) : std::string("undefined")));
        }
    }

    const auto& constants = conditioning.caption_constants;
    if (!constants.empty()) {
        require_input(!kv.empty() && static_cast<int64_t>(constants.size()) == blocks,
                      "caption_constants come with caption_kv, one tensor for each of the " + std::to_string(blocks) +
                          " blocks; got " + std::to_string(constants.size()) + " tensors" +
                          (kv.empty() ? " without caption_kv" : ""));
        const int64_t given = constants.front().defined() ? constants.front().size(0) : 0;
        for (const at::Tensor& t : constants) {
            require_input(t.defined() && t.dim() == 3 && t.size(0) == given && given >= 1 && given <= batch &&
                              t.size(1) == 1 && t.size(2) == config.inner_dim() && t.device() == device &&
                              t.scalar_type() == dtype,
                          "caption_constants must be [S <= B=" + std::to_string(batch) + ", 1, " +
                              std::to_string(config.inner_dim()) +
                              "] on the model's device and dtype, the same S for every block, got " +
                              (t.defined() ? shape_of(t) : std::string("undefined")));
        }
    }

    // 3. Blocks. Every block's modulation at once, [B, blocks, 6, D] (the per-block sums table + modulation, in
    // one add), and the final layer's [shift; scale] from the D-dim embedded timestep: each block's last pass writes
    // the norm that follows it, the next block's norm1 or the final norm_out.
    const int64_t dim = x.size(-1);
    std::vector<at::Tensor> tables;
    tables.reserve(static_cast<size_t>(blocks));
    for (const auto& module : *transformer_blocks) {
        tables.push_back(module->as<SanaTransformerBlockImpl>()->scale_shift_table);
    }
    const at::Tensor modulation = at::stack(tables).unsqueeze(0) + temb.modulation.reshape({latents, 1, 6, dim});
    auto block_modulation = [&](int64_t i) {
        auto m = modulation.select(1, i).chunk(6, 1);  // [B, 1, D] each
        return SanaBlockModulation{m[0], m[1], m[2], m[3], m[4], m[5]};
    };
    auto final_shift_scale = (scale_shift_table.unsqueeze(0) + temb.embedded_timestep.unsqueeze(1)).chunk(2, 1);
    const SanaFollowingNorm final_norm{final_shift_scale[0], final_shift_scale[1], 1e-6};

    SanaBlockModulation mod = block_modulation(0);
    at::Tensor norm = blocks > 0 ? kernels::layer_norm_modulate(
                                       x, mod.shift_msa, mod.scale_msa,
                                       transformer_blocks->ptr<SanaTransformerBlockImpl>(0)->norm_eps)
                                 : kernels::layer_norm_modulate(x, final_norm.shift, final_norm.scale, final_norm.eps);
    for (int64_t i = 0; i < blocks; ++i) {
        auto* block = transformer_blocks->ptr<SanaTransformerBlockImpl>(i).get();
        at::Tensor k, v;
        if (kv.empty()) {
            std::tie(k, v) = sdpa_context_kv(*block->attn2, context);
        } else {
            k = kv[static_cast<size_t>(2 * i)];
            v = kv[static_cast<size_t>(2 * i + 1)];
        }
        SanaFollowingNorm following = final_norm;
        SanaBlockModulation next;
        if (i + 1 < blocks) {
            next = block_modulation(i + 1);
            following = {next.shift_msa, next.scale_msa,
                         transformer_blocks->ptr<SanaTransformerBlockImpl>(i + 1)->norm_eps};
        }
        const at::Tensor cross_constant = constants.empty() ? at::Tensor() : constants[static_cast<size_t>(i)];
        std::tie(x, norm) =
            block->forward(x, norm, k, v, context_bias, mod, grid_h, grid_w, following, cross_constant);
        mod = next;
    }

    // 4. Final layer: the modulated LayerNorm (the last block wrote it), then the projection.
    x = proj_out->forward(norm);  // [B, N, p·p·C_out]
    if (x.size(0) != batch) x = x.expand({batch, -1, -1});  // no blocks: one latent's output for every caption

    // 5. Unpatchify: [B, h, w, p, p, C] → [B, C, h, p, w, p] → [B, C, H, W].
    x = x.reshape({batch, grid_h, grid_w, p, p, -1}).permute({0, 5, 1, 3, 2, 4});
    return x.reshape({batch, -1, grid_h * p, grid_w * p});
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

Expected<SanaTransformer2D> load_sana_transformer_2d(const std::string& folder,
                                                     const SanaTransformer2DLoadOptions& options) {
    namespace fs = std::filesystem;
    const std::string config_path = (fs::path(folder) / "config.json").string();
    auto json = core::read_json_file(config_path);
    if (!json) {
        return make_error(json.error().code, json.error().message);
    }
    auto config = SanaTransformer2DConfig::from_json(*json);
    if (!config) {
        return make_error(config.error().code, config_path + ": " + config.error().message);
    }
    auto weights = io::load_safetensors_folder(folder, {"diffusion_pytorch_model"});
    if (!weights) {
        return make_error(weights.error().code, weights.error().message);
    }
    return guarded_model_build("the SanaTransformer2D of " + folder, [&]() -> Expected<SanaTransformer2D> {
        SanaTransformer2D model(*config, at::TensorOptions().dtype(options.dtype).device(options.device));
        auto report = io::load_state_dict(*model, *weights, {}, "SanaTransformer2D (" + folder + ")");
        if (!report) {
            return make_error(report.error().code, report.error().message);
        }
        model->eval();
        model->pack_projections();
        return model;
    });
}

}  // namespace engine::models
