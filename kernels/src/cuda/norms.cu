// Row normalisations on CUDA: Sana's modulated LayerNorm (kernels::layer_norm_modulate) and diffusers' RMSNorm
// (kernels::rms_norm). One block per row of D values: the row is read once into shared memory as float32, the
// statistics are block sums in float32, and each output is rounded once.
#include "common.cuh"

namespace kernels::cuda {
namespace {

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
    float* row = smem;            // [dim]
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

// Runs fn(TypeTag<in_t>, TypeTag<out_t>) for out_type == in_type or out_type == kFloat32; false otherwise.
template <typename Fn>
bool dispatch_in_out(DType in_type, DType out_type, Fn&& fn) {
    bool ok = false;
    dispatch_dtype(in_type, [&](auto in_tag) {
        using in_t = typename decltype(in_tag)::type;
        if (out_type == in_type) {
            fn(in_tag, TypeTag<in_t>{});
            ok = true;
        } else if (out_type == DType::kFloat32) {
            fn(in_tag, TypeTag<float>{});
            ok = true;
        }
    });
    return ok;
}

bool valid_rows(int64_t rows, int64_t dim) {
    return rows > 0 && rows <= kMaxGridX && dim > 0 && dim <= kMaxNormRow;
}

}  // namespace

cudaError_t layer_norm_modulate(DType in_type, DType out_type, const void* x, const float* shift, const float* scale,
                                int64_t rows, int64_t dim, int64_t rows_per_batch, bool per_batch, float eps, void* out,
                                cudaStream_t stream) {
    if (!valid_rows(rows, dim) || rows_per_batch <= 0 || shift == nullptr || scale == nullptr) {
        return cudaErrorInvalidValue;
    }
    const int threads = threads_for(dim);
    const size_t smem = static_cast<size_t>(dim + 32) * sizeof(float);
    const bool ok = dispatch_in_out(in_type, out_type, [&](auto in_tag, auto out_tag) {
        using in_t = typename decltype(in_tag)::type;
        using out_t = typename decltype(out_tag)::type;
        layer_norm_modulate_kernel<in_t, out_t><<<static_cast<unsigned>(rows), threads, smem, stream>>>(
            static_cast<const in_t*>(x), shift, scale, dim, rows_per_batch, per_batch, eps, static_cast<out_t*>(out));
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t rms_norm(DType in_type, DType out_type, const void* x, const float* weight, const float* bias, int64_t rows,
                     int64_t dim, float eps, void* out, cudaStream_t stream) {
    if (!valid_rows(rows, dim) || (bias != nullptr && weight == nullptr)) {
        return cudaErrorInvalidValue;
    }
    const int threads = threads_for(dim);
    const size_t smem = static_cast<size_t>(dim + 32) * sizeof(float);
    const bool ok = dispatch_in_out(in_type, out_type, [&](auto in_tag, auto out_tag) {
        using in_t = typename decltype(in_tag)::type;
        using out_t = typename decltype(out_tag)::type;
        rms_norm_kernel<in_t, out_t><<<static_cast<unsigned>(rows), threads, smem, stream>>>(
            static_cast<const in_t*>(x), weight, bias, dim, eps, static_cast<out_t*>(out));
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
