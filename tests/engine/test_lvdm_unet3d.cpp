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
#include "models/unets/lvdm_unet_3d.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

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
