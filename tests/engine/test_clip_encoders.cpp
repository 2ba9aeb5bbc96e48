// open_clip text tower (FrozenOpenCLIPEmbedder, penultimate) and vision tower (FrozenOpenCLIPImageEmbedderV2) against
// the goldens, the kornia antialiased resize against an independent computation, configs, loading and bad inputs.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/engine_error.h"
#include "io/safetensors.h"
#include "models/text_encoders/clip_vision.h"
#include "models/text_encoders/open_clip_text.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"
#include "tokenizers/clip_tokenizer.h"

using engine::ErrorCode;
using engine::models::CLIPVisionConfig;
using engine::models::CLIPVisionEncoder;
using engine::models::OpenCLIPTextConfig;
using engine::models::OpenCLIPTextEncoder;
using engine::models::OpenCLIPTextLayer;

namespace {

engine::io::TensorMap read_weights(const test_support::GoldenCase& gc) {
    auto w = engine::io::load_safetensors(gc.file("weights.safetensors").string());
    INFO((w ? std::string() : w.error().message));
    REQUIRE(w.has_value());
    return w.value();
}

std::int64_t meta_int(const test_support::GoldenCase& gc, const char* key) {
    const nlohmann::json& v = gc.meta().at(key);
    return v.is_number() ? v.get<std::int64_t>() : std::stoll(v.get<std::string>());
}

// The text tower of openclip_text_tiny: sizes from the golden meta, the rest open_clip's CLIPTextCfg defaults
// (vocabulary 49408, 77 tokens), layer "penultimate" as in the VideoCrafter YAML.
OpenCLIPTextConfig tiny_text_config(const test_support::GoldenCase& gc) {
    const nlohmann::json tower = {
        {"width", meta_int(gc, "width")}, {"layers", meta_int(gc, "layers")}, {"heads", meta_int(gc, "heads")}};
    auto c = OpenCLIPTextConfig::from_embedder_params({{"freeze", true}, {"layer", "penultimate"}}, &tower);
    INFO((c ? std::string() : c.error().message));
    REQUIRE(c.has_value());
    return c.value();
}

CLIPVisionConfig tiny_vision_config(const test_support::GoldenCase& gc) {
    const nlohmann::json tower = {{"width", meta_int(gc, "width")},
                                  {"layers", meta_int(gc, "layers")},
                                  {"heads", meta_int(gc, "heads")},
                                  {"patch_size", meta_int(gc, "patch")},
                                  {"image_size", meta_int(gc, "image_size")}};
    auto c = CLIPVisionConfig::from_embedder_params({{"freeze", true}}, &tower);
    INFO((c ? std::string() : c.error().message));
    REQUIRE(c.has_value());
    return c.value();
}

OpenCLIPTextEncoder load_text(const test_support::GoldenCase& gc, at::ScalarType dtype = at::kFloat) {
    auto m = engine::models::load_open_clip_text_encoder(read_weights(gc), tiny_text_config(gc), {dtype, at::kCPU});
    INFO((m ? std::string() : m.error().message));
    REQUIRE(m.has_value());
    return m.value();
}

CLIPVisionEncoder load_vision(const test_support::GoldenCase& gc, at::ScalarType dtype = at::kFloat) {
    auto m = engine::models::load_clip_vision_encoder(read_weights(gc), tiny_vision_config(gc), {dtype, at::kCPU});
    INFO((m ? std::string() : m.error().message));
    REQUIRE(m.has_value());
    return m.value();
}

// Runs f and returns the EngineError it throws (fails the test if it throws nothing or something else).
template <typename F>
engine::core::EngineError engine_error_of(F&& f) {
    try {
        f();
    } catch (const engine::core::EngineError& e) {
        return e;
    } catch (const std::exception& e) {
        FAIL("expected an EngineError, got: " << e.what());
    }
    FAIL("expected an EngineError, nothing was thrown");
    return engine::core::EngineError(ErrorCode::None, "");
}

std::int64_t num_parameters(torch::nn::Module& m) {
    std::int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Text tower
// ---------------------------------------------------------------------------------------------------------------
TEST_CASE("open_clip text: penultimate + ln_final matches FrozenOpenCLIPEmbedder on openclip_text_tiny", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_text_tiny");
    const at::Tensor tokens = gc.io("tokens");  // [2, 77]

    // The golden's tokens are what our CLIPTokenizer makes of its prompts.
    auto tok = engine::tokenizers::CLIPTokenizer::load(test_support::GoldenCase::load("clip_tokenizer").dir().string());
    REQUIRE(tok.has_value());
    auto batch = tok->tokenize(gc.meta().at("prompts").get<std::vector<std::string>>());
    REQUIRE(batch.has_value());
    const at::Tensor ids = at::tensor(batch->input_ids, at::kLong).view({batch->batch_size, batch->sequence_length});
    REQUIRE(ids.equal(tokens));

    OpenCLIPTextEncoder model = load_text(gc);
    CHECK(model->config.num_blocks_run() == meta_int(gc, "layers") - 1);
    at::NoGradGuard no_grad;
    const at::Tensor out = model->forward(ids);
    CHECK(out.sizes() == gc.io("penultimate_ln_final").sizes());
    CHECK(out.scalar_type() == at::kFloat);
    REQUIRE_MAXDIFF_REL(out, gc.io("penultimate_ln_final"), 1e-4);

    // Int32 ids give the same result; "last" runs one block more and so differs.
    CHECK(model->forward(tokens.to(at::kInt)).equal(out));
    model->config.layer = OpenCLIPTextLayer::Last;
    CHECK(model->config.num_blocks_run() == meta_int(gc, "layers"));
    CHECK_FALSE(model->forward(ids).allclose(out, 1e-3, 1e-3));
}

TEST_CASE("open_clip text: bfloat16 tower runs and stays near the float32 golden", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_text_tiny");
    OpenCLIPTextEncoder model = load_text(gc, at::kBFloat16);
    at::NoGradGuard no_grad;
    const at::Tensor out = model->forward(gc.io("tokens"));
    CHECK(out.scalar_type() == at::kBFloat16);
    REQUIRE(out.isfinite().all().item<bool>());
    // bf16 keeps 8 significant bits (2^-8 ≈ 4e-3 relative) and rounds after every op of 2 blocks: 5e-2 of
    // max(1, max|ref|) is loose enough for rounding, far below a wrong-math error (outputs are LayerNorm'd, ~O(1)).
    REQUIRE_MAXDIFF_REL(out.to(at::kFloat), gc.io("penultimate_ln_final"), 5e-2);
}

TEST_CASE("open_clip text: configs from the YAML params, the golden pipeline config and open_clip's text_cfg",
          "[models]") {
    SECTION("real checkpoints: FrozenOpenCLIPEmbedder defaults to ViT-H-14") {
        auto c = OpenCLIPTextConfig::from_embedder_params({{"freeze", true}, {"layer", "penultimate"}});
        REQUIRE(c.has_value());
        CHECK(c->width == 1024);
        CHECK(c->heads == 16);
        CHECK(c->layers == 24);
        CHECK(c->context_length == 77);
        CHECK(c->vocab_size == 49408);
        CHECK(c->layer == OpenCLIPTextLayer::Penultimate);
        CHECK(c->num_blocks_run() == 23);  // videocrafter.md §1.4: resblocks 0 … 22
        // The Python class's own default layer is "last".
        auto d = OpenCLIPTextConfig::from_embedder_params(nlohmann::json::object());
        REQUIRE(d.has_value());
        CHECK(d->layer == OpenCLIPTextLayer::Last);
    }
    SECTION("the tiny pipelines: cond_stage_config params + the open_clip.text section") {
        for (const char* name : {"vc2_pipeline_tiny", "dc_pipeline_tiny"}) {
            CAPTURE(name);
            const nlohmann::json cfg = test_support::GoldenCase::load(name).config();
            const nlohmann::json& tower = cfg.at("open_clip").at("text");
            auto c = OpenCLIPTextConfig::from_embedder_params(
                cfg.at("model").at("params").at("cond_stage_config").at("params"), &tower);
            REQUIRE(c.has_value());
            CHECK(c->width == tower.at("width").get<std::int64_t>());
            CHECK(c->layers == tower.at("layers").get<std::int64_t>());
            CHECK(c->heads == tower.at("heads").get<std::int64_t>());
            CHECK(c->vocab_size == tower.at("vocab_size").get<std::int64_t>());
            CHECK(c->layer == OpenCLIPTextLayer::Penultimate);
        }
    }
    SECTION("open_clip's text_cfg of ViT-H-14.json") {
        auto c = OpenCLIPTextConfig::from_json(
            {{"context_length", 77}, {"vocab_size", 49408}, {"width", 1024}, {"heads", 16}, {"layers", 24}});
        REQUIRE(c.has_value());
        CHECK(c->width == OpenCLIPTextConfig::vit_h_14().width);
        CHECK(c->transformer_options().layers == 24);
    }
    SECTION("unsupported or invalid") {
        auto arch = OpenCLIPTextConfig::from_embedder_params({{"arch", "ViT-bigG-14"}});
        REQUIRE_FALSE(arch.has_value());
        CHECK(arch.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(arch.error().message, Catch::Matchers::Contains("ViT-bigG-14"));
        auto pooled = OpenCLIPTextConfig::from_embedder_params({{"layer", "pooled"}});
        REQUIRE_FALSE(pooled.has_value());
        CHECK(pooled.error().code == ErrorCode::UnsupportedModel);
        auto hf = OpenCLIPTextConfig::from_json({{"hf_model_name", "xlm-roberta-large"}});
        REQUIRE_FALSE(hf.has_value());
        CHECK(hf.error().code == ErrorCode::UnsupportedModel);
        auto ls = OpenCLIPTextConfig::from_json({{"ls_init_value", 1e-5}});
        REQUIRE_FALSE(ls.has_value());
        CHECK(ls.error().code == ErrorCode::UnsupportedModel);
        auto heads = OpenCLIPTextConfig::from_json({{"width", 30}, {"heads", 4}});
        REQUIRE_FALSE(heads.has_value());
        CHECK(heads.error().code == ErrorCode::ModelLoadFailed);
        auto width = OpenCLIPTextConfig::from_json({{"width", "wide"}});
        REQUIRE_FALSE(width.has_value());
        CHECK_THAT(width.error().message, Catch::Matchers::Contains("width"));
    }
}

TEST_CASE("open_clip text: the ViT-H-14 tower has the checkpoint's parameter count minus the unused ones", "[models]") {
    // videocrafter.md §2.2: the OpenCLIP ViT-H-14 text part has 354,032,641 parameters, text_projection
    // [1024, 1024] and logit_scale [] included; the encoder holds all but those two (uninitialised: no memory is
    // touched).
    engine::models::OpenCLIPTextEncoderImpl model(OpenCLIPTextConfig::vit_h_14());
    CHECK(num_parameters(model) == 354032641 - (1024 * 1024 + 1));
    CHECK(model.named_parameters().contains("transformer.resblocks.23.attn.in_proj_weight"));
    CHECK(model.named_parameters()["transformer.resblocks.23.attn.in_proj_weight"].sizes() ==
          std::vector<std::int64_t>{3072, 1024});
}

TEST_CASE("open_clip text: bad token inputs are InvalidRequest errors that say what is wrong", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_text_tiny");
    OpenCLIPTextEncoder model = load_text(gc);
    const at::Tensor tokens = gc.io("tokens");
    at::NoGradGuard no_grad;

    auto wrong_length = engine_error_of([&] { model->forward(tokens.slice(1, 0, 76)); });
    CHECK(wrong_length.code() == ErrorCode::InvalidRequest);
    CHECK_THAT(wrong_length.what(), Catch::Matchers::Contains("77") && Catch::Matchers::Contains("76"));

    auto longer = engine_error_of([&] { model->forward(at::zeros({1, 78}, at::kLong)); });
    CHECK(longer.code() == ErrorCode::InvalidRequest);

    auto one_d = engine_error_of([&] { model->forward(tokens[0]); });
    CHECK(one_d.code() == ErrorCode::InvalidRequest);

    auto floats = engine_error_of([&] { model->forward(tokens.to(at::kFloat)); });
    CHECK(floats.code() == ErrorCode::InvalidRequest);
    CHECK_THAT(floats.what(), Catch::Matchers::Contains("integer"));

    at::Tensor out_of_vocab = tokens.clone();
    out_of_vocab[0][3] = 49408;
    auto vocab = engine_error_of([&] { model->forward(out_of_vocab); });
    CHECK(vocab.code() == ErrorCode::InvalidRequest);
    CHECK_THAT(vocab.what(), Catch::Matchers::Contains("49408"));

    auto none = engine_error_of([&] { model->forward(at::Tensor()); });
    CHECK(none.code() == ErrorCode::InvalidRequest);
}

TEST_CASE("open_clip text: loading is strict and rejects the weights of other models", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_text_tiny");
    const auto config = tiny_text_config(gc);
    const engine::io::TensorMap weights = read_weights(gc);
    REQUIRE(weights.count("cond_stage_model.model.text_projection") == 1);  // present, and ignored by name

    SECTION("the vision tower's checkpoint") {
        auto m = engine::models::load_open_clip_text_encoder(
            read_weights(test_support::GoldenCase::load("openclip_vision_tiny")), config);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message,
                   Catch::Matchers::Contains("missing") && Catch::Matchers::Contains("cond_stage_model.model."));
    }
    SECTION("the Resampler's checkpoint under the text prefix") {
        engine::io::TensorMap moved;
        for (const auto& [k, v] : read_weights(test_support::GoldenCase::load("resampler_tiny"))) {
            moved.emplace("cond_stage_model.model." + k.substr(std::string("image_proj_model.").size()), v);
        }
        auto m = engine::models::load_open_clip_text_encoder(moved, config);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("unexpected"));
    }
    SECTION("a config of other sizes") {
        OpenCLIPTextConfig wider = config;
        wider.width = 64;
        auto m = engine::models::load_open_clip_text_encoder(weights, wider);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("shape mismatch"));
        OpenCLIPTextConfig deeper = config;
        deeper.layers += 1;
        auto d = engine::models::load_open_clip_text_encoder(weights, deeper);
        REQUIRE_FALSE(d.has_value());
        CHECK_THAT(d.error().message, Catch::Matchers::Contains("resblocks." + std::to_string(deeper.layers - 1)));
    }
    SECTION("an unknown extra key is not silently dropped") {
        engine::io::TensorMap extra = weights;
        extra.emplace("cond_stage_model.model.visual.proj", at::zeros({4, 4}));
        auto m = engine::models::load_open_clip_text_encoder(extra, config);
        REQUIRE_FALSE(m.has_value());
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("visual.proj"));
    }
    SECTION("an integer dtype") {
        auto m = engine::models::load_open_clip_text_encoder(weights, config, {at::kInt, at::kCPU});
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::InvalidRequest);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Vision tower
// ---------------------------------------------------------------------------------------------------------------
TEST_CASE("CLIP vision: preprocessing and tokens match FrozenOpenCLIPImageEmbedderV2 on openclip_vision_tiny",
          "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_vision_tiny");
    CLIPVisionEncoder model = load_vision(gc);
    const at::Tensor image = gc.io("image");  // [2, 3, 40, 56] in [-1, 1]
    at::NoGradGuard no_grad;

    // The resize + normalisation alone (here an enlargement: kornia's antialias blur does not apply).
    const at::Tensor pre = model->preprocess(image);
    CHECK(pre.sizes() == gc.io("preprocessed").sizes());
    REQUIRE_MAXDIFF_REL(pre, gc.io("preprocessed"), 1e-4);

    // The tower alone, on the golden's own preprocessed pixels, then the whole path.
    const at::Tensor tokens = model->forward(gc.io("preprocessed"));
    CHECK(tokens.sizes() == std::vector<std::int64_t>{2, model->config.num_tokens(), model->config.width});
    REQUIRE_MAXDIFF_REL(tokens, gc.io("tokens"), 1e-4);
    REQUIRE_MAXDIFF_REL(model->encode(image), gc.io("tokens"), 1e-4);
}

TEST_CASE("CLIP vision: bfloat16 tower runs and stays near the float32 golden", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_vision_tiny");
    CLIPVisionEncoder model = load_vision(gc, at::kBFloat16);
    at::NoGradGuard no_grad;
    const at::Tensor pre = model->preprocess(gc.io("image"));
    CHECK(pre.scalar_type() == at::kFloat);  // the resize runs in float32 whatever the tower dtype
    const at::Tensor out = model->forward(pre);
    CHECK(out.scalar_type() == at::kBFloat16);
    REQUIRE(out.isfinite().all().item<bool>());
    // As for the text tower: bf16 rounding through 2 blocks of LayerNorm'd ~O(1) activations.
    REQUIRE_MAXDIFF_REL(out.to(at::kFloat), gc.io("tokens"), 5e-2);
}

namespace {

// Independent reference for kornia's antialias blur: σ and kernel size from kornia's formula, the Gaussian taps in
// float64, and the separable correlation with reflect borders (x, then y) written as plain loops over pixels.
at::Tensor reference_blur(const at::Tensor& image, double factor_h, double factor_w) {
    auto taps = [](double factor) {
        const double sigma = std::max((factor - 1.0) / 2.0, 0.001);
        auto k = static_cast<std::int64_t>(std::max(4.0 * sigma, 3.0));
        if (k % 2 == 0) ++k;
        std::vector<double> t(static_cast<std::size_t>(k));
        double sum = 0.0;
        for (std::int64_t i = 0; i < k; ++i) {
            const double x = static_cast<double>(i - k / 2);
            t[static_cast<std::size_t>(i)] = std::exp(-x * x / (2.0 * sigma * sigma));
            sum += t[static_cast<std::size_t>(i)];
        }
        for (double& v : t) v /= sum;
        return t;
    };
    auto reflect = [](std::int64_t i, std::int64_t n) {  // numpy/torch "reflect": -1 -> 1, n -> n - 2
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
        return i;
    };
    const auto tx = taps(factor_w), ty = taps(factor_h);
    const auto rx = static_cast<std::int64_t>(tx.size() / 2), ry = static_cast<std::int64_t>(ty.size() / 2);
    const at::Tensor src = image.to(at::kDouble).contiguous();
    const std::int64_t b = src.size(0), c = src.size(1), h = src.size(2), w = src.size(3);
    at::Tensor mid = at::empty_like(src), out = at::empty_like(src);
    auto s = src.accessor<double, 4>();
    auto m = mid.accessor<double, 4>();
    auto o = out.accessor<double, 4>();
    for (std::int64_t n = 0; n < b; ++n) {
        for (std::int64_t ch = 0; ch < c; ++ch) {
            for (std::int64_t y = 0; y < h; ++y) {
                for (std::int64_t x = 0; x < w; ++x) {
                    double acc = 0.0;
                    for (std::int64_t j = -rx; j <= rx; ++j) {
                        acc += tx[static_cast<std::size_t>(j + rx)] * s[n][ch][y][reflect(x + j, w)];
                    }
                    m[n][ch][y][x] = acc;
                }
            }
            for (std::int64_t y = 0; y < h; ++y) {
                for (std::int64_t x = 0; x < w; ++x) {
                    double acc = 0.0;
                    for (std::int64_t j = -ry; j <= ry; ++j) {
                        acc += ty[static_cast<std::size_t>(j + ry)] * m[n][ch][reflect(y + j, h)][x];
                    }
                    o[n][ch][y][x] = acc;
                }
            }
        }
    }
    return out;
}

at::Tensor bicubic_aligned(const at::Tensor& x, std::int64_t h, std::int64_t w) {
    namespace F = torch::nn::functional;
    return F::interpolate(
        x, F::InterpolateFuncOptions().size(std::vector<std::int64_t>{h, w}).mode(torch::kBicubic).align_corners(true));
}

}  // namespace

TEST_CASE("CLIP vision: kornia's antialiased bicubic resize when shrinking", "[models]") {
    // DynamiCrafter feeds 320x512 (and 576x1024) frames: both sides shrink to 224, so the Gaussian pre-blur matters
    // there, though the golden (an enlargement) cannot show it. Sizes chosen for even and odd kernel sizes: 1000 ->
    // 224 gives σ ≈ 1.73, size 6 -> 7; 700 -> 224 gives σ ≈ 1.06, size 4 -> 5; 320 -> 224 gives size 3.
    torch::manual_seed(0);
    struct Case {
        std::int64_t h, w;
    };
    const Case c = GENERATE(Case{700, 1000}, Case{320, 512}, Case{100, 600});
    CAPTURE(c.h, c.w);
    const at::Tensor image = at::rand({1, 3, c.h, c.w}) * 2.0 - 1.0;
    const double fh = static_cast<double>(c.h) / 224.0, fw = static_cast<double>(c.w) / 224.0;

    const at::Tensor ours = engine::models::kornia_resize_bicubic(image, 224, 224, /*antialias=*/true);
    const at::Tensor expected = bicubic_aligned(reference_blur(image, fh, fw).to(at::kFloat), 224, 224);
    CHECK(ours.sizes() == expected.sizes());
    REQUIRE_MAXDIFF_REL(ours, expected, 1e-5);
    // The blur is not a no-op: without it the result is measurably different.
    const at::Tensor plain = engine::models::kornia_resize_bicubic(image, 224, 224, /*antialias=*/false);
    CHECK(plain.equal(bicubic_aligned(image, 224, 224)));
    CHECK((plain - ours).abs().max().item<double>() > 1e-2);
}

TEST_CASE("CLIP vision: antialias is a no-op when enlarging (as the golden's 40x56 -> 224)", "[models]") {
    torch::manual_seed(1);
    const at::Tensor image = at::rand({2, 3, 40, 56});
    CHECK(engine::models::kornia_resize_bicubic(image, 224, 224, true).equal(bicubic_aligned(image, 224, 224)));
}

TEST_CASE("CLIP vision: configs from the YAML params, the golden pipeline config and open_clip's vision_cfg",
          "[models]") {
    SECTION("real checkpoints: ViT-H-14") {
        auto c = CLIPVisionConfig::from_embedder_params({{"freeze", true}});
        REQUIRE(c.has_value());
        CHECK(c->width == 1280);
        CHECK(c->layers == 32);
        CHECK(c->heads == 16);
        CHECK(c->patch_size == 14);
        CHECK(c->image_size == 224);
        CHECK(c->num_tokens() == 257);
        CHECK(c->antialias);
    }
    SECTION("open_clip's vision_cfg of ViT-H-14.json (head_width instead of heads)") {
        auto c = CLIPVisionConfig::from_json(
            {{"image_size", 224}, {"layers", 32}, {"width", 1280}, {"head_width", 80}, {"patch_size", 14}});
        REQUIRE(c.has_value());
        CHECK(c->heads == CLIPVisionConfig::vit_h_14().heads);
    }
    SECTION("dc_pipeline_tiny: img_cond_stage_config params + the open_clip.vision section") {
        const nlohmann::json cfg = test_support::GoldenCase::load("dc_pipeline_tiny").config();
        const nlohmann::json& tower = cfg.at("open_clip").at("vision");
        auto c = CLIPVisionConfig::from_embedder_params(
            cfg.at("model").at("params").at("img_cond_stage_config").at("params"), &tower);
        REQUIRE(c.has_value());
        CHECK(c->width == tower.at("width").get<std::int64_t>());
        CHECK(c->heads == tower.at("heads").get<std::int64_t>());
        CHECK(c->layers == tower.at("layers").get<std::int64_t>());
        CHECK(c->patch_size == tower.at("patch_size").get<std::int64_t>());
        CHECK(c->image_size == tower.at("image_size").get<std::int64_t>());
    }
    SECTION("unsupported or invalid") {
        auto patchnorm = CLIPVisionConfig::from_json({{"input_patchnorm", true}});
        REQUIRE_FALSE(patchnorm.has_value());
        CHECK(patchnorm.error().code == ErrorCode::UnsupportedModel);
        auto timm = CLIPVisionConfig::from_json({{"timm_model_name", "convnext_base"}});
        REQUIRE_FALSE(timm.has_value());
        CHECK(timm.error().code == ErrorCode::UnsupportedModel);
        auto penultimate = CLIPVisionConfig::from_embedder_params({{"layer", "penultimate"}});
        REQUIRE_FALSE(penultimate.has_value());
        CHECK(penultimate.error().code == ErrorCode::UnsupportedModel);
        auto grid = CLIPVisionConfig::from_json({{"image_size", 225}, {"patch_size", 14}});
        REQUIRE_FALSE(grid.has_value());
        CHECK(grid.error().code == ErrorCode::ModelLoadFailed);
    }
}

TEST_CASE("CLIP vision: the ViT-H-14 tower has the checkpoint's parameter count minus ln_post and proj", "[models]") {
    // videocrafter.md §2.2: visual ViT-H/14 with ln_post and proj is ≈ 632.08 M parameters.
    engine::models::CLIPVisionEncoderImpl model(CLIPVisionConfig::vit_h_14());
    const std::int64_t unused = 2 * 1280 + 1280 * 1024;  // ln_post weight + bias, proj [1280, 1024]
    CHECK(std::abs(static_cast<double>(num_parameters(model) + unused) - 632.08e6) < 0.005e6);
    CHECK(model.positional_embedding.sizes() == std::vector<std::int64_t>{257, 1280});
    CHECK(model.conv1_weight.sizes() == std::vector<std::int64_t>{1280, 3, 14, 14});
}

TEST_CASE("CLIP vision: bad images are InvalidRequest errors that say what is wrong", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_vision_tiny");
    CLIPVisionEncoder model = load_vision(gc);
    const at::Tensor image = gc.io("image");
    at::NoGradGuard no_grad;

    auto rgba = engine_error_of([&] { model->encode(at::cat({image, image.slice(1, 0, 1)}, 1)); });
    CHECK(rgba.code() == ErrorCode::InvalidRequest);
    CHECK_THAT(rgba.what(), Catch::Matchers::Contains("3 channels") && Catch::Matchers::Contains("got 4"));
    auto gray = engine_error_of([&] { model->encode(image.slice(1, 0, 1)); });
    CHECK(gray.code() == ErrorCode::InvalidRequest);
    auto unbatched = engine_error_of([&] { model->encode(image[0]); });
    CHECK(unbatched.code() == ErrorCode::InvalidRequest);
    auto bytes = engine_error_of([&] { model->encode(image.to(at::kByte)); });
    CHECK(bytes.code() == ErrorCode::InvalidRequest);
    auto tiny = engine_error_of([&] { model->encode(at::zeros({1, 3, 1, 8})); });
    CHECK(tiny.code() == ErrorCode::InvalidRequest);
    // forward() wants pixels already at 224x224.
    auto raw = engine_error_of([&] { model->forward(image); });
    CHECK(raw.code() == ErrorCode::InvalidRequest);
    CHECK_THAT(raw.what(), Catch::Matchers::Contains("224"));
}

TEST_CASE("CLIP vision: loading is strict and rejects the weights of other models", "[models]") {
    auto gc = test_support::GoldenCase::load("openclip_vision_tiny");
    const auto config = tiny_vision_config(gc);
    SECTION("the text tower's checkpoint") {
        auto m = engine::models::load_clip_vision_encoder(
            read_weights(test_support::GoldenCase::load("openclip_text_tiny")), config);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("embedder.model.visual."));
    }
    SECTION("the text tower's checkpoint under the vision prefix") {
        engine::io::TensorMap moved;
        for (const auto& [k, v] : read_weights(test_support::GoldenCase::load("openclip_text_tiny"))) {
            moved.emplace("embedder.model.visual." + k.substr(std::string("cond_stage_model.model.").size()), v);
        }
        auto m = engine::models::load_clip_vision_encoder(moved, config);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("conv1.weight"));
    }
    SECTION("a patch size that does not fit") {
        CLIPVisionConfig other = config;
        other.patch_size = 16;
        other.image_size = 224;
        auto m = engine::models::load_clip_vision_encoder(read_weights(gc), other);
        REQUIRE_FALSE(m.has_value());
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("shape mismatch"));
    }
}

TEST_CASE("open_clip towers: both refuse the block options they do not implement, by name", "[models]") {
    // The residual blocks both towers share (open_clip_transformer.h) have no LayerScale, QuickGELU or extra
    // activation / norm arguments; a config asking for them is refused rather than run with other math.
    const std::vector<std::pair<nlohmann::json, std::string>> cases = {
        {{{"ls_init_value", 1e-5}}, "LayerScale"},
        {{{"quick_gelu", true}}, "QuickGELU"},
        {{{"act_kwargs", {{"approximate", "tanh"}}}}, "act_kwargs"},
        {{{"norm_kwargs", {{"eps", 1e-6}}}}, "norm_kwargs"},
    };
    for (const auto& [cfg, name] : cases) {
        INFO(cfg.dump());
        auto text = OpenCLIPTextConfig::from_json(cfg);
        REQUIRE_FALSE(text.has_value());
        CHECK(text.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(text.error().message, Catch::Matchers::Contains(name));
        auto vision = CLIPVisionConfig::from_json(cfg);
        REQUIRE_FALSE(vision.has_value());
        CHECK(vision.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(vision.error().message, Catch::Matchers::Contains(name));
    }
    // Empty argument objects change nothing and are accepted.
    CHECK(OpenCLIPTextConfig::from_json({{"act_kwargs", nlohmann::json::object()}}).has_value());
    CHECK(CLIPVisionConfig::from_json({{"norm_kwargs", nlohmann::json::object()}}).has_value());
}
