// CPU references: written for clarity and exactness (float32 accumulation), the oracle of the CUDA tests. Where
// an op replaces a composite in the model code (layer_norm_modulate, rms_norm, depthwise_conv3x3_silu_gate), the
// reference IS that composite, op for op, so the CPU goldens are unchanged. These functions use device-generic ATen
// ops: the CUDA side also falls back to them for inputs its kernels do not cover, and runs them for CUDA tensors when
// the kernels are switched off (kernels::set_cuda_kernels_enabled, KINORA_DISABLE_CUDA_KERNELS).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops_impl.h"

namespace kernels::detail {

at::Tensor relu_linear_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    const auto out_dtype = v.scalar_type();
    at::Tensor qf = at::relu(q.to(at::kFloat));               // [B, H, N, D]
    at::Tensor kf = at::relu(k.to(at::kFloat));               // [B, H, N, D]
    at::Tensor vf = v.to(at::kFloat);                         // [B, H, N, Dv]
    at::Tensor kv = at::matmul(kf.transpose(-1, -2), vf);     // [B, H, D, Dv]
    at::Tensor num = at::matmul(qf, kv);                      // [B, H, N, Dv]
    at::Tensor ksum = kf.sum(-2, /*keepdim=*/true);           // [B, H, 1, D]
    at::Tensor den = at::matmul(qf, ksum.transpose(-1, -2));  // [B, H, N, 1]
    return (num / (den + eps)).to(out_dtype);
}

at::Tensor layer_norm_modulate_cpu(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
    // What SanaTransformerBlock computed before this op existed: layer_norm_no_affine(x) * (1 + scale) + shift.
    return at::layer_norm(x, {x.size(-1)}, /*weight=*/{}, /*bias=*/{}, eps) * (1 + scale) + shift;
}

at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
    // diffusers RMSNorm.forward, op for op.
    const auto input_dtype = x.scalar_type();
    at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);  // [..., 1] float32
    at::Tensor h = x * at::rsqrt(variance + eps);                              // float32 by type promotion
    if (!weight.defined()) {
        return h.to(input_dtype);
    }
    if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) {
        h = h.to(weight.scalar_type());
    }
    h = h * weight;
    if (bias.defined()) {
        h = h + bias;
    }
    return h;
}

at::Tensor depthwise_conv3x3_silu_gate_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    // GLUMBConv: conv_depth (3×3, padding 1, one group per channel), then value · SiLU(gate).
    at::Tensor h = at::conv2d(x, weight, bias, /*stride=*/{1, 1}, /*padding=*/{1, 1}, /*dilation=*/{1, 1},
                              /*groups=*/x.size(1));  // [B, 2C, H, W]
    auto halves = h.chunk(2, 1);                      // value, gate: [B, C, H, W] each
    return halves[0] * at::silu(halves[1]);
}

at::Tensor bias_silu_cpu(const at::Tensor& x, const at::Tensor& bias) {
    return at::silu(x + bias);
}

at::Tensor gated_residual_cpu(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) {
    return at::addcmul(x, gate, y);  // x + gate · y, one rounding
}

std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate_cpu(const at::Tensor& x, const at::Tensor& y,
                                                                    const at::Tensor& gate, const at::Tensor& shift,
                                                                    const at::Tensor& scale, double eps) {
    // The block seam as two ops: the residual add (gated: addcmul), then the modulated norm of its rounded result.
    const at::Tensor sum = gate.defined() ? gated_residual_cpu(x, gate, y) : x + y;
    return {layer_norm_modulate_cpu(sum, shift, scale, eps), sum};
}

at::Tensor with_y_head(const at::Tensor& y, const at::Tensor& y_head) {
    const int64_t head = y_head.size(0);
    const at::Tensor broadcast = y_head.expand({head, y.size(1), y.size(2)});
    return head == y.size(0) ? broadcast.contiguous() : at::cat({broadcast, y.narrow(0, head, y.size(0) - head)}, 0);
}

at::Tensor silu_depthwise_conv3x3_gate_nhwc_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    // GLUMBConv between its 1×1 convs, on the token layout: SiLU, conv_depth, value · SiLU(gate), each rounded to
    // the activation dtype as the unfused ops are. x [B, H, W, 2C] is seen as [B, 2C, H, W] (channels-last strides).
    at::Tensor h = at::silu(x).permute({0, 3, 1, 2});
    return depthwise_conv3x3_silu_gate_cpu(h, weight, bias).permute({0, 2, 3, 1}).contiguous();  // [B, H, W, C]
}

namespace {

bool is_half_type(at::ScalarType t) {
    return t == at::kHalf || t == at::kBFloat16;
}

// [C] or [N, C] viewed to broadcast over [N, C, *] of rank `dim`.
at::Tensor channel_view(const at::Tensor& t, int64_t dim) {
    std::vector<int64_t> shape(static_cast<size_t>(dim), 1);
    if (t.dim() == 1) {
        shape[1] = t.size(0);
    } else {
        shape[0] = t.size(0);
        shape[1] = t.size(1);
    }
    return t.view(shape);
}

}  // namespace

at::Tensor group_norm_cpu(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                          double eps, bool silu, const at::Tensor& channel_add, const at::Tensor& out) {
    // LVDM's GroupNorm32 under autocast: the norm (and the SiLU after it) in float32, one rounding at the end.
    // Contiguous first: ATen's group_norm on other layouts (a permuted video, channels-last frames) computes the
    // variance as E[x²] − E[x]² and loses it to cancellation when the mean is large against the spread (measured:
    // 83× relative error at mean / std = 2000, against 1.3e-4 for the same values contiguous).
    at::Tensor v = (is_half_type(x.scalar_type()) ? x.to(at::kFloat) : x).contiguous();
    if (channel_add.defined()) {
        v = v + channel_view(channel_add, x.dim()).to(v.scalar_type());
    }
    auto as_v = [&](const at::Tensor& t) { return t.defined() ? t.to(v.scalar_type()) : t; };
    at::Tensor y = at::group_norm(v, groups, as_v(weight), as_v(bias), eps);
    if (silu) {
        y = at::silu(y);
    }
    y = y.to(x.scalar_type());
    if (out.defined()) {
        out.copy_(y);
        return out;
    }
    return y.contiguous(x.suggest_memory_format());
}

std::tuple<at::Tensor, at::Tensor> add_layer_norm_cpu(const at::Tensor& x, const at::Tensor& residual,
                                                      const at::Tensor& weight, const at::Tensor& bias, double eps) {
    const at::Tensor s = residual.defined() ? x + residual : x;
    const at::Tensor v = is_half_type(x.scalar_type()) ? s.to(at::kFloat) : s;
    auto as_v = [&](const at::Tensor& t) { return t.defined() ? t.to(v.scalar_type()) : t; };
    at::Tensor y = at::layer_norm(v, {x.size(-1)}, as_v(weight), as_v(bias), eps).to(x.scalar_type());
    return {y, s};
}

at::Tensor geglu_cpu(const at::Tensor& h) {
    auto halves = h.chunk(2, -1);  // value, gate
    return halves[0] * at::gelu(halves[1]);
}

at::Tensor add_channel_bias_cpu(const at::Tensor& y, const at::Tensor& bias, const at::Tensor& residual) {
    at::Tensor out = y + channel_view(bias, y.dim());
    return residual.defined() ? out + residual : out;
}

at::Tensor short_sequence_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask) {
    // float32 throughout (half inputs widened), one rounding at the end: for float32 inputs exactly what LibTorch
    // 1.13's scaled_dot_product_attention computes through Kinora's shim (the scores, masked with -inf, the softmax,
    // the product); for half inputs no coarser than the fused kernels, which keep the scores in float32 (rounding the
    // scores to half first would not be).
    auto widen = [](const at::Tensor& t) { return t.scalar_type() == at::kDouble ? t : t.to(at::kFloat); };
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    at::Tensor scores = at::matmul(widen(q), widen(k).transpose(-2, -1)) * scale;  // [B, H, Lq, Lk]
    if (mask.defined()) {
        scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
    }
    return at::matmul(at::softmax(scores, -1), widen(v)).to(q.scalar_type());
}

namespace {

// float → e4m3fn bit pattern: round to nearest even, saturate at ±448 (the largest finite value), NaN → 0x7f.
uint8_t float_to_e4m3(float f) {
    if (std::isnan(f)) {
        return 0x7f;
    }
    const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
    const float a = std::fabs(f);
    if (a >= 448.0f) {
        return sign | 0x7e;  // 1.75 · 2^8
    }
    if (a < 0.015625f) {  // below 2^-6: subnormals m · 2^-9 (m = 8 is the smallest normal, code 0x08)
        return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
    }
    int e2 = 0;
    const float fraction = std::frexp(a, &e2);  // a = fraction · 2^e2, fraction in [0.5, 1)
    int exponent = e2 - 1;                      // a = (2 · fraction) · 2^exponent, 2 · fraction in [1, 2)
    int mantissa = static_cast<int>(std::nearbyint((2.0f * fraction - 1.0f) * 8.0f));  // exact, ties to even
    if (mantissa == 8) {
        mantissa = 0;
        ++exponent;
    }
    return sign | static_cast<uint8_t>(((exponent + 7) << 3) | mantissa);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3_cpu(const at::Tensor& x) {
    if (!x.device().is_cpu()) {
        // Reached for CUDA tensors only when our kernels are off or absent: the same arithmetic on the host.
        auto [q, scale] = quantize_rows_e4m3_cpu(x.cpu());
        return {q.to(x.device()), scale.to(x.device())};
    }
    const at::Tensor xf = x.to(at::kFloat).contiguous();
    const int64_t rows = xf.size(0);
    const int64_t cols = xf.size(1);
    at::Tensor q = at::empty({rows, cols}, x.options().dtype(at::kByte));
    at::Tensor scale = at::empty({rows}, x.options().dtype(at::kFloat));
    const float* in = xf.data_ptr<float>();
    uint8_t* out = q.data_ptr<uint8_t>();
    float* s = scale.data_ptr<float>();
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* row = in + r * cols;
            float amax = 0.0f;
            for (int64_t c = 0; c < cols; ++c) {
                amax = std::fmax(amax, std::fabs(row[c]));
            }
            amax = std::fmax(amax, 1e-12f);
            const float inv = 448.0f / amax;
            s[r] = amax / 448.0f;
            for (int64_t c = 0; c < cols; ++c) {
                out[r * cols + c] = float_to_e4m3(row[c] * inv);
            }
        }
    });
    return {q, scale};
}

}  // namespace kernels::detail
