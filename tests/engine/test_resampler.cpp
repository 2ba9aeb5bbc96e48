// The image Resampler (perceiver) of VideoCrafter-i2v and DynamiCrafter (frame-wise queries) against the goldens,
// plus configs, real sizes, loading and bad inputs.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine_error.h"
#include "io/safetensors.h"
#include "models/adapters/image_resampler.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

using engine::ErrorCode;
using engine::models::ImageResampler;
using engine::models::ImageResamplerConfig;

namespace {

engine::io::TensorMap read_weights(const test_support::GoldenCase& gc) {
    auto w = engine::io::load_safetensors(gc.file("weights.safetensors").string());
    INFO((w ? std::string() : w.error().message));
    REQUIRE(w.has_value());
    return w.value();
}

// The golden meta is the Resampler's constructor arguments (video_length null for VideoCrafter).
ImageResamplerConfig golden_config(const test_support::GoldenCase& gc) {
    auto c = ImageResamplerConfig::from_json(gc.meta());
    INFO((c ? std::string() : c.error().message));
    REQUIRE(c.has_value());
    return c.value();
}

ImageResampler load(const test_support::GoldenCase& gc, at::ScalarType dtype = at::kFloat) {
    auto m = engine::models::load_image_resampler(read_weights(gc), golden_config(gc), {dtype, at::kCPU});
    INFO((m ? std::string() : m.error().message));
    REQUIRE(m.has_value());
    return m.value();
}

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

TEST_CASE("Resampler: matches VideoCrafter-i2v's Resampler on resampler_tiny (16 queries)", "[models]") {
    auto gc = test_support::GoldenCase::load("resampler_tiny");
    ImageResampler model = load(gc);
    CHECK_FALSE(model->config.video_length.has_value());
    at::NoGradGuard no_grad;
    const at::Tensor out = model->forward(gc.io("image_tokens"));  // [2, 257, 48] -> [2, 16, 32]
    CHECK(out.sizes() == gc.io("context_tokens").sizes());
    REQUIRE_MAXDIFF_REL(out, gc.io("context_tokens"), 1e-4);
}

TEST_CASE("Resampler: matches DynamiCrafter's frame-wise Resampler on dc_resampler_tiny (16 queries x 16 frames)",
          "[models]") {
    auto gc = test_support::GoldenCase::load("dc_resampler_tiny");
    ImageResampler model = load(gc);
    REQUIRE(model->config.video_length == std::optional<std::int64_t>(16));
    CHECK(model->config.num_latents() == 256);
    at::NoGradGuard no_grad;
    const at::Tensor out = model->forward(gc.io("image_tokens"));  // [2, 257, 48] -> [2, 256, 32]
    CHECK(out.sizes() == gc.io("context_tokens").sizes());
    REQUIRE_MAXDIFF_REL(out, gc.io("context_tokens"), 1e-4);
    // Each batch row is independent of the others.
    REQUIRE_MAXDIFF_REL(model->forward(gc.io("image_tokens").slice(0, 1, 2)), gc.io("context_tokens").slice(0, 1, 2),
                        1e-4);
}

TEST_CASE("Resampler: bfloat16 runs and stays near the float32 golden", "[models]") {
    auto gc = test_support::GoldenCase::load("dc_resampler_tiny");
    ImageResampler model = load(gc, at::kBFloat16);
    at::NoGradGuard no_grad;
    const at::Tensor out = model->forward(gc.io("image_tokens"));
    CHECK(out.scalar_type() == at::kBFloat16);
    REQUIRE(out.isfinite().all().item<bool>());
    // bf16 rounding (2^-8 relative) through 2 layers; the output is LayerNorm'd (~O(1)).
    REQUIRE_MAXDIFF_REL(out.to(at::kFloat), gc.io("context_tokens"), 5e-2);
}

TEST_CASE("Resampler: configs from the DynamiCrafter YAML params and the real sizes", "[models]") {
    SECTION("dc_pipeline_tiny's image_proj_stage_config equals the dc_resampler_tiny case") {
        const nlohmann::json cfg = test_support::GoldenCase::load("dc_pipeline_tiny").config();
        auto c =
            ImageResamplerConfig::from_json(cfg.at("model").at("params").at("image_proj_stage_config").at("params"));
        REQUIRE(c.has_value());
        const auto d = golden_config(test_support::GoldenCase::load("dc_resampler_tiny"));
        CHECK(c->dim == d.dim);
        CHECK(c->depth == d.depth);
        CHECK(c->heads == d.heads);
        CHECK(c->dim_head == d.dim_head);
        CHECK(c->num_queries == d.num_queries);
        CHECK(c->embedding_dim == d.embedding_dim);
        CHECK(c->output_dim == d.output_dim);
        CHECK(c->ff_mult == d.ff_mult);
        CHECK(c->video_length == d.video_length);
    }
    SECTION("the real models' parameter counts (videocrafter.md §2.2)") {
        // DynamiCrafter configs/inference_512_v1.0.yaml; VideoCrafter-i2v builds the same without video_length.
        const nlohmann::json dc_params = {{"dim", 1024},        {"depth", 4},        {"dim_head", 64},
                                          {"heads", 12},        {"num_queries", 16}, {"embedding_dim", 1280},
                                          {"output_dim", 1024}, {"ff_mult", 4},      {"video_length", 16}};
        auto dc = ImageResamplerConfig::from_json(dc_params);
        REQUIRE(dc.has_value());
        CHECK(dc->inner_dim() == 768);
        engine::models::ImageResamplerImpl dc_model(*dc);
        CHECK(num_parameters(dc_model) == 48787456);
        nlohmann::json vc_params = dc_params;
        vc_params["video_length"] = nullptr;
        auto vc = ImageResamplerConfig::from_json(vc_params);
        REQUIRE(vc.has_value());
        engine::models::ImageResamplerImpl vc_model(*vc);
        CHECK(num_parameters(vc_model) == 48541696);
        CHECK(vc_model.named_parameters()["layers.3.1.3.weight"].sizes() == std::vector<std::int64_t>{1024, 4096});
    }
    SECTION("invalid") {
        auto zero = ImageResamplerConfig::from_json({{"heads", 0}});
        REQUIRE_FALSE(zero.has_value());
        CHECK(zero.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(zero.error().message, Catch::Matchers::Contains("heads"));
        auto text = ImageResamplerConfig::from_json({{"video_length", "16"}});
        REQUIRE_FALSE(text.has_value());
        CHECK_THAT(text.error().message, Catch::Matchers::Contains("video_length"));
    }
}

TEST_CASE("Resampler: bad inputs and the weights of other models", "[models]") {
    auto gc = test_support::GoldenCase::load("resampler_tiny");
    const at::Tensor tokens = gc.io("image_tokens");
    SECTION("tokens of the wrong width, rank or type") {
        ImageResampler model = load(gc);
        at::NoGradGuard no_grad;
        auto width = engine_error_of([&] { model->forward(tokens.slice(2, 0, 40)); });
        CHECK(width.code() == ErrorCode::InvalidRequest);
        CHECK_THAT(width.what(), Catch::Matchers::Contains("48") && Catch::Matchers::Contains("40"));
        auto rank = engine_error_of([&] { model->forward(tokens[0]); });
        CHECK(rank.code() == ErrorCode::InvalidRequest);
        auto ints = engine_error_of([&] { model->forward(tokens.to(at::kInt)); });
        CHECK(ints.code() == ErrorCode::InvalidRequest);
    }
    SECTION("DynamiCrafter's frame-wise weights with a config without video_length") {
        auto m = engine::models::load_image_resampler(read_weights(test_support::GoldenCase::load("dc_resampler_tiny")),
                                                      golden_config(gc));
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("latents") && Catch::Matchers::Contains("256"));
    }
    SECTION("the text encoder's checkpoint") {
        auto m = engine::models::load_image_resampler(
            read_weights(test_support::GoldenCase::load("openclip_text_tiny")), golden_config(gc));
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Matchers::Contains("image_proj_model."));
    }
}
