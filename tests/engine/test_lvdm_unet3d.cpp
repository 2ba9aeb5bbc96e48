// LVDMUNet3D against the LVDM UNetModel goldens (VideoCrafter2 t2v, VideoCrafter i2v), the UNets of the VC2 and
// DynamiCrafter pipeline configs against their checkpoints' key lists, the relative-position / causal temporal
// attention of VideoCrafter1 against a direct computation, and the errors bad configs, weights and inputs get.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine_error.h"
#include "io/safetensors.h"
#include "models/common/normalization.h"
#include "models/unets/lvdm_unet_3d.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

#if __has_include("io/checkpoint.h")
#include "io/checkpoint.h"
#define KINORA_TEST_HAVE_CKPT_READER 1
#endif

using engine::ErrorCode;
using engine::models::LVDMUNet3D;
using engine::models::LVDMUNet3DConditioning;
using engine::models::LVDMUNet3DConfig;
using engine::models::LVDMVariant;

namespace {

LVDMUNet3DConfig parse_config(const nlohmann::json& json) {
    auto config = LVDMUNet3DConfig::from_json(json);
    INFO((config ? std::string("parsed") : config.error().message));
    REQUIRE(config.has_value());
    return *config;
}

engine::io::TensorMap load_weights(const test_support::GoldenCase& gc) {
    auto weights = engine::io::load_safetensors(gc.file("weights.safetensors").string());
    INFO((weights ? std::string("read") : weights.error().message));
    REQUIRE(weights.has_value());
    return std::move(weights).value();
}

LVDMUNet3D load_golden_model(const test_support::GoldenCase& gc, at::ScalarType dtype = at::kFloat) {
    engine::models::LVDMUNet3DLoadOptions options;
    options.dtype = dtype;
    options.source = gc.file("weights.safetensors").string();
    auto model =
        engine::models::load_lvdm_unet_3d(parse_config(gc.config("unet_config.json")), load_weights(gc), options);
    INFO((model ? std::string("loaded") : model.error().message));
    REQUIRE(model.has_value());
    return std::move(model).value();
}

at::Tensor run_golden(const test_support::GoldenCase& gc, LVDMUNet3D& model) {
    LVDMUNet3DConditioning cond;
    cond.fps = gc.io("fps");
    torch::NoGradGuard no_grad;
    return model->forward(gc.io("x"), gc.io("timesteps"), gc.io("context"), cond);
}

// Calls fn, which must throw core::EngineError with `code`; returns the message.
template <typename Fn>
std::string engine_error_message(Fn&& fn, ErrorCode code) {
    try {
        fn();
    } catch (const engine::core::EngineError& e) {
        CHECK(e.code() == code);
        return e.what();
    }
    FAIL("no EngineError thrown");
    return {};
}

std::string shape_string(at::IntArrayRef sizes) {
    std::string s;
    for (size_t i = 0; i < sizes.size(); ++i) {
        s += (i ? "," : "") + std::to_string(sizes[i]);
    }
    return s;
}

// name → "d0,d1,..." of a module's parameters and buffers.
std::map<std::string, std::string> module_shapes(torch::nn::Module& module) {
    std::map<std::string, std::string> shapes;
    for (const auto& p : module.named_parameters()) {
        shapes[p.key()] = shape_string(p.value().sizes());
    }
    for (const auto& b : module.named_buffers()) {
        shapes[b.key()] = shape_string(b.value().sizes());
    }
    return shapes;
}

std::filesystem::path fixture_dir() {
    if (const char* src = std::getenv("KINORA_SOURCE_DIR"); src != nullptr && *src != '\0') {
        return std::filesystem::path(src) / "tests" / "fixtures";
    }
    return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures";
}

// Lists the differences between two name → shape maps ("" when equal).
std::string shape_map_diff(const std::map<std::string, std::string>& module,
                           const std::map<std::string, std::string>& checkpoint) {
    std::ostringstream os;
    for (const auto& [k, v] : checkpoint) {
        auto it = module.find(k);
        if (it == module.end()) {
            os << "missing in module: " << k << "\n";
        } else if (it->second != v) {
            os << "shape of " << k << ": module [" << it->second << "] vs checkpoint [" << v << "]\n";
        }
    }
    for (const auto& [k, v] : module) {
        if (checkpoint.count(k) == 0) {
            os << "not in checkpoint: " << k << "\n";
        }
    }
    return os.str();
}

// The error code from_json gives (ErrorCode::None when it parses).
ErrorCode config_error_code(const nlohmann::json& json) {
    auto c = LVDMUNet3DConfig::from_json(json);
    return c ? ErrorCode::None : c.error().code;
}

nlohmann::json t2v_config_json() {
    return test_support::GoldenCase::load("vc_unet3d_t2v_tiny").config("unet_config.json");
}

}  // namespace

TEST_CASE("LVDMUNet3D: matches VideoCrafter2's UNetModel on the tiny t2v case", "[models]") {
    // Temporal convs, temporal self-attention, init_attn (Conv1d projections), fps embedding, 3 levels, 8x12 latent.
    auto gc = test_support::GoldenCase::load("vc_unet3d_t2v_tiny");
    auto model = load_golden_model(gc);
    CHECK(model->config.variant == LVDMVariant::VideoCrafter);
    CHECK(model->config.temporal_conv);
    CHECK(model->config.addition_attention);
    CHECK(model->config.fps_condition);
    CHECK_FALSE(model->config.image_cross_attention);
    at::Tensor eps = run_golden(gc, model);
    const double max_abs_diff = (eps - gc.io("eps")).abs().max().item<double>();
    CAPTURE(max_abs_diff);
    REQUIRE_MAXDIFF_REL(eps, gc.io("eps"), 1e-4);

    // fps matters (the embedding is not a no-op), and an absent fps is VideoCrafter's default of 16.
    torch::NoGradGuard no_grad;
    LVDMUNet3DConditioning fps16;
    fps16.fps = at::full({2}, 16, at::kLong);
    at::Tensor with_16 = model->forward(gc.io("x"), gc.io("timesteps"), gc.io("context"), fps16);
    at::Tensor with_default = model->forward(gc.io("x"), gc.io("timesteps"), gc.io("context"));
    CHECK(at::equal(with_16, with_default));
    CHECK((with_16 - eps).abs().max().item<double>() > 1e-3);
}

TEST_CASE("LVDMUNet3D: matches VideoCrafter's UNetModel with image cross-attention (77 text + 16 image tokens)",
          "[models]") {
    auto gc = test_support::GoldenCase::load("vc_unet3d_i2v_tiny");
    auto model = load_golden_model(gc);
    CHECK(model->config.image_cross_attention);
    REQUIRE(gc.io("context").size(1) == 93);
    at::Tensor eps = run_golden(gc, model);
    const double max_abs_diff = (eps - gc.io("eps")).abs().max().item<double>();
    CAPTURE(max_abs_diff);
    REQUIRE_MAXDIFF_REL(eps, gc.io("eps"), 1e-4);

    // The image tokens are used: changing them changes the output.
    torch::NoGradGuard no_grad;
    at::Tensor context = gc.io("context").clone();
    context.narrow(1, 77, 16).mul_(-1.0);
    LVDMUNet3DConditioning cond;
    cond.fps = gc.io("fps");
    at::Tensor other = model->forward(gc.io("x"), gc.io("timesteps"), context, cond);
    CHECK((other - eps).abs().max().item<double>() > 1e-4);
}

TEST_CASE("LVDMUNet3D: the same module runs in bfloat16 (sanity bound)", "[models]") {
    // bfloat16 keeps 8 mantissa bits: this checks the dtype plumbing (float32 norms and softmax, embeddings cast to
    // the model dtype), not precision.
    auto gc = test_support::GoldenCase::load("vc_unet3d_t2v_tiny");
    auto model = load_golden_model(gc, at::kBFloat16);
    CHECK(model->dtype() == at::kBFloat16);
    at::Tensor eps = run_golden(gc, model);
    CHECK(eps.scalar_type() == at::kBFloat16);
    CHECK_MAXDIFF_REL(eps.to(at::kFloat), gc.io("eps"), 5e-2);
}

TEST_CASE(
    "LVDMUNet3D: the UNets of the VideoCrafter2 and DynamiCrafter pipeline configs have the checkpoints' "
    "parameter names and shapes",
    "[models]") {
    SECTION("VideoCrafter2 (vc2_pipeline_tiny) against the t2v case's weights") {
        auto pipeline = test_support::GoldenCase::load("vc2_pipeline_tiny");
        auto config = parse_config(pipeline.config()["model"]["params"]["unet_config"]);  // {target, params}
        CHECK(config.variant == LVDMVariant::VideoCrafter);
        LVDMUNet3D model(config);
        // The tiny VC2 pipeline's UNet has the t2v case's architecture (same config), so the same keys.
        auto weights = load_weights(test_support::GoldenCase::load("vc_unet3d_t2v_tiny"));
        std::map<std::string, std::string> checkpoint;
        const std::string prefix = "model.diffusion_model.";
        for (const auto& [k, v] : weights) {
            REQUIRE(k.rfind(prefix, 0) == 0);
            checkpoint[k.substr(prefix.size())] = shape_string(v.sizes());
        }
        const std::string diff = shape_map_diff(module_shapes(*model), checkpoint);
        INFO(diff);
        CHECK(diff.empty());
        CHECK(checkpoint.count("input_blocks.1.0.temopral_conv.conv1.2.weight") == 1);
        CHECK(checkpoint.at("init_attn.0.proj_in.weight") == "128,32,1");  // Conv1d, 8 heads x 16
    }
    SECTION("DynamiCrafter (dc_pipeline_tiny) against its model.ckpt key list") {
        auto pipeline = test_support::GoldenCase::load("dc_pipeline_tiny");
        auto config = parse_config(pipeline.config()["model"]["params"]["unet_config"]);
        CHECK(config.variant == LVDMVariant::DynamiCrafter);
        CHECK(config.in_channels == 8);
        CHECK(config.image_cross_attention);
        CHECK(config.fps_condition);
        CHECK(config.default_fps == 24);
        CHECK(config.temporal_length == std::optional<int64_t>(16));
        LVDMUNet3D model(config);
        std::ifstream list(fixture_dir() / "lvdm" / "dc_pipeline_tiny_unet_keys.txt");
        REQUIRE(list.good());
        std::map<std::string, std::string> checkpoint;
        std::string key, shape;
        while (list >> key >> shape) {
            checkpoint[key] = shape;
        }
        REQUIRE(checkpoint.size() == 888);
        const std::string diff = shape_map_diff(module_shapes(*model), checkpoint);
        INFO(diff);
        CHECK(diff.empty());
    }
}

TEST_CASE("LVDMUNet3D: relative-position and causal temporal attention match a direct computation", "[models]") {
    // VideoCrafter1's temporal attention (Shaw relative positions, distance clipped at temporal_length), computed
    // here with plain loops: logits_ij = q_i·(k_j + E_k[c(j-i)]) / sqrt(d), out_i = Σ_j p_ij (v_j + E_v[c(j-i)]).
    torch::manual_seed(0);
    const int64_t dim = 12, heads = 2, dim_head = 6, frames = 7, max_distance = 3, batch = 3;
    for (bool causal : {false, true}) {
        CAPTURE(causal);
        engine::models::LVDMAttentionOptions o;
        o.query_dim = dim;
        o.heads = heads;
        o.dim_head = dim_head;
        o.relative_position = max_distance;
        engine::models::LVDMCrossAttention attn(o);
        torch::NoGradGuard no_grad;
        for (auto& p : attn->parameters()) {
            p.normal_(0.0, 0.5);
        }
        at::Tensor x = torch::randn({batch, frames, dim});
        std::optional<at::Tensor> mask;
        if (causal) {
            mask = at::ones({frames, frames}, at::kBool).tril();
        }
        at::Tensor out = attn->forward(x, std::nullopt, mask);

        at::Tensor q = at::linear(x, attn->to_q->weight).to(at::kDouble);
        at::Tensor k = at::linear(x, attn->to_k->weight).to(at::kDouble);
        at::Tensor v = at::linear(x, attn->to_v->weight).to(at::kDouble);
        at::Tensor ek = attn->relative_position_k->embeddings_table.to(at::kDouble);
        at::Tensor ev = attn->relative_position_v->embeddings_table.to(at::kDouble);
        at::Tensor merged = at::zeros({batch, frames, heads * dim_head}, at::kDouble);
        for (int64_t b = 0; b < batch; ++b) {
            for (int64_t h = 0; h < heads; ++h) {
                const int64_t c0 = h * dim_head;
                for (int64_t i = 0; i < frames; ++i) {
                    at::Tensor qi = q[b][i].narrow(0, c0, dim_head);
                    std::vector<double> logits;
                    for (int64_t j = 0; j < frames; ++j) {
                        const int64_t r = std::clamp<int64_t>(j - i, -max_distance, max_distance) + max_distance;
                        double l = (qi * (k[b][j].narrow(0, c0, dim_head) + ek[r])).sum().item<double>() /
                                   std::sqrt(static_cast<double>(dim_head));
                        logits.push_back(causal && j > i ? -INFINITY : l);
                    }
                    const double top = *std::max_element(logits.begin(), logits.end());
                    double total = 0.0;
                    for (double& l : logits) {
                        l = std::exp(l - top);
                        total += l;
                    }
                    at::Tensor acc = at::zeros({dim_head}, at::kDouble);
                    for (int64_t j = 0; j < frames; ++j) {
                        const int64_t r = std::clamp<int64_t>(j - i, -max_distance, max_distance) + max_distance;
                        acc += (logits[static_cast<size_t>(j)] / total) * (v[b][j].narrow(0, c0, dim_head) + ev[r]);
                    }
                    merged[b][i].narrow(0, c0, dim_head).copy_(acc);
                }
            }
        }
        at::Tensor expected = at::linear(merged.to(at::kFloat), attn->to_out_0->weight, attn->to_out_0->bias);
        REQUIRE_MAXDIFF_REL(out, expected, 1e-5);
    }
}

TEST_CASE("LVDMUNet3DConfig: reads LVDM's parameters, defaults and the two code bases' keys", "[models]") {
    auto json = t2v_config_json();
    auto config = parse_config(json);
    CHECK(config.model_channels == 32);
    CHECK(config.channel_mult == std::vector<int64_t>{1, 2, 2});
    CHECK(config.num_head_channels == 16);
    CHECK(config.use_linear);
    CHECK_FALSE(config.use_relative_position);
    CHECK(config.default_fps == 16);
    CHECK(config.spatial_divisor() == 4);

    SECTION("LVDM defaults: relative positions are on unless the config turns them off") {
        json.erase("use_relative_position");
        CHECK(parse_config(json).use_relative_position);
        json.erase("temporal_length");
        auto c = LVDMUNet3DConfig::from_json(json);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(c.error().message, Catch::Contains("temporal_length"));
    }
    SECTION("the {target, params} form is accepted; another target is not an LVDM UNet") {
        nlohmann::json wrapped = {{"target", "lvdm.modules.networks.openaimodel3d.UNetModel"}, {"params", json}};
        CHECK(parse_config(wrapped).model_channels == 32);
        wrapped["target"] = "lvdm.models.autoencoder.AutoencoderKL";
        auto c = LVDMUNet3DConfig::from_json(wrapped);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
    }
    SECTION("keys that change the network and are not implemented are refused by name") {
        for (const auto& [key, value] :
             std::vector<std::pair<std::string, nlohmann::json>>{{"use_scale_shift_norm", true},
                                                                 {"resblock_updown", true},
                                                                 {"tempspatial_aware", true},
                                                                 {"conv_resample", false},
                                                                 {"dims", 3},
                                                                 {"temporal_selfatt_only", false},
                                                                 {"context_dim", nullptr},
                                                                 {"use_new_attention_order", true}}) {
            CAPTURE(key);
            auto j = json;
            j[key] = value;
            auto c = LVDMUNet3DConfig::from_json(j);
            REQUIRE_FALSE(c.has_value());
            CHECK(c.error().code == ErrorCode::UnsupportedModel);
            CHECK_THAT(c.error().message, Catch::Contains(key));
        }
    }
    SECTION("keys of both code bases at once, wrong types and impossible values are load errors") {
        auto mixed = json;
        mixed["fs_condition"] = true;  // DynamiCrafter, beside VideoCrafter's fps_cond
        auto c = LVDMUNet3DConfig::from_json(mixed);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(c.error().message, Catch::Contains("fps_cond") && Catch::Contains("fs_condition"));

        auto wrong_type = json;
        wrong_type["channel_mult"] = "1,2,2";
        CHECK(config_error_code(wrong_type) == ErrorCode::ModelLoadFailed);

        auto missing = json;
        missing.erase("model_channels");
        c = LVDMUNet3DConfig::from_json(missing);
        REQUIRE_FALSE(c.has_value());
        CHECK_THAT(c.error().message, Catch::Contains("model_channels"));

        auto odd = json;
        odd["model_channels"] = 40;  // GroupNorm(32, 40) cannot exist
        CHECK(config_error_code(odd) == ErrorCode::ModelLoadFailed);
    }
    SECTION("DynamiCrafter keys select the DynamiCrafter variant and its default frame stride") {
        auto dc = json;
        dc.erase("fps_cond");
        dc.erase("use_image_attention");
        dc["fs_condition"] = true;
        dc["image_cross_attention"] = true;
        auto c = parse_config(dc);
        CHECK(c.variant == LVDMVariant::DynamiCrafter);
        CHECK(c.default_fps == 4);  // DynamiCrafter's default_fs
        CHECK(c.image_cross_attention);
    }
}

TEST_CASE("LVDMUNet3D: strict loading names the keys of another model's weights", "[models]") {
    auto t2v = test_support::GoldenCase::load("vc_unet3d_t2v_tiny");
    auto i2v = test_support::GoldenCase::load("vc_unet3d_i2v_tiny");
    const auto t2v_config = parse_config(t2v.config("unet_config.json"));
    const auto i2v_config = parse_config(i2v.config("unet_config.json"));

    // i2v weights into the t2v UNet: the image-attention projections are unexpected.
    auto r = engine::models::load_lvdm_unet_3d(t2v_config, load_weights(i2v));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::ModelLoadFailed);
    CHECK_THAT(r.error().message, Catch::Contains("to_k_ip"));

    // t2v weights into the i2v UNet: they are missing.
    r = engine::models::load_lvdm_unet_3d(i2v_config, load_weights(t2v));
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("missing") && Catch::Contains("to_v_ip"));

    // A DynamiCrafter-shaped UNet (8 input channels) against VideoCrafter weights: a shape mismatch by name.
    auto dc_like = t2v_config;
    dc_like.in_channels = 8;
    r = engine::models::load_lvdm_unet_3d(dc_like, load_weights(t2v));
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("input_blocks.0.0.weight"));

    // Without the prefix nothing matches.
    engine::models::LVDMUNet3DLoadOptions no_prefix;
    no_prefix.prefix = "";
    r = engine::models::load_lvdm_unet_3d(t2v_config, load_weights(t2v), no_prefix);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("time_embed.0.weight"));
}

TEST_CASE("LVDMUNet3D: bad inputs get errors that say what is wrong", "[models]") {
    auto gc = test_support::GoldenCase::load("vc_unet3d_t2v_tiny");
    auto model = load_golden_model(gc);
    torch::NoGradGuard no_grad;
    const at::Tensor x = gc.io("x");  // [2, 4, 4, 8, 12]
    const at::Tensor t = gc.io("timesteps");
    const at::Tensor ctx = gc.io("context");

    auto msg = engine_error_message([&] { model->forward(x.select(2, 0), t, ctx); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("[B, C, F, H, W]"));
    msg = engine_error_message([&] { model->forward(at::cat({x, x}, 1), t, ctx); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("8 channels") && Catch::Contains("expects 4"));
    msg = engine_error_message([&] { model->forward(x.narrow(2, 0, 0), t, ctx); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("no frames"));
    msg = engine_error_message([&] { model->forward(x.narrow(3, 0, 6), t, ctx); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("multiple of 4"));
    msg = engine_error_message([&] { model->forward(x, t.narrow(0, 0, 1), ctx); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("timesteps"));
    msg = engine_error_message([&] { model->forward(x, t, ctx.narrow(2, 0, 16)); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("context must be"));
    LVDMUNet3DConditioning fs;
    fs.fs = at::full({2}, 3, at::kLong);
    msg = engine_error_message([&] { model->forward(x, t, ctx, fs); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("fps"));
    LVDMUNet3DConditioning bad_fps;
    bad_fps.fps = at::full({3}, 8, at::kLong);
    msg = engine_error_message([&] { model->forward(x, t, ctx, bad_fps); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("fps must be"));

    // Any frame count runs (temporal attention has no position embedding here); a scalar timestep is broadcast.
    at::Tensor two_frames = model->forward(x.narrow(2, 0, 2), t[0], ctx);
    CHECK(two_frames.sizes().vec() == std::vector<int64_t>{2, 4, 2, 8, 12});

    // The image-attention UNet needs image tokens after the 77 text tokens.
    auto i2v = test_support::GoldenCase::load("vc_unet3d_i2v_tiny");
    auto i2v_model = load_golden_model(i2v);
    msg = engine_error_message([&] { i2v_model->forward(x, t, ctx); }, ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("image tokens"));
}

TEST_CASE("LVDMUNet3D: the released configurations have the published parameter counts", "[models][.slow]") {
    // Tensor and parameter counts of every released UNet, as docs/reference/videocrafter.md §2.2 derives them
    // (they reproduce the Hugging Face checkpoint sizes). Builds each full-size UNet once: ~6 GB and ~1.5 min.
    const nlohmann::json vc2 = {{"in_channels", 4},
                                {"out_channels", 4},
                                {"model_channels", 320},
                                {"attention_resolutions", {4, 2, 1}},
                                {"num_res_blocks", 2},
                                {"channel_mult", {1, 2, 4, 4}},
                                {"num_head_channels", 64},
                                {"transformer_depth", 1},
                                {"context_dim", 1024},
                                {"use_linear", true},
                                {"use_checkpoint", true},
                                {"temporal_conv", true},
                                {"temporal_attention", true},
                                {"temporal_selfatt_only", true},
                                {"use_relative_position", false},
                                {"use_causal_attention", false},
                                {"temporal_length", 16},
                                {"addition_attention", true},
                                {"fps_cond", true}};
    auto vc1_1024 = vc2;
    vc1_1024["temporal_conv"] = false;
    vc1_1024["use_relative_position"] = true;
    auto vc1_512 = vc1_1024;
    vc1_512.erase("fps_cond");
    auto vc1_i2v = vc2;
    vc1_i2v["use_image_attention"] = true;
    auto dc = vc2;
    dc.erase("fps_cond");
    dc["in_channels"] = 8;
    dc["dropout"] = 0.1;
    dc["image_cross_attention"] = true;
    dc["default_fs"] = 24;
    dc["fs_condition"] = true;
    auto dc256 = dc;
    dc256["image_cross_attention_scale_learnable"] = true;
    struct Expected {
        const char* name;
        nlohmann::json config;
        int64_t tensors;
        int64_t params;
    };
    for (const auto& e : std::vector<Expected>{{"VideoCrafter2 t2v 512", vc2, 1484, 1413284420},
                                               {"VideoCrafter1 t2v 1024", vc1_1024, 1200, 1146536516},
                                               {"VideoCrafter1 t2v 512", vc1_512, 1196, 1144485956},
                                               {"VideoCrafter1 i2v 512", vc1_i2v, 1516, 1438843460},
                                               {"DynamiCrafter 512/1024", dc, 1516, 1438854980},
                                               {"DynamiCrafter 256", dc256, 1532, 1438854996}}) {
        CAPTURE(e.name);
        int64_t tensors = 0;
        int64_t params = 0;
        {
            LVDMUNet3D model(parse_config(e.config));
            for (const auto& p : model->parameters()) {
                ++tensors;
                params += p.numel();
            }
        }
        CHECK(tensors == e.tensors);
        CHECK(params == e.params);
    }
}

#ifdef KINORA_TEST_HAVE_CKPT_READER

namespace {

// The UNet of a pipeline golden, loaded strictly from its model.ckpt (weights stored in float16) with the prefix.
LVDMUNet3D load_pipeline_unet(const test_support::GoldenCase& gc) {
    auto weights = engine::io::load_checkpoint(gc.file("model.ckpt").string());
    INFO((weights ? std::string("read") : weights.error().message));
    REQUIRE(weights.has_value());
    engine::models::LVDMUNet3DLoadOptions options;
    options.source = gc.file("model.ckpt").string();
    auto model = engine::models::load_lvdm_unet_3d(parse_config(gc.config()["model"]["params"]["unet_config"]),
                                                   *weights, options);
    INFO((model ? std::string("loaded") : model.error().message));
    REQUIRE(model.has_value());
    return std::move(model).value();
}

}  // namespace

TEST_CASE("LVDMUNet3D: the VideoCrafter2 pipeline's UNet loads from model.ckpt and gives its first DDIM x0",
          "[models]") {
    // First step of the golden DDIM run (eta 0): e = e_u + 12 (e_c - e_u) at the last DDIM timestep, fps 8, then
    // x0 = (x_T - sqrt(1 - a_t) e) / sqrt(a_t) / scale_t (use_scale), which LVDM records as pred_x0[1].
    auto gc = test_support::GoldenCase::load("vc2_pipeline_tiny");
    auto model = load_pipeline_unet(gc);
    torch::NoGradGuard no_grad;
    const at::Tensor x = gc.io("eta0.x_T");
    const int64_t last = gc.io("ddim_timesteps").size(0) - 1;
    const at::Tensor t = at::full({1}, gc.io("ddim_timesteps")[last].item<int64_t>(), at::kLong);
    LVDMUNet3DConditioning cond;
    cond.fps = at::full({1}, gc.meta().at("fps").get<int64_t>(), at::kLong);
    const at::Tensor e_c = model->forward(x, t, gc.io("cond"), cond);
    const at::Tensor e_u = model->forward(x, t, gc.io("uncond"), cond);
    const at::Tensor e = e_u + gc.meta().at("cfg").get<double>() * (e_c - e_u);
    const double a_t = gc.io("ddim_alphas")[last].item<double>();
    const double scale_t = gc.io("ddim_scale_arr")[last].item<double>();
    const at::Tensor x0 = (x - std::sqrt(1.0 - a_t) * e) / std::sqrt(a_t) / scale_t;
    const at::Tensor ref = gc.io("eta0.pred_x0")[1];
    const double max_abs_diff = (x0 - ref).abs().max().item<double>();
    CAPTURE(max_abs_diff);
    REQUIRE_MAXDIFF_REL(x0, ref, 1e-4);
}

TEST_CASE("LVDMUNet3D: the DynamiCrafter pipeline's UNet loads from model.ckpt and gives its first DDIM x0",
          "[models]") {
    // Hybrid conditioning (x_T ++ first-frame latent, 8 channels), 77 text + 256 image tokens split 16 per frame
    // over 16 frames, fs 10, v-prediction: v = v_u + 7.5 (v_c - v_u), rescaled to the conditional std with
    // guidance_rescale 0.7 (unbiased std over C, F, H, W), x0 = sqrt(a) x_T - sqrt(1 - a) v at t = 999 (zero SNR).
    auto gc = test_support::GoldenCase::load("dc_pipeline_tiny");
    auto model = load_pipeline_unet(gc);
    CHECK(model->config.variant == LVDMVariant::DynamiCrafter);
    torch::NoGradGuard no_grad;
    const at::Tensor x = gc.io("eta0.x_T");
    const at::Tensor x_in = at::cat({x, gc.io("img_cat_cond")}, 1);  // [1, 8, 16, 4, 8]
    const int64_t step = gc.io("ddim_timesteps")[-1].item<int64_t>();
    const at::Tensor t = at::full({1}, step, at::kLong);
    LVDMUNet3DConditioning cond;
    cond.fs = at::full({1}, gc.meta().at("fs").get<int64_t>(), at::kLong);
    const at::Tensor v_c = model->forward(x_in, t, at::cat({gc.io("cond_emb"), gc.io("img_emb")}, 1), cond);
    const at::Tensor v_u = model->forward(x_in, t, at::cat({gc.io("uc_emb"), gc.io("uc_img_emb")}, 1), cond);
    at::Tensor v = v_u + gc.meta().at("cfg").get<double>() * (v_c - v_u);
    const double rescale = gc.meta().at("guidance_rescale").get<double>();
    const at::Tensor std_c = v_c.std({1, 2, 3, 4}, /*unbiased=*/true, /*keepdim=*/true);
    const at::Tensor std_cfg = v.std({1, 2, 3, 4}, /*unbiased=*/true, /*keepdim=*/true);
    v = rescale * (v * (std_c / std_cfg)) + (1.0 - rescale) * v;
    const double a = gc.io("alphas_cumprod")[step].item<double>();
    const at::Tensor x0 = std::sqrt(a) * x - std::sqrt(1.0 - a) * v;
    const at::Tensor ref = gc.io("eta0.pred_x0")[1];
    const double max_abs_diff = (x0 - ref).abs().max().item<double>();
    CAPTURE(max_abs_diff);
    REQUIRE_MAXDIFF_REL(x0, ref, 1e-4);
}

#endif  // KINORA_TEST_HAVE_CKPT_READER

// Channels-last 2-D convolutions (the CUDA default) forced on the CPU: the same goldens at the same tolerance.
TEST_CASE("LVDMUNet3D: channels-last convolutions still match the t2v and i2v goldens", "[models]") {
    for (const char* name : {"vc_unet3d_t2v_tiny", "vc_unet3d_i2v_tiny"}) {
        CAPTURE(name);
        auto gc = test_support::GoldenCase::load(name);
        auto model = load_golden_model(gc);
        model->set_channels_last(true);
        REQUIRE(model->channels_last());
        at::Tensor eps = run_golden(gc, model);
        CHECK(eps.is_contiguous());
        const double max_abs_diff = (eps - gc.io("eps")).abs().max().item<double>();
        CAPTURE(max_abs_diff);
        REQUIRE_MAXDIFF_REL(eps, gc.io("eps"), 1e-4);
    }
}
