// Row-wise float8 (e4m3fn) quantisation (kernels::quantize_rows_e4m3): the activation side of the FP8 GEMMs, and the
// weights' per-output-channel scales. One block per row: a first pass for the row's absolute maximum, a second that
// re-reads the row (from L1/L2: a block reads its own row twice, back to back) and writes one byte per value.
#include <cuda_fp8.h>

#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kE4m3Max = 448.0f;
constexpr float kMinAmax = 1e-12f;  // an all-zero row gets this amax (scale ~2e-15), not a division by zero

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
    }
    return v;
}

// Max over the block (kThreads threads); every thread gets it.
__device__ __forceinline__ float block_max(float v) {
    __shared__ float scratch[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    v = warp_max(v);
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    v = lane < kThreads / 32 ? scratch[lane] : 0.0f;
    return warp_max(v);
}

// Two values to two e4m3fn bytes (low byte: a): round to nearest even, saturated to ±448, NaN stays NaN.
__device__ __forceinline__ uint16_t to_e4m3x2(float a, float b) {
    return static_cast<uint16_t>(__nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3));
}

// x: rows of `cols` values, row r at x + r · row_stride; q: [rows, cols] contiguous bytes; scale: [rows] float32.
template <typename scalar_t, bool kVector>
__global__ void __launch_bounds__(kThreads)
    quantize_rows_e4m3_kernel(const scalar_t* __restrict__ x, int64_t cols, int64_t row_stride,
                              uint8_t* __restrict__ q, float* __restrict__ scale) {
    const int64_t row = blockIdx.x;
    const scalar_t* in = x + row * row_stride;
    uint8_t* out = q + row * cols;
    constexpr int kN = Vec16<scalar_t>::kN;  // 8 (half types) or 4 (float)
    using V = Vec16<scalar_t>;

    float amax = 0.0f;
    if constexpr (kVector) {
        const uint4* in_v = reinterpret_cast<const uint4*>(in);
        for (int64_t i = threadIdx.x; i < cols / kN; i += kThreads) {
            V v;
            v.raw = in_v[i];
#pragma unroll
            for (int j = 0; j < kN; ++j) {
                amax = fmaxf(amax, fabsf(to_float(v.v[j])));
            }
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) {
            amax = fmaxf(amax, fabsf(to_float(in[i])));
        }
    }
    amax = fmaxf(block_max(amax), kMinAmax);
    const float inv = kE4m3Max / amax;
    if (threadIdx.x == 0) {
        scale[row] = amax / kE4m3Max;
    }

    if constexpr (kVector) {
        const uint4* in_v = reinterpret_cast<const uint4*>(in);
        for (int64_t i = threadIdx.x; i < cols / kN; i += kThreads) {
            V v;
            v.raw = in_v[i];
            if constexpr (kN == 8) {
                uint2 packed;
                packed.x = to_e4m3x2(to_float(v.v[0]) * inv, to_float(v.v[1]) * inv) |
                           (static_cast<uint32_t>(to_e4m3x2(to_float(v.v[2]) * inv, to_float(v.v[3]) * inv)) << 16);
                packed.y = to_e4m3x2(to_float(v.v[4]) * inv, to_float(v.v[5]) * inv) |
                           (static_cast<uint32_t>(to_e4m3x2(to_float(v.v[6]) * inv, to_float(v.v[7]) * inv)) << 16);
                reinterpret_cast<uint2*>(out)[i] = packed;
            } else {
                reinterpret_cast<uint32_t*>(out)[i] =
                    to_e4m3x2(to_float(v.v[0]) * inv, to_float(v.v[1]) * inv) |
                    (static_cast<uint32_t>(to_e4m3x2(to_float(v.v[2]) * inv, to_float(v.v[3]) * inv)) << 16);
            }
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) {
            out[i] = static_cast<uint8_t>(to_e4m3x2(to_float(in[i]) * inv, 0.0f) & 0xffu);
        }
    }
}

}  // namespace

cudaError_t quantize_rows_e4m3(DType dtype, const void* x, int64_t rows, int64_t cols, int64_t row_stride, void* q,
                               float* scale, cudaStream_t stream) {
    if (rows <= 0 || cols <= 0 || rows > kMaxGridX) {
        return cudaErrorInvalidValue;
    }
    const int64_t per_vec = dtype == DType::kFloat32 ? 4 : 8;
    // 16-byte loads of x and 8- (4-) byte stores of q: whole vectors per row and aligned rows.
    const bool vector = cols % per_vec == 0 && row_stride % per_vec == 0 && aligned16(x) &&
                        reinterpret_cast<uintptr_t>(q) % 8 == 0;
    const bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        const auto* in = static_cast<const scalar_t*>(x);
        auto* out = static_cast<uint8_t*>(q);
        if (vector) {
            quantize_rows_e4m3_kernel<scalar_t, true>
                <<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(in, cols, row_stride, out, scale);
        } else {
            quantize_rows_e4m3_kernel<scalar_t, false>
                <<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(in, cols, row_stride, out, scale);
        }
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
