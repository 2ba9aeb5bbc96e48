// Small device helpers shared by our CUDA kernels. No torch headers: the kernels take raw pointers (launch.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"

namespace kernels::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float to_float(float v) {
    return v;
}
__device__ __forceinline__ float to_float(__half v) {
    return __half2float(v);
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

// Round to nearest even, as ATen's float → half/bfloat16 conversions do.
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
    return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
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

__host__ __device__ __forceinline__ int64_t min_i64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

// x · sigmoid(x), as at::silu computes it (full-precision expf).
__device__ __forceinline__ float silu(float v) {
    return v / (1.0f + expf(-v));
}

inline int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

// 16 bytes of T (8 half values, 4 floats), loaded and stored as one uint4.
template <typename T>
union Vec16 {
    static constexpr int kN = 16 / sizeof(T);
    uint4 raw;
    T v[kN];
};

// Whether a pointer allows 16-byte vector access.
inline bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// ---- Tensor-core helpers (compute capability 8.0+: mma.sync m16n8k16, ldmatrix) -----------------------------------
//
// Fragments as PTX defines them for m16n8k16 (g = lane / 4, t = lane % 4): A (16 × 16, row-major) a0 = row g, columns
// 2t, 2t + 1; a1 = row g + 8; a2 / a3 the same rows at columns 2t + 8, 2t + 9. B (16 × 8, column-major) b0 = rows
// 2t, 2t + 1 of column g; b1 = rows 2t + 8, 2t + 9. C / D: c0, c1 = row g, columns 2t, 2t + 1; c2, c3 = row g + 8.
// Used by the linear attention's tensor-core passes (and installer/bench/experiments/flash_attention_kernel.cuh).

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ void mma_bf16_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8 × 8 matrices of 16-bit values from shared memory, transposed: lanes 8i .. 8i + 7 give the addresses of
// matrix i's rows (16 contiguous bytes each); r[i] receives column g, rows 2t, 2t + 1 of matrix i.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

template <typename T>
struct TypeTag {
    using type = T;
};

// Runs fn(TypeTag<T>{}) with T = float, __half or __nv_bfloat16; returns false (fn not run) for any other value.
template <typename Fn>
bool dispatch_dtype(DType type, Fn&& fn) {
    switch (type) {
        case DType::kFloat32:
            fn(TypeTag<float>{});
            return true;
        case DType::kFloat16:
            fn(TypeTag<__half>{});
            return true;
        case DType::kBFloat16:
            fn(TypeTag<__nv_bfloat16>{});
            return true;
    }
    return false;
}

}  // namespace kernels::cuda
