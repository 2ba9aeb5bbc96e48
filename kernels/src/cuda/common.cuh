// Small device helpers shared by our CUDA kernels.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>

namespace kernels::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(c10::Half v) { return static_cast<float>(v); }
__device__ __forceinline__ float to_float(c10::BFloat16 v) { return static_cast<float>(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v) {
    return static_cast<T>(v);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(kFullMask, v, offset);
    }
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result. `scratch` holds 32
// floats of shared memory; the function synchronises before returning, so scratch may be reused at once.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int num_warps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    float total = lane < num_warps ? scratch[lane] : 0.0f;
    total = warp_sum(total);
    __syncthreads();
    return total;
}

__host__ __device__ __forceinline__ int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// x · sigmoid(x), as at::silu computes it (full-precision expf).
__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Runs fn with scalar_t = float, c10::Half or c10::BFloat16 for the three dtypes our kernels take; returns false
// (fn not run) for any other dtype, so the caller can fall back to ATen ops.
template <typename Fn>
bool dispatch_float_types(at::ScalarType type, Fn&& fn) {
    switch (type) {
        case at::kFloat:
            fn(float{});
            return true;
        case at::kHalf:
            fn(c10::Half{});
            return true;
        case at::kBFloat16:
            fn(c10::BFloat16{});
            return true;
        default:
            return false;
    }
}

}  // namespace kernels::cuda
