// Is GLUMBConv's fused SiLU → depthwise 3×3 → gate kernel (token layout, bf16) faster with its conv on the tensor
// cores? The production FMA kernel (kernels/src/cuda/depthwise_gate.cu, included here) against a tensor-core kernel
// built from the production kernel's staging (stage_silu_tile) and epilogue (store_gated_pair), with 8 or 16 channels
// a warp, 2 or 3 blocks an SM, and each staged row's A fragments loaded once for the three output rows that read it
// ("rolling rows"). Each variant's output is compared with the FMA kernel's, value by value (the weights are bf16
// values, as a bf16 model's). Times: median of 50 launches timed with events, with the L2 flushed before each ("cold")
// and not ("hot"). Findings: docs/PERFORMANCE.md, "Sana step, tenth session" (the staging; the tiling variants tried
// then are in this file's git history, 3499969) and "Sana step, eleventh session" (the tensor cores: 0.86–0.92×).
// installer/bench/experiments/depthwise_probe.sh runs it in a device call, with a SASS histogram and Nsight Compute.
//
//   nvcc -std=c++17 -arch=sm_90 -O3 -Ikernels/src/cuda installer/bench/experiments/depthwise_variants.cu \
//        -o /tmp/depthwise_variants && /tmp/depthwise_variants
#include "../../../kernels/src/cuda/depthwise_gate.cu"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <vector>

namespace kernels::cuda {
namespace {

// ---- The conv on the tensor cores (tried in the eleventh session: slower, see the header) -----------------------------
// A depthwise conv has no sum over channels, so the matrix product runs on a diagonal: for each tap, a 16-pixel ×
// 8- or 16-channel block of the staged input (A: pixels × channels, one ldmatrix) times a B whose only non-zeros are
// the tap's weights at k = n (output channels 0–7 of the block) or k = n + 8 (channels 8–15), accumulated in float32 by
// mma.m16n8k8 / m16n8k16 from the bias on. A product of two bf16 values is exact in float32 and the zeros add nothing,
// so each output is the FMA kernel's sum of the same nine products in the same order, up to how the tensor core rounds
// an addition: 42 of Sana 1600M's 11.5 M outputs differ, by one unit in the last place. A non-finite input would reach
// the other channels of its block (0 · inf). Block: 8 × 16 output pixels × 64 channels, 8 warps.

// D += A · B on the tensor cores, float32 accumulators: m16n8k8 (A: 2 registers, one B register) or m16n8k16 (A: 4,
// B: 2) in the half type.
template <typename scalar_t>
__device__ __forceinline__ void mma_168k(float (&d)[4], const uint32_t (&a)[2], uint32_t b0) {
    if constexpr (std::is_same<scalar_t, __nv_bfloat16>::value) {
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(b0));
    } else {
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(b0));
    }
}
template <typename scalar_t>
__device__ __forceinline__ void mma_168k(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (std::is_same<scalar_t, __nv_bfloat16>::value) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

// ldmatrix .x2 / .x4: lane l gives the shared-memory address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix(uint32_t (&a)[2], uint32_t smem_address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(a[0]), "=r"(a[1]) : "r"(smem_address));
}
__device__ __forceinline__ void ldmatrix(uint32_t (&a)[4], uint32_t smem_address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(smem_address));
}

// The 16 bits of a weight in bf16 (exact for a bf16 model's weights).
__device__ __forceinline__ uint32_t half_bits(float v, __nv_bfloat16) {
    return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

constexpr int kMmaRows = 8;
constexpr int kMmaCols = 16;
// Staged pixels 272 bytes apart, so that ldmatrix's eight rows (eight consecutive pixels) fall in eight different
// 16-byte bank groups (256 bytes apart they would all hit one).
constexpr int kMmaPixelStride = 2 * kGroup + 8;

// Shapes as silu_dwconv_gate_tokens_kernel's, 256 threads, 48,960 bytes of shared memory. kSets: 8-channel sets a warp
// computes (1: m16n8k8, warp w: channels 8w …, all 8 rows; 2: m16n8k16, warp w: channels 16 · (w % 4) …, rows
// 4 · (w / 4) …: half the A loads, twice the weight registers).
template <typename scalar_t, int kSets, int kMinBlocks, bool kRollRows>
__global__ void __launch_bounds__(256, kMinBlocks)
    silu_dwconv_gate_tokens_mma_kernel(const scalar_t* __restrict__ x, const float* __restrict__ weight_t,
                                       const float* __restrict__ bias, int height, int width, int channels,
                                       scalar_t* __restrict__ out) {
    static_assert(sizeof(scalar_t) == 2, "half types only");
    static_assert(kSets == 1 || kSets == 2, "8 or 16 channels a warp");
    static_assert(!kRollRows || kSets == 1, "rolling rows: 8 channels a warp");
    constexpr int kInCols = kMmaCols + 2;
    __shared__ __align__(16) scalar_t tile[(kMmaRows + 2) * kInCols * kMmaPixelStride];
    const TileOrigin o = tile_origin<kMmaRows, kMmaCols>(height, width);
    const int c0 = blockIdx.y * kGroup;
    const scalar_t* x_b = x + static_cast<int64_t>(o.b) * height * width * 2 * static_cast<int64_t>(channels);
    stage_silu_tile<scalar_t, kMmaRows, kMmaCols, kMmaPixelStride>(x_b, o.y0, o.x0, c0, height, width, channels, tile);
    __syncthreads();

    constexpr int kWarpsPerRowSet = kGroup / (8 * kSets);        // warps that share an output row
    constexpr int kWarpRows = kMmaRows * kWarpsPerRowSet / 8;     // output rows a warp computes (8 warps)
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int cb = c0 + 8 * kSets * (warp % kWarpsPerRowSet);  // the warp's first channel
    const int r0 = kWarpRows * (warp / kWarpsPerRowSet);       // its first output row in the tile
    if (cb >= channels || o.y0 + r0 >= height) {
        return;
    }
    const int g = lane >> 2;  // fragment group: B's column n; D's pixels g and g + 8
    const int q = lane & 3;   // thread in group: D's columns (channels) 2q, 2q + 1
    // B of half h, tap, channel set s (output channels cb + 8s …): B[k][n] = w(cb + k) where k = n + 8s, else 0. The
    // lane holds B[2q, 2q + 1][g] in register 0 and (m16n8k16) B[2q + 8, 2q + 9][g] in register 1: its one possible
    // non-zero is w(cb + g + 8s), in register s (low or high half as g is even or odd), and only where q == g / 2.
    const int64_t two_c = 2 * static_cast<int64_t>(channels);
    uint32_t wb[2][9][kSets];  // [h][tap][s]
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) {
#pragma unroll
            for (int s = 0; s < kSets; ++s) {
                const int ch = cb + g + 8 * s;
                wb[h][tap][s] = q == (g >> 1) && ch < channels
                                    ? half_bits(weight_t[tap * two_c + h * channels + ch], scalar_t{}) << (16 * (g & 1))
                                    : 0u;
            }
        }
    }
    float2 bias_v[2][kSets];  // [h][s]: channels cb + 8s + 2q, + 1
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int s = 0; s < kSets; ++s) {
            const int ch = cb + 8 * s + 2 * q;
            bias_v[h][s] = bias != nullptr && ch < channels
                               ? *reinterpret_cast<const float2*>(bias + h * channels + ch)
                               : make_float2(0.0f, 0.0f);
        }
    }
    // A's rows: ldmatrix matrices 0, 1 = pixels 0–7, 8–15 of the window's row, channels cb …; with 16 channels,
    // matrices 2, 3 = the same pixels, channels cb + 8 …: registers a0 … a3 of mma.m16n8k16 (a0, a1 of m16n8k8).
    const uint32_t a_lane =
        static_cast<uint32_t>(__cvta_generic_to_shared(tile)) +
        static_cast<uint32_t>(((r0 * kInCols + (lane & 15)) * kMmaPixelStride + (cb - c0) + (kSets == 2 ? 8 * (lane >> 4) : 0)) *
                              sizeof(scalar_t));
    using Acc = float[2][kSets][4];  // [h][s]: D of pixels g (0, 1) and g + 8 (2, 3), channels cb + 8s + 2q (+ 1)
    auto start_row = [&](Acc& acc) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
#pragma unroll
            for (int s = 0; s < kSets; ++s) {
                acc[h][s][0] = acc[h][s][2] = bias_v[h][s].x;
                acc[h][s][1] = acc[h][s][3] = bias_v[h][s].y;
            }
        }
    };
    // A of staged row `row` (from the warp's first), tap column dx, half h.
    auto load_a = [&](uint32_t(&a)[2 * kSets], int row, int dx, int h) {
        ldmatrix(a, a_lane + static_cast<uint32_t>(((row * kInCols + dx) * kMmaPixelStride + h * kGroup) * sizeof(scalar_t)));
    };
    auto multiply = [&](Acc& acc, const uint32_t(&a)[2 * kSets], int h, int tap) {
        if constexpr (kSets == 1) {
            mma_168k<scalar_t>(acc[h][0], a, wb[h][tap][0]);
        } else {
            mma_168k<scalar_t>(acc[h][0], a, wb[h][tap][0], 0u);
            mma_168k<scalar_t>(acc[h][1], a, 0u, wb[h][tap][1]);
        }
    };
    auto finish_row = [&](const Acc& acc, int rr) {
        const int oy = o.y0 + r0 + rr;
        if (oy >= height) {
            return;
        }
        scalar_t* out_row = out + ((static_cast<int64_t>(o.b) * height + oy) * width) * channels;
#pragma unroll
        for (int s = 0; s < kSets; ++s) {
#pragma unroll
            for (int p = 0; p < 2; ++p) {
                const int px = o.x0 + g + 8 * p;
                const int ch = cb + 8 * s + 2 * q;
                if (px < width && ch < channels) {
                    store_gated_pair(out_row + static_cast<int64_t>(px) * channels + ch,
                                     make_float2(acc[0][s][2 * p], acc[0][s][2 * p + 1]),
                                     make_float2(acc[1][s][2 * p], acc[1][s][2 * p + 1]));
                }
            }
        }
    };
    if constexpr (kRollRows) {
        // Each staged row's A is loaded once and multiplied into the (up to) three output rows that read it: row
        // ir - dy with tap row dy, so that each output still adds its taps in the order (dy, dx).
        Acc acc[3];  // output row rr in acc[rr % 3]
#pragma unroll
        for (int ir = 0; ir < kWarpRows + 2; ++ir) {
            if (ir < kWarpRows) {
                start_row(acc[ir % 3]);
            }
#pragma unroll
            for (int dy = 2; dy >= 0; --dy) {  // the oldest output row first: it finishes with this staged row
                const int rr = ir - dy;
                if (rr < 0 || rr >= kWarpRows) {
                    continue;
                }
#pragma unroll
                for (int dx = 0; dx < 3; ++dx) {
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        uint32_t a[2 * kSets];
                        load_a(a, ir, dx, h);
                        multiply(acc[rr % 3], a, h, dy * 3 + dx);
                    }
                }
            }
            if (ir >= 2) {
                finish_row(acc[(ir - 2) % 3], ir - 2);
            }
        }
    } else {
#pragma unroll
        for (int rr = 0; rr < kWarpRows; ++rr) {
            if (o.y0 + r0 + rr >= height) {
                break;
            }
            Acc acc;
            start_row(acc);
#pragma unroll
            for (int dy = 0; dy < 3; ++dy) {
#pragma unroll
                for (int dx = 0; dx < 3; ++dx) {
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        uint32_t a[2 * kSets];
                        load_a(a, rr + dy, dx, h);
                        multiply(acc, a, h, dy * 3 + dx);
                    }
                }
            }
            finish_row(acc, rr);
        }
    }
}

struct Variant {
    const char* name;
    void (*launch)(const __nv_bfloat16*, const float*, const float*, int, int, int, __nv_bfloat16*, dim3);
};

template <int kSets, int kMinBlocks, bool kRoll = false>
Variant make_mma(const char* name) {
    return {name, [](const __nv_bfloat16* x, const float* w, const float* b, int h, int wd, int ch, __nv_bfloat16* o,
                     dim3 grid) {
                silu_dwconv_gate_tokens_mma_kernel<__nv_bfloat16, kSets, kMinBlocks, kRoll><<<grid, 256>>>(x, w, b, h, wd, ch, o);
            }};
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
        p[i] = __bfloat162float(__float2bfloat16(((h & 0xffff) / 65536.0f - 0.5f) * scale));  // bf16 values
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
    const std::vector<Variant> variants = {
        make_mma<1, 3>("mma 8 ch/warp, 3 blocks/SM"),
        make_mma<1, 3, true>("  + rolling rows"),
        make_mma<1, 2, true>("  + rolling rows, 2 blocks/SM"),
        make_mma<1, 2>("mma 8 ch/warp, 2 blocks/SM"),
        make_mma<2, 2>("mma 16 ch/warp, 2 blocks/SM"),
        make_mma<2, 3>("mma 16 ch/warp, 3 (spills)"),
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
        auto production = [&] {  // the FMA kernel
            silu_depthwise_conv3x3_gate_tokens(DType::kBFloat16, x, w, bias, s.b, s.c, s.h, s.w, ref, 0);
        };
        const float p_cold = time_it(production, true), p_hot = time_it(production, false);
        CK(cudaDeviceSynchronize());
        CK(cudaGetLastError());
        printf("  %-28s cold %7.1f us (%5.0f GB/s)  hot %7.1f us\n", "production (FMA)", p_cold, bytes / p_cold / 1e3,
               p_hot);
        std::vector<uint16_t> h_ref(n_out), h_o(n_out);
        CK(cudaMemcpy(h_ref.data(), ref, n_out * 2, cudaMemcpyDeviceToHost));
        for (const auto& v : variants) {
            const dim3 grid(static_cast<unsigned>(s.b * ((s.h + kMmaRows - 1) / kMmaRows) * ((s.w + kMmaCols - 1) / kMmaCols)),
                            static_cast<unsigned>((s.c + kGroup - 1) / kGroup));
            CK(cudaMemset(o, 0xff, n_out * 2));
            auto launch = [&] { v.launch(x, w, bias, s.h, s.w, s.c, o, grid); };
            const float cold = time_it(launch, true), hot = time_it(launch, false);
            CK(cudaDeviceSynchronize());
            CK(cudaGetLastError());
            CK(cudaMemcpy(h_o.data(), o, n_out * 2, cudaMemcpyDeviceToHost));
            size_t diff = 0, nonfinite = 0;
            float max_abs = 0;
            for (size_t i = 0; i < n_out; ++i) {
                if ((h_o[i] & 0x7f80) == 0x7f80) {
                    ++nonfinite;  // unwritten (the buffer starts as NaN) or overflowed
                }
                if (h_o[i] != h_ref[i]) {
                    ++diff;
                    uint32_t a = uint32_t(h_o[i]) << 16, r = uint32_t(h_ref[i]) << 16;
                    float fa, fr;
                    std::memcpy(&fa, &a, 4);
                    std::memcpy(&fr, &r, 4);
                    max_abs = std::max(max_abs, std::fabs(fa - fr));
                }
            }
            printf("  %-28s cold %7.1f us (%5.0f GB/s)  hot %7.1f us  x%.2f  %zu of %zu values differ (max %.3g), %zu not "
                   "finite\n",
                   v.name, cold, bytes / cold / 1e3, hot, p_cold / cold, diff, n_out, max_abs, nonfinite);
        }
        cudaFree(x);
        cudaFree(ref);
        cudaFree(o);
        cudaFree(w);
        cudaFree(bias);
    }
    return 0;
}
