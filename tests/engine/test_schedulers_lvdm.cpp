// LVDM DDIM (VideoCrafter2, DynamiCrafter): the schedule tensors of vc2_pipeline_tiny / dc_pipeline_tiny, and the
// DDIM loop against an independent re-implementation (below, written from the DDIM maths on the golden's own
// schedule tensors, sharing no code with engine/src/schedulers).
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "schedulers/parameterization.h"
#include "schedulers/samplers.h"
#include "schedulers/scheduler_kind.h"
#include "schedulers/sigmas.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

using namespace engine;
using namespace engine::schedulers;
using test_support::GoldenCase;

namespace {

at::Tensor to_f32_tensor(const std::vector<double>& v) {
    return at::tensor(at::ArrayRef<double>(v), at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
}

at::Tensor to_i64_tensor(const std::vector<std::int64_t>& v) {
    return at::tensor(at::ArrayRef<std::int64_t>(v), at::TensorOptions().dtype(at::kLong));
}

DDIMSpacing spacing_of(const GoldenCase& gc) {
    if (!gc.meta().contains("timestep_spacing")) {
        return DDIMSpacing::Uniform;  // VideoCrafter's only spacing
    }
    auto s = ddim_spacing_from_string(gc.meta().at("timestep_spacing").get<std::string>());
    REQUIRE(s);
    return *s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// Schedules against the goldens

TEST_CASE("LVDM schedule: VideoCrafter2 alphas_cumprod, DDIM tables and scale arrays match the golden",
          "[schedulers]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    auto cfg = LVDMDiffusionConfig::from_json(gc.config(), "vc2_pipeline_tiny/config.json");
    REQUIRE(cfg);
    CHECK(cfg->parameterization == Parameterization::Epsilon);
    CHECK(cfg->rescale == LatentRescale::VideoCrafter);
    CHECK(cfg->scale_b == 0.7);
    CHECK_FALSE(cfg->rescale_betas_zero_snr);

    const std::vector<double> ac = cfg->alphas_cumprod();
    REQUIRE_MAXDIFF_REL(to_f32_tensor(ac), gc.io("alphas_cumprod"), 1e-4);
    const std::vector<double> scale_arr = cfg->scale_arr();
    REQUIRE_MAXDIFF_REL(to_f32_tensor(scale_arr), gc.io("model_scale_arr"), 1e-4);

    auto ts = ddim_timesteps(spacing_of(gc), gc.meta().at("steps").get<int>(), cfg->num_timesteps);
    REQUIRE(ts);
    REQUIRE(at::equal(to_i64_tensor(*ts), gc.io("ddim_timesteps")));  // 6 steps → 7 DDPM steps, as VideoCrafter

    // The golden's ddim_sigmas are those of the eta = 1 run.
    auto s = make_ddim_schedule(ac, *ts, 1.0, cfg->parameterization, cfg->rescale, scale_arr);
    REQUIRE(s);
    CHECK_MAXDIFF_REL(to_f32_tensor(s->alphas), gc.io("ddim_alphas"), 1e-4);
    CHECK_MAXDIFF_REL(to_f32_tensor(s->alphas_prev), gc.io("ddim_alphas_prev"), 1e-4);
    CHECK_MAXDIFF_REL(to_f32_tensor(s->sigmas), gc.io("ddim_sigmas"), 1e-4);
    CHECK_MAXDIFF_REL(to_f32_tensor(s->scale), gc.io("ddim_scale_arr"), 1e-4);
    CHECK_MAXDIFF_REL(to_f32_tensor(s->scale_prev), gc.io("ddim_scale_arr_prev"), 1e-4);
}

TEST_CASE("LVDM schedule: DynamiCrafter zero-SNR alphas_cumprod, trailing timesteps and scale array match the golden",
          "[schedulers]") {
    auto gc = GoldenCase::load("dc_pipeline_tiny");
    auto cfg = LVDMDiffusionConfig::from_json(gc.config(), "dc_pipeline_tiny/config.json");
    REQUIRE(cfg);
    CHECK(cfg->parameterization == Parameterization::V);
    CHECK(cfg->rescale == LatentRescale::DynamiCrafter);
    CHECK(cfg->rescale_betas_zero_snr);

    const std::vector<double> ac = cfg->alphas_cumprod();
    REQUIRE(ac.back() == 0.0);  // zero terminal SNR
    REQUIRE_MAXDIFF_REL(to_f32_tensor(ac), gc.io("alphas_cumprod"), 1e-4);
    REQUIRE_MAXDIFF_REL(to_f32_tensor(cfg->scale_arr()), gc.io("scale_arr"), 1e-4);

    REQUIRE(spacing_of(gc) == DDIMSpacing::UniformTrailing);
    auto ts = ddim_timesteps(DDIMSpacing::UniformTrailing, gc.meta().at("steps").get<int>(), cfg->num_timesteps);
    REQUIRE(ts);
    REQUIRE(at::equal(to_i64_tensor(*ts), gc.io("ddim_timesteps")));
}

TEST_CASE("ddim_timesteps: the spacings as LVDM documents them, and bad step counts", "[schedulers]") {
    auto uniform = ddim_timesteps(DDIMSpacing::Uniform, 50);
    REQUIRE(uniform);
    REQUIRE(uniform->size() == 50);
    CHECK(uniform->front() == 1);
    CHECK((*uniform)[1] == 21);
    CHECK(uniform->back() == 981);

    auto trailing = ddim_timesteps(DDIMSpacing::UniformTrailing, 50);
    REQUIRE(trailing);
    REQUIRE(trailing->size() == 50);
    CHECK(trailing->front() == 19);
    CHECK(trailing->back() == 999);

    // numpy's arange gives one extra ≈0 entry for some step counts (61 is the first); LVDM would run it as
    // timestep −1. It is not a real step: the schedule keeps exactly S steps ending at 999.
    for (int steps : {61, 103, 121}) {
        auto t = ddim_timesteps(DDIMSpacing::UniformTrailing, steps);
        REQUIRE(t);
        CAPTURE(steps);
        CHECK(t->size() == static_cast<size_t>(steps));
        CHECK(t->front() >= 0);
        CHECK(t->back() == 999);
    }
    // Every S: strictly ascending, inside [0, 999]. Uniform: when T // S divides 999 (S = 3, 9, …, and all S > 500)
    // LVDM's range(0, T, T // S) + 1 ends at 1000, past the schedule, and the reference fails: a clear error here.
    for (int steps = 1; steps <= 1000; ++steps) {
        for (DDIMSpacing sp : {DDIMSpacing::Uniform, DDIMSpacing::UniformTrailing}) {
            auto t = ddim_timesteps(sp, steps);
            if (sp == DDIMSpacing::Uniform && (999 % (1000 / steps)) == 0) {
                REQUIRE_FALSE(t);
                REQUIRE(t.error().code == ErrorCode::InvalidRequest);
                continue;
            }
            REQUIRE(t);
            REQUIRE(t->front() >= 0);
            REQUIRE(t->back() <= 999);
            for (size_t i = 1; i < t->size(); ++i) {
                REQUIRE((*t)[i] > (*t)[i - 1]);
            }
        }
    }
    auto three = ddim_timesteps(DDIMSpacing::Uniform, 3);
    REQUIRE_FALSE(three);
    CHECK_THAT(three.error().message, Catch::Contains("use 2 or 4 steps"));
    for (int bad : {0, -3, 1001}) {
        auto t = ddim_timesteps(DDIMSpacing::Uniform, bad);
        REQUIRE_FALSE(t);
        CHECK(t.error().code == ErrorCode::InvalidRequest);
    }
}

TEST_CASE("LVDM config: unsupported diffusion settings are UnsupportedModel", "[schedulers]") {
    nlohmann::json params = GoldenCase::load("vc2_pipeline_tiny").config().at("model").at("params");
    {
        nlohmann::json j = params;
        j["use_dynamic_rescale"] = true;
        auto c = LVDMDiffusionConfig::from_json(j, "cfg");
        REQUIRE_FALSE(c);
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
    }
    {
        nlohmann::json j = params;
        j["parameterization"] = "x0";
        auto c = LVDMDiffusionConfig::from_json(j, "cfg");
        REQUIRE_FALSE(c);
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
    }
    {
        nlohmann::json j = params;
        j["beta_schedule"] = "karras";
        auto c = LVDMDiffusionConfig::from_json(j, "cfg");
        REQUIRE_FALSE(c);
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
    }
    {
        nlohmann::json j = params;
        j["linear_start"] = "0.00085";
        auto c = LVDMDiffusionConfig::from_json(j, "cfg");
        REQUIRE_FALSE(c);
        CHECK(c.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(c.error().message, Catch::Contains("linear_start"));
    }
    {
        nlohmann::json j = params;  // VC1 t2v 512: no use_scale at all
        j.erase("use_scale");
        j.erase("scale_b");
        auto c = LVDMDiffusionConfig::from_json(j, "cfg");
        REQUIRE(c);
        CHECK(c->rescale == LatentRescale::None);
        CHECK(c->scale_arr().empty());
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// The DDIM loop against an independent implementation

namespace oracle {

// Plain DDIM (Song et al. eq. 12) over tables given as float32 tensors, with the two LVDM latent rescales, written
// from the maths: x0 from eps (or from v: x0 = √ᾱ x − √(1−ᾱ) v, eps = √ᾱ v + √(1−ᾱ) x), then
// x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·eps + σ·z.
struct Tables {
    at::Tensor ts;          // [S] int64, ascending
    at::Tensor a;           // [S] ᾱ at ts
    at::Tensor a_prev;      // [S]
    at::Tensor sigma;       // [S]
    at::Tensor ac_full;     // [T] for v-prediction
    at::Tensor scale;       // [S] or undefined
    at::Tensor scale_prev;  // [S] or undefined
};

struct Run {
    at::Tensor x;
    std::vector<at::Tensor> x_inter;
    std::vector<at::Tensor> pred_x0;
};

template <typename Model>
Run ddim(const Tables& tb, at::Tensor x, bool v_pred, int rescale /*0 none, 1 VC, 2 DC*/, const Model& model,
         const std::vector<at::Tensor>& noises) {
    Run r;
    const int64_t n = tb.ts.size(0);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t k = n - 1 - i;
        const int64_t t = tb.ts[k].item<int64_t>();
        const at::Tensor a = tb.a[k];
        const at::Tensor ap = tb.a_prev[k];
        const at::Tensor sg = tb.sigma[k];
        const at::Tensor out = model(x, t);
        at::Tensor eps, x0;
        if (v_pred) {
            const at::Tensor sa = tb.ac_full[t].sqrt();
            const at::Tensor sb = (1 - tb.ac_full[t]).sqrt();
            eps = sa * out + sb * x;
            x0 = sa * x - sb * out;
        } else {
            eps = out;
            x0 = (x - (1 - a).sqrt() * eps) / a.sqrt();
        }
        at::Tensor c0 = ap.sqrt();
        if (rescale == 1) {
            x0 = x0 / tb.scale[k];
            c0 = c0 * tb.scale_prev[k];
        } else if (rescale == 2) {
            x0 = x0 * (tb.scale_prev[k] / tb.scale[k]);
        }
        x = c0 * x0 + (1 - ap - sg * sg).sqrt() * eps + sg * noises[static_cast<size_t>(i)];
        r.x_inter.push_back(x);
        r.pred_x0.push_back(x0);
    }
    r.x = x;
    return r;
}

double sample_std(const at::Tensor& t) {
    const at::Tensor d = t.to(at::kDouble).flatten();
    const at::Tensor c = d - d.sum() / static_cast<double>(d.numel());
    return std::sqrt((c * c).sum().item<double>() / static_cast<double>(d.numel() - 1));
}

}  // namespace oracle

TEST_CASE("sample_ddim: VideoCrafter2 (eps, use_scale, uniform) equals an independent DDIM on the golden tables",
          "[schedulers]") {
    const double eta = GENERATE(0.0, 1.0);
    CAPTURE(eta);
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    auto cfg = LVDMDiffusionConfig::from_json(gc.config(), "vc2");
    REQUIRE(cfg);
    auto ts = ddim_timesteps(DDIMSpacing::Uniform, gc.meta().at("steps").get<int>());
    REQUIRE(ts);
    auto sched = make_ddim_schedule(cfg->alphas_cumprod(), *ts, eta, Parameterization::Epsilon,
                                    LatentRescale::VideoCrafter, cfg->scale_arr());
    REQUIRE(sched);
    const int n = sched->num_steps();

    const auto opts = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor x_T = gc.io("eta0.x_T");  // [1, 4, 4, 8, 12]
    at::manual_seed(8);
    std::vector<at::Tensor> noises;
    for (int i = 0; i < n; ++i) {
        noises.push_back(at::randn(x_T.sizes(), opts));
    }
    auto toy = [](const at::Tensor& x, int64_t t) {
        return at::tanh(0.7 * x) + 0.001 * static_cast<double>(t) * at::cos(x) - 0.2;
    };
    int draws = 0;
    NoiseFn draw = [&](const at::Tensor& like) {
        REQUIRE(like.sizes() == x_T.sizes());
        return noises.at(static_cast<size_t>(draws++));
    };
    std::vector<at::Tensor> x_inter, pred_x0;
    std::vector<double> seen_t;
    StepHooks hooks;
    hooks.maybe_preview = [&](int, int, const at::Tensor& lat, const at::Tensor& den) {
        x_inter.push_back(lat);
        pred_x0.push_back(den);
    };
    DenoiseFn denoise = [&](const at::Tensor& x, const DenoiseInput& in) {
        seen_t.push_back(in.timestep);
        return toy(x, static_cast<int64_t>(in.timestep));
    };
    const at::Tensor out = sample_ddim(denoise, x_T, *sched, draw, hooks);
    CHECK(draws == n);  // drawn every step, also with eta = 0
    REQUIRE(seen_t.size() == static_cast<size_t>(n));
    CHECK(seen_t.front() == 997.0);
    CHECK(seen_t.back() == 1.0);

    oracle::Tables tb;
    tb.ts = gc.io("ddim_timesteps");
    tb.a = gc.io("ddim_alphas");
    tb.a_prev = gc.io("ddim_alphas_prev");
    tb.sigma = gc.io("ddim_sigmas") * eta;  // the golden's are eta = 1
    tb.scale = gc.io("ddim_scale_arr");
    tb.scale_prev = gc.io("ddim_scale_arr_prev");
    const oracle::Run ref = oracle::ddim(tb, x_T, false, 1, toy, noises);
    REQUIRE(x_inter.size() == ref.x_inter.size());
    for (size_t i = 0; i < x_inter.size(); ++i) {
        CAPTURE(i);
        CHECK_MAXDIFF_REL(x_inter[i], ref.x_inter[i], 1e-5);
        CHECK_MAXDIFF_REL(pred_x0[i], ref.pred_x0[i], 1e-5);
    }
    REQUIRE_MAXDIFF_REL(out, ref.x, 1e-5);
}

TEST_CASE("sample_ddim: DynamiCrafter (v, zero SNR, trailing, dynamic rescale, CFG rescale) equals an independent DDIM",
          "[schedulers]") {
    const double eta = GENERATE(0.0, 1.0);
    CAPTURE(eta);
    auto gc = GoldenCase::load("dc_pipeline_tiny");
    auto cfg = LVDMDiffusionConfig::from_json(gc.config(), "dc");
    REQUIRE(cfg);
    auto ts = ddim_timesteps(DDIMSpacing::UniformTrailing, gc.meta().at("steps").get<int>());
    REQUIRE(ts);
    auto sched =
        make_ddim_schedule(cfg->alphas_cumprod(), *ts, eta, Parameterization::V, cfg->rescale, cfg->scale_arr());
    REQUIRE(sched);
    const int n = sched->num_steps();
    const double cfg_scale = gc.meta().at("cfg").get<double>();
    const double guidance_rescale = gc.meta().at("guidance_rescale").get<double>();

    const auto opts = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor x_T = gc.io("eta0.x_T");  // [1, 4, 16, 4, 8]
    at::manual_seed(6);
    std::vector<at::Tensor> noises;
    for (int i = 0; i < n; ++i) {
        noises.push_back(at::randn(x_T.sizes(), opts));
    }
    auto cond = [](const at::Tensor& x, int64_t t) {
        return at::tanh(0.7 * x) + 0.0005 * static_cast<double>(t) * at::cos(x);
    };
    auto uncond = [](const at::Tensor& x, int64_t) { return 0.5 * at::tanh(x); };
    // The oracle's guidance: CFG then Lin et al. §3.4 rescale, per sample, by hand.
    auto guided = [&](const at::Tensor& x, int64_t t) {
        const at::Tensor c = cond(x, t);
        const at::Tensor u = uncond(x, t);
        at::Tensor g = u + cfg_scale * (c - u);
        std::vector<at::Tensor> rows;
        for (int64_t b = 0; b < g.size(0); ++b) {
            const double ratio = oracle::sample_std(c[b]) / oracle::sample_std(g[b]);
            rows.push_back(guidance_rescale * ratio * g[b] + (1.0 - guidance_rescale) * g[b]);
        }
        return at::stack(rows);
    };
    int draws = 0;
    NoiseFn draw = [&](const at::Tensor&) { return noises.at(static_cast<size_t>(draws++)); };
    std::vector<at::Tensor> x_inter, pred_x0;
    StepHooks hooks;
    hooks.maybe_preview = [&](int, int, const at::Tensor& lat, const at::Tensor& den) {
        x_inter.push_back(lat);
        pred_x0.push_back(den);
    };
    DenoiseFn denoise = [&](const at::Tensor& x, const DenoiseInput& in) {
        const auto t = static_cast<int64_t>(in.timestep);
        return classifier_free_guidance(uncond(x, t), cond(x, t), cfg_scale, guidance_rescale);
    };
    const at::Tensor out = sample_ddim(denoise, x_T, *sched, draw, hooks);
    CHECK(draws == n);

    oracle::Tables tb;
    const at::Tensor ac = gc.io("alphas_cumprod");
    tb.ts = gc.io("ddim_timesteps");
    tb.a = ac.index({tb.ts});
    tb.a_prev = at::cat({ac.slice(0, 0, 1), ac.index({tb.ts.slice(0, 0, n - 1)})});
    tb.sigma = eta * ((1 - tb.a_prev) / (1 - tb.a) * (1 - tb.a / tb.a_prev)).sqrt();
    tb.ac_full = ac;
    tb.scale = gc.io("scale_arr").index({tb.ts});
    tb.scale_prev = at::cat({tb.scale.slice(0, 0, 1), tb.scale.slice(0, 0, n - 1)});
    const oracle::Run ref = oracle::ddim(tb, x_T, true, 2, guided, noises);
    REQUIRE(x_inter.size() == ref.x_inter.size());
    for (size_t i = 0; i < x_inter.size(); ++i) {
        CAPTURE(i);
        CHECK_MAXDIFF_REL(x_inter[i], ref.x_inter[i], 1e-5);
        CHECK_MAXDIFF_REL(pred_x0[i], ref.pred_x0[i], 1e-5);
    }
    REQUIRE_MAXDIFF_REL(out, ref.x, 1e-5);
}

TEST_CASE("sample_ddim: eta > 0 without a noise function is refused", "[schedulers]") {
    auto ts = ddim_timesteps(DDIMSpacing::Uniform, 5);
    REQUIRE(ts);
    LVDMDiffusionConfig cfg;
    auto sched = make_ddim_schedule(cfg.alphas_cumprod(), *ts, 1.0, Parameterization::Epsilon, LatentRescale::None);
    REQUIRE(sched);
    DenoiseFn zero = [](const at::Tensor& x, const DenoiseInput&) { return at::zeros_like(x); };
    const at::Tensor x = at::randn({1, 4, 2, 2});
    REQUIRE_THROWS(sample_ddim(zero, x, *sched, {}));
    auto eta0 = make_ddim_schedule(cfg.alphas_cumprod(), *ts, 0.0, Parameterization::Epsilon, LatentRescale::None);
    REQUIRE(eta0);
    REQUIRE_NOTHROW(sample_ddim(zero, x, *eta0, {}));
}
