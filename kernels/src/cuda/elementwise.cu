// Elementwise steps on CUDA, with 16-byte loads and stores:
//  - the gated residual of the Sana blocks (kernels::gated_residual), out = x + gate[b] · y, the gate row read where it
//    lies (a chunk of the block's [B, 6, D] modulation). ATen's addcmul computes the same, but with a broadcast gate
//    its kernel takes the strided, unvectorised path;
//  - a convolution's bias and SiLU (kernels::bias_silu) in one pass instead of ATen's bias add and SiLU;
//  - GEGLU's value · GELU(gate) (kernels::geglu) in one pass instead of a GELU and a multiply;
//  - a convolution's bias and the residual after it (kernels::add_channel_bias) in one pass instead of two adds.
#include <algorithm>

#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kThreads = 256;

// x, y, out: [rows, dim] contiguous; gate row of row r: gate + (r / rows_per_batch) · gate_stride.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    gated_residual_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ gate,
                          const scalar_t* __restrict__ y, int64_t rows, int64_t dim, int64_t rows_per_batch,
                          int64_t gate_stride, scalar_t* __restrict__ out) {
    constexpr int kN = Vec16<scalar_t>::kN;
    using V = Vec16<scalar_t>;
    const int64_t vecs_per_row = dim / kN;
    const int64_t total = rows * vecs_per_row;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int64_t r = i / vecs_per_row;
        const int64_t v = i % vecs_per_row;
        V a, g, b, o;
        a.raw = reinterpret_cast<const uint4*>(x)[i];
        b.raw = reinterpret_cast<const uint4*>(y)[i];
        g.raw = reinterpret_cast<const uint4*>(gate + (r / rows_per_batch) * gate_stride)[v];
#pragma unroll
        for (int j = 0; j < kN; ++j) {
            o.v[j] = from_float<scalar_t>(fmaf(to_float(g.v[j]), to_float(b.v[j]), to_float(a.v[j])));
        }
        reinterpret_cast<uint4*>(out)[i] = o.raw;
    }
}

// out = SiLU(round(x + bias[c])): x, out [rows, channels] contiguous, 16-byte vectors never straddle rows.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    bias_silu_kernel(const scalar_t* __restrict__ x, const float* __restrict__ bias, int64_t total_vecs,
                     int64_t vecs_per_row, scalar_t* __restrict__ out) {
    constexpr int kN = Vec16<scalar_t>::kN;
    using V = Vec16<scalar_t>;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total_vecs;
         i += static_cast<int64_t>(gridDim.x) * kThreads) {
        const float* b = bias + (i % vecs_per_row) * kN;
        V a, o;
        a.raw = reinterpret_cast<const uint4*>(x)[i];
#pragma unroll
        for (int j = 0; j < kN; ++j) {
            // The sum rounded to scalar_t as at::add leaves it, then at::silu's x / (1 + exp(-x)) in float32.
            const float v = to_float(from_float<scalar_t>(to_float(a.v[j]) + b[j]));
            o.v[j] = from_float<scalar_t>(v / (1.0f + expf(-v)));
        }
        reinterpret_cast<uint4*>(out)[i] = o.raw;
    }
}

// out = round(h[r, i] · round(GELU(h[r, I + i]))): at::gelu (erf form, float32 arithmetic) then the multiply.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    geglu_kernel(const scalar_t* __restrict__ h, int64_t total_vecs, int64_t vecs_per_row,
                 scalar_t* __restrict__ out) {
    constexpr int kN = Vec16<scalar_t>::kN;
    using V = Vec16<scalar_t>;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total_vecs;
         i += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int64_t r = i / vecs_per_row;
        const int64_t v = i - r * vecs_per_row;
        const uint4* row = reinterpret_cast<const uint4*>(h) + r * 2 * vecs_per_row;
        V value, gate, o;
        value.raw = row[v];
        gate.raw = row[vecs_per_row + v];
#pragma unroll
        for (int j = 0; j < kN; ++j) {
            const float g = to_float(gate.v[j]);
            const float gelu = to_float(from_float<scalar_t>(g * 0.5f * (1.0f + erff(g * 0.70710678118654752f))));
            o.v[j] = from_float<scalar_t>(to_float(value.v[j]) * gelu);
        }
        reinterpret_cast<uint4*>(out)[i] = o.raw;
    }
}

// out = round(round(y + bias[c]) + residual) (residual may be null): rows of C, 16-byte vectors within a row.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    channel_bias_kernel(const scalar_t* __restrict__ y, const float* __restrict__ bias,
                        const scalar_t* __restrict__ residual, int64_t total_vecs, int64_t vecs_per_row,
                        scalar_t* __restrict__ out) {
    constexpr int kN = Vec16<scalar_t>::kN;
    using V = Vec16<scalar_t>;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total_vecs;
         i += static_cast<int64_t>(gridDim.x) * kThreads) {
        const float* b = bias + (i % vecs_per_row) * kN;
        V a, res, o;
        a.raw = reinterpret_cast<const uint4*>(y)[i];
        if (residual != nullptr) {
            res.raw = reinterpret_cast<const uint4*>(residual)[i];
        }
#pragma unroll
        for (int j = 0; j < kN; ++j) {
            float v = to_float(from_float<scalar_t>(to_float(a.v[j]) + b[j]));
            if (residual != nullptr) {
                v += to_float(res.v[j]);
            }
            o.v[j] = from_float<scalar_t>(v);
        }
        reinterpret_cast<uint4*>(out)[i] = o.raw;
    }
}

// Elements of `dtype` in a 16-byte vector.
int64_t per_vector(DType dtype) {
    return dtype == DType::kFloat32 ? 4 : 8;
}

// A grid-stride launch over `total` vectors: at most 8 blocks an SM.
unsigned grid_blocks(int64_t total, int num_sms) {
    return static_cast<unsigned>(std::min<int64_t>(ceil_div(total, kThreads), 8 * static_cast<int64_t>(num_sms)));
}

// One vectorised pass over rows × width elements of `dtype`, a thread per 16-byte vector (grid-stride):
// launch(TypeTag<scalar_t>, blocks, total vectors, vectors per row) starts the kernel.
template <typename Launch>
cudaError_t launch_rows(DType dtype, int64_t rows, int64_t width, int num_sms, Launch&& launch) {
    const int64_t vecs_per_row = width / per_vector(dtype);
    const int64_t total = rows * vecs_per_row;
    const unsigned blocks = grid_blocks(total, num_sms);
    const bool ok = dispatch_dtype(dtype, [&](auto tag) { launch(tag, blocks, total, vecs_per_row); });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace

bool bias_silu_supported(DType dtype, int64_t rows, int64_t channels, const void* x, const void* out) {
    const int64_t per_vec = per_vector(dtype);
    return rows > 0 && channels > 0 && channels % per_vec == 0 && aligned16(x) && aligned16(out);
}

cudaError_t bias_silu(DType dtype, const void* x, const float* bias, int64_t rows, int64_t channels, void* out,
                      int num_sms, cudaStream_t stream) {
    if (bias == nullptr || !bias_silu_supported(dtype, rows, channels, x, out)) {
        return cudaErrorInvalidValue;
    }
    return launch_rows(dtype, rows, channels, num_sms, [&](auto tag, unsigned blocks, int64_t total, int64_t vecs) {
        using scalar_t = typename decltype(tag)::type;
        bias_silu_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(static_cast<const scalar_t*>(x), bias, total, vecs,
                                                                     static_cast<scalar_t*>(out));
    });
}

bool gated_residual_supported(DType dtype, int64_t rows, int64_t dim, const void* x, const void* gate,
                              int64_t gate_stride, const void* y, const void* out) {
    const int64_t per_vec = per_vector(dtype);
    return rows > 0 && dim > 0 && dim % per_vec == 0 && gate_stride % per_vec == 0 && aligned16(x) &&
           aligned16(gate) && aligned16(y) && aligned16(out);
}

cudaError_t gated_residual(DType dtype, const void* x, const void* gate, const void* y, int64_t rows, int64_t dim,
                           int64_t rows_per_batch, int64_t gate_stride, void* out, int num_sms, cudaStream_t stream) {
    if (rows_per_batch <= 0 || !gated_residual_supported(dtype, rows, dim, x, gate, gate_stride, y, out)) {
        return cudaErrorInvalidValue;
    }
    return launch_rows(dtype, rows, dim, num_sms, [&](auto tag, unsigned blocks, int64_t, int64_t) {
        using scalar_t = typename decltype(tag)::type;
        gated_residual_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
            static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(gate), static_cast<const scalar_t*>(y), rows,
            dim, rows_per_batch, gate_stride, static_cast<scalar_t*>(out));
    });
}

bool geglu_supported(DType dtype, int64_t rows, int64_t inner, const void* h, const void* out) {
    const int64_t per_vec = per_vector(dtype);
    return rows > 0 && inner > 0 && inner % per_vec == 0 && aligned16(h) && aligned16(out);
}

cudaError_t geglu(DType dtype, const void* h, int64_t rows, int64_t inner, void* out, int num_sms,
                  cudaStream_t stream) {
    if (!geglu_supported(dtype, rows, inner, h, out)) {
        return cudaErrorInvalidValue;
    }
    return launch_rows(dtype, rows, inner, num_sms, [&](auto tag, unsigned blocks, int64_t total, int64_t vecs) {
        using scalar_t = typename decltype(tag)::type;
        geglu_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(static_cast<const scalar_t*>(h), total, vecs,
                                                                 static_cast<scalar_t*>(out));
    });
}

bool channel_bias_supported(DType dtype, int64_t rows, int64_t channels, const void* y, const void* residual,
                            const void* out) {
    const int64_t per_vec = per_vector(dtype);
    return rows > 0 && channels > 0 && channels % per_vec == 0 && aligned16(y) && aligned16(out) &&
           (residual == nullptr || aligned16(residual));
}

cudaError_t channel_bias(DType dtype, const void* y, const float* bias, const void* residual, int64_t rows,
                         int64_t channels, void* out, int num_sms, cudaStream_t stream) {
    if (bias == nullptr || !channel_bias_supported(dtype, rows, channels, y, residual, out)) {
        return cudaErrorInvalidValue;
    }
    return launch_rows(dtype, rows, channels, num_sms, [&](auto tag, unsigned blocks, int64_t total, int64_t vecs) {
        using scalar_t = typename decltype(tag)::type;
        channel_bias_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
            static_cast<const scalar_t*>(y), bias, static_cast<const scalar_t*>(residual), total, vecs,
            static_cast<scalar_t*>(out));
    });
}

}  // namespace kernels::cuda
