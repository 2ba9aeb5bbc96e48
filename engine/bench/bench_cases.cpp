// kinora-bench cases (see bench_cases.h). Configurations are those of the released checkpoints:
//   Sana 1600M / 600M, Sana-Sprint: docs/reference/sana.md §1.8 (transformer), §2.2 (DC-AE f32c32), §5.1 (Gemma-2 2B)
//   VideoCrafter2, DynamiCrafter 512: the built-in presets (resources/presets/*.json, the original YAML configs)
// and the reference benchmark (../shared/bench/reference_diffusers.py) times the same shapes.
#include "bench_cases.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/types.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "bench_device.h"
#include "core/engine_error.h"
#include "kernels/ops.h"
#include "models/adapters/image_resampler.h"
#include "models/autoencoders/autoencoder_dc.h"
#include "models/autoencoders/autoencoder_kl.h"
#include "models/common/memory_format.h"
#include "models/text_encoders/clip_vision.h"
#include "models/text_encoders/gemma2_model.h"
#include "models/text_encoders/open_clip_text.h"
#include "models/transformers/sana_transformer_2d.h"
#include "models/unets/lvdm_unet_3d.h"
#include "pipelines/lvdm_config.h"
#include "pipelines/lvdm_pipeline.h"
#include "pipelines/preview.h"
#include "pipelines/sana_pipeline.h"
#include "random_weights.h"
#include "runtime/cuda_graph.h"
#include "runtime/job_context.h"
#include "schedulers/step_hooks.h"
#include "schedulers/samplers.h"
#include "schedulers/sigmas.h"

namespace kinora_bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using engine::core::unwrap;

// ---------------------------------------------------------------------------------------------------------------
// Timing

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

double median(std::vector<double> v) {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Rounded to `digits` decimals for the JSON line (full values are in the *_all arrays).
double round_to(double value, int digits) {
    const double f = std::pow(10.0, digits);
    return std::round(value * f) / f;
}

json rounded_list(const std::vector<double>& v, int digits) {
    json out = json::array();
    for (double x : v) out.push_back(round_to(x, digits));
    return out;
}

// `warmup` untimed calls, then `repeats` calls each synchronised on both ends: seconds per call.
std::vector<double> time_calls(const c10::Device& device, int warmup, int repeats, const std::function<void()>& fn) {
    for (int i = 0; i < warmup; ++i) fn();
    synchronize(device);
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
        synchronize(device);
        const auto t0 = Clock::now();
        fn();
        synchronize(device);
        times.push_back(seconds_between(t0, Clock::now()));
    }
    return times;
}

// --profile DIR: one call of `fn` under LibTorch's profiler, its Chrome trace written to DIR/<case>_<what>.json;
// the names of the traces written go to `written` (a failure is reported there too, never thrown).
void profile_call(const BenchOptions& o, const std::string& case_name, const std::string& what,
                  const std::function<void()>& fn, json& written) {
    if (o.profile_dir.empty() || !o.device.is_cuda()) return;
    std::string why;
    std::error_code ec;
    std::filesystem::create_directories(o.profile_dir, ec);
    synchronize(o.device);
    if (!start_profiler(&why)) {
        written[what] = "profiler not started: " + why;
        return;
    }
    fn();
    synchronize(o.device);
    const std::string path = o.profile_dir + "/" + case_name + "_" + what + ".json";
    written[what] = stop_profiler(path, &why) ? path : "profile not saved: " + why;
}

// Stage boundaries of one end-to-end run: each mark synchronises the device (a few microseconds of idle GPU per
// boundary, nothing against the stages themselves) and records the time since start().
class StageClock {
public:
    explicit StageClock(c10::Device device) : device_(device) {}
    void start() {
        synchronize(device_);
        start_ = Clock::now();
        marks_.clear();
    }
    void mark(const std::string& name) {
        synchronize(device_);
        marks_.emplace_back(name, seconds_between(start_, Clock::now()));
    }
    // Durations between consecutive marks, named by the mark that ends them; and the total.
    std::vector<std::pair<std::string, double>> stages() const {
        std::vector<std::pair<std::string, double>> out;
        double previous = 0.0;
        for (const auto& [name, t] : marks_) {
            out.emplace_back(name, t - previous);
            previous = t;
        }
        return out;
    }
    double total() const { return marks_.empty() ? 0.0 : marks_.back().second; }

private:
    c10::Device device_;
    Clock::time_point start_;
    std::vector<std::pair<std::string, double>> marks_;
};

// Collects per-stage times over repeats and writes medians.
struct StageTable {
    std::vector<std::string> order;
    std::map<std::string, std::vector<double>> values;
    std::vector<double> totals;
    void add(const StageClock& clock) {
        for (const auto& [name, t] : clock.stages()) {
            if (!values.count(name)) order.push_back(name);
            values[name].push_back(t);
        }
        totals.push_back(clock.total());
    }
    json medians_s() const {
        json out = json::object();
        for (const auto& name : order) out[name] = round_to(median(values.at(name)), 5);
        return out;
    }
};

std::string dtype_name(at::ScalarType t) {
    switch (t) {
        case at::kBFloat16:
            return "bf16";
        case at::kHalf:
            return "fp16";
        case at::kFloat:
            return "fp32";
        default:
            return c10::toString(t);
    }
}

// "fused" when CUDA tensors go to our kernels, "aten" when they go to the ATen references (--kernels off, or a
// build without CUDA kernels); the CPU always runs the references.
std::string kernel_mode() {
    return kernels::has_cuda_kernels() && kernels::cuda_kernels_enabled() ? "fused" : "aten";
}

bool channels_last_of(const BenchOptions& o) {
    return o.channels_last.value_or(engine::models::default_channels_last(o.device));
}

double gib(std::int64_t bytes) {
    return static_cast<double>(bytes) / static_cast<double>(int64_t{1} << 30);
}

double millions(std::int64_t n) {
    return round_to(static_cast<double>(n) / 1e6, 3);
}

// Builds a module on the device, uninitialised in its dtype (the engine's constructors), then random weights.
template <typename Holder, typename Config>
Holder build(const Config& config, const at::TensorOptions& options) {
    torch::NoGradGuard no_grad;
    Holder module(config, options);
    randomize_parameters(*module);
    module->eval();
    return module;
}

// Fills in what every case reports; `result` already has the case's own fields.
// pipeline_peak: the allocator's peak after the end-to-end runs, before the component calls (the video cases'
// component decode of 16 frames in one call needs more than the pipeline's frame-by-frame decode).
void finish_result(json& result, const std::string& name, const BenchOptions& o, at::ScalarType dtype,
                   const StageTable& table, double build_s, const std::optional<std::int64_t>& pipeline_peak) {
    result["case"] = name;
    result["engine"] = "kinora";
    result["device"] = device_description(o.device);
    result["dtype"] = dtype_name(dtype);
    result["tiny"] = o.tiny;
    result["repeats"] = o.repeats;
    result["total_s"] = round_to(median(table.totals), 4);
    result["total_s_all"] = rounded_list(table.totals, 4);
    result["stages_s"] = table.medians_s();
    result["build_s"] = round_to(build_s, 2);
    const auto peak = peak_memory_bytes(o.device);
    result["peak_mem_GiB"] = pipeline_peak ? json(round_to(gib(*pipeline_peak), 2)) : json(nullptr);
    result["peak_mem_GiB_with_components"] = peak ? json(round_to(gib(*peak), 2)) : json(nullptr);
    result["kernels"] = kernel_mode();
    result["channels_last"] = channels_last_of(o) ? "on" : "off";
    result["torch"] = TORCH_VERSION;
}

// ---------------------------------------------------------------------------------------------------------------
// Sana / Sana-Sprint

enum class SanaSize { S1600, S600 };

struct SanaCase {
    SanaSize size;
    bool sprint;
    int steps;
};

// transformer/config.json of the released checkpoints (sana.md §1.8); tiny: the same family, 2 layers of width 32.
json sana_transformer_config(SanaSize size, bool sprint, bool tiny) {
    json c = {{"_class_name", "SanaTransformer2DModel"},
              {"in_channels", 32},
              {"out_channels", 32},
              {"caption_channels", 2304},
              {"mlp_ratio", 2.5},
              {"attention_bias", false},
              {"sample_size", 32},
              {"patch_size", 1},
              {"norm_elementwise_affine", false},
              {"norm_eps", 1e-6},
              {"dropout", 0.0},
              {"interpolation_scale", nullptr}};
    if (tiny) {
        c.update({{"num_attention_heads", 2},
                  {"attention_head_dim", 16},
                  {"num_cross_attention_heads", 2},
                  {"cross_attention_head_dim", 16},
                  {"cross_attention_dim", 32},
                  {"num_layers", 2},
                  {"caption_channels", 64},
                  {"sample_size", 4},
                  {"in_channels", 8},
                  {"out_channels", 8}});
    } else if (size == SanaSize::S1600) {
        c.update({{"num_attention_heads", 70},
                  {"attention_head_dim", 32},
                  {"num_cross_attention_heads", 20},
                  {"cross_attention_head_dim", 112},
                  {"cross_attention_dim", 2240},
                  {"num_layers", 20}});
    } else {
        c.update({{"num_attention_heads", 36},
                  {"attention_head_dim", 32},
                  {"num_cross_attention_heads", 16},
                  {"cross_attention_head_dim", 72},
                  {"cross_attention_dim", 1152},
                  {"num_layers", 28}});
    }
    if (sprint) {
        c.update({{"guidance_embeds", true},
                  {"guidance_embeds_scale", 0.1},
                  {"qk_norm", "rms_norm_across_heads"},
                  {"timestep_scale", 1.0}});
    }
    return c;
}

// dc-ae-f32c32-sana-1.0 (sana.md §2.2); tiny: the same six stages, narrow.
json dcae_config(bool tiny) {
    json c = {{"_class_name", "AutoencoderDC"},
              {"in_channels", 3},
              {"latent_channels", 32},
              {"attention_head_dim", 32},
              {"encoder_block_types",
               {"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}},
              {"decoder_block_types",
               {"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}},
              {"encoder_block_out_channels", {128, 256, 512, 512, 1024, 1024}},
              {"decoder_block_out_channels", {128, 256, 512, 512, 1024, 1024}},
              {"encoder_layers_per_block", {2, 2, 2, 3, 3, 3}},
              {"decoder_layers_per_block", {3, 3, 3, 3, 3, 3}},
              {"encoder_qkv_multiscales", {json::array(), json::array(), json::array(), {5}, {5}, {5}}},
              {"decoder_qkv_multiscales", {json::array(), json::array(), json::array(), {5}, {5}, {5}}},
              {"downsample_block_type", "Conv"},
              {"upsample_block_type", "interpolate"},
              {"decoder_norm_types", "rms_norm"},
              {"decoder_act_fns", "silu"},
              {"encoder_out_shortcut", true},
              {"decoder_in_shortcut", true},
              {"decoder_conv_act_fn", "relu"},
              {"scaling_factor", 0.41407}};
    if (tiny) {
        c.update({{"latent_channels", 8},
                  {"attention_head_dim", 8},
                  {"encoder_block_out_channels", {8, 8, 16, 16, 32, 32}},
                  {"decoder_block_out_channels", {8, 8, 16, 16, 32, 32}},
                  {"encoder_layers_per_block", {1, 1, 1, 1, 1, 1}},
                  {"decoder_layers_per_block", {1, 1, 1, 1, 1, 1}}});
    }
    return c;
}

// google/gemma-2-2b (sana.md §5.1), what Sana's text_encoder is; tiny: 2 layers of width 64.
json gemma2_config(bool tiny) {
    json c = {{"model_type", "gemma2"},
              {"vocab_size", 256000},
              {"hidden_size", 2304},
              {"intermediate_size", 9216},
              {"num_hidden_layers", 26},
              {"num_attention_heads", 8},
              {"num_key_value_heads", 4},
              {"head_dim", 256},
              {"query_pre_attn_scalar", 256},
              {"sliding_window", 4096},
              {"attn_logit_softcapping", 50.0},
              {"final_logit_softcapping", 30.0},
              {"rms_norm_eps", 1e-6},
              {"rope_theta", 10000.0},
              {"max_position_embeddings", 8192},
              {"hidden_activation", "gelu_pytorch_tanh"},
              {"pad_token_id", 0},
              {"eos_token_id", 1},
              {"bos_token_id", 2}};
    if (tiny) {
        c.update({{"vocab_size", 1000},
                  {"hidden_size", 64},
                  {"intermediate_size", 128},
                  {"num_hidden_layers", 2},
                  {"num_attention_heads", 2},
                  {"num_key_value_heads", 1},
                  {"head_dim", 32},
                  {"query_pre_attn_scalar", 32}});
    }
    return c;
}

// Token ids and mask of one prompt as the tokenizer pads it (on the CPU): `real` tokens, then padding to `length`.
struct TokenBatch {
    at::Tensor ids;   // [1, length] int64
    at::Tensor mask;  // [1, length] int64
};

TokenBatch random_tokens(int64_t length, int64_t real, int64_t vocab) {
    const auto opts = at::TensorOptions().dtype(at::kLong);
    at::Tensor ids = at::randint(4, vocab, {1, length}, opts);
    at::Tensor mask = at::zeros({1, length}, opts);
    mask.narrow(1, 0, std::min(real, length)).fill_(1);
    ids.masked_fill_(mask == 0, 0);  // <pad>
    return {ids, mask};
}

json run_sana(const std::string& name, const SanaCase& sc, const BenchOptions& o) {
    using namespace engine;
    // The reference's dtypes are GPU dtypes; the CPU smoke runs use float32 (half precision is barely on CPUs).
    const at::ScalarType dtype = o.dtype.value_or(o.device.is_cpu() ? at::kFloat : at::kBFloat16);
    const auto options = at::TensorOptions().dtype(dtype).device(o.device);
    const int steps = o.steps.value_or(o.tiny ? std::min(sc.steps, 2) : sc.steps);
    const bool cfg = !sc.sprint;
    const double guidance = 4.5;

    // 1. Components, uninitialised on the device in their dtype, then random weights.
    synchronize(o.device);
    const auto build_start = Clock::now();
    auto pipe = std::make_shared<pipelines::SanaPipeline>();
    pipe->dir = "(random weights)";
    pipe->variant = sc.sprint ? pipelines::SanaVariant::Sprint : pipelines::SanaVariant::Sana;
    pipe->options.dtype = dtype;
    pipe->options.vae_dtype = dtype;
    pipe->options.device = o.device;
    pipe->options.cuda_graphs = o.graphs;
    pipe->tokenizer_error = Error{ErrorCode::Internal, "kinora-bench feeds token ids, it has no tokenizer"};
    const auto gemma_cfg = unwrap(models::Gemma2Config::from_json(gemma2_config(o.tiny)));
    const auto transformer_cfg =
        unwrap(models::SanaTransformer2DConfig::from_json(sana_transformer_config(sc.size, sc.sprint, o.tiny)));
    const auto vae_cfg = unwrap(models::AutoencoderDCConfig::from_json(dcae_config(o.tiny)));
    pipe->text_encoder = build<models::Gemma2Model>(gemma_cfg, options);
    pipe->transformer = build<models::SanaTransformer2D>(transformer_cfg, options);
    pipe->transformer->pack_projections();  // as load_sana_transformer_2d does
    const std::int64_t transformer_params = count_parameters(*pipe->transformer);  // before any quantisation
    // The DC-AE's constructor takes no TensorOptions (float32 CPU with torch::nn's init): random weights there, then
    // moved to the device in the pipeline's dtype, as load_autoencoder_dc does with a checkpoint.
    {
        torch::NoGradGuard no_grad;
        models::AutoencoderDC vae(vae_cfg);
        randomize_parameters(*vae);
        vae->to_dtype_device(dtype, o.device);
        vae->set_channels_last(channels_last_of(o));
        vae->eval();
        pipe->vae = vae;
    }
    if (sc.sprint) {
        pipe->scheduler.kind = schedulers::SchedulerKind::SCM;
        pipe->scheduler.class_name = "SCMScheduler";
        pipe->scheduler.sigma_data = 0.5;
    } else {
        pipe->scheduler.kind = schedulers::SchedulerKind::FlowDPMSolverMultistep;
        pipe->scheduler.class_name = "DPMSolverMultistepScheduler";
        pipe->scheduler.flow_shift = 3.0;
    }
    synchronize(o.device);
    const double build_s = seconds_between(build_start, Clock::now());

    // 2. The request, resolved as the engine resolves it (native size, no binning).
    TextToImageRequest request;
    request.prompt = "a small fluffy white cat sleeping on a warm windowsill";
    request.seed = o.seed;
    request.num_inference_steps = steps;
    request.guidance_scale = guidance;
    request.width_px = request.height_px = pipe->default_size_px();
    request.use_resolution_binning = false;
    auto resolved = unwrap(pipelines::resolve_sana_options(*pipe, request));
    const int64_t max_sequence_length = resolved.max_sequence_length;  // 300

    // Prompt tokens: the instruction-prefixed positive prompt is about 480 tokens long before the selection (the
    // reference's component runs 480), with ~190 real ones; the empty negative prompt is <bos> + 299 pads.
    const int64_t vocab = gemma_cfg.vocab_size;
    const int64_t positive_length = o.tiny ? 24 : 478;
    const TokenBatch positive_tokens = random_tokens(positive_length, o.tiny ? 12 : 192, vocab);
    const TokenBatch negative_tokens = random_tokens(o.tiny ? 16 : max_sequence_length, 1, vocab);
    const int64_t keep = o.tiny ? 16 : max_sequence_length;

    c10::InferenceMode inference;

    // The last run's prompt embeddings (kept by reference: nothing is computed for them inside the timed runs).
    std::optional<pipelines::PromptEmbedding> run_positive, run_negative;
    std::vector<int64_t> tokens_encoded;  // per sample (negative first with CFG): the tokens Gemma-2 read

    int previews_delivered = 0;  // in the last run
    Callbacks preview_callbacks;
    preview_callbacks.on_preview = [&previews_delivered](const PreviewEvent& e) {
        if (!e.frames.empty() && !e.frames[0].pixels.empty()) ++previews_delivered;
    };

    // One end-to-end run: text encoding, then the engine's generate_sana (latents, denoising, DC-AE decode,
    // post-processing to a float CPU image), with stage marks.
    auto run = [&](int run_steps, StageClock* clock) {
        auto opts = resolved;
        opts.num_inference_steps = run_steps;
        opts.trim_caption = o.trim_caption;
        if (sc.sprint) {
            schedulers::ScmTimestepOptions t;
            t.num_inference_steps = run_steps;
            if (run_steps != 2) t.intermediate_timestep = std::nullopt;
            opts.scm_timesteps = unwrap(schedulers::scm_timesteps(t));
        }
        if (clock) clock->start();
        // generate_sana's encoding after its tokenizer: the same checks, graphs and instruction drop as the app's, and
        // with --trim-caption only the token prefix of the kept caption length (encode_sana_run_prompts).
        pipelines::SanaCaptionSource positive_source;
        positive_source.tokens = {positive_tokens.ids, positive_tokens.mask};
        std::optional<pipelines::SanaCaptionSource> negative_source;
        if (cfg) {
            negative_source.emplace();
            negative_source->tokens = {negative_tokens.ids, negative_tokens.mask};
        }
        pipelines::SanaRunPrompts prompts = pipelines::encode_sana_run_prompts(*pipe, positive_source, negative_source,
                                                                               static_cast<int>(keep), o.trim_caption);
        opts.prompt_embeds = prompts.positive;
        opts.negative_prompt_embeds = prompts.negative;
        tokens_encoded = cfg ? std::vector<int64_t>{prompts.negative_tokens_encoded, prompts.positive_tokens_encoded}
                             : std::vector<int64_t>{prompts.positive_tokens_encoded};
        run_positive = opts.prompt_embeds;
        run_negative = opts.negative_prompt_embeds;
        if (clock) clock->mark("text_encode");
        auto on_stage = [&](JobStage stage) {
            if (!clock) return;
            if (stage == JobStage::Denoising) clock->mark("prepare");
            if (stage == JobStage::Decoding) clock->mark("denoise");
        };
        // Previews: the app's step hooks and renderer (pipelines/text_to_image.cpp), delivered to a counter.
        schedulers::StepHooks hooks;
        std::optional<runtime::JobContext> job;
        if (o.previews != BenchOptions::Previews::Off) {
            PreviewOptions throttle;
            if (o.previews == BenchOptions::Previews::Every) throttle.min_interval_ms = 0;
            job.emplace(1, std::make_shared<runtime::CancelToken>(), &preview_callbacks, throttle);
            hooks = schedulers::make_step_hooks(
                *job,
                pipelines::image_preview_renderer(
                    pipelines::projection_for(pipelines::sana_dcae_projection(), transformer_cfg.in_channels)),
                JobStage::Denoising);
        }
        previews_delivered = 0;
        at::Tensor image = pipelines::generate_sana(*pipe, opts, hooks, nullptr, false, on_stage);
        if (clock) clock->mark("vae_decode_and_postprocess");
        return image;
    };

    // The components' inputs at the reference's shapes (used below, and by the quantisation check first).
    const int64_t batch = cfg ? 2 : 1;
    const int64_t latent_size = transformer_cfg.sample_size;
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(o.device);
    at::Tensor latents = at::randn({batch, transformer_cfg.in_channels, latent_size, latent_size}, options);
    at::Tensor context = at::randn({batch, keep, transformer_cfg.caption_channels}, options);
    at::Tensor context_mask = at::ones({batch, keep}, at::TensorOptions().dtype(at::kLong).device(o.device));
    at::Tensor timestep = at::full({batch}, sc.sprint ? 0.5 : 500.0, f32);
    models::SanaConditioning cond;
    cond.encoder_attention_mask = context_mask;
    if (sc.sprint) cond.guidance = at::full({batch}, guidance * transformer_cfg.guidance_embeds_scale, options);

    // Quantisation: the unquantised model's image (same seed, all steps) and one forward first, then the blocks are
    // quantised (their float weights released) and everything below measures the quantised model.
    json quantization;
    at::Tensor reference_image;
    at::Tensor reference_forward;
    if (o.quantization != WeightQuantization::None) {
        if (auto why = models::quantization_unavailable(o.quantization, o.device, dtype)) {
            throw std::invalid_argument(*why);
        }
        reference_image = run(steps, nullptr).to(at::kFloat).cpu();
        reference_forward = pipe->transformer->forward(latents, context, timestep, cond).to(at::kFloat);
        const int64_t layers = pipe->transformer->quantize_blocks(o.quantization);
        quantization["mode"] = to_string(o.quantization);
        quantization["layers"] = layers;
        quantization["params_M_quantized"] = millions(transformer_params - count_parameters(*pipe->transformer));
    }
    reset_peak_memory(o.device);

    for (int i = 0; i < o.warmup; ++i) run(std::min(steps, o.warmup_steps), nullptr);
    StageTable table;
    at::Tensor image;
    for (int i = 0; i < o.repeats; ++i) {
        StageClock clock(o.device);
        image = run(steps, &clock);
        table.add(clock);
    }
    const auto pipeline_peak = peak_memory_bytes(o.device);  // before the component calls below

    if (reference_image.defined()) {
        // Quality against the unquantised model: the final image (values in [0, 1]) and one forward.
        const at::Tensor diff = image.to(at::kFloat).cpu() - reference_image;
        const double mse = diff.pow(2).mean().item<double>();
        quantization["image_psnr_db"] = mse > 0 ? json(round_to(10.0 * std::log10(1.0 / mse), 2)) : json("inf");
        quantization["image_max_abs_diff"] = round_to(diff.abs().max().item<double>(), 4);
        const at::Tensor out = pipe->transformer->forward(latents, context, timestep, cond).to(at::kFloat);
        quantization["forward_rel_l2_error"] =
            round_to(((out - reference_forward).norm() / reference_forward.norm()).item<double>(), 5);
        quantization["forward_max_abs_diff"] = round_to((out - reference_forward).abs().max().item<double>(), 4);
    }

    // 3. Components at the reference's shapes: one transformer forward at the real batch, the DC-AE decode of one
    // latent, the text encoder on [2, 480] tokens.
    const auto forward_times = time_calls(o.device, 2, o.component_repeats,
                                          [&] { pipe->transformer->forward(latents, context, timestep, cond); });
    // With CFG the pipeline passes one latent for both captions (the transformer runs what precedes block 0's
    // cross-attention once): the same forward that way, eager.
    std::vector<double> one_latent_times;
    if (cfg) {
        const at::Tensor one = latents.narrow(0, 0, 1), one_t = timestep.narrow(0, 0, 1);
        one_latent_times = time_calls(o.device, 2, o.component_repeats,
                                      [&] { pipe->transformer->forward(one, context, one_t, cond); });
    }
    // The same forward through a CUDA graph (captured in the warm-up calls), when graphs are on.
    std::vector<double> graphed_times;
    std::optional<double> graphed_max_diff;
    if (o.graphs && o.device.is_cuda() && runtime::cuda_graphs_built() && runtime::cuda_graphs_allowed_by_env()) {
        models::SanaTransformer2D model = pipe->transformer;
        runtime::CudaGraphRunner runner("SanaTransformer2D (bench)",
                                        [model](const std::vector<at::Tensor>& in) mutable {
                                            models::SanaConditioning c;
                                            c.encoder_attention_mask = in[3];
                                            if (in.size() > 4) c.guidance = in[4];
                                            return model->forward(in[0], in[1], in[2], c);
                                        });
        std::vector<at::Tensor> inputs = {latents, context, timestep, context_mask};
        if (cond.guidance) inputs.push_back(*cond.guidance);
        graphed_times = time_calls(o.device, 2, o.component_repeats, [&] { runner.run(inputs); });
        if (runner.replays() > 0) {
            const at::Tensor eager = pipe->transformer->forward(latents, context, timestep, cond).to(at::kFloat);
            const at::Tensor graphed = runner.run(inputs).to(at::kFloat);
            graphed_max_diff = (graphed - eager).abs().max().item<double>();
        } else {
            graphed_times.clear();  // the capture failed: the log says why
        }
    }
    at::Tensor z = at::randn({1, vae_cfg.latent_channels, latent_size, latent_size}, options);
    const auto decode_times = time_calls(o.device, 1, std::max(1, o.component_repeats / 2),
                                         [&] { pipe->vae->decode(z / vae_cfg.scaling_factor); });
    const int64_t te_length = o.tiny ? 24 : 480;
    at::Tensor te_ids = at::randint(4, vocab, {2, te_length}, at::TensorOptions().dtype(at::kLong).device(o.device));
    const auto encode_times =
        time_calls(o.device, 1, std::max(1, o.component_repeats / 2), [&] { pipe->text_encoder->forward(te_ids); });

    json profiles = json::object();
    profile_call(o, name, "transformer", [&] { pipe->transformer->forward(latents, context, timestep, cond); },
                 profiles);
    // The caption as the pipeline's steps ran it (the component forward above: the reference's full 300 positions for
    // both samples), prepared as generate_sana prepares it: trimmed, with the one-token samples' constants.
    std::optional<pipelines::SanaStepCaption> step_caption;
    if (run_positive) {
        const at::Tensor embeds =
            cfg ? at::cat({run_negative->embeds, run_positive->embeds}, 0) : run_positive->embeds;
        const at::Tensor masks = cfg ? at::cat({run_negative->mask, run_positive->mask}, 0) : run_positive->mask;
        step_caption = pipelines::prepare_sana_step_caption(*pipe, embeds.to(dtype), masks, steps, o.trim_caption);
    }
    if (step_caption && !o.profile_dir.empty() && o.device.is_cuda()) {
        const models::SanaConditioning step_cond = pipelines::sana_step_conditioning(*pipe, *step_caption, cond.guidance);
        profile_call(o, name, "transformer_step",
                     [&] { pipe->transformer->forward(latents, step_caption->embeds, timestep, step_cond); }, profiles);
    }
    profile_call(o, name, "vae_decode", [&] { pipe->vae->decode(z / vae_cfg.scaling_factor); }, profiles);
    profile_call(o, name, "text_encode", [&] { pipe->text_encoder->forward(te_ids); }, profiles);

    json result;
    if (!profiles.empty()) result["profiles"] = profiles;
    result["height"] = result["width"] = request.width_px;
    result["steps"] = steps;
    result["guidance_scale"] = guidance;
    result["cfg_batch"] = batch;
    const std::string fwd_key = "transformer_fwd_ms(batch" + std::to_string(batch) + ")";
    result[fwd_key] = round_to(1e3 * median(forward_times), 3);
    result[fwd_key + "_all"] = rounded_list(forward_times, 5);
    if (!one_latent_times.empty()) {
        result["transformer_fwd_ms(1 latent, 2 captions)"] = round_to(1e3 * median(one_latent_times), 3);
    }
    if (!graphed_times.empty()) {
        result[fwd_key + "_graphed"] = round_to(1e3 * median(graphed_times), 3);
        result[fwd_key + "_graphed_all"] = rounded_list(graphed_times, 5);
        result["graphed_vs_eager_max_abs_diff"] = graphed_max_diff ? json(*graphed_max_diff) : json(nullptr);
    }
    result["graphs"] =
        o.graphs && o.device.is_cuda() && runtime::cuda_graphs_built() && runtime::cuda_graphs_allowed_by_env() ? "on"
                                                                                                                : "off";
    if (pipe->transformer_graphs) {
        result["graph_stats"] = {{"captures", pipe->transformer_graphs->captures()},
                                 {"replays", pipe->transformer_graphs->replays()},
                                 {"eager_calls", pipe->transformer_graphs->eager_calls()},
                                 {"capture_failed", pipe->transformer_graphs->failed()}};
    }
    if (pipe->text_encoder_graphs) {
        result["text_encoder_graph_stats"] = {{"captures", pipe->text_encoder_graphs->captures()},
                                              {"replays", pipe->text_encoder_graphs->replays()},
                                              {"eager_calls", pipe->text_encoder_graphs->eager_calls()},
                                              {"capture_failed", pipe->text_encoder_graphs->failed()}};
    }
    result["denoise_per_step_ms"] = round_to(1e3 * median(table.values["denoise"]) / steps, 3);
    if (step_caption) {
        // What the pipeline runs' cross-attention attended to.
        const at::Tensor tokens = step_caption->mask.ne(0).sum(1).to(at::kCPU).contiguous();
        result["caption"] = {
            {"positions", keep},  // the caption's length (with --trim-caption the runs' embeddings hold fewer)
            {"tokens_per_sample",
             std::vector<int64_t>(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + tokens.numel())},
            {"trim", o.trim_caption},
            {"positions_attended", step_caption->mask.size(1)},
            {"one_token_samples_given", step_caption->one_token_samples},
            {"tokens_encoded", tokens_encoded},
        };
    }
    result["previews"] = {{"mode", o.previews == BenchOptions::Previews::Off     ? "off"
                                   : o.previews == BenchOptions::Previews::App ? "app"
                                                                               : "every"},
                          {"delivered_last_run", previews_delivered}};
    result["vae_decode_ms"] = round_to(1e3 * median(decode_times), 3);
    result["text_encode_ms(b2," + std::to_string(te_length) + "tok)"] = round_to(1e3 * median(encode_times), 3);
    result["params_M"] = {{"transformer", millions(transformer_params)},
                          {"text_encoder", millions(count_parameters(*pipe->text_encoder))},
                          {"vae", millions(count_parameters(*pipe->vae))}};
    result["output"] = {{"shape", image.sizes().vec()}, {"finite", image.isfinite().all().item<bool>()}};
    result["quantization"] = quantization.empty() ? json("none") : quantization;
    finish_result(result, name, o, dtype, table, build_s, pipeline_peak);
    return result;
}

// ---------------------------------------------------------------------------------------------------------------
// VideoCrafter2 / DynamiCrafter 512 (LVDM)

struct LVDMCase {
    std::string preset;  // built-in preset id
    bool image_to_video;
    int steps;
    double guidance;
    int64_t frame_rate;  // VideoCrafter fps / DynamiCrafter fs
};

// The tiny LVDM family: the same code paths (temporal convs, init_attn, fps/fs embedding, image cross-attention,
// 16 image tokens per frame) at widths a CPU runs in seconds.
struct TinyLVDM {
    static json unet(bool image_to_video) {
        json u = {{"in_channels", image_to_video ? 8 : 4},
                  {"out_channels", 4},
                  {"model_channels", 32},
                  {"attention_resolutions", {1}},
                  {"num_res_blocks", 1},
                  {"channel_mult", {1, 2}},
                  {"num_head_channels", 16},
                  {"transformer_depth", 1},
                  {"context_dim", 32},
                  {"use_linear", true},
                  {"temporal_conv", true},
                  {"temporal_attention", true},
                  {"temporal_selfatt_only", true},
                  {"use_relative_position", false},
                  {"use_causal_attention", false},
                  {"temporal_length", 4},
                  {"addition_attention", true}};
        if (image_to_video) {
            u.update({{"image_cross_attention", true}, {"default_fs", 24}, {"fs_condition", true}});
        } else {
            u["fps_cond"] = true;
        }
        return u;
    }
    static json autoencoder() {
        return {{"embed_dim", 4},
                {"ddconfig",
                 {{"double_z", true},
                  {"z_channels", 4},
                  {"resolution", 32},
                  {"in_channels", 3},
                  {"out_ch", 3},
                  {"ch", 32},
                  {"ch_mult", {1, 2}},
                  {"num_res_blocks", 1},
                  {"attn_resolutions", json::array()},
                  {"dropout", 0.0}}}};
    }
};

json run_lvdm(const std::string& name, const LVDMCase& lc, const BenchOptions& o) {
    using namespace engine;
    const at::ScalarType dtype = o.dtype.value_or(o.device.is_cpu() ? at::kFloat : at::kHalf);
    const auto options = at::TensorOptions().dtype(dtype).device(o.device);
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(o.device);
    const auto i64 = at::TensorOptions().dtype(at::kLong).device(o.device);
    const int steps = o.steps.value_or(o.tiny ? std::min(lc.steps, 2) : lc.steps);

    const auto cfg = unwrap(pipelines::lvdm_preset(lc.preset));
    const bool dc = cfg.family == pipelines::LVDMFamily::DynamiCrafter;
    const auto unet_cfg =
        unwrap(models::LVDMUNet3DConfig::from_json(o.tiny ? TinyLVDM::unet(lc.image_to_video) : cfg.unet_params));
    const auto ae_cfg =
        unwrap(models::AutoencoderKLConfig::from_json(o.tiny ? TinyLVDM::autoencoder() : cfg.first_stage_params));
    auto text_cfg = unwrap(models::OpenCLIPTextConfig::from_arch(cfg.open_clip.arch));
    if (auto layer = models::open_clip_text_layer_from_string(cfg.cond_stage_layer)) text_cfg.layer = *layer;
    if (o.tiny) {
        text_cfg.vocab_size = 1000;
        text_cfg.width = 32;
        text_cfg.heads = 2;
        text_cfg.layers = 2;
    }
    const int64_t frames = o.tiny ? 4 : cfg.temporal_length;
    const int64_t latent_h = o.tiny ? 16 : cfg.image_size.at(0);
    const int64_t latent_w = o.tiny ? 16 : cfg.image_size.at(1);
    const int64_t f = ae_cfg.downsample_factor();
    const int64_t channels = o.tiny ? 4 : cfg.channels;

    // 1. Components.
    synchronize(o.device);
    const auto build_start = Clock::now();
    auto unet = build<models::LVDMUNet3D>(unet_cfg, options);
    auto ae = build<models::AutoencoderKL>(ae_cfg, options);
    unet->set_channels_last(channels_last_of(o));
    // The engine's step function (CUDA graphs when on) runs the UNet, through a pipeline object holding it.
    pipelines::LVDMPipeline step_pipe;
    step_pipe.unet = unet;
    step_pipe.options.device = o.device;
    step_pipe.options.cuda_graphs = o.graphs;
    ae->set_channels_last(channels_last_of(o));
    auto text = build<models::OpenCLIPTextEncoder>(text_cfg, options);
    models::CLIPVisionEncoder vision{nullptr};
    models::ImageResampler resampler{nullptr};
    if (lc.image_to_video) {
        auto vision_cfg = unwrap(models::CLIPVisionConfig::from_embedder_params(cfg.img_cond_params));
        auto resampler_cfg = unwrap(models::ImageResamplerConfig::from_json(cfg.image_proj_params));
        if (o.tiny) {
            vision_cfg.image_size = 32;
            vision_cfg.patch_size = 16;
            vision_cfg.width = 32;
            vision_cfg.layers = 2;
            vision_cfg.heads = 2;
            resampler_cfg.dim = 32;
            resampler_cfg.depth = 1;
            resampler_cfg.dim_head = 16;
            resampler_cfg.heads = 2;
            resampler_cfg.embedding_dim = 32;
            resampler_cfg.output_dim = 32;
            resampler_cfg.ff_mult = 2;
            resampler_cfg.video_length = frames;
        }
        vision = build<models::CLIPVisionEncoder>(vision_cfg, options);
        resampler = build<models::ImageResampler>(resampler_cfg, options);
    }
    synchronize(o.device);
    const double build_s = seconds_between(build_start, Clock::now());

    // 2. Schedule: DDIM, uniform spacing, eta 1 (the scripts' defaults), the model's parameterization and rescale.
    const auto& diffusion = cfg.diffusion;
    const auto timesteps =
        unwrap(schedulers::ddim_timesteps(schedulers::DDIMSpacing::Uniform, steps, diffusion.num_timesteps));
    const auto schedule =
        unwrap(schedulers::make_ddim_schedule(diffusion.alphas_cumprod(), timesteps, 1.0, diffusion.parameterization,
                                              diffusion.rescale, diffusion.scale_arr()));
    const auto warmup_timesteps = unwrap(schedulers::ddim_timesteps(
        schedulers::DDIMSpacing::Uniform, std::min(steps, o.warmup_steps), diffusion.num_timesteps));
    const auto warmup_schedule =
        unwrap(schedulers::make_ddim_schedule(diffusion.alphas_cumprod(), warmup_timesteps, 1.0,
                                              diffusion.parameterization, diffusion.rescale, diffusion.scale_arr()));

    // Inputs: [uncond "", prompt] token ids (77 each), and for image-to-video a picture in [-1, 1].
    at::Tensor text_ids = at::randint(1, text_cfg.vocab_size, {2, text_cfg.context_length}, i64);
    at::Tensor picture = at::rand({1, 3, latent_h * f, latent_w * f}, f32) * 2 - 1;
    // Frame by frame, as the engine's LVDM pipeline decodes (and lvdm's decode_first_stage_2DAE); the component
    // number below decodes the 16 frames in one call, the reference's vae_decode_16f.
    models::VideoCodingOptions decode_options;
    decode_options.frames_per_call = 1;

    c10::InferenceMode inference;
    reset_peak_memory(o.device);

    auto run = [&](const schedulers::DDIMSchedule& sched, StageClock* clock) {
        if (clock) clock->start();
        at::Tensor context = text->forward(text_ids);  // [2, 77, D]: uncond, cond
        if (clock) clock->mark("text_encode");
        at::Tensor image_latent;
        if (lc.image_to_video) {
            // CLIP image tokens of the picture and of a blank one (the unconditional branch), resampled to 16 tokens
            // per frame; the picture's VAE latent (posterior mean), repeated over the frames for the hybrid input.
            at::Tensor both = at::cat({at::zeros_like(picture), picture}, 0);
            at::Tensor image_tokens = resampler->forward(vision->encode(both));  // [2, 16·F, D]
            context = at::cat({context, image_tokens.to(context.scalar_type())}, 1);
            image_latent = ae->encode(picture).mean * cfg.scale_factor;  // [1, 4, h, w]
            image_latent = image_latent.unsqueeze(2).expand({1, channels, frames, latent_h, latent_w});
            if (clock) clock->mark("image_encode");
        }
        at::Tensor frame_rate = at::full({2}, lc.frame_rate, i64);
        models::LVDMUNet3DConditioning cond;
        (dc ? cond.fs : cond.fps) = frame_rate;
        schedulers::DenoiseFn denoise = [&](const at::Tensor& x, const schedulers::DenoiseInput& in) {
            at::Tensor x_in = at::cat({x, x}, 0).to(dtype);  // [2, C, F, h, w]
            if (image_latent.defined()) {
                x_in = at::cat({x_in, at::cat({image_latent, image_latent}, 0).to(dtype)}, 1);
            }
            at::Tensor t = at::full({2}, static_cast<int64_t>(in.timestep), i64);
            at::Tensor out = pipelines::lvdm_unet_step(step_pipe, x_in, t, context, cond).to(at::kFloat);
            auto parts = out.chunk(2, 0);
            return parts[0] + lc.guidance * (parts[1] - parts[0]);
        };
        schedulers::NoiseFn noise = [&](const at::Tensor& like) { return at::randn(like.sizes(), f32); };
        at::Tensor x = at::randn({1, channels, frames, latent_h, latent_w}, f32);
        x = schedulers::sample_ddim(denoise, x, sched, noise);
        if (clock) clock->mark("denoise");
        at::Tensor video = models::decode_video(*ae, x.to(dtype) / cfg.scale_factor, decode_options);
        if (clock) clock->mark("vae_decode");
        // As a pipeline hands frames over: [0, 1] float on the CPU.
        video = ((video.to(at::kFloat) + 1.0) * 0.5).clamp(0.0, 1.0).to(at::kCPU);
        if (clock) clock->mark("postprocess");
        return video;
    };

    for (int i = 0; i < o.warmup; ++i) run(warmup_schedule, nullptr);
    StageTable table;
    at::Tensor video;
    for (int i = 0; i < o.repeats; ++i) {
        StageClock clock(o.device);
        video = run(schedule, &clock);
        table.add(clock);
    }
    const auto pipeline_peak = peak_memory_bytes(o.device);  // before the component calls below

    // 3. Components at the reference's shapes: one UNet forward at batch 2 (CFG), the VAE decode of 16 frames in one
    // call (VideoCrafter2's reference number), the text encoder on [2, 77].
    at::Tensor x = at::randn({2, unet_cfg.in_channels, frames, latent_h, latent_w}, options);
    const int64_t context_len = lc.image_to_video ? 77 + 16 * frames : 77;
    at::Tensor ctx = at::randn({2, context_len, unet_cfg.context_dim}, options);
    at::Tensor t = at::full({2}, 500, i64);
    models::LVDMUNet3DConditioning cond;
    (dc ? cond.fs : cond.fps) = at::full({2}, lc.frame_rate, i64);
    const auto unet_times =
        time_calls(o.device, 2, std::max(1, o.component_repeats / 2), [&] { unet->forward(x, t, ctx, cond); });
    // The same forward through the step function's CUDA graph, and its difference from the eager result.
    std::vector<double> unet_graphed_times;
    std::optional<double> unet_graphed_diff;
    if (step_pipe.unet_graphs) {
        unet_graphed_times = time_calls(o.device, 2, std::max(1, o.component_repeats / 2),
                                        [&] { pipelines::lvdm_unet_step(step_pipe, x, t, ctx, cond); });
        const at::Tensor graphed = pipelines::lvdm_unet_step(step_pipe, x, t, ctx, cond).to(at::kFloat);
        unet_graphed_diff = (graphed - unet->forward(x, t, ctx, cond).to(at::kFloat)).abs().max().item<double>();
    }
    at::Tensor z = at::randn({frames, ae_cfg.embed_dim, latent_h, latent_w}, options);
    const auto decode_times = time_calls(o.device, 1, std::max(1, o.component_repeats / 3), [&] { ae->decode(z); });
    const auto text_times =
        time_calls(o.device, 1, std::max(1, o.component_repeats / 2), [&] { text->forward(text_ids); });

    json profiles = json::object();
    profile_call(o, name, "unet", [&] { unet->forward(x, t, ctx, cond); }, profiles);
    profile_call(o, name, "vae_decode", [&] { ae->decode(z); }, profiles);

    json result;
    if (!profiles.empty()) result["profiles"] = profiles;
    result["graphs"] = step_pipe.unet_graphs ? "on" : "off";
    if (step_pipe.unet_graphs) {
        result["graph_stats"] = {{"captures", step_pipe.unet_graphs->captures()},
                                 {"replays", step_pipe.unet_graphs->replays()},
                                 {"eager_calls", step_pipe.unet_graphs->eager_calls()},
                                 {"capture_failed", step_pipe.unet_graphs->failed()}};
    }
    result["height"] = latent_h * f;
    result["width"] = latent_w * f;
    result["frames"] = frames;
    result["steps"] = steps;
    result["guidance_scale"] = lc.guidance;
    result["cfg_batch"] = 2;
    result["unet_fwd_ms(batch2)"] = round_to(1e3 * median(unet_times), 3);
    result["unet_fwd_ms(batch2)_all"] = rounded_list(unet_times, 5);
    result["est_50_steps_s"] = round_to(50.0 * median(unet_times), 3);
    if (!unet_graphed_times.empty()) {
        result["unet_fwd_ms(batch2)_graphed"] = round_to(1e3 * median(unet_graphed_times), 3);
        result["unet_fwd_ms(batch2)_graphed_all"] = rounded_list(unet_graphed_times, 5);
        result["graphed_vs_eager_max_abs_diff"] = unet_graphed_diff ? json(*unet_graphed_diff) : json(nullptr);
    }
    result["denoise_per_step_ms"] = round_to(1e3 * median(table.values["denoise"]) / steps, 3);
    result["vae_decode_" + std::to_string(frames) + "f_ms"] = round_to(1e3 * median(decode_times), 3);
    result["text_encode_ms(b2,77tok)"] = round_to(1e3 * median(text_times), 3);
    json params = {{"unet", millions(count_parameters(*unet))},
                   {"vae", millions(count_parameters(*ae))},
                   {"text_encoder", millions(count_parameters(*text))}};
    if (lc.image_to_video) {
        params["image_encoder"] = millions(count_parameters(*vision));
        params["image_resampler"] = millions(count_parameters(*resampler));
    }
    result["params_M"] = params;
    result["output"] = {{"shape", video.sizes().vec()}, {"finite", video.isfinite().all().item<bool>()}};
    finish_result(result, name, o, dtype, table, build_s, pipeline_peak);
    return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Our kernels alone, fused vs the ATen composites they replace (kernels::set_cuda_kernels_enabled), at the shapes
// of the real models: the before/after of each kernel, and its achieved bandwidth against the fewest bytes it must
// move (each input read once, each output written once).

// "what [d0, d1, ...]" with the tensor's actual sizes (the tiny configs' differ from the real ones).
std::string shape_label(const std::string& what, const at::Tensor& t) {
    std::string out = what + " [";
    for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
    return out + "]";
}

json run_kernels(const std::string& name, const BenchOptions& o) {
    const at::ScalarType dtype = o.dtype.value_or(o.device.is_cpu() ? at::kFloat : at::kBFloat16);
    const auto options = at::TensorOptions().dtype(dtype).device(o.device);
    const double element = static_cast<double>(c10::elementSize(dtype));
    const bool tiny = o.tiny;
    c10::InferenceMode inference;

    struct Op {
        std::string name;
        std::string shape;
        double min_bytes;
        std::function<at::Tensor()> fn;
    };
    std::vector<Op> ops;
    {  // Sana 1600M self-attention: heads split off [B, N, H·D] projections.
        const int64_t b = 2, n = tiny ? 64 : 1024, h = tiny ? 4 : 70, d = 32;
        auto make = [&] { return at::randn({b, n, h * d}, options).view({b, n, h, d}).transpose(1, 2); };
        at::Tensor q = make(), k = make(), v = make();
        ops.push_back({"relu_linear_attention", shape_label("Sana 1600M self-attention", q),
                       4.0 * b * n * h * d * element,
                       [q, k, v] { return kernels::relu_linear_attention(q, k, v, 1e-15); }});
    }
    {  // DC-AE decoder stage 3 (512 channels at 128x128 for a 1024 px image): [B, G, D, N] transposed views.
        const int64_t g = tiny ? 4 : 32, n = tiny ? 256 : 128 * 128, d = tiny ? 8 : 32;
        at::Tensor hs = at::randn({1, g, 3 * d, n}, options);
        auto parts = hs.chunk(3, 2);
        at::Tensor q = parts[0].transpose(-1, -2), k = parts[1].transpose(-1, -2), v = parts[2].transpose(-1, -2);
        ops.push_back({"relu_linear_attention", shape_label("DC-AE stage 3 (1024 px)", q), 4.0 * g * n * d * element,
                       [q, k, v] { return kernels::relu_linear_attention(q, k, v, 1e-15); }});
    }
    {  // Sana 1600M norm1 / norm2 with the adaLN modulation.
        const int64_t b = 2, n = tiny ? 64 : 1024, d = tiny ? 32 : 2240;
        at::Tensor x = at::randn({b, n, d}, options);
        auto mod = at::randn({b, 6, d}, options).chunk(6, 1);
        at::Tensor shift = mod[0], scale = mod[1];
        ops.push_back({"layer_norm_modulate", shape_label("Sana 1600M norm1/norm2", x), 2.0 * b * n * d * element,
                       [x, shift, scale] { return kernels::layer_norm_modulate(x, shift, scale, 1e-6); }});
    }
    {  // Sana 1600M gated residuals: x + gate · attention / feed-forward.
        const int64_t b = 2, n = tiny ? 64 : 1024, d = tiny ? 32 : 2240;
        at::Tensor x = at::randn({b, n, d}, options);
        at::Tensor y = at::randn({b, n, d}, options);
        at::Tensor gate = at::randn({b, 6, d}, options).chunk(6, 1)[2];
        ops.push_back({"gated_residual", shape_label("Sana 1600M block residual", x), 3.0 * b * n * d * element,
                       [x, gate, y] { return kernels::gated_residual(x, gate, y); }});
    }
    {  // Sana-Sprint 1600M qk RMSNorm across heads.
        const int64_t b = 2, n = tiny ? 64 : 1024, d = tiny ? 32 : 2240;
        at::Tensor x = at::randn({b, n, d}, options);
        at::Tensor w = at::randn({d}, options);
        ops.push_back({"rms_norm", shape_label("Sprint 1600M q/k norm", x), 2.0 * b * n * d * element,
                       [x, w] { return kernels::rms_norm(x, w, {}, 1e-5); }});
    }
    {  // Sana 1600M GLUMBConv on the 32x32 token grid: SiLU, depthwise conv and gate between the two GEMMs.
        const int64_t b = 2, c2 = tiny ? 16 : 11200, hw = tiny ? 8 : 32;
        at::Tensor x = at::randn({b, hw, hw, c2}, options);
        at::Tensor w = at::randn({c2, 1, 3, 3}, options);
        at::Tensor bias = at::randn({c2}, options);
        ops.push_back({"silu_depthwise_conv3x3_gate_nhwc", shape_label("Sana 1600M FF tokens", x),
                       1.5 * b * c2 * hw * hw * element,
                       [x, w, bias] { return kernels::silu_depthwise_conv3x3_gate_nhwc(x, w, bias); }});
    }
    {  // The same in the DC-AE's channels-last decoder stage 3 (1024 px).
        const int64_t c2 = tiny ? 16 : 4096, hw = tiny ? 16 : 128;
        at::Tensor x = at::randn({1, hw, hw, c2}, options);
        at::Tensor w = at::randn({c2, 1, 3, 3}, options);
        at::Tensor bias = at::randn({c2}, options);
        ops.push_back({"silu_depthwise_conv3x3_gate_nhwc", shape_label("DC-AE stage 3 MLP, channels-last", x),
                       1.5 * c2 * hw * hw * element,
                       [x, w, bias] { return kernels::silu_depthwise_conv3x3_gate_nhwc(x, w, bias); }});
    }
    {  // DC-AE ResBlock RMSNorm over 512 channels at 128x128, channels-last.
        const int64_t c = tiny ? 16 : 512, hw = tiny ? 16 : 128;
        at::Tensor x = at::randn({1, hw, hw, c}, options);
        at::Tensor w = at::randn({c}, options);
        at::Tensor bias = at::randn({c}, options);
        ops.push_back({"rms_norm", shape_label("DC-AE stage 3 channel RMSNorm", x), 2.0 * c * hw * hw * element,
                       [x, w, bias] { return kernels::rms_norm(x, w, bias, 1e-5); }});
    }
    {  // DC-AE decoder stage 3 GLUMBConv (NCHW).
        const int64_t c2 = tiny ? 16 : 4096, hw = tiny ? 16 : 128;
        at::Tensor x = at::randn({1, c2, hw, hw}, options);
        at::Tensor w = at::randn({c2, 1, 3, 3}, options);
        at::Tensor bias = at::randn({c2}, options);
        ops.push_back({"depthwise_conv3x3_silu_gate", shape_label("DC-AE stage 3 MLP, NCHW", x),
                       1.5 * c2 * hw * hw * element,
                       [x, w, bias] { return kernels::depthwise_conv3x3_silu_gate(x, w, bias); }});
    }

    const bool was_enabled = kernels::cuda_kernels_enabled();
    json lines = json::array();
    for (const auto& op : ops) {
        kernels::set_cuda_kernels_enabled(true);
        const at::Tensor fused_out = op.fn();
        const auto fused = time_calls(o.device, 2, o.component_repeats, [&] { op.fn(); });
        kernels::set_cuda_kernels_enabled(false);
        const at::Tensor aten_out = op.fn();
        const auto aten = time_calls(o.device, 2, o.component_repeats, [&] { op.fn(); });
        kernels::set_cuda_kernels_enabled(was_enabled);
        const double fused_s = median(fused);
        const double aten_s = median(aten);
        const double diff = ((fused_out.to(at::kDouble) - aten_out.to(at::kDouble)).norm() /
                             aten_out.to(at::kDouble).norm().clamp_min(1e-300))
                                .item<double>();
        lines.push_back({{"op", op.name},
                         {"shape", op.shape},
                         {"fused_ms", round_to(1e3 * fused_s, 4)},
                         {"aten_ms", round_to(1e3 * aten_s, 4)},
                         {"speedup", round_to(aten_s / fused_s, 2)},
                         {"min_MB", round_to(op.min_bytes / 1e6, 2)},
                         {"fused_GBps", round_to(op.min_bytes / fused_s / 1e9, 1)},
                         {"rel_diff_vs_aten", diff}});
    }
    json result;
    result["case"] = name;
    result["engine"] = "kinora";
    result["device"] = device_description(o.device);
    result["dtype"] = dtype_name(dtype);
    result["tiny"] = o.tiny;
    result["kernels_built"] = kernels::has_cuda_kernels();
    result["ops"] = lines;
    result["torch"] = TORCH_VERSION;
    return result;
}

}  // namespace

const std::vector<CaseInfo>& cases() {
    static const std::vector<CaseInfo> list = {
        {"sana1600", "Sana 1600M, 1024x1024, 20 steps flow DPM-Solver++, CFG 4.5 (batch 2)"},
        {"sana600", "Sana 600M, 1024x1024, 20 steps flow DPM-Solver++, CFG 4.5 (batch 2)"},
        {"sprint1600_1step", "Sana-Sprint 1600M, 1024x1024, 1 step SCM, embedded guidance 4.5"},
        {"sprint1600_2step", "Sana-Sprint 1600M, 1024x1024, 2 steps SCM, embedded guidance 4.5"},
        {"sprint600_2step", "Sana-Sprint 600M, 1024x1024, 2 steps SCM, embedded guidance 4.5"},
        {"vc2", "VideoCrafter2 text-to-video, 320x512x16, 50 DDIM steps (eta 1), CFG 12 (batch 2), fps 28"},
        {"dc512", "DynamiCrafter 512 image-to-video, 320x512x16, 50 DDIM steps (eta 1), CFG 7.5 (batch 2), fs 24"},
        {"kernels", "our CUDA kernels alone vs the ATen ops they replace, at the real models' shapes"},
    };
    return list;
}

nlohmann::json run_case(const std::string& name, const BenchOptions& options) {
    if (name == "sana1600") return run_sana(name, {SanaSize::S1600, false, 20}, options);
    if (name == "sana600") return run_sana(name, {SanaSize::S600, false, 20}, options);
    if (name == "sprint1600_1step") return run_sana(name, {SanaSize::S1600, true, 1}, options);
    if (name == "sprint1600_2step") return run_sana(name, {SanaSize::S1600, true, 2}, options);
    if (name == "sprint600_2step") return run_sana(name, {SanaSize::S600, true, 2}, options);
    if (name == "vc2") return run_lvdm(name, {"videocrafter2", false, 50, 12.0, 28}, options);
    if (name == "dc512") return run_lvdm(name, {"dynamicrafter-512", true, 50, 7.5, 24}, options);
    if (name == "kernels") return run_kernels(name, options);
    throw std::invalid_argument("unknown case '" + name + "' (kinora-bench --list shows the cases)");
}

}  // namespace kinora_bench
