#include "schedulers/scheduler_kind.h"

#include <cmath>
#include <filesystem>
#include <set>

#include "core/json.h"
#include "core/log.h"

namespace engine::schedulers {

const char* to_string(SchedulerKind kind) noexcept {
    switch (kind) {
        case SchedulerKind::None:
            return "none";
        case SchedulerKind::FlowDPMSolverMultistep:
            return "flow_dpmpp_2m";
        case SchedulerKind::FlowEuler:
            return "flow_euler";
        case SchedulerKind::SCM:
            return "scm";
        case SchedulerKind::DDIM:
            return "ddim";
    }
    return "unknown";
}

Expected<SchedulerKind> scheduler_kind_from_string(const std::string& name) {
    for (SchedulerKind k :
         {SchedulerKind::FlowDPMSolverMultistep, SchedulerKind::FlowEuler, SchedulerKind::SCM, SchedulerKind::DDIM}) {
        if (name == to_string(k)) {
            return k;
        }
    }
    const SamplerKind sampler = sampler_kind_from_string(name);
    if (sampler != SamplerKind::Default) {
        return scheduler_kind_of(sampler);
    }
    return make_error(ErrorCode::InvalidRequest,
                      "Unknown sampler '" + name + "' (expected flow_dpmpp_2m, flow_euler, scm or ddim).");
}

Expected<SchedulerKind> scheduler_kind_from_class_name(const std::string& class_name) {
    if (class_name == "DPMSolverMultistepScheduler") {
        return SchedulerKind::FlowDPMSolverMultistep;
    }
    if (class_name == "FlowMatchEulerDiscreteScheduler") {
        return SchedulerKind::FlowEuler;
    }
    if (class_name == "SCMScheduler") {
        return SchedulerKind::SCM;
    }
    return make_error(ErrorCode::UnsupportedModel,
                      "Scheduler '" + class_name +
                          "' is not supported (Kinora runs DPMSolverMultistepScheduler with flow sigmas, "
                          "FlowMatchEulerDiscreteScheduler and SCMScheduler).");
}

SchedulerKind scheduler_kind_of(SamplerKind sampler) noexcept {
    switch (sampler) {
        case SamplerKind::Default:
            return SchedulerKind::None;
        case SamplerKind::FlowDPMSolverMultistep:
            return SchedulerKind::FlowDPMSolverMultistep;
        case SamplerKind::FlowEuler:
            return SchedulerKind::FlowEuler;
        case SamplerKind::SCM:
            return SchedulerKind::SCM;
        case SamplerKind::DDIM:
            return SchedulerKind::DDIM;
    }
    return SchedulerKind::None;
}

SamplerKind to_sampler_kind(SchedulerKind kind) noexcept {
    switch (kind) {
        case SchedulerKind::None:
            return SamplerKind::Default;
        case SchedulerKind::FlowDPMSolverMultistep:
            return SamplerKind::FlowDPMSolverMultistep;
        case SchedulerKind::FlowEuler:
            return SamplerKind::FlowEuler;
        case SchedulerKind::SCM:
            return SamplerKind::SCM;
        case SchedulerKind::DDIM:
            return SamplerKind::DDIM;
    }
    return SamplerKind::Default;
}

namespace {

// Reads typed keys of one JSON object and remembers which keys were looked at, so the rest can be reported.
class KeyReader {
public:
    KeyReader(const nlohmann::json& j, std::string what) : j_(j), what_(std::move(what)) {}

    bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }

    Expected<bool> get_bool(const std::string& key, bool fallback) {
        seen_.insert(key);
        if (!has(key)) {
            return fallback;
        }
        const auto& v = j_.at(key);
        if (!v.is_boolean()) {
            return type_error(key, "true or false");
        }
        return v.get<bool>();
    }
    Expected<double> get_number(const std::string& key, double fallback) {
        seen_.insert(key);
        if (!has(key)) {
            return fallback;
        }
        const auto& v = j_.at(key);
        if (!v.is_number()) {
            return type_error(key, "a number");
        }
        return v.get<double>();
    }
    Expected<int> get_int(const std::string& key, int fallback) {
        seen_.insert(key);
        if (!has(key)) {
            return fallback;
        }
        const auto& v = j_.at(key);
        if (!v.is_number_integer()) {
            return type_error(key, "an integer");
        }
        return v.get<int>();
    }
    /// "" when absent or null.
    Expected<std::string> get_string(const std::string& key, const std::string& fallback) {
        seen_.insert(key);
        if (!has(key)) {
            return fallback;
        }
        const auto& v = j_.at(key);
        if (!v.is_string()) {
            return type_error(key, "a string");
        }
        return v.get<std::string>();
    }
    /// Keys whose value does not matter for the implemented maths.
    void ignore(std::initializer_list<const char*> keys) {
        for (const char* k : keys) {
            seen_.insert(k);
        }
    }
    /// Logs keys nobody looked at (a newer diffusers may add some); false/null/0 values are defaults, so silent.
    void warn_unknown() const {
        for (auto it = j_.begin(); it != j_.end(); ++it) {
            const std::string& key = it.key();
            if (seen_.count(key) != 0 || (!key.empty() && key[0] == '_')) {
                continue;
            }
            const auto& v = it.value();
            const bool default_like =
                v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v.get<double>() == 0.0);
            if (!default_like) {
                LOG_WARN("%s: ignoring unknown scheduler key '%s' = %s", what_.c_str(), key.c_str(), v.dump().c_str());
            }
        }
    }

    Unexpected unsupported(const std::string& key, const std::string& detail) const {
        return make_error(ErrorCode::UnsupportedModel, what_ + ": " + key + " " + detail);
    }
    const std::string& what() const { return what_; }

private:
    Unexpected type_error(const std::string& key, const char* expected) const {
        return make_error(ErrorCode::ModelLoadFailed,
                          what_ + ": '" + key + "' must be " + expected + "; got " + j_.at(key).dump() + ".");
    }

    const nlohmann::json& j_;
    std::string what_;
    std::set<std::string> seen_;
};

#define KINORA_TRY_ASSIGN(lhs, expr)              \
    do {                                          \
        auto _kinora_v = (expr);                  \
        if (!_kinora_v) {                         \
            return Unexpected{_kinora_v.error()}; \
        }                                         \
        lhs = std::move(_kinora_v).value();       \
    } while (0)

/// Rejects `key` when it is set to true (a feature that changes the maths and is not implemented).
Expected<void> require_false(KeyReader& r, const std::string& key, const std::string& why) {
    bool v = false;
    KINORA_TRY_ASSIGN(v, r.get_bool(key, false));
    if (v) {
        return r.unsupported(key, "= true is not supported: " + why);
    }
    return {};
}

Expected<void> parse_dpm(KeyReader& r, SchedulerConfig& c) {
    std::string algorithm, prediction, solver_type, final_sigmas;
    KINORA_TRY_ASSIGN(algorithm, r.get_string("algorithm_type", "dpmsolver++"));
    if (algorithm != "dpmsolver++" && algorithm != "deis") {  // diffusers maps "deis" to dpmsolver++
        return r.unsupported("algorithm_type", "'" + algorithm +
                                                   "' is not supported; Kinora implements DPM-Solver++ "
                                                   "(algorithm_type \"dpmsolver++\").");
    }
    KINORA_TRY_ASSIGN(prediction, r.get_string("prediction_type", "epsilon"));
    if (prediction != "flow_prediction") {
        return r.unsupported("prediction_type", "'" + prediction +
                                                    "' is not supported with DPM-Solver++; Kinora implements "
                                                    "flow_prediction (Sana).");
    }
    bool flow_sigmas = false;
    KINORA_TRY_ASSIGN(flow_sigmas, r.get_bool("use_flow_sigmas", false));
    if (!flow_sigmas) {
        return r.unsupported("use_flow_sigmas", "= false is not supported: Kinora implements the flow-sigma schedule.");
    }
    KINORA_TRY_ASSIGN(c.dpm.solver_order, r.get_int("solver_order", 2));
    if (c.dpm.solver_order != 1 && c.dpm.solver_order != 2) {
        return r.unsupported("solver_order", "= " + std::to_string(c.dpm.solver_order) +
                                                 " is not supported (Kinora implements orders 1 and 2).");
    }
    KINORA_TRY_ASSIGN(solver_type, r.get_string("solver_type", "midpoint"));
    if (solver_type == "midpoint" || solver_type == "logrho" || solver_type == "bh1" || solver_type == "bh2") {
        c.dpm.solver_type = DPMSolverType::Midpoint;  // diffusers maps the UniPC names to midpoint
    } else if (solver_type == "heun") {
        c.dpm.solver_type = DPMSolverType::Heun;
    } else {
        return r.unsupported("solver_type", "'" + solver_type + "' is not supported (midpoint or heun).");
    }
    KINORA_TRY_ASSIGN(c.dpm.lower_order_final, r.get_bool("lower_order_final", true));
    KINORA_TRY_ASSIGN(c.dpm.euler_at_final, r.get_bool("euler_at_final", false));
    KINORA_TRY_ASSIGN(c.flow_shift, r.get_number("flow_shift", 1.0));
    if (!(c.flow_shift > 0.0) || !std::isfinite(c.flow_shift)) {
        return r.unsupported("flow_shift", "must be a positive number.");
    }
    KINORA_TRY_ASSIGN(final_sigmas, r.get_string("final_sigmas_type", "zero"));
    if (final_sigmas != "zero") {
        return r.unsupported("final_sigmas_type", "'" + final_sigmas + "' is not supported with flow sigmas (zero).");
    }
    if (r.has("variance_type")) {
        return r.unsupported("variance_type", "(learned variance) is not supported.");
    }
    r.ignore({"variance_type"});
    for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas"}) {
        if (auto e = require_false(r, key, "Kinora uses the flow-sigma schedule."); !e) {
            return e;
        }
    }
    if (auto e = require_false(r, "thresholding", "dynamic thresholding is not implemented."); !e) {
        return e;
    }
    if (auto e = require_false(r, "use_dynamic_shifting", "resolution-dependent shifting (mu) is not implemented.");
        !e) {
        return e;
    }
    // With flow sigmas these only feed paths that are overwritten (timesteps from spacing, the VP betas).
    r.ignore({"beta_start", "beta_end", "beta_schedule", "trained_betas", "dynamic_thresholding_ratio",
              "sample_max_value", "lambda_min_clipped", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr",
              "time_shift_type"});
    return {};
}

Expected<void> parse_euler(KeyReader& r, SchedulerConfig& c) {
    KINORA_TRY_ASSIGN(c.flow_shift, r.get_number("shift", 1.0));
    if (!(c.flow_shift > 0.0) || !std::isfinite(c.flow_shift)) {
        return r.unsupported("shift", "must be a positive number.");
    }
    for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"}) {
        if (auto e = require_false(r, key, "Kinora uses the shifted linear flow schedule."); !e) {
            return e;
        }
    }
    if (auto e = require_false(r, "use_dynamic_shifting", "resolution-dependent shifting (mu) is not implemented.");
        !e) {
        return e;
    }
    if (auto e = require_false(r, "invert_sigmas", "inverted sigmas are not implemented."); !e) {
        return e;
    }
    if (auto e = require_false(r, "stochastic_sampling", "stochastic Euler sampling is not implemented."); !e) {
        return e;
    }
    double shift_terminal = 0.0;
    KINORA_TRY_ASSIGN(shift_terminal, r.get_number("shift_terminal", 0.0));
    if (shift_terminal != 0.0) {
        return r.unsupported("shift_terminal", "is not supported (stretching the schedule to a terminal value).");
    }
    // Only used with dynamic shifting.
    r.ignore({"base_shift", "max_shift", "base_image_seq_len", "max_image_seq_len", "time_shift_type"});
    return {};
}

Expected<void> parse_scm(KeyReader& r, SchedulerConfig& c) {
    std::string prediction;
    KINORA_TRY_ASSIGN(prediction, r.get_string("prediction_type", "trigflow"));
    if (prediction != "trigflow") {
        return r.unsupported("prediction_type", "'" + prediction + "' is not supported (SCM runs trigflow).");
    }
    KINORA_TRY_ASSIGN(c.sigma_data, r.get_number("sigma_data", 0.5));
    if (!(c.sigma_data > 0.0) || !std::isfinite(c.sigma_data)) {
        return r.unsupported("sigma_data", "must be a positive number.");
    }
    return {};
}

}  // namespace

Expected<SchedulerConfig> SchedulerConfig::from_json(const nlohmann::json& json, const std::string& what) {
    if (!json.is_object()) {
        return make_error(ErrorCode::ModelLoadFailed, what + ": a scheduler config must be a JSON object.");
    }
    KeyReader r(json, what);
    SchedulerConfig c;
    KINORA_TRY_ASSIGN(c.class_name, r.get_string("_class_name", ""));
    if (c.class_name.empty()) {
        return make_error(ErrorCode::ModelLoadFailed, what + ": '_class_name' is missing (not a diffusers config?).");
    }
    auto kind = scheduler_kind_from_class_name(c.class_name);
    if (!kind) {
        return make_error(kind.error().code, what + ": " + kind.error().message);
    }
    c.kind = *kind;
    KINORA_TRY_ASSIGN(c.num_train_timesteps, r.get_int("num_train_timesteps", 1000));
    if (c.num_train_timesteps < 1) {
        return r.unsupported("num_train_timesteps", "must be at least 1.");
    }
    Expected<void> parsed;
    switch (c.kind) {
        case SchedulerKind::FlowDPMSolverMultistep:
            parsed = parse_dpm(r, c);
            break;
        case SchedulerKind::FlowEuler:
            parsed = parse_euler(r, c);
            break;
        case SchedulerKind::SCM:
            parsed = parse_scm(r, c);
            break;
        case SchedulerKind::DDIM:
        case SchedulerKind::None:
            break;
    }
    if (!parsed) {
        return Unexpected{parsed.error()};
    }
    r.warn_unknown();
    return c;
}

Expected<SchedulerConfig> read_scheduler_config(const std::string& path) {
    namespace fs = std::filesystem;
    std::string file = path;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        const fs::path in_pipeline = fs::path(path) / "scheduler" / "scheduler_config.json";
        const fs::path direct = fs::path(path) / "scheduler_config.json";
        file = fs::exists(in_pipeline, ec) ? in_pipeline.string() : direct.string();
    }
    auto json = core::read_json_file(file);
    if (!json) {
        return Unexpected{json.error()};
    }
    return SchedulerConfig::from_json(*json, file);
}

Expected<LVDMDiffusionConfig> LVDMDiffusionConfig::from_json(const nlohmann::json& json, const std::string& what) {
    const nlohmann::json* params = &json;
    if (json.contains("model") && json.at("model").is_object() && json.at("model").contains("params")) {
        params = &json.at("model").at("params");
    }
    if (!params->is_object()) {
        return make_error(ErrorCode::ModelLoadFailed, what + ": model.params must be an object.");
    }
    // model.params also holds the UNet/VAE/encoder configs; only the diffusion keys are read here.
    KeyReader r(*params, what + " model.params");
    LVDMDiffusionConfig c;
    KINORA_TRY_ASSIGN(c.num_timesteps, r.get_int("timesteps", 1000));
    if (c.num_timesteps < 2) {
        return r.unsupported("timesteps", "must be at least 2.");
    }
    std::string schedule, param;
    KINORA_TRY_ASSIGN(schedule, r.get_string("beta_schedule", "linear"));
    auto bs = beta_schedule_from_string(schedule);
    if (!bs) {
        return make_error(bs.error().code, r.what() + ": " + bs.error().message);
    }
    c.beta_schedule = *bs;
    if (r.has("given_betas")) {
        return r.unsupported("given_betas", "(an explicit beta list) is not supported.");
    }
    KINORA_TRY_ASSIGN(c.linear_start, r.get_number("linear_start", 1e-4));
    KINORA_TRY_ASSIGN(c.linear_end, r.get_number("linear_end", 2e-2));
    KINORA_TRY_ASSIGN(c.cosine_s, r.get_number("cosine_s", 8e-3));
    if (!(c.linear_start > 0.0 && c.linear_end > 0.0 && c.linear_end < 1.0)) {
        return r.unsupported("linear_start/linear_end", "must lie in (0, 1).");
    }
    KINORA_TRY_ASSIGN(c.rescale_betas_zero_snr, r.get_bool("rescale_betas_zero_snr", false));
    KINORA_TRY_ASSIGN(param, r.get_string("parameterization", "eps"));
    auto p = parameterization_from_string(param);
    if (!p) {
        return make_error(p.error().code, r.what() + ": " + p.error().message);
    }
    c.parameterization = *p;

    bool use_scale = false, dynamic = false;
    KINORA_TRY_ASSIGN(use_scale, r.get_bool("use_scale", false));
    KINORA_TRY_ASSIGN(dynamic, r.get_bool("use_dynamic_rescale", false));
    if (use_scale && dynamic) {
        return r.unsupported("use_scale", "and use_dynamic_rescale are both set; a model uses one or the other.");
    }
    if (use_scale) {
        c.rescale = LatentRescale::VideoCrafter;
        KINORA_TRY_ASSIGN(c.scale_a, r.get_number("scale_a", 1.0));
        KINORA_TRY_ASSIGN(c.scale_b, r.get_number("scale_b", 0.3));
        KINORA_TRY_ASSIGN(c.mid_step, r.get_int("mid_step", 400));
        KINORA_TRY_ASSIGN(c.fix_scale_bug, r.get_bool("fix_scale_bug", false));
    } else if (dynamic) {
        c.rescale = LatentRescale::DynamiCrafter;
        c.scale_a = 1.0;
        KINORA_TRY_ASSIGN(c.scale_b, r.get_number("base_scale", 0.7));
        KINORA_TRY_ASSIGN(c.mid_step, r.get_int("turning_step", 400));
    }
    if (c.rescale != LatentRescale::None) {
        if (c.mid_step < 1 || c.mid_step > c.num_timesteps) {
            return r.unsupported(use_scale ? "mid_step" : "turning_step",
                                 "must be between 1 and the number of timesteps.");
        }
        if (!(c.scale_a > 0.0 && c.scale_b > 0.0)) {
            return r.unsupported(use_scale ? "scale_b" : "base_scale", "must be positive.");
        }
    }
    return c;
}

std::vector<double> LVDMDiffusionConfig::betas() const {
    std::vector<double> b = lvdm_make_beta_schedule(beta_schedule, num_timesteps, linear_start, linear_end, cosine_s);
    if (rescale_betas_zero_snr) {
        b = rescale_zero_terminal_snr(b);
    }
    return b;
}

std::vector<double> LVDMDiffusionConfig::alphas_cumprod() const {
    return alphas_cumprod_from_betas(betas());
}

std::vector<double> LVDMDiffusionConfig::scale_arr() const {
    if (rescale == LatentRescale::None) {
        return {};
    }
    return lvdm_scale_arr(scale_a, scale_b, mid_step, num_timesteps, fix_scale_bug);
}

}  // namespace engine::schedulers
