// Latent previews: the linear projection computed by hand for one pixel, sizes, and rounding.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "pipelines/preview.h"

TEST_CASE("preview: the projection of one latent pixel equals Wᵀz + b mapped to [0, 255]", "[pipelines]") {
    torch::manual_seed(3);
    const auto& proj = engine::pipelines::sana_dcae_projection();
    REQUIRE(proj.weights.size() == 32);
    auto z = torch::randn({32, 1, 1}) * 4.0;
    auto img = engine::pipelines::latent_preview(z, proj, /*max_side_px=*/1);
    REQUIRE(img.width == 1);
    REQUIRE(img.height == 1);
    REQUIRE(img.channels == 3);
    for (int ch = 0; ch < 3; ++ch) {
        double acc = proj.bias[static_cast<size_t>(ch)];
        for (int c = 0; c < 32; ++c) acc += proj.weights[static_cast<size_t>(c)][static_cast<size_t>(ch)] * z[c][0][0].item<double>();
        const double v = std::min(1.0, std::max(0.0, (acc + 1.0) / 2.0));
        CHECK(static_cast<int>(img.pixels[static_cast<size_t>(ch)]) == static_cast<int>(std::lround(v * 255.0)));
    }
}

TEST_CASE("preview: upscales small latents to the requested size, keeps the aspect, one image per frame", "[pipelines]") {
    auto img = engine::pipelines::latent_preview(torch::zeros({32, 4, 6}), engine::pipelines::sana_dcae_projection(), 60);
    CHECK(img.width == 60);
    CHECK(img.height == 40);
    CHECK(img.is_consistent());
    auto frames = engine::pipelines::video_latent_preview(torch::zeros({4, 3, 8, 12}),
                                                          engine::pipelines::sd_kl4_projection(), 24);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].width == 24);
    CHECK(frames[0].height == 16);
    CHECK(frames[2].pixels[0] == 128);  // (0 + 1) / 2 * 255 = 127.5 → 128
    REQUIRE_THROWS_WITH(engine::pipelines::latent_preview(torch::zeros({5, 2, 2}),
                                                          engine::pipelines::sd_kl4_projection(), 8),
                        Catch::Contains("5 channels"));
}

TEST_CASE("preview: latents without published factors get a neutral projection", "[pipelines]") {
    auto p = engine::pipelines::projection_for(engine::pipelines::sana_dcae_projection(), 8);
    REQUIRE(p.weights.size() == 8);
    auto img = engine::pipelines::latent_preview(torch::ones({8, 2, 2}), p, 2);
    CHECK(img.is_consistent());
    CHECK(engine::pipelines::projection_for(engine::pipelines::sana_dcae_projection(), 32).weights.size() == 32);
}
