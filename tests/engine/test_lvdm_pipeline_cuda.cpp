// VideoCrafter2 text-to-video (and DynamiCrafter image-to-video, at the end) on CUDA against vc2_pipeline_tiny (issue #9's GPU parity): float32 (TF32 off) at the
// golden README's tolerances for every DDIM step, the samples and the decoded video; float16 (the dtype the
// reference benchmark runs VideoCrafter in, via autocast) within 1e-2 relative L2 of the float32 reference. Beside
// each number the test prints what the original lvdm code itself reaches in float16 on the same case, measured with
// .ref/bench/lvdm_fp16_baseline.py (lvdm's DDIMSampler, UNetModel and Decoder under torch.autocast(float16), NVIDIA
// H200, torch 2.11, 2026-11-27; its float32 run reproduced the golden to 8e-6, which checks the harness). eta 1 has
// no such number (the reference draws its step noise on the GPU), so float16 is judged at eta 0. Hidden ([.cuda]):
// CPU CI skips it; the GPU run selects it with "[cuda]".
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cstdio>
#include <optional>
#include <vector>

#include "core/torch_compat.h"
#include "pipelines/lvdm_pipeline.h"
#include "runtime/cuda_graph.h"
#include "support/golden_case.h"
#include "support/lvdm_golden.h"
#include "support/tensor_checks.h"

using engine::pipelines::LVDMTrace;
using test_support::GoldenCase;

namespace {

// lvdm's own float16 (autocast) relative L2 error on vc2_pipeline_tiny, eta 0: x_inter[0..7], samples, video.
const std::vector<double> kLvdmFp16Eta0 = {0.0,      0.008901, 0.009082, 0.00903,  0.008988, 0.008954,
                                           0.008939, 0.008938, 0.008938, 0.009219};

// A golden pipeline on the GPU in `dtype` (TF32 off); channels_last: the UNet's and the VAE's layout (nullopt: the
// pipeline's CUDA default, channels-last).
engine::Expected<std::shared_ptr<engine::pipelines::LVDMPipeline>> load_on_cuda(const GoldenCase& gc,
                                                                                at::ScalarType dtype,
                                                                                std::optional<bool> channels_last) {
    engine::core::set_cuda_tf32(false);
    engine::pipelines::LVDMLoadOptions lo;
    lo.config_path = gc.file("config.json").string();
    lo.tokenizer_path = test_support::clip_vocab_dir();
    lo.device = c10::Device(c10::kCUDA, 0);
    lo.dtype = dtype;
    lo.vae_dtype = dtype;
    lo.channels_last = channels_last;
    auto p = engine::pipelines::load_lvdm_pipeline(gc.file("model.ckpt").string(), lo);
    INFO((p ? std::string() : p.error().message));
    REQUIRE(p.has_value());
    return p;
}

// Every step's latents, the final latents and the decoded video of `trace` against the golden's `prefix` tensors,
// each through `check(what, actual, expected)`.
template <typename Check>
void check_trace(const LVDMTrace& trace, const GoldenCase& gc, const std::string& prefix, Check&& check) {
    const at::Tensor x_inter = gc.io(prefix + "x_inter");
    for (int64_t i = 0; i < x_inter.size(0); ++i) {
        check("x_inter[" + std::to_string(i) + "]", trace.x_inter[static_cast<size_t>(i)], x_inter[i]);
    }
    check("samples", trace.samples, gc.io(prefix + "samples"));
    check("video", trace.video, gc.io(prefix + "video"));
}

// The steps ran through the UNet's CUDA graph: one capture (the batch of two), then a replay every step.
void check_step_graphs(const engine::pipelines::LVDMPipeline& pipe, int64_t steps) {
    if (!engine::runtime::cuda_graphs_built() || !engine::runtime::cuda_graphs_allowed_by_env()) return;
    REQUIRE(pipe.unet_graphs);
    CHECK_FALSE(pipe.unet_graphs->failed());
    CHECK(pipe.unet_graphs->captures() == 1);
    CHECK(pipe.unet_graphs->replays() == steps);
}

// float32 against the golden: the README's pipeline bound, 2e-3 relative to max(1, |expected|) and 2e-3 absolute.
void check_float32(const std::string& label, const std::string& what, const at::Tensor& actual,
                   const at::Tensor& expected) {
    const auto rep = test_support::maxdiff_rel_report(actual, expected, 2e-3);
    std::printf("[%s] %-12s max abs diff %.3e\n", label.c_str(), what.c_str(), rep.max_abs_diff);
    INFO(rep.summary);
    CHECK(rep.ok);
    CHECK(rep.max_abs_diff <= 2e-3);
}

void run_vc2_on_cuda(at::ScalarType dtype, double eta, std::optional<bool> channels_last = std::nullopt) {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    const bool reduced = dtype != at::kFloat;
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    auto p = load_on_cuda(gc, dtype, channels_last);

    auto o = engine::pipelines::resolve_lvdm_options(*p.value(), test_support::vc2_request_from(gc, eta));
    INFO((o ? std::string() : o.error().message));
    REQUIRE(o.has_value());

    LVDMTrace trace;
    torch::NoGradGuard no_grad;
    engine::pipelines::generate_lvdm(*p.value(), *o, {}, &trace);
    const std::string prefix = eta == 0.0 ? "eta0." : "eta1.";
    const at::Tensor x_inter = gc.io(prefix + "x_inter");
    REQUIRE(static_cast<int64_t>(trace.x_inter.size()) == x_inter.size(0));
    size_t checked = 0;
    const char* layout = channels_last.value_or(true) ? "" : " NCHW";
    auto check = [&](const std::string& what, const at::Tensor& actual, const at::Tensor& expected) {
        CAPTURE(what);
        const at::Tensor a = actual.to(at::kCPU, at::kFloat);
        const size_t index = checked++;
        if (reduced) {
            REQUIRE(index < kLvdmFp16Eta0.size());
            const auto rep = test_support::relative_l2_report(a, expected, 1e-2);
            std::printf("[cuda %s eta %g%s] %-12s (lvdm fp16: %.4g) %s\n", c10::toString(dtype), eta, layout,
                        what.c_str(), kLvdmFp16Eta0[index], rep.summary.c_str());
            INFO(rep.summary);
            CHECK(rep.ok);
        } else {
            char label[64];
            std::snprintf(label, sizeof label, "cuda %s eta %g%s", c10::toString(dtype), eta, layout);
            check_float32(label, what, a, expected);
        }
    };
    check_trace(trace, gc, prefix, check);
    check_step_graphs(*p.value(), x_inter.size(0) - 1);  // x_inter: x_T, then one entry a step
}

}  // namespace

TEST_CASE("lvdm pipeline (CUDA, float32): VideoCrafter2 matches vc2_pipeline_tiny at every step", "[.cuda][pipelines]") {
    run_vc2_on_cuda(at::kFloat, 0.0);
    run_vc2_on_cuda(at::kFloat, 1.0);
    // NCHW UNet and VAE: the group norms and bias adds take ATen's ops.
    run_vc2_on_cuda(at::kFloat, 0.0, /*channels_last=*/false);
}

TEST_CASE("lvdm pipeline (CUDA, float16): VideoCrafter2 within 1e-2 relative (L2) of the float32 reference",
          "[.cuda][pipelines]") {
    run_vc2_on_cuda(at::kHalf, 0.0);
    run_vc2_on_cuda(at::kHalf, 0.0, /*channels_last=*/false);
}

namespace {

// DynamiCrafter image-to-video (dc_pipeline_tiny: the hybrid first-frame input, image cross-attention, the frame
// stride, zero-SNR v-prediction with guidance rescale) on CUDA, channels-last and graphed by default.
void run_dc_on_cuda(at::ScalarType dtype, double eta) {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    auto gc = GoldenCase::load("dc_pipeline_tiny");
    auto p = load_on_cuda(gc, dtype, std::nullopt);
    const at::Tensor image = gc.io("image");  // [1, 3, H, W] in [-1, 1]
    auto o = engine::pipelines::resolve_lvdm_options(*p.value(), test_support::dc_request_from(gc, eta));
    INFO((o ? std::string() : o.error().message));
    REQUIRE(o.has_value());
    o->image = image;  // the golden feeds a float image (not 8-bit)
    o->clip_image = image;

    LVDMTrace trace;
    torch::NoGradGuard no_grad;
    engine::pipelines::generate_lvdm(*p.value(), *o, {}, &trace);
    const std::string prefix = eta == 0.0 ? "eta0." : "eta1.";
    const at::Tensor x_inter = gc.io(prefix + "x_inter");
    REQUIRE(static_cast<int64_t>(trace.x_inter.size()) == x_inter.size(0));
    auto check = [&](const std::string& what, const at::Tensor& actual, const at::Tensor& expected) {
        CAPTURE(what);
        const at::Tensor a = actual.to(at::kCPU, at::kFloat);
        if (dtype == at::kFloat) {
            char label[64];
            std::snprintf(label, sizeof label, "cuda dc Float eta %g", eta);
            check_float32(label, what, a, expected);
        } else {
            // A sanity bound for the half-precision plumbing, not a precision claim: this tiny zero-SNR case amplifies
            // float16 rounding step by step, and the final latents' error moved with mere op order on an H200
            // (2026-11-27): 5.8 % ours (kernels, channels-last, graphs), 7.6 % ATen ops channels-last, 5.6 % ours
            // NCHW, 4.2 % ATen ops NCHW eager (the video 5.5–9.9 %). No lvdm float16 number was measured for it.
            const auto rep = test_support::relative_l2_report(a, expected, 0.15);
            std::printf("[cuda dc %s eta %g] %-12s %s\n", c10::toString(dtype), eta, what.c_str(), rep.summary.c_str());
            INFO(rep.summary);
            CHECK(rep.ok);
        }
    };
    check_trace(trace, gc, prefix, check);
    check_step_graphs(*p.value(), x_inter.size(0) - 1);  // x_inter: x_T, then one entry a step
}

}  // namespace

TEST_CASE("lvdm pipeline (CUDA, float32): DynamiCrafter matches dc_pipeline_tiny at every step", "[.cuda][pipelines]") {
    run_dc_on_cuda(at::kFloat, 0.0);
    run_dc_on_cuda(at::kFloat, 1.0);
}

TEST_CASE("lvdm pipeline (CUDA, float16): DynamiCrafter runs in half precision (sanity bound)", "[.cuda][pipelines]") {
    run_dc_on_cuda(at::kHalf, 0.0);
}
