#include "schedulers/samplers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/engine_error.h"
#include "schedulers/parameterization.h"

namespace engine::schedulers {

namespace {

void require(bool cond, const std::string& message) {
    core::require(cond, ErrorCode::Internal, message);
}

/// DPM-Solver's half-log-SNR of a flow σ: λ = log α − log σ with α = 1 − σ (+∞ at σ = 0).
double flow_lambda(double sigma) {
    return std::log(1.0 - sigma) - std::log(sigma);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// Flow DPM-Solver++
//
// With α = 1 − σ, λ = log(α/σ) and h = λ_t − λ_s, the data-prediction ODE solution over one step is
//   x_t = (σ_t/σ_s)·x_s + α_t·∫ e^{−(λ_t−λ)} x0(λ) dλ.
// First order (x0 constant): x_t = (σ_t/σ_s)·x_s − α_t(e^{−h} − 1)·x0_s.
// Second order (x0 linear in λ, slope from the previous step's x0, r0 = h_prev/h, D1 = (x0_s − x0_prev)/r0):
//   midpoint: x_t = … − ½·α_t(e^{−h} − 1)·D1;  heun: x_t = … + α_t((e^{−h} − 1)/h + 1)·D1.
// At σ_t = 0: λ_t = +∞, e^{−h} = 0, σ_t/σ_s = 0 ⇒ x_t = x0_s.

at::Tensor sample_flow_dpm_solver(const DenoiseFn& denoise, at::Tensor x, const FlowSchedule& schedule,
                                  const StepHooks& hooks, const DPMSolverOptions& options) {
    const int n = static_cast<int>(schedule.timesteps.size());
    require(n >= 1 && schedule.sigmas.size() == schedule.timesteps.size() + 1,
            "flow DPM-Solver: the schedule needs N timesteps and N + 1 sigmas");
    require(options.solver_order == 1 || options.solver_order == 2, "flow DPM-Solver: solver order must be 1 or 2");
    require(static_cast<bool>(denoise), "flow DPM-Solver: no denoiser");
    x = x.to(at::kFloat);
    at::Tensor x0_prev;  // the previous step's data prediction (multistep history)
    for (int i = 0; i < n; ++i) {
        hooks.cancel_point();
        const double sigma_s = schedule.sigmas[static_cast<size_t>(i)];
        const double sigma_t = schedule.sigmas[static_cast<size_t>(i) + 1];
        DenoiseInput in{i, n, schedule.timesteps[static_cast<size_t>(i)], sigma_s};
        const at::Tensor v = denoise(x, in).to(at::kFloat);  // [B, C, H, W]
        at::Tensor x0 = flow_x0_from_velocity(x, v, sigma_s);

        const bool last = i == n - 1;
        const bool lower_order_final =
            last && (options.euler_at_final || (options.lower_order_final && n < 15) || sigma_t == 0.0);
        const bool first_order = options.solver_order == 1 || i == 0 || lower_order_final;

        const double alpha_t = 1.0 - sigma_t;
        const double lambda_s = flow_lambda(sigma_s);
        const double h = flow_lambda(sigma_t) - lambda_s;
        const double exp_m1 = std::exp(-h) - 1.0;  // e^{−h} − 1
        at::Tensor x_next = (sigma_t / sigma_s) * x - (alpha_t * exp_m1) * x0;
        if (!first_order) {
            const double sigma_s1 = schedule.sigmas[static_cast<size_t>(i) - 1];
            const double h0 = lambda_s - flow_lambda(sigma_s1);
            const double r0 = h0 / h;
            const at::Tensor d1 = (1.0 / r0) * (x0 - x0_prev);
            if (options.solver_type == DPMSolverType::Midpoint) {
                x_next = x_next - (0.5 * alpha_t * exp_m1) * d1;
            } else {
                x_next = x_next + (alpha_t * (exp_m1 / h + 1.0)) * d1;
            }
        }
        x0_prev = x0;
        x = std::move(x_next);
        hooks.step_done(i + 1, n, x, x0);
    }
    return x;
}

// ---------------------------------------------------------------------------------------------------------------------
// Flow Euler

at::Tensor sample_flow_euler(const DenoiseFn& denoise, at::Tensor x, const FlowSchedule& schedule,
                             const StepHooks& hooks) {
    const int n = static_cast<int>(schedule.timesteps.size());
    require(n >= 1 && schedule.sigmas.size() == schedule.timesteps.size() + 1,
            "flow Euler: the schedule needs N timesteps and N + 1 sigmas");
    require(static_cast<bool>(denoise), "flow Euler: no denoiser");
    x = x.to(at::kFloat);
    for (int i = 0; i < n; ++i) {
        hooks.cancel_point();
        const double sigma = schedule.sigmas[static_cast<size_t>(i)];
        const double sigma_next = schedule.sigmas[static_cast<size_t>(i) + 1];
        DenoiseInput in{i, n, schedule.timesteps[static_cast<size_t>(i)], sigma};
        const at::Tensor v = denoise(x, in).to(at::kFloat);
        // dt = σ_{i+1} − σ_i, a float32 subtraction in the reference.
        const double dt = static_cast<double>(static_cast<float>(sigma_next) - static_cast<float>(sigma));
        at::Tensor denoised = hooks.maybe_preview ? flow_x0_from_velocity(x, v, sigma) : at::Tensor();
        x = x + dt * v;
        hooks.step_done(i + 1, n, x, denoised);
    }
    return x;
}

// ---------------------------------------------------------------------------------------------------------------------
// SCM (TrigFlow consistency sampling)

at::Tensor sample_scm(const DenoiseFn& denoise, at::Tensor x, const std::vector<double>& timesteps, double sigma_data,
                      const NoiseFn& draw_noise, const StepHooks& hooks) {
    require(timesteps.size() >= 2, "SCM: the schedule needs at least 2 timesteps (1 step)");
    require(static_cast<bool>(denoise), "SCM: no denoiser");
    require(static_cast<bool>(draw_noise), "SCM: the sampler draws noise every step and needs a noise function");
    require(sigma_data > 0.0, "SCM: sigma_data must be positive");
    const int n = static_cast<int>(timesteps.size()) - 1;
    x = x.to(at::kFloat);
    at::Tensor denoised;
    for (int i = 0; i < n; ++i) {
        hooks.cancel_point();
        const double s = timesteps[static_cast<size_t>(i)];
        const double t = timesteps[static_cast<size_t>(i) + 1];
        DenoiseInput in{i, n, s, s};
        const at::Tensor F = denoise(x, in).to(at::kFloat);
        denoised = trigflow_x0(x, F, s);
        const at::Tensor noise = draw_noise(F).to(F.options()) * sigma_data;
        // x_t = cos(t)·x0 + sin(t)·z (cos/sin of the float32 angle, in float32).
        const double ft = round_to_f32(t);
        const double cos_t = round_to_f32(std::cos(ft));
        const double sin_t = round_to_f32(std::sin(ft));
        x = cos_t * denoised + sin_t * noise;
        hooks.step_done(i + 1, n, x, denoised);
    }
    return denoised;
}

DenoiseFn make_trigflow_denoiser(FlowModelFn model, double sigma_data) {
    require(static_cast<bool>(model), "TrigFlow denoiser: no model");
    return [model = std::move(model), sigma_data](const at::Tensor& x, const DenoiseInput& in) {
        const double tf = trigflow_to_flow_time(in.timestep);
        const double scale = trigflow_flow_input_scale(tf);
        const at::Tensor model_input = (x / sigma_data) * scale;  // [B, C, H, W]
        const at::Tensor v = model(model_input, tf).to(at::kFloat);
        return flow_velocity_to_trigflow(model_input, v, tf) * sigma_data;
    };
}

// ---------------------------------------------------------------------------------------------------------------------
// LVDM DDIM
//
// x_{t−1} = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ_t²)·eps + σ_t·z  (DDIM eq. 12), with x0/eps from the model output and, for
// the latent-rescaled models, x0 divided by scale_t (VideoCrafter, then √ᾱ_prev is multiplied by scale_prev) or
// multiplied by scale_prev/scale_t (DynamiCrafter).

at::Tensor sample_ddim(const DenoiseFn& denoise, at::Tensor x, const DDIMSchedule& s, const NoiseFn& draw_noise,
                       const StepHooks& hooks) {
    const int n = s.num_steps();
    const auto un = static_cast<size_t>(n);
    require(n >= 1, "DDIM: empty schedule");
    require(s.alphas.size() == un && s.alphas_prev.size() == un && s.sigmas.size() == un &&
                s.sqrt_one_minus_alphas.size() == un && s.sqrt_alphas_cumprod_at_t.size() == un &&
                s.sqrt_one_minus_alphas_cumprod_at_t.size() == un,
            "DDIM: inconsistent schedule tables");
    require(s.rescale == LatentRescale::None || (s.scale.size() == un && s.scale_prev.size() == un),
            "DDIM: latent rescale without scale tables");
    require(static_cast<bool>(denoise), "DDIM: no denoiser");
    const bool any_noise = std::any_of(s.sigmas.begin(), s.sigmas.end(), [](double v) { return v != 0.0; });
    require(static_cast<bool>(draw_noise) || !any_noise, "DDIM: eta > 0 needs a noise function");

    for (int i = 0; i < n; ++i) {
        hooks.cancel_point();
        const auto idx = static_cast<size_t>(n - 1 - i);  // LVDM's `index`: the loop walks the table from the top
        const double a_t = s.alphas[idx];
        const double a_prev = s.alphas_prev[idx];
        const double sigma_t = s.sigmas[idx];
        DenoiseInput in{i, n, static_cast<double>(s.timesteps[idx]), s.sqrt_one_minus_alphas[idx]};
        const at::Tensor out = denoise(x, in).to(at::kFloat);  // eps or v, [B, C, T, H, W]

        at::Tensor eps;
        at::Tensor x0;
        if (s.parameterization == Parameterization::V) {
            eps = v_to_eps(x, out, s.sqrt_alphas_cumprod_at_t[idx], s.sqrt_one_minus_alphas_cumprod_at_t[idx]);
            x0 = v_to_x0(x, out, s.sqrt_alphas_cumprod_at_t[idx], s.sqrt_one_minus_alphas_cumprod_at_t[idx]);
        } else {
            eps = out;
            x0 = eps_to_x0(x, eps, std::sqrt(a_t), s.sqrt_one_minus_alphas[idx]);
        }
        double x0_coef = std::sqrt(a_prev);
        if (s.rescale == LatentRescale::VideoCrafter) {
            x0 = x0 / s.scale[idx];
            x0_coef *= s.scale_prev[idx];
        } else if (s.rescale == LatentRescale::DynamiCrafter) {
            x0 = x0 * static_cast<double>(static_cast<float>(s.scale_prev[idx]) / static_cast<float>(s.scale[idx]));
        }
        const double dir_coef = std::sqrt(std::max(0.0, 1.0 - a_prev - sigma_t * sigma_t));
        at::Tensor x_next = x0_coef * x0 + dir_coef * eps;
        if (draw_noise) {
            // LVDM draws noise_like(x.shape) every step, also when σ_t = 0: keep the generator in step.
            const at::Tensor z = draw_noise(x).to(x.options());
            if (sigma_t != 0.0) {
                x_next = x_next + sigma_t * z;
            }
        }
        x = std::move(x_next);
        hooks.step_done(i + 1, n, x, x0);
    }
    return x;
}

}  // namespace engine::schedulers
