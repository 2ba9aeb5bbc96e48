// GroupNorm on maps whose channels are innermost (channels-last frames, the video UNet's token and sequence layouts),
// float32 statistics, an optional per-(sample, channel) addend and SiLU, one rounding (kernels::group_norm).
// Three kernels:
//  1. partial statistics: a block per (chunk of positions, sample); each thread owns one vector of channels and keeps
//     shifted sums (its first value as the shift, so E[x²] − E[x]² never cancels), then the block merges its rows
//     per channel (Chan's formula) into a mean and M2 per (sample, chunk, channel);
//  2. finalise: a block per (sample, group) merges the chunks and channels of the group (the addend shifts each
//     channel's mean) and writes per-(sample, channel) factors a = rstd · weight, b = bias + (add − mean) · a;
//  3. apply: y = x · a + b [SiLU], rounded once, written through the output's own strides (16-byte vectors).
// Positions are two strided dims [T, R] (outer, inner) per sample, so a [B, F, H, W, C] video can be read frame-major
// and written sequence-major ([B, H, W, F, C]) in the same pass.
#include <algorithm>

#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kBlockThreads = 512;   // threads of the partial-statistics block (threads_x · threads_y at most)
constexpr int kFinalizeThreads = 128;
constexpr int kApplyThreads = 256;

template <typename scalar_t, int V>
__device__ __forceinline__ void load_values(const scalar_t* __restrict__ p, float (&f)[V]) {
    if constexpr (V * sizeof(scalar_t) == 16) {
        Vec16<scalar_t> u;
        u.raw = *reinterpret_cast<const uint4*>(p);
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = to_float(u.v[j]);
    } else {
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = to_float(p[j]);
    }
}

template <typename scalar_t, int V>
__device__ __forceinline__ void store_values(scalar_t* __restrict__ p, const float (&f)[V]) {
    if constexpr (V * sizeof(scalar_t) == 16) {
        Vec16<scalar_t> u;
#pragma unroll
        for (int j = 0; j < V; ++j) u.v[j] = from_float<scalar_t>(f[j]);
        *reinterpret_cast<uint4*>(p) = u.raw;
    } else {
#pragma unroll
        for (int j = 0; j < V; ++j) p[j] = from_float<scalar_t>(f[j]);
    }
}

// Positions of [p0, p1) that the row ty of a block with `rows` rows visits (p0 + ty, p0 + ty + rows, ...).
__device__ __forceinline__ int64_t row_count(int64_t p0, int64_t p1, int ty, int rows) {
    const int64_t first = p0 + ty;
    return first < p1 ? (p1 - first + rows - 1) / rows : 0;
}

// partial: [N, chunks, 2, C] floats (mean, M2 of the chunk's positions, per channel).
template <typename scalar_t, int V>
__global__ void __launch_bounds__(kBlockThreads)
    group_norm_partial_kernel(const scalar_t* __restrict__ x, GroupNormLayout xl, int64_t inner, int64_t positions,
                              int64_t channels, int64_t per_chunk, float* __restrict__ partial) {
    extern __shared__ float smem[];
    const int64_t n = blockIdx.y;
    const int64_t chunk = blockIdx.x;
    const int64_t chunks = gridDim.x;
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int rows = blockDim.y;
    const int64_t p0 = chunk * per_chunk;
    const int64_t p1 = min_i64(positions, p0 + per_chunk);

    float shift[V], s[V], q[V];
#pragma unroll
    for (int j = 0; j < V; ++j) shift[j] = s[j] = q[j] = 0.0f;
    const scalar_t* base = x + n * xl.n + static_cast<int64_t>(tx) * V;
    auto at_position = [&](int64_t p) {
        const int64_t t = p / inner;
        return base + t * xl.t + (p - t * inner) * xl.r;
    };
    auto accumulate = [&](const float (&f)[V]) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
            const float d = f[j] - shift[j];
            s[j] += d;
            q[j] = fmaf(d, d, q[j]);
        }
    };
    int64_t p = p0 + ty;
    if (p < p1) {  // the row's first value is its shift (it adds 0 to both sums)
        load_values<scalar_t, V>(at_position(p), shift);
        p += rows;
    }
    for (; p < p1; p += rows) {
        float f[V];
        load_values<scalar_t, V>(at_position(p), f);
        accumulate(f);
    }
    const int64_t count = row_count(p0, p1, ty, rows);
    float* sm_mean = smem;                  // [rows][C]
    float* sm_m2 = smem + rows * channels;  // [rows][C]
#pragma unroll
    for (int j = 0; j < V; ++j) {
        const int64_t c = static_cast<int64_t>(tx) * V + j;
        const float inv = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
        sm_mean[ty * channels + c] = shift[j] + s[j] * inv;
        sm_m2[ty * channels + c] = count > 0 ? fmaxf(q[j] - s[j] * s[j] * inv, 0.0f) : 0.0f;
    }
    __syncthreads();
    // Merge the rows per channel (Chan et al.), rows in order: deterministic.
    const int flat = ty * blockDim.x + tx;
    const int threads = blockDim.x * rows;
    for (int64_t c = flat; c < channels; c += threads) {
        float n_a = 0.0f, mean_a = 0.0f, m2_a = 0.0f;
        for (int k = 0; k < rows; ++k) {
            const float n_b = static_cast<float>(row_count(p0, p1, k, rows));
            if (n_b == 0.0f) continue;
            const float mean_b = sm_mean[k * channels + c];
            const float delta = mean_b - mean_a;
            const float n_ab = n_a + n_b;
            mean_a += delta * (n_b / n_ab);
            m2_a += sm_m2[k * channels + c] + delta * delta * (n_a * n_b / n_ab);
            n_a = n_ab;
        }
        float* out = partial + ((n * chunks + chunk) * 2) * channels;
        out[c] = mean_a;
        out[channels + c] = m2_a;
    }
}

// A block per (sample, group): params a [N, C] then b [N, C] (float32). Threads take chunks; each reads its chunk's
// per_group contiguous channel statistics.
template <typename w_t>
__global__ void __launch_bounds__(kFinalizeThreads)
    group_norm_finalize_kernel(const float* __restrict__ partial, int64_t chunks, int64_t per_chunk, int64_t positions,
                               int64_t channels, int64_t groups, const w_t* __restrict__ weight,
                               const w_t* __restrict__ bias, const float* __restrict__ add, float eps,
                               float* __restrict__ params, int64_t samples) {
    __shared__ float scratch[32];
    const int64_t n = blockIdx.x / groups;
    const int64_t g = blockIdx.x % groups;
    const int64_t per_group = channels / groups;
    const int64_t c0 = g * per_group;
    const float* add_g = add != nullptr ? add + n * channels + c0 : nullptr;
    auto chunk_count = [&](int64_t k) {
        return static_cast<float>(min_i64(positions, (k + 1) * per_chunk) - k * per_chunk);
    };
    auto chunk_means = [&](int64_t k) { return partial + ((n * chunks + k) * 2) * channels + c0; };
    float weighted = 0.0f;
    for (int64_t k = threadIdx.x; k < chunks; k += blockDim.x) {
        const float* m = chunk_means(k);
        float sum = 0.0f;
        for (int64_t j = 0; j < per_group; ++j) sum += add_g != nullptr ? m[j] + add_g[j] : m[j];
        weighted += chunk_count(k) * sum;
    }
    const float total = static_cast<float>(positions) * static_cast<float>(per_group);
    const float mean = block_sum(weighted, scratch) / total;
    float m2 = 0.0f;
    for (int64_t k = threadIdx.x; k < chunks; k += blockDim.x) {
        const float* m = chunk_means(k);
        const float count = chunk_count(k);
        for (int64_t j = 0; j < per_group; ++j) {
            const float d = (add_g != nullptr ? m[j] + add_g[j] : m[j]) - mean;
            m2 += m[channels + j] + count * d * d;
        }
    }
    const float variance = fmaxf(block_sum(m2, scratch) / total, 0.0f);
    const float rstd = rsqrtf(variance + eps);
    for (int64_t j = threadIdx.x; j < per_group; j += blockDim.x) {
        const int64_t c = c0 + j;
        const float a = weight != nullptr ? rstd * to_float(weight[c]) : rstd;
        const float shift = (add != nullptr ? add[n * channels + c] : 0.0f) - mean;
        params[n * channels + c] = a;
        params[samples * channels + n * channels + c] = fmaf(shift, a, bias != nullptr ? to_float(bias[c]) : 0.0f);
    }
}

template <int V>
__device__ __forceinline__ void load_params(const float* __restrict__ p, float (&f)[V]) {
    if constexpr (V % 4 == 0) {
#pragma unroll
        for (int j = 0; j < V; j += 4) {
            const float4 u = *reinterpret_cast<const float4*>(p + j);
            f[j] = u.x;
            f[j + 1] = u.y;
            f[j + 2] = u.z;
            f[j + 3] = u.w;
        }
    } else {
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = p[j];
    }
}

template <typename scalar_t, int V, bool kSilu>
__global__ void __launch_bounds__(kApplyThreads)
    group_norm_apply_kernel(const scalar_t* __restrict__ x, GroupNormLayout xl, uint32_t outer, uint32_t inner,
                            uint32_t vecs, uint32_t total, const float* __restrict__ params, int64_t samples,
                            int64_t channels, scalar_t* __restrict__ out, GroupNormLayout ol) {
    for (uint32_t i = blockIdx.x * kApplyThreads + threadIdx.x; i < total; i += gridDim.x * kApplyThreads) {
        const uint32_t v = i % vecs;
        const uint32_t pos = i / vecs;
        const uint32_t r = pos % inner;
        const uint32_t nt = pos / inner;
        const uint32_t t = nt % outer;
        const uint32_t n = nt / outer;
        const int64_t c = static_cast<int64_t>(v) * V;
        float f[V], a[V], b[V];
        load_values<scalar_t, V>(x + n * xl.n + t * xl.t + r * xl.r + c, f);
        load_params<V>(params + n * channels + c, a);
        load_params<V>(params + samples * channels + n * channels + c, b);
#pragma unroll
        for (int j = 0; j < V; ++j) {
            const float y = fmaf(f[j], a[j], b[j]);
            f[j] = kSilu ? silu(y) : y;
        }
        store_values<scalar_t, V>(out + n * ol.n + t * ol.t + r * ol.r + c, f);
    }
}

int element_bytes(DType dtype) {
    return dtype == DType::kFloat32 ? 4 : 2;
}

}  // namespace

bool group_norm_vectorizable(DType dtype, int64_t channels, const void* x, GroupNormLayout xl, const void* out,
                             GroupNormLayout ol) {
    const int64_t v = 16 / element_bytes(dtype);
    auto whole = [v](GroupNormLayout l) { return l.n % v == 0 && l.t % v == 0 && l.r % v == 0; };
    return channels % v == 0 && aligned16(x) && aligned16(out) && whole(xl) && whole(ol);
}

GroupNormPlan plan_group_norm(DType dtype, int64_t samples, int64_t positions, int64_t channels, int num_sms,
                              bool vectorized) {
    GroupNormPlan plan;
    plan.vec = vectorized ? 16 / element_bytes(dtype) : 1;
    const int64_t vecs = channels / plan.vec;
    if (vecs <= 0 || vecs > kBlockThreads || samples <= 0 || positions <= 0 || samples > kMaxGridY) {
        plan.supported = false;
        return plan;
    }
    plan.threads_x = static_cast<int>(vecs);
    plan.threads_y = static_cast<int>(std::max<int64_t>(1, kBlockThreads / vecs));
    // About four blocks per SM over all samples, each row of a block visiting at least 8 positions.
    const int64_t wanted = ceil_div(4 * static_cast<int64_t>(num_sms), samples);
    const int64_t most = std::max<int64_t>(1, positions / (8 * static_cast<int64_t>(plan.threads_y)));
    int64_t chunks = std::max<int64_t>(1, std::min(wanted, most));
    plan.per_chunk = ceil_div(positions, chunks);
    plan.chunks = ceil_div(positions, plan.per_chunk);
    plan.partial_floats = samples * plan.chunks * 2 * channels;
    plan.param_floats = 2 * samples * channels;
    plan.shared_bytes = static_cast<size_t>(2 * plan.threads_y * channels) * sizeof(float);
    const int64_t total = samples * positions * vecs;
    plan.supported = plan.chunks <= kMaxGridX && total < (int64_t{1} << 31) && plan.shared_bytes <= 48 * 1024;
    return plan;
}

cudaError_t group_norm(DType dtype, const void* x, GroupNormLayout xl, int64_t samples, int64_t outer, int64_t inner,
                       int64_t channels, int64_t groups, DType param_type, const void* weight, const void* bias,
                       const float* channel_add, float eps, bool silu_after, const GroupNormPlan& plan,
                       float* partial, float* params, void* out, GroupNormLayout ol, int num_sms,
                       cudaStream_t stream) {
    const int64_t positions = outer * inner;
    if (!plan.supported || groups <= 0 || channels % groups != 0 || samples * groups > kMaxGridX ||
        positions <= 0 || partial == nullptr || params == nullptr) {
        return cudaErrorInvalidValue;
    }
    const int64_t vecs = channels / plan.vec;
    const auto total = static_cast<uint32_t>(samples * positions * vecs);
    const auto apply_blocks =
        static_cast<unsigned>(std::min<int64_t>(ceil_div(total, kApplyThreads), 16 * static_cast<int64_t>(num_sms)));
    bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        const auto* xs = static_cast<const scalar_t*>(x);
        auto* os = static_cast<scalar_t*>(out);
        const dim3 block(static_cast<unsigned>(plan.threads_x), static_cast<unsigned>(plan.threads_y));
        const dim3 grid(static_cast<unsigned>(plan.chunks), static_cast<unsigned>(samples));
        auto run = [&](auto vec_tag) {
            constexpr int V = decltype(vec_tag)::value;
            group_norm_partial_kernel<scalar_t, V><<<grid, block, plan.shared_bytes, stream>>>(
                xs, xl, inner, positions, channels, plan.per_chunk, partial);
            dispatch_dtype(param_type, [&](auto ptag) {
                using w_t = typename decltype(ptag)::type;
                group_norm_finalize_kernel<w_t><<<static_cast<unsigned>(samples * groups), kFinalizeThreads, 0,
                                                  stream>>>(partial, plan.chunks, plan.per_chunk, positions, channels,
                                                            groups, static_cast<const w_t*>(weight),
                                                            static_cast<const w_t*>(bias), channel_add, eps, params,
                                                            samples);
            });
            auto apply = [&](auto silu_tag) {
                group_norm_apply_kernel<scalar_t, V, decltype(silu_tag)::value>
                    <<<apply_blocks, kApplyThreads, 0, stream>>>(
                        xs, xl, static_cast<uint32_t>(outer), static_cast<uint32_t>(inner),
                        static_cast<uint32_t>(vecs), total, params, samples, channels, os, ol);
            };
            if (silu_after) {
                apply(std::true_type{});
            } else {
                apply(std::false_type{});
            }
        };
        if (plan.vec == 1) {
            run(std::integral_constant<int, 1>{});
        } else {
            run(std::integral_constant<int, 16 / sizeof(scalar_t)>{});
        }
    });
    if (param_type != DType::kFloat32 && param_type != DType::kFloat16 && param_type != DType::kBFloat16) {
        ok = false;
    }
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
