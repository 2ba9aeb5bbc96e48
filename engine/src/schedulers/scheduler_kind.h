// Which scheduler a model runs, and its configuration: enum ↔ string, diffusers' scheduler_config.json (Sana,
// Sana-Sprint) and the diffusion part of an LVDM YAML config (VideoCrafter, DynamiCrafter).
//
//     auto cfg = schedulers::read_scheduler_config(model_dir + "/scheduler/scheduler_config.json");
//     if (!cfg) return cfg.error();           // UnsupportedModel for e.g. use_karras_sigmas=true
//     auto sched = schedulers::flow_dpm_schedule(steps, cfg->flow_shift, cfg->num_train_timesteps);
//
// Keys that change the maths but are not implemented are rejected (UnsupportedModel, naming the key); keys that do
// not change the maths of the implemented path are ignored (e.g. beta_* and timestep_spacing with flow sigmas);
// keys this version does not know are ignored with a warning in the log unless they are false/null/0.
//
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_dpmsolver_multistep.py DPMSolverMultistepScheduler
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_scm.py SCMScheduler
// Ref: AILab-CVC/VideoCrafter lvdm/models/ddpm3d.py LatentDiffusion (use_scale); Doubiiu/DynamiCrafter (dynamic
// rescale)
//
// Thread safety: plain value types and pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/requests.h"
#include "schedulers/sigmas.h"

namespace engine::schedulers {

/// The sampler families Kinora implements.
enum class SchedulerKind {
    None = 0,
    FlowDPMSolverMultistep,  // DPMSolverMultistepScheduler(use_flow_sigmas, dpmsolver++) — Sana's default
    FlowEuler,               // FlowMatchEulerDiscreteScheduler — Sana's alternative
    SCM,                     // SCMScheduler (TrigFlow) — Sana-Sprint
    DDIM,                    // LVDM DDIMSampler — VideoCrafter, DynamiCrafter
};

/// "flow_dpmpp_2m", "flow_euler", "scm", "ddim" ("none" for None).
const char* to_string(SchedulerKind kind) noexcept;
/// Accepts to_string() names and the public sampler names ("dpmpp_2m", "euler", ...). InvalidRequest otherwise.
Expected<SchedulerKind> scheduler_kind_from_string(const std::string& name);
/// diffusers class names: "DPMSolverMultistepScheduler", "FlowMatchEulerDiscreteScheduler", "SCMScheduler".
/// UnsupportedModel for any other class.
Expected<SchedulerKind> scheduler_kind_from_class_name(const std::string& class_name);
/// The public request enum ↔ this one (SamplerKind::Default ↔ SchedulerKind::None: "the model's own").
SchedulerKind scheduler_kind_of(SamplerKind sampler) noexcept;
SamplerKind to_sampler_kind(SchedulerKind kind) noexcept;

/// DPM-Solver++ second-order variants.
enum class DPMSolverType { Midpoint = 0, Heun };

/// What the flow DPM-Solver++ loop needs beyond the sigmas.
struct DPMSolverOptions {
    int solver_order = 2;  // 1 or 2
    DPMSolverType solver_type = DPMSolverType::Midpoint;
    bool lower_order_final = true;  // first order on the last step when < 15 steps (final σ = 0 forces it anyway)
    bool euler_at_final = false;
};

/// A diffusers scheduler_config.json reduced to what the implemented maths reads.
struct SchedulerConfig {
    SchedulerKind kind = SchedulerKind::None;
    std::string class_name;
    int num_train_timesteps = 1000;
    double flow_shift = 1.0;  // DPM-Solver "flow_shift" / FlowMatchEuler "shift"
    DPMSolverOptions dpm;     // FlowDPMSolverMultistep only
    double sigma_data = 0.5;  // SCM only

    /// Parses one config object; `what` names its file in error messages.
    static Expected<SchedulerConfig> from_json(const nlohmann::json& json, const std::string& what);
};

/// Reads a scheduler config: the path of scheduler_config.json, or a diffusers pipeline folder (then
/// <folder>/scheduler/scheduler_config.json). ModelNotFound / ModelLoadFailed / UnsupportedModel.
Expected<SchedulerConfig> read_scheduler_config(const std::string& path);

/// The diffusion schedule of an LVDM model: the keys of `model.params` in a VideoCrafter/DynamiCrafter YAML config.
struct LVDMDiffusionConfig {
    int num_timesteps = 1000;  // "timesteps"
    BetaSchedule beta_schedule = BetaSchedule::Linear;
    double linear_start = 1e-4;
    double linear_end = 2e-2;
    double cosine_s = 8e-3;
    bool rescale_betas_zero_snr = false;  // DynamiCrafter 512/1024
    Parameterization parameterization = Parameterization::Epsilon;
    LatentRescale rescale = LatentRescale::None;  // use_scale (VideoCrafter) / use_dynamic_rescale (DynamiCrafter)
    double scale_a = 1.0;                         // VC scale_a; 1 for DC
    double scale_b = 0.3;                         // VC scale_b (default 0.3) / DC base_scale (default 0.7)
    int mid_step = 400;                           // VC mid_step / DC turning_step
    bool fix_scale_bug = false;

    /// Parses `model.params` (or the whole config with a `model.params` object inside).
    static Expected<LVDMDiffusionConfig> from_json(const nlohmann::json& json, const std::string& what);

    /// β: make_beta_schedule, then the zero-terminal-SNR rescale when configured (float64).
    std::vector<double> betas() const;
    /// ᾱ = cumprod(1 − β) (float64; the checkpoint buffer is this rounded to float32).
    std::vector<double> alphas_cumprod() const;
    /// The latent scale array (float32-exact); empty when rescale == None.
    std::vector<double> scale_arr() const;
};

}  // namespace engine::schedulers
