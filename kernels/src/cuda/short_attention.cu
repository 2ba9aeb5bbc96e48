// Softmax attention over short sequences (kernels::short_sequence_attention): the video UNets' temporal attention
// runs over the 16 frames of every (video, position, head), tens of thousands of 16 × 16 problems a call, which the
// fused flash kernels tile in blocks of 64 × 128 and spend most of their time on (≈ 0.41 ms a call at 320 × 512 on
// an H200, against ≈ 0.05 ms of memory traffic). Here a warp holds one (batch, head) problem: 32 / LPAD lanes share a
// query row (each holds a slice of the head dim), the scores of the row stay in registers, and the keys and values
// are read straight from global memory (each row of them serves every query row of the warp from L1).
// float32 arithmetic, one rounding of the output.
#include <cmath>

#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

template <typename scalar_t, int S>
__device__ __forceinline__ void load_slice(const scalar_t* __restrict__ p, float (&f)[S]) {
    constexpr int kN = Vec16<scalar_t>::kN;
#pragma unroll
    for (int i = 0; i < S / kN; ++i) {
        Vec16<scalar_t> u;
        u.raw = reinterpret_cast<const uint4*>(p)[i];
#pragma unroll
        for (int j = 0; j < kN; ++j) f[i * kN + j] = to_float(u.v[j]);
    }
}

// LPAD: the key / query count rounded up to a power of two (8, 16 or 32); D: the head width.
template <typename scalar_t, int LPAD, int D>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    short_attention_kernel(const scalar_t* __restrict__ q, Strides4 qs, const scalar_t* __restrict__ k, Strides4 ks,
                           const scalar_t* __restrict__ v, Strides4 vs, int64_t batch_heads, int64_t heads, int lq,
                           int lk, float scale, const uint8_t* __restrict__ mask, scalar_t* __restrict__ out,
                           Strides4 os) {
    constexpr int R = 32 / LPAD;  // lanes per query row
    constexpr int S = D / R;      // head dims per lane
    const int64_t bh = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
    if (bh >= batch_heads) {
        return;
    }
    const int64_t b = bh / heads;
    const int64_t h = bh - b * heads;
    const int lane = threadIdx.x & 31;
    const int row = lane / R;
    const int part = lane % R;
    const bool active = row < lq;

    float qv[S];
    if (active) {
        load_slice<scalar_t, S>(q + b * qs.b + h * qs.h + row * qs.n + part * S, qv);
    } else {
#pragma unroll
        for (int i = 0; i < S; ++i) qv[i] = 0.0f;
    }
    const scalar_t* k_bh = k + b * ks.b + h * ks.h + part * S;
    const scalar_t* v_bh = v + b * vs.b + h * vs.h + part * S;

    float s[LPAD];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < LPAD; ++j) {
        s[j] = -INFINITY;
        if (j < lk) {  // uniform over the warp
            float kv[S];
            load_slice<scalar_t, S>(k_bh + j * ks.n, kv);
            float dot = 0.0f;
#pragma unroll
            for (int i = 0; i < S; ++i) dot = fmaf(qv[i], kv[i], dot);
#pragma unroll
            for (int offset = R / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(kFullMask, dot, offset);
            const bool keep = mask == nullptr || !active || mask[row * lk + j] != 0;
            s[j] = keep ? dot * scale : -INFINITY;
            mx = fmaxf(mx, s[j]);
        }
    }
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < LPAD; ++j) {
        s[j] = j < lk ? expf(s[j] - mx) : 0.0f;
        sum += s[j];
    }
    float acc[S];
#pragma unroll
    for (int i = 0; i < S; ++i) acc[i] = 0.0f;
#pragma unroll
    for (int j = 0; j < LPAD; ++j) {
        if (j < lk) {
            float vv[S];
            load_slice<scalar_t, S>(v_bh + j * vs.n, vv);
#pragma unroll
            for (int i = 0; i < S; ++i) acc[i] = fmaf(s[j], vv[i], acc[i]);
        }
    }
    if (!active) {
        return;
    }
    const float inv = 1.0f / sum;
    constexpr int kN = Vec16<scalar_t>::kN;
    scalar_t* o = out + b * os.b + h * os.h + row * os.n + part * S;
#pragma unroll
    for (int i = 0; i < S / kN; ++i) {
        Vec16<scalar_t> u;
#pragma unroll
        for (int j = 0; j < kN; ++j) u.v[j] = from_float<scalar_t>(acc[i * kN + j] * inv);
        reinterpret_cast<uint4*>(o)[i] = u.raw;
    }
}

int padded_length(int length) {
    if (length <= 8) return 8;
    if (length <= 16) return 16;
    return 32;
}

bool whole_vectors(Strides4 s, int per_vec) {
    return s.d == 1 && s.b % per_vec == 0 && s.h % per_vec == 0 && s.n % per_vec == 0;
}

}  // namespace

bool short_attention_supported(DType dtype, int lq, int lk, int d, const void* q, Strides4 qs, const void* k,
                               Strides4 ks, const void* v, Strides4 vs, const void* out, Strides4 os) {
    const int per_vec = dtype == DType::kFloat32 ? 4 : 8;
    // Every lane's slice of the head must be whole 16-byte vectors: D / (32 / LPAD) elements.
    const int lanes = 32 / padded_length(std::max(lq, lk));
    return lq >= 1 && lk >= 1 && lq <= kShortAttentionMaxLength && lk <= kShortAttentionMaxLength &&
           (d == 16 || d == 32 || d == 64 || d == 128) && (d / lanes) % per_vec == 0 && aligned16(q) && aligned16(k) &&
           aligned16(v) && aligned16(out) && whole_vectors(qs, per_vec) && whole_vectors(ks, per_vec) &&
           whole_vectors(vs, per_vec) && whole_vectors(os, per_vec);
}

cudaError_t short_attention(DType dtype, const void* q, Strides4 qs, const void* k, Strides4 ks, const void* v,
                            Strides4 vs, int64_t batch, int64_t heads, int lq, int lk, int d, float scale,
                            const uint8_t* mask, void* out, Strides4 os, cudaStream_t stream) {
    if (!short_attention_supported(dtype, lq, lk, d, q, qs, k, ks, v, vs, out, os) || batch <= 0 || heads <= 0) {
        return cudaErrorInvalidValue;
    }
    const int64_t problems = batch * heads;
    const int64_t blocks = ceil_div(problems, kWarpsPerBlock);
    if (blocks > kMaxGridX) {
        return cudaErrorInvalidValue;
    }
    const int lpad = padded_length(std::max(lq, lk));
    bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        auto launch = [&](auto lpad_tag, auto d_tag) {
            short_attention_kernel<scalar_t, decltype(lpad_tag)::value, decltype(d_tag)::value>
                <<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, stream>>>(
                    static_cast<const scalar_t*>(q), qs, static_cast<const scalar_t*>(k), ks,
                    static_cast<const scalar_t*>(v), vs, problems, heads, lq, lk, scale, mask,
                    static_cast<scalar_t*>(out), os);
        };
        auto with_d = [&](auto lpad_tag) {
            if (d == 16) {
                launch(lpad_tag, std::integral_constant<int, 16>{});
            } else if (d == 32) {
                launch(lpad_tag, std::integral_constant<int, 32>{});
            } else if (d == 64) {
                launch(lpad_tag, std::integral_constant<int, 64>{});
            } else {
                launch(lpad_tag, std::integral_constant<int, 128>{});
            }
        };
        if (lpad == 8) {
            with_d(std::integral_constant<int, 8>{});
        } else if (lpad == 16) {
            with_d(std::integral_constant<int, 16>{});
        } else {
            with_d(std::integral_constant<int, 32>{});
        }
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
