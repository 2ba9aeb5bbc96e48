// What gemm_algorithms.cu and gemm_epilogues.cu share: the error check, deterministic fills, and a cuBLASLt handle
// with a workspace, a stream and two timing events.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>

#define CK(x)                                                                  \
    do {                                                                       \
        auto e = (x);                                                          \
        if (e != 0) {                                                          \
            printf("error %d at %s:%d\n", (int)e, __FILE__, __LINE__);         \
            return 1;                                                          \
        }                                                                      \
    } while (0)

// A hash of (i, seed) → [0, 1) in steps of 2^-16.
__device__ __forceinline__ float hash_unit(size_t i, unsigned seed) {
    unsigned h = (unsigned)i * 2654435761u ^ seed;
    h ^= h >> 13;
    h *= 0x5bd1e995;
    h ^= h >> 15;
    return (h & 0xffff) / 65536.0f;
}

// p[i] = (u - 0.5) · scale, u = hash_unit(i, seed).
__global__ void fill(__nv_bfloat16* p, size_t n, unsigned seed, float scale) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) p[i] = __float2bfloat16((hash_unit(i, seed) - 0.5f) * scale);
}

// p[i] = lo + u · (hi - lo).
__global__ void fill_f32(float* p, size_t n, unsigned seed, float lo, float hi) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) p[i] = lo + hash_unit(i, seed) * (hi - lo);
}

struct LtBench {
    cublasLtHandle_t lt = nullptr;
    void* ws = nullptr;
    size_t ws_size = 0;
    cudaStream_t stream = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;

    int init(size_t workspace_bytes) {
        ws_size = workspace_bytes;
        CK(cublasLtCreate(&lt));
        CK(cudaMalloc(&ws, ws_size));
        CK(cudaStreamCreate(&stream));
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        return 0;
    }
};
