// Flow schedulers (Sana), SCM (Sana-Sprint), scheduler configs and the step hooks (CPU, and [.cuda]: pacing on the
// device, previews through pinned memory).
// Goldens: sched_flow_dpmpp_20, sched_flow_dpmpp_7_shift6, sched_flow_euler_20 (diffusers), the scheduler configs of
// sana_pipeline_tiny / sana_sprint_pipeline_tiny. SCM has no standalone golden: its maths is checked against an
// independent computation (LibTorch's own linspace/cos/sin, and the constants of docs/reference/sana.md §3.4).
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/log.h"
#include "runtime/cancel_token.h"
#include "runtime/job_context.h"
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

// The toy model of the sched_* goldens (INDEX.json meta "toy_model"): tanh(0.7x) + 0.01·(t/1000)·cos(x), where t is
// the timestep the scheduler hands to the model (int64 for DPM-Solver, float32 for Euler; t/1000 is float32).
const char* kToyModel = "tanh(0.7x)+0.01*(t/1000)*cos(x)";
at::Tensor toy_model(const at::Tensor& x, double t) {
    const float coef = 0.01f * static_cast<float>(t / 1000.0);
    return at::tanh(0.7 * x) + static_cast<double>(coef) * at::cos(x);
}

nlohmann::json dpm_config_json() {
    auto gc = GoldenCase::load("sched_flow_dpmpp_20");
    return gc.config("scheduler_config.json");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// Flow DPM-Solver++ and flow Euler against diffusers

TEST_CASE("flow schedulers: timesteps, sigmas and the toy-model trajectory match diffusers", "[schedulers]") {
    const std::string name =
        GENERATE(as<std::string>{}, "sched_flow_dpmpp_20", "sched_flow_dpmpp_7_shift6", "sched_flow_euler_20");
    CAPTURE(name);
    auto gc = GoldenCase::load(name);
    REQUIRE(gc.meta().at("toy_model").get<std::string>() == kToyModel);
    const int steps = gc.meta().at("steps").get<int>();

    auto cfg = read_scheduler_config(gc.file("scheduler_config.json").string());
    REQUIRE(cfg);
    const bool dpm = cfg->kind == SchedulerKind::FlowDPMSolverMultistep;
    REQUIRE((dpm || cfg->kind == SchedulerKind::FlowEuler));

    const FlowSchedule s = dpm ? flow_dpm_schedule(steps, cfg->flow_shift, cfg->num_train_timesteps)
                               : flow_euler_schedule(steps, cfg->flow_shift, cfg->num_train_timesteps);
    REQUIRE(s.timesteps.size() == static_cast<size_t>(steps));
    REQUIRE(s.sigmas.size() == static_cast<size_t>(steps) + 1);
    // Both are float32-exact in the reference; we reproduce them bit for bit.
    CHECK_ALLCLOSE(to_f32_tensor(s.timesteps), gc.io("timesteps"), 0.0, 0.0);
    CHECK_ALLCLOSE(to_f32_tensor(s.sigmas), gc.io("sigmas"), 0.0, 0.0);

    const at::Tensor x_init = gc.io("x_init");
    std::vector<at::Tensor> trajectory{x_init};
    StepHooks hooks;
    hooks.maybe_preview = [&](int step, int num_steps, const at::Tensor& latents, const at::Tensor&) {
        CHECK(step == static_cast<int>(trajectory.size()));
        CHECK(num_steps == steps);
        trajectory.push_back(latents.clone());
    };
    DenoiseFn denoise = [](const at::Tensor& x, const DenoiseInput& in) { return toy_model(x, in.timestep); };
    const at::Tensor out = dpm ? sample_flow_dpm_solver(denoise, x_init, s, hooks, cfg->dpm)
                               : sample_flow_euler(denoise, x_init, s, hooks);
    REQUIRE(trajectory.size() == static_cast<size_t>(steps) + 1);
    REQUIRE_MAXDIFF_REL(at::stack(trajectory), gc.io("trajectory"), 1e-4);
    REQUIRE(at::equal(out, trajectory.back()));
}

TEST_CASE("flow DPM-Solver++: the last step returns that step's x0 and a 1-step run is x - sigma*v", "[schedulers]") {
    const FlowSchedule s = flow_dpm_schedule(1, 3.0);
    REQUIRE(s.sigmas.size() == 2);
    CHECK(s.sigmas[1] == 0.0);
    const at::Tensor x = at::randn({1, 4, 3, 3}, at::TensorOptions().dtype(at::kFloat));
    DenoiseFn denoise = [](const at::Tensor& in_x, const DenoiseInput& in) { return toy_model(in_x, in.timestep); };
    const at::Tensor out = sample_flow_dpm_solver(denoise, x, s, {});
    const at::Tensor expected = x - s.sigmas[0] * toy_model(x, s.timesteps[0]);
    REQUIRE_ALLCLOSE(out, expected, 0.0, 1e-6);
}

TEST_CASE("flow schedules: diffusers' documented 20-step values (sana.md §4.2/§4.3)", "[schedulers]") {
    // Independent numbers from the reference doc (printed by diffusers, 6 decimals).
    const FlowSchedule dpm = flow_dpm_schedule(20, 3.0);
    const std::vector<double> dpm_ts = {999, 982, 963, 944, 922, 899, 874, 847, 817, 785,
                                        749, 710, 666, 617, 562, 499, 428, 345, 249, 136};
    CHECK_THAT(dpm.timesteps, Catch::Matchers::Approx(dpm_ts).margin(0.0));
    CHECK(dpm.sigmas[0] == Approx(0.999666).margin(1e-6));
    CHECK(dpm.sigmas[19] == Approx(0.136240).margin(1e-6));
    const FlowSchedule euler = flow_euler_schedule(20, 3.0);
    CHECK(euler.sigmas[0] == 1.0);
    CHECK(euler.sigmas[1] == Approx(0.98187).margin(1e-5));
    CHECK(euler.sigmas[19] == Approx(0.00893).margin(1e-5));
}

// ---------------------------------------------------------------------------------------------------------------------
// SCM (Sana-Sprint)

TEST_CASE("scm_timesteps: set_timesteps semantics of diffusers' SCMScheduler", "[schedulers]") {
    const double f32_max = static_cast<float>(1.5708);
    SECTION("2 steps with the default intermediate timestep: [1.5708, 1.3, 0] in float32") {
        auto ts = scm_timesteps({});
        REQUIRE(ts);
        REQUIRE(ts->size() == 3);
        CHECK((*ts)[0] == f32_max);
        CHECK((*ts)[1] == static_cast<double>(static_cast<float>(1.3)));
        CHECK((*ts)[2] == 0.0);
    }
    SECTION("1 step (no intermediate): [1.5708, 0]") {
        ScmTimestepOptions o;
        o.num_inference_steps = 1;
        o.intermediate_timestep.reset();
        auto ts = scm_timesteps(o);
        REQUIRE(ts);
        REQUIRE(ts->size() == 2);
        CHECK((*ts)[0] == f32_max);
        CHECK((*ts)[1] == 0.0);
    }
    SECTION("N steps without intermediate: torch.linspace(max, 0, N+1) in float32") {
        const int n = GENERATE(2, 3, 4, 7, 20);
        ScmTimestepOptions o;
        o.num_inference_steps = n;
        o.intermediate_timestep.reset();
        auto ts = scm_timesteps(o);
        REQUIRE(ts);
        const at::Tensor expected = at::linspace(1.5708, 0.0, n + 1, at::TensorOptions().dtype(at::kFloat));
        // Bit-exact while torch fills it with its scalar loop (< 16 values); longer ones go through the SIMD path,
        // whose rounding depends on the CPU's vector width: then within 1 ulp.
        CHECK_ALLCLOSE(to_f32_tensor(*ts), expected, 0.0, n + 1 < 16 ? 0.0 : 1.2e-7);
    }
    SECTION("custom timesteps of length N+1 (no max timestep)") {
        ScmTimestepOptions o;
        o.num_inference_steps = 3;
        o.max_timestep.reset();
        o.intermediate_timestep.reset();
        o.custom_timesteps = {1.5, 1.1, 0.6, 0.0};
        auto ts = scm_timesteps(o);
        REQUIRE(ts);
        REQUIRE(ts->size() == 4);
        CHECK((*ts)[1] == static_cast<double>(static_cast<float>(1.1)));
    }
}

TEST_CASE("scm_timesteps: what diffusers rejects is a clear InvalidRequest", "[schedulers]") {
    auto expect_error = [](const ScmTimestepOptions& o, const char* fragment) {
        auto ts = scm_timesteps(o);
        REQUIRE_FALSE(ts);
        CHECK(ts.error().code == ErrorCode::InvalidRequest);
        CHECK_THAT(ts.error().message, Catch::Contains(fragment));
    };
    ScmTimestepOptions zero;
    zero.num_inference_steps = 0;
    zero.intermediate_timestep.reset();
    expect_error(zero, "at least 1");

    ScmTimestepOptions three;  // default intermediate 1.3 with 3 steps
    three.num_inference_steps = 3;
    expect_error(three, "only supported with exactly 2 steps");

    ScmTimestepOptions wrong_len;
    wrong_len.num_inference_steps = 2;
    wrong_len.max_timestep.reset();
    wrong_len.custom_timesteps = {1.5, 0.0};
    expect_error(wrong_len, "num_inference_steps + 1");

    ScmTimestepOptions both;
    both.num_inference_steps = 2;
    both.custom_timesteps = {1.5, 1.0, 0.0};
    expect_error(both, "not both");

    ScmTimestepOptions neither;
    neither.num_inference_steps = 1;
    neither.max_timestep.reset();
    neither.intermediate_timestep.reset();
    expect_error(neither, "either custom timesteps or a max timestep");

    ScmTimestepOptions too_many;
    too_many.num_inference_steps = 1001;
    too_many.intermediate_timestep.reset();
    expect_error(too_many, "exceed");

    ScmTimestepOptions nan_custom;
    nan_custom.num_inference_steps = 1;
    nan_custom.max_timestep.reset();
    nan_custom.intermediate_timestep.reset();
    nan_custom.custom_timesteps = {std::nan(""), 0.0};
    expect_error(nan_custom, "finite");
}

TEST_CASE("TrigFlow helpers: the constants of sana.md §3.4", "[schedulers]") {
    CHECK(std::cos(static_cast<double>(static_cast<float>(1.3))) == Approx(0.267499).margin(1e-6));
    CHECK(trigflow_to_flow_time(1.3) == Approx(0.782708).margin(1e-6));
    // At the float32 angle 1.5708: cos ≈ −3.62e-6, so tf slightly above 1.
    CHECK(trigflow_to_flow_time(1.5708) == Approx(1.0000037).margin(2e-7));
    CHECK(trigflow_to_flow_time(0.0) == 0.0);
}

TEST_CASE("sample_scm: the SCM step and its noise draws, against the formulas", "[schedulers]") {
    ScmTimestepOptions o;
    o.num_inference_steps = GENERATE(1, 2, 4);
    if (o.num_inference_steps != 2) {
        o.intermediate_timestep.reset();
    }
    CAPTURE(o.num_inference_steps);
    auto ts = scm_timesteps(o);
    REQUIRE(ts);
    const double sigma_data = 0.5;
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    at::manual_seed(0);
    const at::Tensor x_init = at::randn({1, 8, 4, 6}, opts) * sigma_data;
    std::vector<at::Tensor> noises;
    for (int i = 0; i < o.num_inference_steps; ++i) {
        noises.push_back(at::randn({1, 8, 4, 6}, opts));
    }
    int draws = 0;
    NoiseFn draw = [&](const at::Tensor& like) {
        REQUIRE(like.sizes() == x_init.sizes());
        return noises.at(static_cast<size_t>(draws++));
    };
    auto model_f = [](const at::Tensor& x, double s) { return at::sin(x) * 0.3 + 0.01 * s; };
    DenoiseFn denoise = [&](const at::Tensor& x, const DenoiseInput& in) { return model_f(x, in.timestep); };
    std::vector<at::Tensor> latents;
    StepHooks hooks;
    hooks.maybe_preview = [&](int, int, const at::Tensor& lat, const at::Tensor&) { latents.push_back(lat); };
    const at::Tensor denoised = sample_scm(denoise, x_init, *ts, sigma_data, draw, hooks);

    // Independent: the SCMScheduler.step formulas with LibTorch's float32 cos/sin of 0-dim tensors.
    at::Tensor x = x_init;
    at::Tensor pred_x0;
    for (int i = 0; i < o.num_inference_steps; ++i) {
        const at::Tensor s = at::scalar_tensor((*ts)[static_cast<size_t>(i)], opts);
        const at::Tensor t = at::scalar_tensor((*ts)[static_cast<size_t>(i) + 1], opts);
        const at::Tensor F = model_f(x, (*ts)[static_cast<size_t>(i)]);
        pred_x0 = at::cos(s) * x - at::sin(s) * F;
        x = at::cos(t) * pred_x0 + at::sin(t) * (noises[static_cast<size_t>(i)] * sigma_data);
        CHECK_ALLCLOSE(latents.at(static_cast<size_t>(i)), x, 0.0, 1e-6);
    }
    CHECK(draws == o.num_inference_steps);  // noise is drawn on every step, the last one too
    REQUIRE_ALLCLOSE(denoised, pred_x0, 0.0, 1e-6);
}

TEST_CASE("make_trigflow_denoiser: Sana-Sprint's flow ↔ TrigFlow wrapper", "[schedulers]") {
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    at::manual_seed(1);
    const at::Tensor latents = at::randn({2, 4, 3, 5}, opts) * 0.5;
    const at::Tensor w = at::randn({2, 4, 3, 5}, opts);
    double seen_tf = -1.0;
    FlowModelFn flow_model = [&](const at::Tensor& in, double tf) {
        seen_tf = tf;
        return at::tanh(in) * w + tf;
    };
    DenoiseFn denoise = make_trigflow_denoiser(flow_model, 0.5);
    const double s = static_cast<float>(1.3);
    DenoiseInput in;
    in.timestep = s;
    const at::Tensor F = denoise(latents, in);

    // Independent: pipeline_sana_sprint.py's loop body with float32 tensors.
    const at::Tensor st = at::full({2}, s, opts);
    const at::Tensor tf = at::sin(st) / (at::cos(st) + at::sin(st));
    const at::Tensor tfe = tf.view({-1, 1, 1, 1});
    const at::Tensor norm = at::sqrt(tfe * tfe + (1 - tfe) * (1 - tfe));
    const at::Tensor x_in = latents / 0.5 * norm;
    const at::Tensor v = at::tanh(x_in) * w + tf.view({-1, 1, 1, 1});
    const at::Tensor expected = ((1 - 2 * tfe) * x_in + (1 - 2 * tfe + 2 * tfe * tfe) * v) / norm * 0.5;
    CHECK(seen_tf == Approx(tf[0].item<double>()).margin(1e-7));
    REQUIRE_ALLCLOSE(F, expected, 0.0, 1e-6);
}

// ---------------------------------------------------------------------------------------------------------------------
// Guidance

TEST_CASE("classifier_free_guidance: plain CFG and guidance rescale", "[schedulers]") {
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    at::manual_seed(2);
    const at::Tensor u = at::randn({2, 4, 3, 5, 6}, opts);
    const at::Tensor c = at::randn({2, 4, 3, 5, 6}, opts) * 2;
    const at::Tensor plain = classifier_free_guidance(u, c, 7.5);
    REQUIRE_ALLCLOSE(plain, u + 7.5 * (c - u), 0.0, 1e-6);
    const at::Tensor rescaled = classifier_free_guidance(u, c, 7.5, 0.7);
    // Per-sample unbiased std over all but the batch dim, computed here by hand.
    for (int64_t b = 0; b < 2; ++b) {
        const at::Tensor pc = c[b].flatten().to(at::kDouble);
        const at::Tensor po = plain[b].flatten().to(at::kDouble);
        auto std_of = [](const at::Tensor& t) {
            const double n = static_cast<double>(t.numel());
            const at::Tensor d = t - t.mean();
            return std::sqrt((d * d).sum().item<double>() / (n - 1.0));
        };
        const double ratio = std_of(pc) / std_of(po);
        const at::Tensor expected = (0.7 * ratio + 0.3) * plain[b];
        CHECK_ALLCLOSE(rescaled[b], expected, 1e-5, 1e-5);
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// Scheduler configs

TEST_CASE("scheduler configs: the Sana and Sana-Sprint pipelines' scheduler_config.json", "[schedulers]") {
    auto sana = read_scheduler_config(GoldenCase::load("sana_pipeline_tiny").dir().string());  // pipeline folder
    REQUIRE(sana);
    CHECK(sana->kind == SchedulerKind::FlowDPMSolverMultistep);
    CHECK(sana->class_name == "DPMSolverMultistepScheduler");
    CHECK(sana->flow_shift == 3.0);
    CHECK(sana->num_train_timesteps == 1000);
    CHECK(sana->dpm.solver_order == 2);
    CHECK(sana->dpm.solver_type == DPMSolverType::Midpoint);
    CHECK(sana->dpm.lower_order_final);
    CHECK_FALSE(sana->dpm.euler_at_final);

    auto sprint = read_scheduler_config(
        GoldenCase::load("sana_sprint_pipeline_tiny").file("scheduler/scheduler_config.json").string());
    REQUIRE(sprint);
    CHECK(sprint->kind == SchedulerKind::SCM);
    CHECK(sprint->sigma_data == 0.5);

    auto euler = read_scheduler_config(GoldenCase::load("sched_flow_euler_20").dir().string());
    REQUIRE(euler);
    CHECK(euler->kind == SchedulerKind::FlowEuler);
    CHECK(euler->flow_shift == 3.0);

    auto shift6 = read_scheduler_config(GoldenCase::load("sched_flow_dpmpp_7_shift6").dir().string());
    REQUIRE(shift6);
    CHECK(shift6->flow_shift == 6.0);

    auto missing = read_scheduler_config("/nonexistent/scheduler_config.json");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::ModelNotFound);
}

TEST_CASE("scheduler configs: keys that change the maths are rejected, harmless ones ignored", "[schedulers]") {
    const nlohmann::json base = dpm_config_json();
    REQUIRE(SchedulerConfig::from_json(base, "base"));

    struct Bad {
        const char* key;
        nlohmann::json value;
    };
    const std::vector<Bad> bad = {
        {"use_karras_sigmas", true},
        {"use_exponential_sigmas", true},
        {"use_beta_sigmas", true},
        {"use_lu_lambdas", true},
        {"thresholding", true},
        {"algorithm_type", "sde-dpmsolver++"},
        {"algorithm_type", "dpmsolver"},
        {"solver_order", 3},
        {"prediction_type", "epsilon"},
        {"use_flow_sigmas", false},
        {"final_sigmas_type", "sigma_min"},
        {"variance_type", "learned_range"},
        {"use_dynamic_shifting", true},
        {"solver_type", "bogus"},
    };
    for (const auto& b : bad) {
        nlohmann::json j = base;
        j[b.key] = b.value;
        auto c = SchedulerConfig::from_json(j, "scheduler_config.json");
        CAPTURE(b.key, b.value.dump());
        REQUIRE_FALSE(c);
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(c.error().message, Catch::Contains(b.key) && Catch::Contains("scheduler_config.json"));
    }

    // The real configs parse without a single warning; an unknown non-default key is logged.
    std::vector<std::string> warnings;
    engine::set_log_sink(
        [&](LogLevel level, const std::string& line) {
            if (level >= LogLevel::Warn) {
                warnings.push_back(line);
            }
        },
        LogLevel::Warn);
    for (const char* name : {"sched_flow_dpmpp_20", "sched_flow_dpmpp_7_shift6", "sched_flow_euler_20"}) {
        REQUIRE(read_scheduler_config(GoldenCase::load(name).dir().string()));
    }
    REQUIRE(read_scheduler_config(GoldenCase::load("sana_pipeline_tiny").dir().string()));
    REQUIRE(read_scheduler_config(GoldenCase::load("sana_sprint_pipeline_tiny").dir().string()));
    CHECK(warnings.empty());

    nlohmann::json harmless = base;
    harmless["timestep_spacing"] = "trailing";
    harmless["beta_schedule"] = "scaled_linear";
    harmless["some_future_key"] = 42;
    harmless["another_future_flag"] = false;
    harmless["solver_type"] = "bh2";      // diffusers maps it to midpoint
    harmless["algorithm_type"] = "deis";  // diffusers maps it to dpmsolver++
    auto ok = SchedulerConfig::from_json(harmless, "scheduler_config.json");
    engine::set_log_sink(nullptr);
    REQUIRE(ok);
    CHECK(ok->dpm.solver_type == DPMSolverType::Midpoint);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("some_future_key"));

    nlohmann::json typo = base;
    typo["solver_order"] = "two";
    auto t = SchedulerConfig::from_json(typo, "scheduler_config.json");
    REQUIRE_FALSE(t);
    CHECK(t.error().code == ErrorCode::ModelLoadFailed);
    CHECK_THAT(t.error().message, Catch::Contains("solver_order"));

    nlohmann::json other = base;
    other["_class_name"] = "EulerAncestralDiscreteScheduler";
    auto o = SchedulerConfig::from_json(other, "x.json");
    REQUIRE_FALSE(o);
    CHECK(o.error().code == ErrorCode::UnsupportedModel);
    CHECK_THAT(o.error().message, Catch::Contains("EulerAncestralDiscreteScheduler"));

    auto euler_json = GoldenCase::load("sched_flow_euler_20").config("scheduler_config.json");
    for (const char* key : {"use_dynamic_shifting", "invert_sigmas", "stochastic_sampling", "use_karras_sigmas"}) {
        nlohmann::json j = euler_json;
        j[key] = true;
        auto c = SchedulerConfig::from_json(j, "euler.json");
        CAPTURE(key);
        REQUIRE_FALSE(c);
        CHECK(c.error().code == ErrorCode::UnsupportedModel);
    }
    nlohmann::json scm = {{"_class_name", "SCMScheduler"}, {"prediction_type", "epsilon"}};
    auto s = SchedulerConfig::from_json(scm, "scm.json");
    REQUIRE_FALSE(s);
    CHECK(s.error().code == ErrorCode::UnsupportedModel);
}

TEST_CASE("scheduler kinds: enum <-> string and the public sampler enum", "[schedulers]") {
    for (SchedulerKind k :
         {SchedulerKind::FlowDPMSolverMultistep, SchedulerKind::FlowEuler, SchedulerKind::SCM, SchedulerKind::DDIM}) {
        auto back = scheduler_kind_from_string(to_string(k));
        REQUIRE(back);
        CHECK(*back == k);
        CHECK(scheduler_kind_of(to_sampler_kind(k)) == k);
        auto via_public = scheduler_kind_from_string(engine::to_string(to_sampler_kind(k)));
        REQUIRE(via_public);
        CHECK(*via_public == k);
    }
    CHECK(scheduler_kind_of(SamplerKind::Default) == SchedulerKind::None);
    auto bad = scheduler_kind_from_string("karras");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ErrorCode::InvalidRequest);
}

// ---------------------------------------------------------------------------------------------------------------------
// Step hooks ↔ JobContext

TEST_CASE("make_step_hooks: progress, previews and cancellation through the JobContext", "[schedulers]") {
    auto token = std::make_shared<runtime::CancelToken>();
    std::vector<ProgressEvent> progress;
    std::vector<PreviewEvent> previews;
    Callbacks callbacks;
    callbacks.on_progress = [&](const ProgressEvent& e) { progress.push_back(e); };
    callbacks.on_preview = [&](const PreviewEvent& e) { previews.push_back(e); };
    PreviewOptions preview;
    preview.every_n_steps = 2;
    preview.min_interval_ms = 0;
    runtime::JobContext ctx(7, token, &callbacks, preview);
    int renders = 0;
    StepHooks hooks = make_step_hooks(ctx, [&](const at::Tensor& latents, const at::Tensor& denoised) {
        ++renders;
        CHECK(latents.defined());
        CHECK(denoised.defined());
        return at::arange(1, 4, at::TensorOptions().dtype(at::kByte)).view({1, 1, 1, 3});  // one 1×1 frame
    });

    const FlowSchedule s = flow_dpm_schedule(5, 3.0);
    const at::Tensor x = at::randn({1, 2, 3, 3}, at::TensorOptions().dtype(at::kFloat));
    int calls = 0;
    DenoiseFn denoise = [&](const at::Tensor& in_x, const DenoiseInput& in) {
        ++calls;
        return toy_model(in_x, in.timestep);
    };
    sample_flow_dpm_solver(denoise, x, s, hooks);
    REQUIRE(progress.size() == 5);
    for (int i = 0; i < 5; ++i) {
        CHECK(progress[static_cast<size_t>(i)].job == 7);
        CHECK(progress[static_cast<size_t>(i)].stage == JobStage::Denoising);
        CHECK(progress[static_cast<size_t>(i)].step == i + 1);
        CHECK(progress[static_cast<size_t>(i)].num_steps == 5);
    }
    // every 2nd step, and the last one always
    REQUIRE(previews.size() == 3);
    CHECK(previews[0].step == 2);
    CHECK(previews[1].step == 4);
    CHECK(previews[2].step == 5);
    CHECK(renders == 3);
    REQUIRE(previews[0].frames.size() == 1);
    CHECK(previews[0].frames[0].width == 1);
    CHECK(previews[0].frames[0].pixels == std::vector<uint8_t>{1, 2, 3});

    // Cancelled during the 2nd model call: the loop stops at the next check point, no 3rd model call.
    calls = 0;
    DenoiseFn cancelling = [&](const at::Tensor& in_x, const DenoiseInput& in) {
        if (++calls == 2) {
            token->request();
        }
        return toy_model(in_x, in.timestep);
    };
    REQUIRE_THROWS_AS(sample_flow_dpm_solver(cancelling, x, s, hooks), runtime::JobCancelled);
    CHECK(calls == 2);
}

TEST_CASE("make_step_hooks (CUDA): progress follows the device, previews arrive through pinned memory, the host runs "
          "ahead",
          "[.cuda][schedulers]") {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    const auto cuda = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, 0);
    auto token = std::make_shared<runtime::CancelToken>();
    int calls = 0;  // denoiser calls the host has issued
    std::vector<std::pair<int, int>> progress;  // (step, calls issued when it was reported)
    std::vector<PreviewEvent> previews;
    Callbacks callbacks;
    callbacks.on_progress = [&](const ProgressEvent& e) { progress.emplace_back(e.step, calls); };
    callbacks.on_preview = [&](const PreviewEvent& e) { previews.push_back(e); };
    PreviewOptions every_step;
    every_step.min_interval_ms = 0;
    runtime::JobContext ctx(3, token, &callbacks, every_step);
    // Pixels from the first sample's x0 on the device (two 2 × 3 frames), kept per step for the comparison below.
    auto pixels_of = [](const at::Tensor& denoised) {
        return (denoised[0].flatten().narrow(0, 0, 36) * 40.0 + 128.0).clamp(0, 255).round().to(at::kByte).view(
            {2, 2, 3, 3});
    };
    std::map<int, at::Tensor> expected;
    int step_seen = 0;
    StepHooks hooks = make_step_hooks(ctx, [&](const at::Tensor& latents, const at::Tensor& denoised) {
        CHECK(latents.is_cuda());
        at::Tensor pixels = pixels_of(denoised);
        expected[step_seen] = pixels.clone();
        return pixels;
    });
    auto offer = hooks.maybe_preview;
    hooks.maybe_preview = [&](int step, int n, const at::Tensor& latents, const at::Tensor& denoised) {
        step_seen = step;
        offer(step, n, latents, denoised);
    };

    // A denoiser with a few milliseconds of device work per call, so that the host can run ahead of it.
    const at::Tensor big = at::randn({2048, 2048}, cuda);
    int fail_at = 0;
    DenoiseFn slow = [&](const at::Tensor& x, const DenoiseInput& in) {
        if (++calls == fail_at) throw std::runtime_error("denoiser failed");
        at::Tensor acc = big;
        for (int i = 0; i < 8; ++i) acc = at::matmul(acc, big).mul_(1e-3);
        return toy_model(x, in.timestep) + 1e-30 * acc.sum();
    };
    const FlowSchedule s = flow_dpm_schedule(8, 3.0);
    const at::Tensor x = at::randn({2, 4, 32, 32}, cuda);
    sample_flow_dpm_solver(slow, x, s, hooks);

    REQUIRE(progress.size() == 8);
    int most_ahead = 0;
    for (size_t i = 0; i < progress.size(); ++i) {
        CHECK(progress[i].first == static_cast<int>(i) + 1);
        CHECK(progress[i].second - progress[i].first <= kStepsAhead);  // the host waited before running further
        most_ahead = std::max(most_ahead, progress[i].second - progress[i].first);
    }
    CHECK(most_ahead == kStepsAhead);  // and it did not wait for each step
    REQUIRE(previews.size() >= 2);
    CHECK(previews.back().step == 8);
    for (size_t i = 0; i < previews.size(); ++i) {
        if (i > 0) CHECK(previews[i].step > previews[i - 1].step);
        const at::Tensor want = expected.at(previews[i].step).cpu();  // [2, 2, 3, 3]
        REQUIRE(previews[i].frames.size() == 2);
        for (int64_t f = 0; f < 2; ++f) {
            const Image& img = previews[i].frames[static_cast<size_t>(f)];
            CHECK(img.width == 3);
            CHECK(img.height == 2);
            REQUIRE(img.pixels.size() == 18);
            const at::Tensor frame = want[f].contiguous();
            CHECK(std::equal(img.pixels.begin(), img.pixels.end(), frame.data_ptr<uint8_t>()));
        }
    }

    // A run that fails part-way leaves steps unreported; the next run with the same hooks reports its own only.
    progress.clear();
    calls = 0;
    fail_at = 5;
    REQUIRE_THROWS_AS(sample_flow_dpm_solver(slow, x, s, hooks), std::runtime_error);
    CHECK(progress.size() <= 4);
    progress.clear();
    calls = 0;
    fail_at = 0;
    sample_flow_dpm_solver(slow, x, s, hooks);
    REQUIRE(progress.size() == 8);
    for (size_t i = 0; i < progress.size(); ++i) CHECK(progress[i].first == static_cast<int>(i) + 1);
}
