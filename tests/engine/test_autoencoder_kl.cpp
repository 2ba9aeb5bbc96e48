// AutoencoderKL (the VideoCrafter / DynamiCrafter first stage): LVDM goldens for decoder and encoder, the
// frame-by-frame video helpers (order, progress, cancellation, posterior sampling), config parsing and the
// errors for bad configs, weights and inputs.
#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>

#include "core/engine_error.h"
#include "io/safetensors.h"
#include "models/autoencoders/autoencoder_kl.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

using engine::ErrorCode;
using engine::models::AutoencoderKL;
using engine::models::AutoencoderKLConfig;
using test_support::GoldenCase;

namespace {

engine::io::TensorMap golden_weights(const GoldenCase& gc) {
    auto w = engine::io::load_safetensors(gc.file("weights.safetensors").string());
    REQUIRE(w.has_value());
    return *w;
}

// The golden's ddconfig.json carries no embed_dim; quant_conv maps 2·z_channels to 2·embed_dim channels.
int64_t golden_embed_dim(const engine::io::TensorMap& w) {
    return w.at("first_stage_model.quant_conv.weight").size(0) / 2;
}

AutoencoderKL load_golden_vae(const GoldenCase& gc) {
    const auto weights = golden_weights(gc);
    auto cfg = AutoencoderKLConfig::from_ddconfig(gc.config("ddconfig.json"), golden_embed_dim(weights));
    INFO((cfg ? std::string() : cfg.error().message));
    REQUIRE(cfg.has_value());
    auto ae = engine::models::load_autoencoder_kl(*cfg, weights, at::kFloat, at::kCPU);
    INFO((ae ? std::string() : ae.error().message));
    REQUIRE(ae.has_value());
    return *ae;
}

template <typename T>
std::string error_of(const engine::Expected<T>& e) {
    return e ? "" : e.error().message;
}

nlohmann::json tiny_ddconfig() {
    return {{"double_z", true},  {"z_channels", 4},     {"resolution", 64},
            {"in_channels", 3},  {"out_ch", 3},         {"ch", 32},
            {"ch_mult", {1, 2}}, {"num_res_blocks", 1}, {"attn_resolutions", nlohmann::json::array()},
            {"dropout", 0.0}};
}

}  // namespace

TEST_CASE("AutoencoderKL: the golden ddconfig and the LVDM first_stage_config parse", "[models]") {
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto cfg = AutoencoderKLConfig::from_ddconfig(gc.config("ddconfig.json"), 4);
    INFO(error_of(cfg));
    REQUIRE(cfg.has_value());
    CHECK(cfg->ch == 32);
    CHECK((cfg->ch_mult == std::vector<int64_t>{1, 2, 2}));
    CHECK(cfg->num_res_blocks == 1);
    CHECK(cfg->z_channels == 4);
    CHECK(cfg->attn_resolutions.empty());
    CHECK(cfg->downsample_factor() == 4);

    // The pipeline golden's first_stage_config, given as the whole {target, params} node and as params.
    auto pipe = GoldenCase::load("vc2_pipeline_tiny").config();
    const auto& node = pipe.at("model").at("params").at("first_stage_config");
    for (const auto* j : {&node, &node.at("params")}) {
        auto c = AutoencoderKLConfig::from_json(*j);
        INFO(error_of(c));
        REQUIRE(c.has_value());
        CHECK(c->embed_dim == 4);
        CHECK(c->ch == 32);
        CHECK(c->resolution == 64);
    }

    // The real VideoCrafter2 first stage (docs/reference/videocrafter.md §1.3): the SD-2.x VAE, f8.
    nlohmann::json real = {{"embed_dim", 4},
                           {"monitor", "val/rec_loss"},
                           {"ddconfig",
                            {{"double_z", true},
                             {"z_channels", 4},
                             {"resolution", 512},
                             {"in_channels", 3},
                             {"out_ch", 3},
                             {"ch", 128},
                             {"ch_mult", {1, 2, 4, 4}},
                             {"num_res_blocks", 2},
                             {"attn_resolutions", nlohmann::json::array()},
                             {"dropout", 0.0}}},
                           {"lossconfig", {{"target", "torch.nn.Identity"}}}};
    auto vc2 = AutoencoderKLConfig::from_json(real);
    INFO(error_of(vc2));
    REQUIRE(vc2.has_value());
    CHECK(vc2->downsample_factor() == 8);
    AutoencoderKL model(*vc2);
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    // 83,653,863: the count LVDM's constructor logic gives (re-derived in Python from ae_modules.py),
    // the SD-2.x VAE's ≈83.65 M of docs/reference/videocrafter.md §1.3.
    CHECK(params == 83653863);
}

TEST_CASE("AutoencoderKL: config errors name the key", "[models]") {
    SECTION("a required key is missing") {
        auto dd = tiny_ddconfig();
        dd.erase("z_channels");
        auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(c.error().message, Catch::Contains("z_channels"));
    }
    SECTION("a wrong type") {
        auto dd = tiny_ddconfig();
        dd["ch_mult"] = "1,2";
        auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(c.error().message, Catch::Contains("ch_mult"));
    }
    SECTION("linear attention is another network") {
        auto dd = tiny_ddconfig();
        dd["attn_type"] = "linear";
        auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains("linear"));
    }
    SECTION("an unknown ddconfig key") {
        auto dd = tiny_ddconfig();
        dd["use_3d_conv"] = true;
        auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains("use_3d_conv"));
    }
    SECTION("single z") {
        auto dd = tiny_ddconfig();
        dd["double_z"] = false;
        auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
    }
    SECTION("another first-stage class") {
        nlohmann::json node = {{"target", "lvdm.models.autoencoder.VQModel"},
                               {"params", {{"embed_dim", 4}, {"ddconfig", tiny_ddconfig()}}}};
        auto c = AutoencoderKLConfig::from_json(node);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains("VQModel"));
    }
    SECTION("GroupNorm(32) needs ch to be a multiple of 32") {
        auto dd = tiny_ddconfig();
        dd["ch"] = 48;
        auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
        REQUIRE_FALSE(c.has_value());
        CHECK_THAT(c.error().message, Catch::Contains("multiple of 32"));
    }
}

TEST_CASE("AutoencoderKL: decoder matches LVDM (vc_autoencoder_tiny)", "[models]") {
    torch::NoGradGuard no_grad;
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto ae = load_golden_vae(gc);
    at::Tensor decoded = ae->decode(gc.io("z"));  // [2, 3, 24, 40]
    const auto report = test_support::maxdiff_rel_report(decoded, gc.io("decoded"), 1e-4);
    INFO(report.summary);
    WARN("vc_autoencoder_tiny decode: max abs diff " << report.max_abs_diff << " (max |ref| " << report.max_abs_expected
                                                     << ")");
    REQUIRE(report.ok);
}

TEST_CASE("AutoencoderKL: encoder posterior mean matches LVDM (vc_autoencoder_tiny)", "[models]") {
    torch::NoGradGuard no_grad;
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto ae = load_golden_vae(gc);
    auto posterior = ae->encode(gc.io("image"));  // mean [1, 4, 6, 10]
    const auto report = test_support::maxdiff_rel_report(posterior.mean, gc.io("posterior_mean"), 1e-4);
    INFO(report.summary);
    WARN("vc_autoencoder_tiny encode: max abs diff " << report.max_abs_diff << " (max |ref| " << report.max_abs_expected
                                                     << ")");
    REQUIRE(report.ok);
    CHECK(posterior.logvar.max().item<double>() <= 20.0);
    CHECK(posterior.logvar.min().item<double>() >= -30.0);
    REQUIRE_ALLCLOSE(posterior.std, at::exp(0.5 * posterior.logvar), 0, 0);
}

TEST_CASE("AutoencoderKL: video decode folds (b, t) like LVDM, per frame or batched, with progress", "[models]") {
    torch::NoGradGuard no_grad;
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto ae = load_golden_vae(gc);
    // The golden's two latents as two frames of one video and as one frame of two videos.
    const at::Tensor z = gc.io("z");  // [2, 4, 6, 10]
    const at::Tensor decoded = gc.io("decoded");
    const at::Tensor as_frames = z.permute({1, 0, 2, 3}).unsqueeze(0);  // [1, 4, 2, 6, 10]
    const at::Tensor as_videos = z.unsqueeze(2);                        // [2, 4, 1, 6, 10]

    for (int64_t per_call : {int64_t{1}, int64_t{0}, int64_t{5}}) {
        CAPTURE(per_call);
        std::vector<std::pair<int64_t, int64_t>> calls;
        engine::models::VideoCodingOptions options;
        options.frames_per_call = per_call;
        options.on_frames = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };
        at::Tensor video = engine::models::decode_video(*ae, as_frames, options);  // [1, 3, 2, 24, 40]
        REQUIRE(video.sizes() == at::IntArrayRef({1, 3, 2, 24, 40}));
        REQUIRE_MAXDIFF_REL(video[0].permute({1, 0, 2, 3}), decoded, 1e-4);
        if (per_call == 1) {
            CHECK((calls == std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 2}}));
        } else {
            CHECK((calls == std::vector<std::pair<int64_t, int64_t>>{{2, 2}}));
        }
        at::Tensor videos = engine::models::decode_video(*ae, as_videos, options);  // [2, 3, 1, 24, 40]
        REQUIRE_MAXDIFF_REL(videos.squeeze(2), decoded, 1e-4);
    }
}

TEST_CASE("AutoencoderKL: a throwing progress callback stops the video decode between frames", "[models]") {
    torch::NoGradGuard no_grad;
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto ae = load_golden_vae(gc);
    const at::Tensor latent = gc.io("z").permute({1, 0, 2, 3}).unsqueeze(0).repeat({1, 1, 3, 1, 1});  // 6 frames
    int seen = 0;
    engine::models::VideoCodingOptions options;
    options.frames_per_call = 1;
    options.on_frames = [&](int64_t done, int64_t) {
        ++seen;
        if (done == 2) throw engine::core::EngineError(ErrorCode::InvalidRequest, "cancelled");
    };
    CHECK_THROWS_WITH(engine::models::decode_video(*ae, latent, options), "cancelled");
    CHECK(seen == 2);
}

TEST_CASE("AutoencoderKL: posterior samples draw LVDM's CPU noise per call", "[models]") {
    torch::NoGradGuard no_grad;
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto ae = load_golden_vae(gc);
    const at::Tensor image = gc.io("image");                              // [1, 3, 24, 40]
    const at::Tensor video = image.unsqueeze(2).repeat({1, 1, 3, 1, 1});  // [1, 3, 3, 24, 40]
    auto posterior = ae->encode(image);

    SECTION("sample(noise) is mean + std * noise") {
        at::Tensor noise = torch::randn(posterior.mean.sizes());
        REQUIRE_ALLCLOSE(posterior.sample(noise), posterior.mean + posterior.std * noise, 0, 0);
        CHECK_THROWS_AS(posterior.sample(torch::randn({1, 4})), engine::core::EngineError);
    }
    SECTION("per frame: one [1, C, h, w] draw per frame, in frame order, from the given generator") {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
        engine::models::VideoCodingOptions options;
        options.frames_per_call = 1;
        at::Tensor z = engine::models::encode_video(*ae, video, engine::models::LatentChoice::Sample, options, gen);
        REQUIRE(z.sizes() == at::IntArrayRef({1, 4, 3, 6, 10}));
        auto replay = at::make_generator<at::CPUGeneratorImpl>(1234);
        for (int64_t f = 0; f < 3; ++f) {
            at::Tensor noise = at::randn(posterior.mean.sizes(), replay);
            REQUIRE_MAXDIFF_REL(z.select(2, f), posterior.mean + posterior.std * noise, 1e-5);
        }
    }
    SECTION("batched: one [(B*F), C, h, w] draw from the global generator") {
        engine::models::VideoCodingOptions options;
        options.frames_per_call = 0;
        torch::manual_seed(77);
        at::Tensor z = engine::models::encode_video(*ae, video, engine::models::LatentChoice::Sample, options);
        torch::manual_seed(77);
        at::Tensor noise = torch::randn({3, 4, 6, 10});
        for (int64_t f = 0; f < 3; ++f) {
            REQUIRE_MAXDIFF_REL(z.select(2, f), posterior.mean + posterior.std * noise.narrow(0, f, 1), 1e-5);
        }
    }
    SECTION("mean: the posterior mean of every frame") {
        at::Tensor z = engine::models::encode_video(*ae, video, engine::models::LatentChoice::Mean);
        for (int64_t f = 0; f < 3; ++f) REQUIRE_MAXDIFF_REL(z.select(2, f), gc.io("posterior_mean"), 1e-4);
    }
}

TEST_CASE("AutoencoderKL: attention levels follow attn_resolutions with LVDM's key names", "[models]") {
    auto dd = tiny_ddconfig();
    dd["attn_resolutions"] = {32};  // resolution 64 → level 1 of the encoder, level 1 of the decoder
    auto c = AutoencoderKLConfig::from_ddconfig(dd, 4);
    REQUIRE(c.has_value());
    AutoencoderKL model(*c);
    std::set<std::string> keys;
    for (const auto& item : model->named_parameters()) keys.insert(item.key());
    CHECK(keys.count("encoder.down.1.attn.0.q.weight"));
    CHECK_FALSE(keys.count("encoder.down.0.attn.0.q.weight"));
    CHECK(keys.count("decoder.up.1.attn.1.proj_out.weight"));  // num_res_blocks + 1 blocks per decoder level
    CHECK_FALSE(keys.count("decoder.up.0.attn.0.q.weight"));
    CHECK(keys.count("encoder.down.0.downsample.conv.weight"));
    CHECK_FALSE(keys.count("encoder.down.1.downsample.conv.weight"));
    CHECK(keys.count("decoder.up.1.upsample.conv.weight"));
    CHECK_FALSE(keys.count("decoder.up.0.upsample.conv.weight"));
    CHECK(keys.count("encoder.down.1.block.0.nin_shortcut.weight"));
    CHECK(keys.count("decoder.up.0.block.0.nin_shortcut.weight"));
    torch::NoGradGuard no_grad;
    at::Tensor x = torch::randn({1, 3, 16, 24});
    auto posterior = model->encode(x);
    CHECK(posterior.mean.sizes() == at::IntArrayRef({1, 4, 8, 12}));
    CHECK(model->decode(posterior.mean).sizes() == at::IntArrayRef({1, 3, 16, 24}));
}

TEST_CASE("AutoencoderKL: loading and input errors are explained", "[models]") {
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto weights = golden_weights(gc);
    auto cfg = AutoencoderKLConfig::from_ddconfig(gc.config("ddconfig.json"), 4);
    REQUIRE(cfg.has_value());

    SECTION("weights of another model") {
        engine::io::TensorMap other = {{"model.diffusion_model.out.2.weight", torch::zeros({4, 32, 3, 3})}};
        auto ae = engine::models::load_autoencoder_kl(*cfg, other, at::kFloat, at::kCPU);
        REQUIRE_FALSE(ae.has_value());
        CHECK(ae.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(ae.error().message, Catch::Contains("first_stage_model."));
    }
    SECTION("a missing tensor") {
        weights.erase("first_stage_model.decoder.mid.attn_1.q.weight");
        auto ae = engine::models::load_autoencoder_kl(*cfg, weights, at::kFloat, at::kCPU);
        REQUIRE_FALSE(ae.has_value());
        CHECK(ae.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(ae.error().message, Catch::Contains("decoder.mid.attn_1.q.weight"));
    }
    SECTION("a config that does not fit the weights") {
        auto wrong = *cfg;
        wrong.ch = 64;
        auto ae = engine::models::load_autoencoder_kl(wrong, weights, at::kFloat, at::kCPU);
        REQUIRE_FALSE(ae.has_value());
        CHECK(ae.error().code == ErrorCode::ModelLoadFailed);
    }
    SECTION("the other keys of an LVDM checkpoint are ignored, a bare state dict loads with prefix \"\"") {
        weights["model.diffusion_model.out.2.weight"] = torch::zeros({4, 32, 3, 3});
        auto ae = engine::models::load_autoencoder_kl(*cfg, weights, at::kFloat, at::kCPU);
        INFO(error_of(ae));
        CHECK(ae.has_value());
        engine::io::TensorMap bare;
        for (const auto& [k, v] : weights) {
            if (k.rfind("first_stage_model.", 0) == 0) bare.emplace(k.substr(18), v);
        }
        auto ae2 = engine::models::load_autoencoder_kl(*cfg, bare, at::kFloat, at::kCPU, "");
        INFO(error_of(ae2));
        CHECK(ae2.has_value());
    }
    SECTION("bad inputs") {
        auto ae = load_golden_vae(gc);
        torch::NoGradGuard no_grad;
        CHECK_THROWS_AS(ae->decode(torch::zeros({1, 3, 6, 10})), engine::core::EngineError);
        CHECK_THROWS_AS(ae->decode(torch::zeros({4, 6, 10})), engine::core::EngineError);
        CHECK_THROWS_AS(ae->encode(torch::zeros({1, 3, 25, 40})), engine::core::EngineError);
        CHECK_THROWS_AS(ae->encode(torch::zeros({1, 3, 24, 40}, at::kLong)), engine::core::EngineError);
        CHECK_THROWS_AS(engine::models::decode_video(*ae, torch::zeros({1, 4, 6, 10})), engine::core::EngineError);
        engine::models::VideoCodingOptions negative;
        negative.frames_per_call = -1;
        CHECK_THROWS_AS(engine::models::decode_video(*ae, torch::zeros({1, 4, 2, 6, 10}), negative),
                        engine::core::EngineError);
    }
}

// Channels-last convolutions (the CUDA default) forced on the CPU: the same goldens at the same tolerance.
TEST_CASE("AutoencoderKL: channels-last weights and activations still match LVDM (vc_autoencoder_tiny)", "[models]") {
    auto gc = GoldenCase::load("vc_autoencoder_tiny");
    auto ae = load_golden_vae(gc);
    ae->set_channels_last(true);
    at::Tensor decoded = ae->decode(gc.io("z"));
    CHECK(decoded.is_contiguous());
    const auto d = test_support::maxdiff_rel_report(decoded, gc.io("decoded"), 1e-4);
    INFO(d.summary);
    CAPTURE(d.max_abs_diff);
    CHECK(d.ok);
    auto posterior = ae->encode(gc.io("image"));
    const auto e = test_support::maxdiff_rel_report(posterior.mean, gc.io("posterior_mean"), 1e-4);
    INFO(e.summary);
    CAPTURE(e.max_abs_diff);
    CHECK(e.ok);
}
