// Sana's ReLU linear attention (kernels::relu_linear_attention) on CUDA.
//
// Per (batch, head) with q, k [N, D], v [N, Dv]:
//   KV = Σ_n relu(k_n)ᵀ v_n  [D, Dv],  ks = Σ_n relu(k_n)  [D]               (pass 1: over N, float32)
//   out_n = (relu(q_n) · KV) / (relu(q_n) · ks + eps)                       (pass 2: over N)
// Pass 1 splits N into chunks so that the grid fills the GPU; each chunk's partial sums go to a float32 workspace
// and are added in chunk order by a small reduction kernel (fixed order: the result does not depend on timing).
// Heads up to 64 wide (Sana and the DC-AE use 32). Inputs may be any strided views: tiles are loaded along
// whichever of the token or feature axes is contiguous, and the output pass has one variant for feature-contiguous
// inputs (a warp per token) and one for token-contiguous inputs (a thread per token, the DC-AE's layout).
// A third, vectorised variant takes Sana's layout (heads split off [B, N, H·D] projections: features contiguous,
// D = 32 or 64, 16-byte aligned rows): 16-byte loads and stores, 128-token chunks for pass 1 (thousands of blocks
// instead of a few hundred) and a thread per token in pass 2. For bfloat16 at D = 32 the vectorised variant runs both
// passes as tensor-core MMAs (the last section of this file).
#include <algorithm>
#include <type_traits>

#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTileRows = 32;
constexpr int kRowsPerBlock = 64;  // tokens per block of the feature-contiguous output pass

template <int DMAX>
__host__ __device__ constexpr int kv_block_size() {
    return DMAX * DMAX + DMAX;  // KV [DMAX, DMAX] then ks [DMAX]
}

// Pass 1's block, grid (B·H, chunks): its (batch, head)'s K and V, the first token of its chunk, and where its partial
// sums go (block bh · chunks + chunk of kv_block_size floats). One prologue for the four pass-1 kernels.
template <typename T>
struct Pass1Block {
    const T* k;
    const T* v;
    int64_t row_begin;
    int64_t slot;
};
template <typename T>
__device__ __forceinline__ Pass1Block<T> pass1_block(const T* k, Strides4 ks, const T* v, Strides4 vs, int64_t heads,
                                                     int64_t rows_per_chunk) {
    const int64_t bh = blockIdx.x;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    return {k + b * ks.b + h * ks.h, v + b * vs.b + h * vs.h, static_cast<int64_t>(blockIdx.y) * rows_per_chunk,
            bh * gridDim.y + blockIdx.y};
}

// Pass 1: partial Σ relu(k)ᵀ v and Σ relu(k) over one chunk of tokens. grid (B·H, chunks), kThreads threads.
template <typename scalar_t, int DMAX>
__global__ void __launch_bounds__(kThreads)
    kv_partial_kernel(const scalar_t* __restrict__ k, Strides4 ks, const scalar_t* __restrict__ v, Strides4 vs,
                      int64_t heads, int64_t tokens, int d_k, int d_v, int64_t rows_per_chunk,
                      float* __restrict__ partial) {
    constexpr int kThreadsPerD = kThreads / DMAX;     // threads sharing one row d of KV
    constexpr int kEPerThread = DMAX / kThreadsPerD;  // KV columns per thread
    __shared__ float k_tile[kTileRows][DMAX + 1];     // +1: conflict-free stores along the token axis
    __shared__ float v_tile[kTileRows][DMAX + 1];

    const auto [k_bh, v_bh, row_begin, slot] = pass1_block(k, ks, v, vs, heads, rows_per_chunk);
    const int64_t row_end = min_i64(tokens, row_begin + rows_per_chunk);

    const int tid = threadIdx.x;
    const int d = tid / kThreadsPerD;
    const int e0 = (tid % kThreadsPerD) * kEPerThread;
    const bool sums_k = (tid % kThreadsPerD) == 0;
    float acc[kEPerThread];
#pragma unroll
    for (int j = 0; j < kEPerThread; ++j) {
        acc[j] = 0.0f;
    }
    float k_sum = 0.0f;

    for (int64_t row0 = row_begin; row0 < row_end; row0 += kTileRows) {
        // Load a [kTileRows, DMAX] tile of relu(k) and of v (zeros past the ends), coalesced along the contiguous axis.
        for (int i = tid; i < kTileRows * DMAX; i += kThreads) {
            int r, c;
            if (ks.d == 1) {
                r = i / DMAX;
                c = i % DMAX;
            } else {
                r = i % kTileRows;
                c = i / kTileRows;
            }
            const int64_t n = row0 + r;
            float value = 0.0f;
            if (n < row_end && c < d_k) {
                value = fmaxf(to_float(k_bh[n * ks.n + c * ks.d]), 0.0f);
            }
            k_tile[r][c] = value;
        }
        for (int i = tid; i < kTileRows * DMAX; i += kThreads) {
            int r, c;
            if (vs.d == 1) {
                r = i / DMAX;
                c = i % DMAX;
            } else {
                r = i % kTileRows;
                c = i / kTileRows;
            }
            const int64_t n = row0 + r;
            float value = 0.0f;
            if (n < row_end && c < d_v) {
                value = to_float(v_bh[n * vs.n + c * vs.d]);
            }
            v_tile[r][c] = value;
        }
        __syncthreads();
#pragma unroll 4
        for (int r = 0; r < kTileRows; ++r) {
            const float kd = k_tile[r][d];
#pragma unroll
            for (int j = 0; j < kEPerThread; ++j) {
                acc[j] = fmaf(kd, v_tile[r][e0 + j], acc[j]);
            }
            k_sum += kd;
        }
        __syncthreads();
    }

    float* out = partial + slot * kv_block_size<DMAX>();
#pragma unroll
    for (int j = 0; j < kEPerThread; ++j) {
        out[d * DMAX + e0 + j] = acc[j];
    }
    if (sums_k) {
        out[DMAX * DMAX + d] = k_sum;
    }
}

// Entry p of (batch, head) bh's sums: the chunks' partial sums added in chunk order (the result does not depend on
// timing). Every reduction of the partials goes through here, so all of them give the same bits.
template <int DMAX>
__device__ __forceinline__ float chunk_sum(const float* __restrict__ partial, int64_t bh, int num_chunks, int p) {
    constexpr int kSize = kv_block_size<DMAX>();
    float sum = 0.0f;
    for (int c = 0; c < num_chunks; ++c) {
        sum += partial[(bh * num_chunks + c) * kSize + p];
    }
    return sum;
}

// Adds the chunks' partial sums in chunk order. grid (B·H), kThreads threads.
template <int DMAX>
__global__ void __launch_bounds__(kThreads)
    reduce_chunks_kernel(const float* __restrict__ partial, int num_chunks, float* __restrict__ kv) {
    constexpr int kSize = kv_block_size<DMAX>();
    const int64_t bh = blockIdx.x;
    for (int p = threadIdx.x; p < kSize; p += kThreads) {
        kv[bh * kSize + p] = chunk_sum<DMAX>(partial, bh, num_chunks, p);
    }
}

template <int DMAX>
__device__ __forceinline__ void load_kv(const float* __restrict__ kv_bh, float (*kv_s)[DMAX], float* ks_s) {
    for (int p = threadIdx.x; p < DMAX * DMAX; p += blockDim.x) {
        kv_s[p / DMAX][p % DMAX] = kv_bh[p];
    }
    for (int p = threadIdx.x; p < DMAX; p += blockDim.x) {
        ks_s[p] = kv_bh[DMAX * DMAX + p];
    }
    __syncthreads();
}

// Pass 2, feature-contiguous q: a warp per token, lanes over features. grid (B·H, ceil(N / rows_per_block)).
template <typename scalar_t, typename out_t, int DMAX>
__global__ void __launch_bounds__(kThreads)
    output_rows_kernel(const scalar_t* __restrict__ q, Strides4 qs, const float* __restrict__ kv, int64_t heads,
                       int64_t tokens, int d_k, int d_v, float eps, int rows_per_block, out_t* __restrict__ out,
                       Strides4 os) {
    constexpr int kSlots = DMAX / 32;
    __shared__ float kv_s[DMAX][DMAX];
    __shared__ float ks_s[DMAX];
    const int64_t bh = blockIdx.x;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    load_kv<DMAX>(kv + bh * kv_block_size<DMAX>(), kv_s, ks_s);

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const scalar_t* q_bh = q + b * qs.b + h * qs.h;
    out_t* out_bh = out + b * os.b + h * os.h;
    const int64_t row_begin = static_cast<int64_t>(blockIdx.y) * rows_per_block;
    const int64_t row_end = min_i64(tokens, row_begin + rows_per_block);
    for (int64_t n = row_begin + warp; n < row_end; n += kThreads / 32) {
        float qv[kSlots];
        float den = 0.0f;
#pragma unroll
        for (int i = 0; i < kSlots; ++i) {
            const int d = lane + 32 * i;
            qv[i] = d < d_k ? fmaxf(to_float(q_bh[n * qs.n + d * qs.d]), 0.0f) : 0.0f;
            den = fmaf(qv[i], ks_s[d], den);
        }
        den = warp_sum(den);
        float num[kSlots];
#pragma unroll
        for (int j = 0; j < kSlots; ++j) {
            num[j] = 0.0f;
        }
#pragma unroll
        for (int i = 0; i < kSlots; ++i) {
#pragma unroll 8
            for (int src = 0; src < 32; ++src) {
                const float qd = __shfl_sync(kFullMask, qv[i], src);
                const int d = 32 * i + src;
#pragma unroll
                for (int j = 0; j < kSlots; ++j) {
                    num[j] = fmaf(qd, kv_s[d][lane + 32 * j], num[j]);
                }
            }
        }
        const float denominator = den + eps;
#pragma unroll
        for (int j = 0; j < kSlots; ++j) {
            const int e = lane + 32 * j;
            if (e < d_v) {
                out_bh[n * os.n + e * os.d] = from_float<out_t>(num[j] / denominator);
            }
        }
    }
}

// Pass 2, token-contiguous q: a thread per token. grid (B·H, ceil(N / kThreads)).
template <typename scalar_t, typename out_t, int DMAX>
__global__ void __launch_bounds__(kThreads)
    output_tokens_kernel(const scalar_t* __restrict__ q, Strides4 qs, const float* __restrict__ kv, int64_t heads,
                         int64_t tokens, int d_k, int d_v, float eps, out_t* __restrict__ out, Strides4 os) {
    __shared__ float kv_s[DMAX][DMAX];
    __shared__ float ks_s[DMAX];
    const int64_t bh = blockIdx.x;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    load_kv<DMAX>(kv + bh * kv_block_size<DMAX>(), kv_s, ks_s);

    const int64_t n = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
    if (n >= tokens) {
        return;
    }
    const scalar_t* q_n = q + b * qs.b + h * qs.h + n * qs.n;
    float num[DMAX];
#pragma unroll
    for (int e = 0; e < DMAX; ++e) {
        num[e] = 0.0f;
    }
    float den = 0.0f;
    for (int d = 0; d < d_k; ++d) {
        const float qd = fmaxf(to_float(q_n[d * qs.d]), 0.0f);
        den = fmaf(qd, ks_s[d], den);
#pragma unroll
        for (int e = 0; e < DMAX; ++e) {
            num[e] = fmaf(qd, kv_s[d][e], num[e]);
        }
    }
    const float denominator = den + eps;
    out_t* out_n = out + b * os.b + h * os.h + n * os.n;
#pragma unroll
    for (int e = 0; e < DMAX; ++e) {
        if (e < d_v) {
            out_n[e * os.d] = from_float<out_t>(num[e] / denominator);
        }
    }
}

template <typename scalar_t, int DMAX>
void launch(const scalar_t* q, Strides4 qs, const scalar_t* k, Strides4 ks, const scalar_t* v, Strides4 vs,
            int64_t batch, int64_t heads, int64_t tokens, int d_k, int d_v, float eps, const LinearAttentionPlan& plan,
            float* partial, float* kv, scalar_t* out, Strides4 os, cudaStream_t stream) {
    const int64_t bh = batch * heads;
    kv_partial_kernel<scalar_t, DMAX>
        <<<dim3(static_cast<unsigned>(bh), static_cast<unsigned>(plan.chunks)), kThreads, 0, stream>>>(
            k, ks, v, vs, heads, tokens, d_k, d_v, plan.rows_per_chunk, partial);
    const float* summed = partial;
    if (plan.chunks > 1) {
        reduce_chunks_kernel<DMAX>
            <<<static_cast<unsigned>(bh), kThreads, 0, stream>>>(partial, static_cast<int>(plan.chunks), kv);
        summed = kv;
    }
    const dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(plan.output_blocks_y));
    if (qs.d == 1 || qs.n != 1) {
        output_rows_kernel<scalar_t, scalar_t, DMAX>
            <<<grid, kThreads, 0, stream>>>(q, qs, summed, heads, tokens, d_k, d_v, eps, kRowsPerBlock, out, os);
    } else {
        output_tokens_kernel<scalar_t, scalar_t, DMAX>
            <<<grid, kThreads, 0, stream>>>(q, qs, summed, heads, tokens, d_k, d_v, eps, out, os);
    }
}


// ---- the vectorised variant (features contiguous, D = DMAX, 16-byte aligned rows) ----------------------------------

constexpr int kVecThreads = 128;
constexpr int kVecTileRows = 64;
constexpr int kVecChunkRows = 128;  // tokens per pass-1 block
constexpr int kVecSplit = 2;                            // pass-2 threads per token
constexpr int kVecOutRows = kVecThreads / kVecSplit;  // tokens per pass-2 block

// Pass 1: grid (B·H, chunks of kVecChunkRows tokens).
template <typename scalar_t, int D>
__global__ void __launch_bounds__(kVecThreads)
    kv_partial_vec_kernel(const scalar_t* __restrict__ k, Strides4 ks, const scalar_t* __restrict__ v, Strides4 vs,
                          int64_t heads, int64_t tokens, float* __restrict__ partial) {
    constexpr int kN = 16 / sizeof(scalar_t);
    constexpr int kVecsPerRow = D / kN;
    constexpr int kPer = D * D / kVecThreads;           // KV entries per thread (8 for D = 32, 32 for D = 64)
    constexpr int kThreadsPerRow = D / kPer;            // threads sharing one row d of KV
    __shared__ float k_tile[kVecTileRows][D + 1];
    __shared__ __align__(16) float v_tile[kVecTileRows][D];

    const auto [k_bh, v_bh, row_begin, slot] = pass1_block(k, ks, v, vs, heads, kVecChunkRows);
    const int64_t row_end = min_i64(tokens, row_begin + kVecChunkRows);

    const int tid = threadIdx.x;
    const int d = tid / kThreadsPerRow;
    const int e0 = (tid % kThreadsPerRow) * kPer;
    float acc[kPer];
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
        acc[j] = 0.0f;
    }
    float k_sum = 0.0f;
    for (int64_t row0 = row_begin; row0 < row_end; row0 += kVecTileRows) {
        for (int i = tid; i < kVecTileRows * kVecsPerRow; i += kVecThreads) {
            const int r = i / kVecsPerRow;
            const int cv = i % kVecsPerRow;
            const int64_t n = row0 + r;
            Vec16<scalar_t> ku, vu;
            if (n < row_end) {
                ku.raw = *reinterpret_cast<const uint4*>(k_bh + n * ks.n + cv * kN);
                vu.raw = *reinterpret_cast<const uint4*>(v_bh + n * vs.n + cv * kN);
            } else {
                ku.raw = make_uint4(0, 0, 0, 0);
                vu.raw = make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int j = 0; j < kN; ++j) {
                k_tile[r][cv * kN + j] = fmaxf(to_float(ku.v[j]), 0.0f);
                v_tile[r][cv * kN + j] = to_float(vu.v[j]);
            }
        }
        __syncthreads();
#pragma unroll 4
        for (int r = 0; r < kVecTileRows; ++r) {
            const float kd = k_tile[r][d];
#pragma unroll
            for (int j = 0; j < kPer; j += 4) {
                const float4 vv = *reinterpret_cast<const float4*>(&v_tile[r][e0 + j]);
                acc[j] = fmaf(kd, vv.x, acc[j]);
                acc[j + 1] = fmaf(kd, vv.y, acc[j + 1]);
                acc[j + 2] = fmaf(kd, vv.z, acc[j + 2]);
                acc[j + 3] = fmaf(kd, vv.w, acc[j + 3]);
            }
            k_sum += kd;
        }
        __syncthreads();
    }
    float* out = partial + slot * kv_block_size<D>();
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
        out[d * D + e0 + j] = acc[j];
    }
    if (tid % kThreadsPerRow == 0) {
        out[D * D + d] = k_sum;
    }
}

// Pass 1 for D = 32, register-blocked: each thread owns a 4 × 4 block of KV, so one 16-byte shared-memory read of k
// and one of v feed 16 FMAs (the kernel above reads one k value and eight v values for 8: its profile on an H200 was
// bound by shared-memory reads, L1 at 91 %). The 128 threads are two groups of 64 taking alternate tile rows; the
// second group's sums are added to the first's at the end. grid (B·H, chunks of kVecChunkRows tokens).
template <typename scalar_t>
__global__ void __launch_bounds__(kVecThreads)
    kv_partial_vec32_kernel(const scalar_t* __restrict__ k, Strides4 ks, const scalar_t* __restrict__ v, Strides4 vs,
                            int64_t heads, int64_t tokens, float* __restrict__ partial) {
    constexpr int D = 32;
    constexpr int kN = 16 / sizeof(scalar_t);
    constexpr int kVecsPerRow = D / kN;
    constexpr int kGroup = kVecThreads / 2;  // 64 threads: an 8 × 8 grid of 4 × 4 blocks
    __shared__ __align__(16) float k_tile[kVecTileRows][D];
    __shared__ __align__(16) float v_tile[kVecTileRows][D];
    __shared__ __align__(16) float second[kGroup][20];  // the second group's 16 sums and 4 k sums

    const auto [k_bh, v_bh, row_begin, slot] = pass1_block(k, ks, v, vs, heads, kVecChunkRows);
    const int64_t row_end = min_i64(tokens, row_begin + kVecChunkRows);

    const int tid = threadIdx.x;
    const int group = tid / kGroup;
    const int u = tid % kGroup;
    const int d0 = (u / 8) * 4;
    const int e0 = (u % 8) * 4;
    float acc[4][4] = {};
    float k_sum[4] = {};
    for (int64_t row0 = row_begin; row0 < row_end; row0 += kVecTileRows) {
        for (int i = tid; i < kVecTileRows * kVecsPerRow; i += kVecThreads) {
            const int r = i / kVecsPerRow;
            const int cv = i % kVecsPerRow;
            const int64_t n = row0 + r;
            Vec16<scalar_t> ku, vu;
            if (n < row_end) {
                ku.raw = *reinterpret_cast<const uint4*>(k_bh + n * ks.n + cv * kN);
                vu.raw = *reinterpret_cast<const uint4*>(v_bh + n * vs.n + cv * kN);
            } else {
                ku.raw = make_uint4(0, 0, 0, 0);
                vu.raw = make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int j = 0; j < kN; j += 4) {
                *reinterpret_cast<float4*>(&k_tile[r][cv * kN + j]) =
                    make_float4(fmaxf(to_float(ku.v[j]), 0.0f), fmaxf(to_float(ku.v[j + 1]), 0.0f),
                                fmaxf(to_float(ku.v[j + 2]), 0.0f), fmaxf(to_float(ku.v[j + 3]), 0.0f));
                *reinterpret_cast<float4*>(&v_tile[r][cv * kN + j]) = make_float4(
                    to_float(vu.v[j]), to_float(vu.v[j + 1]), to_float(vu.v[j + 2]), to_float(vu.v[j + 3]));
            }
        }
        __syncthreads();
#pragma unroll 4
        for (int r = group; r < kVecTileRows; r += 2) {
            const float4 kk = *reinterpret_cast<const float4*>(&k_tile[r][d0]);
            const float4 vv = *reinterpret_cast<const float4*>(&v_tile[r][e0]);
            const float kd[4] = {kk.x, kk.y, kk.z, kk.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                acc[i][0] = fmaf(kd[i], vv.x, acc[i][0]);
                acc[i][1] = fmaf(kd[i], vv.y, acc[i][1]);
                acc[i][2] = fmaf(kd[i], vv.z, acc[i][2]);
                acc[i][3] = fmaf(kd[i], vv.w, acc[i][3]);
                k_sum[i] += kd[i];
            }
        }
        __syncthreads();
    }
    if (group == 1) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            *reinterpret_cast<float4*>(&second[u][4 * i]) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        }
        *reinterpret_cast<float4*>(&second[u][16]) = make_float4(k_sum[0], k_sum[1], k_sum[2], k_sum[3]);
    }
    __syncthreads();
    if (group == 1) {
        return;
    }
    float* out = partial + slot * kv_block_size<D>();
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float4 o = *reinterpret_cast<const float4*>(&second[u][4 * i]);
        *reinterpret_cast<float4*>(&out[(d0 + i) * D + e0]) =
            make_float4(acc[i][0] + o.x, acc[i][1] + o.y, acc[i][2] + o.z, acc[i][3] + o.w);
    }
    if (e0 == 0) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            out[D * D + d0 + i] = k_sum[i] + second[u][16 + i];
        }
    }
}

// Pass 2: two threads per token, each computing half of the token's outputs (one thread per token held num[D] and
// q[D] in registers: 72 registers for D = 32, occupancy 44 % on an H200, and its profile asked for more warps);
// grid (B·H, ceil(N / kVecOutRows)).
template <typename scalar_t, int D>
__global__ void __launch_bounds__(kVecThreads)
    output_vec_kernel(const scalar_t* __restrict__ q, Strides4 qs, const float* __restrict__ kv, int64_t heads,
                      int64_t tokens, float eps, scalar_t* __restrict__ out, Strides4 os) {
    constexpr int kN = 16 / sizeof(scalar_t);
    constexpr int kHalf = D / kVecSplit;  // outputs of one thread
    static_assert(kHalf % kN == 0, "a thread's outputs are whole 16-byte vectors");
    __shared__ __align__(16) float kv_s[D][D];
    __shared__ float ks_s[D];
    const int64_t bh = blockIdx.x;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    load_kv<D>(kv + bh * kv_block_size<D>(), kv_s, ks_s);

    const int64_t n = static_cast<int64_t>(blockIdx.y) * kVecOutRows + threadIdx.x / kVecSplit;
    const int e0 = (threadIdx.x % kVecSplit) * kHalf;
    if (n >= tokens) {
        return;
    }
    const scalar_t* q_n = q + b * qs.b + h * qs.h + n * qs.n;
    float qv[D];
#pragma unroll
    for (int cv = 0; cv < D / kN; ++cv) {
        Vec16<scalar_t> u;
        u.raw = reinterpret_cast<const uint4*>(q_n)[cv];
#pragma unroll
        for (int j = 0; j < kN; ++j) {
            qv[cv * kN + j] = fmaxf(to_float(u.v[j]), 0.0f);
        }
    }
    float num[kHalf];
#pragma unroll
    for (int e = 0; e < kHalf; ++e) {
        num[e] = 0.0f;
    }
    float den = 0.0f;
#pragma unroll
    for (int dd = 0; dd < D; ++dd) {
        const float qd = qv[dd];
        den = fmaf(qd, ks_s[dd], den);
#pragma unroll
        for (int e = 0; e < kHalf; e += 4) {
            const float4 w = *reinterpret_cast<const float4*>(&kv_s[dd][e0 + e]);
            num[e] = fmaf(qd, w.x, num[e]);
            num[e + 1] = fmaf(qd, w.y, num[e + 1]);
            num[e + 2] = fmaf(qd, w.z, num[e + 2]);
            num[e + 3] = fmaf(qd, w.w, num[e + 3]);
        }
    }
    const float denominator = den + eps;
    scalar_t* out_n = out + b * os.b + h * os.h + n * os.n + e0;
#pragma unroll
    for (int cv = 0; cv < kHalf / kN; ++cv) {
        Vec16<scalar_t> u;
#pragma unroll
        for (int j = 0; j < kN; ++j) {
            u.v[j] = from_float<scalar_t>(num[cv * kN + j] / denominator);
        }
        reinterpret_cast<uint4*>(out_n)[cv] = u.raw;
    }
}

// ---- both passes on tensor cores (bfloat16, D = 32) ---------------------------------------------------------------
//
// The FMA output pass above spends ≈ 23 µs a call at Sana 1600M's 1024² shape (70 heads, batch 2) on ≈ 18 MB of
// traffic: 32 FMAs per output value and a reload of KV per 64 tokens. Here out = relu(q) · [KV | ks] is an m16n8k16
// product per 16 tokens: relu(q) is exact in bfloat16, and KV (float32) enters as two bfloat16 terms, hi = bf16(KV)
// and lo = bf16(KV - hi), so the float32-accumulated product carries KV to ≈ 2^-17 of its value (the output is then
// rounded to bfloat16, 2^-9). The reduction of the chunks writes KV and Σk already split and laid out as each lane's
// B fragments: the output kernel loads them with ten 16-byte loads per lane, no shared memory, no barrier.

constexpr int kMmaWarps = 4;                       // warps of the output kernel, 16 tokens each
constexpr int kMmaRows = kMmaWarps * 16;           // tokens per output block
constexpr int kFragWords = 5 * 2 * 2 * 2;          // n-tiles (4 of KV, 1 of Σk) · k steps · (hi, lo) · (b0, b1)
constexpr int kFragBlock = kFragWords * 32;        // 32-bit words per (batch, head): every lane's fragments

// Fragment word w of a lane: w = ((tile · 2 + step) · 2 + part) · 2 + reg; stored at (w / 4) · 128 + lane · 4 + w % 4
// so that a lane's ten uint4 loads are each 512 contiguous bytes across the warp.
__host__ __device__ constexpr int frag_word(int tile, int step, int part, int reg) {
    return ((tile * 2 + step) * 2 + part) * 2 + reg;
}

// Sums the chunks' partials in chunk order (chunk_sum, as reduce_chunks_kernel) and writes them as B fragments:
// B[k][n] = KV[k][n] (tiles 0-3: n = 8 · tile + g) or Σk[k] in column 0 of tile 4. grid (B·H), kThreads threads.
__global__ void __launch_bounds__(kThreads)
    reduce_chunks_frag32_kernel(const float* __restrict__ partial, int num_chunks, uint32_t* __restrict__ frag) {
    constexpr int D = 32;
    constexpr int kSize = kv_block_size<D>();
    __shared__ float sums[kSize];
    const int64_t bh = blockIdx.x;
    for (int p = threadIdx.x; p < kSize; p += kThreads) {
        sums[p] = chunk_sum<D>(partial, bh, num_chunks, p);
    }
    __syncthreads();
    uint32_t* out = frag + bh * kFragBlock;
    for (int i = threadIdx.x; i < kFragBlock; i += kThreads) {
        const int w = (i / 128) * 4 + i % 4;  // the word of lane (i % 128) / 4
        const int lane = (i % 128) / 4;
        const int reg = w % 2, part = (w / 2) % 2, step = (w / 4) % 2, tile = w / 8;
        const int g = lane >> 2, t = lane & 3;
        const int k0 = 16 * step + 8 * reg + 2 * t;  // the pair k0, k0 + 1 along the reduction (q's features)
        float x[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            x[e] = tile < 4 ? sums[(k0 + e) * D + 8 * tile + g] : (g == 0 ? sums[D * D + k0 + e] : 0.0f);
        }
        float v[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            const float hi = __bfloat162float(__float2bfloat16_rn(x[e]));
            v[e] = part == 0 ? hi : x[e] - hi;
        }
        out[i] = pack_bf16(v[0], v[1]);
    }
}

// Pass 1 on tensor cores: one chunk of kVecChunkRows tokens, KV = relu(K)ᵀ V and Σk = relu(K)ᵀ 1 as m16n8k16 products
// over the tokens (bfloat16 products are exact, the sums float32, as in the FMA kernel; only their order differs).
// The chunk's relu(K) and V sit in shared memory as bfloat16 rows padded to 80 bytes (conflict-free ldmatrix); warp w
// owns rows d of KV in 16 · (w % 2) .. + 15 and columns e in 16 · (w / 2) .. + 15, and warps 2 and 3 also Σk of their
// rows (an n-tile of B with ones in column 0). Writes the partial-sum layout of kv_partial_vec32_kernel.
// grid (B·H, chunks), kMmaWarps · 32 threads.
__global__ void __launch_bounds__(kMmaWarps * 32)
    kv_partial_mma32_kernel(const __nv_bfloat16* __restrict__ k, Strides4 ks, const __nv_bfloat16* __restrict__ v,
                            Strides4 vs, int64_t heads, int64_t tokens, float* __restrict__ partial) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int D = 32;
    constexpr int kRow = D + 8;  // elements
    __shared__ __align__(16) __nv_bfloat16 k_s[kVecChunkRows][kRow];
    __shared__ __align__(16) __nv_bfloat16 v_s[kVecChunkRows][kRow];
    const auto [k_bh, v_bh, row_begin, slot] = pass1_block(k, ks, v, vs, heads, kVecChunkRows);
    const __nv_bfloat162 zero = __float2bfloat162_rn(0.0f);
    for (int i = threadIdx.x; i < kVecChunkRows * (D / 8); i += kMmaWarps * 32) {
        const int r = i / (D / 8);
        const int c = (i % (D / 8)) * 8;
        const int64_t n = row_begin + r;
        uint4 ku = make_uint4(0, 0, 0, 0), vu = make_uint4(0, 0, 0, 0);
        if (n < tokens) {
            ku = *reinterpret_cast<const uint4*>(k_bh + n * ks.n + c);
            vu = *reinterpret_cast<const uint4*>(v_bh + n * vs.n + c);
            __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&ku);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                pairs[j] = __hmax2(pairs[j], zero);
            }
        }
        *reinterpret_cast<uint4*>(&k_s[r][c]) = ku;
        *reinterpret_cast<uint4*>(&v_s[r][c]) = vu;
    }
    __syncthreads();

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int mat = lane >> 3, mrow = lane & 7;
    const int d0 = 16 * (warp & 1);
    const int e0 = 16 * (warp >> 1);
    const bool sums_k = (warp >> 1) == 1;
    const uint32_t ones = g == 0 ? 0x3f803f80u : 0u;  // bfloat16 1.0 in both halves, column 0 only
    float c[3][4] = {};
#pragma unroll
    for (int step = 0; step < kVecChunkRows / 16; ++step) {
        const int tok0 = 16 * step;
        // A = relu(K)ᵀ: matrices (d block, token block) = (0, 0), (1, 0), (0, 1), (1, 1), each K's [8 tokens × 8 d]
        // transposed.
        uint32_t a[4];
        ldmatrix_x4_trans(a, &k_s[tok0 + 8 * (mat >> 1) + mrow][d0 + 8 * (mat & 1)]);
        // B = V: matrices (token block, e block) = (0, 0), (1, 0), (0, 1), (1, 1).
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, &v_s[tok0 + 8 * (mat & 1) + mrow][e0 + 8 * (mat >> 1)]);
        mma_bf16_16816(c[0], a, bv[0], bv[1]);
        mma_bf16_16816(c[1], a, bv[2], bv[3]);
        if (sums_k) {
            mma_bf16_16816(c[2], a, ones, ones);
        }
    }
    float* out = partial + slot * kv_block_size<D>();
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int d = d0 + g + 8 * r;
#pragma unroll
        for (int n = 0; n < 2; ++n) {
            *reinterpret_cast<float2*>(&out[d * D + e0 + 8 * n + 2 * t]) = make_float2(c[n][2 * r], c[n][2 * r + 1]);
        }
        if (sums_k && t == 0) {
            out[D * D + d] = c[2][2 * r];
        }
    }
#endif
}

// out_n = (relu(q_n) · KV) / (relu(q_n) · ks + eps) for 16 tokens a warp. grid (B·H, ceil(N / kMmaRows)).
__global__ void __launch_bounds__(kMmaWarps * 32)
    output_mma32_kernel(const __nv_bfloat16* __restrict__ q, Strides4 qs, const uint32_t* __restrict__ frag,
                        int64_t heads, int64_t tokens, float eps, __nv_bfloat16* __restrict__ out, Strides4 os) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int64_t bh = blockIdx.x;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kMmaRows + warp * 16;
    if (row0 >= tokens) {
        return;
    }
    uint32_t bw[kFragWords];
    const uint4* src = reinterpret_cast<const uint4*>(frag + bh * kFragBlock) + lane;
#pragma unroll
    for (int i = 0; i < kFragWords / 4; ++i) {
        const uint4 u = src[i * 32];
        bw[4 * i] = u.x;
        bw[4 * i + 1] = u.y;
        bw[4 * i + 2] = u.z;
        bw[4 * i + 3] = u.w;
    }
    // relu(q) as A fragments (rows g and g + 8; a0/a1 and a2/a3 the step's first 8 columns, a4.. the next 8).
    const int64_t rows[2] = {row0 + g, row0 + g + 8};
    const __nv_bfloat16* q_bh = q + b * qs.b + h * qs.h;
    const __nv_bfloat162 zero = __float2bfloat162_rn(0.0f);
    uint32_t qa[2][4];
#pragma unroll
    for (int step = 0; step < 2; ++step) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                __nv_bfloat162 pair = zero;
                if (rows[r] < tokens) {
                    pair = *reinterpret_cast<const __nv_bfloat162*>(q_bh + rows[r] * qs.n + 16 * step + 8 * half + 2 * t);
                    pair = __hmax2(pair, zero);
                }
                qa[step][half * 2 + r] = *reinterpret_cast<const uint32_t*>(&pair);
            }
        }
    }
    float c[5][4];
#pragma unroll
    for (int tile = 0; tile < 5; ++tile) {
        c[tile][0] = c[tile][1] = c[tile][2] = c[tile][3] = 0.0f;
#pragma unroll
        for (int step = 0; step < 2; ++step) {
#pragma unroll
            for (int part = 0; part < 2; ++part) {
                mma_bf16_16816(c[tile], qa[step], bw[frag_word(tile, step, part, 0)],
                               bw[frag_word(tile, step, part, 1)]);
            }
        }
    }
    // The denominators sit in column 0 of tile 4: lane 4g holds rows g (c[4][0]) and g + 8 (c[4][2]).
    const float den[2] = {__shfl_sync(kFullMask, c[4][0], lane & ~3) + eps,
                          __shfl_sync(kFullMask, c[4][2], lane & ~3) + eps};
    __nv_bfloat16* out_bh = out + b * os.b + h * os.h;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (rows[r] >= tokens) {
            continue;
        }
        __nv_bfloat16* dst = out_bh + rows[r] * os.n + 2 * t;
#pragma unroll
        for (int tile = 0; tile < 4; ++tile) {
            *reinterpret_cast<uint32_t*>(dst + 8 * tile) =
                pack_bf16(c[tile][2 * r] / den[r], c[tile][2 * r + 1] / den[r]);
        }
    }
#endif
}

template <typename scalar_t, int DMAX>
void launch_vec(const scalar_t* q, Strides4 qs, const scalar_t* k, Strides4 ks, const scalar_t* v, Strides4 vs,
                int64_t batch, int64_t heads, int64_t tokens, float eps, const LinearAttentionPlan& plan,
                float* partial, float* kv, scalar_t* out, Strides4 os, cudaStream_t stream) {
    const int64_t bh = batch * heads;
    const dim3 pass1_grid(static_cast<unsigned>(bh), static_cast<unsigned>(plan.chunks));
    if constexpr (DMAX == 32 && std::is_same_v<scalar_t, __nv_bfloat16>) {
        if (plan.mma) {  // the tensor-core form: partial sums, their reduction into fragments, the output
            kv_partial_mma32_kernel<<<pass1_grid, kMmaWarps * 32, 0, stream>>>(k, ks, v, vs, heads, tokens, partial);
            auto* frag = reinterpret_cast<uint32_t*>(kv);
            reduce_chunks_frag32_kernel<<<static_cast<unsigned>(bh), kThreads, 0, stream>>>(
                partial, static_cast<int>(plan.chunks), frag);
            output_mma32_kernel<<<dim3(static_cast<unsigned>(bh), static_cast<unsigned>(plan.output_blocks_y)),
                                  kMmaWarps * 32, 0, stream>>>(q, qs, frag, heads, tokens, eps, out, os);
            return;
        }
    }
    if constexpr (DMAX == 32) {
        kv_partial_vec32_kernel<scalar_t><<<pass1_grid, kVecThreads, 0, stream>>>(k, ks, v, vs, heads, tokens, partial);
    } else {
        kv_partial_vec_kernel<scalar_t, DMAX><<<pass1_grid, kVecThreads, 0, stream>>>(k, ks, v, vs, heads, tokens,
                                                                                       partial);
    }
    const float* summed = partial;
    if (plan.chunks > 1) {
        reduce_chunks_kernel<DMAX>
            <<<static_cast<unsigned>(bh), kThreads, 0, stream>>>(partial, static_cast<int>(plan.chunks), kv);
        summed = kv;
    }
    output_vec_kernel<scalar_t, DMAX>
        <<<dim3(static_cast<unsigned>(bh), static_cast<unsigned>(plan.output_blocks_y)), kVecThreads, 0, stream>>>(
            q, qs, summed, heads, tokens, eps, out, os);
}

// Rows of 16-byte vectors: features contiguous, token / head / batch strides whole vectors, aligned base.
bool vector_rows(const void* p, Strides4 s, int elem_bytes) {
    const int64_t n = 16 / elem_bytes;
    return s.d == 1 && s.n % n == 0 && s.h % n == 0 && s.b % n == 0 && aligned16(p);
}
}  // namespace

bool relu_linear_attention_vectorizable(DType dtype, const void* q, Strides4 q_strides, const void* k,
                                        Strides4 k_strides, const void* v, Strides4 v_strides, const void* out,
                                        Strides4 out_strides, int d_k, int d_v) {
    const int bytes = dtype == DType::kFloat32 ? 4 : 2;
    return d_k == d_v && (d_k == 32 || d_k == 64) && vector_rows(q, q_strides, bytes) &&
           vector_rows(k, k_strides, bytes) && vector_rows(v, v_strides, bytes) && vector_rows(out, out_strides, bytes);
}

LinearAttentionPlan plan_relu_linear_attention(int64_t batch_heads, int64_t tokens, int head_dim, bool token_contiguous,
                                               int num_sms, bool vectorized, bool mma) {
    LinearAttentionPlan plan;
    plan.dmax = head_dim <= 32 ? 32 : 64;
    plan.vectorized = vectorized;
    const int64_t block = static_cast<int64_t>(plan.dmax) * plan.dmax + plan.dmax;
    if (vectorized && mma && head_dim == 32) {
        plan.mma = true;
        plan.rows_per_chunk = kVecChunkRows;
        plan.chunks = ceil_div(tokens, kVecChunkRows);
        plan.partial_floats = batch_heads * plan.chunks * block;
        plan.kv_floats = batch_heads * kFragBlock;  // the fragments, 32-bit words
        plan.output_blocks_y = ceil_div(tokens, kMmaRows);
        return plan;
    }
    if (vectorized) {
        plan.rows_per_chunk = kVecChunkRows;
        plan.chunks = ceil_div(tokens, kVecChunkRows);
        plan.partial_floats = batch_heads * plan.chunks * block;
        plan.kv_floats = plan.chunks > 1 ? batch_heads * block : 0;
        plan.output_blocks_y = ceil_div(tokens, kVecOutRows);
        return plan;
    }
    // Chunks of at least 64 tokens (a multiple of the tile), enough of them for about two blocks per SM.
    const int64_t max_chunks = std::max<int64_t>(1, ceil_div(tokens, 64));
    int64_t chunks = std::min<int64_t>(max_chunks, std::max<int64_t>(1, ceil_div(2 * static_cast<int64_t>(num_sms),
                                                                                 std::max<int64_t>(1, batch_heads))));
    chunks = std::min<int64_t>(chunks, kMaxGridY);
    plan.rows_per_chunk = std::max<int64_t>(kTileRows, ceil_div(ceil_div(tokens, chunks), kTileRows) * kTileRows);
    plan.chunks = std::max<int64_t>(1, ceil_div(tokens, plan.rows_per_chunk));
    plan.partial_floats = batch_heads * plan.chunks * block;
    plan.kv_floats = plan.chunks > 1 ? batch_heads * block : 0;
    plan.output_blocks_y = ceil_div(tokens, token_contiguous ? kThreads : kRowsPerBlock);
    return plan;
}

cudaError_t relu_linear_attention(DType dtype, const void* q, Strides4 q_strides, const void* k, Strides4 k_strides,
                                  const void* v, Strides4 v_strides, int64_t batch, int64_t heads, int64_t tokens,
                                  int d_k, int d_v, float eps, const LinearAttentionPlan& plan, float* partial,
                                  float* kv, void* out, Strides4 out_strides, cudaStream_t stream) {
    const int64_t bh = batch * heads;
    const bool token_contiguous = !(q_strides.d == 1 || q_strides.n != 1);
    if (bh <= 0 || bh > kMaxGridX || tokens <= 0 || d_k <= 0 || d_v <= 0 || d_k > plan.dmax || d_v > plan.dmax ||
        plan.chunks < 1 || plan.chunks > kMaxGridY || plan.output_blocks_y < 1 || plan.output_blocks_y > kMaxGridY ||
        (plan.chunks > 1 && kv == nullptr) || partial == nullptr) {
        return cudaErrorInvalidValue;
    }
    if (plan.mma) {
        if (dtype != DType::kBFloat16 || d_k != 32 || !plan.vectorized || kv == nullptr ||
            !relu_linear_attention_vectorizable(dtype, q, q_strides, k, k_strides, v, v_strides, out, out_strides, d_k,
                                                d_v) ||
            plan.output_blocks_y != ceil_div(tokens, kMmaRows) || plan.chunks != ceil_div(tokens, kVecChunkRows)) {
            return cudaErrorInvalidValue;
        }
    } else if (plan.vectorized) {
        if (!relu_linear_attention_vectorizable(dtype, q, q_strides, k, k_strides, v, v_strides, out, out_strides, d_k,
                                                d_v) ||
            d_k != plan.dmax || plan.output_blocks_y != ceil_div(tokens, kVecOutRows) ||
            plan.chunks != ceil_div(tokens, kVecChunkRows)) {
            return cudaErrorInvalidValue;
        }
    } else if (plan.output_blocks_y != ceil_div(tokens, token_contiguous ? kThreads : kRowsPerBlock)) {
        return cudaErrorInvalidValue;
    }
    const bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        const auto* qp = static_cast<const scalar_t*>(q);
        const auto* kp = static_cast<const scalar_t*>(k);
        const auto* vp = static_cast<const scalar_t*>(v);
        auto* op = static_cast<scalar_t*>(out);
        if (plan.vectorized) {
            if (plan.dmax == 32) {
                launch_vec<scalar_t, 32>(qp, q_strides, kp, k_strides, vp, v_strides, batch, heads, tokens, eps, plan,
                                         partial, kv, op, out_strides, stream);
            } else {
                launch_vec<scalar_t, 64>(qp, q_strides, kp, k_strides, vp, v_strides, batch, heads, tokens, eps, plan,
                                         partial, kv, op, out_strides, stream);
            }
        } else if (plan.dmax == 32) {
            launch<scalar_t, 32>(qp, q_strides, kp, k_strides, vp, v_strides, batch, heads, tokens, d_k, d_v, eps, plan,
                                 partial, kv, op, out_strides, stream);
        } else {
            launch<scalar_t, 64>(qp, q_strides, kp, k_strides, vp, v_strides, batch, heads, tokens, d_k, d_v, eps, plan,
                                 partial, kv, op, out_strides, stream);
        }
    });
    if (!ok) {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

}  // namespace kernels::cuda
