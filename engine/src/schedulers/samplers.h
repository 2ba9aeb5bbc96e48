// Sampler loops as free functions. Each takes a DenoiseFn (the model plus guidance: samplers never see a model), the
// initial latents, a schedule from sigmas.h and StepHooks; multistep history lives in locals of the loop.
//
//     auto schedule = schedulers::flow_dpm_schedule(20, cfg.flow_shift);
//     schedulers::DenoiseFn denoise = [&](const at::Tensor& x, const schedulers::DenoiseInput& in) {
//         at::Tensor t = at::full({2}, in.timestep * transformer_cfg.timestep_scale);   // Sana
//         at::Tensor v = transformer(at::cat({x, x}), t, ...).to(at::kFloat);           // [2B, C, H, W]
//         auto parts = v.chunk(2);
//         return schedulers::classifier_free_guidance(parts[0], parts[1], guidance_scale);
//     };
//     at::Tensor latents = schedulers::sample_flow_dpm_solver(denoise, noise, schedule, hooks, cfg.dpm);
//
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_dpmsolver_multistep.py DPMSolverMultistepScheduler
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_scm.py SCMScheduler.step
// Ref: AILab-CVC/VideoCrafter lvdm/models/samplers/ddim.py DDIMSampler; Doubiiu/DynamiCrafter (same file)
//
// Thread safety: reentrant; the callbacks run on the calling thread.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "schedulers/scheduler_kind.h"
#include "schedulers/sigmas.h"
#include "schedulers/step_hooks.h"

namespace engine::schedulers {

/// What a sampler tells the denoiser about the current step.
struct DenoiseInput {
    int step = 0;       // 0-based index in this loop
    int num_steps = 0;  // model evaluations in this loop
    /// The value to condition the model on, as the reference pipeline feeds it:
    ///   flow DPM-Solver: int(σ·T) as a double (Sana multiplies by its timestep_scale);
    ///   flow Euler: float32(σ)·T;  SCM: the TrigFlow angle s (see make_trigflow_denoiser);
    ///   DDIM: the integer DDPM step t (LVDM passes it as a long tensor).
    double timestep = 0.0;
    /// The noise level: flow σ (flow samplers), the angle s (SCM), √(1 − ᾱ_t) (DDIM).
    double sigma = 0.0;
};

/// The model plus guidance. Returns the (guided) prediction in the sampler's parameterization, float32:
/// flow velocity for the flow samplers, TrigFlow F (already ×σ_data) for SCM, eps or v (as the DDIM schedule's
/// parameterization says) for DDIM. `x` must not be modified.
using DenoiseFn = std::function<at::Tensor(const at::Tensor& x, const DenoiseInput& in)>;

/// Draws standard normal noise shaped like `like` (the pipeline owns the generator and the draw order).
using NoiseFn = std::function<at::Tensor(const at::Tensor& like)>;

/// DPM-Solver++ (multistep, data prediction) on flow sigmas, as DPMSolverMultistepScheduler(use_flow_sigmas=True,
/// prediction_type="flow_prediction", final_sigmas_type="zero") steps: step 0 first order, then second order
/// (midpoint or heun), the final step first order (σ = 0 ⇒ it returns that step's x0 exactly).
/// `x` are the initial latents (σ_0 noise, float32); returns the final latents.
at::Tensor sample_flow_dpm_solver(const DenoiseFn& denoise, at::Tensor x, const FlowSchedule& schedule,
                                  const StepHooks& hooks = {}, const DPMSolverOptions& options = {});

/// Euler on flow sigmas (FlowMatchEulerDiscreteScheduler): x ← x + (σ_{i+1} − σ_i)·v.
at::Tensor sample_flow_euler(const DenoiseFn& denoise, at::Tensor x, const FlowSchedule& schedule,
                             const StepHooks& hooks = {});

/// SCMScheduler: for each (s, t) = (timesteps[i], timesteps[i+1]): x0 = cos(s)·x − sin(s)·F, then
/// x ← cos(t)·x0 + sin(t)·σ_data·noise, noise drawn with draw_noise on EVERY step (the last too, as diffusers does,
/// so the generator advances identically). `x` are the initial latents (noise·σ_data); `timesteps` from
/// scm_timesteps(). Returns the last step's x0 prediction ("denoised", still ×σ_data), which Sana-Sprint decodes.
at::Tensor sample_scm(const DenoiseFn& denoise, at::Tensor x, const std::vector<double>& timesteps, double sigma_data,
                      const NoiseFn& draw_noise, const StepHooks& hooks = {});

/// The flow model a TrigFlow sampler drives (Sana-Sprint): model(input, tf) → flow velocity v, with
/// tf = sin s/(sin s + cos s) passed unscaled as the model timestep.
using FlowModelFn = std::function<at::Tensor(const at::Tensor& model_input, double flow_timestep)>;

/// Wraps a flow model as a TrigFlow denoiser exactly as SanaSprintPipeline does:
/// x_in = x/σ_data·√(tf² + (1−tf)²); v = model(x_in, tf); F = flow_velocity_to_trigflow(x_in, v, tf)·σ_data.
DenoiseFn make_trigflow_denoiser(FlowModelFn model, double sigma_data);

/// LVDM DDIM (VideoCrafter / DynamiCrafter DDIMSampler.ddim_sampling + p_sample_ddim), from the top timestep
/// down. Per step: eps/x0 from the model output (v-prediction via the full-schedule √ᾱ_t), the latent rescale,
/// dir = √(1 − ᾱ_prev − σ²)·eps, noise = σ·draw_noise(x) (drawn every step, like LVDM, even when σ = 0), then
/// x ← √ᾱ_prev·x0 + dir + noise (VideoCrafter's use_scale multiplies √ᾱ_prev by scale_prev). The hooks'
/// "denoised" is LVDM's pred_x0 (after its rescale). draw_noise may be empty only when all σ are 0 (eta = 0).
at::Tensor sample_ddim(const DenoiseFn& denoise, at::Tensor x, const DDIMSchedule& schedule, const NoiseFn& draw_noise,
                       const StepHooks& hooks = {});

}  // namespace engine::schedulers
