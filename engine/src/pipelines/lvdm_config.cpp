// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/models/ddpm3d.py DDPM, LatentDiffusion, LatentVisualDiffusion;
//      lvdm/modules/encoders/condition.py FrozenOpenCLIPEmbedder, FrozenOpenCLIPImageEmbedderV2;
//      lvdm/modules/networks/openaimodel3d.py UNetModel (the key names detection looks for)
// Ref: Doubiiu/DynamiCrafter@c453369 lvdm/models/ddpm3d.py, scripts/evaluation/funcs.py load_model_checkpoint
#include "pipelines/lvdm_config.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/json.h"
#include "io/yaml_subset.h"
#include "models/autoencoders/autoencoder_kl.h"
#include "pipelines/builtin_presets.h"

namespace engine::pipelines {

const char* to_string(LVDMFamily family) noexcept {
    switch (family) {
        case LVDMFamily::VideoCrafter1T2V:
            return "VideoCrafter1 (text-to-video)";
        case LVDMFamily::VideoCrafter2:
            return "VideoCrafter2";
        case LVDMFamily::VideoCrafter1I2V:
            return "VideoCrafter1 (image-to-video)";
        case LVDMFamily::DynamiCrafter:
            return "DynamiCrafter";
        case LVDMFamily::None:
            break;
    }
    return "none";
}

const char* to_string(LVDMFrameRateInput input) noexcept {
    switch (input) {
        case LVDMFrameRateInput::Fps:
            return "fps";
        case LVDMFrameRateInput::FrameStride:
            return "frame_stride";
        case LVDMFrameRateInput::None:
            break;
    }
    return "none";
}

namespace {

using nlohmann::json;

constexpr const char* kUNetTarget = "lvdm.modules.networks.openaimodel3d.UNetModel";
constexpr const char* kFirstStageTarget = "lvdm.models.autoencoder.AutoencoderKL";
constexpr const char* kTextTarget = "lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder";
constexpr const char* kImageTarget = "lvdm.modules.encoders.condition.FrozenOpenCLIPImageEmbedderV2";
constexpr const char* kResamplerTarget = "lvdm.modules.encoders.resampler.Resampler";

struct ConfigError {
    ErrorCode code;
    std::string message;
};

// Reads typed values from one mapping of the config; errors name the path of the key.
class Reader {
public:
    Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

    [[noreturn]] void bad(const std::string& key, const std::string& what) const {
        throw ConfigError{ErrorCode::ModelLoadFailed, "'" + path_ + "." + key + "' " + what};
    }
    [[noreturn]] void unsupported(const std::string& key, const std::string& what) const {
        throw ConfigError{ErrorCode::UnsupportedModel, "'" + path_ + "." + key + "' " + what};
    }

    bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }
    const json& at(const std::string& key) const { return j_.at(key); }

    int64_t get_int(const std::string& key, int64_t fallback) const {
        if (!has(key)) return fallback;
        if (!j_.at(key).is_number_integer()) bad(key, "must be an integer, got " + j_.at(key).dump());
        return j_.at(key).get<int64_t>();
    }
    double get_number(const std::string& key, double fallback) const {
        if (!has(key)) return fallback;
        if (!j_.at(key).is_number()) bad(key, "must be a number, got " + j_.at(key).dump());
        return j_.at(key).get<double>();
    }
    bool get_bool(const std::string& key, bool fallback) const {
        if (!has(key)) return fallback;
        if (!j_.at(key).is_boolean()) bad(key, "must be true or false, got " + j_.at(key).dump());
        return j_.at(key).get<bool>();
    }
    std::string get_string(const std::string& key, const std::string& fallback) const {
        if (!has(key)) return fallback;
        if (!j_.at(key).is_string()) bad(key, "must be a string, got " + j_.at(key).dump());
        return j_.at(key).get<std::string>();
    }
    // A {target, params} node: checks the target, returns params ({} when absent).
    json component(const std::string& key, const std::string& expected_target, bool required) const {
        if (!has(key)) {
            if (required) bad(key, "is missing");
            return nullptr;
        }
        const json& node = j_.at(key);
        if (!node.is_object()) bad(key, "must be a mapping with 'target' and 'params', got " + node.dump());
        Reader r(node, path_ + "." + key);
        const std::string target = r.get_string("target", "");
        if (target != expected_target) {
            unsupported(key + ".target", "is '" + target + "'; Kinora implements " + expected_target);
        }
        if (!r.has("params")) return json::object();
        if (!node.at("params").is_object()) r.bad("params", "must be a mapping, got " + node.at("params").dump());
        return node.at("params");
    }
    const std::string& path() const { return path_; }

private:
    const json& j_;
    std::string path_;
};

// model.params keys, by which constructor takes them (lvdm/models/ddpm3d.py of each code base).
// Keys that only matter for training are accepted and ignored.
const std::set<std::string>& common_keys() {
    static const std::set<std::string> keys = {
        // DDPM
        "unet_config", "timesteps", "beta_schedule", "loss_type", "ckpt_path", "ignore_keys", "load_only_unet",
        "monitor", "use_ema", "first_stage_key", "image_size", "channels", "log_every_t", "clip_denoised",
        "linear_start", "linear_end", "cosine_s", "given_betas", "original_elbo_weight", "v_posterior",
        "l_simple_weight", "conditioning_key", "parameterization", "scheduler_config", "use_positional_encodings",
        "learn_logvar", "logvar_init",
        // LatentDiffusion
        "first_stage_config", "cond_stage_config", "num_timesteps_cond", "cond_stage_key", "cond_stage_trainable",
        "cond_stage_forward", "uncond_prob", "uncond_type", "scale_factor", "scale_by_std", "encoder_type",
        "only_model"};
    return keys;
}
const std::set<std::string>& videocrafter_keys() {
    static const std::set<std::string> keys = {"use_scale",     "scale_a",     "scale_b",     "mid_step",
                                               "fix_scale_bug", "finegrained", "random_cond", "cond_img_config"};
    return keys;
}
const std::set<std::string>& dynamicrafter_keys() {
    static const std::set<std::string> keys = {"rescale_betas_zero_snr",
                                               "noise_strength",
                                               "use_dynamic_rescale",
                                               "base_scale",
                                               "turning_step",
                                               "interp_mode",
                                               "fps_condition_type",
                                               "perframe_ae",
                                               "logdir",
                                               "rand_cond_frame",
                                               "en_and_decode_n_samples_a_time",
                                               "img_cond_stage_config",
                                               "image_proj_stage_config",
                                               "freeze_embedder",
                                               "image_proj_model_trainable"};
    return keys;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
    return out;
}

// open_clip's ViT-H-14 (open_clip model_configs/ViT-H-14.json; docs/reference/videocrafter.md §1.4, §1.5).
OpenCLIPTowers vit_h_14() {
    OpenCLIPTowers t;
    t.arch = "ViT-H-14";
    t.vocab_size = 49408;
    t.context_length = 77;
    t.text_width = 1024;
    t.text_heads = 16;
    t.text_layers = 24;
    t.vision_width = 1280;
    t.vision_heads = 16;
    t.vision_layers = 32;
    t.vision_patch_size = 14;
    t.vision_image_size = 224;
    t.embed_dim = 1024;
    return t;
}

// The goldens' "open_clip" section: {text: {vocab_size, context_length, width, heads, layers},
// vision: {width, heads, layers, patch_size, image_size, embed_dim}}.
OpenCLIPTowers towers_from_section(const json& section) {
    Reader root(section, "open_clip");
    OpenCLIPTowers t;
    t.arch = "golden";
    if (!root.has("text") || !section.at("text").is_object()) root.bad("text", "must be a mapping");
    Reader text(section.at("text"), "open_clip.text");
    t.vocab_size = text.get_int("vocab_size", 49408);
    t.context_length = text.get_int("context_length", 77);
    t.text_width = text.get_int("width", 0);
    t.text_heads = text.get_int("heads", 0);
    t.text_layers = text.get_int("layers", 0);
    if (t.text_width <= 0 || t.text_heads <= 0 || t.text_layers <= 0) {
        text.bad("width", "heads and layers must be positive");
    }
    if (root.has("vision")) {
        if (!section.at("vision").is_object()) root.bad("vision", "must be a mapping");
        Reader vision(section.at("vision"), "open_clip.vision");
        t.vision_width = vision.get_int("width", 0);
        t.vision_heads = vision.get_int("heads", 0);
        t.vision_layers = vision.get_int("layers", 0);
        t.vision_patch_size = vision.get_int("patch_size", 14);
        t.vision_image_size = vision.get_int("image_size", 224);
        t.embed_dim = vision.get_int("embed_dim", 0);
        if (t.vision_width <= 0 || t.vision_heads <= 0 || t.vision_layers <= 0) {
            vision.bad("width", "heads and layers must be positive");
        }
    }
    return t;
}

std::string open_clip_arch(const Reader& r, const json& params) {
    Reader p(params, r.path());
    const std::string arch = p.get_string("arch", "ViT-H-14");
    if (arch != "ViT-H-14") {
        p.unsupported("arch", "is '" + arch +
                                  "'; every released VideoCrafter/DynamiCrafter model uses ViT-H-14, "
                                  "the only open_clip architecture Kinora knows the sizes of");
    }
    return arch;
}

LVDMModelConfig parse_model(const json& document, const json& model, const std::string& what) {
    if (!model.is_object()) throw ConfigError{ErrorCode::ModelLoadFailed, "'model' must be a mapping"};
    Reader m(model, "model");
    LVDMModelConfig c;
    c.source = what;
    const std::string target = m.get_string("target", "");
    if (target == "lvdm.models.ddpm3d.LatentDiffusion") {
        c.target = LVDMTarget::LatentDiffusion;
    } else if (target == "lvdm.models.ddpm3d.LatentVisualDiffusion") {
        c.target = LVDMTarget::LatentVisualDiffusion;
    } else {
        m.unsupported("target", "is '" + target +
                                    "': not a VideoCrafter/DynamiCrafter model (lvdm.models.ddpm3d.LatentDiffusion or "
                                    "LatentVisualDiffusion)");
    }
    for (const auto& item : model.items()) {
        static const std::set<std::string> model_keys = {"target", "params", "base_learning_rate", "scale_lr",
                                                         "pretrained_checkpoint"};
        if (!model_keys.count(item.key())) m.unsupported(item.key(), "is not a key Kinora knows in 'model'");
    }
    if (!m.has("params") || !model.at("params").is_object()) m.bad("params", "must be a mapping");
    const json& params = model.at("params");
    Reader p(params, "model.params");

    // Which code base's LatentDiffusion the keys are for.
    std::vector<std::string> vc, dc, unknown;
    for (const auto& item : params.items()) {
        const std::string& key = item.key();
        if (videocrafter_keys().count(key)) {
            vc.push_back(key);
        } else if (dynamicrafter_keys().count(key)) {
            dc.push_back(key);
        } else if (!common_keys().count(key)) {
            unknown.push_back(key);
        }
    }
    if (!unknown.empty()) {
        p.unsupported(unknown.front(),
                      "is not a parameter of VideoCrafter's or DynamiCrafter's LatentDiffusion "
                      "(unknown keys: " +
                          join(unknown) + ")");
    }
    if (!vc.empty() && !dc.empty()) {
        throw ConfigError{ErrorCode::ModelLoadFailed, "model.params mixes VideoCrafter keys (" + join(vc) +
                                                          ") with DynamiCrafter keys (" + join(dc) +
                                                          "); neither code base accepts both"};
    }
    const bool dynamicrafter = !dc.empty();
    const std::string parameterization = p.get_string("parameterization", "eps");
    if (!dynamicrafter && parameterization != "eps") {
        p.unsupported("parameterization", "is '" + parameterization +
                                              "'; VideoCrafter models are eps-prediction (v-prediction is "
                                              "DynamiCrafter's, whose configs carry rescale_betas_zero_snr etc.)");
    }

    // Diffusion schedule: the schedulers' own parser reads the same keys.
    auto diffusion = schedulers::LVDMDiffusionConfig::from_json(params, what);
    if (!diffusion) throw ConfigError{diffusion.error().code, diffusion.error().message};
    c.diffusion = *diffusion;

    if (p.has("cond_stage_forward"))
        p.unsupported("cond_stage_forward", "(a custom text-encoder method) is not supported");
    if (p.get_string("encoder_type", "2d") != "2d") {
        p.unsupported("encoder_type", "must be '2d' (the per-frame first stage every released model uses)");
    }
    if (p.get_bool("scale_by_std", false)) {
        p.unsupported("scale_by_std",
                      "true (a scale_factor estimated in training and stored in the checkpoint) is "
                      "not supported; released models set scale_factor explicitly");
    }
    c.scale_factor = p.get_number("scale_factor", 1.0);
    if (!(c.scale_factor > 0.0)) p.bad("scale_factor", "must be positive");

    const std::string conditioning = p.get_string("conditioning_key", "crossattn");
    if (conditioning == "crossattn") {
        c.conditioning = LVDMConditioning::CrossAttn;
    } else if (conditioning == "hybrid") {
        c.conditioning = LVDMConditioning::Hybrid;
    } else {
        p.unsupported("conditioning_key", "is '" + conditioning + "'; Kinora runs 'crossattn' and 'hybrid'");
    }
    const std::string uncond = p.get_string("uncond_type", "empty_seq");
    if (uncond == "empty_seq") {
        c.uncond_type = LVDMUncondType::EmptySeq;
    } else if (uncond == "zero_embed") {
        c.uncond_type = LVDMUncondType::ZeroEmbed;
    } else {
        p.bad("uncond_type", "must be 'empty_seq' or 'zero_embed', got '" + uncond + "'");
    }

    if (p.has("image_size")) {
        const json& s = params.at("image_size");
        if (s.is_number_integer()) {
            c.image_size = {s.get<int64_t>(), s.get<int64_t>()};
        } else if (s.is_array() && s.size() == 2 && s[0].is_number_integer() && s[1].is_number_integer()) {
            c.image_size = {s[0].get<int64_t>(), s[1].get<int64_t>()};
        } else {
            p.bad("image_size", "must be an integer or [height, width], got " + s.dump());
        }
    } else {
        c.image_size = {256, 256};  // DDPM's default
    }
    if (c.image_size[0] <= 0 || c.image_size[1] <= 0) p.bad("image_size", "must be positive");
    c.channels = p.get_int("channels", 3);
    c.perframe_ae = p.get_bool("perframe_ae", false);

    // UNet.
    c.unet_params = p.component("unet_config", kUNetTarget, true);
    Reader u(c.unet_params, "model.params.unet_config.params");
    c.temporal_length = u.get_int("temporal_length", 16);
    if (dynamicrafter) {
        if (u.get_bool("fs_condition", false)) {
            const std::string type = p.get_string("fps_condition_type", "fs");
            if (type == "fs") {
                c.frame_rate_input = LVDMFrameRateInput::FrameStride;
            } else if (type == "fps") {
                c.frame_rate_input = LVDMFrameRateInput::Fps;
            } else {
                p.bad("fps_condition_type", "must be 'fs' or 'fps', got '" + type + "'");
            }
            c.default_fs = u.get_int("default_fs", 0);
        }
    } else if (u.get_bool("fps_cond", false)) {
        c.frame_rate_input = LVDMFrameRateInput::Fps;
    }
    const int64_t unet_in = u.get_int("in_channels", 0);
    const int64_t expected_in = c.conditioning == LVDMConditioning::Hybrid ? 2 * c.channels : c.channels;
    if (unet_in != expected_in) {
        u.bad("in_channels", "is " + std::to_string(unet_in) + " but conditioning_key '" + conditioning + "' with " +
                                 std::to_string(c.channels) + " latent channels needs " + std::to_string(expected_in));
    }

    // First stage: validated here so a bad config fails before any weights are read.
    c.first_stage_params = p.component("first_stage_config", kFirstStageTarget, true);
    auto ae = models::AutoencoderKLConfig::from_json(c.first_stage_params);
    if (!ae) throw ConfigError{ae.error().code, "model.params.first_stage_config: " + ae.error().message};
    if (ae->embed_dim != c.channels) {
        p.bad("channels", "is " + std::to_string(c.channels) + " but the first stage's embed_dim is " +
                              std::to_string(ae->embed_dim));
    }

    // Text encoder.
    const json text = p.component("cond_stage_config", kTextTarget, true);
    Reader t(text, "model.params.cond_stage_config.params");
    c.cond_stage_layer = t.get_string("layer", "last");
    if (c.cond_stage_layer != "last" && c.cond_stage_layer != "penultimate") {
        t.bad("layer", "must be 'last' or 'penultimate', got '" + c.cond_stage_layer + "'");
    }
    if (t.get_int("max_length", 77) != 77) t.unsupported("max_length", "must be 77 (open_clip's context length)");
    open_clip_arch(t, text);

    // Image branch.
    if (c.target == LVDMTarget::LatentVisualDiffusion) {
        if (dynamicrafter) {
            c.img_cond_params = p.component("img_cond_stage_config", kImageTarget, true);
            c.image_proj_params = p.component("image_proj_stage_config", kResamplerTarget, true);
            c.family = LVDMFamily::DynamiCrafter;
        } else {
            c.img_cond_params = p.component("cond_img_config", kImageTarget, true);
            if (!p.get_bool("finegrained", false)) {
                p.unsupported("finegrained",
                              "false (the 4-token ImageProjModel) is not supported; the released "
                              "VideoCrafter image-to-video model uses the Resampler (finegrained: true)");
            }
            // LatentVisualDiffusion.init_projector(use_finegrained=True, num_tokens=16, input_dim=1024,
            // cross_attention_dim=1024, dim=1280) hard-codes the Resampler.
            c.image_proj_params = {{"dim", 1024},        {"depth", 4},        {"dim_head", 64},
                                   {"heads", 12},        {"num_queries", 16}, {"embedding_dim", 1280},
                                   {"output_dim", 1024}, {"ff_mult", 4},      {"video_length", nullptr}};
            c.family = LVDMFamily::VideoCrafter1I2V;
        }
        Reader img(c.img_cond_params, "image embedder params");
        if (!img.get_bool("antialias", true)) img.unsupported("antialias", "false is not supported");
        open_clip_arch(img, c.img_cond_params);
    } else {
        if (p.has("cond_img_config") || p.has("img_cond_stage_config") || p.has("image_proj_stage_config")) {
            throw ConfigError{ErrorCode::ModelLoadFailed,
                              "model.params has an image branch but the target is LatentDiffusion (text-to-video)"};
        }
        const bool temporal_conv = u.get_bool("temporal_conv", false);
        const bool relative = u.get_bool("use_relative_position", false);
        c.family = dynamicrafter                  ? LVDMFamily::DynamiCrafter
                   : (temporal_conv && !relative) ? LVDMFamily::VideoCrafter2
                                                  : LVDMFamily::VideoCrafter1T2V;
    }

    // open_clip tower sizes: the goldens' section when present, else the architecture's.
    c.open_clip = vit_h_14();
    if (document.is_object() && document.contains("open_clip")) {
        c.open_clip = towers_from_section(document.at("open_clip"));
    }
    return c;
}

}  // namespace

Expected<LVDMModelConfig> LVDMModelConfig::from_json(const nlohmann::json& config, const std::string& what) {
    try {
        if (!config.is_object()) {
            return make_error(ErrorCode::ModelLoadFailed, what + ": an LVDM config must be a mapping");
        }
        const json& model = config.contains("model") ? config.at("model") : config;
        return parse_model(config, model, what);
    } catch (const ConfigError& e) {
        return make_error(e.code, what + ": " + e.message);
    }
}

Expected<LVDMModelConfig> read_lvdm_config(const std::string& path) {
    const std::string ext = std::filesystem::path(path).extension().string();
    Expected<json> doc = (ext == ".yaml" || ext == ".yml") ? io::read_yaml_file(path) : core::read_json_file(path);
    if (!doc) return Unexpected{doc.error()};
    return LVDMModelConfig::from_json(*doc, path);
}

// ---------------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------------
namespace {

// id → document, parsed once.
const std::map<std::string, json>& lvdm_presets() {
    static const std::map<std::string, json> presets = [] {
        std::map<std::string, json> out;
        for (const auto& file : builtin_preset_files()) {
            auto doc = core::parse_json_lenient(file.text, std::string("resources/presets/") + file.name);
            if (!doc || !doc->is_object() || !doc->contains("id") || !doc->contains("config")) continue;
            const json& cfg = doc->at("config");
            if (!cfg.is_object() || !cfg.contains("model") || !cfg.at("model").is_object()) continue;
            const std::string target = cfg.at("model").value("target", std::string());
            if (target.rfind("lvdm.", 0) != 0) continue;
            out.emplace(doc->at("id").get<std::string>(), std::move(*doc));
        }
        return out;
    }();
    return presets;
}

}  // namespace

std::vector<std::string> lvdm_preset_ids() {
    std::vector<std::string> ids;
    for (const auto& item : lvdm_presets()) ids.push_back(item.first);
    return ids;
}

Expected<nlohmann::json> lvdm_preset_document(const std::string& id) {
    const auto& presets = lvdm_presets();
    auto it = presets.find(id);
    if (it == presets.end()) {
        return make_error(ErrorCode::InvalidRequest,
                          "no built-in LVDM preset '" + id + "' (known: " + join(lvdm_preset_ids()) + ")");
    }
    return it->second;
}

Expected<LVDMModelConfig> lvdm_preset(const std::string& id) {
    auto doc = lvdm_preset_document(id);
    if (!doc) return Unexpected{doc.error()};
    return LVDMModelConfig::from_json(doc->at("config"), "preset '" + id + "'");
}

// ---------------------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------------------
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

bool any_key(const io::TensorMap& w, const std::string& prefix) {
    auto it = w.lower_bound(prefix);
    return it != w.end() && starts_with(it->first, prefix);
}

// Names what a checkpoint that is not an LVDM model looks like.
std::string describe_other_model(const io::TensorMap& w) {
    bool sana = false, diffusers_unet = false, diffusers_vae = false, gemma = false, clip_only = false;
    for (const auto& item : w) {
        const std::string& k = item.first;
        if (starts_with(k, "caption_projection.") || starts_with(k, "patch_embed.") ||
            contains(k, "scale_shift_table")) {
            sana = true;
        }
        if (starts_with(k, "down_blocks.") || starts_with(k, "mid_block.") || starts_with(k, "conv_in.")) {
            diffusers_unet = true;
        }
        if (starts_with(k, "encoder.down_blocks.") || starts_with(k, "decoder.up_blocks.")) diffusers_vae = true;
        if (starts_with(k, "model.layers.") || starts_with(k, "layers.0.self_attn") ||
            starts_with(k, "embed_tokens.")) {
            gemma = true;
        }
        if (starts_with(k, "cond_stage_model.") || starts_with(k, "embedder.")) clip_only = true;
    }
    if (w.empty()) return "it holds no tensors";
    if (sana) return "it looks like a Sana / DiT transformer (diffusers keys: caption_projection, patch_embed, ...)";
    if (diffusers_vae) return "it looks like a diffusers autoencoder (encoder.down_blocks.*)";
    if (diffusers_unet) {
        return "it looks like a diffusers-format UNet (down_blocks.*); Kinora reads the original LVDM model.ckpt";
    }
    if (gemma) return "it looks like a text encoder (model.layers.*)";
    if (clip_only) return "it holds only text/image encoder tensors, no model.diffusion_model.* UNet";
    return "it has no model.diffusion_model.* UNet (first key: '" + w.begin()->first + "')";
}

}  // namespace

Expected<LVDMDetection> detect_lvdm_model(const io::TensorMap& w) {
    const std::string unet = "model.diffusion_model.";
    LVDMDetection d;
    auto first_conv = w.find(unet + "input_blocks.0.0.weight");
    if (first_conv == w.end() || first_conv->second.dim() != 4) {
        return make_error(ErrorCode::UnsupportedModel,
                          "not a VideoCrafter/DynamiCrafter checkpoint: " + describe_other_model(w) + ".");
    }
    d.model_channels = first_conv->second.size(0);
    d.unet_in_channels = first_conv->second.size(1);

    // Every LVDM UNet has temporal transformers (input block 1 = ResBlock, SpatialTransformer,
    // TemporalTransformer) and init_attn; a Stable Diffusion UNet has neither.
    if (!any_key(w, unet + "input_blocks.1.2.") && !any_key(w, unet + "init_attn.")) {
        std::string what = "a 2-D latent-diffusion UNet without temporal layers";
        if (any_key(w, "conditioner.embedders.")) {
            what = "a Stable Diffusion XL checkpoint";
        } else if (any_key(w, "cond_stage_model.transformer.") || any_key(w, "cond_stage_model.model.")) {
            what = "a Stable Diffusion (1.x/2.x) checkpoint";
        }
        return make_error(ErrorCode::UnsupportedModel,
                          "not a VideoCrafter/DynamiCrafter checkpoint: it looks like " + what +
                              " (model.diffusion_model.* has no temporal attention). Kinora runs Stable Diffusion "
                              "checkpoints no more than other image models outside its list.");
    }

    auto context = w.find(unet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight");
    if (context != w.end() && context->second.dim() == 2) d.context_dim = context->second.size(1);
    bool image_attention = false, embedder = false;
    for (const auto& item : w) {
        const std::string& k = item.first;
        if (!starts_with(k, unet)) {
            if (starts_with(k, "embedder.model.visual.")) embedder = true;
            continue;
        }
        if (contains(k, ".temopral_conv.")) d.temporal_conv = true;
        if (contains(k, ".relative_position_k.")) d.relative_position = true;
        if (contains(k, ".to_k_ip.")) image_attention = true;
        if (ends_with(k, ".attn2.alpha")) d.learnable_image_scale = true;
        if (starts_with(k, unet + "fps_embedding.")) d.frame_rate_embedding = true;
        if (starts_with(k, unet + "framestride_embed.")) {
            d.frame_rate_embedding = true;
            d.framestride_embed_keys = true;
        }
    }
    auto latents = w.find("image_proj_model.latents");
    if (latents != w.end()) {
        if (latents->second.dim() != 3) {
            return make_error(ErrorCode::ModelLoadFailed, "image_proj_model.latents should be [1, queries, dim], got " +
                                                              std::to_string(latents->second.dim()) + " dimensions");
        }
        d.image_tokens = latents->second.size(1);
    }

    std::ostringstream why;
    why << "UNet in_channels " << d.unet_in_channels << ", width " << d.model_channels << ", context " << d.context_dim
        << (d.temporal_conv ? ", temporal convs" : "") << (d.relative_position ? ", relative positions" : "")
        << (d.frame_rate_embedding ? (d.framestride_embed_keys ? ", framestride_embed" : ", fps_embedding") : "")
        << (d.image_tokens ? ", " + std::to_string(d.image_tokens) + " image tokens" : std::string())
        << (d.learnable_image_scale ? ", learnable image scale" : "");
    const std::string facts = why.str();
    auto unsupported_layout = [&](const std::string& reason) {
        return make_error(ErrorCode::UnsupportedModel,
                          "an LVDM checkpoint Kinora does not know (" + facts + "): " + reason +
                              ". Pass its YAML with --config if it is a VideoCrafter/DynamiCrafter variant.");
    };

    if (d.unet_in_channels == 8) {
        if (d.image_tokens == 0 || !image_attention || !embedder) {
            return unsupported_layout(
                "8 input channels (hybrid conditioning) without the image branch "
                "(image_proj_model, embedder.model.visual, to_k_ip)");
        }
        d.family = LVDMFamily::DynamiCrafter;
        if (d.learnable_image_scale || d.framestride_embed_keys) {
            d.presets = {"dynamicrafter-256"};
        } else {
            d.presets = {"dynamicrafter-512", "dynamicrafter-1024"};
        }
    } else if (d.unet_in_channels == 4) {
        if (d.image_tokens > 0 || image_attention) {
            if (d.image_tokens == 0 || !image_attention || !embedder) {
                return unsupported_layout(
                    "a partial image branch (image_proj_model, embedder.model.visual and "
                    "to_k_ip must all be present)");
            }
            d.family = LVDMFamily::VideoCrafter1I2V;
            d.presets = {"videocrafter-i2v-512"};
        } else if (d.temporal_conv && !d.relative_position) {
            d.family = LVDMFamily::VideoCrafter2;
            d.presets = {"videocrafter2"};
        } else if (!d.temporal_conv && d.relative_position) {
            d.family = LVDMFamily::VideoCrafter1T2V;
            d.presets = {d.frame_rate_embedding ? "videocrafter-t2v-1024" : "videocrafter-t2v-512"};
        } else {
            return unsupported_layout(d.temporal_conv ? "temporal convs together with relative positions"
                                                      : "neither temporal convs nor relative positions");
        }
    } else {
        return unsupported_layout("UNet input channels " + std::to_string(d.unet_in_channels) +
                                  " (released models have 4, or 8 for DynamiCrafter)");
    }
    d.summary = std::string(to_string(d.family)) + ": " + facts;
    return d;
}

Expected<void> check_lvdm_config_matches(const LVDMModelConfig& config, const LVDMDetection& d) {
    auto mismatch = [&](const std::string& what, const std::string& config_value, const std::string& weights_value) {
        return make_error(ErrorCode::ModelLoadFailed, config.source + " does not fit the checkpoint: " + what + " is " +
                                                          config_value + " in the config but " + weights_value +
                                                          " in the weights (" + d.summary +
                                                          "). Use the config that came with the checkpoint.");
    };
    auto int_of = [&](const char* key, int64_t fallback) {
        return config.unet_params.contains(key) && config.unet_params.at(key).is_number_integer()
                   ? config.unet_params.at(key).get<int64_t>()
                   : fallback;
    };
    auto bool_of = [&](const char* key) {
        return config.unet_params.contains(key) && config.unet_params.at(key).is_boolean() &&
               config.unet_params.at(key).get<bool>();
    };
    const int64_t in = int_of("in_channels", 0);
    if (in != d.unet_in_channels) {
        return mismatch("the UNet's in_channels", std::to_string(in), std::to_string(d.unet_in_channels));
    }
    const int64_t width = int_of("model_channels", 0);
    if (width != d.model_channels) {
        return mismatch("model_channels", std::to_string(width), std::to_string(d.model_channels));
    }
    const int64_t context = int_of("context_dim", 0);
    if (d.context_dim != 0 && context != d.context_dim) {
        return mismatch("context_dim", std::to_string(context), std::to_string(d.context_dim));
    }
    auto yes_no = [](bool b) { return std::string(b ? "on" : "off"); };
    if (bool_of("temporal_conv") != d.temporal_conv) {
        return mismatch("temporal_conv", yes_no(bool_of("temporal_conv")), yes_no(d.temporal_conv));
    }
    if (bool_of("use_relative_position") != d.relative_position) {
        return mismatch("use_relative_position", yes_no(bool_of("use_relative_position")), yes_no(d.relative_position));
    }
    const bool frame_rate = config.frame_rate_input != LVDMFrameRateInput::None;
    if (frame_rate != d.frame_rate_embedding) {
        return mismatch("frame-rate conditioning (fps_cond / fs_condition)", yes_no(frame_rate),
                        yes_no(d.frame_rate_embedding));
    }
    int64_t tokens = 0;
    if (config.has_image_branch()) {
        const json& r = config.image_proj_params;
        const int64_t queries = r.value("num_queries", int64_t{0});
        const int64_t video_length = r.contains("video_length") && r.at("video_length").is_number_integer()
                                         ? r.at("video_length").get<int64_t>()
                                         : 1;
        tokens = queries * video_length;
    }
    if (tokens != d.image_tokens) {
        return mismatch("the number of image tokens", std::to_string(tokens), std::to_string(d.image_tokens));
    }
    return {};
}

}  // namespace engine::pipelines
