#include "kernels/ops.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <cstdlib>

#include "ops_impl.h"

namespace kernels {
namespace {

std::atomic<bool>& cuda_kernels_flag() {
    static std::atomic<bool> enabled{std::getenv("KINORA_DISABLE_CUDA_KERNELS") == nullptr};
    return enabled;
}

// CUDA tensors go to our kernels when they are built in and not switched off; everything else to the device-generic
// references (which LibTorch runs on any device).
bool use_cuda_kernel(const at::Tensor& t) {
    return t.is_cuda() && detail::cuda_built() && cuda_kernels_flag().load(std::memory_order_relaxed);
}

}  // namespace

bool has_cuda_kernels() noexcept {
    return detail::cuda_built();
}

std::string kernels_description() {
    return detail::cuda_built() ? "CUDA kernels built in" : "built without CUDA kernels";
}

void set_cuda_kernels_enabled(bool enabled) noexcept {
    cuda_kernels_flag().store(enabled);
}

bool cuda_kernels_enabled() noexcept {
    return cuda_kernels_flag().load();
}

at::Tensor relu_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    TORCH_CHECK(q.defined() && k.defined() && v.defined(), "relu_linear_attention: q, k, v must be defined");
    TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
                "relu_linear_attention: q, k, v must be [B, H, N, D]; got ", q.sizes(), ", ", k.sizes(), ", ",
                v.sizes());
    TORCH_CHECK(q.sizes() == k.sizes(), "relu_linear_attention: q and k shapes differ: ", q.sizes(), " vs ", k.sizes());
    TORCH_CHECK(v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == q.size(2),
                "relu_linear_attention: v must be [B, H, N, Dv] matching q; got ", v.sizes(), " vs ", q.sizes());
    TORCH_CHECK(q.device() == k.device() && q.device() == v.device(),
                "relu_linear_attention: tensors on different devices");
    TORCH_CHECK(at::isFloatingType(q.scalar_type()) && at::isFloatingType(k.scalar_type()) &&
                    at::isFloatingType(v.scalar_type()),
                "relu_linear_attention: q, k, v must be floating-point tensors");
    TORCH_CHECK(eps > 0.0, "relu_linear_attention: eps must be positive, got ", eps);
    RECORD_FUNCTION("kinora::relu_linear_attention", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(q)) {
        return detail::relu_linear_attention_cuda(q, k, v, eps);
    }
    return detail::relu_linear_attention_cpu(q, k, v, eps);
}

at::Tensor layer_norm_modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
    TORCH_CHECK(x.defined() && shift.defined() && scale.defined(),
                "layer_norm_modulate: x, shift and scale must be defined");
    TORCH_CHECK(x.dim() == 3, "layer_norm_modulate: x must be [B, N, D], got ", x.sizes());
    const int64_t batch = x.size(0);
    const int64_t dim = x.size(2);
    for (const at::Tensor* t : {&shift, &scale}) {
        TORCH_CHECK(t->dim() == 3 && t->size(1) == 1 && t->size(2) == dim && (t->size(0) == batch || t->size(0) == 1),
                    "layer_norm_modulate: shift and scale must be [B, 1, D] = [", batch, ", 1, ", dim,
                    "] (or [1, 1, D]); got ", t->sizes());
        TORCH_CHECK(t->device() == x.device(), "layer_norm_modulate: tensors on different devices");
        TORCH_CHECK(at::isFloatingType(t->scalar_type()), "layer_norm_modulate: shift and scale must be floating");
    }
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "layer_norm_modulate: x must be a floating-point tensor");
    TORCH_CHECK(eps >= 0.0, "layer_norm_modulate: eps must not be negative, got ", eps);
    RECORD_FUNCTION("kinora::layer_norm_modulate", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::layer_norm_modulate_cuda(x, shift, scale, eps);
    }
    return detail::layer_norm_modulate_cpu(x, shift, scale, eps);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                    std::optional<at::ScalarType> out_dtype, const at::Tensor& residual) {
    TORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) > 0, "rms_norm: x must be [..., D] with D > 0");
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "rms_norm: x must be a floating-point tensor");
    const int64_t dim = x.size(-1);
    if (weight.defined()) {
        TORCH_CHECK(weight.dim() == 1 && weight.size(0) == dim, "rms_norm: weight must be [D = ", dim, "], got ",
                    weight.sizes());
        TORCH_CHECK(weight.device() == x.device(), "rms_norm: tensors on different devices");
        TORCH_CHECK(at::isFloatingType(weight.scalar_type()), "rms_norm: weight must be floating");
    }
    if (bias.defined()) {
        TORCH_CHECK(weight.defined(), "rms_norm: a bias needs a weight (diffusers RMSNorm)");
        TORCH_CHECK(bias.dim() == 1 && bias.size(0) == dim, "rms_norm: bias must be [D = ", dim, "], got ",
                    bias.sizes());
        TORCH_CHECK(bias.device() == x.device(), "rms_norm: tensors on different devices");
    }
    TORCH_CHECK(eps >= 0.0, "rms_norm: eps must not be negative, got ", eps);
    if (residual.defined()) {
        TORCH_CHECK(residual.sizes() == x.sizes(), "rms_norm: residual must have x's shape ", x.sizes(), ", got ",
                    residual.sizes());
        TORCH_CHECK(residual.device() == x.device(), "rms_norm: tensors on different devices");
    }
    RECORD_FUNCTION("kinora::rms_norm", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::rms_norm_cuda(x, weight, bias, eps, out_dtype, residual);
    }
    at::Tensor out = detail::rms_norm_cpu(x, weight, bias, eps);
    if (out_dtype) out = out.to(*out_dtype);
    return residual.defined() ? out + residual : out;
}

at::Tensor bias_silu(const at::Tensor& x, const at::Tensor& bias) {
    TORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) > 0, "bias_silu: x must be [..., C] with C > 0");
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "bias_silu: x must be a floating-point tensor");
    TORCH_CHECK(bias.defined() && bias.dim() == 1 && bias.size(0) == x.size(-1), "bias_silu: bias must be [C = ",
                x.size(-1), "], got ", bias.defined() ? bias.sizes() : at::IntArrayRef{});
    TORCH_CHECK(bias.device() == x.device(), "bias_silu: tensors on different devices");
    TORCH_CHECK(bias.scalar_type() == x.scalar_type(), "bias_silu: bias must have x's dtype");
    RECORD_FUNCTION("kinora::bias_silu", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::bias_silu_cuda(x, bias);
    }
    return detail::bias_silu_cpu(x, bias);
}

at::Tensor depthwise_conv3x3_silu_gate(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    TORCH_CHECK(x.defined() && x.dim() == 4, "depthwise_conv3x3_silu_gate: x must be [B, 2C, H, W], got ",
                x.defined() ? x.sizes() : at::IntArrayRef{});
    const int64_t channels = x.size(1);
    TORCH_CHECK(channels > 0 && channels % 2 == 0,
                "depthwise_conv3x3_silu_gate: x needs an even number of channels "
                "(value and gate halves), got ",
                channels);
    TORCH_CHECK(weight.defined() && weight.dim() == 4 && weight.size(0) == channels && weight.size(1) == 1 &&
                    weight.size(2) == 3 && weight.size(3) == 3,
                "depthwise_conv3x3_silu_gate: weight must be [2C = ", channels, ", 1, 3, 3], got ",
                weight.defined() ? weight.sizes() : at::IntArrayRef{});
    TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == channels),
                "depthwise_conv3x3_silu_gate: bias must be [2C = ", channels, "] or undefined, got ",
                bias.defined() ? bias.sizes() : at::IntArrayRef{});
    TORCH_CHECK(weight.device() == x.device() && (!bias.defined() || bias.device() == x.device()),
                "depthwise_conv3x3_silu_gate: tensors on different devices");
    TORCH_CHECK(at::isFloatingType(x.scalar_type()) && at::isFloatingType(weight.scalar_type()),
                "depthwise_conv3x3_silu_gate: x and weight must be floating-point tensors");
    RECORD_FUNCTION("kinora::depthwise_conv3x3_silu_gate", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::depthwise_conv3x3_silu_gate_cuda(x, weight, bias);
    }
    return detail::depthwise_conv3x3_silu_gate_cpu(x, weight, bias);
}

at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) {
    TORCH_CHECK(x.defined() && gate.defined() && y.defined(), "gated_residual: x, gate and y must be defined");
    TORCH_CHECK(x.dim() == 3 && y.sizes() == x.sizes(), "gated_residual: x and y must be [B, N, D] of one shape, got ",
                x.sizes(), " and ", y.sizes());
    TORCH_CHECK(gate.dim() == 3 && gate.size(1) == 1 && gate.size(2) == x.size(2) &&
                    (gate.size(0) == x.size(0) || gate.size(0) == 1),
                "gated_residual: gate must be [B, 1, D] = [", x.size(0), ", 1, ", x.size(2), "] (or [1, 1, D]), got ",
                gate.sizes());
    TORCH_CHECK(gate.device() == x.device() && y.device() == x.device(),
                "gated_residual: tensors on different devices");
    RECORD_FUNCTION("kinora::gated_residual", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::gated_residual_cuda(x, gate, y);
    }
    return detail::gated_residual_cpu(x, gate, y);
}

std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate(const at::Tensor& x, const at::Tensor& y,
                                                                const at::Tensor& gate, const at::Tensor& shift,
                                                                const at::Tensor& scale, double eps,
                                                                const at::Tensor& y_head) {
    TORCH_CHECK(x.defined() && y.defined() && shift.defined() && scale.defined(),
                "residual_layer_norm_modulate: x, y, shift and scale must be defined");
    TORCH_CHECK(x.dim() == 3 && y.sizes() == x.sizes() && y.scalar_type() == x.scalar_type(),
                "residual_layer_norm_modulate: x and y must be [B, N, D] of one shape and dtype, got ", x.sizes(), " ",
                x.scalar_type(), " and ", y.sizes(), " ", y.scalar_type());
    const int64_t batch = x.size(0);
    const int64_t dim = x.size(2);
    for (const at::Tensor* t : {&gate, &shift, &scale}) {
        if (!t->defined()) {
            continue;  // the gate may be
        }
        TORCH_CHECK(t->dim() == 3 && t->size(1) == 1 && t->size(2) == dim && (t->size(0) == batch || t->size(0) == 1),
                    "residual_layer_norm_modulate: gate, shift and scale must be [B, 1, D] = [", batch, ", 1, ", dim,
                    "] (or [1, 1, D]); got ", t->sizes());
        TORCH_CHECK(at::isFloatingType(t->scalar_type()),
                    "residual_layer_norm_modulate: gate, shift and scale must be floating");
    }
    for (const at::Tensor* t : {&y, &gate, &shift, &scale}) {
        TORCH_CHECK(!t->defined() || t->device() == x.device(),
                    "residual_layer_norm_modulate: tensors on different devices");
    }
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "residual_layer_norm_modulate: x must be a floating-point tensor");
    TORCH_CHECK(eps >= 0.0, "residual_layer_norm_modulate: eps must not be negative, got ", eps);
    TORCH_CHECK(!y_head.defined() || (y_head.dim() == 3 && y_head.size(0) >= 1 && y_head.size(0) <= batch &&
                                      y_head.size(1) == 1 && y_head.size(2) == dim &&
                                      y_head.scalar_type() == x.scalar_type() && y_head.device() == x.device()),
                "residual_layer_norm_modulate: y_head must be [S, 1, D] with 1 <= S <= B = ", batch, ", D = ", dim,
                ", of x's dtype and device; got ", y_head.defined() ? y_head.sizes() : at::IntArrayRef{});
    RECORD_FUNCTION("kinora::residual_layer_norm_modulate", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::residual_layer_norm_modulate_cuda(x, y, gate, shift, scale, eps, y_head);
    }
    return detail::residual_layer_norm_modulate_cpu(x, y_head.defined() ? detail::with_y_head(y, y_head) : y, gate,
                                                    shift, scale, eps);
}

at::Tensor silu_depthwise_conv3x3_gate_nhwc(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                            const at::Tensor& taps) {
    TORCH_CHECK(x.defined() && x.dim() == 4, "silu_depthwise_conv3x3_gate_nhwc: x must be [B, H, W, 2C], got ",
                x.defined() ? x.sizes() : at::IntArrayRef{});
    const int64_t channels = x.size(3);
    TORCH_CHECK(channels > 0 && channels % 2 == 0,
                "silu_depthwise_conv3x3_gate_nhwc: x needs an even number of channels (value and gate halves), got ",
                channels);
    TORCH_CHECK(weight.defined() && weight.dim() == 4 && weight.size(0) == channels && weight.size(1) == 1 &&
                    weight.size(2) == 3 && weight.size(3) == 3,
                "silu_depthwise_conv3x3_gate_nhwc: weight must be [2C = ", channels, ", 1, 3, 3], got ",
                weight.defined() ? weight.sizes() : at::IntArrayRef{});
    TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == channels),
                "silu_depthwise_conv3x3_gate_nhwc: bias must be [2C = ", channels, "] or undefined, got ",
                bias.defined() ? bias.sizes() : at::IntArrayRef{});
    TORCH_CHECK(weight.device() == x.device() && (!bias.defined() || bias.device() == x.device()),
                "silu_depthwise_conv3x3_gate_nhwc: tensors on different devices");
    TORCH_CHECK(at::isFloatingType(x.scalar_type()) && at::isFloatingType(weight.scalar_type()),
                "silu_depthwise_conv3x3_gate_nhwc: x and weight must be floating-point tensors");
    TORCH_CHECK(!taps.defined() || (taps.dim() == 2 && taps.size(0) == 10 && taps.size(1) == channels &&
                                     taps.scalar_type() == at::kFloat && taps.device() == x.device()),
                "silu_depthwise_conv3x3_gate_nhwc: taps must be depthwise_taps(weight, bias), float32 [10, ", channels,
                "] on x's device, or undefined; got ", taps.defined() ? taps.sizes() : at::IntArrayRef{});
    RECORD_FUNCTION("kinora::silu_depthwise_conv3x3_gate_nhwc", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::silu_depthwise_conv3x3_gate_nhwc_cuda(x, weight, bias, taps);
    }
    return detail::silu_depthwise_conv3x3_gate_nhwc_cpu(x, weight, bias);
}

at::Tensor depthwise_taps(const at::Tensor& weight, const at::Tensor& bias) {
    TORCH_CHECK(weight.defined() && weight.dim() == 4 && weight.size(1) == 1 && weight.size(2) == 3 &&
                    weight.size(3) == 3,
                "depthwise_taps: weight must be [2C, 1, 3, 3], got ",
                weight.defined() ? weight.sizes() : at::IntArrayRef{});
    const int64_t channels = weight.size(0);
    TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == channels && bias.device() == weight.device()),
                "depthwise_taps: bias must be [2C = ", channels, "] on the weight's device, or undefined");
    const auto f32 = weight.options().dtype(at::kFloat);
    const at::Tensor b = bias.defined() ? bias.to(at::kFloat).reshape({1, channels}) : at::zeros({1, channels}, f32);
    return at::cat({weight.to(at::kFloat).reshape({channels, 9}).t(), b}, 0).contiguous();  // [10, 2C]
}

std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3(const at::Tensor& x) {
    TORCH_CHECK(x.defined() && x.dim() == 2, "quantize_rows_e4m3: x must be [M, K], got ",
                x.defined() ? x.sizes() : at::IntArrayRef{});
    TORCH_CHECK(x.size(1) > 0, "quantize_rows_e4m3: rows must not be empty");
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "quantize_rows_e4m3: x must be a floating-point tensor, got ",
                x.scalar_type());
    RECORD_FUNCTION("kinora::quantize_rows_e4m3", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::quantize_rows_e4m3_cuda(x);
    }
    return detail::quantize_rows_e4m3_cpu(x);
}

at::Tensor e4m3_to_float(const at::Tensor& q) {
    TORCH_CHECK(q.defined() && q.scalar_type() == at::kByte, "e4m3_to_float: q must be a uint8 tensor of e4m3fn bit "
                "patterns");
    static const at::Tensor table = [] {
        at::Tensor t = at::empty({256}, at::kFloat);
        float* v = t.data_ptr<float>();
        for (int code = 0; code < 256; ++code) {
            const int exponent = (code >> 3) & 15;
            const int mantissa = code & 7;
            float magnitude;
            if (exponent == 15 && mantissa == 7) {
                magnitude = std::numeric_limits<float>::quiet_NaN();
            } else if (exponent == 0) {
                magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m · 2^-9
            } else {
                magnitude = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
            }
            v[code] = (code & 0x80) ? -magnitude : magnitude;
        }
        return t;
    }();
    return table.to(q.device()).index({q.to(at::kLong)});
}

at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu, const at::Tensor& channel_add, const at::Tensor& out) {
    TORCH_CHECK(x.defined() && x.dim() >= 2, "group_norm: x must be [N, C, *], got ",
                x.defined() ? x.sizes() : at::IntArrayRef{});
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "group_norm: x must be a floating-point tensor");
    const int64_t samples = x.size(0);
    const int64_t channels = x.size(1);
    TORCH_CHECK(groups > 0 && channels % groups == 0, "group_norm: ", channels, " channels are not divisible into ",
                groups, " groups");
    for (const at::Tensor* t : {&weight, &bias}) {
        if (t->defined()) {
            TORCH_CHECK(t->dim() == 1 && t->size(0) == channels, "group_norm: weight and bias must be [C = ", channels,
                        "], got ", t->sizes());
            TORCH_CHECK(t->device() == x.device(), "group_norm: tensors on different devices");
            TORCH_CHECK(at::isFloatingType(t->scalar_type()), "group_norm: weight and bias must be floating");
        }
    }
    if (channel_add.defined()) {
        TORCH_CHECK(channel_add.dim() == 2 && channel_add.size(0) == samples && channel_add.size(1) == channels &&
                        channel_add.scalar_type() == at::kFloat,
                    "group_norm: channel_add must be float32 [N, C] = [", samples, ", ", channels, "], got ",
                    channel_add.scalar_type(), " ", channel_add.sizes());
        TORCH_CHECK(channel_add.device() == x.device(), "group_norm: tensors on different devices");
    }
    if (out.defined()) {
        TORCH_CHECK(out.sizes() == x.sizes() && out.scalar_type() == x.scalar_type(), "group_norm: out must be ",
                    x.scalar_type(), " ", x.sizes(), ", got ", out.scalar_type(), " ", out.sizes());
        TORCH_CHECK(out.device() == x.device(), "group_norm: tensors on different devices");
    }
    TORCH_CHECK(eps >= 0.0, "group_norm: eps must not be negative, got ", eps);
    RECORD_FUNCTION("kinora::group_norm", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::group_norm_cuda(x, groups, weight, bias, eps, silu, channel_add, out);
    }
    return detail::group_norm_cpu(x, groups, weight, bias, eps, silu, channel_add, out);
}

std::tuple<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& residual,
                                                  const at::Tensor& weight, const at::Tensor& bias, double eps) {
    TORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) > 0, "add_layer_norm: x must be [..., D] with D > 0");
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "add_layer_norm: x must be a floating-point tensor");
    const int64_t dim = x.size(-1);
    if (residual.defined()) {
        TORCH_CHECK(residual.sizes() == x.sizes() && residual.scalar_type() == x.scalar_type(),
                    "add_layer_norm: residual must be ", x.scalar_type(), " ", x.sizes(), ", got ",
                    residual.scalar_type(), " ", residual.sizes());
        TORCH_CHECK(residual.device() == x.device(), "add_layer_norm: tensors on different devices");
    }
    for (const at::Tensor* t : {&weight, &bias}) {
        if (t->defined()) {
            TORCH_CHECK(t->dim() == 1 && t->size(0) == dim, "add_layer_norm: weight and bias must be [D = ", dim,
                        "], got ", t->sizes());
            TORCH_CHECK(t->device() == x.device(), "add_layer_norm: tensors on different devices");
            TORCH_CHECK(at::isFloatingType(t->scalar_type()), "add_layer_norm: weight and bias must be floating");
        }
    }
    TORCH_CHECK(eps >= 0.0, "add_layer_norm: eps must not be negative, got ", eps);
    RECORD_FUNCTION("kinora::add_layer_norm", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(x)) {
        return detail::add_layer_norm_cuda(x, residual, weight, bias, eps);
    }
    return detail::add_layer_norm_cpu(x, residual, weight, bias, eps);
}

at::Tensor geglu(const at::Tensor& h) {
    TORCH_CHECK(h.defined() && h.dim() >= 1 && h.size(-1) > 0 && h.size(-1) % 2 == 0,
                "geglu: h must be [..., 2I] with I > 0 (value and gate halves), got ",
                h.defined() ? h.sizes() : at::IntArrayRef{});
    TORCH_CHECK(at::isFloatingType(h.scalar_type()), "geglu: h must be a floating-point tensor");
    RECORD_FUNCTION("kinora::geglu", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(h)) {
        return detail::geglu_cuda(h);
    }
    return detail::geglu_cpu(h);
}

at::Tensor add_channel_bias(const at::Tensor& y, const at::Tensor& bias, const at::Tensor& residual) {
    TORCH_CHECK(y.defined() && y.dim() >= 2, "add_channel_bias: y must be [N, C, *], got ",
                y.defined() ? y.sizes() : at::IntArrayRef{});
    TORCH_CHECK(at::isFloatingType(y.scalar_type()), "add_channel_bias: y must be a floating-point tensor");
    TORCH_CHECK(bias.defined() && bias.dim() == 1 && bias.size(0) == y.size(1), "add_channel_bias: bias must be [C = ",
                y.size(1), "], got ", bias.defined() ? bias.sizes() : at::IntArrayRef{});
    TORCH_CHECK(bias.device() == y.device(), "add_channel_bias: tensors on different devices");
    if (residual.defined()) {
        TORCH_CHECK(residual.sizes() == y.sizes(), "add_channel_bias: residual must have y's shape ", y.sizes(),
                    ", got ", residual.sizes());
        TORCH_CHECK(residual.device() == y.device(), "add_channel_bias: tensors on different devices");
    }
    RECORD_FUNCTION("kinora::add_channel_bias", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(y)) {
        return detail::add_channel_bias_cuda(y, bias, residual);
    }
    return detail::add_channel_bias_cpu(y, bias, residual);
}

at::Tensor short_sequence_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& mask) {
    TORCH_CHECK(q.defined() && k.defined() && v.defined() && q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
                "short_sequence_attention: q, k, v must be [B, H, L, D]");
    TORCH_CHECK(k.sizes() == v.sizes() && q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3),
                "short_sequence_attention: q ", q.sizes(), ", k ", k.sizes(), " and v ", v.sizes(),
                " do not fit [B, H, Lq, D] / [B, H, Lk, D]");
    TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type() &&
                    at::isFloatingType(q.scalar_type()),
                "short_sequence_attention: q, k, v must be floating-point tensors of one dtype");
    TORCH_CHECK(q.device() == k.device() && q.device() == v.device(),
                "short_sequence_attention: tensors on different devices");
    if (mask.defined()) {
        TORCH_CHECK(mask.scalar_type() == at::kBool && mask.dim() == 2 && mask.size(0) == q.size(2) &&
                        mask.size(1) == k.size(2),
                    "short_sequence_attention: mask must be bool [Lq, Lk] = [", q.size(2), ", ", k.size(2), "], got ",
                    mask.scalar_type(), " ", mask.sizes());
        TORCH_CHECK(mask.device() == q.device(), "short_sequence_attention: tensors on different devices");
    }
    RECORD_FUNCTION("kinora::short_sequence_attention", std::vector<c10::IValue>());  // named in profiles
    if (use_cuda_kernel(q)) {
        return detail::short_sequence_attention_cuda(q, k, v, mask);
    }
    return detail::short_sequence_attention_cpu(q, k, v, mask);
}

}  // namespace kernels
