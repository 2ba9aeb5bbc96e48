// Which tiling of GLUMBConv's fused SiLU → depthwise 3×3 → gate kernel (token layout, bf16) runs fastest at the Sana
// shapes, against the production kernel (kernels/src/cuda/depthwise_gate.cu, included here so that both use the same
// helpers)? Each variant's output is compared with the production kernel's, value by value. Times: median of 50
// launches timed with events, with the L2 flushed before each ("cold") and not ("hot"). Findings (H200, tenth
// session): docs/PERFORMANCE.md, "Sana step, tenth session". installer/bench/experiments/depthwise_probe.sh runs it
// in a device call, with a SASS histogram and Nsight Compute sections.
//
//   nvcc -std=c++17 -arch=sm_90 -O3 -Ikernels/src/cuda installer/bench/experiments/depthwise_variants.cu \
//        -o /tmp/depthwise_variants && /tmp/depthwise_variants
#include "../../../kernels/src/cuda/depthwise_gate.cu"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace kernels::cuda {
namespace {

// Staged SiLU of a pair with one reciprocal for both: 1/(d₁d₂) then d₂/(d₁d₂) and d₁/(d₁d₂). The exponent is clamped
// so that the product cannot overflow (only |v| > 44 differs, by values below 1e-17).
__device__ __forceinline__ float2 staged_silu_pair_shared_rcp(float a, float b) {
    float ea, eb, r;
    const float xa = fminf(a * -1.4426950408889634f, 63.0f);
    const float xb = fminf(b * -1.4426950408889634f, 63.0f);
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(ea) : "f"(xa));
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(eb) : "f"(xb));
    const float da = 1.0f + ea, db = 1.0f + eb;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(da * db));
    return make_float2(a * (db * r), b * (da * r));
}

// Rows × cols output tile per block, 64 channels of each half; each warp owns kRpw output rows and slides a
// (kRpw + 2) × 3 window along the columns (kRpw = 1: the production kernel's scheme).
template <int kRows, int kCols, int kRpw, int kMinBlocks, bool kPairRcp>
__global__ void __launch_bounds__(32 * kRows / kRpw, kMinBlocks)
    variant_kernel(const __nv_bfloat16* __restrict__ x, const float* __restrict__ weight_t,
                   const float* __restrict__ bias, int height, int width, int channels,
                   __nv_bfloat16* __restrict__ out) {
    using scalar_t = __nv_bfloat16;
    constexpr int kThreadsV = 32 * kRows / kRpw;
    constexpr int kInRows = kRows + 2;
    constexpr int kInCols = kCols + 2;
    constexpr int kVec = 8;
    constexpr int kVecPerHalf = kGroup / kVec;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    auto tile = reinterpret_cast<scalar_t (*)[kInCols][2][kGroup]>(smem_raw);

    const int tiles_x = (width + kCols - 1) / kCols;
    const int tiles_y = (height + kRows - 1) / kRows;
    int t = blockIdx.x;
    const int tx = t % tiles_x;
    t /= tiles_x;
    const int ty = t % tiles_y;
    const int b = t / tiles_y;
    const int y0 = ty * kRows;
    const int x0 = tx * kCols;
    const int c0 = blockIdx.y * kGroup;
    const int64_t pixel_stride = 2 * static_cast<int64_t>(channels);
    const scalar_t* x_b = x + static_cast<int64_t>(b) * height * width * pixel_stride;

    constexpr int kLoads = kInRows * kInCols * 2 * kVecPerHalf;
#pragma unroll 4
    for (int i = threadIdx.x; i < kLoads; i += kThreadsV) {
        const int vec = i % kVecPerHalf;
        int rest = i / kVecPerHalf;
        const int half = rest % 2;
        rest /= 2;
        const int col = rest % kInCols;
        const int row = rest / kInCols;
        const int y = y0 + row - 1;
        const int xx = x0 + col - 1;
        const int c = c0 + vec * kVec;
        Vec16<scalar_t> u;
        if (y >= 0 && y < height && xx >= 0 && xx < width && c < channels) {
            u.raw = __ldg(reinterpret_cast<const uint4*>(x_b + (static_cast<int64_t>(y) * width + xx) * pixel_stride +
                                                         half * static_cast<int64_t>(channels) + c));
            if constexpr (kPairRcp) {
#pragma unroll
                for (int j = 0; j < 8; j += 2) {
                    store_pair(&u.v[j], staged_silu_pair_shared_rcp(to_float(u.v[j]), to_float(u.v[j + 1])));
                }
            } else {
                silu_staged(u);
            }
        } else {
            u.raw = make_uint4(0, 0, 0, 0);
        }
        *reinterpret_cast<uint4*>(&tile[row][col][half][vec * kVec]) = u.raw;
    }
    __syncthreads();

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int r0 = warp * kRpw;
    const int c = c0 + 2 * lane;
    if (y0 + r0 >= height || c >= channels) {
        return;
    }
    float2 wv[9], wg[9];
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
        wv[tap] = *reinterpret_cast<const float2*>(weight_t + tap * pixel_stride + c);
        wg[tap] = *reinterpret_cast<const float2*>(weight_t + tap * pixel_stride + channels + c);
    }
    const float2 bv = bias != nullptr ? *reinterpret_cast<const float2*>(bias + c) : make_float2(0.0f, 0.0f);
    const float2 bg = bias != nullptr ? *reinterpret_cast<const float2*>(bias + channels + c) : make_float2(0.0f, 0.0f);

    float2 win_v[kRpw + 2][3], win_g[kRpw + 2][3];
#pragma unroll
    for (int col = 0; col < 2; ++col) {
#pragma unroll
        for (int dy = 0; dy < kRpw + 2; ++dy) {
            win_v[dy][col] = load_pair(&tile[r0 + dy][col][0][2 * lane]);
            win_g[dy][col] = load_pair(&tile[r0 + dy][col][1][2 * lane]);
        }
    }
#pragma unroll
    for (int ox = 0; ox < kCols; ++ox) {
        const int incoming = (ox + 2) % 3;
#pragma unroll
        for (int dy = 0; dy < kRpw + 2; ++dy) {
            win_v[dy][incoming] = load_pair(&tile[r0 + dy][ox + 2][0][2 * lane]);
            win_g[dy][incoming] = load_pair(&tile[r0 + dy][ox + 2][1][2 * lane]);
        }
        if (x0 + ox >= width) {
            break;
        }
#pragma unroll
        for (int rr = 0; rr < kRpw; ++rr) {
            const int oy = y0 + r0 + rr;
            float2 v = bv, g = bg;
#pragma unroll
            for (int dy = 0; dy < 3; ++dy) {
#pragma unroll
                for (int dx = 0; dx < 3; ++dx) {
                    const int slot = (ox + dx) % 3;
                    const int tap = dy * 3 + dx;
                    v.x = fmaf(wv[tap].x, win_v[rr + dy][slot].x, v.x);
                    v.y = fmaf(wv[tap].y, win_v[rr + dy][slot].y, v.y);
                    g.x = fmaf(wg[tap].x, win_g[rr + dy][slot].x, g.x);
                    g.y = fmaf(wg[tap].y, win_g[rr + dy][slot].y, g.y);
                }
            }
            const float2 value = round_pair<scalar_t>(v);
            const float2 gate = round_pair<scalar_t>(g);
            const float2 gate_silu =
                round_pair<scalar_t>(make_float2(staged_silu<scalar_t>(gate.x), staged_silu<scalar_t>(gate.y)));
            if (oy < height) {
                store_pair(out + ((static_cast<int64_t>(b) * height + oy) * width + x0 + ox) * channels + c,
                           make_float2(value.x * gate_silu.x, value.y * gate_silu.y));
            }
        }
    }
}

struct Variant {
    const char* name;
    int rows, cols, threads;
    size_t smem;
    void (*launch)(const __nv_bfloat16*, const float*, const float*, int, int, int, int, __nv_bfloat16*, size_t,
                   dim3, int);
};

template <int R, int C, int P, int M, bool PR>
Variant make_variant(const char* name) {
    Variant v;
    v.name = name;
    v.rows = R;
    v.cols = C;
    v.threads = 32 * R / P;
    v.smem = sizeof(__nv_bfloat16) * (R + 2) * (C + 2) * 2 * kGroup;
    v.launch = [](const __nv_bfloat16* x, const float* w, const float* b, int batch, int h, int wd, int ch,
                  __nv_bfloat16* o, size_t smem, dim3 grid, int threads) {
        (void)batch;
        variant_kernel<R, C, P, M, PR><<<grid, threads, smem>>>(x, w, b, h, wd, ch, o);
    };
    cudaFuncSetAttribute(variant_kernel<R, C, P, M, PR>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(v.smem));
    return v;
}


// The production kernel's scheme with its staging restructured: the production loop's bounds branch keeps each
// iteration's 16-byte load in front of its use, so a warp waits out ~11 global-load round trips one after another.
// Here every thread owns one 16-byte channel slice (threads / 16 pixels a pass), issues all of its loads first
// (zero where the tile leaves the image), then applies SiLU and stores them to shared memory. tile_t: the staged
// tile's element type (bf16 as in production, or float: no unpacking in the window loads, twice the shared memory).
template <int kRows, int kCols, int kMinBlocks, int kBatch, typename tile_t>
__global__ void __launch_bounds__(32 * kRows, kMinBlocks)
    prefetch_kernel(const __nv_bfloat16* __restrict__ x, const float* __restrict__ weight_t,
                    const float* __restrict__ bias, int height, int width, int channels,
                    __nv_bfloat16* __restrict__ out) {
    using scalar_t = __nv_bfloat16;
    constexpr int kThreadsV = 32 * kRows;
    constexpr int kInRows = kRows + 2;
    constexpr int kInCols = kCols + 2;
    constexpr int kVec = 8;
    constexpr int kSlices = 2 * kGroup / kVec;            // 16-byte slices of a pixel (both halves)
    constexpr int kPixelsPerPass = kThreadsV / kSlices;
    constexpr int kPixels = kInRows * kInCols;
    constexpr int kPasses = (kPixels + kPixelsPerPass - 1) / kPixelsPerPass;
    static_assert(kThreadsV % kSlices == 0, "threads must cover whole pixels");
    extern __shared__ __align__(16) unsigned char smem_raw[];
    auto tile = reinterpret_cast<tile_t (*)[kInCols][2][kGroup]>(smem_raw);

    const int tiles_x = (width + kCols - 1) / kCols;
    const int tiles_y = (height + kRows - 1) / kRows;
    int t = blockIdx.x;
    const int tx = t % tiles_x;
    t /= tiles_x;
    const int ty = t % tiles_y;
    const int b = t / tiles_y;
    const int y0 = ty * kRows;
    const int x0 = tx * kCols;
    const int c0 = blockIdx.y * kGroup;
    const int64_t pixel_stride = 2 * static_cast<int64_t>(channels);

    const int slice = threadIdx.x % kSlices;
    const int half = slice / (kGroup / kVec);
    const int cs = c0 + (slice % (kGroup / kVec)) * kVec;
    const int p0 = threadIdx.x / kSlices;
    const scalar_t* src = x + static_cast<int64_t>(b) * height * width * pixel_stride + half * static_cast<int64_t>(channels) + cs;
#pragma unroll
    for (int k0 = 0; k0 < kPasses; k0 += kBatch) {
        uint4 buf[kBatch];
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
            const int p = p0 + (k0 + j) * kPixelsPerPass;
            const int row = p / kInCols, col = p % kInCols;
            const int y = y0 + row - 1, xx = x0 + col - 1;
            buf[j] = make_uint4(0, 0, 0, 0);
            if (k0 + j < kPasses && p < kPixels && y >= 0 && y < height && xx >= 0 && xx < width && cs < channels) {
                buf[j] = __ldg(reinterpret_cast<const uint4*>(src + (static_cast<int64_t>(y) * width + xx) * pixel_stride));
            }
        }
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
            const int p = p0 + (k0 + j) * kPixelsPerPass;
            if (k0 + j < kPasses && p < kPixels) {
                Vec16<scalar_t> u;
                u.raw = buf[j];
                silu_staged(u);  // SiLU(0) = 0: the padding stays zero
                tile_t* dst = &tile[p / kInCols][p % kInCols][half][(slice % (kGroup / kVec)) * kVec];
                if constexpr (sizeof(tile_t) == 2) {
                    *reinterpret_cast<uint4*>(dst) = u.raw;
                } else {
                    *reinterpret_cast<float4*>(dst) =
                        make_float4(to_float(u.v[0]), to_float(u.v[1]), to_float(u.v[2]), to_float(u.v[3]));
                    *reinterpret_cast<float4*>(dst + 4) =
                        make_float4(to_float(u.v[4]), to_float(u.v[5]), to_float(u.v[6]), to_float(u.v[7]));
                }
            }
        }
    }
    __syncthreads();

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int oy = y0 + warp;
    const int c = c0 + 2 * lane;
    if (oy >= height || c >= channels) {
        return;
    }
    float2 wv[9], wg[9];
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
        wv[tap] = *reinterpret_cast<const float2*>(weight_t + tap * pixel_stride + c);
        wg[tap] = *reinterpret_cast<const float2*>(weight_t + tap * pixel_stride + channels + c);
    }
    const float2 bv = bias != nullptr ? *reinterpret_cast<const float2*>(bias + c) : make_float2(0.0f, 0.0f);
    const float2 bg = bias != nullptr ? *reinterpret_cast<const float2*>(bias + channels + c) : make_float2(0.0f, 0.0f);
    float2 win_v[3][3], win_g[3][3];
#pragma unroll
    for (int col = 0; col < 2; ++col) {
#pragma unroll
        for (int dy = 0; dy < 3; ++dy) {
            win_v[dy][col] = load_pair(&tile[warp + dy][col][0][2 * lane]);
            win_g[dy][col] = load_pair(&tile[warp + dy][col][1][2 * lane]);
        }
    }
    scalar_t* out_row = out + ((static_cast<int64_t>(b) * height + oy) * width) * channels;
#pragma unroll
    for (int ox = 0; ox < kCols; ++ox) {
        const int incoming = (ox + 2) % 3;
#pragma unroll
        for (int dy = 0; dy < 3; ++dy) {
            win_v[dy][incoming] = load_pair(&tile[warp + dy][ox + 2][0][2 * lane]);
            win_g[dy][incoming] = load_pair(&tile[warp + dy][ox + 2][1][2 * lane]);
        }
        if (x0 + ox >= width) {
            break;
        }
        float2 v = bv, g = bg;
#pragma unroll
        for (int dy = 0; dy < 3; ++dy) {
#pragma unroll
            for (int dx = 0; dx < 3; ++dx) {
                const int slot = (ox + dx) % 3;
                const int tap = dy * 3 + dx;
                v.x = fmaf(wv[tap].x, win_v[dy][slot].x, v.x);
                v.y = fmaf(wv[tap].y, win_v[dy][slot].y, v.y);
                g.x = fmaf(wg[tap].x, win_g[dy][slot].x, g.x);
                g.y = fmaf(wg[tap].y, win_g[dy][slot].y, g.y);
            }
        }
        const float2 value = round_pair<scalar_t>(v);
        const float2 gate = round_pair<scalar_t>(g);
        const float2 gate_silu =
            round_pair<scalar_t>(make_float2(staged_silu<scalar_t>(gate.x), staged_silu<scalar_t>(gate.y)));
        store_pair(out_row + static_cast<int64_t>(x0 + ox) * channels + c,
                   make_float2(value.x * gate_silu.x, value.y * gate_silu.y));
    }
}

template <int R, int C, int M, int K, typename T = __nv_bfloat16>
Variant make_prefetch(const char* name) {
    Variant v;
    v.name = name;
    v.rows = R;
    v.cols = C;
    v.threads = 32 * R;
    v.smem = sizeof(T) * (R + 2) * (C + 2) * 2 * kGroup;
    v.launch = [](const __nv_bfloat16* x, const float* w, const float* b, int batch, int h, int wd, int ch,
                  __nv_bfloat16* o, size_t smem, dim3 grid, int threads) {
        (void)batch;
        prefetch_kernel<R, C, M, K, T><<<grid, threads, smem>>>(x, w, b, h, wd, ch, o);
    };
    cudaFuncSetAttribute(prefetch_kernel<R, C, M, K, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(v.smem));
    return v;
}

__global__ void fill_bf16(__nv_bfloat16* p, size_t n, unsigned seed, float scale) {
    size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
    if (i < n) {
        unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995;
        h ^= h >> 15;
        p[i] = __float2bfloat16(((h & 0xffff) / 65536.0f - 0.5f) * scale);
    }
}
__global__ void fill_f32(float* p, size_t n, unsigned seed, float scale) {
    size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
    if (i < n) {
        unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995;
        h ^= h >> 15;
        p[i] = ((h & 0xffff) / 65536.0f - 0.5f) * scale;
    }
}

}  // namespace
}  // namespace kernels::cuda

using namespace kernels::cuda;

#define CK(x)                                                                             \
    do {                                                                                  \
        auto e = (x);                                                                     \
        if (e != cudaSuccess) {                                                           \
            printf("error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__);    \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;  // one launch each (for ncu)
    struct Shape {
        const char* name;
        int b, h, w, c;
    };
    const std::vector<Shape> shapes = {{"1600M 1024px", 2, 32, 32, 5600},
                                       {"600M 1024px", 2, 32, 32, 2880},
                                       {"1600M 2048px", 2, 64, 64, 5600},
                                       {"1600M 4096px", 2, 128, 128, 5600}};
    // The production kernel stages with prefetch_kernel's scheme (batches of 3) since the tenth session; the
    // variant_kernel rows are the scheme it had before (one load used right after it is issued). All of them read
    // the tile with the production load_pair (one 32-bit load a channel pair since the tenth session; two 16-bit
    // loads before, 3–5 % slower).
    std::vector<Variant> variants = {
        make_variant<8, 16, 1, 3, false>("8x16 one load at a time"),
        make_variant<8, 16, 1, 3, true>("  + pair-rcp SiLU"),
        make_variant<8, 16, 2, 4, false>("  2 rows a warp, 128 thr"),
        make_variant<16, 16, 2, 2, false>("  16x16, 2 rows a warp"),
        make_variant<4, 16, 1, 6, false>("  4x16, 128 thr"),
        make_prefetch<8, 16, 3, 3>("8x16 prefetch 3"),
        make_prefetch<8, 16, 3, 4>("8x16 prefetch 4"),
        make_prefetch<8, 16, 3, 6>("8x16 prefetch 6"),
        make_prefetch<8, 16, 3, 12>("8x16 prefetch all"),
        make_prefetch<4, 16, 6, 7>("4x16 prefetch 7"),
        make_prefetch<8, 16, 2, 3, float>("8x16 float tile, prefetch 3"),
        make_prefetch<4, 16, 4, 4, float>("4x16 float tile, prefetch 4"),
    };
    void* flush;
    const size_t flush_bytes = size_t{256} << 20;
    CK(cudaMalloc(&flush, flush_bytes));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (const auto& s : shapes) {
        const size_t n_in = size_t(s.b) * s.h * s.w * 2 * s.c, n_out = n_in / 2;
        __nv_bfloat16 *x, *ref, *o;
        float *w, *bias;
        CK(cudaMalloc(&x, n_in * 2));
        CK(cudaMalloc(&ref, n_out * 2));
        CK(cudaMalloc(&o, n_out * 2));
        CK(cudaMalloc(&w, size_t(9) * 2 * s.c * 4));
        CK(cudaMalloc(&bias, size_t(2) * s.c * 4));
        fill_bf16<<<(n_in + 255) / 256, 256>>>(x, n_in, 1, 8.0f);
        fill_f32<<<(18 * s.c + 255) / 256, 256>>>(w, size_t(18) * s.c, 2, 0.6f);
        fill_f32<<<(2 * s.c + 255) / 256, 256>>>(bias, size_t(2) * s.c, 3, 0.2f);
        const double bytes = 1.5 * n_in * 2;  // the fewest: read x once, write out once
        printf("\n%s: x [%d, %d, %d, %d] bf16, %.1f MB read + written\n", s.name, s.b, s.h, s.w, 2 * s.c, bytes / 1e6);
        auto time_it = [&](auto&& launch, bool cold) {
            const int n = quick ? 1 : 50;
            std::vector<float> ms;
            for (int i = 0; i < n + (quick ? 0 : 3); ++i) {
                if (cold) cudaMemsetAsync(flush, i & 0xff, flush_bytes);
                cudaEventRecord(e0);
                launch();
                cudaEventRecord(e1);
                cudaEventSynchronize(e1);
                float t;
                cudaEventElapsedTime(&t, e0, e1);
                if (quick || i >= 3) ms.push_back(t);
            }
            std::sort(ms.begin(), ms.end());
            return ms[ms.size() / 2] * 1e3f;  // µs
        };
        auto production = [&] {
            silu_depthwise_conv3x3_gate_tokens(DType::kBFloat16, x, w, bias, s.b, s.c, s.h, s.w, ref, 0);
        };
        const float p_cold = time_it(production, true), p_hot = time_it(production, false);
        CK(cudaDeviceSynchronize());
        CK(cudaGetLastError());
        printf("  %-28s cold %7.1f us (%5.0f GB/s)  hot %7.1f us\n", "production", p_cold, bytes / p_cold / 1e3,
               p_hot);
        std::vector<uint16_t> h_ref(n_out), h_o(n_out);
        CK(cudaMemcpy(h_ref.data(), ref, n_out * 2, cudaMemcpyDeviceToHost));
        for (const auto& v : variants) {
            const dim3 grid(static_cast<unsigned>(s.b * ((s.h + v.rows - 1) / v.rows) * ((s.w + v.cols - 1) / v.cols)),
                            static_cast<unsigned>((s.c + kGroup - 1) / kGroup));
            CK(cudaMemset(o, 0xff, n_out * 2));
            auto launch = [&] { v.launch(x, w, bias, s.b, s.h, s.w, s.c, o, v.smem, grid, v.threads); };
            const float cold = time_it(launch, true), hot = time_it(launch, false);
            CK(cudaDeviceSynchronize());
            CK(cudaGetLastError());
            CK(cudaMemcpy(h_o.data(), o, n_out * 2, cudaMemcpyDeviceToHost));
            size_t diff = 0;
            float max_abs = 0;
            for (size_t i = 0; i < n_out; ++i) {
                if (h_o[i] != h_ref[i]) {
                    ++diff;
                    uint32_t a = uint32_t(h_o[i]) << 16, r = uint32_t(h_ref[i]) << 16;
                    float fa, fr;
                    std::memcpy(&fa, &a, 4);
                    std::memcpy(&fr, &r, 4);
                    max_abs = std::max(max_abs, std::fabs(fa - fr));
                }
            }
            int blocks_per_sm = 0;
            printf("  %-28s cold %7.1f us (%5.0f GB/s)  hot %7.1f us  x%.2f  %zu values differ (max %.3g)\n", v.name,
                   cold, bytes / cold / 1e3, hot, p_cold / cold, diff, max_abs);
            (void)blocks_per_sm;
        }
        cudaFree(x);
        cudaFree(ref);
        cudaFree(o);
        cudaFree(w);
        cudaFree(bias);
    }
    return 0;
}
