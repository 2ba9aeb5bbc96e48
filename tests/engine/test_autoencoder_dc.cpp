// AutoencoderDC (Sana's DC-AE): diffusers goldens for decoder and encoder, the pipelines' VAEs, the
// LiteMLA attention forms, exact tiled decoding (plan, equality, halo, memory), and the errors for bad
// configs, weights and inputs.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

#include "core/engine_error.h"
#include "io/safetensors.h"
#include "models/autoencoders/autoencoder_dc.h"
#include "support/cpu_memory.h"
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

// ---------------------------------------------------------------------------------------------------
// Tiled decoding
//
// decode_tiled runs the decoder's global part (conv_in and the stages down to the last LiteMLA attention)
// on the whole latent and the rest in windows with a halo of context, keeping each window's core. The
// windows compute the same sums as the untiled decode; what can change is float rounding, because
// convolution kernels block and order their sums by input shape. The tolerance for "the same":
// kTiledTol relative to max(1, max|untiled|). Float32 rounding is 6e-8 relative; the tiny random models
// amplify perturbations strongly (see the bfloat16 test: 0.6 out of 7.7 from rounding the inputs), so
// 1e-5 leaves room for that amplification of reordered sums while anything that changes the
// computation (a missing halo pixel, misplaced cores) shows up orders of magnitude above it.
// ---------------------------------------------------------------------------------------------------
namespace {

constexpr double kTiledTol = 1e-5;

// max|a - b| / max(1, max|b|)
double rel_maxdiff(const at::Tensor& actual, const at::Tensor& expected) {
    REQUIRE(actual.sizes() == expected.sizes());
    const auto r = test_support::maxdiff_rel_report(actual, expected, 1.0);
    return r.max_abs_diff / std::max(1.0, r.max_abs_expected);
}

// The plan's halo gives the untiled result, and tiles without a halo do not (so this check can fail: a
// missing or misplaced halo shows up orders of magnitude above kTiledTol). That the plan's halo is the
// reach of the local part, not a guess that happens to be large enough, is checked separately
// (check_receptive_field). Returns the diffs measured.
std::pair<double, double> check_tiling_is_exact(AutoencoderDC& ae, const at::Tensor& z, int64_t tile,
                                                const at::Tensor& untiled) {
    const double exact = rel_maxdiff(ae->decode_tiled(z, tile), untiled);
    const double no_halo = rel_maxdiff(ae->decode_tiled_with_halo(z, tile, 0), untiled);
    CAPTURE(tile, ae->tiled_decode_plan().halo, exact, no_halo);
    CHECK(exact <= kTiledTol);
    CHECK(no_halo > 100 * kTiledTol);
    return {exact, no_halo};
}

// The reach of the decoder's local part, measured: in float64, one row (then one column) of a base map is
// perturbed; output pixels outside its receptive field come out bit for bit the same (they are computed
// from the same numbers by the same kernels), those inside change. The farthest changed output pixel,
// in base pixels from the perturbed one, must be the plan's halo on both sides: a smaller halo would cut
// context off (seams), a larger one would only cost time. A whole row is perturbed so that many paths
// reach the edge of the field (a ReLU cannot close them all), and float64 keeps the weak far influence
// above rounding.
void check_receptive_field(AutoencoderDC& ae, uint64_t seed) {
    const auto plan = ae->tiled_decode_plan();
    const auto& ch = ae->config.decoder_block_out_channels;
    const int64_t channels = ch[static_cast<std::size_t>(std::min<int64_t>(plan.split_stage, ch.size() - 1))];
    ae->to_dtype_device(at::kDouble, at::kCPU);
    const int64_t n = 2 * plan.halo + 5, p = plan.halo + 2;  // the field fits inside the map
    torch::manual_seed(seed);
    at::Tensor base = torch::randn({1, channels, n, n}, at::kDouble);
    const at::Tensor out = ae->decode_local(base);
    for (int64_t dim : {2, 3}) {
        at::Tensor perturbed = base.clone();
        perturbed.select(dim, p).add_(torch::randn_like(perturbed.select(dim, p)));
        const at::Tensor changed = (ae->decode_local(perturbed) != out).any(1).any(0).any(dim == 2 ? 1 : 0);
        const at::Tensor idx = changed.nonzero().flatten();  // output rows (columns) that changed
        REQUIRE(idx.numel() > 0);
        const int64_t first = idx.min().item<int64_t>() / plan.local_scale;
        const int64_t last = idx.max().item<int64_t>() / plan.local_scale;
        CAPTURE(dim, plan.halo, p, first, last);
        CHECK(p - first == plan.halo);
        CHECK(last - p == plan.halo);
    }
    ae->to_dtype_device(at::kFloat, at::kCPU);
}

// A random DC-AE with the layout of Sana's dc-ae-f32c32-sana-1.0 decoder (docs/reference/sana.md §2.2-2.3:
// six stages of 3 layers, ResBlocks in stages 0-2, EfficientViT blocks with a 5x5 multiscale branch in
// 3-5, nearest-interpolate up blocks) but 1/32 of its channels: where the decoder can be cut and how far
// its convolutions reach depend on the kernels and up blocks only.
AutoencoderDCConfig sana_layout_config() {
    AutoencoderDCConfig c;
    c.latent_channels = 8;
    c.attention_head_dim = 4;
    c.encoder_block_types = {engine::models::DCBlockType::ResBlock, engine::models::DCBlockType::ResBlock,
                             engine::models::DCBlockType::ResBlock, engine::models::DCBlockType::EfficientViTBlock,
                             engine::models::DCBlockType::EfficientViTBlock,
                             engine::models::DCBlockType::EfficientViTBlock};
    c.decoder_block_types = c.encoder_block_types;
    c.encoder_block_out_channels = {4, 8, 16, 16, 32, 32};
    c.decoder_block_out_channels = {4, 8, 16, 16, 32, 32};
    c.encoder_layers_per_block = {2, 2, 2, 3, 3, 3};
    c.decoder_layers_per_block = {3, 3, 3, 3, 3, 3};
    c.upsample_block_type = engine::models::DCUpsampleType::Interpolate;
    c.downsample_block_type = engine::models::DCDownsampleType::Conv;
    c.decoder_act_fns = std::vector<engine::models::DCActivation>(6, engine::models::DCActivation::SiLU);
    c.decoder_norm_types = std::vector<engine::models::DCNormType>(6, engine::models::DCNormType::RmsNorm);
    return c;
}

// The DC-AE "in" layout (as in the config test above): no layers in stage 0 (conv_out is a pixel-shuffle
// up block), batch-norm ReLU ResBlocks, conv + pixel-shuffle up blocks.
AutoencoderDCConfig in_layout_config() {
    AutoencoderDCConfig c = sana_layout_config();
    c.decoder_layers_per_block = {0, 5, 10, 2, 2, 2};
    c.encoder_layers_per_block = {0, 4, 8, 2, 2, 2};
    c.upsample_block_type = engine::models::DCUpsampleType::PixelShuffle;
    c.downsample_block_type = engine::models::DCDownsampleType::PixelUnshuffle;
    c.decoder_norm_types = {engine::models::DCNormType::BatchNorm, engine::models::DCNormType::BatchNorm,
                            engine::models::DCNormType::BatchNorm, engine::models::DCNormType::RmsNorm,
                            engine::models::DCNormType::RmsNorm, engine::models::DCNormType::RmsNorm};
    c.decoder_act_fns = {engine::models::DCActivation::ReLU, engine::models::DCActivation::ReLU,
                         engine::models::DCActivation::ReLU, engine::models::DCActivation::SiLU,
                         engine::models::DCActivation::SiLU, engine::models::DCActivation::SiLU};
    return c;
}

AutoencoderDC random_vae(const AutoencoderDCConfig& config, uint64_t seed) {
    REQUIRE(config.validate().has_value());
    torch::manual_seed(seed);
    AutoencoderDC ae(config);
    // Random batch-norm statistics, so that the "in" layout's norms are not the identity.
    torch::NoGradGuard no_grad;
    for (auto& b : ae->named_buffers()) {
        if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0.0, 0.5);
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    }
    return ae;
}

}  // namespace

// The channels-last decoder (the CUDA default) has its own formulations of the up blocks (a broadcast nearest
// upsampling, the pixel-shuffle shortcut as a broadcast view added into the conv with its bias) and of the multiscale
// projections' grouped 1x1 convolutions (one batched GEMM). The goldens cover two of the three channel ratios of an up
// block's shortcut (repeats 2 and 4); this layout has all three (32 -> 32: 4, 32 -> 16: 2, 16 -> 4: 1), random
// biases, and 12 groups in the projections.
TEST_CASE("AutoencoderDC: channels-last decoding equals NCHW decoding for every up-block channel ratio", "[models]") {
    AutoencoderDCConfig c = sana_layout_config();
    c.encoder_block_out_channels = {4, 16, 16, 32, 32, 32};
    c.decoder_block_out_channels = {4, 16, 16, 32, 32, 32};
    c.decoder_layers_per_block = {1, 1, 1, 1, 1, 1};
    AutoencoderDC ae = random_vae(c, 12);
    torch::manual_seed(13);
    at::Tensor z = torch::randn({2, 8, 2, 3});  // 64x96 px
    at::Tensor nchw = ae->decode(z);
    ae->set_channels_last(true);
    at::Tensor channels_last = ae->decode(z);
    ae->set_channels_last(false);
    const double diff = rel_maxdiff(channels_last, nchw);
    CAPTURE(diff);
    CHECK(diff <= 1e-5);
    CHECK(rel_maxdiff(channels_last.slice(0, 1, 2), ae->decode(z.slice(0, 1, 2))) <= 1e-5);
}

TEST_CASE("AutoencoderDC: the tiled-decode plan cuts after the last attention stage", "[models]") {
    // Halo by hand, walking back from the output (conv reach k/2 = 1 for 3x3; an up block halves the
    // context, rounding up, on the input side of its conv for nearest-interpolate, before it for pixel
    // shuffle). Each is then confirmed as the measured reach of the local part (check_receptive_field).
    SECTION("dcae_tiny: stages 3-2 global; 1-0 local") {
        auto gc = GoldenCase::load("dcae_tiny");
        AutoencoderDC ae = load_vae(gc.dir());
        const auto p = ae->tiled_decode_plan();
        CHECK(p.split_stage == 2);
        CHECK(p.global_scale == 2);  // stage 2's up block
        CHECK(p.local_scale == 4);   // stages 1 and 0 up blocks
        // conv_out 1; stage 0: ResBlock +2 = 3, up conv +1 = 4 → 2; stage 1: 2 ResBlocks +4 = 6,
        // up conv +1 = 7 → 4.
        CHECK(p.halo == 4);
        check_receptive_field(ae, 31);
    }
    SECTION("the tiny pipelines' VAE: stage 1 global; 0 local") {
        auto gc = GoldenCase::load("sana_pipeline_tiny");
        AutoencoderDC ae = load_vae(gc.dir() / "vae");
        const auto p = ae->tiled_decode_plan();
        CHECK(p.split_stage == 1);
        CHECK(p.global_scale == 1);
        CHECK(p.local_scale == 2);
        CHECK(p.halo == 2);  // conv_out 1, ResBlock 3, up conv 4 → 2
        check_receptive_field(ae, 32);
    }
    SECTION("Sana 1.0 layout: stages 5-3 global; 2-0 local, 8x up") {
        AutoencoderDC ae = random_vae(sana_layout_config(), 1);
        const auto p = ae->tiled_decode_plan();
        CHECK(p.split_stage == 3);
        CHECK(p.global_scale == 4);
        CHECK(p.local_scale == 8);
        // conv_out 1; stage 0: 3 ResBlocks 7, up conv 8 → 4; stage 1: 10, 11 → 6; stage 2: 12, 13 → 7.
        // That is 56 output pixels, 1.75 latent pixels.
        CHECK(p.halo == 7);
        check_receptive_field(ae, 33);
    }
    SECTION("DC-AE in layout: pixel shuffle, conv_out up block") {
        AutoencoderDC ae = random_vae(in_layout_config(), 2);
        const auto p = ae->tiled_decode_plan();
        CHECK(p.split_stage == 3);
        CHECK(p.global_scale == 4);
        CHECK(p.local_scale == 8);
        // conv_out block: conv 1 before the shuffle → 1; stage 1: 5 ResBlocks 11, shuffle → 6, conv 7;
        // stage 2: 10 ResBlocks 27, shuffle → 14, conv 15.
        CHECK(p.halo == 15);
        check_receptive_field(ae, 34);
    }
}

TEST_CASE("AutoencoderDC: tiled decoding equals untiled decoding on dcae_tiny", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());

    SECTION("the golden latent, one latent pixel per tile") {
        at::Tensor z = gc.io("latent");  // [1, 8, 3, 5]
        at::Tensor untiled = ae->decode(z);
        std::vector<std::pair<int64_t, int64_t>> progress;
        at::Tensor tiled =
            ae->decode_tiled(z, 1, [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
        CHECK(progress.size() == 15);
        CHECK(progress.back() == std::make_pair(int64_t{15}, int64_t{15}));
        const auto r = test_support::maxdiff_rel_report(tiled, gc.io("decoded"), 1e-4);  // the golden rule
        INFO(r.summary);
        CHECK(r.ok);
        const double diff = rel_maxdiff(tiled, untiled);
        CAPTURE(diff, r.max_abs_diff);
        CHECK(diff <= kTiledTol);
        check_tiling_is_exact(ae, z, 2, untiled);
    }
    SECTION("a latent of one tile is decode() exactly") {
        at::Tensor z = gc.io("latent");
        REQUIRE_ALLCLOSE(ae->decode_tiled(z, 5), ae->decode(z), 0, 0);
    }
    SECTION("a 40x56 random latent (320x448 px) in 35 and 96 tiles, batch of 2") {
        torch::manual_seed(7);
        at::Tensor z = torch::randn({2, 8, 40, 56});
        at::Tensor untiled = ae->decode(z);
        const auto [exact8, short8] = check_tiling_is_exact(ae, z, 8, untiled);   // 5 x 7 tiles of 8x8
        const auto [exact5, short5] = check_tiling_is_exact(ae, z, 5, untiled);   // 8 x 12, uneven (56/12)
        const auto [exact13, short13] = check_tiling_is_exact(ae, z, 13, untiled);  // 4 x 5, uneven
        CAPTURE(exact8, short8, exact5, short5, exact13, short13);
        // The whole latent through the plan's two parts is decode() itself.
        REQUIRE_ALLCLOSE(ae->decode_local(ae->decode_global(z)), untiled, 0, 0);
    }
}

TEST_CASE("AutoencoderDC: tiled decoding equals untiled decoding for the tiny pipelines' VAEs", "[models]") {
    {
        auto gc = GoldenCase::load("sana_pipeline_tiny");
        AutoencoderDC ae = load_vae(gc.dir() / "vae");
        at::Tensor z = gc.io("latents_per_step").select(0, -1) / ae->config.scaling_factor;  // [1, 8, 32, 48]
        at::Tensor untiled = ae->decode(z);
        check_tiling_is_exact(ae, z, 8, untiled);  // 4 x 6 tiles
        check_tiling_is_exact(ae, z, 7, untiled);  // 5 x 7, uneven
        // And the pipeline's image from tiles still matches diffusers.
        at::Tensor image = (ae->decode_tiled(z, 8) / 2 + 0.5).clamp(0, 1);
        const auto r = test_support::maxdiff_rel_report(image, gc.io("image"), 1e-4);
        INFO(r.summary);
        CAPTURE(r.max_abs_diff);
        CHECK(r.ok);
    }
    {
        auto gc = GoldenCase::load("sana_sprint_pipeline_tiny");
        AutoencoderDC ae = load_vae(gc.dir() / "vae");
        at::Tensor z = gc.io("latents_per_step").select(0, -1) / ae->config.scaling_factor;
        check_tiling_is_exact(ae, z, 6, ae->decode(z));
    }
}

TEST_CASE("AutoencoderDC: tiled decoding is exact for the Sana 1.0 and DC-AE in layouts", "[models]") {
    SECTION("Sana 1.0 layout (random weights, 1/32 of the channels)") {
        AutoencoderDC ae = random_vae(sana_layout_config(), 3);
        torch::manual_seed(8);
        at::Tensor z = torch::randn({1, 8, 6, 9});  // 192x288 px
        at::Tensor untiled = ae->decode(z);
        check_tiling_is_exact(ae, z, 2, untiled);  // 3 x 5 tiles
        check_tiling_is_exact(ae, z, 4, untiled);  // 2 x 3, uneven
    }
    SECTION("DC-AE in layout (random weights and batch-norm statistics)") {
        AutoencoderDC ae = random_vae(in_layout_config(), 4);
        torch::manual_seed(9);
        at::Tensor z = torch::randn({1, 8, 5, 7});  // 160x224 px
        at::Tensor untiled = ae->decode(z);
        check_tiling_is_exact(ae, z, 2, untiled);
        check_tiling_is_exact(ae, z, 3, untiled);
    }
}

TEST_CASE("AutoencoderDC: tiled decoding bounds memory by the global part, one window and the output",
          "[models]") {
    // CPU tensor bytes, counted at LibTorch's CPU allocator (cpu_memory.h).
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());
    auto& meter = test_support::CpuMemoryMeter::install();
    torch::manual_seed(10);
    at::Tensor z = torch::randn({1, 8, 64, 64});  // 512x512 px
    auto peak_of = [&](const std::function<void()>& run) {
        meter.reset_peak();
        run();
        return static_cast<double>(meter.peak_bytes() - meter.baseline_bytes());
    };
    auto bytes = [](const at::Tensor& t) { return static_cast<double>(t.numel() * t.element_size()); };

    at::Tensor untiled;
    const double untiled_peak = peak_of([&] { untiled = ae->decode(z); });
    at::Tensor base;
    const double global_peak = peak_of([&] { base = ae->decode_global(z); });
    const auto plan = ae->tiled_decode_plan();
    for (int64_t tile : {8, 16}) {
        // The largest window: a core of tile latent pixels with a halo on both sides.
        const int64_t side = tile * plan.global_scale + 2 * plan.halo;
        at::Tensor window = base.slice(2, 0, side).slice(3, 0, side).contiguous();
        const double window_peak = peak_of([&] { ae->decode_local(window); });
        at::Tensor tiled;
        const double tiled_peak = peak_of([&] { tiled = ae->decode_tiled(z, tile); });
        const double bound = std::max(global_peak, bytes(base) + bytes(untiled) + bytes(window) + window_peak);
        CAPTURE(tile, untiled_peak, global_peak, bytes(base), bytes(untiled), window_peak, tiled_peak, bound);
        CHECK(rel_maxdiff(tiled, untiled) <= kTiledTol);
        CHECK(tiled_peak <= bound * 1.01);
        CHECK(tiled_peak < 0.75 * untiled_peak);
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
            ae->decode_tiled(torch::zeros({1, 8, 3}), 4);
            FAIL("decode_tiled accepted a 3-D latent");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
        }
        try {
            ae->decode_tiled(torch::zeros({1, 8, 16, 16}), 0);
            FAIL("decode_tiled accepted a tile of 0 latent pixels");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("tile size"));
        }
        try {
            ae->decode_local(torch::zeros({1, 8, 6, 10}));
            FAIL("decode_local accepted a latent");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("decode_global"));
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

TEST_CASE("AutoencoderDC: memory of tiled decoding for Sana 1.0's decoder at 4K (measure, print)",
          "[.][bench][models]") {
    // Sana's dc-ae-f32c32-sana-1.0 (docs/reference/sana.md §2.2) with random weights, measured on CPU at a
    // small latent and scaled to 4096x4096 (latent 128x128): every activation is per pixel (the LiteMLA
    // sums are [heads, 33, 32] matrices), so the CPU tensor bytes counted at LibTorch's allocator scale
    // with the pixel count exactly. Not counted: memory libraries take on their own (oneDNN scratch pads,
    // on GPU cuDNN workspaces) and the weights.
    AutoencoderDCConfig c;
    c.latent_channels = 32;
    c.attention_head_dim = 32;
    using engine::models::DCBlockType;
    c.encoder_block_types = {DCBlockType::ResBlock,          DCBlockType::ResBlock,
                             DCBlockType::ResBlock,          DCBlockType::EfficientViTBlock,
                             DCBlockType::EfficientViTBlock, DCBlockType::EfficientViTBlock};
    c.decoder_block_types = c.encoder_block_types;
    c.encoder_layers_per_block = {2, 2, 2, 3, 3, 3};
    c.decoder_layers_per_block = {3, 3, 3, 3, 3, 3};
    c.upsample_block_type = engine::models::DCUpsampleType::Interpolate;
    c.downsample_block_type = engine::models::DCDownsampleType::Conv;
    c.scaling_factor = 0.41407;
    auto& meter = test_support::CpuMemoryMeter::install();
    const double gib = 1024.0 * 1024.0 * 1024.0;
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
        AutoencoderDC ae = random_vae(c, 21);
        ae->to_dtype_device(dtype, at::kCPU);
        const auto plan = ae->tiled_decode_plan();
        REQUIRE(plan.halo == 7);
        const int64_t lat = 8;  // measured at 256x256 px; 4K has (128/8)^2 = 256x the pixels
        const double scale = (128.0 / lat) * (128.0 / lat);
        torch::manual_seed(22);
        at::Tensor z = torch::randn({1, 32, lat, lat}).to(dtype);
        auto peak_of = [&](const std::function<void()>& run) {
            meter.reset_peak();
            run();
            return static_cast<double>(meter.peak_bytes() - meter.baseline_bytes());
        };
        at::Tensor base, image;
        const double global_peak = peak_of([&] { base = ae->decode_global(z); });
        const double local_peak = peak_of([&] { image = ae->decode_local(base); });  // a 32x32-base window
        const double untiled_peak = peak_of([&] { image = ae->decode(z); });
        const double esize = static_cast<double>(c10::elementSize(dtype));
        const double base_4k = static_cast<double>(base.numel()) * esize * scale;
        const double out_4k = 3.0 * 4096 * 4096 * esize;
        std::ostringstream os;
        os << c10::toString(dtype) << ": global part peak at 4K " << global_peak * scale / gib << " GiB (its output "
           << base_4k / gib << " GiB), untiled decode peak " << untiled_peak * scale / gib << " GiB, output "
           << out_4k / gib << " GiB";
        for (int64_t tile : {16, 32, 64}) {
            const double side = static_cast<double>(tile * plan.global_scale + 2 * plan.halo);  // base pixels
            const double window = side * side / (32.0 * 32.0);
            const double tile_peak = local_peak * window + static_cast<double>(base.numel() / base.size(2) /
                                                                              base.size(3)) * side * side * esize;
            const double total = std::max(global_peak * scale, base_4k + out_4k + tile_peak);
            os << "\n  tile " << tile << " latent px (" << tile * 32 << " px, window " << side * 8
               << " px): one window " << tile_peak / gib << " GiB, tiled decode peak " << total / gib << " GiB";
        }
        if (dtype == at::kFloat) {
            at::Tensor untiled = ae->decode(z);
            const double diff = rel_maxdiff(ae->decode_tiled(z, 4), untiled);  // 2x2 tiles
            os << "\n  tiled vs untiled (2x2 tiles of 4 latent px): max diff " << diff << " relative";
            CHECK(diff <= kTiledTol);
        }
        WARN(os.str());
    }
}

// Channels-last convolutions (the CUDA default) forced on the CPU: the same goldens at the same tolerance.
TEST_CASE("AutoencoderDC: channels-last weights and activations still match diffusers on dcae_tiny", "[models]") {
    auto gc = GoldenCase::load("dcae_tiny");
    AutoencoderDC ae = load_vae(gc.dir());
    ae->set_channels_last(true);
    REQUIRE(ae->channels_last());
    at::Tensor decoded = ae->decode(gc.io("latent"));
    CHECK(decoded.is_contiguous());
    const auto r = test_support::maxdiff_rel_report(decoded, gc.io("decoded"), 1e-4);
    INFO(r.summary);
    CAPTURE(r.max_abs_diff, r.max_abs_expected);
    CHECK(r.ok);
    at::Tensor encoded = ae->encode(gc.io("image"));
    CHECK(encoded.is_contiguous());
    const auto e = test_support::maxdiff_rel_report(encoded, gc.io("encoded"), 1e-4);
    INFO(e.summary);
    CAPTURE(e.max_abs_diff, e.max_abs_expected);
    CHECK(e.ok);
    CHECK(ae->decode_tiled(gc.io("latent"), 5).is_contiguous());  // one tile
    at::Tensor tiled = ae->decode_tiled(gc.io("latent"), 1);
    const auto t = test_support::maxdiff_rel_report(tiled, gc.io("decoded"), 1e-4);
    INFO(t.summary);
    CAPTURE(t.max_abs_diff);
    CHECK(t.ok);
    ae->set_channels_last(false);
    CHECK_FALSE(ae->channels_last());
    REQUIRE_MAXDIFF_REL(ae->decode(gc.io("latent")), gc.io("decoded"), 1e-4);
}
