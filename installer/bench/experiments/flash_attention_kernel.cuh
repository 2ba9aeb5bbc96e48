// Experiment (thirteenth session, not built into Kinora: see flash_attention_probe.cu and docs/PERFORMANCE.md): a flash
// kernel for attention over a short key sequence with a per-key bias, Sana's cross-attention, where every query of a
// sample attends to the caption's ≤ 300 keys under the caption's padding bias. Measured slower than cuDNN's SDPA.
//
// A block takes 64 queries of one (batch, head), a warp 16 of them, and streams the head's keys and values through
// shared memory in tiles of 64 (cp.async, two buffers: the next tile loads while this one is used). Per tile and warp:
//   S = Q Kᵀ (m16n8k16 MMAs, Q's fragments in registers for the whole loop, K's from ldmatrix),
//   S · scale + bias in the log2 domain, the running row maximum m and sum l updated (online softmax, float32),
//   O = O · 2^(m_old - m_new) + P V (P rounded to the input type as the A operand straight from S's accumulators,
//   V's fragments from ldmatrix.trans).
// Keys past L are zero-filled and get a bias of -inf; a masked key's finite bias (-10000 from the padding mask) is
// applied as given, so its weight is what softmax gives it (0 in float32 next to any unmasked key).
#include <cmath>

#include "common.cuh"  // kernels/src/cuda (-I)

namespace kernels::cuda {
namespace {

// Helpers beyond common.cuh's (pack_bf16, mma_bf16_16816, ldmatrix_x4_trans).
// ldmatrix without the transpose: r[i] receives row g, elements 2t, 2t + 1 of matrix i.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// 16 bytes global → shared (cp.async); valid = false writes 16 zero bytes (src must still be a mapped address).
__device__ __forceinline__ void cp_async16(void* smem, const void* src, bool valid) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(src), "r"(bytes) : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int pending>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
}

constexpr int kFaWarps = 4;
constexpr int kFaThreads = kFaWarps * 32;
constexpr int kFaQueries = 16 * kFaWarps;  // queries a block
constexpr int kFaKeys = 64;                // keys a tile
constexpr float kLog2e = 1.4426950408889634f;

template <int D>
constexpr int fa_row() {
    // A shared-memory row: D values and 16 bytes of padding, an odd number of 16-byte chunks (D = 64, 112: 9, 15), so
    // that the eight rows an ldmatrix reads fall in different banks.
    return D + 8;
}

template <int D>
constexpr size_t fa_shared_bytes() {
    return 2 * 2 * kFaKeys * fa_row<D>() * 2 + 2 * kFaKeys * sizeof(float);  // K and V, two buffers each; the bias
}

// grid (ceil(N / kFaQueries), H, B), kFaThreads threads, fa_shared_bytes<D>() of dynamic shared memory.
using T = __nv_bfloat16;  // the only type measured (Sana's)

template <int D>
__global__ void __launch_bounds__(kFaThreads)
    flash_attention_kernel(const T* __restrict__ q, Strides4 qs, const T* __restrict__ k, Strides4 ks,
                           const T* __restrict__ v, Strides4 vs, const T* __restrict__ bias, int64_t bias_b,
                           int64_t queries, int64_t keys, float scale_log2, T* __restrict__ out, Strides4 os) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int kRow = fa_row<D>();
    constexpr int kSteps = D / 16;  // k-steps of S = Q Kᵀ; dimension pairs of O
    constexpr int kChunks = D / 8;  // 16-byte chunks of a row
    extern __shared__ __align__(16) unsigned char fa_smem[];
    T* k_s = reinterpret_cast<T*>(fa_smem);          // [2][kFaKeys][kRow]
    T* v_s = k_s + 2 * kFaKeys * kRow;                // [2][kFaKeys][kRow]
    float* b_s = reinterpret_cast<float*>(v_s + 2 * kFaKeys * kRow);  // [2][kFaKeys], log2 domain

    const int64_t b = blockIdx.z;
    const int64_t h = blockIdx.y;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const T* k_bh = k + b * ks.b + h * ks.h;
    const T* v_bh = v + b * vs.b + h * vs.h;
    const T* bias_b_ptr = bias != nullptr ? bias + b * bias_b : nullptr;
    const int num_tiles = static_cast<int>((keys + kFaKeys - 1) / kFaKeys);

    auto load_tile = [&](int tile, int buf) {
        const int64_t key0 = static_cast<int64_t>(tile) * kFaKeys;
        for (int i = threadIdx.x; i < kFaKeys * kChunks; i += kFaThreads) {
            const int r = i / kChunks;
            const int c = (i % kChunks) * 8;
            const int64_t key = key0 + r;
            const bool valid = key < keys;
            cp_async16(k_s + (buf * kFaKeys + r) * kRow + c, valid ? k_bh + key * ks.n + c : k_bh, valid);
            cp_async16(v_s + (buf * kFaKeys + r) * kRow + c, valid ? v_bh + key * vs.n + c : v_bh, valid);
        }
        if (threadIdx.x < kFaKeys) {
            const int64_t key = key0 + threadIdx.x;
            float bv = -INFINITY;
            if (key < keys) {
                bv = bias_b_ptr != nullptr ? to_float(bias_b_ptr[key]) * kLog2e : 0.0f;
            }
            b_s[buf * kFaKeys + threadIdx.x] = bv;
        }
        cp_async_commit();
    };
    // Q's 64 rows go through the second V buffer (free until tile 1 loads) with 16-byte copies, then into registers
    // as A fragments (ldmatrix: matrices rows 0-7 / 8-15 × columns 0-7 / 8-15 of each 16-column step).
    const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kFaQueries;
    const T* q_bh = q + b * qs.b + h * qs.h;
    T* q_s = v_s + kFaKeys * kRow;
    for (int i = threadIdx.x; i < kFaQueries * kChunks; i += kFaThreads) {
        const int r = i / kChunks;
        const int c = (i % kChunks) * 8;
        const bool valid = q0 + r < queries;
        cp_async16(q_s + r * kRow + c, valid ? q_bh + (q0 + r) * qs.n + c : q_bh, valid);
    }
    cp_async_commit();
    load_tile(0, 0);
    cp_async_wait<1>();  // Q has landed (tile 0 may still be in flight)
    __syncthreads();
    uint32_t qa[kSteps][4];
#pragma unroll
    for (int step = 0; step < kSteps; ++step) {
        ldmatrix_x4(qa[step], q_s + (16 * warp + (lane & 7) + ((lane >> 3) & 1) * 8) * kRow + 16 * step +
                                  (lane >> 4) * 8);
    }
    __syncthreads();  // q_s is tile 1's V buffer

    float o[2 * kSteps][4];
#pragma unroll
    for (int i = 0; i < 2 * kSteps; ++i) {
        o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    }
    float m[2] = {-INFINITY, -INFINITY};  // running row maxima (log2 domain), rows g and g + 8
    float l[2] = {0.0f, 0.0f};            // this thread's share of the running row sums

    for (int tile = 0; tile < num_tiles; ++tile) {
        const int buf = tile & 1;
        if (tile + 1 < num_tiles) {
            load_tile(tile + 1, buf ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const T* kt = k_s + buf * kFaKeys * kRow;
        const T* vt = v_s + buf * kFaKeys * kRow;
        const float* bt = b_s + buf * kFaKeys;

        // S = Q Kᵀ: n-tiles of 8 keys; ldmatrix x4 gives two n-tiles' b0 / b1 (keys 16j .. 16j + 15).
        float s[kFaKeys / 8][4];
#pragma unroll
        for (int j = 0; j < kFaKeys / 8; ++j) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
        }
#pragma unroll
        for (int step = 0; step < kSteps; ++step) {
#pragma unroll
            for (int jj = 0; jj < kFaKeys / 16; ++jj) {
                uint32_t bk[4];
                ldmatrix_x4(bk, kt + (16 * jj + (lane & 7) + ((lane >> 4) << 3)) * kRow + 16 * step +
                                    ((lane >> 3) & 1) * 8);
                mma_bf16_16816(s[2 * jj], qa[step], bk[0], bk[1]);
                mma_bf16_16816(s[2 * jj + 1], qa[step], bk[2], bk[3]);
            }
        }

        // Online softmax in the log2 domain: x = s · scale · log2(e) + bias · log2(e).
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < kFaKeys / 8; ++j) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const float bb = bt[8 * j + 2 * t + e];
                s[j][e] = fmaf(s[j][e], scale_log2, bb);
                s[j][2 + e] = fmaf(s[j][2 + e], scale_log2, bb);
                mx[0] = fmaxf(mx[0], s[j][e]);
                mx[1] = fmaxf(mx[1], s[j][2 + e]);
            }
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(kFullMask, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(kFullMask, mx[r], 2));
        }
        // Tile 0 always holds a key (keys ≥ 1) with a finite bias, so mx is finite from then on.
        const float alpha[2] = {exp2f(m[0] - mx[0]), exp2f(m[1] - mx[1])};
        m[0] = mx[0];
        m[1] = mx[1];
        float sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int j = 0; j < kFaKeys / 8; ++j) {
            s[j][0] = exp2f(s[j][0] - mx[0]);
            s[j][1] = exp2f(s[j][1] - mx[0]);
            s[j][2] = exp2f(s[j][2] - mx[1]);
            s[j][3] = exp2f(s[j][3] - mx[1]);
            sum[0] += s[j][0] + s[j][1];
            sum[1] += s[j][2] + s[j][3];
        }
        l[0] = l[0] * alpha[0] + sum[0];
        l[1] = l[1] * alpha[1] + sum[1];
#pragma unroll
        for (int i = 0; i < 2 * kSteps; ++i) {
            o[i][0] *= alpha[0];
            o[i][1] *= alpha[0];
            o[i][2] *= alpha[1];
            o[i][3] *= alpha[1];
        }

        // O += P V: k-steps of 16 keys; P's A fragment is S's accumulators of n-tiles 2jj and 2jj + 1.
#pragma unroll
        for (int jj = 0; jj < kFaKeys / 16; ++jj) {
            const uint32_t pa[4] = {pack_bf16(s[2 * jj][0], s[2 * jj][1]), pack_bf16(s[2 * jj][2], s[2 * jj][3]),
                                    pack_bf16(s[2 * jj + 1][0], s[2 * jj + 1][1]),
                                    pack_bf16(s[2 * jj + 1][2], s[2 * jj + 1][3])};
#pragma unroll
            for (int i = 0; i < kSteps; ++i) {
                uint32_t bv[4];
                ldmatrix_x4_trans(bv, vt + (16 * jj + (lane & 7) + ((lane >> 3) & 1) * 8) * kRow + 16 * i +
                                          (lane >> 4) * 8);
                mma_bf16_16816(o[2 * i], pa, bv[0], bv[1]);
                mma_bf16_16816(o[2 * i + 1], pa, bv[2], bv[3]);
            }
        }
        __syncthreads();  // this buffer is loaded again two tiles on
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(kFullMask, l[r], 1);
        l[r] += __shfl_xor_sync(kFullMask, l[r], 2);
    }
    const float inv[2] = {1.0f / l[0], 1.0f / l[1]};
    // The warp's 16 rows are staged in the first K buffer (free after the loop's last barrier), then stored as
    // 16-byte vectors along the rows.
    T* o_s = k_s + 16 * warp * kRow;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
        for (int i = 0; i < 2 * kSteps; ++i) {
            *reinterpret_cast<uint32_t*>(o_s + (g + 8 * r) * kRow + 8 * i + 2 * t) =
                pack_bf16(o[i][2 * r] * inv[r], o[i][2 * r + 1] * inv[r]);
        }
    }
    __syncwarp();
    T* out_bh = out + b * os.b + h * os.h;
    const int64_t warp_row0 = q0 + 16 * warp;
    for (int i = lane; i < 16 * kChunks; i += 32) {
        const int r = i / kChunks;
        const int c = (i % kChunks) * 8;
        if (warp_row0 + r < queries) {
            *reinterpret_cast<uint4*>(out_bh + (warp_row0 + r) * os.n + c) =
                *reinterpret_cast<const uint4*>(o_s + r * kRow + c);
        }
    }
#endif
}

bool vector_rows16(const void* p, Strides4 s) {
    return s.d == 1 && s.n % 8 == 0 && s.h % 8 == 0 && s.b % 8 == 0 && aligned16(p);
}

template <int D>
cudaError_t launch_flash(const T* q, Strides4 qs, const T* k, Strides4 ks, const T* v, Strides4 vs, const T* bias,
                         int64_t bias_b, int64_t batch, int64_t heads, int64_t queries, int64_t keys, float scale,
                         T* out, Strides4 os, cudaStream_t stream) {
    constexpr size_t shared = fa_shared_bytes<D>();
    // More than the default 48 KB of dynamic shared memory (set on every call: the attribute belongs to the device).
    const cudaError_t configured = cudaFuncSetAttribute(
        flash_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
    if (configured != cudaSuccess) {
        return configured;
    }
    const dim3 grid(static_cast<unsigned>(ceil_div(queries, kFaQueries)), static_cast<unsigned>(heads),
                    static_cast<unsigned>(batch));
    flash_attention_kernel<D><<<grid, kFaThreads, shared, stream>>>(q, qs, k, ks, v, vs, bias, bias_b, queries, keys,
                                                                    scale * kLog2e, out, os);
    return cudaGetLastError();
}

}  // namespace

bool flash_attention_supported(DType dtype, int d, int64_t keys, const void* q, Strides4 q_strides, const void* k,
                               Strides4 k_strides, const void* v, Strides4 v_strides, const void* out,
                               Strides4 out_strides) {
    return dtype == DType::kBFloat16 && (d == 64 || d == 112) && keys >= 1 && vector_rows16(q, q_strides) &&
           vector_rows16(k, k_strides) && vector_rows16(v, v_strides) && vector_rows16(out, out_strides);
}

// bfloat16, heads of 64 (a check of the tiling at another width) or 112 (Sana 1600M's cross-attention).
cudaError_t flash_attention(DType dtype, const void* q, Strides4 q_strides, const void* k, Strides4 k_strides,
                            const void* v, Strides4 v_strides, const void* bias, int64_t bias_batch_stride,
                            int64_t batch, int64_t heads, int64_t queries, int64_t keys, int d, float scale, void* out,
                            Strides4 out_strides, cudaStream_t stream) {
    if (!flash_attention_supported(dtype, d, keys, q, q_strides, k, k_strides, v, v_strides, out, out_strides) ||
        batch < 1 || heads < 1 || queries < 1 || ceil_div(queries, kFaQueries) > kMaxGridX || heads > kMaxGridY ||
        batch > kMaxGridY) {
        return cudaErrorInvalidValue;
    }
    const auto* qp = static_cast<const T*>(q);
    const auto* kp = static_cast<const T*>(k);
    const auto* vp = static_cast<const T*>(v);
    const auto* bp = static_cast<const T*>(bias);
    auto* op = static_cast<T*>(out);
    return d == 64 ? launch_flash<64>(qp, q_strides, kp, k_strides, vp, v_strides, bp, bias_batch_stride, batch, heads,
                                      queries, keys, scale, op, out_strides, stream)
                   : launch_flash<112>(qp, q_strides, kp, k_strides, vp, v_strides, bp, bias_batch_stride, batch,
                                       heads, queries, keys, scale, op, out_strides, stream);
}

}  // namespace kernels::cuda
