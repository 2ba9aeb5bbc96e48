// What a denoiser predicts and how to turn it into x0 / eps: eps- and v-prediction (VP diffusion, LVDM), flow
// velocity (Sana), TrigFlow (Sana-Sprint), plus the classifier-free-guidance combination that DenoiseFns apply.
//
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_dpmsolver_multistep.py convert_model_output
// Ref: huggingface/diffusers src/diffusers/pipelines/sana/pipeline_sana_sprint.py SanaSprintPipeline.__call__
// Ref: Doubiiu/DynamiCrafter lvdm/models/ddpm3d.py predict_start_from_z_and_v, predict_eps_from_z_and_v
// Ref: Doubiiu/DynamiCrafter lvdm/models/utils_diffusion.py rescale_noise_cfg
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <ATen/core/Tensor.h>

namespace engine::schedulers {

// ---- flow matching: x_σ = (1 − σ)·x0 + σ·noise, v = noise − x0 ------------------------------------------------------

/// x0 = x − σ·v.
at::Tensor flow_x0_from_velocity(const at::Tensor& x, const at::Tensor& v, double sigma);
/// The model timestep of a flow σ: σ·T (Sana feeds it times its timestep_scale).
inline double flow_sigma_to_t(double sigma, int num_train_timesteps = 1000) {
    return sigma * num_train_timesteps;
}

// ---- VP diffusion: x_t = √ᾱ·x0 + √(1−ᾱ)·eps -------------------------------------------------------------------------

/// x0 = (x − √(1−ᾱ)·eps) / √ᾱ.
at::Tensor eps_to_x0(const at::Tensor& x, const at::Tensor& eps, double sqrt_alpha_cumprod,
                     double sqrt_one_minus_alpha_cumprod);
/// v = √ᾱ·eps − √(1−ᾱ)·x0  ⇒  x0 = √ᾱ·x − √(1−ᾱ)·v.
at::Tensor v_to_x0(const at::Tensor& x, const at::Tensor& v, double sqrt_alpha_cumprod,
                   double sqrt_one_minus_alpha_cumprod);
/// eps = √ᾱ·v + √(1−ᾱ)·x.
at::Tensor v_to_eps(const at::Tensor& x, const at::Tensor& v, double sqrt_alpha_cumprod,
                    double sqrt_one_minus_alpha_cumprod);

// ---- TrigFlow (sCM): x_s = cos(s)·x0 + sin(s)·z, model F with x0 = cos(s)·x − sin(s)·F ------------------------------

/// x0 = cos(s)·x − sin(s)·F (cos/sin of the float32 angle, in float32 as the reference).
at::Tensor trigflow_x0(const at::Tensor& x, const at::Tensor& F, double s);
/// The flow time a TrigFlow angle maps to: tf = sin s / (sin s + cos s) ∈ [0, 1] (float32 arithmetic).
double trigflow_to_flow_time(double s);
/// √(tf² + (1 − tf)²): the input scale that turns a TrigFlow sample (÷σ_data) into the flow model's input.
double trigflow_flow_input_scale(double tf);
/// F = ((1 − 2tf)·x_in + (1 − 2tf + 2tf²)·v) / √(tf² + (1 − tf)²), with x_in the flow model's input.
at::Tensor flow_velocity_to_trigflow(const at::Tensor& model_input, const at::Tensor& v, double tf);

// ---- guidance
// ---------------------------------------------------------------------------------------------------------

/// uncond + scale·(cond − uncond); then, when guidance_rescale > 0, Lin et al. §3.4: mix with the result rescaled to
/// cond's per-sample std (std over all dims but the first, unbiased): r·out·(std_cond/std_out) + (1 − r)·out.
at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale,
                                    double guidance_rescale = 0.0);

}  // namespace engine::schedulers
