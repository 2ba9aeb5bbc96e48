// Row normalisations on CUDA: Sana's modulated LayerNorm (kernels::layer_norm_modulate) and diffusers' RMSNorm
// (kernels::rms_norm). One block per row of D values: the row is read once into shared memory as float32, the
// statistics are block sums in float32, and each output is rounded once.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "../ops_impl.h"
#include "common.cuh"

namespace kernels::cuda {
namespace {

// Rows up to this many values are cached in shared memory (48 KB with the reduction scratch); longer rows use ATen.
constexpr int64_t kMaxRow = 12 * 1024 - 64;

int threads_for(int64_t dim) {
    if (dim >= 2048) return 512;
    if (dim >= 512) return 256;
    return 128;
}

// out[r, i] = (x[r, i] - mean_r) · rstd_r · (1 + scale[b, i]) + shift[b, i], b = r / rows_per_batch (0 when the
// modulation has one row). shift, scale: float32 [Bm, D].
template <typename scalar_t, typename out_t>
__global__ void layer_norm_modulate_kernel(const scalar_t* __restrict__ x, const float* __restrict__ shift,
                                           const float* __restrict__ scale, int64_t dim, int64_t rows_per_batch,
                                           bool per_batch, float eps, out_t* __restrict__ out) {
    extern __shared__ float smem[];
    float* row = smem;           // [dim]
    float* scratch = smem + dim;  // [32]
    const int64_t r = blockIdx.x;
    const scalar_t* x_r = x + r * dim;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        const float value = to_float(x_r[i]);
        row[i] = value;
        sum += value;
    }
    const float mean = block_sum(sum, scratch) / static_cast<float>(dim);
    float squares = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        const float centred = row[i] - mean;
        squares = fmaf(centred, centred, squares);
    }
    const float variance = block_sum(squares, scratch) / static_cast<float>(dim);
    const float rstd = rsqrtf(variance + eps);
    const int64_t m = per_batch ? (r / rows_per_batch) * dim : 0;
    out_t* out_r = out + r * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        const float normed = (row[i] - mean) * rstd;
        out_r[i] = from_float<out_t>(fmaf(normed, 1.0f + scale[m + i], shift[m + i]));
    }
}

// out[r, i] = x[r, i] · rsqrt(mean_i(x[r, i]²) + eps) [· weight[i] [+ bias[i]]]; weight, bias float32 or null.
template <typename scalar_t, typename out_t>
__global__ void rms_norm_kernel(const scalar_t* __restrict__ x, const float* __restrict__ weight,
                                const float* __restrict__ bias, int64_t dim, float eps, out_t* __restrict__ out) {
    extern __shared__ float smem[];
    float* row = smem;
    float* scratch = smem + dim;
    const int64_t r = blockIdx.x;
    const scalar_t* x_r = x + r * dim;
    float squares = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        const float value = to_float(x_r[i]);
        row[i] = value;
        squares = fmaf(value, value, squares);
    }
    const float rstd = rsqrtf(block_sum(squares, scratch) / static_cast<float>(dim) + eps);
    out_t* out_r = out + r * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float value = row[i] * rstd;
        if (weight != nullptr) {
            value *= weight[i];
            if (bias != nullptr) {
                value += bias[i];
            }
        }
        out_r[i] = from_float<out_t>(value);
    }
}

// Runs fn(out_tag) with out_t = scalar_t when out_dtype is x's dtype, float when it is float32; false otherwise.
template <typename scalar_t, typename Fn>
bool dispatch_out_type(at::ScalarType out_dtype, Fn&& fn) {
    if (out_dtype == c10::CppTypeToScalarType<scalar_t>::value) {
        fn(scalar_t{});
        return true;
    }
    if (out_dtype == at::kFloat) {
        fn(float{});
        return true;
    }
    return false;
}

}  // namespace
}  // namespace kernels::cuda

namespace kernels::detail {

at::Tensor layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
    const at::ScalarType out_dtype = at::promote_types(x.scalar_type(), at::result_type(shift, scale));
    const int64_t dim = x.size(2);
    if (dim > cuda::kMaxRow) {
        return layer_norm_modulate_cpu(x, shift, scale, eps);  // device-generic ATen ops
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    const int64_t rows = x.size(0) * x.size(1);
    if (rows == 0 || dim == 0) {
        return out;
    }
    // [Bm, D] float32 each, Bm = B when either is per batch (the other is then broadcast), else 1.
    const int64_t mod_rows = std::max(shift.size(0), scale.size(0));
    const at::Tensor shift_f = shift.to(at::kFloat).expand({mod_rows, 1, dim}).reshape({mod_rows, dim}).contiguous();
    const at::Tensor scale_f = scale.to(at::kFloat).expand({mod_rows, 1, dim}).reshape({mod_rows, dim}).contiguous();
    const bool per_batch = mod_rows > 1;
    const int threads = cuda::threads_for(dim);
    const size_t smem = static_cast<size_t>(dim + 32) * sizeof(float);
    auto stream = at::cuda::getCurrentCUDAStream();
    bool launched = false;
    cuda::dispatch_float_types(x.scalar_type(), [&](auto in_tag) {
        using scalar_t = decltype(in_tag);
        launched = cuda::dispatch_out_type<scalar_t>(out_dtype, [&](auto out_tag) {
            using out_t = decltype(out_tag);
            cuda::layer_norm_modulate_kernel<scalar_t, out_t><<<static_cast<unsigned>(rows), threads, smem, stream>>>(
                xc.data_ptr<scalar_t>(), shift_f.data_ptr<float>(), scale_f.data_ptr<float>(), dim, x.size(1),
                per_batch, static_cast<float>(eps), out.data_ptr<out_t>());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
    });
    if (!launched) {
        return layer_norm_modulate_cpu(x, shift, scale, eps);
    }
    return out;
}

at::Tensor rms_norm_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
    at::ScalarType out_dtype = x.scalar_type();
    if (weight.defined()) {
        const bool low = weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16;
        out_dtype = low ? weight.scalar_type() : at::promote_types(at::kFloat, weight.scalar_type());
        if (bias.defined()) {
            out_dtype = at::promote_types(out_dtype, bias.scalar_type());
        }
    }
    const int64_t dim = x.size(-1);
    if (dim > cuda::kMaxRow) {
        return rms_norm_cpu(x, weight, bias, eps);
    }
    c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    const int64_t rows = x.numel() / dim;
    if (rows == 0) {
        return out;
    }
    const at::Tensor weight_f = weight.defined() ? weight.to(at::kFloat).contiguous() : at::Tensor();
    const at::Tensor bias_f = bias.defined() ? bias.to(at::kFloat).contiguous() : at::Tensor();
    const int threads = cuda::threads_for(dim);
    const size_t smem = static_cast<size_t>(dim + 32) * sizeof(float);
    auto stream = at::cuda::getCurrentCUDAStream();
    bool launched = false;
    cuda::dispatch_float_types(x.scalar_type(), [&](auto in_tag) {
        using scalar_t = decltype(in_tag);
        launched = cuda::dispatch_out_type<scalar_t>(out_dtype, [&](auto out_tag) {
            using out_t = decltype(out_tag);
            cuda::rms_norm_kernel<scalar_t, out_t><<<static_cast<unsigned>(rows), threads, smem, stream>>>(
                xc.data_ptr<scalar_t>(), weight_f.defined() ? weight_f.data_ptr<float>() : nullptr,
                bias_f.defined() ? bias_f.data_ptr<float>() : nullptr, dim, static_cast<float>(eps),
                out.data_ptr<out_t>());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
    });
    if (!launched) {
        return rms_norm_cpu(x, weight, bias, eps);  // e.g. float32 x with a bfloat16 weight
    }
    return out;
}

}  // namespace kernels::detail
