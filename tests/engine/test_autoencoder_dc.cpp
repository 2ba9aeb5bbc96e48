// AutoencoderDC (Sana's DC-AE): diffusers goldens for decoder and encoder, the pipelines' VAEs, the
// LiteMLA attention forms, tiled decoding, and the errors for bad configs, weights and inputs.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/engine_error.h"
#include "io/safetensors.h"
#include "models/autoencoders/autoencoder_dc.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

using engine::ErrorCode;
using engine::models::AutoencoderDC;
using engine::models::AutoencoderDCConfig;
using test_support::GoldenCase;

namespace {

AutoencoderDC load_vae(const std::filesystem::path& dir) {
    auto ae = engine::models::load_autoencoder_dc(dir.string(), at::kFloat, at::kCPU);
    INFO((ae ? std::string() : ae.error().message));
    REQUIRE(ae.has_value());
    return *ae;
}

// diffusers' apply_linear_attention written out as diffusers does it (ones row appended to v), in float32.
at::Tensor padded_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    at::Tensor qf = at::relu(q.to(at::kFloat)), kf = at::relu(k.to(at::kFloat));
    at::Tensor vf = at::constant_pad_nd(v.to(at::kFloat), {0, 0, 0, 1}, 1.0);  // [B, G, Dv+1, N]
    at::Tensor o = at::matmul(at::matmul(vf, kf.transpose(-1, -2)), qf);       // [B, G, Dv+1, N]
    return o.slice(2, 0, -1) / (o.slice(2, -1) + eps);
}

std::string error_of(const engine::Expected<AutoencoderDCConfig>& c) {
    return c ? "" : c.error().message;
}

}  // namespace

TEST_CASE("AutoencoderDC: config of the tiny golden parses with diffusers' semantics", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    auto cfg = AutoencoderDCConfig::from_json(gc.config());
    INFO(error_of(cfg));
    REQUIRE(cfg.has_value());
    CHECK(cfg->latent_channels == 8);
    CHECK(cfg->attention_head_dim == 4);
    CHECK(cfg->decoder_block_types[2] == engine::models::DCBlockType::EfficientViTBlock);
    CHECK(cfg->upsample_block_type == engine::models::DCUpsampleType::Interpolate);
    CHECK(cfg->downsample_block_type == engine::models::DCDownsampleType::Conv);
    CHECK((cfg->decoder_act_fns == std::vector<engine::models::DCActivation>(4, engine::models::DCActivation::SiLU)));
    CHECK(cfg->scaling_factor == Approx(0.41407));
    CHECK(cfg->spatial_compression_ratio() == 8);
    CHECK(cfg->encoder_downsample_factor() == 8);
    CHECK(cfg->decoder_upsample_factor() == 8);

    // The Sana 1.0 hub config (docs/reference/sana.md §2.2): "Conv" spelled as on the hub, single strings.
    nlohmann::json sana = {
        {"_class_name", "AutoencoderDC"},
        {"_diffusers_version", "0.32.0"},
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
        {"encoder_qkv_multiscales",
         {nlohmann::json::array(), nlohmann::json::array(), nlohmann::json::array(), {5}, {5}, {5}}},
        {"decoder_qkv_multiscales",
         {nlohmann::json::array(), nlohmann::json::array(), nlohmann::json::array(), {5}, {5}, {5}}},
        {"downsample_block_type", "Conv"},
        {"upsample_block_type", "interpolate"},
        {"decoder_norm_types", "rms_norm"},
        {"decoder_act_fns", "silu"},
        {"encoder_out_shortcut", true},
        {"decoder_in_shortcut", true},
        {"decoder_conv_act_fn", "relu"},
        {"scaling_factor", 0.41407}};
    auto sana_cfg = AutoencoderDCConfig::from_json(sana);
    INFO(error_of(sana_cfg));
    REQUIRE(sana_cfg.has_value());
    CHECK(sana_cfg->decoder_norm_types.size() == 6);
    CHECK(sana_cfg->downsample_block_type == engine::models::DCDownsampleType::Conv);
    CHECK(sana_cfg->spatial_compression_ratio() == 32);
    CHECK(sana_cfg->decoder_upsample_factor() == 32);

    // The DC-AE "in" layout: stage 0 without layers, batch norm + relu ResBlocks, pixel (un)shuffle.
    nlohmann::json in_layout = sana;
    in_layout.erase("downsample_block_type");
    in_layout.erase("upsample_block_type");
    in_layout["encoder_layers_per_block"] = {0, 4, 8, 2, 2, 2};
    in_layout["decoder_layers_per_block"] = {0, 5, 10, 2, 2, 2};
    in_layout["decoder_norm_types"] = {"batch_norm", "batch_norm", "batch_norm", "rms_norm", "rms_norm", "rms_norm"};
    in_layout["decoder_act_fns"] = {"relu", "relu", "relu", "silu", "silu", "silu"};
    auto in_cfg = AutoencoderDCConfig::from_json(in_layout);
    INFO(error_of(in_cfg));
    REQUIRE(in_cfg.has_value());
    CHECK(in_cfg->encoder_downsample_factor() == 32);
    CHECK(in_cfg->decoder_upsample_factor() == 32);
}

TEST_CASE("AutoencoderDC: decoder matches diffusers on dcae_tiny (3x5 latent -> 24x40)", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());
    at::Tensor decoded = ae->decode(gc.io("latent"));
    const auto r = test_support::maxdiff_rel_report(decoded, gc.io("decoded"), 1e-4);
    INFO(r.summary);
    CAPTURE(r.max_abs_diff, r.max_abs_expected);
    CHECK(r.ok);
}

TEST_CASE("AutoencoderDC: encoder matches diffusers on dcae_tiny (24x40 image -> 3x5)", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());
    at::Tensor encoded = ae->encode(gc.io("image"));
    const auto r = test_support::maxdiff_rel_report(encoded, gc.io("encoded"), 1e-4);
    INFO(r.summary);
    CAPTURE(r.max_abs_diff, r.max_abs_expected);
    CHECK(r.ok);
}

TEST_CASE("AutoencoderDC: the Sana and Sana-Sprint pipelines' VAEs load strictly and decode", "[models]") {
    {
        // SanaPipeline: image = postprocess(vae.decode(latents / scaling_factor)), output_type "pt".
        auto gc = GoldenCase::load("sana_pipeline_tiny");
        AutoencoderDC ae = load_vae(gc.dir() / "vae");
        at::Tensor latents = gc.io("latents_per_step").select(0, -1);  // after the last step
        at::Tensor image = ae->decode(latents / ae->config.scaling_factor);
        image = (image / 2 + 0.5).clamp(0, 1);
        const auto r = test_support::maxdiff_rel_report(image, gc.io("image"), 1e-4);
        INFO(r.summary);
        CAPTURE(r.max_abs_diff);
        CHECK(r.ok);
    }
    {
        // Sprint decodes the last x0 estimate, which the golden does not record: load and shape only.
        auto gc = GoldenCase::load("sana_sprint_pipeline_tiny");
        AutoencoderDC ae = load_vae(gc.dir() / "vae");
        at::Tensor latents = gc.io("latents_per_step").select(0, -1);
        at::Tensor image = ae->decode(latents / ae->config.scaling_factor);
        CHECK(image.sizes() == gc.io("image").sizes());
        CHECK(torch::isfinite(image).all().item<bool>());
    }
}

TEST_CASE("AutoencoderDC: LiteMLA attention forms agree with diffusers' padded formulation", "[models]") {
    torch::manual_seed(3);
    for (int64_t n : {3, 4, 37, 300}) {
        CAPTURE(n);
        at::Tensor q = torch::randn({2, 3, 4, n}), k = torch::randn({2, 3, 4, n}), v = torch::randn({2, 3, 4, n});
        at::Tensor expected = padded_linear_attention(q, k, v, 1e-15);
        REQUIRE_ALLCLOSE(engine::models::dc_relu_linear_attention(q, k, v, 1e-15), expected, 1e-5, 1e-5);
        // The quadratic form diffusers switches to for H*W <= head_dim is the same function.
        REQUIRE_ALLCLOSE(engine::models::dc_relu_quadratic_attention(q, k, v, 1e-15), expected, 1e-5, 1e-5);
    }
    // Half-precision inputs: computed in float32 (ReLU on the upcast values), result in v's dtype.
    at::Tensor q = torch::randn({1, 2, 4, 50}), k = torch::randn({1, 2, 4, 50}), v = torch::randn({1, 2, 4, 50});
    at::Tensor out =
        engine::models::dc_relu_linear_attention(q.to(at::kBFloat16), k.to(at::kBFloat16), v.to(at::kBFloat16), 1e-15);
    CHECK(out.scalar_type() == at::kBFloat16);
    at::Tensor ref = padded_linear_attention(q.to(at::kBFloat16), k.to(at::kBFloat16), v.to(at::kBFloat16), 1e-15);
    REQUIRE_ALLCLOSE(out.to(at::kFloat), ref.to(at::kBFloat16).to(at::kFloat), 0, 1e-2);
}

TEST_CASE("AutoencoderDC: decoding a 1x2 latent takes diffusers' quadratic attention path", "[models]") {
    // The golden only has maps with H*W > attention_head_dim (4). A 1x2 latent sends the top stage through
    // the quadratic form (shown equal to the linear one above); here: it runs, is finite, shaped, and
    // batch items stay independent.
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());
    torch::manual_seed(5);
    at::Tensor z = torch::randn({2, 8, 1, 2});
    at::Tensor both = ae->decode(z);
    CHECK(both.sizes() == at::IntArrayRef({2, 3, 8, 16}));
    REQUIRE_ALLCLOSE(ae->decode(z.slice(0, 1, 2)), both.slice(0, 1, 2), 1e-5, 1e-6);
    CHECK(torch::isfinite(both).all().item<bool>());
}

TEST_CASE("AutoencoderDC: tiled_apply blends tiles back exactly for a local function", "[models]") {
    // A per-pixel function (nearest upsampling then a pointwise map) has no border effects, so any tiling
    // with any blend weights must reproduce it: this pins down tile placement, weights and normalization.
    auto fn = [](const at::Tensor& t) {
        return torch::tanh(at::repeat_interleave(at::repeat_interleave(t, 4, 2), 4, 3) * 1.5).slice(1, 0, 3);
    };
    torch::manual_seed(11);
    at::Tensor z = torch::randn({2, 5, 13, 22});
    at::Tensor whole = fn(z);
    for (auto [tile, overlap] : std::vector<std::pair<int64_t, int64_t>>{{4, 1}, {5, 2}, {6, 0}, {13, 3}, {30, 5}}) {
        CAPTURE(tile, overlap);
        REQUIRE_ALLCLOSE(engine::models::detail::tiled_apply(z, tile, overlap, 4, fn), whole, 0, 1e-6);
    }
}

TEST_CASE("AutoencoderDC: tiled decoding approximates untiled decoding on the tiny model", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());
    torch::manual_seed(7);
    at::Tensor z = torch::randn({1, 8, 12, 20});  // 96x160 pixels, 4x the golden's latent area and more
    at::Tensor full = ae->decode(z);

    SECTION("a tile covering the latent is exact") {
        REQUIRE_ALLCLOSE(ae->decode_tiled(z, 20, 4), full, 0, 0);
    }
    SECTION("several overlapping tiles") {
        // 8x8 tiles overlapping by 4 on the 12x20 latent: rows start at 0, 4 and columns at 0, 4, 8, 12
        // (stride 4; the last tile ends at the border), 8 tiles.
        const int64_t tile = 8, overlap = 4, f = 8;
        const std::vector<int64_t> ys{0, 4}, xs{0, 4, 8, 12};
        std::vector<std::pair<int64_t, int64_t>> progress;
        at::Tensor tiled = ae->decode_tiled(z, tile, overlap,
                                            [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
        REQUIRE(progress.size() == 8);
        CHECK(progress.back() == std::make_pair(int64_t{8}, int64_t{8}));
        REQUIRE(tiled.sizes() == full.sizes());
        at::Tensor err = (tiled - full).abs();

        // What no blending can remove: each tile decoded alone differs from the full decode over its area,
        // because the decoder's convs see zero padding at the tile border and its LiteMLA attention sums
        // over the tile instead of the whole map. Per pixel: the worst and the mean such error of the tiles
        // that cover it.
        at::Tensor worst = torch::zeros_like(full), sum = torch::zeros_like(full), count = torch::zeros_like(full);
        for (int64_t y : ys) {
            for (int64_t x : xs) {
                at::Tensor alone = ae->decode(z.slice(2, y, y + tile).slice(3, x, x + tile));
                auto region = [&](const at::Tensor& t) {
                    return t.slice(2, y * f, (y + tile) * f).slice(3, x * f, (x + tile) * f);
                };
                at::Tensor e = (alone - region(full)).abs();
                region(worst).copy_(at::maximum(region(worst), e));
                region(sum).add_(e);
                region(count).add_(1.0);
            }
        }
        const double context_mean = (sum / count).mean().item<double>();
        at::Tensor seams_err = (ae->decode_tiled(z, tile, 0) - full).abs();  // hard seams: no overlap
        at::Tensor big_err = (ae->decode_tiled(z, 16, 8) - full).abs();      // larger tiles, more context
        const double range = (full.max() - full.min()).item<double>();
        const double diff_max = err.max().item<double>(), diff_mean = err.mean().item<double>();
        const double seams_mean = seams_err.mean().item<double>(), big_mean = big_err.mean().item<double>();
        CAPTURE(range, diff_max, diff_mean, context_mean, seams_mean, seams_err.max().item<double>(), big_mean,
                big_err.max().item<double>());
        // The blend is a convex combination of the tiles: never worse than the worst tile at any pixel
        // (this fails for misplaced tiles or weights that do not sum to one).
        CHECK((err <= worst + 1e-5).all().item<bool>());
        // The ramps favour each tile's centre, so the result beats an even average of the tiles' own
        // errors, and beats hard-seamed tiling.
        CHECK(diff_mean < context_mean);
        CHECK(diff_mean < seams_mean);
        // More context per tile, less error.
        CHECK(big_mean < 0.5 * diff_mean);
    }
}

TEST_CASE("AutoencoderDC: bad configs, foreign weights and wrong inputs give clear errors", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    const nlohmann::json good = gc.config();

    SECTION("unknown block type") {
        nlohmann::json j = good;
        j["decoder_block_types"][1] = "AttnBlock";
        auto c = AutoencoderDCConfig::from_json(j);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains("AttnBlock"));
    }
    SECTION("unknown math-changing key") {
        nlohmann::json j = good;
        j["decoder_attention_type"] = "softmax";
        auto c = AutoencoderDCConfig::from_json(j);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains("decoder_attention_type"));
    }
    SECTION("config of another model class") {
        nlohmann::json j = good;
        j["_class_name"] = "AutoencoderKL";
        auto c = AutoencoderDCConfig::from_json(j);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains("AutoencoderKL"));
    }
    SECTION("inconsistent lists") {
        nlohmann::json j = good;
        j["decoder_layers_per_block"] = {1, 2, 1};
        auto c = AutoencoderDCConfig::from_json(j);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(c.error().message, Catch::Contains("decoder_layers_per_block"));
    }
    SECTION("weights of another model") {
        auto cfg = AutoencoderDCConfig::from_json(good);
        REQUIRE(cfg.has_value());
        auto transformer = GoldenCase::load("sana_transformer_tiny");
        auto weights = engine::io::load_safetensors(transformer.file("diffusion_pytorch_model.safetensors").string());
        REQUIRE(weights.has_value());
        auto ae = engine::models::load_autoencoder_dc(*cfg, *weights, at::kFloat, at::kCPU);
        REQUIRE_FALSE(ae.has_value());
        CHECK(ae.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(ae.error().message, Catch::Contains("another model"));
    }
    SECTION("weights of a differently sized DC-AE") {
        auto cfg = AutoencoderDCConfig::from_json(good);
        REQUIRE(cfg.has_value());
        auto pipeline = GoldenCase::load("sana_pipeline_tiny");
        auto weights = engine::io::load_safetensors(pipeline.file("vae/diffusion_pytorch_model.safetensors").string());
        REQUIRE(weights.has_value());
        auto ae = engine::models::load_autoencoder_dc(*cfg, *weights, at::kFloat, at::kCPU);
        REQUIRE_FALSE(ae.has_value());
        CHECK(ae.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(ae.error().message, Catch::Contains("missing from the checkpoint"));
    }
    SECTION("latent with the wrong channel count, image of the wrong size") {
        AutoencoderDC ae = load_vae(gc.dir());
        try {
            ae->decode(torch::zeros({1, 32, 3, 5}));
            FAIL("decode accepted a 32-channel latent");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("32 channels") && Catch::Contains("expects 8"));
        }
        try {
            ae->decode_tiled(torch::zeros({1, 8, 3}), 4, 1);
            FAIL("decode_tiled accepted a 3-D latent");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
        }
        try {
            ae->decode_tiled(torch::zeros({1, 8, 16, 16}), 4, 4);
            FAIL("decode_tiled accepted overlap == tile");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
        }
        try {
            ae->encode(torch::zeros({1, 3, 20, 40}));
            FAIL("encode accepted a 20-pixel-high image");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("multiples of 8"));
        }
    }
}

TEST_CASE("AutoencoderDC: bfloat16 weights run with bfloat16-sized errors", "[models]") {
    // The random tiny model amplifies perturbations a lot (rounding only its weights and inputs to bf16
    // moves the encoder's output by ~0.6 of ~7.7), so the yardstick is that storage error: computing in
    // bf16 (with diffusers' float32 RMSNorm statistics and float32 linear attention) must stay within a
    // small multiple of it. Measured here: about 2x for both encoder and decoder.
    auto gc = GoldenCase::load("dcae_tiny");
    auto bf16 = engine::models::load_autoencoder_dc(gc.dir().string(), at::kBFloat16, at::kCPU);
    REQUIRE(bf16.has_value());
    CHECK((*bf16)->dtype() == at::kBFloat16);
    AutoencoderDC rounded = load_vae(gc.dir());  // bf16-rounded weights, float32 compute
    rounded->to_dtype_device(at::kBFloat16, at::kCPU);
    rounded->to_dtype_device(at::kFloat, at::kCPU);
    auto round = [](const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); };

    at::Tensor dec = (*bf16)->decode(gc.io("latent"));
    at::Tensor enc = (*bf16)->encode(gc.io("image"));
    CHECK(dec.scalar_type() == at::kBFloat16);
    CHECK(enc.scalar_type() == at::kBFloat16);
    const double dec_err = (dec.to(at::kFloat) - gc.io("decoded")).abs().max().item<double>();
    const double enc_err = (enc.to(at::kFloat) - gc.io("encoded")).abs().max().item<double>();
    const double dec_store = (rounded->decode(round(gc.io("latent"))) - gc.io("decoded")).abs().max().item<double>();
    const double enc_store = (rounded->encode(round(gc.io("image"))) - gc.io("encoded")).abs().max().item<double>();
    CAPTURE(dec_err, dec_store, enc_err, enc_store);
    CHECK(dec_err <= 4 * dec_store);
    CHECK(enc_err <= 4 * enc_store);
}
