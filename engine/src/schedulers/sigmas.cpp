// Pure noise schedules; see sigmas.h for what each reproduces.
#include "schedulers/sigmas.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace engine::schedulers {

double round_to_f32(double value) noexcept {
    // Through a volatile float on purpose: GCC 12's vectorizer (-O2/-O3) folds packed pairs of
    // (double)(float)x back to x, which silently skipped the rounding (seen in scm_timesteps).
    volatile float rounded = static_cast<float>(value);
    return rounded;
}

namespace {

Unexpected invalid(const std::string& message) {
    return make_error(ErrorCode::InvalidRequest, message);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// Linspace flavours

std::vector<double> numpy_linspace(double start, double stop, int num) {
    std::vector<double> y;
    if (num <= 0) {
        return y;
    }
    y.resize(static_cast<size_t>(num));
    if (num == 1) {
        y[0] = start;
        return y;
    }
    // numpy: step = delta/div; y = arange·step + start; the endpoint is set exactly.
    const double div = static_cast<double>(num - 1);
    const double delta = stop - start;
    const double step = delta / div;
    for (int i = 0; i < num; ++i) {
        const double idx = static_cast<double>(i);
        y[static_cast<size_t>(i)] = (step == 0.0 ? (idx / div) * delta : idx * step) + start;
    }
    y.back() = stop;
    return y;
}

std::vector<double> torch_linspace_f64(double start, double stop, int num) {
    std::vector<double> y;
    if (num <= 0) {
        return y;
    }
    y.resize(static_cast<size_t>(num));
    if (num == 1) {
        y[0] = start;
        return y;
    }
    // torch's CPU kernel fills from both ends so the endpoint is exact.
    const double step = (stop - start) / static_cast<double>(num - 1);
    const int halfway = num / 2;
    for (int i = 0; i < num; ++i) {
        y[static_cast<size_t>(i)] =
            i < halfway ? start + step * static_cast<double>(i) : stop - step * static_cast<double>(num - i - 1);
    }
    return y;
}

std::vector<double> torch_linspace_f32(double start, double stop, int num) {
    std::vector<double> y;
    if (num <= 0) {
        return y;
    }
    y.resize(static_cast<size_t>(num));
    const float fstart = static_cast<float>(start);
    const float fstop = static_cast<float>(stop);
    if (num == 1) {
        y[0] = fstart;
        return y;
    }
    const float step = (fstop - fstart) / static_cast<float>(num - 1);
    const int halfway = num / 2;
    for (int i = 0; i < num; ++i) {
        const float v =
            i < halfway ? fstart + step * static_cast<float>(i) : fstop - step * static_cast<float>(num - i - 1);
        y[static_cast<size_t>(i)] = v;
    }
    return y;
}

// ---------------------------------------------------------------------------------------------------------------------
// Flow matching

double flow_shift_sigma(double sigma, double shift) noexcept {
    return shift * sigma / (1.0 + (shift - 1.0) * sigma);
}

FlowSchedule flow_dpm_schedule(int num_steps, double shift, int num_train_timesteps) {
    FlowSchedule s;
    if (num_steps <= 0) {
        return s;
    }
    const double t_train = static_cast<double>(num_train_timesteps);
    // alphas = linspace(1, 1/T, N+1); σ = 1 − alphas, shifted, reversed, last (σ = 0 before the flip) dropped.
    const std::vector<double> alphas = numpy_linspace(1.0, 1.0 / t_train, num_steps + 1);
    s.timesteps.reserve(static_cast<size_t>(num_steps));
    s.sigmas.reserve(static_cast<size_t>(num_steps) + 1);
    for (int i = num_steps; i >= 1; --i) {
        const double sigma = flow_shift_sigma(1.0 - alphas[static_cast<size_t>(i)], shift);
        // float64 σ·T cast to int64 (truncation), before σ is rounded to float32.
        s.timesteps.push_back(std::trunc(sigma * t_train));
        s.sigmas.push_back(round_to_f32(sigma));
    }
    s.sigmas.push_back(0.0);  // final_sigmas_type = "zero"
    return s;
}

FlowSchedule flow_euler_schedule(int num_steps, double shift, int num_train_timesteps) {
    FlowSchedule s;
    if (num_steps <= 0) {
        return s;
    }
    // Training sigmas k/T (k = T..1), shifted in float32 tensor arithmetic; only the ends are used.
    const float fshift = static_cast<float>(shift);
    auto train_sigma = [&](float t) {
        const float sig = t / static_cast<float>(num_train_timesteps);
        const float num = fshift * sig;
        const float den = 1.0f + (fshift - 1.0f) * sig;
        return static_cast<double>(num / den);
    };
    const double sigma_max = train_sigma(static_cast<float>(num_train_timesteps));
    const double sigma_min = train_sigma(1.0f);
    const double t_train = static_cast<double>(num_train_timesteps);
    const std::vector<double> ts = numpy_linspace(sigma_max * t_train, sigma_min * t_train, num_steps);
    s.timesteps.reserve(static_cast<size_t>(num_steps));
    s.sigmas.reserve(static_cast<size_t>(num_steps) + 1);
    for (double t : ts) {
        // set_timesteps shifts again (float64), then stores float32; timesteps = σ·T in float32.
        const double sigma = round_to_f32(flow_shift_sigma(t / t_train, shift));
        s.sigmas.push_back(sigma);
        s.timesteps.push_back(round_to_f32(sigma * static_cast<double>(num_train_timesteps)));
    }
    s.sigmas.push_back(0.0);
    return s;
}

// ---------------------------------------------------------------------------------------------------------------------
// SCM

Expected<std::vector<double>> scm_timesteps(const ScmTimestepOptions& o, int num_train_timesteps) {
    const int n = o.num_inference_steps;
    const bool custom = !o.custom_timesteps.empty();
    if (n < 1) {
        return invalid("Sana-Sprint needs at least 1 inference step; got " + std::to_string(n) + ".");
    }
    if (n > num_train_timesteps) {
        return invalid("Sana-Sprint: " + std::to_string(n) + " inference steps exceed the " +
                       std::to_string(num_train_timesteps) + " training timesteps of the scheduler.");
    }
    if (custom && o.custom_timesteps.size() != static_cast<size_t>(n) + 1) {
        return invalid("Sana-Sprint custom timesteps must have num_inference_steps + 1 = " + std::to_string(n + 1) +
                       " values (the last is usually 0); got " + std::to_string(o.custom_timesteps.size()) + ".");
    }
    if (custom && o.max_timestep) {
        return invalid("Sana-Sprint: give either custom timesteps or a max timestep, not both.");
    }
    if (!custom && !o.max_timestep) {
        return invalid("Sana-Sprint: give either custom timesteps or a max timestep (default 1.5708).");
    }
    if (o.intermediate_timestep && n != 2) {
        return invalid("Sana-Sprint: an intermediate timestep is only supported with exactly 2 steps; got " +
                       std::to_string(n) + " steps. Clear the intermediate timestep for 1 or more than 2 steps.");
    }
    auto check_finite = [](double v, const char* what) -> Expected<void> {
        if (!std::isfinite(v)) {
            return invalid(std::string("Sana-Sprint: the ") + what + " must be a finite number.");
        }
        return {};
    };
    std::vector<double> ts;
    if (custom) {
        for (double v : o.custom_timesteps) {
            if (auto e = check_finite(v, "custom timesteps"); !e) {
                return Unexpected{e.error()};
            }
            ts.push_back(round_to_f32(v));
        }
    } else if (o.intermediate_timestep) {
        if (auto e = check_finite(*o.max_timestep, "max timestep"); !e) {
            return Unexpected{e.error()};
        }
        if (auto e = check_finite(*o.intermediate_timestep, "intermediate timestep"); !e) {
            return Unexpected{e.error()};
        }
        ts = {round_to_f32(*o.max_timestep), round_to_f32(*o.intermediate_timestep), 0.0};
    } else {
        if (auto e = check_finite(*o.max_timestep, "max timestep"); !e) {
            return Unexpected{e.error()};
        }
        ts = torch_linspace_f32(*o.max_timestep, 0.0, n + 1);
    }
    return ts;
}

// ---------------------------------------------------------------------------------------------------------------------
// LVDM

const char* to_string(BetaSchedule value) noexcept {
    switch (value) {
        case BetaSchedule::Invalid:
            return "invalid";
        case BetaSchedule::Linear:
            return "linear";
        case BetaSchedule::Cosine:
            return "cosine";
        case BetaSchedule::SqrtLinear:
            return "sqrt_linear";
        case BetaSchedule::Sqrt:
            return "sqrt";
    }
    return "unknown";
}

const char* to_string(DDIMSpacing value) noexcept {
    switch (value) {
        case DDIMSpacing::Invalid:
            return "invalid";
        case DDIMSpacing::Uniform:
            return "uniform";
        case DDIMSpacing::UniformTrailing:
            return "uniform_trailing";
        case DDIMSpacing::Quad:
            return "quad";
    }
    return "unknown";
}

const char* to_string(Parameterization value) noexcept {
    switch (value) {
        case Parameterization::Invalid:
            return "invalid";
        case Parameterization::Epsilon:
            return "eps";
        case Parameterization::V:
            return "v";
    }
    return "unknown";
}

Expected<BetaSchedule> beta_schedule_from_string(const std::string& name) {
    for (BetaSchedule v : {BetaSchedule::Linear, BetaSchedule::Cosine, BetaSchedule::SqrtLinear, BetaSchedule::Sqrt}) {
        if (name == to_string(v)) {
            return v;
        }
    }
    return make_error(ErrorCode::UnsupportedModel,
                      "Unknown beta schedule '" + name + "' (expected linear, cosine, sqrt_linear or sqrt).");
}

Expected<DDIMSpacing> ddim_spacing_from_string(const std::string& name) {
    for (DDIMSpacing v : {DDIMSpacing::Uniform, DDIMSpacing::UniformTrailing, DDIMSpacing::Quad}) {
        if (name == to_string(v)) {
            return v;
        }
    }
    return invalid("Unknown DDIM timestep spacing '" + name + "' (expected uniform, uniform_trailing or quad).");
}

Expected<Parameterization> parameterization_from_string(const std::string& name) {
    if (name == "eps" || name == "epsilon") {
        return Parameterization::Epsilon;
    }
    if (name == "v" || name == "v_prediction") {
        return Parameterization::V;
    }
    return make_error(ErrorCode::UnsupportedModel,
                      "Unsupported parameterization '" + name + "' (Kinora runs eps- and v-prediction models).");
}

std::vector<double> lvdm_make_beta_schedule(BetaSchedule schedule, int n, double linear_start, double linear_end,
                                            double cosine_s) {
    std::vector<double> betas;
    if (n <= 0) {
        return betas;
    }
    switch (schedule) {
        case BetaSchedule::Linear: {
            // torch.linspace(start^0.5, end^0.5, n, float64)^2 (SD's "scaled linear")
            betas = torch_linspace_f64(std::sqrt(linear_start), std::sqrt(linear_end), n);
            for (double& b : betas) {
                b = b * b;
            }
            break;
        }
        case BetaSchedule::Cosine: {
            constexpr double kPi = 3.14159265358979323846;
            std::vector<double> alphas(static_cast<size_t>(n) + 1);
            for (int i = 0; i <= n; ++i) {
                const double t = static_cast<double>(i) / n + cosine_s;
                const double c = std::cos(t / (1.0 + cosine_s) * kPi / 2.0);
                alphas[static_cast<size_t>(i)] = c * c;
            }
            const double a0 = alphas[0];
            for (double& a : alphas) {
                a /= a0;
            }
            betas.resize(static_cast<size_t>(n));
            for (int i = 0; i < n; ++i) {
                const double b = 1.0 - alphas[static_cast<size_t>(i) + 1] / alphas[static_cast<size_t>(i)];
                betas[static_cast<size_t>(i)] = std::clamp(b, 0.0, 0.999);
            }
            break;
        }
        case BetaSchedule::SqrtLinear:
            betas = torch_linspace_f64(linear_start, linear_end, n);
            break;
        case BetaSchedule::Sqrt:
            betas = torch_linspace_f64(linear_start, linear_end, n);
            for (double& b : betas) {
                b = std::sqrt(b);
            }
            break;
        case BetaSchedule::Invalid:
            break;
    }
    return betas;
}

std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas) {
    if (betas.empty()) {
        return {};
    }
    const size_t n = betas.size();
    std::vector<double> sqrt_ab(n);
    double cum = 1.0;
    for (size_t i = 0; i < n; ++i) {
        cum *= 1.0 - betas[i];
        sqrt_ab[i] = std::sqrt(cum);
    }
    const double s0 = sqrt_ab.front();
    const double s_t = sqrt_ab.back();
    // Shift so √ᾱ_T = 0, then scale so √ᾱ_0 keeps its value.
    for (double& s : sqrt_ab) {
        s -= s_t;
        s *= s0 / (s0 - s_t);
    }
    // ᾱ = (√ᾱ)²; α_0 = ᾱ_0, α_i = ᾱ_i / ᾱ_{i−1}; β = 1 − α.
    std::vector<double> out(n);
    double prev = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double ab = sqrt_ab[i] * sqrt_ab[i];
        const double alpha = i == 0 ? ab : ab / prev;
        out[i] = 1.0 - alpha;
        prev = ab;
    }
    return out;
}

std::vector<double> alphas_cumprod_from_betas(const std::vector<double>& betas) {
    std::vector<double> out(betas.size());
    double cum = 1.0;
    for (size_t i = 0; i < betas.size(); ++i) {
        cum *= 1.0 - betas[i];
        out[i] = cum;
    }
    return out;
}

std::vector<double> lvdm_scale_arr(double scale_a, double scale_b, int mid_step, int num_timesteps,
                                   bool fix_scale_bug) {
    std::vector<double> out = numpy_linspace(scale_a, scale_b, mid_step);
    const int tail = fix_scale_bug ? num_timesteps - mid_step : num_timesteps;
    out.insert(out.end(), static_cast<size_t>(std::max(tail, 0)), scale_b);
    for (double& v : out) {
        v = round_to_f32(v);  // registered as a float32 buffer
    }
    return out;
}

Expected<std::vector<std::int64_t>> ddim_timesteps(DDIMSpacing spacing, int num_ddim_steps, int num_train_timesteps) {
    if (num_ddim_steps < 1 || num_ddim_steps > num_train_timesteps) {
        return invalid("DDIM steps must be between 1 and " + std::to_string(num_train_timesteps) + "; got " +
                       std::to_string(num_ddim_steps) + ".");
    }
    std::vector<std::int64_t> ts;
    const int T = num_train_timesteps;
    const int S = num_ddim_steps;
    switch (spacing) {
        case DDIMSpacing::Uniform: {
            // range(0, T, c) + 1 ends at T whenever c divides T − 1 (S = 3, 9, 27, 37, …, and every S > T/2):
            // LVDM then indexes ᾱ[T] and fails. Refuse those counts and name the nearest ones that work.
            auto last_of = [T](int steps) { return ((T - 1) / (T / steps)) * (T / steps) + 1; };
            if (last_of(S) >= T) {
                int below = S - 1;
                while (below >= 1 && last_of(below) >= T) {
                    --below;
                }
                int above = S + 1;
                while (above <= T && last_of(above) >= T) {
                    ++above;
                }
                std::string alternatives = below >= 1 ? std::to_string(below) : "";
                if (above <= T) {
                    alternatives += (alternatives.empty() ? "" : " or ") + std::to_string(above);
                }
                return invalid("VideoCrafter's uniform DDIM spacing cannot make " + std::to_string(S) +
                               " steps (the last step would fall past the " + std::to_string(T) +
                               "-step schedule); use " + alternatives + " steps.");
            }
            const int c = T / S;
            for (int t = 0; t < T; t += c) {
                ts.push_back(t + 1);
            }
            break;
        }
        case DDIMSpacing::UniformTrailing: {
            // np.arange(T, 0, −c): length ceil(−T/−c), values start + i·δ with δ = (start − c) − start.
            const double c = static_cast<double>(T) / S;
            const double start = static_cast<double>(T);
            const double delta = (start - c) - start;
            const auto len = static_cast<std::int64_t>(std::ceil((0.0 - start) / -c));
            std::vector<std::int64_t> desc;
            for (std::int64_t i = 0; i < len; ++i) {
                const double v = i == 0 ? start : (i == 1 ? start - c : start + static_cast<double>(i) * delta);
                const auto r = static_cast<std::int64_t>(std::nearbyint(v));  // np.round: half to even
                // For some S (61, 103, ...) float rounding gives numpy one extra value ≈ 0, which LVDM turns into
                // timestep −1 (and indexes ᾱ[−1]). That entry is a reference bug, not a step: it is dropped.
                if (r >= 1) {
                    desc.push_back(r);
                }
            }
            for (auto it = desc.rbegin(); it != desc.rend(); ++it) {
                ts.push_back(*it - 1);
            }
            break;
        }
        case DDIMSpacing::Quad: {
            const std::vector<double> lin = numpy_linspace(0.0, std::sqrt(T * 0.8), S);
            for (double v : lin) {
                ts.push_back(static_cast<std::int64_t>(v * v) + 1);
            }
            break;
        }
        case DDIMSpacing::Invalid:
            return invalid("No DDIM timestep spacing chosen.");
    }
    return ts;
}

Expected<DDIMSchedule> make_ddim_schedule(const std::vector<double>& alphas_cumprod,
                                          const std::vector<std::int64_t>& timesteps, double eta,
                                          Parameterization parameterization, LatentRescale rescale,
                                          const std::vector<double>& scale_arr) {
    if (timesteps.empty()) {
        return invalid("DDIM schedule: no timesteps.");
    }
    if (!(eta >= 0.0) || !std::isfinite(eta)) {
        return invalid("DDIM eta must be a finite number >= 0; got " + std::to_string(eta) + ".");
    }
    if (parameterization != Parameterization::Epsilon && parameterization != Parameterization::V) {
        return make_error(ErrorCode::UnsupportedModel, "DDIM: unsupported parameterization.");
    }
    const auto T = static_cast<std::int64_t>(alphas_cumprod.size());
    for (std::int64_t t : timesteps) {
        if (t < 0 || t >= T) {
            return invalid("DDIM timestep " + std::to_string(t) + " is outside the " + std::to_string(T) +
                           "-step training schedule.");
        }
        if (rescale != LatentRescale::None && t >= static_cast<std::int64_t>(scale_arr.size())) {
            return make_error(ErrorCode::Internal, "DDIM: the latent scale array (" + std::to_string(scale_arr.size()) +
                                                       " entries) does not cover timestep " + std::to_string(t) + ".");
        }
    }
    if (rescale != LatentRescale::None && scale_arr.empty()) {
        return make_error(ErrorCode::Internal, "DDIM: latent rescale needs a scale array.");
    }
    DDIMSchedule s;
    s.timesteps = timesteps;
    s.parameterization = parameterization;
    s.rescale = rescale;
    s.eta = eta;
    const size_t n = timesteps.size();
    auto ac32 = [&](std::int64_t t) { return round_to_f32(alphas_cumprod[static_cast<size_t>(t)]); };
    for (size_t i = 0; i < n; ++i) {
        const std::int64_t t = timesteps[i];
        const double a = ac32(t);
        const double a_prev = i == 0 ? ac32(0) : ac32(timesteps[i - 1]);
        s.alphas.push_back(a);
        s.alphas_prev.push_back(a_prev);
        // DDIM paper eq. 16: σ = η·√((1 − ᾱ_prev)/(1 − ᾱ)·(1 − ᾱ/ᾱ_prev)).
        s.sigmas.push_back(eta * std::sqrt((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev)));
        s.sqrt_one_minus_alphas.push_back(round_to_f32(std::sqrt(1.0 - a)));
        const double ac = alphas_cumprod[static_cast<size_t>(t)];
        s.sqrt_alphas_cumprod_at_t.push_back(round_to_f32(std::sqrt(ac)));
        s.sqrt_one_minus_alphas_cumprod_at_t.push_back(round_to_f32(std::sqrt(1.0 - ac)));
        if (rescale != LatentRescale::None) {
            s.scale.push_back(round_to_f32(scale_arr[static_cast<size_t>(t)]));
        }
    }
    if (rescale == LatentRescale::VideoCrafter) {
        s.scale_prev.push_back(round_to_f32(scale_arr[0]));
        s.scale_prev.insert(s.scale_prev.end(), s.scale.begin(), s.scale.end() - 1);
    } else if (rescale == LatentRescale::DynamiCrafter) {
        s.scale_prev.push_back(s.scale.front());
        s.scale_prev.insert(s.scale_prev.end(), s.scale.begin(), s.scale.end() - 1);
    }
    return s;
}

}  // namespace engine::schedulers
