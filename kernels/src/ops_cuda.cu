// The CUDA side of kernels/ops.h: at::Tensor glue around the torch-free kernels in cuda/*.cu (cuda/launch.h).
// ops.cpp has checked shapes and devices; here we pick the layout, allocate outputs and float32 workspaces on the
// current stream, and send what the kernels do not cover (other dtypes, mixed dtypes, over-wide heads or rows, grids
// past CUDA's limits) to the device-generic ATen references in ops_cpu.cpp.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

#include "cuda/launch.h"
#include "kernels/ops.h"
#include "ops_impl.h"

namespace kernels::detail {
namespace {

std::optional<cuda::DType> kernel_dtype(at::ScalarType type) {
    switch (type) {
        case at::kFloat:
            return cuda::DType::kFloat32;
        case at::kHalf:
            return cuda::DType::kFloat16;
        case at::kBFloat16:
            return cuda::DType::kBFloat16;
        default:
            return std::nullopt;
    }
}

cuda::Strides4 strides_of(const at::Tensor& t) {
    return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// An uninitialised tensor of `sizes` whose memory order follows `like`'s strides (dense), e.g. [B, H, N, D] stored
// as [B, N, H, D] when `like` is a head-split view of a [B, N, H·D] projection.
at::Tensor empty_in_layout_of(const at::Tensor& like, at::IntArrayRef sizes, const at::TensorOptions& options) {
    std::vector<int64_t> order(static_cast<size_t>(like.dim()));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return like.stride(a) > like.stride(b); });
    std::vector<int64_t> permuted_sizes;
    for (int64_t dim : order) {
        permuted_sizes.push_back(sizes[static_cast<size_t>(dim)]);
    }
    std::vector<int64_t> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
        inverse[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
    }
    return at::empty(permuted_sizes, options).permute(inverse);
}

}  // namespace

bool cuda_built() noexcept {
    return true;
}

at::Tensor relu_linear_attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    const auto dtype = kernel_dtype(q.scalar_type());
    const bool same_dtype = q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type();
    const int64_t head_dim = std::max(q.size(3), v.size(3));
    if (!dtype || !same_dtype || head_dim > cuda::kLinearAttentionMaxHead || q.size(3) == 0 || v.size(3) == 0 ||
        q.numel() == 0) {
        return relu_linear_attention_cpu(q, k, v, eps);  // device-generic ATen ops
    }
    const int64_t batch = q.size(0);
    const int64_t heads = q.size(1);
    const int64_t tokens = q.size(2);
    const bool token_contiguous = !(q.stride(3) == 1 || q.stride(2) != 1);
    c10::cuda::CUDAGuard guard(q.device());
    const int num_sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    at::Tensor out = empty_in_layout_of(v, {batch, heads, tokens, v.size(3)}, v.options());
    const bool vectorized = cuda::relu_linear_attention_vectorizable(
        *dtype, q.data_ptr(), strides_of(q), k.data_ptr(), strides_of(k), v.data_ptr(), strides_of(v), out.data_ptr(),
        strides_of(out), static_cast<int>(q.size(3)), static_cast<int>(v.size(3)));
    const bool mma = q.scalar_type() == at::kBFloat16 && at::cuda::getCurrentDeviceProperties()->major >= 8;
    const cuda::LinearAttentionPlan plan = cuda::plan_relu_linear_attention(
        batch * heads, tokens, static_cast<int>(head_dim), token_contiguous, num_sms, vectorized, mma);
    if (plan.output_blocks_y > cuda::kMaxGridY || plan.chunks > cuda::kMaxGridY || batch * heads > cuda::kMaxGridX) {
        return relu_linear_attention_cpu(q, k, v, eps);
    }
    const auto f32 = q.options().dtype(at::kFloat);
    at::Tensor partial = at::empty({plan.partial_floats}, f32);
    at::Tensor kv = plan.kv_floats > 0 ? at::empty({plan.kv_floats}, f32) : at::Tensor();
    C10_CUDA_CHECK(cuda::relu_linear_attention(
        *dtype, q.data_ptr(), strides_of(q), k.data_ptr(), strides_of(k), v.data_ptr(), strides_of(v), batch, heads,
        tokens, static_cast<int>(q.size(3)), static_cast<int>(v.size(3)), static_cast<float>(eps), plan,
        partial.data_ptr<float>(), kv.defined() ? kv.data_ptr<float>() : nullptr, out.data_ptr(), strides_of(out),
        at::cuda::getCurrentCUDAStream()));
    return out;
}

namespace {

// The modulated LayerNorm by the warp-per-row kernel when everything is of x's dtype with rows of the modulation
// contiguous (Sana: chunks of its [B, 6, D] tables; the gate may come from another table) and x / y dense: reads
// shift, scale and gate where they lie.
// With y: s = x + [gate ·] y into sum; with y_head ([S, 1, D]) the first S samples' y is its row (broadcast). False
// (nothing ran) when the kernel does not take these tensors.
bool layer_norm_modulate_rows(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate, const at::Tensor& shift,
                              const at::Tensor& scale, double eps, const at::Tensor& out, const at::Tensor& sum,
                              const at::Tensor& y_head = {}) {
    const auto dtype = kernel_dtype(x.scalar_type());
    const int64_t batch = shift.size(0);
    bool same = dtype.has_value() && x.is_contiguous() && out.scalar_type() == x.scalar_type();
    for (const at::Tensor* t : {&shift, &scale, &gate, &y, &y_head}) {
        same = same && (!t->defined() || t->scalar_type() == x.scalar_type());
    }
    same = same && (!y_head.defined() || y_head.is_contiguous());
    same = same && scale.size(0) == batch && scale.stride(2) == 1 && (batch == 1 || scale.stride(0) == shift.stride(0));
    same = same && (!gate.defined() || gate.stride(2) == 1);
    if (!same || shift.stride(2) != 1 || (y.defined() && !y.is_contiguous())) {
        return false;
    }
    const int64_t rows = x.size(0) * x.size(1);
    const int64_t dim = x.size(2);
    const int64_t mod_stride = batch > 1 ? shift.stride(0) : 0;
    const int64_t gate_stride = gate.defined() && gate.size(0) > 1 ? gate.stride(0) : 0;
    const void* y_ptr = y.defined() ? y.data_ptr() : nullptr;
    const void* gate_ptr = gate.defined() ? gate.data_ptr() : nullptr;
    void* sum_ptr = y.defined() ? sum.data_ptr() : nullptr;
    const void* head_ptr = y_head.defined() ? y_head.data_ptr() : nullptr;
    const int64_t head_samples = y_head.defined() ? y_head.size(0) : 0;
    if (!cuda::layer_norm_modulate_rows_supported(*dtype, rows, dim, x.data_ptr(), shift.data_ptr(), scale.data_ptr(),
                                                  mod_stride, out.data_ptr(), y_ptr, gate_ptr, gate_stride, sum_ptr,
                                                  head_ptr, head_samples)) {
        return false;
    }
    c10::cuda::CUDAGuard guard(x.device());
    C10_CUDA_CHECK(cuda::layer_norm_modulate_rows(*dtype, x.data_ptr(), shift.data_ptr(), scale.data_ptr(), rows, dim,
                                                  x.size(1), mod_stride, static_cast<float>(eps), out.data_ptr(),
                                                  at::cuda::getCurrentCUDAStream(), y_ptr, gate_ptr, gate_stride,
                                                  sum_ptr, head_ptr, head_samples));
    return true;
}

}  // namespace

at::Tensor layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
    const at::ScalarType out_dtype = at::promote_types(x.scalar_type(), at::result_type(shift, scale));
    const auto in_type = kernel_dtype(x.scalar_type());
    const auto out_type = kernel_dtype(out_dtype);
    const int64_t dim = x.size(2);
    const int64_t rows = x.size(0) * x.size(1);
    if (!in_type || !out_type || (out_dtype != x.scalar_type() && out_dtype != at::kFloat) || dim == 0 || rows == 0 ||
        dim > cuda::kMaxNormRow || rows > cuda::kMaxGridX) {
        return layer_norm_modulate_cpu(x, shift, scale, eps);  // device-generic ATen ops
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    if (shift.size(0) == scale.size(0) && layer_norm_modulate_rows(xc, {}, {}, shift, scale, eps, out, {})) {
        return out;
    }
    // [Bm, D] float32 each, Bm = B when either is per batch (the other is then broadcast), else 1.
    const int64_t mod_rows = std::max(shift.size(0), scale.size(0));
    const at::Tensor shift_f = shift.to(at::kFloat).expand({mod_rows, 1, dim}).reshape({mod_rows, dim}).contiguous();
    const at::Tensor scale_f = scale.to(at::kFloat).expand({mod_rows, 1, dim}).reshape({mod_rows, dim}).contiguous();
    C10_CUDA_CHECK(cuda::layer_norm_modulate(
        *in_type, *out_type, xc.data_ptr(), shift_f.data_ptr<float>(), scale_f.data_ptr<float>(), rows, dim, x.size(1),
        mod_rows > 1, static_cast<float>(eps), out.data_ptr(), at::cuda::getCurrentCUDAStream()));
    return out;
}

std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& y,
                                                                     const at::Tensor& gate, const at::Tensor& shift,
                                                                     const at::Tensor& scale, double eps,
                                                                     const at::Tensor& y_head) {
    // Dense rows, so that the sum (the block's residual stream) stays dense whichever path runs.
    const at::Tensor xc = x.contiguous();
    at::Tensor yc = y.contiguous();
    if (xc.numel() > 0 && shift.size(0) == scale.size(0)) {
        at::Tensor out = at::empty(xc.sizes(), xc.options());
        at::Tensor sum = at::empty(xc.sizes(), xc.options());
        if (layer_norm_modulate_rows(xc, yc, gate, shift, scale, eps, out, sum, y_head)) {
            return {out, sum};
        }
    }
    if (y_head.defined()) yc = with_y_head(yc, y_head);
    // Other dtypes, layouts or broadcasts: the two ops one after the other (each on its own kernel where it has one).
    const at::Tensor sum = gate.defined() ? gated_residual_cuda(xc, gate, yc) : xc + yc;
    return {layer_norm_modulate_cuda(sum, shift, scale, eps), sum};
}

at::Tensor rms_norm_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                         std::optional<at::ScalarType> requested, const at::Tensor& residual) {
    at::ScalarType out_dtype = x.scalar_type();
    if (weight.defined()) {
        const bool low = weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16;
        out_dtype = low ? weight.scalar_type() : at::promote_types(at::kFloat, weight.scalar_type());
        if (bias.defined()) {
            out_dtype = at::promote_types(out_dtype, bias.scalar_type());
        }
    }
    if (requested && *requested != out_dtype) {
        // A float32 result wanted in x's dtype (Gemma-2): the kernel rounds to it directly.
        if (out_dtype == at::kFloat && *requested == x.scalar_type()) {
            out_dtype = *requested;
        } else {
            const at::Tensor out = rms_norm_cuda(x, weight, bias, eps, std::nullopt, {}).to(*requested);
            return residual.defined() ? out + residual : out;
        }
    }
    const auto in_type = kernel_dtype(x.scalar_type());
    const auto out_type = kernel_dtype(out_dtype);
    const int64_t dim = x.size(-1);
    const int64_t rows = dim > 0 ? x.numel() / dim : 0;
    if (!in_type || !out_type || (out_dtype != x.scalar_type() && out_dtype != at::kFloat) || rows == 0 ||
        dim > cuda::kMaxNormRow || rows > cuda::kMaxGridX) {
        at::Tensor out = rms_norm_cpu(x, weight, bias, eps);  // e.g. float32 x with a bfloat16 weight
        if (requested) out = out.to(*requested);
        return residual.defined() ? out + residual : out;
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    // The residual joins the kernel's pass when it is of the result's dtype (the kernel's warp-per-row form takes
    // it); otherwise it is a separate add after the kernel.
    at::Tensor rc;
    if (residual.defined() && residual.scalar_type() == out_dtype && out_dtype == x.scalar_type()) {
        rc = residual.contiguous();
    }
    at::Tensor out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    const at::Tensor weight_f = weight.defined() ? weight.to(at::kFloat).contiguous() : at::Tensor();
    const at::Tensor bias_f = bias.defined() ? bias.to(at::kFloat).contiguous() : at::Tensor();
    const auto launch = [&](const void* fused_residual) {
        return cuda::rms_norm(*in_type, *out_type, xc.data_ptr(),
                              weight_f.defined() ? weight_f.data_ptr<float>() : nullptr,
                              bias_f.defined() ? bias_f.data_ptr<float>() : nullptr, rows, dim,
                              static_cast<float>(eps), fused_residual, out.data_ptr(),
                              at::cuda::getCurrentCUDAStream());
    };
    cudaError_t status = launch(rc.defined() ? rc.data_ptr() : nullptr);
    if (status == cudaErrorNotSupported) {  // a residual the kernel's form for this row cannot take
        (void)cudaGetLastError();
        rc = at::Tensor();
        status = launch(nullptr);
    }
    C10_CUDA_CHECK(status);
    return residual.defined() && !rc.defined() ? out + residual : out;
}

at::Tensor bias_silu_cuda(const at::Tensor& x, const at::Tensor& bias) {
    const auto dtype = kernel_dtype(x.scalar_type());
    if (!dtype || !x.is_contiguous() || x.numel() == 0) {
        return bias_silu_cpu(x, bias);  // device-generic ATen ops
    }
    const int64_t channels = x.size(-1);
    const int64_t rows = x.numel() / channels;
    c10::cuda::CUDAGuard guard(x.device());
    at::Tensor out = at::empty_like(x);
    const at::Tensor bias_f = bias.to(at::kFloat).contiguous();
    if (!cuda::bias_silu_supported(*dtype, rows, channels, x.data_ptr(), out.data_ptr())) {
        return bias_silu_cpu(x, bias);
    }
    C10_CUDA_CHECK(cuda::bias_silu(*dtype, x.data_ptr(), bias_f.data_ptr<float>(), rows, channels, out.data_ptr(),
                                   at::cuda::getCurrentDeviceProperties()->multiProcessorCount,
                                   at::cuda::getCurrentCUDAStream()));
    return out;
}

at::Tensor depthwise_conv3x3_silu_gate_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    const auto dtype = kernel_dtype(x.scalar_type());
    if (!dtype || x.numel() == 0) {
        return depthwise_conv3x3_silu_gate_cpu(x, weight, bias);  // device-generic ATen ops (e.g. float64)
    }
    const int64_t batch = x.size(0);
    const int64_t channels = x.size(1) / 2;
    const int64_t height = x.size(2);
    const int64_t width = x.size(3);
    if ((batch * channels * height * width + 255) / 256 > cuda::kMaxGridX) {
        return depthwise_conv3x3_silu_gate_cpu(x, weight, bias);
    }
    // NCHW only (the DC-AE without channels-last); channels-last input stays with ATen's cuDNN ops and its layout
    // (channels-last callers use silu_depthwise_conv3x3_gate_nhwc, the token-layout kernel).
    if (!x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
        return depthwise_conv3x3_silu_gate_cpu(x, weight, bias);
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty({batch, channels, height, width}, x.options());
    const at::Tensor w = weight.to(at::kFloat).reshape({2 * channels, 9}).contiguous();  // [2C, 9]
    const at::Tensor bias_f = bias.defined() ? bias.to(at::kFloat).contiguous() : at::Tensor();
    C10_CUDA_CHECK(cuda::depthwise_conv3x3_silu_gate(*dtype, xc.data_ptr(), w.data_ptr<float>(),
                                                     bias_f.defined() ? bias_f.data_ptr<float>() : nullptr, batch,
                                                     channels, height, width, out.data_ptr(),
                                                     at::cuda::getCurrentCUDAStream()));
    return out;
}

at::Tensor gated_residual_cuda(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) {
    const auto dtype = kernel_dtype(x.scalar_type());
    if (!dtype || gate.scalar_type() != x.scalar_type() || y.scalar_type() != x.scalar_type() || !x.is_contiguous() ||
        !y.is_contiguous() || gate.stride(2) != 1 || x.numel() == 0) {
        return gated_residual_cpu(x, gate, y);  // at::addcmul
    }
    c10::cuda::CUDAGuard guard(x.device());
    at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
    const int64_t rows = x.size(0) * x.size(1);
    const int64_t dim = x.size(2);
    const int64_t gate_stride = gate.size(0) > 1 ? gate.stride(0) : 0;
    if (!cuda::gated_residual_supported(*dtype, rows, dim, x.data_ptr(), gate.data_ptr(), gate_stride, y.data_ptr(),
                                        out.data_ptr())) {
        return gated_residual_cpu(x, gate, y);
    }
    const int num_sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    C10_CUDA_CHECK(cuda::gated_residual(*dtype, x.data_ptr(), gate.data_ptr(), y.data_ptr(), rows, dim, x.size(1),
                                        gate_stride, out.data_ptr(), num_sms, at::cuda::getCurrentCUDAStream()));
    return out;
}

at::Tensor silu_depthwise_conv3x3_gate_nhwc_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                                 const at::Tensor& taps) {
    const auto dtype = kernel_dtype(x.scalar_type());
    const int64_t batch = x.size(0);
    const int64_t height = x.size(1);
    const int64_t width = x.size(2);
    const int64_t channels = x.size(3) / 2;
    if (!dtype || x.numel() == 0) {
        return silu_depthwise_conv3x3_gate_nhwc_cpu(x, weight, bias);  // device-generic ATen ops (e.g. float64)
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty({batch, height, width, channels}, x.options());
    if (!cuda::silu_depthwise_conv3x3_gate_tokens_supported(*dtype, batch, channels, height, width, xc.data_ptr(),
                                                            out.data_ptr())) {
        return silu_depthwise_conv3x3_gate_nhwc_cpu(x, weight, bias);  // odd widths or alignment
    }
    // [9, 2C] tap-major float32 weights (so that a warp's lanes read adjacent channels of one tap), then the bias.
    const at::Tensor w_t = taps.defined() ? taps : depthwise_taps(weight, bias);
    const float* w_ptr = w_t.data_ptr<float>();
    C10_CUDA_CHECK(cuda::silu_depthwise_conv3x3_gate_tokens(*dtype, xc.data_ptr(), w_ptr, w_ptr + 9 * 2 * channels,
                                                            batch, channels, height, width, out.data_ptr(),
                                                            at::cuda::getCurrentCUDAStream()));
    return out;
}

std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3_cuda(const at::Tensor& x) {
    const auto dtype = kernel_dtype(x.scalar_type());
    if (!dtype || x.numel() == 0 || x.size(0) > cuda::kMaxGridX) {
        return quantize_rows_e4m3_cpu(x);  // float64, empty or past the grid: the reference
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.stride(1) == 1 ? x : x.contiguous();
    at::Tensor q = at::empty({x.size(0), x.size(1)}, x.options().dtype(at::kByte));
    at::Tensor scale = at::empty({x.size(0)}, x.options().dtype(at::kFloat));
    C10_CUDA_CHECK(cuda::quantize_rows_e4m3(*dtype, xc.data_ptr(), xc.size(0), xc.size(1), xc.stride(0), q.data_ptr(),
                                           scale.data_ptr<float>(), at::cuda::getCurrentCUDAStream()));
    return {q, scale};
}

namespace {

// The position dims (2, 3, ...) of x and out folded into at most two strided dims [T, R], the same folding for both
// (size-1 dims dropped; a dim joins the one before it when it does so in both tensors). nullopt: more than two remain.
struct FoldedPositions {
    int64_t outer = 1;
    int64_t inner = 1;
    cuda::GroupNormLayout x{0, 0, 0};
    cuda::GroupNormLayout out{0, 0, 0};
};

std::optional<FoldedPositions> fold_positions(const at::Tensor& x, const at::Tensor& out) {
    std::vector<int64_t> sizes, xs, os;
    for (int64_t d = 2; d < x.dim(); ++d) {
        const int64_t size = x.size(d);
        if (size == 1) continue;
        if (!sizes.empty() && xs.back() == x.stride(d) * size && os.back() == out.stride(d) * size) {
            sizes.back() *= size;
            xs.back() = x.stride(d);
            os.back() = out.stride(d);
        } else {
            sizes.push_back(size);
            xs.push_back(x.stride(d));
            os.push_back(out.stride(d));
        }
    }
    if (sizes.size() > 2) return std::nullopt;
    FoldedPositions f;
    f.x.n = x.size(0) > 1 ? x.stride(0) : 0;
    f.out.n = x.size(0) > 1 ? out.stride(0) : 0;
    if (sizes.size() == 2) {
        f.outer = sizes[0];
        f.inner = sizes[1];
        f.x.t = xs[0];
        f.x.r = xs[1];
        f.out.t = os[0];
        f.out.r = os[1];
    } else if (sizes.size() == 1) {
        f.inner = sizes[0];
        f.x.r = xs[0];
        f.out.r = os[0];
    }
    return f;
}

// The kernels' type of a norm's weight and bias (either may be undefined; both of one type), else nullopt.
std::optional<cuda::DType> param_dtype(const at::Tensor& weight, const at::Tensor& bias, cuda::DType fallback) {
    if (weight.defined() && bias.defined() && weight.scalar_type() != bias.scalar_type()) return std::nullopt;
    const at::Tensor& t = weight.defined() ? weight : bias;
    if (!t.defined()) return fallback;
    if (!t.is_contiguous()) return std::nullopt;
    return kernel_dtype(t.scalar_type());
}

const void* data_or_null(const at::Tensor& t) {
    return t.defined() ? t.data_ptr() : nullptr;
}

}  // namespace

at::Tensor group_norm_cuda(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, bool silu, const at::Tensor& channel_add, const at::Tensor& out_given) {
    const auto dtype = kernel_dtype(x.scalar_type());
    const auto ptype = dtype ? param_dtype(weight, bias, *dtype) : std::nullopt;
    const int64_t channels = x.size(1);
    auto channels_innermost = [channels](const at::Tensor& t) { return channels == 1 || t.stride(1) == 1; };
    if (!ptype || x.numel() == 0 || !channels_innermost(x)) {
        return group_norm_cpu(x, groups, weight, bias, eps, silu, channel_add, out_given);  // ATen ops
    }
    at::Tensor out = out_given.defined() ? out_given : at::empty_like(x);  // a dense x's strides are kept
    const auto folded = fold_positions(x, out);
    if (!channels_innermost(out) || !folded) {
        return group_norm_cpu(x, groups, weight, bias, eps, silu, channel_add, out_given);
    }
    c10::cuda::CUDAGuard guard(x.device());
    const int num_sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    const int64_t samples = x.size(0);
    const bool vectorized =
        cuda::group_norm_vectorizable(*dtype, channels, x.data_ptr(), folded->x, out.data_ptr(), folded->out);
    const cuda::GroupNormPlan plan =
        cuda::plan_group_norm(*dtype, samples, folded->outer * folded->inner, channels, num_sms, vectorized);
    if (!plan.supported || samples * groups > cuda::kMaxGridX) {
        return group_norm_cpu(x, groups, weight, bias, eps, silu, channel_add, out_given);
    }
    at::Tensor workspace = at::empty({plan.partial_floats + plan.param_floats}, x.options().dtype(at::kFloat));
    const at::Tensor add = channel_add.defined() ? channel_add.contiguous() : at::Tensor();
    float* partial = workspace.data_ptr<float>();
    C10_CUDA_CHECK(cuda::group_norm(*dtype, x.data_ptr(), folded->x, samples, folded->outer, folded->inner, channels,
                                    groups, *ptype, data_or_null(weight), data_or_null(bias),
                                    add.defined() ? add.data_ptr<float>() : nullptr, static_cast<float>(eps), silu,
                                    plan, partial, partial + plan.partial_floats, out.data_ptr(), folded->out, num_sms,
                                    at::cuda::getCurrentCUDAStream()));
    return out;
}

std::tuple<at::Tensor, at::Tensor> add_layer_norm_cuda(const at::Tensor& x, const at::Tensor& residual,
                                                       const at::Tensor& weight, const at::Tensor& bias, double eps) {
    const auto dtype = kernel_dtype(x.scalar_type());
    const auto ptype = dtype ? param_dtype(weight, bias, *dtype) : std::nullopt;
    if (!ptype || x.numel() == 0 || !x.is_contiguous() || (residual.defined() && !residual.is_contiguous())) {
        return add_layer_norm_cpu(x, residual, weight, bias, eps);  // ATen ops
    }
    const int64_t dim = x.size(-1);
    const int64_t rows = x.numel() / dim;
    at::Tensor out = at::empty(x.sizes(), x.options());
    at::Tensor sum = residual.defined() ? at::empty(x.sizes(), x.options()) : x;
    if (!cuda::layer_norm_rows_supported(*dtype, rows, dim, x.data_ptr(), data_or_null(residual),
                                         residual.defined() ? sum.data_ptr() : nullptr, out.data_ptr())) {
        return add_layer_norm_cpu(x, residual, weight, bias, eps);
    }
    c10::cuda::CUDAGuard guard(x.device());
    C10_CUDA_CHECK(cuda::layer_norm_rows(*dtype, x.data_ptr(), data_or_null(residual), *ptype, data_or_null(weight),
                                         data_or_null(bias), rows, dim, static_cast<float>(eps),
                                         residual.defined() ? sum.data_ptr() : nullptr, out.data_ptr(),
                                         at::cuda::getCurrentCUDAStream()));
    return {out, sum};
}

at::Tensor geglu_cuda(const at::Tensor& h) {
    const auto dtype = kernel_dtype(h.scalar_type());
    if (!dtype || h.numel() == 0 || !h.is_contiguous()) {
        return geglu_cpu(h);  // ATen ops
    }
    const int64_t inner = h.size(-1) / 2;
    const int64_t rows = h.numel() / h.size(-1);
    std::vector<int64_t> sizes = h.sizes().vec();
    sizes.back() = inner;
    at::Tensor out = at::empty(sizes, h.options());
    if (!cuda::geglu_supported(*dtype, rows, inner, h.data_ptr(), out.data_ptr())) {
        return geglu_cpu(h);
    }
    c10::cuda::CUDAGuard guard(h.device());
    C10_CUDA_CHECK(cuda::geglu(*dtype, h.data_ptr(), rows, inner, out.data_ptr(),
                               at::cuda::getCurrentDeviceProperties()->multiProcessorCount,
                               at::cuda::getCurrentCUDAStream()));
    return out;
}

at::Tensor add_channel_bias_cuda(const at::Tensor& y, const at::Tensor& bias, const at::Tensor& residual) {
    const auto dtype = kernel_dtype(y.scalar_type());
    const int64_t channels = y.size(1);
    const bool rows_of_channels = y.is_non_overlapping_and_dense() && (channels == 1 || y.stride(1) == 1);
    if (!dtype || y.numel() == 0 || !rows_of_channels ||
        (residual.defined() && (residual.scalar_type() != y.scalar_type() || residual.strides() != y.strides()))) {
        return add_channel_bias_cpu(y, bias, residual);  // ATen ops
    }
    at::Tensor out = at::empty_like(y);  // y's strides (dense)
    const int64_t rows = y.numel() / channels;
    if (out.strides() != y.strides() ||
        !cuda::channel_bias_supported(*dtype, rows, channels, y.data_ptr(), data_or_null(residual), out.data_ptr())) {
        return add_channel_bias_cpu(y, bias, residual);
    }
    c10::cuda::CUDAGuard guard(y.device());
    const at::Tensor bias_f = bias.to(at::kFloat).contiguous();
    C10_CUDA_CHECK(cuda::channel_bias(*dtype, y.data_ptr(), bias_f.data_ptr<float>(), data_or_null(residual), rows,
                                      channels, out.data_ptr(),
                                      at::cuda::getCurrentDeviceProperties()->multiProcessorCount,
                                      at::cuda::getCurrentCUDAStream()));
    return out;
}

static_assert(cuda::kShortAttentionMaxLength == kShortSequenceMaxLength, "one limit for the op and its kernel");

at::Tensor short_sequence_attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                         const at::Tensor& mask) {
    const auto dtype = kernel_dtype(q.scalar_type());
    const int64_t batch = q.size(0), heads = q.size(1), lq = q.size(2), lk = k.size(2), d = q.size(3);
    if (!dtype || q.numel() == 0 || k.numel() == 0 || lq > cuda::kShortAttentionMaxLength ||
        lk > cuda::kShortAttentionMaxLength) {
        return short_sequence_attention_cpu(q, k, v, mask);  // ATen ops
    }
    at::Tensor out = at::empty({batch, lq, heads, d}, q.options()).transpose(1, 2);  // [B, H, Lq, D], heads inner
    if (!cuda::short_attention_supported(*dtype, static_cast<int>(lq), static_cast<int>(lk), static_cast<int>(d),
                                         q.data_ptr(), strides_of(q), k.data_ptr(), strides_of(k), v.data_ptr(),
                                         strides_of(v), out.data_ptr(), strides_of(out))) {
        return short_sequence_attention_cpu(q, k, v, mask);
    }
    c10::cuda::CUDAGuard guard(q.device());
    const at::Tensor mask_bytes = mask.defined() ? mask.to(at::kByte).contiguous() : at::Tensor();
    C10_CUDA_CHECK(cuda::short_attention(
        *dtype, q.data_ptr(), strides_of(q), k.data_ptr(), strides_of(k), v.data_ptr(), strides_of(v), batch, heads,
        static_cast<int>(lq), static_cast<int>(lk), static_cast<int>(d),
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))),
        mask_bytes.defined() ? mask_bytes.data_ptr<uint8_t>() : nullptr, out.data_ptr(), strides_of(out),
        at::cuda::getCurrentCUDAStream()));
    return out;
}

}  // namespace kernels::detail
