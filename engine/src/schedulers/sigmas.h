// Noise schedules as pure functions: timesteps, sigmas, betas and DDIM tables. No tensors, no state;
// every function returns the numbers the reference computes, rounded to float32 where the reference
// stores float32 (so a value that is 0.9996664524078369 there is exactly that here).
//
//     auto s = schedulers::flow_dpm_schedule(20, /*shift*/ 3.0);   // s.timesteps: 999, 982, ...; s.sigmas: N+1
//     auto lvdm = schedulers::lvdm_alphas_cumprod(cfg);            // VideoCrafter / DynamiCrafter
//     auto ddim = schedulers::make_ddim_schedule(lvdm, ddim_timesteps(DDIMSpacing::Uniform, 50), 1.0, opts);
//
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_dpmsolver_multistep.py DPMSolverMultistepScheduler
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py
// Ref: huggingface/diffusers src/diffusers/schedulers/scheduling_scm.py SCMScheduler
// Ref: AILab-CVC/VideoCrafter lvdm/models/utils_diffusion.py, lvdm/models/samplers/ddim.py, lvdm/models/ddpm3d.py
// Ref: Doubiiu/DynamiCrafter lvdm/models/utils_diffusion.py, lvdm/models/samplers/ddim.py, lvdm/models/ddpm3d.py
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"

namespace engine::schedulers {

/// Rounds to the nearest float32 (what storing a value in a float32 tensor does).
double round_to_f32(double value) noexcept;

// ---------------------------------------------------------------------------------------------------------------------
// Linspace flavours. The references use three, and they differ in the last ulp: numpy's (start + i·step, last = stop),
// torch's (two-sided: start + i·step for the first half, stop − (n−1−i)·step for the second) in float64 or float32.
// The torch ones follow torch's scalar CPU loop; for 16+ values torch fills part of the tensor with SIMD code whose
// rounding depends on the CPU's vector width (≤ 1 ulp apart; invisible after the float32 buffers round ᾱ).

std::vector<double> numpy_linspace(double start, double stop, int num);
std::vector<double> torch_linspace_f64(double start, double stop, int num);
/// torch.linspace with dtype float32: the arithmetic itself runs in float32.
std::vector<double> torch_linspace_f32(double start, double stop, int num);

// ---------------------------------------------------------------------------------------------------------------------
// Flow matching (Sana): σ ∈ (0, 1], x_σ = (1 − σ)·x0 + σ·noise, the model predicts v = noise − x0.

/// Timesteps the model sees plus the sigmas the solver walks (one more than the timesteps, ending at 0).
struct FlowSchedule {
    std::vector<double> timesteps;  // N values, fed to the model (Sana multiplies by its timestep_scale)
    std::vector<double> sigmas;     // N + 1 values, float32-exact, sigmas.back() == 0
};

/// shift·σ / (1 + (shift − 1)·σ): the resolution shift of SD3/Sana ("flow_shift").
double flow_shift_sigma(double sigma, double shift) noexcept;

/// DPMSolverMultistepScheduler(use_flow_sigmas=True, flow_shift, final_sigmas_type="zero"):
/// σ_i = shift(1 − linspace(1, 1/T, N+1))[reversed][:-1]; timesteps = int(σ_i·T) (truncated, computed in float64);
/// sigmas = float32(σ_i) followed by 0.
FlowSchedule flow_dpm_schedule(int num_steps, double shift, int num_train_timesteps = 1000);

/// FlowMatchEulerDiscreteScheduler(shift) without dynamic shifting: σ = shift(linspace(σ_max·T, σ_min·T, N)/T)
/// where σ_max/σ_min are the shifted training sigmas (float32); timesteps = float32(σ)·T in float32; sigmas + [0].
FlowSchedule flow_euler_schedule(int num_steps, double shift, int num_train_timesteps = 1000);

// ---------------------------------------------------------------------------------------------------------------------
// SCM / TrigFlow (Sana-Sprint): x_s = cos(s)·x0 + sin(s)·z, s ∈ [0, π/2].

inline constexpr double kScmDefaultMaxTimestep = 1.57080;
inline constexpr double kScmDefaultIntermediateTimestep = 1.3;

/// Arguments of SCMScheduler.set_timesteps, with its defaults.
struct ScmTimestepOptions {
    int num_inference_steps = 2;
    std::optional<double> max_timestep = kScmDefaultMaxTimestep;
    /// Only allowed for exactly 2 steps (diffusers raises otherwise); pass nullopt for 1, 3, 4… steps.
    std::optional<double> intermediate_timestep = kScmDefaultIntermediateTimestep;
    /// num_inference_steps + 1 values; requires max_timestep = nullopt.
    std::vector<double> custom_timesteps;
};

/// The N+1 TrigFlow angles (float32-exact), from max_timestep down to 0: [max, intermediate, 0] for 2 steps with
/// an intermediate timestep, else torch.linspace(max, 0, N+1) in float32; or the custom list. InvalidRequest errors
/// for what diffusers rejects (0 steps, intermediate with N ≠ 2, custom list of the wrong length, ...).
Expected<std::vector<double>> scm_timesteps(const ScmTimestepOptions& options, int num_train_timesteps = 1000);

// ---------------------------------------------------------------------------------------------------------------------
// LVDM (VideoCrafter / DynamiCrafter) discrete DDPM schedule and DDIM sampling tables.

enum class BetaSchedule { Invalid = 0, Linear, Cosine, SqrtLinear, Sqrt };
enum class DDIMSpacing { Invalid = 0, Uniform, UniformTrailing, Quad };
enum class Parameterization { Invalid = 0, Epsilon, V };
/// How the latent scale array enters the DDIM update.
enum class LatentRescale {
    None = 0,
    VideoCrafter,   // use_scale (VC2, VC1-1024, VC-i2v): x0 /= s_t, x_prev = √ᾱ_prev·s_prev·x0 + …; s_prev[0] =
                    // scale_arr[0]
    DynamiCrafter,  // use_dynamic_rescale: x0 *= s_prev/s_t, x_prev = √ᾱ_prev·x0 + …; s_prev[0] = s_t[0]
};

const char* to_string(BetaSchedule value) noexcept;
const char* to_string(DDIMSpacing value) noexcept;
const char* to_string(Parameterization value) noexcept;
Expected<BetaSchedule> beta_schedule_from_string(const std::string& name);
/// "uniform", "uniform_trailing", "quad".
Expected<DDIMSpacing> ddim_spacing_from_string(const std::string& name);
/// "eps", "v".
Expected<Parameterization> parameterization_from_string(const std::string& name);

/// make_beta_schedule(schedule, n, linear_start, linear_end, cosine_s), float64.
std::vector<double> lvdm_make_beta_schedule(BetaSchedule schedule, int num_timesteps, double linear_start,
                                            double linear_end, double cosine_s = 8e-3);
/// Lin et al. 2023 Alg. 1: shift √ᾱ so √ᾱ_T = 0, scale so √ᾱ_0 is unchanged, rebuild the betas (float64).
std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas);
/// cumprod(1 − β) in float64 (the buffers store it as float32; see round_to_f32).
std::vector<double> alphas_cumprod_from_betas(const std::vector<double>& betas);

/// LVDM's latent scale array: cat(linspace(scale_a, scale_b, mid_step), full(n_tail, scale_b)), float32-exact, where
/// n_tail = num_timesteps − mid_step with fix_scale_bug (VC1-1024) and num_timesteps otherwise (so 1400 entries).
/// DynamiCrafter's dynamic-rescale array is the same with scale_a = 1, scale_b = base_scale, mid_step = turning_step.
std::vector<double> lvdm_scale_arr(double scale_a, double scale_b, int mid_step, int num_timesteps, bool fix_scale_bug);

/// make_ddim_timesteps: ascending DDPM steps. Uniform: range(0, T, T // S) + 1 (note: T // S may give MORE than S
/// steps, e.g. S = 6 → 7; the reference runs them all; and where T // S divides T − 1 — S = 3, 9, 27, 37, …, every
/// S > T/2 — the last step would be T, where the reference fails: InvalidRequest naming the nearest counts that work).
/// UniformTrailing: flip(round(arange(T, 0, −T/S))) − 1 (numpy adds a spurious ≈0 entry for some S, e.g. 61, that
/// LVDM would run as timestep −1; it is dropped). Quad: int(linspace(0, √(0.8·T), S)²) + 1.
/// InvalidRequest unless 1 ≤ S ≤ T.
Expected<std::vector<std::int64_t>> ddim_timesteps(DDIMSpacing spacing, int num_ddim_steps,
                                                   int num_train_timesteps = 1000);

/// Everything one DDIM step reads, indexed like LVDM's `index` (0 = lowest timestep; the loop runs from the top).
struct DDIMSchedule {
    std::vector<std::int64_t> timesteps;        // ascending DDPM steps, fed to the model
    std::vector<double> alphas;                 // ᾱ[t_i] (float32-exact, as LVDM's float32 buffer)
    std::vector<double> alphas_prev;            // ᾱ[0] for i = 0, else ᾱ[t_{i−1}]
    std::vector<double> sigmas;                 // η·√((1 − ᾱ_prev)/(1 − ᾱ)·(1 − ᾱ/ᾱ_prev))
    std::vector<double> sqrt_one_minus_alphas;  // √(1 − ᾱ[t_i])
    // For v-prediction LVDM converts with the full-schedule buffers at t (not the ddim_* ones):
    std::vector<double> sqrt_alphas_cumprod_at_t;            // √ᾱ[t_i] (float32 buffer computed in float64)
    std::vector<double> sqrt_one_minus_alphas_cumprod_at_t;  // √(1 − ᾱ[t_i])
    // Latent rescale (empty when rescale == None):
    LatentRescale rescale = LatentRescale::None;
    std::vector<double> scale;       // scale_arr[t_i]
    std::vector<double> scale_prev;  // see LatentRescale
    Parameterization parameterization = Parameterization::Epsilon;
    double eta = 0.0;

    int num_steps() const noexcept { return static_cast<int>(timesteps.size()); }
};

/// Builds the DDIM tables from the full float64 ᾱ (length T) and the chosen DDPM steps. scale_arr is needed
/// (length > max timestep) unless rescale == None. InvalidRequest/Internal on inconsistent input.
Expected<DDIMSchedule> make_ddim_schedule(const std::vector<double>& alphas_cumprod,
                                          const std::vector<std::int64_t>& timesteps, double eta,
                                          Parameterization parameterization, LatentRescale rescale,
                                          const std::vector<double>& scale_arr = {});

}  // namespace engine::schedulers
