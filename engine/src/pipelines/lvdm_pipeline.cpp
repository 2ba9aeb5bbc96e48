#include "pipelines/lvdm_pipeline.h"

#include <ATen/ATen.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "core/engine_error.h"
#include "core/log.h"
#include "engine/media_io.h"
#include "io/checkpoint.h"
#include "models/common/memory_format.h"
#include "runtime/cuda_graph.h"
#include "schedulers/parameterization.h"
#include "schedulers/samplers.h"

namespace engine::pipelines {
namespace fs = std::filesystem;
using core::EngineError;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// ---------------------------------------------------------------------------------------------------------------------
// The CLIP vocabulary

// A folder holding either vocabulary form (the same test CLIPTokenizer::load makes).
bool has_vocab(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return false;
    return (fs::is_regular_file(dir / "vocab.json", ec) && fs::is_regular_file(dir / "merges.txt", ec)) ||
           fs::is_regular_file(dir / "bpe_simple_vocab_16e6.txt.gz", ec);
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// huggingface_hub's cache folder (constants.py): HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub >
// ${XDG_CACHE_HOME:-~/.cache}/huggingface/hub. The app's hub client (appcore) resolves the same folder.
fs::path hub_cache_dir() {
    if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
    if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
    if (auto v = env("HF_HOME"); !v.empty()) return fs::path(v) / "hub";
    fs::path cache = env("XDG_CACHE_HOME");
    if (cache.empty()) {
        const std::string home = env("HOME");
        if (home.empty()) return {};
        cache = fs::path(home) / ".cache";
    }
    return cache / "huggingface" / "hub";
}

// The snapshot of `repo` in the hub cache holding a vocabulary: refs/main first, then any snapshot.
std::optional<fs::path> hub_snapshot_with_vocab(const fs::path& cache, const std::string& repo) {
    std::string folder = "models--" + repo;
    for (std::size_t p = folder.find('/'); p != std::string::npos; p = folder.find('/')) folder.replace(p, 1, "--");
    const fs::path root = cache / folder;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return std::nullopt;
    std::ifstream ref(root / "refs" / "main");
    std::string commit;
    if (ref && std::getline(ref, commit) && !commit.empty() && has_vocab(root / "snapshots" / commit)) {
        return root / "snapshots" / commit;
    }
    std::vector<fs::path> snapshots;
    for (const auto& e : fs::directory_iterator(root / "snapshots", ec)) {
        if (has_vocab(e.path())) snapshots.push_back(e.path());
    }
    if (snapshots.empty()) return std::nullopt;
    std::sort(snapshots.begin(), snapshots.end());
    return snapshots.front();
}

}  // namespace

Expected<std::string> find_clip_vocab(const std::string& checkpoint_path, const std::string& explicit_path) {
    std::error_code ec;
    if (!explicit_path.empty()) {
        const fs::path p(explicit_path);
        if (!fs::exists(p, ec)) {
            return make_error(ErrorCode::ModelNotFound, "The CLIP vocabulary " + explicit_path + " does not exist.");
        }
        if (fs::is_regular_file(p, ec) || has_vocab(p)) return explicit_path;
        return make_error(ErrorCode::ModelNotFound,
                          "The folder " + explicit_path +
                              " holds no CLIP vocabulary: it needs vocab.json + merges.txt (from " + kOpenCLIPVocabRepo +
                              ") or open_clip's bpe_simple_vocab_16e6.txt.gz.");
    }
    const fs::path ckpt(checkpoint_path);
    const fs::path dir = fs::is_directory(ckpt, ec) ? ckpt : ckpt.parent_path();
    for (const fs::path& candidate : {dir, dir / "tokenizer", dir / "open_clip"}) {
        if (has_vocab(candidate)) return candidate.string();
    }
    const fs::path cache = hub_cache_dir();
    if (!cache.empty()) {
        if (auto snapshot = hub_snapshot_with_vocab(cache, kOpenCLIPVocabRepo)) return snapshot->string();
    }
    return make_error(ErrorCode::ModelNotFound,
                      std::string("The CLIP tokenizer vocabulary is missing: VideoCrafter/DynamiCrafter checkpoints do "
                                  "not include it. Download vocab.json and merges.txt of ") +
                          kOpenCLIPVocabRepo + " (the Model Manager's \"OpenCLIP ViT-H-14 tokenizer\", or `kinora-cli "
                                               "models pull " +
                          kOpenCLIPVocabRepo + "`), put them next to the checkpoint (" + dir.string() +
                          "), or pass their folder with --vocab. Looked in " + dir.string() +
                          (cache.empty() ? std::string() : " and the Hugging Face cache " + cache.string()) + ".");
}

// ---------------------------------------------------------------------------------------------------------------------
// Loading

int64_t LVDMPipeline::vae_scale_factor() const { return vae->config.downsample_factor(); }

int64_t LVDMPipeline::size_multiple_px() const { return vae_scale_factor() * unet->config.spatial_divisor(); }

int LVDMPipeline::default_height_px() const {
    return static_cast<int>(config.image_size.at(0) * vae_scale_factor());
}

int LVDMPipeline::default_width_px() const {
    return static_cast<int>(config.image_size.at(1) * vae_scale_factor());
}

std::optional<int64_t> LVDMPipeline::required_num_frames() const {
    if (image_proj && image_proj->config.video_length) return *image_proj->config.video_length;
    return std::nullopt;
}

namespace {

Unexpected load_error(ErrorCode code, const std::string& message) { return make_error(code, message); }

// A folder is accepted when it holds the checkpoint (a Hugging Face snapshot folder, a model folder).
Expected<std::string> checkpoint_file(const std::string& path) {
    std::error_code ec;
    const fs::path p(path);
    if (!fs::exists(p, ec)) {
        return load_error(ErrorCode::ModelNotFound, "The checkpoint " + path + " does not exist.");
    }
    if (!fs::is_directory(p, ec)) return path;
    for (const char* name : {"model.ckpt", "model.safetensors"}) {
        if (fs::is_regular_file(p / name, ec)) return (p / name).string();
    }
    if (fs::exists(p / "model_index.json", ec)) {
        return load_error(ErrorCode::UnsupportedModel,
                          path + " is a diffusers pipeline folder, not a VideoCrafter/DynamiCrafter checkpoint (those "
                                 "are one model.ckpt file).");
    }
    return load_error(ErrorCode::ModelNotFound,
                      path + " is a folder without model.ckpt; pass the VideoCrafter/DynamiCrafter checkpoint file.");
}

// DynamiCrafter 512 and 1024 have identical tensors: the file's path (its Hugging Face repo folder
// models--Doubiiu--DynamiCrafter_1024, or the user's file name) decides, 512 otherwise.
std::string choose_preset(const LVDMDetection& d, const std::string& path) {
    if (d.presets.size() > 1) {
        const std::string p = lower(path);
        for (const auto& id : d.presets) {
            const std::string size = id.substr(id.rfind('-') + 1);  // "512", "1024"
            if (p.find(size) != std::string::npos && id != d.presets.front()) {
                LOG_INFO("%s: the path names %s; using the preset %s (pass --config to choose)", path.c_str(),
                         size.c_str(), id.c_str());
                return id;
            }
        }
        LOG_WARN("%s: its tensors fit the presets %s and %s; using %s (pass --config to choose)", path.c_str(),
                 d.presets[0].c_str(), d.presets[1].c_str(), d.presets[0].c_str());
    }
    return d.presets.front();
}

// The LVDM root buffers register_schedule() writes (the original loader restores them with strict=True).
const std::set<std::string>& schedule_buffer_names() {
    static const std::set<std::string> names = {
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
        "scale_arr", "scale_factor"};
    return names;
}

// open_clip's text parts that FrozenOpenCLIPImageEmbedderV2 keeps after `del model.transformer` (unused).
const std::set<std::string>& embedder_leftovers() {
    static const std::set<std::string> names = {
        "embedder.model.token_embedding.weight", "embedder.model.positional_embedding", "embedder.model.ln_final.weight",
        "embedder.model.ln_final.bias", "embedder.model.text_projection", "embedder.model.logit_scale"};
    return names;
}

// Every key must belong to a component Kinora builds, or be a schedule buffer or an unused open_clip leftover:
// the original loads the whole state dict with strict=True, so a stray key means a different model.
Expected<void> check_no_stray_keys(const io::TensorMap& w, bool image_branch, const std::string& path) {
    std::vector<std::string> prefixes = {"model.diffusion_model.", "first_stage_model.", "cond_stage_model.model."};
    if (image_branch) {
        prefixes.push_back("embedder.model.visual.");
        prefixes.push_back("image_proj_model.");
    }
    std::vector<std::string> stray;
    for (const auto& item : w) {
        const std::string& k = item.first;
        bool known = schedule_buffer_names().count(k) != 0 || (image_branch && embedder_leftovers().count(k) != 0);
        for (const auto& p : prefixes) known = known || starts_with(k, p);
        if (!known) stray.push_back(k);
    }
    if (stray.empty()) return {};
    std::string list;
    for (std::size_t i = 0; i < stray.size() && i < 5; ++i) list += (i ? ", " : "") + stray[i];
    if (stray.size() > 5) list += ", ... (" + std::to_string(stray.size()) + " in all)";
    return load_error(ErrorCode::ModelLoadFailed,
                      path + " has tensors no part of this " + std::string(image_branch ? "image" : "text") +
                          "-to-video model uses: " + list +
                          ". It is a different model or a different variant; pass the config that came with it "
                          "(--config).");
}

// The checkpoint's schedule buffers are what the original samples with (strict load overwrites the computed ones);
// they must equal the config's, or the config describes another model (e.g. zero-SNR vs plain betas).
Expected<void> check_schedule_buffers(const io::TensorMap& w, const LVDMPipeline& pipe, const std::string& path) {
    auto compare = [&](const char* name, const std::vector<double>& expected) -> Expected<void> {
        auto it = w.find(name);
        if (it == w.end()) return {};
        const at::Tensor b = it->second.to(at::kDouble).flatten();
        if (b.numel() != static_cast<int64_t>(expected.size())) {
            return load_error(ErrorCode::ModelLoadFailed,
                              path + ": its " + name + " has " + std::to_string(b.numel()) + " entries but " +
                                  pipe.config_source + " gives " + std::to_string(expected.size()) +
                                  ". Use the config that came with the checkpoint (--config).");
        }
        const at::Tensor e = at::tensor(at::ArrayRef<double>(expected), at::kDouble);
        const double diff = (b - e).abs().max().item<double>();
        if (!(diff <= 1e-6)) {
            return load_error(ErrorCode::ModelLoadFailed,
                              path + ": its " + name + " differs from the one " + pipe.config_source +
                                  " describes (max difference " + std::to_string(diff) +
                                  "): a different noise schedule (timesteps, betas, zero-SNR or latent rescale). Use "
                                  "the config that came with the checkpoint (--config).");
        }
        return {};
    };
    if (auto r = compare("alphas_cumprod", pipe.alphas_cumprod); !r) return r;
    if (w.count("scale_arr") != 0 && pipe.scale_arr.empty()) {
        return load_error(ErrorCode::ModelLoadFailed,
                          path + " has a latent rescale array (scale_arr: VideoCrafter's use_scale or DynamiCrafter's "
                                 "use_dynamic_rescale) but " +
                              pipe.config_source + " has none. Use the config that came with the checkpoint.");
    }
    if (auto r = compare("scale_arr", pipe.scale_arr); !r) return r;
    if (auto it = w.find("scale_factor"); it != w.end() && it->second.numel() == 1) {
        const double v = it->second.to(at::kDouble).item<double>();
        if (std::abs(v - pipe.config.scale_factor) > 1e-6) {
            return load_error(ErrorCode::ModelLoadFailed, path + ": its scale_factor " + std::to_string(v) +
                                                              " differs from the config's " +
                                                              std::to_string(pipe.config.scale_factor) + ".");
        }
    }
    return {};
}

// The open_clip tower sizes: ViT-H-14 by name, or the golden configs' own section.
nlohmann::json text_tower_json(const OpenCLIPTowers& t) {
    return {{"vocab_size", t.vocab_size}, {"context_length", t.context_length}, {"width", t.text_width},
            {"heads", t.text_heads}, {"layers", t.text_layers}};
}

nlohmann::json vision_tower_json(const OpenCLIPTowers& t) {
    return {{"width", t.vision_width}, {"heads", t.vision_heads}, {"layers", t.vision_layers},
            {"patch_size", t.vision_patch_size}, {"image_size", t.vision_image_size}};
}

}  // namespace

Expected<std::shared_ptr<LVDMPipeline>> load_lvdm_pipeline(const std::string& checkpoint_path,
                                                           const LVDMLoadOptions& options) {
    auto file = checkpoint_file(checkpoint_path);
    if (!file) return Unexpected{file.error()};
    const std::string path = *file;
    auto pipe = std::make_shared<LVDMPipeline>();
    pipe->checkpoint_path = path;
    pipe->options = options;
    int done = 0, total = 5;
    auto step = [&] {
        if (options.on_component) options.on_component(done++, total);
    };
    step();

    // 1. The weights and what they are.
    auto weights = io::load_checkpoint(path);
    if (!weights) return Unexpected{weights.error()};
    const io::TensorMap& w = *weights;
    auto detection = detect_lvdm_model(w);
    if (!detection) {
        Error e = detection.error();
        e.message = path + " is " + e.message;
        return Unexpected{e};
    }
    pipe->detection = *detection;

    // 2. The config: the user's, else the built-in preset the tensors point to.
    if (options.config) {
        pipe->config = *options.config;
        pipe->config_source = pipe->config.source.empty() ? std::string("the given config") : pipe->config.source;
    } else if (!options.config_path.empty()) {
        auto cfg = read_lvdm_config(options.config_path);
        if (!cfg) return Unexpected{cfg.error()};
        pipe->config = std::move(cfg).value();
        pipe->config_source = options.config_path;
    } else {
        const std::string id = choose_preset(pipe->detection, path);
        auto cfg = lvdm_preset(id);
        if (!cfg) return Unexpected{cfg.error()};
        pipe->config = std::move(cfg).value();
        pipe->config_source = "the built-in preset " + id;
        pipe->config.source = pipe->config_source;
    }
    if (auto ok = check_lvdm_config_matches(pipe->config, pipe->detection); !ok) return Unexpected{ok.error()};
    if (pipe->config.family != pipe->detection.family) {
        return load_error(ErrorCode::ModelLoadFailed,
                          pipe->config_source + " is a " + to_string(pipe->config.family) + " config but " + path +
                              " is a " + to_string(pipe->detection.family) +
                              " checkpoint. Use the config that came with the checkpoint.");
    }
    if (pipe->config.image_size.size() != 2) {
        return load_error(ErrorCode::ModelLoadFailed, pipe->config_source + ": image_size must be [height, width].");
    }
    const bool image_branch = pipe->config.has_image_branch();
    if (image_branch) total += 2;
    if (auto ok = check_no_stray_keys(w, image_branch, path); !ok) return Unexpected{ok.error()};
    pipe->alphas_cumprod = pipe->config.diffusion.alphas_cumprod();
    pipe->scale_arr = pipe->config.diffusion.scale_arr();
    if (auto ok = check_schedule_buffers(w, *pipe, path); !ok) return Unexpected{ok.error()};

    // 3. The tokenizer (not in the checkpoint).
    auto vocab = find_clip_vocab(path, options.tokenizer_path);
    if (!vocab) return Unexpected{vocab.error()};
    auto tokenizer = tokenizers::CLIPTokenizer::load(*vocab);
    if (!tokenizer) return Unexpected{tokenizer.error()};
    pipe->tokenizer.emplace(std::move(tokenizer).value());
    pipe->tokenizer_source = *vocab;
    if (pipe->tokenizer->vocab_size() > pipe->config.open_clip.vocab_size) {
        return load_error(ErrorCode::ModelLoadFailed, "The CLIP vocabulary " + *vocab + " has " +
                                                          std::to_string(pipe->tokenizer->vocab_size()) +
                                                          " tokens, more than the text encoder's " +
                                                          std::to_string(pipe->config.open_clip.vocab_size) + ".");
    }
    step();

    // 4. The components, each strictly from its prefix of the one state dict.
    const models::OpenCLIPLoadOptions clip_options{options.dtype, options.device};
    {
        const bool golden = pipe->config.open_clip.arch != "ViT-H-14";
        const nlohmann::json params = {{"layer", pipe->config.cond_stage_layer}};
        const nlohmann::json tower = text_tower_json(pipe->config.open_clip);
        auto cfg = models::OpenCLIPTextConfig::from_embedder_params(params, golden ? &tower : nullptr);
        if (!cfg) return Unexpected{cfg.error()};
        auto text = models::load_open_clip_text_encoder(w, *cfg, clip_options);
        if (!text) return Unexpected{text.error()};
        pipe->text_encoder = std::move(text).value();
    }
    step();
    {
        auto cfg = models::LVDMUNet3DConfig::from_json(pipe->config.unet_params);
        if (!cfg) return Unexpected{cfg.error()};
        models::LVDMUNet3DLoadOptions o;
        o.dtype = options.dtype;
        o.device = options.device;
        o.source = path;
        auto unet = models::load_lvdm_unet_3d(*cfg, w, o);
        if (!unet) return Unexpected{unet.error()};
        pipe->unet = std::move(unet).value();
        if (options.channels_last.value_or(models::default_channels_last(options.device))) {
            pipe->unet->set_channels_last(true);
        }
    }
    step();
    {
        auto cfg = models::AutoencoderKLConfig::from_json(pipe->config.first_stage_params);
        if (!cfg) return Unexpected{cfg.error()};
        auto vae = models::load_autoencoder_kl(*cfg, w, options.vae_dtype, options.device, "first_stage_model.", path);
        if (!vae) return Unexpected{vae.error()};
        pipe->vae = std::move(vae).value();
        if (options.channels_last.value_or(models::default_channels_last(options.device))) {
            pipe->vae->set_channels_last(true);
        }
        if (pipe->vae->config.embed_dim != pipe->config.channels) {
            return load_error(ErrorCode::ModelLoadFailed,
                              pipe->config_source + ": the autoencoder's " + std::to_string(pipe->vae->config.embed_dim) +
                                  " latent channels do not match the model's channels " +
                                  std::to_string(pipe->config.channels) + ".");
        }
    }
    step();
    if (image_branch) {
        const bool golden = pipe->config.open_clip.arch != "ViT-H-14";
        const nlohmann::json tower = vision_tower_json(pipe->config.open_clip);
        auto vcfg = models::CLIPVisionConfig::from_embedder_params(pipe->config.img_cond_params,
                                                                  golden ? &tower : nullptr);
        if (!vcfg) return Unexpected{vcfg.error()};
        auto vision = models::load_clip_vision_encoder(w, *vcfg, clip_options);
        if (!vision) return Unexpected{vision.error()};
        pipe->image_encoder = std::move(vision).value();
        step();
        auto rcfg = models::ImageResamplerConfig::from_json(pipe->config.image_proj_params);
        if (!rcfg) return Unexpected{rcfg.error()};
        auto resampler = models::load_image_resampler(w, *rcfg, {options.dtype, options.device});
        if (!resampler) return Unexpected{resampler.error()};
        pipe->image_proj = std::move(resampler).value();
        if (pipe->image_proj->config.embedding_dim != pipe->image_encoder->config.width) {
            return load_error(ErrorCode::ModelLoadFailed, pipe->config_source +
                                                              ": the Resampler reads " +
                                                              std::to_string(pipe->image_proj->config.embedding_dim) +
                                                              "-wide image tokens but the CLIP vision tower makes " +
                                                              std::to_string(pipe->image_encoder->config.width) + ".");
        }
        step();
    }
    if (options.on_component) options.on_component(total, total);
    LOG_INFO("loaded %s (%s, config: %s, vocabulary: %s)", path.c_str(), pipe->detection.summary.c_str(),
             pipe->config_source.c_str(), pipe->tokenizer_source.c_str());
    return pipe;
}

// ---------------------------------------------------------------------------------------------------------------------
// Options

namespace {

struct FamilyDefaults {
    double guidance_scale;
    double fps;  // playback, and the fps conditioning of VideoCrafter models that have it
};

// The original scripts' values (docs/reference/videocrafter.md §3.3, §5.1): run_text2video.sh (VideoCrafter2 fps 28,
// CFG 12), predict.py (VideoCrafter1-1024 fps 28), run_image2video.sh (VideoCrafter-i2v fps 8), DynamiCrafter run.sh
// (CFG 7.5; its videos are saved at 8 fps). VideoCrafter1-512 has no fps input; inference.py saves at 10 fps.
FamilyDefaults family_defaults(const LVDMPipeline& pipe) {
    switch (pipe.config.family) {
        case LVDMFamily::DynamiCrafter: return {7.5, 8.0};
        case LVDMFamily::VideoCrafter1I2V: return {12.0, 8.0};
        case LVDMFamily::VideoCrafter1T2V:
            return {12.0, pipe.config.frame_rate_input == LVDMFrameRateInput::None ? 10.0 : 28.0};
        case LVDMFamily::VideoCrafter2:
        case LVDMFamily::None: break;
    }
    return {12.0, 28.0};
}

Unexpected invalid(const std::string& message) { return make_error(ErrorCode::InvalidRequest, message); }

Expected<LVDMGenerateOptions> resolve_common(const LVDMPipeline& pipe, const TextToVideoRequest& r,
                                             bool image_request, double guidance_rescale, int frame_stride) {
    const std::string model = pipe.model_type();
    if (image_request && !pipe.image_to_video()) {
        return make_error(ErrorCode::UnsupportedModel,
                          pipe.checkpoint_path + " is a " + model +
                              " text-to-video model: it cannot animate an image. Use text-to-video (kinora-cli t2v), "
                              "or an image-to-video model (DynamiCrafter, VideoCrafter-i2v).");
    }
    if (!image_request && pipe.image_to_video()) {
        return make_error(ErrorCode::UnsupportedModel,
                          pipe.checkpoint_path + " is a " + model +
                              " image-to-video model: it needs a picture to animate. Use image-to-video "
                              "(kinora-cli i2v --image ...), or a text-to-video model (VideoCrafter2).");
    }
    if (r.sampler != SamplerKind::Default && r.sampler != SamplerKind::DDIM) {
        return invalid(model + " samples with DDIM; the sampler '" + std::string(to_string(r.sampler)) +
                       "' does not apply.");
    }
    const bool dc = pipe.config.family == LVDMFamily::DynamiCrafter;
    const FamilyDefaults defaults = family_defaults(pipe);
    LVDMGenerateOptions o;
    o.prompt = r.prompt;
    o.negative_prompt = r.negative_prompt;
    if (!o.negative_prompt.empty() && pipe.config.uncond_type == LVDMUncondType::ZeroEmbed) {
        return invalid(model + " guides against a zero embedding (uncond_type zero_embed), not a negative prompt.");
    }
    o.seed = r.seed;

    // DDIM: zero-terminal-SNR models start at t = T − 1 (uniform_trailing, DynamiCrafter 512/1024 run.sh), the others
    // on VideoCrafter's uniform grid; guidance rescale 0.7 goes with the former (run.sh), none with the latter.
    const bool zero_snr = pipe.config.diffusion.rescale_betas_zero_snr;
    o.spacing = zero_snr ? schedulers::DDIMSpacing::UniformTrailing : schedulers::DDIMSpacing::Uniform;
    o.num_inference_steps = r.num_inference_steps > 0 ? r.num_inference_steps : 50;
    auto ts = schedulers::ddim_timesteps(o.spacing, o.num_inference_steps, pipe.config.diffusion.num_timesteps);
    if (!ts) return Unexpected{ts.error()};
    o.timesteps = std::move(ts).value();
    o.guidance_scale = std::isnan(r.guidance_scale) ? defaults.guidance_scale : r.guidance_scale;
    o.guidance_rescale = std::isnan(guidance_rescale) ? (zero_snr ? 0.7 : 0.0) : guidance_rescale;
    if (!(o.guidance_rescale >= 0.0 && o.guidance_rescale <= 1.0)) {
        return invalid("Guidance rescale must be between 0 and 1; got " + std::to_string(o.guidance_rescale) + ".");
    }
    o.eta = std::isnan(r.eta) ? 1.0 : r.eta;

    // Size: multiples of the autoencoder's factor times the UNet's downsampling.
    const int multiple = static_cast<int>(pipe.size_multiple_px());
    o.height_px = r.height_px > 0 ? r.height_px : pipe.default_height_px();
    o.width_px = r.width_px > 0 ? r.width_px : pipe.default_width_px();
    if (o.height_px % multiple != 0 || o.width_px % multiple != 0) {
        return invalid("Width and height must be multiples of " + std::to_string(multiple) + " for " + model +
                       " (its autoencoder and UNet halve the size " + std::to_string(multiple / 2) +
                       "-fold); got " + std::to_string(o.width_px) + "x" + std::to_string(o.height_px) + ". " +
                       model + " was trained at " + std::to_string(pipe.default_width_px()) + "x" +
                       std::to_string(pipe.default_height_px()) + ".");
    }

    // Frames: the UNet's temporal layers take any count (VideoCrafter1's relative positions clamp at
    // temporal_length), but DynamiCrafter's Resampler makes image tokens for exactly video_length frames.
    o.num_frames = r.num_frames > 0 ? r.num_frames : static_cast<int>(pipe.config.temporal_length);
    if (auto need = pipe.required_num_frames(); need && o.num_frames != *need) {
        return invalid(model + " makes exactly " + std::to_string(*need) + " frames (its image conditioning has one "
                       "set of tokens per frame, for " + std::to_string(*need) + " frames); got " +
                       std::to_string(o.num_frames) + ". Leave the frame count at " + std::to_string(*need) + ".");
    }
    if (o.num_frames != pipe.config.temporal_length) {
        LOG_WARN("%s was trained on %lld frames; %d frames may come out worse", model.c_str(),
                 static_cast<long long>(pipe.config.temporal_length), o.num_frames);
    }

    // Frame rate: VideoCrafter's UNet takes the fps (an integer); DynamiCrafter takes the frame stride "fs".
    o.fps = std::isnan(r.fps) ? defaults.fps : r.fps;
    const LVDMFrameRateInput rate = pipe.config.frame_rate_input;
    if (dc) {
        o.frame_stride = frame_stride > 0 ? frame_stride : pipe.config.default_fs;
        if (o.frame_stride <= 0) o.frame_stride = pipe.unet->config.default_fps;
    } else {
        if (frame_stride > 0) {
            return invalid("Frame stride is a DynamiCrafter setting; " + model +
                           " is conditioned on the frame rate instead (fps).");
        }
        if (rate != LVDMFrameRateInput::None) o.fps_condition = std::llround(o.fps);
    }
    return o;
}

// The smallest picture worth animating: 16 px a side, and no more than an 8x enlargement to the generation size.
Expected<void> check_image_size(const Image& image, int width, int height, const std::string& model) {
    if (image.empty() || !image.is_consistent()) {
        return invalid("The input image is empty or its pixel buffer does not match its size.");
    }
    const double scale = std::max(static_cast<double>(width) / image.width, static_cast<double>(height) / image.height);
    constexpr int kMinSidePx = 16;
    constexpr double kMaxEnlargement = 8.0;
    if (image.width < kMinSidePx || image.height < kMinSidePx || scale > kMaxEnlargement) {
        const int min_w = std::max(kMinSidePx, static_cast<int>(std::ceil(width / kMaxEnlargement)));
        const int min_h = std::max(kMinSidePx, static_cast<int>(std::ceil(height / kMaxEnlargement)));
        return invalid("The input image is too small (" + std::to_string(image.width) + "x" +
                       std::to_string(image.height) + " pixels): " + model + " works at " + std::to_string(width) +
                       "x" + std::to_string(height) + ". Use a picture of at least " + std::to_string(min_w) + "x" +
                       std::to_string(min_h) + " pixels.");
    }
    return {};
}

}  // namespace

at::Tensor image_to_signed_tensor(const Image& image) {
    const Image rgb = flatten_alpha(image);
    at::Tensor t = at::from_blob(const_cast<std::uint8_t*>(rgb.pixels.data()), {rgb.height, rgb.width, 3}, at::kByte)
                       .to(at::kFloat);                 // [H, W, 3]
    t = t.permute({2, 0, 1}).unsqueeze(0).contiguous();  // [1, 3, H, W]
    return (t / 255.0 - 0.5) * 2.0;
}

Expected<LVDMGenerateOptions> resolve_lvdm_options(const LVDMPipeline& pipe, const TextToVideoRequest& request) {
    return resolve_common(pipe, request, false, kUseModelDefault, 0);
}

Expected<LVDMGenerateOptions> resolve_lvdm_options(const LVDMPipeline& pipe, const ImageToVideoRequest& request) {
    auto o = resolve_common(pipe, request, true, request.guidance_rescale, request.frame_stride);
    if (!o) return o;
    if (auto ok = check_image_size(request.image, o->width_px, o->height_px, pipe.model_type()); !ok) {
        return Unexpected{ok.error()};
    }
    if (pipe.config.family == LVDMFamily::DynamiCrafter) {
        // load_data_prompts: Resize(min side) + CenterCrop on the PIL image; the same picture feeds CLIP and the VAE.
        auto prepared = prepare_conditioning_image(request.image, o->width_px, o->height_px);
        if (!prepared) return Unexpected{prepared.error()};
        o->image = image_to_signed_tensor(*prepared);  // [1, 3, H, W]
        o->clip_image = o->image;
    } else {
        // VideoCrafter's load_image_batch: the whole picture, cv2.resize (bilinear) to the generation size in float.
        at::Tensor full = image_to_signed_tensor(request.image);  // [1, 3, h, w]
        o->image = at::upsample_bilinear2d(full, {o->height_px, o->width_px}, /*align_corners=*/false);
        o->clip_image = o->image;
    }
    return o;
}

// ---------------------------------------------------------------------------------------------------------------------
// Generation

namespace {

// open_clip.tokenize + FrozenOpenCLIPEmbedder: [1, 77] ids → [1, 77, D]. A prompt longer than the 75 tokens the model
// reads is an error (open_clip would cut it silently).
at::Tensor encode_text(LVDMPipeline& pipe, const std::string& text, at::Tensor* tokens_out) {
    const auto& tok = *pipe.tokenizer;
    const int64_t context = pipe.text_encoder->config.context_length;
    const auto ids = core::unwrap(tok.encode(text));
    if (static_cast<int64_t>(ids.size()) > context - 2) {
        throw EngineError(ErrorCode::InvalidRequest,
                          "The prompt is too long: this model reads " + std::to_string(context - 2) +
                              " tokens of prompt and it has " + std::to_string(ids.size()) +
                              ". Shorten it (the rest would be ignored).");
    }
    const auto batch = core::unwrap(tok.tokenize({text}, context));
    at::Tensor tokens = at::tensor(batch.input_ids, at::kLong).view({1, context});  // [1, 77]
    if (tokens_out) *tokens_out = tokens;
    return pipe.text_encoder->forward(tokens.to(pipe.options.device));  // [1, 77, D]
}

at::Tensor image_tokens(LVDMPipeline& pipe, const at::Tensor& image) {
    at::Tensor clip = pipe.image_encoder->encode(image.to(pipe.options.device));  // [1, 257, W]
    return pipe.image_proj->forward(clip);                                       // [1, Q, D]
}

at::Tensor cpu_f32(const at::Tensor& t) { return t.detach().to(at::kCPU, at::kFloat).clone(); }

}  // namespace

at::Tensor lvdm_unet_step(LVDMPipeline& pipe, const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                          const models::LVDMUNet3DConditioning& conditioning) {
    const bool graphs = pipe.options.cuda_graphs && x.is_cuda() && runtime::cuda_graphs_built();
    if (!graphs) {
        return pipe.unet->forward(x, timesteps, context, conditioning);
    }
    if (!pipe.unet_graphs || pipe.unet_graphs_of != pipe.unet.get()) {
        models::LVDMUNet3D model = pipe.unet;  // shares the module
        // Inputs: x, timesteps, context, then the frame stride (DynamiCrafter) or frame rate (VideoCrafter) if given.
        const bool dc = model->config.variant == models::LVDMVariant::DynamiCrafter;
        pipe.unet_graphs = std::make_shared<runtime::CudaGraphRunner>(
            "LVDMUNet3D", [model, dc](const std::vector<at::Tensor>& in) mutable {
                models::LVDMUNet3DConditioning c;
                if (in.size() > 3) (dc ? c.fs : c.fps) = in[3];
                return model->forward(in[0], in[1], in[2], c);
            });
        pipe.unet_graphs_of = pipe.unet.get();
    }
    const bool dc = pipe.unet->config.variant == models::LVDMVariant::DynamiCrafter;
    const auto& given = dc ? conditioning.fs : conditioning.fps;
    const auto& other = dc ? conditioning.fps : conditioning.fs;
    if (other.has_value() || (given && !given->is_cuda())) {
        return pipe.unet->forward(x, timesteps, context, conditioning);  // the UNet's own checks and messages
    }
    std::vector<at::Tensor> inputs = {x, timesteps, context};
    if (given) inputs.push_back(*given);
    return pipe.unet_graphs->run(inputs);
}

at::Tensor generate_lvdm(LVDMPipeline& pipe, const LVDMGenerateOptions& o, const schedulers::StepHooks& hooks,
                         LVDMTrace* trace, const std::function<void(JobStage)>& on_stage,
                         const models::FrameProgressFn& on_frames) {
    torch::NoGradGuard no_grad;
    const c10::Device device = pipe.options.device;
    const bool cfg = o.guidance_scale != 1.0;  // batch_ddim_sampling / image_guided_synthesis: uc only when != 1
    const bool image_branch = pipe.image_to_video();
    const bool hybrid = pipe.hybrid();
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    if (image_branch) {
        core::require(o.clip_image.defined() && (!hybrid || o.image.defined()), ErrorCode::InvalidRequest,
                      "image-to-video needs an input image");
    }
    int64_t stream = 0;
    auto next_generator = [&] { return at::detail::createCPUGenerator(o.seed + static_cast<std::uint64_t>(stream++)); };

    // 1. Conditioning: text (and the empty/negative text), image tokens, the first-frame latent.
    if (on_stage) on_stage(JobStage::EncodingPrompt);
    hooks.cancel_point();
    at::Tensor tokens;
    at::Tensor cond = encode_text(pipe, o.prompt, &tokens);  // [1, 77, D]
    at::Tensor uncond;
    if (cfg) {
        hooks.cancel_point();
        uncond = pipe.config.uncond_type == LVDMUncondType::ZeroEmbed ? at::zeros_like(cond)
                                                                      : encode_text(pipe, o.negative_prompt, nullptr);
    }
    at::Tensor img_emb, uc_img_emb, img_cat_cond;
    at::Tensor context_cond = cond, context_uncond = uncond;
    if (image_branch) {
        hooks.cancel_point();
        img_emb = image_tokens(pipe, o.clip_image);  // [1, Q, D]
        context_cond = at::cat({cond, img_emb}, 1);  // [1, 77 + Q, D]
        if (cfg) {
            // The unconditional image is all zeros in [-1, 1] (mid grey after CLIP's normalisation); its resize to the
            // tower's size is zeros whatever the input size, so VideoCrafter's 224² and DynamiCrafter's zeros_like agree.
            const int64_t s = pipe.image_encoder->config.image_size;
            uc_img_emb = image_tokens(pipe, at::zeros({1, 3, s, s}, f32));
            context_uncond = at::cat({uncond, uc_img_emb}, 1);
        }
    }
    const int64_t scale = pipe.vae_scale_factor();
    const int64_t h = o.height_px / scale, w = o.width_px / scale, frames = o.num_frames;
    const int64_t channels = pipe.config.channels;
    if (hybrid) {
        hooks.cancel_point();
        // get_latent_z → encode_first_stage → DiagonalGaussian.sample() on the image repeated over the frames; only
        // frame 0 is kept (img_cat_cond = z[:, :, :1]), so only it is encoded. Its noise is the first [1, C, h, w]
        // draw with perframe_ae, else the first slice of one [F, C, h, w] draw.
        at::Generator gen = next_generator();
        const models::DiagonalGaussian posterior = pipe.vae->encode(o.image.to(pipe.vae->dtype()).to(device));
        at::Tensor noise = pipe.config.perframe_ae ? at::randn({1, channels, h, w}, gen, f32)
                                                   : at::randn({frames, channels, h, w}, gen, f32).slice(0, 0, 1);
        at::Tensor z = posterior.sample(noise).to(at::kFloat) * pipe.config.scale_factor;  // [1, C, h, w]
        img_cat_cond = z.unsqueeze(2).repeat({1, 1, frames, 1, 1});                      // [1, C, F, h, w]
    }
    if (trace) {
        trace->tokens = tokens;
        trace->cond = cpu_f32(cond);
        trace->uncond = uncond.defined() ? cpu_f32(uncond) : at::Tensor();
        trace->img_emb = img_emb.defined() ? cpu_f32(img_emb) : at::Tensor();
        trace->uc_img_emb = uc_img_emb.defined() ? cpu_f32(uc_img_emb) : at::Tensor();
        trace->img_cat_cond = img_cat_cond.defined() ? cpu_f32(img_cat_cond) : at::Tensor();
    }

    // 2. Initial noise, then the DDIM step noise, each from its own generator.
    at::Generator x_gen = next_generator();
    at::Tensor x_T = at::randn({1, channels, frames, h, w}, x_gen, f32).to(device);  // [1, C, F, h, w]
    at::Generator noise_gen = next_generator();
    schedulers::NoiseFn noise = [&noise_gen, device](const at::Tensor& like) {
        return at::randn(like.sizes(), noise_gen, at::TensorOptions().dtype(at::kFloat)).to(device);
    };
    if (trace) {
        trace->x_T = cpu_f32(x_T);
        trace->x_inter = {trace->x_T};
        trace->pred_x0 = {trace->x_T};
    }

    // 3. Denoise.
    const auto& diffusion = pipe.config.diffusion;
    const schedulers::DDIMSchedule schedule = core::unwrap(schedulers::make_ddim_schedule(
        pipe.alphas_cumprod, o.timesteps, o.eta, diffusion.parameterization, diffusion.rescale, pipe.scale_arr));
    // With CFG the unconditional and conditional branches run as one batch of two ([uncond, cond]): one UNet forward
    // a step (lvdm calls it twice at batch 1; the samples are independent, so only rounding-level differences from
    // other GEMM tilings remain).
    const int64_t batch = cfg ? 2 : 1;
    const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
    models::LVDMUNet3DConditioning unet_cond;
    if (pipe.config.family == LVDMFamily::DynamiCrafter) {
        unet_cond.fs = at::full({batch}, o.frame_stride, long_options);
    } else if (pipe.config.frame_rate_input != LVDMFrameRateInput::None) {
        unet_cond.fps = at::full({batch}, o.fps_condition, long_options);
    }
    const at::Tensor context = cfg ? at::cat({context_uncond.to(device), context_cond.to(device)}, 0)
                                   : context_cond.to(device);  // [B, L, D]
    const at::Tensor concat = hybrid ? img_cat_cond.to(device) : at::Tensor();
    schedulers::DenoiseFn denoise = [&](const at::Tensor& x, const schedulers::DenoiseInput& in) {
        at::Tensor x_in = hybrid ? at::cat({x, concat}, 1) : x;  // [1, C (+C), F, h, w]
        if (cfg) x_in = at::cat({x_in, x_in}, 0);
        const at::Tensor t = at::full({batch}, static_cast<int64_t>(in.timestep), long_options);
        at::Tensor out = lvdm_unet_step(pipe, x_in, t, context, unet_cond).to(at::kFloat);
        if (!cfg) return out;
        const auto halves = out.chunk(2, 0);  // uncond, cond
        return schedulers::classifier_free_guidance(halves[0], halves[1], o.guidance_scale, o.guidance_rescale);
    };
    schedulers::StepHooks run_hooks = hooks;
    if (trace) {
        run_hooks.maybe_preview = [&hooks, trace](int step, int n, const at::Tensor& x, const at::Tensor& denoised) {
            trace->x_inter.push_back(cpu_f32(x));
            trace->pred_x0.push_back(cpu_f32(denoised));
            if (hooks.maybe_preview) hooks.maybe_preview(step, n, x, denoised);
        };
    }
    if (on_stage) on_stage(JobStage::Denoising);
    at::Tensor samples = schedulers::sample_ddim(denoise, x_T, schedule, noise, run_hooks);  // [1, C, F, h, w]
    if (trace) trace->samples = cpu_f32(samples);

    // 4. Decode frame by frame (decode_first_stage_2DAE / perframe_ae).
    hooks.cancel_point();
    if (on_stage) on_stage(JobStage::Decoding);
    models::VideoCodingOptions coding;
    coding.frames_per_call = 1;
    coding.on_frames = on_frames;
    // LVDM: z = 1. / scale_factor * z (a reciprocal, then a product: the same rounding as the reference).
    const at::Tensor z = (samples * (1.0 / pipe.config.scale_factor)).to(pipe.vae->dtype());
    at::Tensor video = models::decode_video(*pipe.vae, z, coding);  // [1, 3, F, H, W]
    video = video.to(at::kCPU, at::kFloat);
    if (trace) trace->video = video.clone();
    return ((video.clamp(-1.0, 1.0) + 1.0) / 2.0).contiguous();  // [1, 3, F, H, W] in [0, 1]
}

}  // namespace engine::pipelines
