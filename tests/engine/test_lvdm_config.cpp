// pipelines/lvdm_config: the goldens' configs, the built-in presets (against the original YAML files and the
// reference tables), config errors, and telling checkpoints apart from their tensors.
//
// Key sets: the golden pipelines' model.ckpt files listed by tests/fixtures/lvdm_keys/list_ckpt_keys.py (the C++
// .ckpt reader is on another branch), and the golden per-module safetensors combined into whole checkpoints.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "io/yaml_subset.h"
#include "models/autoencoders/autoencoder_kl.h"
#include "pipelines/lvdm_config.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

using engine::ErrorCode;
using engine::pipelines::LVDMFamily;
using engine::pipelines::LVDMFrameRateInput;
using engine::pipelines::LVDMModelConfig;
using engine::schedulers::LatentRescale;
using engine::schedulers::Parameterization;
using nlohmann::json;
using test_support::GoldenCase;

namespace {

std::filesystem::path fixtures_dir() {
    if (const char* src = std::getenv("KINORA_SOURCE_DIR"); src != nullptr && *src != '\0') {
        return std::filesystem::path(src) / "tests" / "fixtures";
    }
    return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures";
}

LVDMModelConfig parse_config(const json& j, const std::string& what = "test") {
    auto c = LVDMModelConfig::from_json(j, what);
    INFO((c ? std::string() : c.error().message));
    REQUIRE(c.has_value());
    return *c;
}

engine::Error config_error(const json& j) {
    auto c = LVDMModelConfig::from_json(j, "test");
    REQUIRE_FALSE(c.has_value());
    return c.error();
}

// A shape-only tensor map from a list_ckpt_keys.py listing ("name dtype d0,d1,...").
engine::io::TensorMap keys_from_listing(const std::string& name) {
    const auto path = fixtures_dir() / "lvdm_keys" / (name + ".txt");
    std::ifstream in(path);
    INFO("fixture: " << path.string());
    REQUIRE(in.good());
    engine::io::TensorMap out;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key, dtype, dims;
        fields >> key >> dtype >> dims;
        std::vector<int64_t> shape;
        std::stringstream ds(dims);
        for (std::string d; std::getline(ds, d, ',');) shape.push_back(std::stoll(d));
        out.emplace(key, at::empty(shape, at::TensorOptions().dtype(at::kFloat).device(at::kMeta)));
    }
    REQUIRE(out.size() > 100);
    return out;
}

engine::io::TensorMap golden_safetensors(const std::string& name) {
    auto w = engine::io::load_safetensors(GoldenCase::load(name).file("weights.safetensors").string());
    REQUIRE(w.has_value());
    return *w;
}

engine::io::TensorMap merged(std::initializer_list<engine::io::TensorMap> parts) {
    engine::io::TensorMap out;
    for (const auto& p : parts) out.insert(p.begin(), p.end());
    return out;
}

engine::pipelines::LVDMDetection detect(const engine::io::TensorMap& w) {
    auto d = engine::pipelines::detect_lvdm_model(w);
    INFO((d ? std::string() : d.error().message));
    REQUIRE(d.has_value());
    return *d;
}

engine::Error detect_error(const engine::io::TensorMap& w) {
    auto d = engine::pipelines::detect_lvdm_model(w);
    INFO((d ? "detected " + d->summary : std::string()));
    REQUIRE_FALSE(d.has_value());
    return d.error();
}

// Renames every key containing `from` (once) to use `to` instead.
engine::io::TensorMap rename_keys(const engine::io::TensorMap& w, const std::string& from, const std::string& to) {
    engine::io::TensorMap out;
    for (const auto& [k, v] : w) {
        const auto at = k.find(from);
        out.emplace(at == std::string::npos ? k : k.substr(0, at) + to + k.substr(at + from.size()), v);
    }
    return out;
}

engine::io::TensorMap drop_keys(const engine::io::TensorMap& w, const std::string& part) {
    engine::io::TensorMap out;
    for (const auto& [k, v] : w) {
        if (k.find(part) == std::string::npos) out.emplace(k, v);
    }
    return out;
}

at::Tensor as_tensor(const std::vector<double>& v) {
    return torch::tensor(v, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
}

}  // namespace

TEST_CASE("lvdm_config: the VideoCrafter2 golden config", "[io]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    const auto c = parse_config(gc.config(), "vc2_pipeline_tiny/config.json");
    CHECK(c.target == engine::pipelines::LVDMTarget::LatentDiffusion);
    CHECK(c.family == LVDMFamily::VideoCrafter2);
    CHECK(c.scale_factor == Approx(0.18215));
    CHECK(c.conditioning == engine::pipelines::LVDMConditioning::CrossAttn);
    CHECK(c.uncond_type == engine::pipelines::LVDMUncondType::EmptySeq);
    CHECK((c.image_size == std::vector<int64_t>{8, 12}));
    CHECK(c.channels == 4);
    CHECK(c.temporal_length == 4);
    CHECK(c.frame_rate_input == LVDMFrameRateInput::Fps);
    CHECK_FALSE(c.perframe_ae);
    CHECK_FALSE(c.has_image_branch());
    CHECK(c.cond_stage_layer == "penultimate");
    CHECK(c.open_clip.arch == "golden");
    CHECK(c.open_clip.text_width == 32);
    CHECK(c.open_clip.text_heads == 4);
    CHECK(c.open_clip.text_layers == 3);
    CHECK(c.unet_params.at("model_channels") == json(32));
    CHECK(c.diffusion.parameterization == Parameterization::Epsilon);
    CHECK(c.diffusion.rescale == LatentRescale::VideoCrafter);
    CHECK(c.diffusion.scale_b == Approx(0.7));
    auto ae = engine::models::AutoencoderKLConfig::from_json(c.first_stage_params);
    REQUIRE(ae.has_value());
    CHECK(ae->ch == 32);
    // The schedule the config describes is the one the reference model registered.
    REQUIRE_MAXDIFF_REL(as_tensor(c.diffusion.alphas_cumprod()), gc.io("alphas_cumprod"), 1e-6);
    REQUIRE_MAXDIFF_REL(as_tensor(c.diffusion.scale_arr()), gc.io("model_scale_arr"), 1e-6);
}

TEST_CASE("lvdm_config: the DynamiCrafter golden config", "[io]") {
    auto gc = GoldenCase::load("dc_pipeline_tiny");
    const auto c = parse_config(gc.config(), "dc_pipeline_tiny/config.json");
    CHECK(c.target == engine::pipelines::LVDMTarget::LatentVisualDiffusion);
    CHECK(c.family == LVDMFamily::DynamiCrafter);
    CHECK(c.conditioning == engine::pipelines::LVDMConditioning::Hybrid);
    CHECK(c.diffusion.parameterization == Parameterization::V);
    CHECK(c.diffusion.rescale_betas_zero_snr);
    CHECK(c.diffusion.rescale == LatentRescale::DynamiCrafter);
    CHECK(c.diffusion.scale_b == Approx(0.7));
    CHECK(c.frame_rate_input == LVDMFrameRateInput::Fps);
    CHECK(c.default_fs == 24);
    CHECK(c.perframe_ae);
    CHECK(c.temporal_length == 16);
    CHECK((c.image_size == std::vector<int64_t>{4, 8}));
    CHECK(c.has_image_branch());
    CHECK(c.image_proj_params.at("num_queries") == json(16));
    CHECK(c.image_proj_params.at("video_length") == json(16));
    CHECK(c.image_proj_params.at("embedding_dim") == json(48));
    CHECK(c.open_clip.vision_width == 48);
    CHECK(c.open_clip.vision_layers == 2);
    CHECK(c.open_clip.embed_dim == 32);
    REQUIRE_MAXDIFF_REL(as_tensor(c.diffusion.alphas_cumprod()), gc.io("alphas_cumprod"), 1e-6);
    REQUIRE_MAXDIFF_REL(as_tensor(c.diffusion.scale_arr()), gc.io("scale_arr"), 1e-6);
}

TEST_CASE("lvdm_config: every preset is its original YAML, and says what the reference tables say", "[io]") {
    const std::map<std::string, std::string> yaml_of = {
        {"videocrafter2", "videocrafter2_t2v_512.yaml"},
        {"videocrafter-t2v-512", "videocrafter1_t2v_512.yaml"},
        {"videocrafter-t2v-1024", "videocrafter1_t2v_1024.yaml"},
        {"videocrafter-i2v-512", "videocrafter1_i2v_512.yaml"},
        {"dynamicrafter-256", "dynamicrafter_256.yaml"},
        {"dynamicrafter-512", "dynamicrafter_512.yaml"},
        {"dynamicrafter-1024", "dynamicrafter_1024.yaml"},
    };
    std::vector<std::string> expected_ids;
    for (const auto& item : yaml_of) expected_ids.push_back(item.first);
    CHECK(engine::pipelines::lvdm_preset_ids() == expected_ids);

    std::map<std::string, LVDMModelConfig> presets;
    for (const auto& [id, file] : yaml_of) {
        CAPTURE(id);
        auto doc = engine::pipelines::lvdm_preset_document(id);
        REQUIRE(doc.has_value());
        CHECK(doc->at("id") == json(id));
        CHECK(doc->at("source").at("path").get<std::string>().rfind("configs/", 0) == 0);
        // The preset's config (written from the YAML by a separate converter) equals what the YAML reader
        // makes of the original file.
        const auto path = fixtures_dir() / "lvdm_configs" / file;
        auto yaml = engine::io::read_yaml_file(path.string());
        INFO((yaml ? std::string() : yaml.error().message));
        REQUIRE(yaml.has_value());
        CHECK(*yaml == doc->at("config"));
        auto from_file = engine::pipelines::read_lvdm_config(path.string());
        INFO((from_file ? std::string() : from_file.error().message));
        REQUIRE(from_file.has_value());
        auto preset = engine::pipelines::lvdm_preset(id);
        INFO((preset ? std::string() : preset.error().message));
        REQUIRE(preset.has_value());
        CHECK(preset->family == from_file->family);
        CHECK(preset->open_clip.arch == "ViT-H-14");
        CHECK(preset->open_clip.text_width == 1024);
        CHECK(preset->scale_factor == Approx(0.18215));
        CHECK(preset->unet_params.at("model_channels") == json(320));
        CHECK(preset->cond_stage_layer == "penultimate");
        auto ae = engine::models::AutoencoderKLConfig::from_json(preset->first_stage_params);
        REQUIRE(ae.has_value());
        CHECK(ae->downsample_factor() == 8);
        presets.emplace(id, *preset);
    }

    // docs/reference/videocrafter.md §1.1, §1.2 and §5.1.
    const auto& vc2 = presets.at("videocrafter2");
    CHECK(vc2.family == LVDMFamily::VideoCrafter2);
    CHECK((vc2.image_size == std::vector<int64_t>{40, 64}));
    CHECK(vc2.diffusion.rescale == LatentRescale::VideoCrafter);
    CHECK(vc2.diffusion.scale_b == Approx(0.7));
    CHECK_FALSE(vc2.diffusion.fix_scale_bug);
    CHECK(vc2.frame_rate_input == LVDMFrameRateInput::Fps);

    const auto& vc1_1024 = presets.at("videocrafter-t2v-1024");
    CHECK(vc1_1024.family == LVDMFamily::VideoCrafter1T2V);
    CHECK((vc1_1024.image_size == std::vector<int64_t>{72, 128}));
    CHECK(vc1_1024.diffusion.rescale == LatentRescale::VideoCrafter);
    CHECK(vc1_1024.diffusion.scale_b == Approx(0.3));  // absent → LatentDiffusion's default
    CHECK(vc1_1024.diffusion.fix_scale_bug);
    CHECK(vc1_1024.frame_rate_input == LVDMFrameRateInput::Fps);

    const auto& vc1_512 = presets.at("videocrafter-t2v-512");
    CHECK(vc1_512.family == LVDMFamily::VideoCrafter1T2V);
    CHECK(vc1_512.diffusion.rescale == LatentRescale::None);
    CHECK(vc1_512.frame_rate_input == LVDMFrameRateInput::None);

    const auto& i2v = presets.at("videocrafter-i2v-512");
    CHECK(i2v.family == LVDMFamily::VideoCrafter1I2V);
    CHECK(i2v.conditioning == engine::pipelines::LVDMConditioning::CrossAttn);
    CHECK(i2v.image_proj_params.at("num_queries") == json(16));
    CHECK(i2v.image_proj_params.at("heads") == json(12));
    CHECK(i2v.image_proj_params.at("embedding_dim") == json(1280));
    CHECK(i2v.image_proj_params.at("video_length").is_null());
    CHECK(i2v.open_clip.vision_width == 1280);

    const auto& dc256 = presets.at("dynamicrafter-256");
    CHECK(dc256.family == LVDMFamily::DynamiCrafter);
    CHECK(dc256.diffusion.parameterization == Parameterization::Epsilon);
    CHECK_FALSE(dc256.diffusion.rescale_betas_zero_snr);
    CHECK(dc256.diffusion.rescale == LatentRescale::None);
    CHECK(dc256.frame_rate_input == LVDMFrameRateInput::FrameStride);
    CHECK(dc256.default_fs == 3);
    CHECK((dc256.image_size == std::vector<int64_t>{32, 32}));

    const auto& dc512 = presets.at("dynamicrafter-512");
    CHECK(dc512.diffusion.parameterization == Parameterization::V);
    CHECK(dc512.diffusion.rescale_betas_zero_snr);
    CHECK(dc512.diffusion.scale_b == Approx(0.7));
    CHECK(dc512.frame_rate_input == LVDMFrameRateInput::Fps);
    CHECK(dc512.default_fs == 24);
    CHECK(dc512.perframe_ae);
    CHECK(dc512.image_proj_params.at("video_length") == json(16));

    const auto& dc1024 = presets.at("dynamicrafter-1024");
    CHECK(dc1024.diffusion.scale_b == Approx(0.3));
    CHECK(dc1024.default_fs == 10);
    CHECK((dc1024.image_size == std::vector<int64_t>{72, 128}));

    auto unknown = engine::pipelines::lvdm_preset("videocrafter3");
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().code == ErrorCode::InvalidRequest);
    CHECK_THAT(unknown.error().message, Catch::Contains("videocrafter2"));
}

TEST_CASE("lvdm_config: configs Kinora cannot run are refused by name", "[io]") {
    const json base = GoldenCase::load("vc2_pipeline_tiny").config();
    const json dc = GoldenCase::load("dc_pipeline_tiny").config();
    auto with = [](json j, const std::string& key, const json& value) {
        j["model"]["params"][key] = value;
        return j;
    };
    struct Case {
        json config;
        ErrorCode code;
        const char* says;
    };
    json sd = base;
    sd["model"]["target"] = "ldm.models.diffusion.ddpm.LatentDiffusion";
    json wrong_in = base;
    wrong_in["model"]["params"]["unet_config"]["params"]["in_channels"] = 8;
    json bad_vae = base;
    bad_vae["model"]["params"]["first_stage_config"]["params"]["ddconfig"].erase("z_channels");
    json vit_l = base;
    vit_l["model"]["params"]["cond_stage_config"]["params"]["arch"] = "ViT-L-14";
    json vc_i2v = dc;
    vc_i2v["model"]["params"].erase("image_proj_stage_config");
    for (const char* k : {"rescale_betas_zero_snr", "parameterization", "use_dynamic_rescale", "base_scale",
                          "fps_condition_type", "perframe_ae", "img_cond_stage_config"}) {
        vc_i2v["model"]["params"].erase(k);
    }
    vc_i2v["model"]["params"]["conditioning_key"] = "crossattn";
    vc_i2v["model"]["params"]["unet_config"]["params"]["in_channels"] = 4;
    vc_i2v["model"]["params"]["cond_img_config"] = dc["model"]["params"]["img_cond_stage_config"];
    vc_i2v["model"]["params"]["finegrained"] = false;
    const Case cases[] = {
        {sd, ErrorCode::UnsupportedModel, "ldm.models.diffusion.ddpm.LatentDiffusion"},
        {with(base, "unknown_knob", 1), ErrorCode::UnsupportedModel, "unknown_knob"},
        {with(base, "use_dynamic_rescale", true), ErrorCode::ModelLoadFailed, "mixes VideoCrafter keys"},
        {with(base, "conditioning_key", "concat"), ErrorCode::UnsupportedModel, "concat"},
        {with(base, "scale_by_std", true), ErrorCode::UnsupportedModel, "scale_by_std"},
        {with(base, "encoder_type", "3d"), ErrorCode::UnsupportedModel, "encoder_type"},
        {with(base, "scale_factor", "0.18"), ErrorCode::ModelLoadFailed, "scale_factor"},
        {with(base, "image_size", json({1, 2, 3})), ErrorCode::ModelLoadFailed, "image_size"},
        {with(dc, "parameterization", "x0"), ErrorCode::UnsupportedModel, "x0"},
        {with(dc, "fps_condition_type", "speed"), ErrorCode::ModelLoadFailed, "fps_condition_type"},
        {wrong_in, ErrorCode::ModelLoadFailed, "in_channels"},
        {bad_vae, ErrorCode::ModelLoadFailed, "z_channels"},
        {vit_l, ErrorCode::UnsupportedModel, "ViT-L-14"},
        {vc_i2v, ErrorCode::UnsupportedModel, "finegrained"},
    };
    for (const auto& c : cases) {
        const auto e = config_error(c.config);
        CAPTURE(e.message);
        CHECK(e.code == c.code);
        CHECK_THAT(e.message, Catch::Contains(c.says));
    }
    // A VideoCrafter config asking for v-prediction (VideoCrafter's DDPM only takes eps/x0).
    json vc_v = base;
    vc_v["model"]["params"]["parameterization"] = "v";
    vc_v["model"]["params"].erase("use_scale");  // still VideoCrafter: scale_b stays
    const auto e = config_error(vc_v);
    CHECK(e.code == ErrorCode::UnsupportedModel);
    CHECK_THAT(e.message, Catch::Contains("parameterization"));
}

TEST_CASE("lvdm_config: detection tells the golden checkpoints apart", "[io]") {
    SECTION("VideoCrafter2 (model.ckpt listing and per-module safetensors)") {
        const auto listing = keys_from_listing("vc2_pipeline_tiny");
        for (const auto* w : {&listing}) {
            const auto d = detect(*w);
            CHECK(d.family == LVDMFamily::VideoCrafter2);
            CHECK((d.presets == std::vector<std::string>{"videocrafter2"}));
            CHECK(d.unet_in_channels == 4);
            CHECK(d.model_channels == 32);
            CHECK(d.context_dim == 32);
            CHECK(d.temporal_conv);
            CHECK_FALSE(d.relative_position);
            CHECK(d.frame_rate_embedding);
            CHECK(d.image_tokens == 0);
        }
        const auto modules = merged({golden_safetensors("vc_unet3d_t2v_tiny"), golden_safetensors("openclip_text_tiny"),
                                     golden_safetensors("vc_autoencoder_tiny")});
        CHECK(detect(modules).family == LVDMFamily::VideoCrafter2);
        const auto cfg = parse_config(GoldenCase::load("vc2_pipeline_tiny").config());
        auto ok = engine::pipelines::check_lvdm_config_matches(cfg, detect(listing));
        INFO((ok ? std::string() : ok.error().message));
        CHECK(ok.has_value());
    }
    SECTION("DynamiCrafter (model.ckpt listing)") {
        const auto listing = keys_from_listing("dc_pipeline_tiny");
        const auto d = detect(listing);
        CHECK(d.family == LVDMFamily::DynamiCrafter);
        CHECK((d.presets == std::vector<std::string>{"dynamicrafter-512", "dynamicrafter-1024"}));
        CHECK(d.unet_in_channels == 8);
        CHECK(d.image_tokens == 256);
        CHECK_FALSE(d.framestride_embed_keys);
        const auto cfg = parse_config(GoldenCase::load("dc_pipeline_tiny").config());
        auto ok = engine::pipelines::check_lvdm_config_matches(cfg, d);
        INFO((ok ? std::string() : ok.error().message));
        CHECK(ok.has_value());
        // DynamiCrafter 256's original names and its learnable image-attention scale.
        const auto d256 = detect(rename_keys(listing, "fps_embedding", "framestride_embed"));
        CHECK((d256.presets == std::vector<std::string>{"dynamicrafter-256"}));
        CHECK(d256.framestride_embed_keys);
        auto with_alpha = listing;
        with_alpha.emplace("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.alpha",
                           at::empty({}, at::TensorOptions().device(at::kMeta)));
        CHECK((detect(with_alpha).presets == std::vector<std::string>{"dynamicrafter-256"}));
    }
    SECTION("VideoCrafter image-to-video (per-module safetensors)") {
        const auto w = merged({golden_safetensors("vc_unet3d_i2v_tiny"), golden_safetensors("openclip_text_tiny"),
                               golden_safetensors("openclip_vision_tiny"), golden_safetensors("resampler_tiny"),
                               golden_safetensors("vc_autoencoder_tiny")});
        const auto d = detect(w);
        CHECK(d.family == LVDMFamily::VideoCrafter1I2V);
        CHECK((d.presets == std::vector<std::string>{"videocrafter-i2v-512"}));
        CHECK(d.image_tokens == 16);
        // Without the image encoder it is no complete i2v checkpoint.
        const auto e = detect_error(drop_keys(w, "embedder.model.visual."));
        CHECK(e.code == ErrorCode::UnsupportedModel);
    }
    SECTION("VideoCrafter1 text-to-video: relative positions instead of temporal convs") {
        // The VC2 key set with VideoCrafter1's temporal layout (use_relative_position: true, temporal_conv:
        // false): relative_position_k/v tables in every temporal attention, no temopral_conv blocks.
        auto w = drop_keys(keys_from_listing("vc2_pipeline_tiny"), ".temopral_conv.");
        engine::io::TensorMap extra;
        for (const auto& [k, v] : w) {
            const std::string suffix = ".attn1.to_q.weight";
            if (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                k.find(".2.transformer_blocks.") != std::string::npos) {
                const std::string base = k.substr(0, k.size() - std::string("to_q.weight").size());
                extra.emplace(base + "relative_position_k.embeddings_table",
                              at::empty({9, 16}, at::TensorOptions().device(at::kMeta)));
                extra.emplace(base + "relative_position_v.embeddings_table",
                              at::empty({9, 16}, at::TensorOptions().device(at::kMeta)));
            }
        }
        REQUIRE_FALSE(extra.empty());
        w.insert(extra.begin(), extra.end());
        auto d = detect(w);
        CHECK(d.family == LVDMFamily::VideoCrafter1T2V);
        CHECK((d.presets == std::vector<std::string>{"videocrafter-t2v-1024"}));  // fps_embedding present
        d = detect(drop_keys(w, "fps_embedding."));
        CHECK((d.presets == std::vector<std::string>{"videocrafter-t2v-512"}));
    }
}

TEST_CASE("lvdm_config: a config that does not fit the checkpoint is named", "[io]") {
    const auto vc2 = detect(keys_from_listing("vc2_pipeline_tiny"));
    const auto dc_cfg = parse_config(GoldenCase::load("dc_pipeline_tiny").config(), "dc.json");
    auto e = engine::pipelines::check_lvdm_config_matches(dc_cfg, vc2);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().code == ErrorCode::ModelLoadFailed);
    CHECK_THAT(e.error().message, Catch::Contains("in_channels"));
    auto real = engine::pipelines::lvdm_preset("videocrafter2");
    REQUIRE(real.has_value());
    e = engine::pipelines::check_lvdm_config_matches(*real, vc2);
    REQUIRE_FALSE(e.has_value());
    CHECK_THAT(e.error().message, Catch::Contains("model_channels"));
}

TEST_CASE("lvdm_config: checkpoints of other models are refused with what they look like", "[io]") {
    struct Case {
        engine::io::TensorMap weights;
        const char* says;
    };
    // Stable Diffusion 1.x names (a 2-D UNet and the CLIP text model).
    engine::io::TensorMap sd = {
        {"model.diffusion_model.input_blocks.0.0.weight", at::empty({320, 4, 3, 3}, at::kMeta)},
        {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
         at::empty({320, 768}, at::kMeta)},
        {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
         at::empty({49408, 768}, at::kMeta)},
        {"first_stage_model.decoder.conv_in.weight", at::empty({512, 4, 3, 3}, at::kMeta)},
    };
    const Case cases[] = {
        {sd, "Stable Diffusion"},
        {golden_safetensors("vc_autoencoder_tiny"), "first key"},
        {golden_safetensors("openclip_text_tiny"), "encoder tensors"},
        {engine::io::TensorMap{}, "no tensors"},
    };
    for (const auto& c : cases) {
        const auto e = detect_error(c.weights);
        CAPTURE(e.message);
        CHECK(e.code == ErrorCode::UnsupportedModel);
        CHECK_THAT(e.message, Catch::Contains(c.says));
    }
    for (const char* name : {"sana_transformer_tiny", "dcae_tiny"}) {
        auto w =
            engine::io::load_safetensors_folder(GoldenCase::load(name).dir().string(), {"diffusion_pytorch_model"});
        REQUIRE(w.has_value());
        const auto e = detect_error(*w);
        CAPTURE(name, e.message);
        CHECK(e.code == ErrorCode::UnsupportedModel);
        CHECK_THAT(e.message, Catch::Contains(std::string(name) == "dcae_tiny" ? "autoencoder" : "Sana"));
    }
    auto gemma = engine::io::load_safetensors(GoldenCase::load("gemma2_tiny").file("model.safetensors").string());
    REQUIRE(gemma.has_value());
    const auto e = detect_error(*gemma);
    CHECK_THAT(e.message, Catch::Contains("text encoder"));
}
