// The CPU references of the fused ops (layer_norm_modulate, rms_norm, depthwise_conv3x3_silu_gate) against
// formulations written here independently in LibTorch eager ops, in float64 where the test says so; plus the
// argument checks. These references are the oracle of the CUDA tests (test_kernels_cuda.cpp).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "kernels/ops.h"
#include "support/tensor_checks.h"

namespace {

// ‖a − b‖ / ‖b‖ in float64.
double rel_error(const torch::Tensor& a, const torch::Tensor& b) {
    const auto ad = a.to(torch::kDouble);
    const auto bd = b.to(torch::kDouble);
    return ((ad - bd).norm() / bd.norm().clamp_min(1e-300)).item<double>();
}

// LayerNorm over the last dim without affine parameters, then the adaLN modulation, in float64.
torch::Tensor layer_norm_modulate_f64(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale,
                                      double eps) {
    auto xd = x.to(torch::kDouble);
    auto mean = xd.mean(-1, /*keepdim=*/true);
    auto var = (xd - mean).pow(2).mean(-1, /*keepdim=*/true);  // biased, as layer_norm
    auto normed = (xd - mean) / torch::sqrt(var + eps);
    return normed * (1 + scale.to(torch::kDouble)) + shift.to(torch::kDouble);
}

torch::Tensor rms_norm_f64(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
    auto xd = x.to(torch::kDouble);
    auto out = xd / torch::sqrt(xd.pow(2).mean(-1, /*keepdim=*/true) + eps);
    if (weight.defined()) out = out * weight.to(torch::kDouble);
    if (bias.defined()) out = out + bias.to(torch::kDouble);
    return out;
}

// Depthwise 3×3 (zero padding) as a sum of nine shifted slices, then value · SiLU(gate), in float64.
torch::Tensor depthwise_gate_f64(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    auto xd = torch::constant_pad_nd(x.to(torch::kDouble), {1, 1, 1, 1}, 0.0);  // [B, 2C, H+2, W+2]
    const int64_t h = x.size(2), w = x.size(3), c2 = x.size(1);
    auto wd = weight.to(torch::kDouble).reshape({c2, 3, 3});
    auto y = torch::zeros({x.size(0), c2, h, w}, xd.options());
    for (int64_t dy = 0; dy < 3; ++dy) {
        for (int64_t dx = 0; dx < 3; ++dx) {
            auto tap = wd.select(1, dy).select(1, dx).view({1, c2, 1, 1});
            y = y + xd.slice(2, dy, dy + h).slice(3, dx, dx + w) * tap;
        }
    }
    if (bias.defined()) y = y + bias.to(torch::kDouble).view({1, c2, 1, 1});
    auto value = y.slice(1, 0, c2 / 2);
    auto gate = y.slice(1, c2 / 2, c2);
    return value * gate * torch::sigmoid(gate);
}

// GroupNorm of x [N, C, *] (+ addend [N, C]) in float64: statistics per sample and group, biased variance.
torch::Tensor group_norm_f64(const torch::Tensor& x, const torch::Tensor& add, int64_t groups,
                             const torch::Tensor& weight, const torch::Tensor& bias, double eps, bool silu) {
    auto xd = x.to(torch::kDouble).contiguous();
    std::vector<int64_t> channel_shape(static_cast<size_t>(x.dim()), 1);
    channel_shape[1] = x.size(1);
    if (add.defined()) {
        std::vector<int64_t> add_shape = channel_shape;
        add_shape[0] = x.size(0);
        xd = xd + add.to(torch::kDouble).view(add_shape);
    }
    auto grouped = xd.view({x.size(0), groups, -1});
    auto mean = grouped.mean(-1, /*keepdim=*/true);
    auto var = (grouped - mean).pow(2).mean(-1, /*keepdim=*/true);
    auto y = ((grouped - mean) / torch::sqrt(var + eps)).view(x.sizes());
    if (weight.defined()) y = y * weight.to(torch::kDouble).view(channel_shape);
    if (bias.defined()) y = y + bias.to(torch::kDouble).view(channel_shape);
    return silu ? y * torch::sigmoid(y) : y;
}

torch::Tensor layer_norm_f64(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             double eps) {
    auto xd = x.to(torch::kDouble);
    auto mean = xd.mean(-1, /*keepdim=*/true);
    auto var = (xd - mean).pow(2).mean(-1, /*keepdim=*/true);
    return (xd - mean) / torch::sqrt(var + eps) * weight.to(torch::kDouble) + bias.to(torch::kDouble);
}

}  // namespace

TEST_CASE("layer_norm_modulate (CPU): LN(x)·(1 + scale) + shift, per-batch and shared modulation", "[kernels]") {
    torch::manual_seed(10);
    auto shape =
        GENERATE(std::vector<int64_t>{2, 7, 16}, std::vector<int64_t>{1, 1, 5}, std::vector<int64_t>{3, 33, 40});
    const int64_t b = shape[0], n = shape[1], d = shape[2];
    // x non-contiguous: [B, D, N] transposed; shift/scale: chunks of a [B, 6, D] modulation, as Sana takes them.
    auto x = torch::randn({b, d, n}).transpose(1, 2) * 3 + 0.5;
    auto mod = torch::randn({b, 6, d}).chunk(6, 1);
    if (n > 1 && d > 1) {
        REQUIRE_FALSE(x.is_contiguous());  // (with a size-1 dim the transpose is still contiguous)
    }
    auto out = kernels::layer_norm_modulate(x, mod[0], mod[1], 1e-6);
    CHECK(out.sizes() == x.sizes());
    REQUIRE_ALLCLOSE(out, layer_norm_modulate_f64(x, mod[0], mod[1], 1e-6).to(torch::kFloat), 1e-5, 1e-5);

    auto shared_shift = torch::randn({1, 1, d});
    auto shared_scale = torch::randn({1, 1, d});
    REQUIRE_ALLCLOSE(kernels::layer_norm_modulate(x, shared_shift, shared_scale, 1e-5),
                     layer_norm_modulate_f64(x, shared_shift, shared_scale, 1e-5).to(torch::kFloat), 1e-5, 1e-5);

    auto xd = x.to(torch::kDouble);
    auto outd = kernels::layer_norm_modulate(xd, mod[0].to(torch::kDouble), mod[1].to(torch::kDouble), 1e-6);
    CHECK(outd.scalar_type() == torch::kDouble);
    REQUIRE_ALLCLOSE(outd, layer_norm_modulate_f64(x, mod[0], mod[1], 1e-6), 1e-10, 1e-10);

    auto out16 = kernels::layer_norm_modulate(x.to(torch::kBFloat16), mod[0].to(torch::kBFloat16),
                                              mod[1].to(torch::kBFloat16), 1e-6);
    CHECK(out16.scalar_type() == torch::kBFloat16);
    CHECK(rel_error(out16, layer_norm_modulate_f64(x, mod[0], mod[1], 1e-6)) < 2e-2);
}

TEST_CASE("rms_norm (CPU): diffusers RMSNorm with and without weight and bias", "[kernels]") {
    torch::manual_seed(11);
    auto shape = GENERATE(std::vector<int64_t>{4, 10}, std::vector<int64_t>{2, 3, 17}, std::vector<int64_t>{1, 1});
    const int64_t d = shape.back();
    auto x = torch::randn(shape) * 2;
    auto weight = torch::randn({d});
    auto bias = torch::randn({d});
    SECTION("no weight: x's dtype") {
        REQUIRE_ALLCLOSE(kernels::rms_norm(x, {}, {}, 1e-6), rms_norm_f64(x, {}, {}, 1e-6).to(torch::kFloat), 1e-5,
                         1e-6);
        auto out16 = kernels::rms_norm(x.to(torch::kBFloat16), {}, {}, 1e-6);
        CHECK(out16.scalar_type() == torch::kBFloat16);
        CHECK(rel_error(out16, rms_norm_f64(x, {}, {}, 1e-6)) < 1e-2);
    }
    SECTION("weight and bias") {
        REQUIRE_ALLCLOSE(kernels::rms_norm(x, weight, bias, 1e-5),
                         rms_norm_f64(x, weight, bias, 1e-5).to(torch::kFloat), 1e-5, 1e-5);
        REQUIRE_ALLCLOSE(kernels::rms_norm(x, weight, {}, 1e-5), rms_norm_f64(x, weight, {}, 1e-5).to(torch::kFloat),
                         1e-5, 1e-5);
    }
    SECTION("a bfloat16 weight makes a bfloat16 result, also from float32 x (diffusers' rule)") {
        auto w16 = weight.to(torch::kBFloat16);
        auto out = kernels::rms_norm(x, w16, {}, 1e-6);
        CHECK(out.scalar_type() == torch::kBFloat16);
        CHECK(rel_error(out, rms_norm_f64(x, w16, {}, 1e-6)) < 1e-2);
    }
    SECTION("non-contiguous x") {
        auto xt = torch::randn({d, 5}).t();  // [5, d], stride 1 across rows
        if (d > 1) {
            REQUIRE_FALSE(xt.is_contiguous());  // (a [5, 1] transpose is contiguous)
        }
        REQUIRE_ALLCLOSE(kernels::rms_norm(xt, weight, {}, 1e-6), rms_norm_f64(xt, weight, {}, 1e-6).to(torch::kFloat),
                         1e-5, 1e-5);
    }
}

TEST_CASE("depthwise_conv3x3_silu_gate (CPU): depthwise 3×3 then value·SiLU(gate)", "[kernels]") {
    torch::manual_seed(12);
    auto shape =
        GENERATE(std::vector<int64_t>{1, 4, 5, 7}, std::vector<int64_t>{2, 10, 8, 8}, std::vector<int64_t>{1, 2, 1, 1});
    auto x = torch::randn(shape);
    auto weight = torch::randn({shape[1], 1, 3, 3}) * 0.5;
    auto bias = torch::randn({shape[1]});
    auto expected = depthwise_gate_f64(x, weight, bias);
    auto out = kernels::depthwise_conv3x3_silu_gate(x, weight, bias);
    CHECK(out.sizes() == expected.sizes());
    REQUIRE_ALLCLOSE(out, expected.to(torch::kFloat), 1e-5, 1e-5);
    SECTION("no bias") {
        REQUIRE_ALLCLOSE(kernels::depthwise_conv3x3_silu_gate(x, weight, {}),
                         depthwise_gate_f64(x, weight, {}).to(torch::kFloat), 1e-5, 1e-5);
    }
    SECTION("channels-last input (Sana's token grid)") {
        auto xl = x.contiguous(torch::MemoryFormat::ChannelsLast);
        REQUIRE_ALLCLOSE(kernels::depthwise_conv3x3_silu_gate(xl, weight, bias), expected.to(torch::kFloat), 1e-5,
                         1e-5);
    }
    SECTION("float64") {
        auto outd = kernels::depthwise_conv3x3_silu_gate(x.to(torch::kDouble), weight.to(torch::kDouble),
                                                         bias.to(torch::kDouble));
        REQUIRE_ALLCLOSE(outd, expected, 1e-10, 1e-10);
    }
}

TEST_CASE("silu_depthwise_conv3x3_gate_nhwc (CPU): SiLU, depthwise 3×3, value·SiLU(gate) on the token layout",
          "[kernels]") {
    torch::manual_seed(13);
    auto shape = GENERATE(std::vector<int64_t>{1, 5, 7, 4}, std::vector<int64_t>{2, 8, 8, 10},
                          std::vector<int64_t>{1, 1, 1, 2});  // B, H, W, 2C
    auto x = torch::randn(shape) * 2;
    auto weight = torch::randn({shape[3], 1, 3, 3}) * 0.5;
    auto bias = torch::randn({shape[3]});
    // Independently: SiLU as x·sigmoid(x) in float64, the NCHW formulation above, then back to [B, H, W, C].
    auto xd = x.to(torch::kDouble);
    auto expected = depthwise_gate_f64((xd * torch::sigmoid(xd)).permute({0, 3, 1, 2}), weight, bias)
                        .permute({0, 2, 3, 1});
    auto out = kernels::silu_depthwise_conv3x3_gate_nhwc(x, weight, bias);
    CHECK(out.sizes() == expected.sizes());
    CHECK(out.is_contiguous());
    REQUIRE_ALLCLOSE(out, expected.to(torch::kFloat), 1e-5, 1e-5);
    SECTION("no bias") {
        auto expected_nb = depthwise_gate_f64((xd * torch::sigmoid(xd)).permute({0, 3, 1, 2}), weight, {})
                               .permute({0, 2, 3, 1});
        REQUIRE_ALLCLOSE(kernels::silu_depthwise_conv3x3_gate_nhwc(x, weight, {}), expected_nb.to(torch::kFloat), 1e-5,
                         1e-5);
    }
    SECTION("a strided view of tokens (e.g. a [B, N, 2C] projection viewed on its grid)") {
        auto wide = torch::randn({shape[0], shape[1], shape[2], shape[3] + 6});
        auto view = wide.narrow(3, 3, shape[3]);
        auto vd = view.to(torch::kDouble);
        auto expected_v = depthwise_gate_f64((vd * torch::sigmoid(vd)).permute({0, 3, 1, 2}), weight, bias)
                              .permute({0, 2, 3, 1});
        REQUIRE_ALLCLOSE(kernels::silu_depthwise_conv3x3_gate_nhwc(view, weight, bias), expected_v.to(torch::kFloat),
                         1e-5, 1e-5);
    }
}

TEST_CASE("rms_norm (CPU): out_dtype rounds the float32 result once (Gemma-2's norm)", "[kernels]") {
    torch::manual_seed(15);
    auto x = (torch::randn({3, 64}) * 2).to(torch::kBFloat16);
    auto w = torch::randn({64}) * 0.1;
    auto expected = (rms_norm_f64(x, {}, {}, 1e-6) * (1 + w.to(torch::kDouble))).to(torch::kFloat);
    auto out = kernels::rms_norm(x, w + 1, {}, 1e-6, torch::kBFloat16);
    CHECK(out.scalar_type() == torch::kBFloat16);
    REQUIRE_ALLCLOSE(out.to(torch::kFloat), expected.to(torch::kBFloat16).to(torch::kFloat), 1e-2, 1e-2);
    CHECK(kernels::rms_norm(x, w + 1, {}, 1e-6).scalar_type() == torch::kFloat);  // without: float32, as before
}

TEST_CASE("rms_norm (CPU): a residual is added to the rounded norm (the DC-AE blocks' x + norm(h))", "[kernels]") {
    torch::manual_seed(16);
    auto x = torch::randn({2, 3, 5, 16}) * 2;
    auto weight = torch::randn({16}) * 0.5 + 1;
    auto bias = torch::randn({16}) * 0.1;
    auto residual = torch::randn({2, 3, 5, 16});
    auto expected = rms_norm_f64(x, weight, bias, 1e-5) + residual.to(torch::kDouble);
    REQUIRE_ALLCLOSE(kernels::rms_norm(x, weight, bias, 1e-5, std::nullopt, residual), expected.to(torch::kFloat), 1e-5,
                     1e-5);
    // bfloat16 in and out: bfloat16-sized errors against the float64 norm of the same inputs plus the residual.
    auto x16 = x.to(torch::kBFloat16), r16 = residual.to(torch::kBFloat16);
    auto w16 = weight.to(torch::kBFloat16), b16 = bias.to(torch::kBFloat16);
    auto out16 = kernels::rms_norm(x16, w16, b16, 1e-5, std::nullopt, r16);
    CHECK(out16.scalar_type() == torch::kBFloat16);
    CHECK(rel_error(out16, rms_norm_f64(x16, w16, b16, 1e-5) + r16.to(torch::kDouble)) < 1e-2);
    REQUIRE_THROWS_WITH(kernels::rms_norm(x, weight, bias, 1e-5, std::nullopt, residual.narrow(3, 0, 8)),
                        Catch::Contains("residual must have x's shape"));
}

TEST_CASE("bias_silu (CPU): SiLU of x plus a per-channel bias, the sum rounded first", "[kernels]") {
    torch::manual_seed(17);
    auto x = torch::randn({2, 4, 6, 24}) * 3;
    auto bias = torch::randn({24});
    auto sum = x.to(torch::kDouble) + bias.to(torch::kDouble);
    auto expected = sum * torch::sigmoid(sum);
    REQUIRE_ALLCLOSE(kernels::bias_silu(x, bias), expected.to(torch::kFloat), 1e-5, 1e-6);
    // bfloat16: the sum rounded to bfloat16 first, then the SiLU rounded: within one bfloat16 unit of SiLU (float64)
    // of the rounded sum.
    auto x16 = x.to(torch::kBFloat16), b16 = bias.to(torch::kBFloat16);
    auto out16 = kernels::bias_silu(x16, b16);
    CHECK(out16.scalar_type() == torch::kBFloat16);
    auto sum16 = (x16.to(torch::kDouble) + b16.to(torch::kDouble)).to(torch::kBFloat16).to(torch::kDouble);
    auto expected16 = sum16 * torch::sigmoid(sum16);
    CHECK(((out16.to(torch::kDouble) - expected16).abs() <= expected16.abs() / 128 + 1e-6).all().item<bool>());
    REQUIRE_THROWS_WITH(kernels::bias_silu(x, torch::randn({23})), Catch::Contains("bias must be [C = 24]"));
    REQUIRE_THROWS_WITH(kernels::bias_silu(x16, bias), Catch::Contains("bias must have x's dtype"));
}

TEST_CASE("gated_residual (CPU): x + gate·y with per-batch and shared gates", "[kernels]") {
    torch::manual_seed(14);
    auto x = torch::randn({2, 5, 8});
    auto y = torch::randn({2, 5, 8});
    auto mod = torch::randn({2, 6, 8}).chunk(6, 1);  // [B, 1, D] views, as the blocks pass them
    auto expected = x.to(torch::kDouble) + mod[2].to(torch::kDouble) * y.to(torch::kDouble);
    REQUIRE_ALLCLOSE(kernels::gated_residual(x, mod[2], y), expected.to(torch::kFloat), 1e-6, 1e-6);
    auto shared = torch::randn({1, 1, 8});
    auto expected_shared = x.to(torch::kDouble) + shared.to(torch::kDouble) * y.to(torch::kDouble);
    REQUIRE_ALLCLOSE(kernels::gated_residual(x, shared, y), expected_shared.to(torch::kFloat), 1e-6, 1e-6);
    REQUIRE_THROWS_WITH(kernels::gated_residual(x, torch::randn({2, 1, 7}), y), Catch::Contains("gate must be"));
    REQUIRE_THROWS_WITH(kernels::gated_residual(x, mod[2], y.narrow(1, 0, 4)), Catch::Contains("of one shape"));
}

TEST_CASE("residual_layer_norm_modulate (CPU): the residual sum and the modulated norm of it", "[kernels]") {
    torch::manual_seed(15);
    auto x = torch::randn({2, 5, 16}) * 3;
    auto y = torch::randn({2, 5, 16});
    auto table = torch::randn({2, 6, 16}).chunk(6, 1);       // a block's [B, 1, D] views
    auto following = torch::randn({2, 2, 16}).chunk(2, 1);  // the next norm's, from another tensor
    const auto xd = x.to(torch::kDouble);
    const auto yd = y.to(torch::kDouble);
    SECTION("gated: s = x + gate · y") {
        auto [out, sum] = kernels::residual_layer_norm_modulate(x, y, table[5], following[0], following[1], 1e-6);
        const auto sum_d = xd + table[5].to(torch::kDouble) * yd;
        REQUIRE_ALLCLOSE(sum, sum_d.to(torch::kFloat), 1e-6, 1e-6);
        REQUIRE_ALLCLOSE(out, layer_norm_modulate_f64(sum_d, following[0], following[1], 1e-6).to(torch::kFloat), 1e-5,
                         1e-5);
    }
    SECTION("plain: s = x + y, one shift / scale row for every batch") {
        auto shift = torch::randn({1, 1, 16});
        auto scale = torch::randn({1, 1, 16});
        auto [out, sum] = kernels::residual_layer_norm_modulate(x, y, {}, shift, scale, 1e-5);
        REQUIRE_ALLCLOSE(sum, (xd + yd).to(torch::kFloat), 1e-6, 1e-6);
        REQUIRE_ALLCLOSE(out, layer_norm_modulate_f64(xd + yd, shift, scale, 1e-5).to(torch::kFloat), 1e-5, 1e-5);
    }
    SECTION("bfloat16: the norm is of the rounded sum, as the separate ops leave it") {
        auto xb = x.to(torch::kBFloat16), yb = y.to(torch::kBFloat16);
        auto [out, sum] = kernels::residual_layer_norm_modulate(xb, yb, {}, table[3].to(torch::kBFloat16),
                                                                table[4].to(torch::kBFloat16), 1e-6);
        CHECK(torch::equal(sum, xb + yb));
        CHECK(torch::equal(out, kernels::layer_norm_modulate(xb + yb, table[3].to(torch::kBFloat16),
                                                             table[4].to(torch::kBFloat16), 1e-6)));
    }
    SECTION("y_head: the first samples' y is one row, broadcast; their rows of y are not read") {
        const auto head = torch::randn({1, 1, 16});
        auto y_nan = y.clone();
        y_nan[0].fill_(std::numeric_limits<float>::quiet_NaN());
        auto y_expected = y.clone();
        y_expected[0].copy_(head[0].expand({5, 16}));
        auto [out, sum] = kernels::residual_layer_norm_modulate(x, y_nan, table[5], following[0], following[1], 1e-6,
                                                                head);
        auto [ref_out, ref_sum] =
            kernels::residual_layer_norm_modulate(x, y_expected, table[5], following[0], following[1], 1e-6);
        CHECK(torch::equal(sum, ref_sum));
        CHECK(torch::equal(out, ref_out));
        // Every sample given: y is not read at all.
        const auto heads = torch::randn({2, 1, 16});
        auto [out_all, sum_all] = kernels::residual_layer_norm_modulate(
            x, torch::full_like(y, std::numeric_limits<float>::quiet_NaN()), {}, table[3], table[4], 1e-6, heads);
        CHECK(torch::equal(sum_all, x + heads));
        CHECK(torch::equal(out_all, kernels::layer_norm_modulate(x + heads, table[3], table[4], 1e-6)));
        REQUIRE_THROWS_WITH(
            kernels::residual_layer_norm_modulate(x, y, {}, table[3], table[4], 1e-6, torch::randn({3, 1, 16})),
            Catch::Contains("y_head must be [S, 1, D] with 1 <= S <= B = 2"));
        REQUIRE_THROWS_WITH(
            kernels::residual_layer_norm_modulate(x, y, {}, table[3], table[4], 1e-6, torch::randn({1, 5, 16})),
            Catch::Contains("y_head must be [S, 1, D]"));
        REQUIRE_THROWS_WITH(kernels::residual_layer_norm_modulate(x, y, {}, table[3], table[4], 1e-6,
                                                                  torch::randn({1, 1, 16}).to(torch::kDouble)),
                            Catch::Contains("of x's dtype and device"));
    }
    REQUIRE_THROWS_WITH(kernels::residual_layer_norm_modulate(x, y.narrow(1, 0, 4), {}, table[0], table[1], 1e-6),
                        Catch::Contains("of one shape and dtype"));
    REQUIRE_THROWS_WITH(kernels::residual_layer_norm_modulate(x, y, torch::randn({2, 1, 7}), table[0], table[1], 1e-6),
                        Catch::Contains("gate, shift and scale must be [B, 1, D]"));
    REQUIRE_THROWS_WITH(kernels::residual_layer_norm_modulate(x, y, {}, table[0], table[1], -1.0),
                        Catch::Contains("eps must not be negative"));
}

TEST_CASE("depthwise_taps: tap-major float32 weights with the bias as the last row", "[kernels]") {
    torch::manual_seed(16);
    auto weight = torch::randn({6, 1, 3, 3}).to(torch::kBFloat16);
    auto bias = torch::randn({6}).to(torch::kBFloat16);
    auto taps = kernels::depthwise_taps(weight, bias);
    REQUIRE(taps.sizes() == torch::IntArrayRef({10, 6}));
    REQUIRE(taps.scalar_type() == torch::kFloat);
    REQUIRE(taps.is_contiguous());
    for (int64_t c = 0; c < 6; ++c) {
        for (int64_t ky = 0; ky < 3; ++ky) {
            for (int64_t kx = 0; kx < 3; ++kx) {
                CHECK(taps[3 * ky + kx][c].item<float>() == weight[c][0][ky][kx].item<float>());
            }
        }
        CHECK(taps[9][c].item<float>() == bias[c].item<float>());
    }
    CHECK(torch::equal(kernels::depthwise_taps(weight, {})[9], torch::zeros({6})));
    auto x = torch::randn({1, 4, 4, 6});
    // The CPU reference runs the ATen ops on weight and bias whatever the taps say; bad taps are still refused.
    CHECK(torch::equal(kernels::silu_depthwise_conv3x3_gate_nhwc(x, weight.to(torch::kFloat), bias.to(torch::kFloat),
                                                                 taps),
                       kernels::silu_depthwise_conv3x3_gate_nhwc(x, weight.to(torch::kFloat), bias.to(torch::kFloat))));
    const auto short_taps = taps.narrow(0, 0, 9);
    REQUIRE_THROWS_WITH(kernels::silu_depthwise_conv3x3_gate_nhwc(x, weight.to(torch::kFloat), {}, short_taps),
                        Catch::Contains("taps must be depthwise_taps(weight, bias)"));
    REQUIRE_THROWS_WITH(kernels::depthwise_taps(torch::randn({6, 1, 5, 5}), {}), Catch::Contains("[2C, 1, 3, 3]"));
}

TEST_CASE("fused ops: bad arguments are rejected with messages that say what is wrong", "[kernels]") {
    auto x = torch::randn({2, 3, 8});
    REQUIRE_THROWS_WITH(kernels::layer_norm_modulate(x.flatten(), x, x, 1e-6), Catch::Contains("[B, N, D]"));
    REQUIRE_THROWS_WITH(kernels::layer_norm_modulate(x, torch::randn({2, 1, 7}), torch::randn({2, 1, 8}), 1e-6),
                        Catch::Contains("shift and scale must be [B, 1, D]"));
    REQUIRE_THROWS_WITH(kernels::rms_norm(x, torch::randn({7}), {}, 1e-6), Catch::Contains("weight must be [D = 8]"));
    REQUIRE_THROWS_WITH(kernels::rms_norm(x, {}, torch::randn({8}), 1e-6), Catch::Contains("a bias needs a weight"));
    auto img = torch::randn({1, 6, 4, 4});
    REQUIRE_THROWS_WITH(
        kernels::depthwise_conv3x3_silu_gate(torch::randn({1, 5, 4, 4}), torch::randn({5, 1, 3, 3}), {}),
        Catch::Contains("even number of channels"));
    REQUIRE_THROWS_WITH(kernels::depthwise_conv3x3_silu_gate(img, torch::randn({6, 1, 5, 5}), {}),
                        Catch::Contains("weight must be [2C = 6, 1, 3, 3]"));
    REQUIRE_THROWS_WITH(kernels::depthwise_conv3x3_silu_gate(img, torch::randn({6, 1, 3, 3}), torch::randn({3})),
                        Catch::Contains("bias must be [2C = 6]"));
    auto tokens = torch::randn({1, 4, 4, 6});
    REQUIRE_THROWS_WITH(
        kernels::silu_depthwise_conv3x3_gate_nhwc(torch::randn({1, 4, 4, 5}), torch::randn({5, 1, 3, 3}), {}),
                        Catch::Contains("even number of channels"));
    REQUIRE_THROWS_WITH(kernels::silu_depthwise_conv3x3_gate_nhwc(tokens, torch::randn({6, 1, 5, 5}), {}),
                        Catch::Contains("weight must be [2C = 6, 1, 3, 3]"));
    REQUIRE_THROWS_WITH(kernels::silu_depthwise_conv3x3_gate_nhwc(tokens.flatten(1, 2), torch::randn({6, 1, 3, 3}), {}),
                        Catch::Contains("[B, H, W, 2C]"));
}

TEST_CASE("group_norm (CPU): float32 statistics, an addend per (sample, channel), SiLU, any output layout",
          "[kernels]") {
    torch::manual_seed(31);
    const int64_t n = 3, c = 12, h = 5, w = 7, groups = 4;
    auto x = torch::randn({n, c, h, w}) * 3 + 1;
    auto weight = torch::randn({c});
    auto bias = torch::randn({c});
    auto add = torch::randn({n, c});
    SECTION("NCHW, with and without the addend, SiLU and affine parameters") {
        REQUIRE_ALLCLOSE(kernels::group_norm(x, groups, weight, bias, 1e-5, false),
                         group_norm_f64(x, {}, groups, weight, bias, 1e-5, false).to(torch::kFloat), 1e-5, 1e-5);
        REQUIRE_ALLCLOSE(kernels::group_norm(x, groups, weight, bias, 1e-5, true, add),
                         group_norm_f64(x, add, groups, weight, bias, 1e-5, true).to(torch::kFloat), 1e-5, 1e-5);
        REQUIRE_ALLCLOSE(kernels::group_norm(x, groups, {}, {}, 1e-6, false),
                         group_norm_f64(x, {}, groups, {}, {}, 1e-6, false).to(torch::kFloat), 1e-5, 1e-5);
    }
    SECTION("a channels-last input gives a channels-last result") {
        auto xl = x.contiguous(torch::MemoryFormat::ChannelsLast);
        auto y = kernels::group_norm(xl, groups, weight, bias, 1e-5, true, add);
        CHECK(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
        REQUIRE_ALLCLOSE(y, group_norm_f64(x, add, groups, weight, bias, 1e-5, true).to(torch::kFloat), 1e-5, 1e-5);
    }
    SECTION("the temporal blocks: [B, C, F, H, W] viewed from frame-major storage, written in sequence order") {
        const int64_t b = 2, f = 3;
        auto frames = torch::randn({b, f, c, h, w}) * 3 + 1;  // frame-major storage
        auto logical = frames.permute({0, 2, 1, 3, 4});      // [B, C, F, H, W], not contiguous
        auto seq = torch::empty({b, h, w, f, c});              // sequence order
        auto returned = kernels::group_norm(logical, groups, weight, bias, 1e-6, false, {}, seq.permute({0, 4, 3, 1, 2}));
        CHECK(returned.data_ptr() == seq.data_ptr());
        REQUIRE_ALLCLOSE(seq.permute({0, 4, 3, 1, 2}),
                         group_norm_f64(logical, {}, groups, weight, bias, 1e-6, false).to(torch::kFloat), 1e-5, 1e-5);
    }
    SECTION("bfloat16 and half: float32 arithmetic, one rounding at the end") {
        for (auto dtype : {torch::kBFloat16, torch::kHalf}) {
            auto x16 = x.to(dtype);
            auto y = kernels::group_norm(x16, groups, weight.to(dtype), bias.to(dtype), 1e-5, true, add);
            CHECK(y.scalar_type() == dtype);
            auto expected = group_norm_f64(x16, add, groups, weight.to(dtype), bias.to(dtype), 1e-5, true);
            const double unit = dtype == torch::kBFloat16 ? 1.0 / 128 : 1.0 / 1024;
            CHECK(((y.to(torch::kDouble) - expected).abs() <= expected.abs() * unit + 1e-6).all().item<bool>());
        }
    }
    SECTION("bad arguments") {
        REQUIRE_THROWS_WITH(kernels::group_norm(x, 5, weight, bias, 1e-5, false),
                            Catch::Contains("12 channels are not divisible into 5 groups"));
        REQUIRE_THROWS_WITH(kernels::group_norm(x, groups, weight, bias, 1e-5, false, add.to(torch::kDouble)),
                            Catch::Contains("channel_add must be float32 [N, C] = [3, 12]"));
        REQUIRE_THROWS_WITH(kernels::group_norm(x, groups, torch::randn({11}), bias, 1e-5, false),
                            Catch::Contains("weight and bias must be [C = 12]"));
        REQUIRE_THROWS_WITH(kernels::group_norm(x, groups, weight, bias, 1e-5, false, {}, torch::empty({3, 12, 5})),
                            Catch::Contains("out must be"));
        REQUIRE_THROWS_WITH(kernels::group_norm(x.flatten(), 1, {}, {}, 1e-5, false), Catch::Contains("[N, C, *]"));
    }
}

TEST_CASE("add_layer_norm (CPU): the residual add rounded as a separate add, then LayerNorm in float32",
          "[kernels]") {
    torch::manual_seed(32);
    auto x = torch::randn({2, 7, 24}) * 2;
    auto residual = torch::randn({2, 7, 24});
    auto weight = torch::randn({24}) * 0.5 + 1;
    auto bias = torch::randn({24}) * 0.1;
    torch::Tensor y, s;
    std::tie(y, s) = kernels::add_layer_norm(x, {}, weight, bias, 1e-5);
    CHECK(s.is_same(x));
    REQUIRE_ALLCLOSE(y, layer_norm_f64(x, weight, bias, 1e-5).to(torch::kFloat), 1e-5, 1e-5);
    std::tie(y, s) = kernels::add_layer_norm(x, residual, weight, bias, 1e-5);
    CHECK(s.equal(x + residual));
    REQUIRE_ALLCLOSE(y, layer_norm_f64(x + residual, weight, bias, 1e-5).to(torch::kFloat), 1e-5, 1e-5);
    // half: the sum rounded to half, the norm of the rounded sum rounded once.
    auto x16 = x.to(torch::kHalf), r16 = residual.to(torch::kHalf);
    std::tie(y, s) = kernels::add_layer_norm(x16, r16, weight.to(torch::kHalf), bias.to(torch::kHalf), 1e-5);
    CHECK(y.scalar_type() == torch::kHalf);
    CHECK(s.equal(x16 + r16));
    CHECK(rel_error(y, layer_norm_f64(x16 + r16, weight.to(torch::kHalf), bias.to(torch::kHalf), 1e-5)) < 2e-3);
    REQUIRE_THROWS_WITH(kernels::add_layer_norm(x, residual.narrow(1, 0, 3), weight, bias, 1e-5),
                        Catch::Contains("residual must be"));
    REQUIRE_THROWS_WITH(kernels::add_layer_norm(x, {}, torch::randn({23}), bias, 1e-5),
                        Catch::Contains("weight and bias must be [D = 24]"));
}

TEST_CASE("geglu (CPU): value · GELU(gate), GELU in its erf form", "[kernels]") {
    torch::manual_seed(33);
    auto h = torch::randn({3, 5, 2 * 16}) * 2;
    auto hd = h.to(torch::kDouble);
    auto value = hd.narrow(-1, 0, 16);
    auto gate = hd.narrow(-1, 16, 16);
    auto expected = value * gate * 0.5 * (1 + torch::erf(gate / std::sqrt(2.0)));
    auto out = kernels::geglu(h);
    CHECK(out.sizes() == torch::IntArrayRef({3, 5, 16}));
    REQUIRE_ALLCLOSE(out, expected.to(torch::kFloat), 1e-5, 1e-6);
    REQUIRE_THROWS_WITH(kernels::geglu(torch::randn({3, 7})), Catch::Contains("value and gate halves"));
}

TEST_CASE("add_channel_bias (CPU): a convolution's bias, then the residual", "[kernels]") {
    torch::manual_seed(34);
    auto y = torch::randn({2, 8, 3, 5});
    auto bias = torch::randn({8});
    auto residual = torch::randn({2, 8, 3, 5});
    auto b = bias.to(torch::kDouble).view({1, 8, 1, 1});
    REQUIRE_ALLCLOSE(kernels::add_channel_bias(y, bias, residual),
                     (y.to(torch::kDouble) + b + residual.to(torch::kDouble)).to(torch::kFloat), 1e-6, 1e-6);
    REQUIRE_ALLCLOSE(kernels::add_channel_bias(y, bias), (y.to(torch::kDouble) + b).to(torch::kFloat), 1e-6, 1e-6);
    // 5-D (the temporal convolutions' [B, C, F, H, W]).
    auto y5 = torch::randn({2, 8, 3, 2, 2});
    REQUIRE_ALLCLOSE(kernels::add_channel_bias(y5, bias),
                     (y5.to(torch::kDouble) + bias.to(torch::kDouble).view({1, 8, 1, 1, 1})).to(torch::kFloat), 1e-6,
                     1e-6);
    REQUIRE_THROWS_WITH(kernels::add_channel_bias(y, torch::randn({7})), Catch::Contains("bias must be [C = 8]"));
    REQUIRE_THROWS_WITH(kernels::add_channel_bias(y, bias, residual.narrow(3, 0, 2)),
                        Catch::Contains("residual must have y's shape"));
}

TEST_CASE("short_sequence_attention (CPU): softmax attention with and without a boolean mask", "[kernels]") {
    torch::manual_seed(35);
    auto q = torch::randn({2, 3, 16, 32});
    auto k = torch::randn({2, 3, 12, 32});
    auto v = torch::randn({2, 3, 12, 32});
    auto attention_f64 = [](const torch::Tensor& qq, const torch::Tensor& kk, const torch::Tensor& vv,
                            const torch::Tensor& mask) {
        auto scores = torch::matmul(qq.to(torch::kDouble), kk.to(torch::kDouble).transpose(-2, -1)) /
                      std::sqrt(static_cast<double>(qq.size(-1)));
        if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -INFINITY);
        return torch::matmul(torch::softmax(scores, -1), vv.to(torch::kDouble));
    };
    REQUIRE_ALLCLOSE(kernels::short_sequence_attention(q, k, v), attention_f64(q, k, v, {}).to(torch::kFloat), 1e-5,
                     1e-5);
    auto mask = torch::ones({16, 12}, torch::kBool).tril();  // query i sees keys <= i
    REQUIRE_ALLCLOSE(kernels::short_sequence_attention(q, k, v, mask), attention_f64(q, k, v, mask).to(torch::kFloat),
                     1e-5, 1e-5);
    auto q16 = q.to(torch::kBFloat16), k16 = k.to(torch::kBFloat16), v16 = v.to(torch::kBFloat16);
    auto out16 = kernels::short_sequence_attention(q16, k16, v16);
    CHECK(out16.scalar_type() == torch::kBFloat16);
    CHECK(rel_error(out16, attention_f64(q16, k16, v16, {})) < 1e-2);
    REQUIRE_THROWS_WITH(kernels::short_sequence_attention(q, k, v.narrow(2, 0, 5)), Catch::Contains("do not fit"));
    REQUIRE_THROWS_WITH(kernels::short_sequence_attention(q, k, v, mask.to(torch::kFloat)),
                        Catch::Contains("mask must be bool [Lq, Lk] = [16, 12]"));
}
