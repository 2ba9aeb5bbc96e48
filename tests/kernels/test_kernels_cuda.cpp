// Our CUDA kernels against their CPU references (kernels/src/ops_cpu.cpp), computed in float32 from the same inputs:
// several shapes including odd and non-contiguous ones, the real Sana / DC-AE sizes, each supported dtype. Hidden
// ([.cuda]): run with `test_kernels "[cuda]"` on a GPU machine (ctest label gpu). Before each call the CUDA caching
// allocator is filled with NaN blocks, so an output element the kernel fails to write shows up as NaN.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "support/tensor_checks.h"

namespace {

bool cuda_ready() {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return false;
    }
    REQUIRE(kernels::has_cuda_kernels());
    return true;
}

// Leaves NaN-filled blocks in both pools of the caching allocator (small < 1 MB, large), for the next allocations.
void poison_cuda_allocator() {
    const auto opts = torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA);
    std::vector<torch::Tensor> blocks;
    for (int64_t n : {int64_t{1} << 10, int64_t{1} << 14, int64_t{1} << 17, int64_t{1} << 22, int64_t{1} << 25}) {
        blocks.push_back(torch::full({n}, std::numeric_limits<float>::quiet_NaN(), opts));
    }
    torch::cuda::synchronize();
}

double rel_error(const torch::Tensor& a, const torch::Tensor& b) {
    const auto ad = a.to(torch::kCPU, torch::kDouble);
    const auto bd = b.to(torch::kCPU, torch::kDouble);
    return ((ad - bd).norm() / bd.norm().clamp_min(1e-300)).item<double>();
}

// float32: elementwise; half / bfloat16 inputs and outputs: relative L2 error (METHOD: 1e-3 .. 1e-2 for bf16).
void check_against(const torch::Tensor& cuda_out, const torch::Tensor& cpu_ref_f32, torch::ScalarType dtype) {
    const auto out = cuda_out.to(torch::kCPU);
    REQUIRE(out.sizes() == cpu_ref_f32.sizes());
    REQUIRE(out.isfinite().all().item<bool>());
    if (dtype == torch::kFloat) {
        REQUIRE_ALLCLOSE(out.to(torch::kFloat), cpu_ref_f32, 1e-4, 1e-5);
    } else {
        const double err = rel_error(out, cpu_ref_f32);
        INFO("relative L2 error " << err << " (" << torch::toString(dtype) << ")");
        REQUIRE(err < (dtype == torch::kHalf ? 3e-3 : 1e-2));
    }
}

}  // namespace

TEST_CASE("relu_linear_attention (CUDA): fused kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(20);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    struct Case {
        std::string name;
        std::vector<int64_t> shape;  // B, H, N, D
        int64_t dv;
        int layout;  // 0 contiguous, 1 Sana (heads split off [B, N, H·D]), 2 DC-AE ([B, G, D, N] transposed)
    };
    const auto c =
        GENERATE(Case{"tiny odd", {1, 2, 7, 8}, 8, 0}, Case{"Dv != D", {2, 3, 50, 16}, 24, 0},
                 Case{"Sana 600M heads", {2, 36, 1024, 32}, 32, 1}, Case{"Sana 1600M heads", {2, 70, 1024, 32}, 32, 1},
                 Case{"DC-AE layout", {1, 32, 4096, 32}, 32, 2}, Case{"head 64", {1, 4, 300, 64}, 64, 1},
                 Case{"head 80 (ATen path)", {1, 2, 33, 80}, 80, 0}, Case{"single token", {2, 2, 1, 32}, 32, 0},
                 Case{"Sana 1600M heads, 2048²", {1, 70, 4096, 32}, 32, 1},
                 Case{"Sana layout, odd tokens", {2, 6, 333, 32}, 32, 1});
    INFO(c.name << " " << torch::toString(dtype));
    const int64_t b = c.shape[0], h = c.shape[1], n = c.shape[2], d = c.shape[3];
    auto make = [&](int64_t width) {
        if (c.layout == 1) return torch::randn({b, n, h * width}).view({b, n, h, width}).transpose(1, 2);
        if (c.layout == 2) return torch::randn({b, h, width, n}).transpose(-1, -2);
        return torch::randn({b, h, n, width});
    };
    auto q = make(d), k = make(d), v = make(c.dv);
    auto qc = q.to(dtype), kc = k.to(dtype), vc = v.to(dtype);
    auto ref = kernels::relu_linear_attention(qc.to(torch::kFloat), kc.to(torch::kFloat), vc.to(torch::kFloat), 1e-15);
    auto qg = qc.to(torch::kCUDA), kg = kc.to(torch::kCUDA), vg = vc.to(torch::kCUDA);
    poison_cuda_allocator();
    auto out = kernels::relu_linear_attention(qg, kg, vg, 1e-15);
    CHECK(out.scalar_type() == dtype);
    check_against(out, ref, dtype);
    if (dtype != torch::kFloat) {
        // Sharper: against the float32 reference rounded to the dtype, only near-ties may differ. (bfloat16 at D = 32
        // in Sana's layout runs the tensor-core passes: a KV carried to bfloat16 only, without its lo term, would be
        // off by ≈ 2e-3 here.)
        const double err = rel_error(out, ref.to(dtype));
        INFO("relative L2 error against the rounded reference " << err);
        CHECK(err < 5e-4);
    }
    // Deterministic: the chunk sums are added in a fixed order.
    poison_cuda_allocator();
    auto again = kernels::relu_linear_attention(qg, kg, vg, 1e-15);
    REQUIRE(torch::equal(out, again));
    // The result is laid out like v, so the models' reshape back to tokens is free for Sana's layout.
    if (c.layout == 1) {
        CHECK(out.transpose(1, 2).is_contiguous());
    }
}

TEST_CASE("layer_norm_modulate (CUDA): fused kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(21);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    const auto shape = GENERATE(std::vector<int64_t>{1, 7, 33}, std::vector<int64_t>{2, 1024, 2240},
                                std::vector<int64_t>{2, 1024, 1152}, std::vector<int64_t>{3, 5, 4096});
    INFO(torch::toString(dtype) << " " << shape);
    const int64_t b = shape[0], n = shape[1], d = shape[2];
    auto x = (torch::randn({b, n, d}) * 4 + 1).to(dtype);
    auto mod = (torch::randn({b, 6, d}) * 0.5).to(dtype).chunk(6, 1);  // [B, 1, D] views, as the blocks use them
    auto ref =
        kernels::layer_norm_modulate(x.to(torch::kFloat), mod[0].to(torch::kFloat), mod[1].to(torch::kFloat), 1e-6);
    poison_cuda_allocator();
    auto out = kernels::layer_norm_modulate(x.cuda(), mod[0].cuda(), mod[1].cuda(), 1e-6);
    CHECK(out.scalar_type() == dtype);
    check_against(out, ref, dtype);
    SECTION("shared modulation, non-contiguous x") {
        auto xt = (torch::randn({b, d, n}) * 2).to(dtype).transpose(1, 2);
        auto shift = torch::randn({1, 1, d}).to(dtype);
        auto scale = torch::randn({1, 1, d}).to(dtype);
        auto ref2 =
            kernels::layer_norm_modulate(xt.to(torch::kFloat), shift.to(torch::kFloat), scale.to(torch::kFloat), 1e-5);
        poison_cuda_allocator();
        check_against(kernels::layer_norm_modulate(xt.cuda(), shift.cuda(), scale.cuda(), 1e-5), ref2, dtype);
    }
    SECTION("per-batch shift with a shared scale") {
        auto scale = torch::randn({1, 1, d}).to(dtype);
        auto ref3 =
            kernels::layer_norm_modulate(x.to(torch::kFloat), mod[0].to(torch::kFloat), scale.to(torch::kFloat), 1e-6);
        poison_cuda_allocator();
        check_against(kernels::layer_norm_modulate(x.cuda(), mod[0].cuda(), scale.cuda(), 1e-6), ref3, dtype);
    }
}

TEST_CASE("rms_norm (CUDA): fused kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(22);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    const auto shape = GENERATE(std::vector<int64_t>{2, 300, 2240}, std::vector<int64_t>{2, 1024, 2240},
                                std::vector<int64_t>{5, 17}, std::vector<int64_t>{1, 1}, std::vector<int64_t>{64, 128},
                                std::vector<int64_t>{1, 32, 32, 1024});
    INFO(torch::toString(dtype) << " " << shape);
    const int64_t d = shape.back();
    auto x = (torch::randn(shape) * 3).to(dtype);
    auto weight = (torch::randn({d}) * 0.5 + 1).to(dtype);
    auto bias = (torch::randn({d}) * 0.1).to(dtype);
    auto xf = x.to(torch::kFloat);
    SECTION("weight (Sana caption_norm, Sprint qk norms)") {
        auto ref = kernels::rms_norm(xf, weight.to(torch::kFloat), {}, 1e-5);
        poison_cuda_allocator();
        auto out = kernels::rms_norm(x.cuda(), weight.cuda(), {}, 1e-5);
        CHECK(out.scalar_type() == dtype);
        check_against(out, ref, dtype);
    }
    SECTION("weight and bias") {
        auto ref = kernels::rms_norm(xf, weight.to(torch::kFloat), bias.to(torch::kFloat), 1e-6);
        poison_cuda_allocator();
        check_against(kernels::rms_norm(x.cuda(), weight.cuda(), bias.cuda(), 1e-6), ref, dtype);
    }
    SECTION("float32 weight, result in x's dtype (Gemma-2's 1 + w)") {
        auto scale = weight.to(torch::kFloat) + 1.0;
        auto ref = kernels::rms_norm(xf, scale, {}, 1e-6);  // float32
        poison_cuda_allocator();
        auto out = kernels::rms_norm(x.cuda(), scale.cuda(), {}, 1e-6, dtype);
        CHECK(out.scalar_type() == dtype);
        check_against(out, ref, dtype);
    }
    SECTION("no weight, non-contiguous x") {
        auto xt = x.transpose(0, -1);
        auto ref = kernels::rms_norm(xt.to(torch::kFloat), {}, {}, 1e-6);
        poison_cuda_allocator();
        check_against(kernels::rms_norm(xt.cuda(), {}, {}, 1e-6), ref, dtype);
    }
    SECTION("weight, bias and a residual (the DC-AE blocks' x + norm(h)), contiguous and not") {
        auto residual = torch::randn(shape).to(dtype);
        auto ref = kernels::rms_norm(xf, weight.to(torch::kFloat), bias.to(torch::kFloat), 1e-5, std::nullopt,
                                     residual.to(torch::kFloat));
        poison_cuda_allocator();
        auto out = kernels::rms_norm(x.cuda(), weight.cuda(), bias.cuda(), 1e-5, std::nullopt, residual.cuda());
        CHECK(out.scalar_type() == dtype);
        check_against(out, ref, dtype);
        // The kernel adds the residual to the norm rounded to the dtype, as the separate add does.
        auto unfused = kernels::rms_norm(x.cuda(), weight.cuda(), bias.cuda(), 1e-5) + residual.cuda();
        CHECK(out.equal(unfused));
        auto rt = residual.transpose(0, -1).contiguous().transpose(0, -1);  // same shape, other strides
        check_against(kernels::rms_norm(x.cuda(), weight.cuda(), bias.cuda(), 1e-5, std::nullopt, rt.cuda()), ref,
                      dtype);
    }
}

TEST_CASE("bias_silu (CUDA): vectorised kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(26);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    // The DC-AE ResBlocks' channel counts on smaller maps (channels last: [B, H, W, C]; the CPU reference of a 1024 px
    // map takes tens of seconds), small and odd ones.
    const auto shape = GENERATE(std::vector<int64_t>{1, 96, 160, 128}, std::vector<int64_t>{1, 40, 48, 512},
                                std::vector<int64_t>{2, 3, 5, 16}, std::vector<int64_t>{3, 7, 12});
    INFO(torch::toString(dtype) << " " << shape);
    auto x = (torch::randn(shape) * 3).to(dtype);
    auto bias = torch::randn({shape.back()}).to(dtype);
    auto ref = kernels::bias_silu(x.to(torch::kFloat), bias.to(torch::kFloat));
    poison_cuda_allocator();
    auto out = kernels::bias_silu(x.cuda(), bias.cuda());
    CHECK(out.scalar_type() == dtype);
    check_against(out, ref, dtype);
    if (dtype != torch::kFloat) {
        // The same two roundings as ATen's add and SiLU: at most one unit in the last place apart (expf vs ATen's exp).
        const auto diff = (out.to(torch::kFloat) - at::silu(x.cuda() + bias.cuda()).to(torch::kFloat)).abs();
        const auto ulp = out.to(torch::kFloat).abs() * (dtype == torch::kBFloat16 ? 1.0 / 128 : 1.0 / 1024) + 1e-6;
        CHECK((diff <= ulp).all().item<bool>());
    }
    SECTION("non-contiguous x goes to the ATen ops") {
        auto xt = x.transpose(0, 1);
        check_against(kernels::bias_silu(xt.cuda(), bias.cuda()),
                      kernels::bias_silu(xt.to(torch::kFloat), bias.to(torch::kFloat)), dtype);
    }
}

TEST_CASE("depthwise_conv3x3_silu_gate (CUDA): fused kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(23);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    struct Case {
        std::string name;
        std::vector<int64_t> shape;  // B, 2C, H, W
        bool channels_last;
        bool bias;
    };
    const auto c = GENERATE(Case{"tiny odd NCHW", {1, 6, 5, 7}, false, true},
                            Case{"tiny odd channels-last", {2, 10, 3, 9}, true, true},
                            Case{"Sana 1600M FF (channels-last)", {2, 11200, 32, 32}, true, true},
                            Case{"Sana 600M FF (channels-last)", {2, 5760, 32, 32}, true, true},
                            Case{"DC-AE MLP (NCHW)", {1, 8192, 64, 64}, false, true},
                            Case{"no bias", {1, 4, 4, 4}, false, false}, Case{"1x1 image", {1, 2, 1, 1}, true, true});
    INFO(c.name << " " << torch::toString(dtype));
    auto x = torch::randn(c.shape).to(dtype);
    if (c.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto weight = (torch::randn({c.shape[1], 1, 3, 3}) * 0.3).to(dtype);
    auto bias = c.bias ? (torch::randn({c.shape[1]}) * 0.1).to(dtype) : torch::Tensor();
    auto ref = kernels::depthwise_conv3x3_silu_gate(x.to(torch::kFloat), weight.to(torch::kFloat),
                                                    c.bias ? bias.to(torch::kFloat) : torch::Tensor());
    poison_cuda_allocator();
    auto out = kernels::depthwise_conv3x3_silu_gate(x.cuda(), weight.cuda(), c.bias ? bias.cuda() : torch::Tensor());
    CHECK(out.scalar_type() == dtype);
    check_against(out, ref, dtype);
    if (c.channels_last && c.shape[2] * c.shape[3] > 1) {
        CHECK(out.is_contiguous(torch::MemoryFormat::ChannelsLast));
    }
}

TEST_CASE("silu_depthwise_conv3x3_gate_nhwc (CUDA): fused kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(24);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    struct Case {
        std::string name;
        std::vector<int64_t> shape;  // B, H, W, 2C
        bool bias;
    };
    const auto c = GENERATE(Case{"tiny, one channel group", {1, 5, 7, 16}, true},
                            Case{"odd grid, partial tiles", {2, 9, 13, 48}, true},
                            Case{"partial channel group", {1, 8, 8, 144}, true},
                            Case{"two strips, row ranges", {1, 37, 70, 80}, true},
                            Case{"Sana 4K grid", {1, 128, 128, 64}, true},
                            Case{"Sana 1600M FF", {2, 32, 32, 11200}, true},
                            Case{"Sana 600M FF", {2, 32, 32, 5760}, true},
                            Case{"DC-AE MLP", {1, 64, 64, 4096}, true}, Case{"no bias", {1, 4, 4, 32}, false},
                            Case{"1x1 grid", {1, 1, 1, 16}, true},
                            Case{"C not a whole vector (ATen path)", {2, 16, 16, 6}, true});
    INFO(c.name << " " << torch::toString(dtype));
    auto x = (torch::randn(c.shape) * 2).to(dtype);
    auto weight = (torch::randn({c.shape[3], 1, 3, 3}) * 0.3).to(dtype);
    auto bias = c.bias ? (torch::randn({c.shape[3]}) * 0.1).to(dtype) : torch::Tensor();
    auto ref = kernels::silu_depthwise_conv3x3_gate_nhwc(x.to(torch::kFloat), weight.to(torch::kFloat),
                                                         c.bias ? bias.to(torch::kFloat) : torch::Tensor());
    poison_cuda_allocator();
    auto out =
        kernels::silu_depthwise_conv3x3_gate_nhwc(x.cuda(), weight.cuda(), c.bias ? bias.cuda() : torch::Tensor());
    CHECK(out.scalar_type() == dtype);
    CHECK(out.is_contiguous());
    check_against(out, ref, dtype);
    // The weights converted once (as the models hold them) give the same result as the per-call conversion.
    const auto bias_cuda = c.bias ? bias.cuda() : torch::Tensor();
    const auto taps = kernels::depthwise_taps(weight.cuda(), bias_cuda);
    CHECK(torch::equal(kernels::silu_depthwise_conv3x3_gate_nhwc(x.cuda(), weight.cuda(), bias_cuda, taps), out));
    SECTION("a [B, N, 2C] projection viewed on its grid, offset by one pixel") {
        auto wide = (torch::randn({c.shape[0], c.shape[1] * c.shape[2] + 1, c.shape[3]}) * 2).to(dtype);
        auto view = wide.cuda().narrow(1, 1, c.shape[1] * c.shape[2]).view({c.shape[0], c.shape[1], c.shape[2], -1});
        auto ref_v = kernels::silu_depthwise_conv3x3_gate_nhwc(view.cpu().to(torch::kFloat), weight.to(torch::kFloat),
                                                               c.bias ? bias.to(torch::kFloat) : torch::Tensor());
        check_against(kernels::silu_depthwise_conv3x3_gate_nhwc(view, weight.cuda(),
                                                                c.bias ? bias.cuda() : torch::Tensor()),
                      ref_v, dtype);
    }
}

TEST_CASE("gated_residual (CUDA): vectorised kernel matches the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(25);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    const auto shape = GENERATE(std::vector<int64_t>{2, 1024, 2240}, std::vector<int64_t>{2, 1024, 1152},
                                std::vector<int64_t>{1, 3, 16}, std::vector<int64_t>{2, 7, 6});
    INFO(torch::toString(dtype) << " " << shape);
    auto x = torch::randn(shape).to(dtype);
    auto y = torch::randn(shape).to(dtype);
    auto mod = (torch::randn({shape[0], 6, shape[2]}) * 0.5).to(dtype).chunk(6, 1);
    auto ref = kernels::gated_residual(x.to(torch::kFloat), mod[2].to(torch::kFloat), y.to(torch::kFloat));
    poison_cuda_allocator();
    auto out = kernels::gated_residual(x.cuda(), mod[2].cuda(), y.cuda());
    CHECK(out.scalar_type() == dtype);
    check_against(out, ref, dtype);
    SECTION("one gate row for every batch") {
        auto shared = torch::randn({1, 1, shape[2]}).to(dtype);
        auto ref2 = kernels::gated_residual(x.to(torch::kFloat), shared.to(torch::kFloat), y.to(torch::kFloat));
        check_against(kernels::gated_residual(x.cuda(), shared.cuda(), y.cuda()), ref2, dtype);
    }
}

TEST_CASE("residual_layer_norm_modulate (CUDA): the sum and norm equal the separate CUDA ops; the norm matches the CPU",
          "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(26);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    // Sana 1600M / 600M at 1024² (the warp-per-row kernel), a short row, an odd width (the separate ops' fallback).
    const auto shape = GENERATE(std::vector<int64_t>{2, 1024, 2240}, std::vector<int64_t>{2, 1024, 1152},
                                std::vector<int64_t>{1, 3, 16}, std::vector<int64_t>{2, 7, 33});
    const bool gated = GENERATE(true, false);
    INFO(torch::toString(dtype) << " " << shape << (gated ? " gated" : " plain"));
    const int64_t b = shape[0], d = shape[2];
    auto x = (torch::randn(shape) * 4 + 1).to(dtype);
    auto y = torch::randn(shape).to(dtype);
    // As the model passes them: the gate from this block's rows of a [B, blocks, 6, D] table, shift and scale from
    // the next block's (or from the final layer's [B, 2, D]).
    auto blocks = (torch::randn({b, 3, 6, d}) * 0.5).to(dtype);
    auto gate = gated ? blocks.select(1, 0).chunk(6, 1)[5] : torch::Tensor();
    auto next = blocks.select(1, 1).chunk(6, 1);
    auto final = (torch::randn({b, 2, d}) * 0.5).to(dtype).chunk(2, 1);
    for (int following = 0; following < 2; ++following) {
        const auto& shift = following == 0 ? next[0] : final[0];
        const auto& scale = following == 0 ? next[1] : final[1];
        INFO((following == 0 ? "next block's norm1" : "final norm"));
        const auto f32 = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat) : t; };
        auto [ref_out, ref_sum] =
            kernels::residual_layer_norm_modulate(f32(x), f32(y), f32(gate), f32(shift), f32(scale), 1e-6);
        const auto xc = x.cuda(), yc = y.cuda();
        const auto gc = gated ? gate.cuda() : torch::Tensor();
        poison_cuda_allocator();
        auto [out, sum] = kernels::residual_layer_norm_modulate(xc, yc, gc, shift.cuda(), scale.cuda(), 1e-6);
        CHECK(out.scalar_type() == dtype);
        CHECK(sum.scalar_type() == dtype);
        // The separate ops on the GPU, bit for bit: the sum as gated_residual / the add rounds it, the norm of it.
        const auto separate_sum = gated ? kernels::gated_residual(xc, gc, yc) : xc + yc;
        CHECK(torch::equal(sum, separate_sum));
        CHECK(torch::equal(out, kernels::layer_norm_modulate(separate_sum, shift.cuda(), scale.cuda(), 1e-6)));
        check_against(sum, ref_sum, dtype);
        check_against(out, ref_out, dtype);
    }
    SECTION("y_head: the first sample's y is one row (a constant cross-attention); its rows of y are not read") {
        const auto head = (torch::randn({1, 1, d}) * 2).to(dtype);
        auto y_expected = y.clone();
        y_expected[0].copy_(head[0].expand({shape[1], d}));
        const auto gc = gated ? gate.cuda() : torch::Tensor();
        auto [ref_out, ref_sum] = kernels::residual_layer_norm_modulate(x.cuda(), y_expected.cuda(), gc,
                                                                        next[0].cuda(), next[1].cuda(), 1e-6);
        auto y_nan = y.cuda();
        y_nan[0].fill_(std::numeric_limits<float>::quiet_NaN());
        poison_cuda_allocator();
        auto [out, sum] = kernels::residual_layer_norm_modulate(x.cuda(), y_nan, gc, next[0].cuda(), next[1].cuda(),
                                                                1e-6, head.cuda());
        // The same kernel with the head row read where it lies: bit for bit the run on the filled y.
        CHECK(torch::equal(sum, ref_sum));
        CHECK(torch::equal(out, ref_out));
    }
}

TEST_CASE("quantize_rows_e4m3 (CUDA): the same bytes and scales as the CPU reference", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(31);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    // Sana 1600M's GEMM inputs (2240, 5600 features), a weight ([11200, 2240] rows), odd widths (scalar path).
    const auto shape = GENERATE(std::vector<int64_t>{8192, 2240}, std::vector<int64_t>{600, 5600},
                                std::vector<int64_t>{11200, 2240}, std::vector<int64_t>{3, 37},
                                std::vector<int64_t>{1, 8});
    INFO(torch::toString(dtype) << " " << shape);
    auto x = (torch::randn(shape) * torch::exp(torch::randn(shape))).to(dtype);
    x[0].zero_();
    auto [q_ref, scale_ref] = kernels::quantize_rows_e4m3(x);
    poison_cuda_allocator();
    auto [q, scale] = kernels::quantize_rows_e4m3(x.cuda());
    REQUIRE(q.is_cuda());
    CHECK(torch::equal(q.cpu(), q_ref));
    CHECK(torch::equal(scale.cpu(), scale_ref));
    SECTION("rows of a wider tensor (row stride larger than the row)") {
        auto wide = torch::randn({shape[0], shape[1] + 8}).to(dtype);
        auto view = wide.slice(1, 0, shape[1]);
        auto [qv_ref, sv_ref] = kernels::quantize_rows_e4m3(view);
        auto [qv, sv] = kernels::quantize_rows_e4m3(wide.cuda().slice(1, 0, shape[1]));
        CHECK(torch::equal(qv.cpu(), qv_ref));
        CHECK(torch::equal(sv.cpu(), sv_ref));
    }
}

TEST_CASE("group_norm (CUDA): matches the CPU reference on the video UNet's layouts", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(41);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    struct Case {
        std::string name;
        std::vector<int64_t> shape;  // N, C, H, W
        int64_t groups;
        bool channels_last;
        bool silu;
        bool add;
    };
    // VideoCrafter2's channel counts (320 · {1, 2, 4} and the decoder's concatenations 960, 1920, 2560) on smaller
    // maps, an odd count (the scalar path), NCHW input (the ATen fallback), and a single position.
    const auto c = GENERATE(Case{"ResBlock in_norm, 320 ch", {8, 320, 20, 32}, 32, true, true, false},
                            Case{"ResBlock out_norm + time embedding, 640 ch", {4, 640, 10, 16}, 32, true, true, true},
                            Case{"decoder concat 960 ch", {2, 960, 10, 16}, 32, true, true, false},
                            Case{"decoder concat 2560 ch", {2, 2560, 5, 8}, 32, true, true, true},
                            Case{"transformer norm, no SiLU, 1280 ch", {4, 1280, 5, 8}, 32, true, false, false},
                            Case{"odd channels", {3, 6, 5, 7}, 3, true, true, true},
                            Case{"NCHW input", {2, 64, 6, 10}, 32, false, true, true},
                            Case{"one position", {4, 64, 1, 1}, 32, true, false, true});
    INFO(c.name << " " << torch::toString(dtype));
    const int64_t channels = c.shape[1];
    auto x = (torch::randn(c.shape) * 2 + 0.5).to(dtype);
    if (c.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto weight = (torch::randn({channels}) * 0.5 + 1).to(dtype);
    auto bias = (torch::randn({channels}) * 0.2).to(dtype);
    auto add = c.add ? torch::randn({c.shape[0], channels}) : torch::Tensor();
    auto ref = kernels::group_norm(x.to(torch::kFloat), c.groups, weight.to(torch::kFloat), bias.to(torch::kFloat),
                                   1e-5, c.silu, add);
    poison_cuda_allocator();
    auto out = kernels::group_norm(x.cuda(), c.groups, weight.cuda(), bias.cuda(), 1e-5, c.silu,
                                   c.add ? add.cuda() : torch::Tensor());
    CHECK(out.scalar_type() == dtype);
    if (c.channels_last && c.shape[2] * c.shape[3] > 1) {
        CHECK(out.is_contiguous(torch::MemoryFormat::ChannelsLast));
    }
    check_against(out, ref, dtype);
}

TEST_CASE("group_norm (CUDA): frame-major videos normalised over frames, written as sequences or Conv3d input",
          "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(42);
    const auto dtype = GENERATE(torch::kFloat, torch::kHalf);
    const int64_t b = 2, f = 16, c = 320, h = 10, w = 16, groups = 32;
    // [(B·F), C, H, W] channels-last frames, as the UNet holds them, viewed as [B, C, F, H, W].
    auto frames = (torch::randn({b * f, c, h, w}) * 3 + 1).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
    auto logical = [&](const torch::Tensor& t) { return t.view({b, f, c, h, w}).permute({0, 2, 1, 3, 4}); };
    auto weight = (torch::randn({c}) * 0.5 + 1).to(dtype);
    auto bias = (torch::randn({c}) * 0.2).to(dtype);
    auto ref = kernels::group_norm(logical(frames.to(torch::kFloat)), groups, weight.to(torch::kFloat),
                                   bias.to(torch::kFloat), 1e-6, false);
    SECTION("into sequence order [B, H, W, F, C] (the temporal transformer)") {
        poison_cuda_allocator();
        auto seq = torch::empty({b, h, w, f, c}, torch::TensorOptions().dtype(dtype).device(torch::kCUDA));
        kernels::group_norm(logical(frames.cuda()), groups, weight.cuda(), bias.cuda(), 1e-6, false, {},
                            seq.permute({0, 4, 3, 1, 2}));
        check_against(seq.permute({0, 4, 3, 1, 2}), ref, dtype);
    }
    SECTION("into channels-last-3d [B, C, F, H, W] with SiLU and a conv bias (the temporal convolutions)") {
        auto add = torch::randn({c}).unsqueeze(0).expand({b, c}).contiguous();
        auto ref_silu = kernels::group_norm(logical(frames.to(torch::kFloat)), groups, weight.to(torch::kFloat),
                                            bias.to(torch::kFloat), 1e-6, true, add);
        poison_cuda_allocator();
        auto y = torch::empty({b, c, f, h, w},
                              torch::TensorOptions().dtype(dtype).device(torch::kCUDA).memory_format(
                                  torch::MemoryFormat::ChannelsLast3d));
        kernels::group_norm(logical(frames.cuda()), groups, weight.cuda(), bias.cuda(), 1e-6, true, add.cuda(), y);
        check_against(y, ref_silu, dtype);
    }
    SECTION("statistics far from zero: a large mean does not cancel the variance") {
        auto shifted = frames.to(torch::kFloat) * 0.05 + 300.0;  // std ≈ 0.15 around 300 (float32 only)
        // float64 statistics: ATen's own float32 group_norm on this permuted layout is off by 83× (see ops_cpu.cpp).
        auto grouped = logical(shifted).to(torch::kDouble).contiguous().view({b, groups, -1});
        auto mean = grouped.mean(-1, /*keepdim=*/true);
        auto var = (grouped - mean).pow(2).mean(-1, /*keepdim=*/true);
        auto exact = ((grouped - mean) / torch::sqrt(var + 1e-6)).view({b, c, f, h, w});
        poison_cuda_allocator();
        auto out = kernels::group_norm(logical(shifted.cuda()), groups, {}, {}, 1e-6, false);
        const double err = rel_error(out, exact);
        const double ref_err = rel_error(kernels::group_norm(logical(shifted), groups, {}, {}, 1e-6, false), exact);
        INFO("relative L2 error " << err << " (the CPU reference: " << ref_err << ")");
        // Each output is x · a + b with x ≈ 300 and a ≈ 1 / 0.15: the float32 rounding of that product alone is
        // ≈ 1e-4 of the result.
        CHECK(err < 1e-3);
        CHECK(ref_err < 1e-3);
    }
}

TEST_CASE("add_layer_norm (CUDA): matches the CPU reference; the sum equals the separate add", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(43);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    // The video UNet's token widths (320, 640, 1280) at many rows, and an odd width (ATen fallback).
    const auto shape = GENERATE(std::vector<int64_t>{8, 2560, 320}, std::vector<int64_t>{2560, 16, 640},
                                std::vector<int64_t>{4, 160, 1280}, std::vector<int64_t>{5, 17});
    INFO(torch::toString(dtype) << " " << shape);
    const int64_t d = shape.back();
    auto x = (torch::randn(shape) * 2).to(dtype);
    auto residual = torch::randn(shape).to(dtype);
    auto weight = (torch::randn({d}) * 0.5 + 1).to(dtype);
    auto bias = (torch::randn({d}) * 0.1).to(dtype);
    auto f = [](const torch::Tensor& t) { return t.to(torch::kFloat); };
    poison_cuda_allocator();
    auto [y, s] = kernels::add_layer_norm(x.cuda(), residual.cuda(), weight.cuda(), bias.cuda(), 1e-5);
    CHECK(s.equal(x.cuda() + residual.cuda()));
    // Reference from the same rounded sum (the float32 CPU add of half values would not round).
    check_against(y, std::get<0>(kernels::add_layer_norm(f(s.cpu()), {}, f(weight), f(bias), 1e-5)), dtype);
    const auto xc = x.cuda();
    auto [y0, s0] = kernels::add_layer_norm(xc, {}, weight.cuda(), bias.cuda(), 1e-5);
    CHECK(s0.is_same(xc));  // without a residual the "sum" is x itself
    check_against(y0, std::get<0>(kernels::add_layer_norm(f(x), {}, f(weight), f(bias), 1e-5)), dtype);
}

TEST_CASE("geglu (CUDA): matches the CPU reference and ATen's GELU and multiply", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(44);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    const auto shape = GENERATE(std::vector<int64_t>{4096, 2 * 1280}, std::vector<int64_t>{8, 2560, 2 * 1280},
                                std::vector<int64_t>{7, 2 * 24}, std::vector<int64_t>{3, 2 * 5});
    INFO(torch::toString(dtype) << " " << shape);
    auto h = (torch::randn(shape) * 2).to(dtype);
    auto ref = kernels::geglu(h.to(torch::kFloat));
    poison_cuda_allocator();
    auto out = kernels::geglu(h.cuda());
    check_against(out, ref, dtype);
    // ATen's own ops on the GPU: the same two roundings, at most one unit in the last place apart.
    const int64_t inner = shape.back() / 2;
    auto hc = h.cuda();
    auto aten = hc.narrow(-1, 0, inner) * at::gelu(hc.narrow(-1, inner, inner));
    const auto diff = (out.to(torch::kFloat) - aten.to(torch::kFloat)).abs();
    const double unit = dtype == torch::kBFloat16 ? 1.0 / 128 : dtype == torch::kHalf ? 1.0 / 1024 : 1e-6;
    CHECK((diff <= aten.to(torch::kFloat).abs() * unit + 1e-6).all().item<bool>());
}

TEST_CASE("add_channel_bias (CUDA): bit-equal to ATen's two adds on channels-last maps", "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(45);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    auto opts = torch::TensorOptions().dtype(dtype).device(torch::kCUDA);
    auto bias = torch::randn({320}).to(opts);
    SECTION("2-D maps, with and without the residual") {
        auto y = torch::randn({8, 320, 20, 32}, opts).contiguous(torch::MemoryFormat::ChannelsLast);
        auto residual = torch::randn({8, 320, 20, 32}, opts).contiguous(torch::MemoryFormat::ChannelsLast);
        poison_cuda_allocator();
        auto out = kernels::add_channel_bias(y, bias, residual);
        CHECK(out.is_contiguous(torch::MemoryFormat::ChannelsLast));
        CHECK(out.equal((y + bias.view({1, 320, 1, 1})) + residual));
        CHECK(kernels::add_channel_bias(y, bias).equal(y + bias.view({1, 320, 1, 1})));
    }
    SECTION("channels-last-3d (the temporal convolutions) and NCHW (the ATen path)") {
        auto y = torch::randn({2, 320, 16, 5, 8}, opts).contiguous(torch::MemoryFormat::ChannelsLast3d);
        auto residual = torch::randn({2, 320, 16, 5, 8}, opts).contiguous(torch::MemoryFormat::ChannelsLast3d);
        poison_cuda_allocator();
        CHECK(kernels::add_channel_bias(y, bias, residual).equal((y + bias.view({1, 320, 1, 1, 1})) + residual));
        auto yn = torch::randn({2, 320, 4, 6}, opts);
        CHECK(kernels::add_channel_bias(yn, bias, yn).equal((yn + bias.view({1, 320, 1, 1})) + yn));
    }
}

TEST_CASE("short_sequence_attention (CUDA): matches the CPU reference on the temporal attention's layouts",
          "[.cuda][kernels]") {
    if (!cuda_ready()) return;
    torch::manual_seed(46);
    const auto dtype = GENERATE(torch::kFloat, torch::kBFloat16, torch::kHalf);
    struct Case {
        std::string name;
        int64_t batch, lq, lk, heads, d;
        bool causal;
    };
    // VideoCrafter2's temporal attention (16 frames, heads of 64 split off [B·H·W, F, H·64] projections) at a
    // reduced position count, a causal mask (DynamiCrafter's option), odd and unequal lengths, the widest (32) and
    // the other head widths, and a width the kernel does not take (40: the reference ops, in float32).
    const auto c = GENERATE(Case{"VideoCrafter2 level 0", 2 * 640, 16, 16, 5, 64, false},
                            Case{"VideoCrafter2 level 2, causal", 2 * 40, 16, 16, 20, 64, true},
                            Case{"odd lengths", 33, 7, 11, 3, 64, false}, Case{"32 frames", 17, 32, 32, 2, 32, true},
                            Case{"head 128", 9, 16, 16, 2, 128, false},
                            Case{"head 16 (the goldens' tiny models)", 7, 24, 24, 2, 16, false},
                            Case{"head 40", 5, 16, 16, 2, 40, false});
    INFO(c.name << " " << torch::toString(dtype));
    auto proj = [&](int64_t len) {  // [B, L, H·D] → [B, H, L, D] (a view)
        return torch::randn({c.batch, len, c.heads * c.d}).to(dtype).view({c.batch, len, c.heads, c.d}).transpose(1, 2);
    };
    auto q = proj(c.lq), k = proj(c.lk), v = proj(c.lk);
    auto mask = c.causal ? torch::ones({c.lq, c.lk}, torch::kBool).tril() : torch::Tensor();
    auto f = [](const torch::Tensor& t) { return t.to(torch::kFloat); };
    auto ref = kernels::short_sequence_attention(f(q), f(k), f(v), mask);
    poison_cuda_allocator();
    auto out = kernels::short_sequence_attention(q.cuda(), k.cuda(), v.cuda(), c.causal ? mask.cuda() : torch::Tensor());
    CHECK(out.scalar_type() == dtype);
    check_against(out, ref, dtype);
    if (c.d != 40) {
        CHECK(out.transpose(1, 2).is_contiguous());  // heads inner: merging them back is a view
    }
}
