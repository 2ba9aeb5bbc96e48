#include "schedulers/parameterization.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "schedulers/sigmas.h"

namespace engine::schedulers {

namespace {

float f32(double v) {
    return static_cast<float>(v);
}

}  // namespace

at::Tensor flow_x0_from_velocity(const at::Tensor& x, const at::Tensor& v, double sigma) {
    return x - sigma * v;
}

at::Tensor eps_to_x0(const at::Tensor& x, const at::Tensor& eps, double sqrt_alpha_cumprod,
                     double sqrt_one_minus_alpha_cumprod) {
    return (x - sqrt_one_minus_alpha_cumprod * eps) / sqrt_alpha_cumprod;
}

at::Tensor v_to_x0(const at::Tensor& x, const at::Tensor& v, double sqrt_alpha_cumprod,
                   double sqrt_one_minus_alpha_cumprod) {
    return sqrt_alpha_cumprod * x - sqrt_one_minus_alpha_cumprod * v;
}

at::Tensor v_to_eps(const at::Tensor& x, const at::Tensor& v, double sqrt_alpha_cumprod,
                    double sqrt_one_minus_alpha_cumprod) {
    return sqrt_alpha_cumprod * v + sqrt_one_minus_alpha_cumprod * x;
}

at::Tensor trigflow_x0(const at::Tensor& x, const at::Tensor& F, double s) {
    // The reference evaluates torch.cos/sin on a float32 scalar tensor.
    const double fs = round_to_f32(s);
    const double c = round_to_f32(std::cos(fs));
    const double sn = round_to_f32(std::sin(fs));
    return c * x - sn * F;
}

double trigflow_to_flow_time(double s) {
    const float fs = f32(s);
    const float sn = f32(std::sin(static_cast<double>(fs)));
    const float c = f32(std::cos(static_cast<double>(fs)));
    return static_cast<double>(sn / (c + sn));
}

double trigflow_flow_input_scale(double tf) {
    const float t = f32(tf);
    const float one_minus = 1.0f - t;
    return static_cast<double>(std::sqrt(t * t + one_minus * one_minus));
}

at::Tensor flow_velocity_to_trigflow(const at::Tensor& model_input, const at::Tensor& v, double tf) {
    const float t = f32(tf);
    const double a = static_cast<double>(1.0f - 2.0f * t);
    const double b = static_cast<double>(1.0f - 2.0f * t + 2.0f * t * t);
    const double norm = trigflow_flow_input_scale(tf);
    return (a * model_input + b * v) / norm;
}

at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale,
                                    double guidance_rescale) {
    at::Tensor out = uncond + scale * (cond - uncond);
    if (guidance_rescale > 0.0) {
        std::vector<int64_t> dims;
        for (int64_t d = 1; d < cond.dim(); ++d) {
            dims.push_back(d);
        }
        const at::IntArrayRef reduce_dims(dims);
        const at::Tensor std_cond = cond.std(reduce_dims, /*unbiased=*/true, /*keepdim=*/true);
        const at::Tensor std_out = out.std(reduce_dims, /*unbiased=*/true, /*keepdim=*/true);
        const at::Tensor rescaled = out * (std_cond / std_out);
        out = guidance_rescale * rescaled + (1.0 - guidance_rescale) * out;
    }
    return out;
}

}  // namespace engine::schedulers
