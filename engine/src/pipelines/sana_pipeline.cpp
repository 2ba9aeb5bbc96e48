#include "pipelines/sana_pipeline.h"

#include <ATen/ATen.h>
#include <torch/types.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <new>
#include <string>

#include "core/engine_error.h"
#include "core/json.h"
#include "core/log.h"
#include "models/common/memory_format.h"
#include "models/common/quantized_linear.h"
#include "pipelines/resolution_bins.h"
#include "runtime/cuda_graph.h"
#include "schedulers/samplers.h"
#include "schedulers/sigmas.h"
#include "tokenizers/spm_library.h"
#include "tokenizers/text_unicode.h"

namespace engine::pipelines {
namespace fs = std::filesystem;
using core::EngineError;

const char* to_string(SanaVariant variant) noexcept {
    switch (variant) {
        case SanaVariant::None: return "none";
        case SanaVariant::Sana: return "Sana";
        case SanaVariant::Sprint: return "Sana-Sprint";
    }
    return "unknown";
}

const std::vector<std::string>& sana_complex_human_instruction() {
    static const std::vector<std::string> lines = {
        "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for "
        "image generation. Evaluate the level of detail in the user prompt:",
        "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial "
        "relationships to create vivid and concrete scenes.",
        "- If the prompt is already detailed, refine and enhance the existing details slightly without "
        "overcomplicating.",
        "Here are examples of how to transform or refine prompts:",
        "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping "
        "peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
        "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street "
        "lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass "
        "skyscrapers.",
        "Please generate only the enhanced description for the prompt below and avoid including any additional "
        "commentary or evaluations:",
        "User Prompt: ",
    };
    return lines;
}

int64_t SanaPipeline::vae_scale_factor() const { return vae->config.spatial_compression_ratio(); }

int SanaPipeline::default_size_px() const {
    return static_cast<int>(transformer->config.sample_size * vae_scale_factor());
}

void SanaPipeline::ensure_text_encoder() {
    if (!text_encoder) {
        text_encoder = core::unwrap(models::load_gemma2_model((fs::path(dir) / "text_encoder").string(),
                                                              {options.dtype, options.device}));
    }
}

namespace {

Unexpected load_error(ErrorCode code, const std::string& message) { return make_error(code, message); }

// The class a model_index.json entry names: ["library", "Class"].
std::string component_class(const nlohmann::json& index, const std::string& name) {
    if (!index.contains(name)) return "";
    const auto& v = index[name];
    if (v.is_array() && v.size() == 2 && v[1].is_string()) return v[1].get<std::string>();
    return "";
}

}  // namespace

Expected<std::shared_ptr<SanaPipeline>> load_sana_pipeline(const std::string& dir, const SanaLoadOptions& options) {
    const fs::path root(dir);
    if (!fs::exists(root)) {
        return load_error(ErrorCode::ModelNotFound, "Model folder " + dir + " does not exist.");
    }
    if (!fs::is_directory(root)) {
        return load_error(ErrorCode::UnsupportedModel,
                          dir + " is a file; a Sana model is a diffusers folder with model_index.json.");
    }
    const fs::path index_path = root / "model_index.json";
    if (!fs::exists(index_path)) {
        return load_error(ErrorCode::UnsupportedModel,
                          dir + " has no model_index.json: it is not a diffusers pipeline folder. Download the "
                                "model with the Model Manager, or pass the folder that holds model_index.json.");
    }
    if (auto why = models::quantization_unavailable(options.quantization, options.device, options.dtype)) {
        return load_error(ErrorCode::DeviceUnavailable, *why);
    }
    auto index = core::read_json_file(index_path.string());
    if (!index) return Unexpected{index.error()};
    const std::string cls = index->value("_class_name", "");
    auto pipe = std::make_shared<SanaPipeline>();
    pipe->dir = dir;
    pipe->options = options;
    if (cls == "SanaPipeline") {
        pipe->variant = SanaVariant::Sana;
    } else if (cls == "SanaSprintPipeline") {
        pipe->variant = SanaVariant::Sprint;
    } else {
        return load_error(ErrorCode::UnsupportedModel,
                          dir + " holds a " + (cls.empty() ? std::string("pipeline without _class_name") : cls) +
                              ", not a Sana or Sana-Sprint pipeline.");
    }
    struct Expect {
        const char* name;
        std::vector<std::string> classes;
    };
    const std::vector<Expect> expected = {
        {"tokenizer", {"GemmaTokenizer", "GemmaTokenizerFast"}},
        {"text_encoder", {"Gemma2Model", "Gemma2ForCausalLM"}},
        {"transformer", {"SanaTransformer2DModel"}},
        {"vae", {"AutoencoderDC"}},
        {"scheduler", {"DPMSolverMultistepScheduler", "FlowMatchEulerDiscreteScheduler", "SCMScheduler"}},
    };
    for (const auto& e : expected) {
        const std::string c = component_class(*index, e.name);
        if (c.empty()) {
            return load_error(ErrorCode::ModelLoadFailed,
                              index_path.string() + " does not name a '" + e.name + "' component.");
        }
        bool known = false;
        for (const auto& k : e.classes) known = known || k == c;
        if (!known) {
            return load_error(ErrorCode::UnsupportedModel, index_path.string() + ": the " + e.name + " is a " + c +
                                                               ", which Kinora's Sana pipeline does not support.");
        }
        if (!fs::is_directory(root / e.name)) {
            return load_error(ErrorCode::ModelNotFound, "The " + std::string(e.name) + " folder is missing in " + dir +
                                                            " (the download may be incomplete).");
        }
    }
    for (auto it = index->begin(); it != index->end(); ++it) {
        if (it.key().empty() || it.key()[0] == '_') continue;
        bool listed = false;
        for (const auto& e : expected) listed = listed || it.key() == e.name;
        if (!listed && it.value().is_array() && it.value().size() == 2 && !it.value()[0].is_null()) {
            return load_error(ErrorCode::UnsupportedModel, index_path.string() + " has a component '" + it.key() +
                                                               "' that Kinora's Sana pipeline does not know.");
        }
    }
    const int total = 5;
    auto step = [&](int done) {
        if (options.on_component) options.on_component(done, total);
    };
    step(0);
    auto tokenizer = tokenizers::GemmaTokenizer::load((root / "tokenizer").string());
    if (tokenizer) {
        pipe->tokenizer.emplace(std::move(tokenizer).value());
    } else if (!tokenizers::built_with_sentencepiece()) {
        // Builds without sentencepiece (the GPU machines) can still run precomputed prompt embeddings.
        pipe->tokenizer_error = tokenizer.error();
    } else {
        return Unexpected{tokenizer.error()};
    }
    step(1);
    auto scheduler = schedulers::read_scheduler_config((root / "scheduler" / "scheduler_config.json").string());
    if (!scheduler) return Unexpected{scheduler.error()};
    pipe->scheduler = scheduler.value();
    const bool sprint = pipe->variant == SanaVariant::Sprint;
    if (sprint != (pipe->scheduler.kind == schedulers::SchedulerKind::SCM)) {
        return load_error(ErrorCode::UnsupportedModel,
                          dir + ": a " + cls + " with a " + pipe->scheduler.class_name + " is not a combination Kinora runs.");
    }
    step(2);
    auto transformer = models::load_sana_transformer_2d((root / "transformer").string(), {options.dtype, options.device});
    if (!transformer) return Unexpected{transformer.error()};
    pipe->transformer = std::move(transformer).value();
    if (sprint != pipe->transformer->config.guidance_embeds) {
        return load_error(ErrorCode::UnsupportedModel,
                          dir + ": the transformer " + std::string(sprint ? "lacks" : "has") +
                              " a guidance embedder, which does not fit a " + cls + ".");
    }
    if (options.quantization != WeightQuantization::None) {
        const int64_t layers = pipe->transformer->quantize_blocks(options.quantization);
        LOG_INFO("Sana transformer: %lld linear layers quantised to %s", static_cast<long long>(layers),
                 to_string(options.quantization));
    }
    step(3);
    auto vae = models::load_autoencoder_dc((root / "vae").string(), options.vae_dtype, options.device);
    if (!vae) return Unexpected{vae.error()};
    pipe->vae = std::move(vae).value();
    if (options.channels_last.value_or(models::default_channels_last(options.device))) {
        pipe->vae->set_channels_last(true);
    }
    if (pipe->vae->config.latent_channels != pipe->transformer->config.in_channels) {
        return load_error(ErrorCode::ModelLoadFailed, dir + ": the VAE's " +
                                                          std::to_string(pipe->vae->config.latent_channels) +
                                                          " latent channels do not match the transformer's " +
                                                          std::to_string(pipe->transformer->config.in_channels) + ".");
    }
    step(4);
    auto text_encoder = models::load_gemma2_model((root / "text_encoder").string(), {options.dtype, options.device});
    if (!text_encoder) return Unexpected{text_encoder.error()};
    pipe->text_encoder = std::move(text_encoder).value();
    if (pipe->text_encoder->config.hidden_size != pipe->transformer->config.caption_channels) {
        return load_error(ErrorCode::ModelLoadFailed,
                          dir + ": the text encoder's width (" + std::to_string(pipe->text_encoder->config.hidden_size) +
                              ") does not match the transformer's caption_channels (" +
                              std::to_string(pipe->transformer->config.caption_channels) + ").");
    }
    step(5);
    LOG_INFO("loaded %s from %s", to_string(pipe->variant), dir.c_str());
    return pipe;
}

namespace {

std::string lower_strip(const std::string& text) {
    std::u32string u;
    std::size_t bad = 0;
    if (!tokenizers::decode_utf8(text, u, &bad)) {
        throw EngineError(ErrorCode::InvalidRequest,
                          "The prompt is not valid UTF-8 text (at byte " + std::to_string(bad) + ").");
    }
    return tokenizers::encode_utf8(tokenizers::python_strip(tokenizers::python_lower(u)));
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
    return out;
}

at::Tensor to_long_tensor(const std::vector<int64_t>& v, int64_t rows, int64_t cols) {
    return at::tensor(v, at::kLong).reshape({rows, cols});
}

bool graphs_on(const SanaPipeline& pipe) {
    return pipe.options.cuda_graphs && pipe.options.device.is_cuda() && runtime::cuda_graphs_built();
}

// The Gemma-2 forward of a checked prompt (ids and token mask on the device): through the pipeline's CUDA graph
// runner on CUDA (when on), else eager. Eager, the forward is about a thousand short kernels and launch-bound.
at::Tensor text_encoder_forward(SanaPipeline& pipe, const at::Tensor& ids, const at::Tensor& token_mask) {
    if (!graphs_on(pipe)) return pipe.text_encoder->forward_checked(ids, token_mask);
    if (!pipe.text_encoder_graphs || pipe.text_encoder_graphs_of != pipe.text_encoder.get()) {
        models::Gemma2Model model = pipe.text_encoder;  // shares the module
        pipe.text_encoder_graphs = std::make_shared<runtime::CudaGraphRunner>(
            "Gemma2",
            [model](const std::vector<at::Tensor>& in) mutable { return model->forward_checked(in[0], in[1]); },
            kSanaTextEncoderGraphs);
        pipe.text_encoder_graphs_of = pipe.text_encoder.get();
    }
    return pipe.text_encoder_graphs->run({ids, token_mask});
}

}  // namespace

SanaPromptTokens tokenize_sana_prompt(const SanaPipeline& pipe, const std::string& prompt, bool use_instruction,
                                      int max_sequence_length) {
    core::require(max_sequence_length >= 2, ErrorCode::InvalidRequest, "max sequence length must be at least 2");
    if (!pipe.tokenizer) {
        throw EngineError(pipe.tokenizer_error ? *pipe.tokenizer_error
                                               : Error{ErrorCode::Internal, "the Gemma tokenizer is not loaded"});
    }
    std::string text = lower_strip(prompt);
    int64_t max_length = max_sequence_length;
    if (use_instruction) {
        const std::string chi = join_lines(sana_complex_human_instruction());
        const auto n_chi = static_cast<int64_t>(core::unwrap(pipe.tokenizer->encode(chi)).size());  // incl. <bos>
        text = chi + text;
        max_length = n_chi + max_sequence_length - 2;
    }
    const auto full = core::unwrap(pipe.tokenizer->encode(text));
    if (static_cast<int64_t>(full.size()) > max_length) {
        const int64_t budget = use_instruction ? max_sequence_length - 2 : max_sequence_length - 1;
        throw EngineError(ErrorCode::InvalidRequest,
                          "The prompt is too long: this model reads about " + std::to_string(budget) +
                              " tokens of prompt and it has " +
                              std::to_string(static_cast<int64_t>(full.size()) - (max_length - budget)) +
                              ". Shorten it (the rest would be ignored).");
    }
    const auto batch = core::unwrap(pipe.tokenizer->encode_padded({text}, max_length, tokenizers::Truncation::Right));
    return SanaPromptTokens{to_long_tensor(batch.input_ids, 1, max_length),
                            to_long_tensor(batch.attention_mask, 1, max_length)};
}

PromptEmbedding encode_sana_prompt(SanaPipeline& pipe, const std::string& prompt, bool use_instruction,
                                   int max_sequence_length, std::optional<int64_t> keep) {
    const SanaPromptTokens tokens = tokenize_sana_prompt(pipe, prompt, use_instruction, max_sequence_length);
    return encode_sana_tokens(pipe, tokens.ids, tokens.mask, max_sequence_length, keep);
}

namespace {

// The input positions of encode_sana_tokens' first `keep` outputs for L tokens: 0..keep-1 when L <= max; else <bos>
// and the positions from L - (max - 1) on (the last max - 1 positions: what drops the instruction).
at::Tensor encoded_positions(int64_t length, int max_sequence_length, int64_t keep) {
    std::vector<int64_t> select;
    select.reserve(static_cast<size_t>(keep));
    if (length <= max_sequence_length) {
        for (int64_t j = 0; j < keep; ++j) select.push_back(j);
    } else {
        select.push_back(0);
        const int64_t first = length - (max_sequence_length - 1);  // output position 1
        for (int64_t j = 1; j < keep; ++j) select.push_back(first + (j - 1));
    }
    return at::tensor(select, at::kLong);
}

}  // namespace

int64_t sana_encoder_prefix_length(int64_t length, int max_sequence_length, int64_t keep) {
    if (length <= max_sequence_length) return keep;
    if (keep <= 1) return 1;                     // <bos> alone
    return length - max_sequence_length + keep;  // the input position of output keep - 1, + 1
}

at::Tensor sana_encoded_mask(const at::Tensor& mask, int max_sequence_length) {
    TORCH_CHECK(mask.defined() && mask.dim() == 2, "sana_encoded_mask: the mask must be [B, L]");
    const int64_t length = mask.size(1);
    const at::Tensor kept = mask.to(at::kLong);
    if (length <= max_sequence_length) return kept;
    return kept.index_select(1, encoded_positions(length, max_sequence_length, max_sequence_length).to(mask.device()));
}

PromptEmbedding encode_sana_tokens(SanaPipeline& pipe, const at::Tensor& ids, const at::Tensor& mask,
                                   int max_sequence_length, std::optional<int64_t> keep) {
    core::require(max_sequence_length >= 1, ErrorCode::InvalidRequest, "max sequence length must be at least 1");
    pipe.ensure_text_encoder();
    pipe.text_encoder->check_inputs(ids, mask);  // CPU ids: no device sync
    const int64_t length = ids.size(1);
    const int64_t positions = std::min<int64_t>(length, max_sequence_length);
    const int64_t kept = keep.value_or(positions);
    core::require(
        kept >= 1 && kept <= positions, ErrorCode::InvalidRequest,
        "encode_sana_tokens: cannot keep " + std::to_string(kept) + " of " + std::to_string(positions) + " positions");
    // Causal attention and padding on the right: the kept positions need only the tokens up to the last of them.
    const int64_t prefix = sana_encoder_prefix_length(length, max_sequence_length, kept);
    at::Tensor prefix_ids = ids, prefix_mask = mask;
    if (prefix < length) {
        prefix_ids = ids.narrow(1, 0, prefix).clone(at::MemoryFormat::Contiguous);
        prefix_mask = mask.narrow(1, 0, prefix).clone(at::MemoryFormat::Contiguous);
    }
    const auto device = pipe.text_encoder->options().device();
    at::Tensor embeds = text_encoder_forward(pipe, prefix_ids.to(device, at::kLong),
                                             prefix_mask.to(device, at::kBool));  // [1, prefix, D]
    at::Tensor kept_mask = mask.to(at::kLong);
    if (length > max_sequence_length) {
        const at::Tensor index = encoded_positions(length, max_sequence_length, kept);  // all below prefix
        embeds = embeds.index_select(1, index.to(device));                              // [1, kept, D]
        kept_mask = kept_mask.index_select(1, index.to(kept_mask.device()));
    } else if (kept < length) {
        kept_mask = kept_mask.narrow(1, 0, kept);  // the embeddings are the kept prefix already
    }
    return PromptEmbedding{embeds, kept_mask.to(device)};
}

SanaRunPrompts encode_sana_run_prompts(SanaPipeline& pipe, const SanaCaptionSource& positive,
                                       const std::optional<SanaCaptionSource>& negative, int max_sequence_length,
                                       bool trim, const std::function<void()>& cancel_point) {
    // The sides' masks as the denoiser gets them, on the host (negative first, as generate_sana concatenates them).
    std::vector<const SanaCaptionSource*> sides;
    if (negative) sides.push_back(&*negative);
    sides.push_back(&positive);
    std::vector<at::Tensor> masks;
    for (const SanaCaptionSource* side : sides) {
        if (side->given) {
            const at::Tensor& m = side->given->mask;
            core::require(m.defined() && m.dim() == 2 && side->given->embeds.defined() &&
                              side->given->embeds.dim() == 3 && side->given->embeds.size(1) == m.size(1),
                          ErrorCode::InvalidRequest, "Given prompt embeddings must be [B, L, D] with a mask [B, L].");
            masks.push_back(m.to(at::kCPU, at::kLong));
        } else {
            core::require(side->tokens.mask.defined() && side->tokens.mask.dim() == 2, ErrorCode::InvalidRequest,
                          "A prompt's token mask must be [1, L].");
            masks.push_back(sana_encoded_mask(side->tokens.mask.to(at::kCPU), max_sequence_length));
        }
    }
    if (masks.size() == 2 && masks[0].size(1) != masks[1].size(1)) {
        throw EngineError(ErrorCode::InvalidRequest,
                          "The negative and the positive prompt embeddings have different lengths (" +
                              std::to_string(masks[0].size(1)) + " and " + std::to_string(masks[1].size(1)) +
                              " positions); give both at the same length, or match max_sequence_length.");
    }
    // Trimmed: the positions the denoiser reads (prepare_sana_step_caption's rule over the same [B, L] mask, which
    // then finds all K needed), and no more from the text encoder.
    std::optional<int64_t> keep;
    if (trim) {
        const int64_t k = sana_caption_keep_length(at::cat(masks, 0));
        if (k < masks[0].size(1)) keep = k;
    }
    auto make = [&](const SanaCaptionSource& side, int64_t& tokens_encoded) {
        if (side.given) {
            tokens_encoded = 0;
            PromptEmbedding e = *side.given;
            if (keep) {
                e.embeds = e.embeds.narrow(1, 0, *keep).contiguous();
                e.mask = e.mask.narrow(1, 0, *keep).contiguous();
            }
            return e;
        }
        if (cancel_point) cancel_point();
        const int64_t length = side.tokens.ids.size(1);
        tokens_encoded = keep ? sana_encoder_prefix_length(length, max_sequence_length, *keep) : length;
        return encode_sana_tokens(pipe, side.tokens.ids, side.tokens.mask, max_sequence_length, keep);
    };
    SanaRunPrompts out;
    out.positive = make(positive, out.positive_tokens_encoded);
    if (negative) out.negative = make(*negative, out.negative_tokens_encoded);
    return out;
}

int64_t sana_caption_keep_length(const at::Tensor& mask) {
    TORCH_CHECK(mask.defined() && mask.dim() == 2, "sana_caption_keep_length: the mask must be [B, L]");
    const int64_t length = mask.size(1);
    if (mask.size(0) == 0 || length == 0) return length;
    const at::Tensor kept = mask.to(at::kCPU).ne(0);  // [B, L]
    // Per row: the last token's position + 1 (0 for a row without a token).
    const at::Tensor positions = at::arange(1, length + 1, at::TensorOptions().dtype(at::kLong));
    const at::Tensor row_ends = (kept.to(at::kLong) * positions).amax(1);  // [B]
    if (row_ends.min().item<int64_t>() == 0) return length;
    const int64_t needed = row_ends.max().item<int64_t>();
    for (const int64_t keep : kSanaCaptionKeepLengths) {
        if (needed <= keep && keep < length) return keep;
    }
    return length;
}

int64_t sana_one_token_captions(const at::Tensor& mask) {
    TORCH_CHECK(mask.defined() && mask.dim() == 2, "sana_one_token_captions: the mask must be [B, L]");
    const at::Tensor tokens = mask.to(at::kCPU).ne(0).sum(1);  // [B]
    int64_t leading = 0;
    while (leading < tokens.size(0) && tokens[leading].item<int64_t>() == 1) ++leading;
    return leading;
}

Expected<SanaGenerateOptions> resolve_sana_options(const SanaPipeline& pipe, const TextToImageRequest& r) {
    SanaGenerateOptions o;
    const bool sprint = pipe.variant == SanaVariant::Sprint;
    o.prompt = r.prompt;
    o.negative_prompt = r.negative_prompt;
    o.seed = r.seed;
    o.use_instruction = r.use_complex_human_instruction;
    o.max_sequence_length = r.max_sequence_length;
    o.num_inference_steps = r.num_inference_steps > 0 ? r.num_inference_steps : (sprint ? 2 : 20);
    o.guidance_scale = std::isnan(r.guidance_scale) ? 4.5 : r.guidance_scale;
    if (sprint && (o.num_inference_steps < 1 || o.num_inference_steps > 4)) {
        return make_error(ErrorCode::InvalidRequest, "Sana-Sprint is distilled for 1 to 4 steps; got " +
                                                         std::to_string(o.num_inference_steps) + ".");
    }
    if (sprint && !r.negative_prompt.empty()) {
        return make_error(ErrorCode::InvalidRequest,
                          "Sana-Sprint uses no negative prompt (its guidance is built into the model); clear it.");
    }
    const int scale = static_cast<int>(pipe.vae_scale_factor());
    const int def = pipe.default_size_px();
    o.output_height_px = r.height_px > 0 ? r.height_px : def;
    o.output_width_px = r.width_px > 0 ? r.width_px : def;
    if (o.output_height_px % scale != 0 || o.output_width_px % scale != 0) {
        return make_error(ErrorCode::InvalidRequest, "Width and height must be multiples of " + std::to_string(scale) +
                                                         " for this model; got " + std::to_string(o.output_width_px) +
                                                         "x" + std::to_string(o.output_height_px) + ".");
    }
    o.height_px = o.output_height_px;
    o.width_px = o.output_width_px;
    if (r.use_resolution_binning) {
        const auto* bins = aspect_ratio_bins_for_sample_size(pipe.transformer->config.sample_size);
        if (bins == nullptr || (sprint && pipe.transformer->config.sample_size != 32)) {
            return make_error(ErrorCode::InvalidRequest,
                              "This model has no aspect-ratio bins (sample_size " +
                                  std::to_string(pipe.transformer->config.sample_size) +
                                  "); turn resolution binning off (--no-binning).");
        }
        const auto b = classify_height_width_bin(o.height_px, o.width_px, *bins);
        o.height_px = b.height_px;
        o.width_px = b.width_px;
    }
    if (sprint) {
        o.scheduler = schedulers::SchedulerKind::SCM;
        schedulers::ScmTimestepOptions t;
        t.num_inference_steps = o.num_inference_steps;
        if (!r.custom_timesteps.empty()) {
            t.custom_timesteps = r.custom_timesteps;
            t.max_timestep = std::nullopt;
            t.intermediate_timestep = std::nullopt;
        } else {
            t.max_timestep = std::isnan(r.max_timestep) ? schedulers::kScmDefaultMaxTimestep : r.max_timestep;
            if (!std::isnan(r.intermediate_timestep)) {
                t.intermediate_timestep = r.intermediate_timestep;  // explicit: diffusers' rules apply
            } else if (o.num_inference_steps == 2 && !r.no_intermediate_timestep) {
                t.intermediate_timestep = schedulers::kScmDefaultIntermediateTimestep;
            } else {
                t.intermediate_timestep = std::nullopt;
            }
        }
        auto ts = schedulers::scm_timesteps(t, pipe.scheduler.num_train_timesteps);
        if (!ts) return Unexpected{ts.error()};
        o.scm_timesteps = std::move(ts).value();
        if (r.sampler != SamplerKind::Default && r.sampler != SamplerKind::SCM) {
            return make_error(ErrorCode::InvalidRequest, std::string("Sana-Sprint samples with SCM; the sampler '") +
                                                             to_string(r.sampler) + "' does not apply.");
        }
    } else {
        o.scheduler = pipe.scheduler.kind;
        if (r.sampler == SamplerKind::FlowEuler) {
            o.scheduler = schedulers::SchedulerKind::FlowEuler;
        } else if (r.sampler == SamplerKind::FlowDPMSolverMultistep) {
            o.scheduler = schedulers::SchedulerKind::FlowDPMSolverMultistep;
        } else if (r.sampler != SamplerKind::Default) {
            return make_error(ErrorCode::InvalidRequest, std::string("Sana samples with dpmpp_2m or euler; '") +
                                                             to_string(r.sampler) + "' does not apply.");
        }
        o.flow_shift = std::isnan(r.flow_shift) ? pipe.scheduler.flow_shift : r.flow_shift;
        if (!(o.flow_shift > 0.0 && o.flow_shift <= 100.0)) {
            return make_error(ErrorCode::InvalidRequest, "Flow shift must be between 0 and 100.");
        }
        if (!r.custom_timesteps.empty() || !std::isnan(r.max_timestep) || !std::isnan(r.intermediate_timestep)) {
            return make_error(ErrorCode::InvalidRequest,
                              "Timestep options (max / intermediate / custom timesteps) are for Sana-Sprint models.");
        }
    }
    return o;
}

namespace {

// diffusers' resize_and_crop_tensor: bilinear resize by the larger ratio, then a center crop.
at::Tensor resize_and_crop(const at::Tensor& image, int new_height, int new_width) {
    const int64_t h = image.size(2), w = image.size(3);
    if (h == new_height && w == new_width) return image;
    const double ratio = std::max(static_cast<double>(new_height) / static_cast<double>(h),
                                  static_cast<double>(new_width) / static_cast<double>(w));
    const auto rw = static_cast<int64_t>(static_cast<double>(w) * ratio);
    const auto rh = static_cast<int64_t>(static_cast<double>(h) * ratio);
    at::Tensor resized = at::upsample_bilinear2d(image, {rh, rw}, /*align_corners=*/false);
    const int64_t x0 = (rw - new_width) / 2, y0 = (rh - new_height) / 2;
    return resized.slice(2, y0, y0 + new_height).slice(3, x0, x0 + new_width);
}

bool is_out_of_memory(const c10::Error& e) {
    if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
    const std::string m = e.what_without_backtrace();
    // CUDA: "CUDA out of memory"; CPU (DefaultCPUAllocator): "not enough memory".
    return m.find("out of memory") != std::string::npos || m.find("not enough memory") != std::string::npos;
}

// The caption's cross-attention keys and values for a run's steps (the caption is the same at every step), and the
// cross-attention outputs of the first `one_token` samples (one-token captions, SanaConditioning::caption_constants):
// computed once, [k₀, v₀, …, k_{n-1}, v_{n-1}] then [c₀, …, c_{n-1}] when one_token > 0. With CUDA graphs they go into
// the pipeline's set of the same shapes from an earlier run, refilled in place, so that the step graph captured over
// that set replays (its signature holds their addresses); a new shape adds a set, and the oldest goes when there are
// more than kSanaCaptionKvSets.
std::vector<at::Tensor> run_caption_kv(SanaPipeline& pipe, const at::Tensor& embeds, const at::Tensor& mask,
                                       int64_t one_token) {
    std::vector<at::Tensor> kv = pipe.transformer->caption_kv(embeds);
    if (one_token > 0) {
        std::vector<at::Tensor> constants = pipe.transformer->caption_constants(kv, mask, one_token);
        kv.insert(kv.end(), constants.begin(), constants.end());
    }
    if (!graphs_on(pipe)) return kv;
    auto same_shapes = [&kv](const std::vector<at::Tensor>& set) {
        if (set.size() != kv.size()) return false;
        for (size_t i = 0; i < kv.size(); ++i) {
            const at::Tensor& b = set[i];
            if (b.sizes() != kv[i].sizes() || b.strides() != kv[i].strides() ||
                b.scalar_type() != kv[i].scalar_type() || b.device() != kv[i].device()) {
                return false;
            }
        }
        return true;
    };
    auto& sets = pipe.caption_kv;
    auto it = std::find_if(sets.begin(), sets.end(), same_shapes);
    if (it == sets.end()) {
        if (sets.size() >= kSanaCaptionKvSets) sets.erase(sets.begin());
        sets.push_back(std::move(kv));
    } else {
        for (size_t i = 0; i < kv.size(); ++i) (*it)[i].copy_(kv[i]);
        std::rotate(it, it + 1, sets.end());  // the most recent last
    }
    return sets.back();
}

// Splits run_caption_kv's list into SanaConditioning's keys and values and the one-token samples' constants.
void set_caption_inputs(models::SanaConditioning& cond, std::vector<at::Tensor>::const_iterator begin,
                        std::vector<at::Tensor>::const_iterator end, int64_t blocks) {
    const auto kv_end = end - begin > 2 * blocks ? begin + static_cast<std::ptrdiff_t>(2 * blocks) : end;
    cond.caption_kv.assign(begin, kv_end);
    cond.caption_constants.assign(kv_end, end);
}

}  // namespace

SanaStepCaption prepare_sana_step_caption(SanaPipeline& pipe, at::Tensor embeds, at::Tensor mask, int64_t steps,
                                          bool trim) {
    SanaStepCaption c;
    // Caption work that cannot change the image (SanaGenerateOptions::trim_caption): every step's cross-attention
    // reads only the positions up to the last token (a short prompt keeps 64 of 300), and the empty negative prompt's
    // cross-attention (<bos> alone) is one row per block, computed once with the caption's keys and values.
    int64_t one_token = 0;
    if (trim) {
        const at::Tensor host_mask = mask.to(at::kCPU);
        const int64_t keep = sana_caption_keep_length(host_mask);
        if (keep < mask.size(1)) {
            embeds = embeds.narrow(1, 0, keep).contiguous();
            mask = mask.narrow(1, 0, keep).contiguous();
        }
        one_token = sana_one_token_captions(host_mask);
    }
    c.embeds = embeds;
    c.mask = mask;
    // The caption's keys and values once for the run, when the steps repay it: computing them outside the step graph
    // costs about 100 eager launches and their copy into the graph's buffers (≈ 0.8 ms on an H200), and saves the
    // 40 GEMMs of the caption in every step (≈ 0.5 ms at CFG batch 2 for 1600M, half without). Measured: Sana's 20
    // CFG steps gain 0.4–0.5 ms a step; Sprint's one or two steps (batch 1) lost ≈ 1 ms a step.
    if (steps * embeds.size(0) >= kSanaCaptionKvMinStepsTimesBatch) {
        c.caption_kv = run_caption_kv(pipe, embeds, mask, one_token);
        c.one_token_samples = one_token;
    }
    return c;
}

models::SanaConditioning sana_step_conditioning(const SanaPipeline& pipe, const SanaStepCaption& caption,
                                                const std::optional<at::Tensor>& guidance) {
    models::SanaConditioning cond;
    cond.encoder_attention_mask = caption.mask;
    cond.guidance = guidance;
    const auto blocks = static_cast<int64_t>(pipe.transformer->transformer_blocks->size());
    set_caption_inputs(cond, caption.caption_kv.begin(), caption.caption_kv.end(), blocks);
    return cond;
}

at::Tensor sana_transformer_step(SanaPipeline& pipe, const at::Tensor& x, const SanaStepCaption& caption,
                                 const at::Tensor& t, const std::optional<at::Tensor>& guidance) {
    if (!graphs_on(pipe)) {
        return pipe.transformer->forward(x, caption.embeds, t, sana_step_conditioning(pipe, caption, guidance));
    }
    // A new module, or weights quantised since the capture (the graph would read the released float weights).
    if (!pipe.transformer_graphs || pipe.transformer_graphs_of != pipe.transformer.get() ||
        pipe.transformer_graphs_quantization != pipe.transformer->quantization) {
        models::SanaTransformer2D model = pipe.transformer;  // shares the module
        const auto blocks = static_cast<int64_t>(model->transformer_blocks->size());
        // Inputs: x, embeds, t, mask, guidance (with a guidance embedder), then the caption's keys and values.
        const size_t fixed = model->config.guidance_embeds ? 5 : 4;
        pipe.transformer_graphs = std::make_shared<runtime::CudaGraphRunner>(
            "SanaTransformer2D", [model, fixed, blocks](const std::vector<at::Tensor>& in) mutable {
                models::SanaConditioning cond;
                cond.encoder_attention_mask = in[3];
                if (fixed == 5) cond.guidance = in[4];
                set_caption_inputs(cond, in.begin() + static_cast<std::ptrdiff_t>(fixed), in.end(), blocks);
                return model->forward(in[0], in[1], in[2], cond);
            });
        pipe.transformer_graphs_of = pipe.transformer.get();
        pipe.transformer_graphs_quantization = pipe.transformer->quantization;
    }
    std::vector<at::Tensor> inputs = {x, caption.embeds, t, caption.mask};
    if (guidance) inputs.push_back(*guidance);
    return pipe.transformer_graphs->run(inputs, caption.caption_kv);
}

at::Tensor decode_sana_latents(models::AutoencoderDC& vae, const at::Tensor& latents, SanaDecode mode,
                               int64_t tile_latent_size) {
    if (latents.dim() != 4) return vae->decode(latents);  // its error says what is wrong
    const int64_t f = vae->config.decoder_upsample_factor();
    const int64_t h = latents.size(2), w = latents.size(3);
    const int64_t pixels = h * f * w * f;
    if (mode == SanaDecode::Tiled || pixels > kSanaTiledDecodeAbovePixels) {
        LOG_INFO("decoding %lldx%lld px in tiles of %lld latent px", static_cast<long long>(w * f),
                 static_cast<long long>(h * f), static_cast<long long>(tile_latent_size));
        return vae->decode_tiled(latents, tile_latent_size);
    }
    std::string what;
    try {
        return vae->decode(latents);
    } catch (const c10::Error& e) {
        if (!is_out_of_memory(e)) throw;
        what = e.what_without_backtrace();
    } catch (const std::bad_alloc&) {
        what = "a host memory allocation failed";
    }
    // The failed decode's tensors are released by now. Tiles of at most half the latent per side, so that
    // a latent smaller than one default tile is split too.
    const int64_t tile = std::min(tile_latent_size, std::max<int64_t>(1, (std::max(h, w) + 1) / 2));
    LOG_WARN("decoding %lldx%lld px at once ran out of memory (%s); decoding in tiles of %lld latent px instead",
             static_cast<long long>(w * f), static_cast<long long>(h * f), what.substr(0, what.find('\n')).c_str(),
             static_cast<long long>(tile));
    return vae->decode_tiled(latents, tile);
}

at::Tensor generate_sana(SanaPipeline& pipe, const SanaGenerateOptions& o, const schedulers::StepHooks& hooks,
                         SanaTrace* trace, bool release_text_encoder, const std::function<void(JobStage)>& on_stage,
                         SanaDecode decode) {
    torch::NoGradGuard no_grad;
    const bool sprint = pipe.variant == SanaVariant::Sprint;
    const bool cfg = !sprint && o.guidance_scale > 1.0;
    const auto& tcfg = pipe.transformer->config;
    const auto dtype = pipe.transformer->dtype();
    const c10::Device device = pipe.options.device;

    // 1. Prompt: both sides tokenized first (a prompt that is too long fails before anything runs), so that a trimmed
    // run encodes only the token prefix its kept caption length needs (encode_sana_run_prompts).
    if (on_stage) on_stage(JobStage::EncodingPrompt);
    hooks.cancel_point();
    auto source = [&](const std::optional<PromptEmbedding>& given, const std::string& text, bool use_instruction) {
        SanaCaptionSource s;
        if (given) {
            s.given = *given;
        } else {
            s.tokens = tokenize_sana_prompt(pipe, text, use_instruction, o.max_sequence_length);
        }
        return s;
    };
    const SanaCaptionSource positive_source = source(o.prompt_embeds, o.prompt, o.use_instruction);
    std::optional<SanaCaptionSource> negative_source;
    if (cfg) negative_source = source(o.negative_prompt_embeds, o.negative_prompt, /*use_instruction=*/false);
    SanaRunPrompts prompts = encode_sana_run_prompts(pipe, positive_source, negative_source, o.max_sequence_length,
                                                     o.trim_caption, [&hooks] { hooks.cancel_point(); });
    PromptEmbedding positive = std::move(prompts.positive);
    std::optional<PromptEmbedding> negative = std::move(prompts.negative);
    positive.embeds = positive.embeds.to(device);
    positive.mask = positive.mask.to(device);
    if (negative) {
        negative->embeds = negative->embeds.to(device);
        negative->mask = negative->mask.to(device);
    }
    if (release_text_encoder) {
        pipe.text_encoder_graphs = nullptr;  // its graphs hold the model
        pipe.text_encoder = nullptr;
    }
    if (trace) {
        trace->prompt = positive;
        trace->negative = negative;
    }
    at::Tensor embeds = cfg ? at::cat({negative->embeds, positive.embeds}, 0) : positive.embeds;  // [B, L, D]
    at::Tensor mask = cfg ? at::cat({negative->mask, positive.mask}, 0) : positive.mask;          // [B, L]
    embeds = embeds.to(dtype);

    // 2. Latents from a CPU generator (the same numbers as torch.Generator("cpu").manual_seed(seed)).
    at::Generator gen = at::detail::createCPUGenerator(o.seed);
    const int64_t scale = pipe.vae_scale_factor();
    const std::vector<int64_t> shape = {1, tcfg.in_channels, o.height_px / scale, o.width_px / scale};
    at::Tensor latents = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).to(device);  // [1, C, h, w]

    schedulers::StepHooks run_hooks = hooks;
    if (trace) {
        run_hooks.maybe_preview = [&hooks, trace](int step, int n, const at::Tensor& x, const at::Tensor& denoised) {
            trace->latents_per_step.push_back(x.detach().to(at::kCPU).clone());
            if (hooks.maybe_preview) hooks.maybe_preview(step, n, x, denoised);
        };
    }

    // 3. Denoise.
    if (on_stage) on_stage(JobStage::Denoising);
    const SanaStepCaption caption =
        prepare_sana_step_caption(pipe, embeds, mask, o.num_inference_steps, o.trim_caption);
    at::Tensor final_latents;
    if (sprint) {
        const double sigma_data = pipe.scheduler.sigma_data;
        // guidance = full([1], g, fp32).expand(B).to(embeds dtype) * guidance_embeds_scale, as diffusers orders it.
        at::Tensor guidance = at::full({1}, o.guidance_scale, at::TensorOptions().dtype(at::kFloat).device(device))
                                  .to(positive.embeds.scalar_type()) *
                              tcfg.guidance_embeds_scale;
        schedulers::FlowModelFn model = [&](const at::Tensor& input, double tf) {
            at::Tensor t = at::full({input.size(0)}, tf, at::TensorOptions().dtype(at::kFloat).device(device));
            return sana_transformer_step(pipe, input.to(dtype), caption, t, guidance);
        };
        schedulers::NoiseFn noise = [&gen, device](const at::Tensor& like) {
            return at::randn(like.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(device);
        };
        at::Tensor denoised = schedulers::sample_scm(schedulers::make_trigflow_denoiser(model, sigma_data),
                                                     latents * sigma_data, o.scm_timesteps, sigma_data, noise,
                                                     run_hooks);
        final_latents = denoised / sigma_data;
    } else {
        const double g = o.guidance_scale;
        schedulers::DenoiseFn denoise = [&](const at::Tensor& x, const schedulers::DenoiseInput& in) {
            // One latent for both captions with CFG: the transformer runs what precedes its first cross-attention once.
            at::Tensor t = at::full({x.size(0)}, in.timestep, at::TensorOptions().dtype(at::kFloat).device(device)) *
                           tcfg.timestep_scale;
            at::Tensor v = sana_transformer_step(pipe, x.to(dtype), caption, t, std::nullopt).to(at::kFloat);
            if (!cfg) return v;
            auto parts = v.chunk(2, 0);
            return parts[0] + g * (parts[1] - parts[0]);
        };
        if (o.scheduler == schedulers::SchedulerKind::FlowEuler) {
            const auto sched = schedulers::flow_euler_schedule(o.num_inference_steps, o.flow_shift,
                                                               pipe.scheduler.num_train_timesteps);
            final_latents = schedulers::sample_flow_euler(denoise, latents, sched, run_hooks);
        } else {
            const auto sched = schedulers::flow_dpm_schedule(o.num_inference_steps, o.flow_shift,
                                                             pipe.scheduler.num_train_timesteps);
            final_latents = schedulers::sample_flow_dpm_solver(denoise, latents, sched, run_hooks, pipe.scheduler.dpm);
        }
    }

    // 4. Decode.
    hooks.cancel_point();
    if (on_stage) on_stage(JobStage::Decoding);
    at::Tensor image = decode_sana_latents(
        pipe.vae, final_latents.to(pipe.vae->dtype()) / pipe.vae->config.scaling_factor, decode);
    image = image.to(at::kFloat);
    if (o.height_px != o.output_height_px || o.width_px != o.output_width_px) {
        image = resize_and_crop(image, o.output_height_px, o.output_width_px);
    }
    return (image * 0.5 + 0.5).clamp(0.0, 1.0).to(at::kCPU);  // [1, 3, H, W]
}

}  // namespace engine::pipelines
