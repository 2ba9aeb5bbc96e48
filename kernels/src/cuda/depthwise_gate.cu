// GLUMBConv's depthwise 3×3 convolution and SiLU gate on CUDA, fused: each output value reads the 3×3
// neighbourhoods of its value channel c and gate channel c + C, accumulates both in float32 and writes
// value · SiLU(gate) once. The [B, 2C, H, W] intermediate of the unfused version never exists.
//  - kernels::depthwise_conv3x3_silu_gate: contiguous NCHW input (threads along W).
//  - kernels::silu_depthwise_conv3x3_gate_nhwc: the token layout [B, H, W, 2C] (channels innermost), with the SiLU
//    that precedes the depthwise conv applied while the input tile is staged in shared memory (once per element,
//    rounded to the activation dtype as the unfused SiLU's output is). Blocks own a tile of output rows (8 × 16
//    pixels for half types) and 64 channels of each half; a warp slides a 3 × 3 register window along one output
//    row, each lane two adjacent channels.
#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kThreads = 256;

// x [B, 2C, H, W] contiguous, weight [2C, 9] float32, bias [2C] float32 or null, out [B, C, H, W].
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    depthwise_gate_nchw_kernel(const scalar_t* __restrict__ x, const float* __restrict__ weight,
                               const float* __restrict__ bias, int64_t height, int64_t width, int64_t channels,
                               int64_t total, scalar_t* __restrict__ out) {
    const int64_t index = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (index >= total) {
        return;
    }
    const int64_t px = index % width;
    const int64_t py = (index / width) % height;
    const int64_t c = (index / (width * height)) % channels;
    const int64_t b = index / (width * height * channels);
    const int64_t plane = height * width;
    const scalar_t* value_plane = x + (b * 2 * channels + c) * plane;
    const scalar_t* gate_plane = value_plane + channels * plane;
    const float* w_value = weight + c * 9;
    const float* w_gate = weight + (c + channels) * 9;
    float value = bias != nullptr ? bias[c] : 0.0f;
    float gate = bias != nullptr ? bias[c + channels] : 0.0f;
#pragma unroll
    for (int dy = -1; dy <= 1; ++dy) {
        const int64_t y = py + dy;
        if (y < 0 || y >= height) {
            continue;
        }
#pragma unroll
        for (int dx = -1; dx <= 1; ++dx) {
            const int64_t xx = px + dx;
            if (xx < 0 || xx >= width) {
                continue;
            }
            const int tap = (dy + 1) * 3 + (dx + 1);
            value = fmaf(w_value[tap], to_float(value_plane[y * width + xx]), value);
            gate = fmaf(w_gate[tap], to_float(gate_plane[y * width + xx]), gate);
        }
    }
    out[index] = from_float<scalar_t>(value * silu(gate));
}


// ---- token layout: x [B, H, W, 2C] → silu → depthwise 3×3 (+ bias) → value · SiLU(gate) → out [B, H, W, C] ----------

constexpr int kGroup = 64;  // channels of each half per block (32 lanes × 2)

// Output rows × columns per block: 8 × 16 for 2-byte types (45 KB of staged input), 4 × 8 for float32 (30 KB).
template <typename scalar_t>
__host__ __device__ constexpr int tile_rows() {
    return sizeof(scalar_t) == 2 ? 8 : 4;
}
template <typename scalar_t>
__host__ __device__ constexpr int tile_cols() {
    return sizeof(scalar_t) == 2 ? 16 : 8;
}

// SiLU of the staged input and of the gate. Half types: v / (1 + 2^(−v · log2 e)) with the hardware exp2 and
// reciprocal (about 2 ulp of float32, far below their rounding) in their flush-to-zero forms: the bare MUFU
// instructions, without the subnormal fix-ups of __expf / __fdividef (a third of this kernel's instructions went to
// them; only |v| > 87 reaches subnormals, where SiLU is v or 0 either way). float32: as at::silu computes it.
template <typename scalar_t>
__device__ __forceinline__ float staged_silu(float v) {
    if constexpr (sizeof(scalar_t) == 2) {
        float e, r;
        asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(v * -1.4426950408889634f));
        asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(1.0f + e));
        return v * r;
    } else {
        return silu(v);
    }
}

// Two adjacent channels' values rounded to scalar_t (nearest even) as the unfused ops' outputs are, and back to float:
// one packed conversion for the pair (cvt.rn.bf16x2.f32 / cvt.rn.f16x2.f32) where two scalar ones were.
__device__ __forceinline__ float2 round_pair(float2 v, float) {
    return v;
}
__device__ __forceinline__ float2 round_pair(float2 v, __half) {
    return __half22float2(__floats2half2_rn(v.x, v.y));
}
__device__ __forceinline__ float2 round_pair(float2 v, __nv_bfloat16) {
    return __bfloat1622float2(__floats2bfloat162_rn(v.x, v.y));
}
template <typename scalar_t>
__device__ __forceinline__ float2 round_pair(float2 v) {
    return round_pair(v, scalar_t{});
}

// The pair rounded to scalar_t and stored at dst (4-byte aligned for half types, 8 for float).
__device__ __forceinline__ void store_pair(float* dst, float2 v) {
    *reinterpret_cast<float2*>(dst) = v;
}
__device__ __forceinline__ void store_pair(__half* dst, float2 v) {
    *reinterpret_cast<__half2*>(dst) = __floats2half2_rn(v.x, v.y);
}
__device__ __forceinline__ void store_pair(__nv_bfloat16* dst, float2 v) {
    *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(v.x, v.y);
}

// SiLU of the 16 bytes staged from x, in place, rounded as the unfused SiLU's output (pairs: packed conversions).
template <typename scalar_t>
__device__ __forceinline__ void silu_staged(Vec16<scalar_t>& u) {
    if constexpr (sizeof(scalar_t) == 2) {
#pragma unroll
        for (int j = 0; j < Vec16<scalar_t>::kN; j += 2) {
            const float2 in = make_float2(to_float(u.v[j]), to_float(u.v[j + 1]));
            store_pair(&u.v[j], make_float2(staged_silu<scalar_t>(in.x), staged_silu<scalar_t>(in.y)));
        }
    } else {
#pragma unroll
        for (int j = 0; j < Vec16<scalar_t>::kN; ++j) {
            u.v[j] = staged_silu<scalar_t>(u.v[j]);
        }
    }
}

// Two adjacent channels of one staged pixel and half, as float32, in one shared-memory load (p is 4-byte aligned for
// half types, 8-byte for float: an even channel). bf16: the low half widened with a multiply (IMAD, on the FMA pipe)
// and the high half with a mask, where two 16-bit loads and two shifts on the busier ALU pipe were (H200: 3–5 % of
// the kernel).
__device__ __forceinline__ float2 load_pair(const float* p) {
    return *reinterpret_cast<const float2*>(p);
}
__device__ __forceinline__ float2 load_pair(const __half* p) {
    return __half22float2(*reinterpret_cast<const __half2*>(p));
}
__device__ __forceinline__ float2 load_pair(const __nv_bfloat16* p) {
    const uint32_t bits = *reinterpret_cast<const uint32_t*>(p);
    return make_float2(__uint_as_float(bits * 65536u), __uint_as_float(bits & 0xffff0000u));
}

// Stages SiLU(x) of a tile's (rows + 2) × (cols + 2) input pixels, both halves of channels c0 … c0 + 63, into shared
// memory at tile + pixel · kPixelStride + half · 64 + channel (pixel = row · (cols + 2) + col), rounded as the unfused
// SiLU's output; zeros outside the image (the conv pads its input, SiLU(x)) and past the last channel. Each thread owns
// one 16-byte slice of a pixel's channels and takes every (threads / slices)-th pixel; it issues kStageBatch loads
// before it uses the first. (A loop that loaded and used one slice an iteration waited out each load in turn: 11 round
// trips a warp, ≈ 1/6 of the kernel's time on an H200.) 32 · rows threads.
template <typename scalar_t, int kRows, int kCols, int kPixelStride>
__device__ __forceinline__ void stage_silu_tile(const scalar_t* __restrict__ x_b, int y0, int x0, int c0, int height,
                                                int width, int channels, scalar_t* tile) {
    constexpr int kInCols = kCols + 2;
    constexpr int kVec = 16 / sizeof(scalar_t);  // elements per 16-byte load
    constexpr int kSlicesPerHalf = kGroup / kVec;
    constexpr int kSlices = 2 * kSlicesPerHalf;
    constexpr int kPixelsPerPass = 32 * kRows / kSlices;
    constexpr int kPixels = (kRows + 2) * kInCols;
    constexpr int kPasses = (kPixels + kPixelsPerPass - 1) / kPixelsPerPass;
    constexpr int kStageBatch = 3;  // loads in flight per thread (H200: 3 and 4 best of 3, 4, 6, all)
    static_assert((32 * kRows) % kSlices == 0, "the threads must cover whole pixels");
    static_assert(kPixelStride >= 2 * kGroup && (kPixelStride * sizeof(scalar_t)) % 16 == 0, "pixel stride");
    const int64_t pixel_stride = 2 * static_cast<int64_t>(channels);
    const int slice = threadIdx.x % kSlices;
    const int half = slice / kSlicesPerHalf;
    const int slice_c = (slice % kSlicesPerHalf) * kVec;  // channel offset in the group
    const bool channels_in = c0 + slice_c < channels;
    const scalar_t* src = x_b + half * static_cast<int64_t>(channels) + c0 + slice_c;
    const int first_pixel = threadIdx.x / kSlices;
#pragma unroll
    for (int pass0 = 0; pass0 < kPasses; pass0 += kStageBatch) {
        Vec16<scalar_t> u[kStageBatch];
#pragma unroll
        for (int j = 0; j < kStageBatch; ++j) {
            const int pixel = first_pixel + (pass0 + j) * kPixelsPerPass;
            const int y = y0 + pixel / kInCols - 1;
            const int xx = x0 + pixel % kInCols - 1;
            u[j].raw = make_uint4(0, 0, 0, 0);
            if (pass0 + j < kPasses && pixel < kPixels && y >= 0 && y < height && xx >= 0 && xx < width &&
                channels_in) {
                u[j].raw = __ldg(reinterpret_cast<const uint4*>(src + (static_cast<int64_t>(y) * width + xx) * pixel_stride));
            }
        }
#pragma unroll
        for (int j = 0; j < kStageBatch; ++j) {
            const int pixel = first_pixel + (pass0 + j) * kPixelsPerPass;
            if (pass0 + j < kPasses && pixel < kPixels) {
                silu_staged(u[j]);  // SiLU(0) = 0: the padding stays zero
                *reinterpret_cast<uint4*>(tile + pixel * kPixelStride + half * kGroup + slice_c) = u[j].raw;
            }
        }
    }
}

// value · SiLU(gate) of one output pixel's channel pair from its float32 sums (bias included), with the unfused ops'
// roundings (conv output, SiLU(gate), the product), stored at dst.
template <typename scalar_t>
__device__ __forceinline__ void store_gated_pair(scalar_t* dst, float2 v, float2 g) {
    const float2 value = round_pair<scalar_t>(v);
    const float2 gate = round_pair<scalar_t>(g);
    const float2 gate_silu =
        round_pair<scalar_t>(make_float2(staged_silu<scalar_t>(gate.x), staged_silu<scalar_t>(gate.y)));
    store_pair(dst, make_float2(value.x * gate_silu.x, value.y * gate_silu.y));
}

// One output row of a staged tile on the FMA pipe: the warp slides a 3 × 3 window of (value, gate) channel pairs along
// the columns; the lane computes channels c, c + 1 (c = c0 + 2 · lane < C, checked by the caller). `rows` points at
// the staged row above the output row.
template <typename scalar_t, int kCols, int kPixelStride>
__device__ __forceinline__ void dwconv_gate_row_ffma(const scalar_t* rows, const float* __restrict__ weight_t,
                                                     const float* __restrict__ bias, int x0, int width, int channels,
                                                     int c, int lane, scalar_t* out_row) {
    constexpr int kInCols = kCols + 2;
    const int64_t pixel_stride = 2 * static_cast<int64_t>(channels);
    // Channel pairs as 8-byte loads (c even; weight_t and bias 8-byte aligned: the glue's taps tensor).
    float2 wv[9], wg[9];
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
        wv[tap] = *reinterpret_cast<const float2*>(weight_t + tap * pixel_stride + c);
        wg[tap] = *reinterpret_cast<const float2*>(weight_t + tap * pixel_stride + channels + c);
    }
    const float2 bv = bias != nullptr ? *reinterpret_cast<const float2*>(bias + c) : make_float2(0.0f, 0.0f);
    const float2 bg = bias != nullptr ? *reinterpret_cast<const float2*>(bias + channels + c) : make_float2(0.0f, 0.0f);
    auto staged = [&](int dy, int col, int half) {
        return load_pair(rows + (dy * kInCols + col) * kPixelStride + half * kGroup + 2 * lane);
    };
    float2 win_v[3][3], win_g[3][3];  // [dy][column slot]
#pragma unroll
    for (int col = 0; col < 2; ++col) {
#pragma unroll
        for (int dy = 0; dy < 3; ++dy) {
            win_v[dy][col] = staged(dy, col, 0);
            win_g[dy][col] = staged(dy, col, 1);
        }
    }
#pragma unroll
    for (int ox = 0; ox < kCols; ++ox) {
        const int incoming = (ox + 2) % 3;  // slot of tile column ox + 2
#pragma unroll
        for (int dy = 0; dy < 3; ++dy) {
            win_v[dy][incoming] = staged(dy, ox + 2, 0);
            win_g[dy][incoming] = staged(dy, ox + 2, 1);
        }
        if (x0 + ox >= width) {
            break;
        }
        float2 v = bv, g = bg;  // the bias first: one add fewer per value than adding it to the sum
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
        store_gated_pair(out_row + static_cast<int64_t>(x0 + ox) * channels + c, v, g);
    }
}

// The block's spatial tile from blockIdx.x: batch b, first output row y0 and column x0.
struct TileOrigin {
    int b, y0, x0;
};
template <int kRows, int kCols>
__device__ __forceinline__ TileOrigin tile_origin(int height, int width) {
    const int tiles_x = (width + kCols - 1) / kCols;
    const int tiles_y = (height + kRows - 1) / kRows;
    int t = blockIdx.x;
    const int tx = t % tiles_x;
    t /= tiles_x;
    const int ty = t % tiles_y;
    return {t / tiles_y, ty * kRows, tx * kCols};
}

// grid.x: B · ceil(H / rows) · ceil(W / cols) spatial tiles, grid.y: ceil(C / 64) channel groups; 32 · rows threads.
// weight_t [9, 2C] float32 (tap-major), bias [2C] float32 or null, both 8-byte aligned. C is a multiple of
// 16 / sizeof(scalar_t) and x, out are 16-byte aligned (the glue checks). Half types: at most 85 registers, so that
// three 256-thread blocks fit an SM (46 KB of shared memory each). Warp w computes output row y0 + w.
template <typename scalar_t>
__global__ void __launch_bounds__(32 * tile_rows<scalar_t>(), sizeof(scalar_t) == 2 ? 3 : 1)
    silu_dwconv_gate_tokens_kernel(const scalar_t* __restrict__ x, const float* __restrict__ weight_t,
                                   const float* __restrict__ bias, int height, int width, int channels,
                                   scalar_t* __restrict__ out) {
    constexpr int kRows = tile_rows<scalar_t>();
    constexpr int kCols = tile_cols<scalar_t>();
    constexpr int kPixelStride = 2 * kGroup;
    __shared__ __align__(16) scalar_t tile[(kRows + 2) * (kCols + 2) * kPixelStride];
    const TileOrigin o = tile_origin<kRows, kCols>(height, width);
    const int c0 = blockIdx.y * kGroup;
    const scalar_t* x_b = x + static_cast<int64_t>(o.b) * height * width * 2 * static_cast<int64_t>(channels);
    stage_silu_tile<scalar_t, kRows, kCols, kPixelStride>(x_b, o.y0, o.x0, c0, height, width, channels, tile);
    __syncthreads();

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int oy = o.y0 + warp;
    const int c = c0 + 2 * lane;
    if (oy >= height || c >= channels) {
        return;
    }
    scalar_t* out_row = out + ((static_cast<int64_t>(o.b) * height + oy) * width) * channels;
    dwconv_gate_row_ffma<scalar_t, kCols, kPixelStride>(tile + warp * (kCols + 2) * kPixelStride, weight_t, bias, o.x0,
                                                        width, channels, c, lane, out_row);
}

}  // namespace

cudaError_t depthwise_conv3x3_silu_gate(DType dtype, const void* x, const float* weight, const float* bias,
                                        int64_t batch, int64_t channels, int64_t height, int64_t width, void* out,
                                        cudaStream_t stream) {
    const int64_t total = batch * channels * height * width;
    if (batch <= 0 || channels <= 0 || height <= 0 || width <= 0 || weight == nullptr ||
        ceil_div(total, kThreads) > kMaxGridX) {
        return cudaErrorInvalidValue;
    }
    const auto blocks = static_cast<unsigned>(ceil_div(total, kThreads));
    const bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        depthwise_gate_nchw_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
            static_cast<const scalar_t*>(x), weight, bias, height, width, channels, total, static_cast<scalar_t*>(out));
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

bool silu_depthwise_conv3x3_gate_tokens_supported(DType dtype, int64_t batch, int64_t channels, int64_t height,
                                                  int64_t width, const void* x, const void* out) {
    const int vec = dtype == DType::kFloat32 ? 4 : 8;
    const int rows = dtype == DType::kFloat32 ? 4 : 8;
    const int cols = dtype == DType::kFloat32 ? 8 : 16;
    return batch > 0 && channels > 0 && height > 0 && width > 0 && channels % vec == 0 && height <= (1 << 30) &&
           width <= (1 << 30) && channels <= (1 << 29) && aligned16(x) && aligned16(out) &&
           batch * ceil_div(height, rows) * ceil_div(width, cols) <= kMaxGridX &&
           ceil_div(channels, kGroup) <= kMaxGridY;
}

cudaError_t silu_depthwise_conv3x3_gate_tokens(DType dtype, const void* x, const float* weight_t, const float* bias,
                                               int64_t batch, int64_t channels, int64_t height, int64_t width,
                                               void* out, cudaStream_t stream) {
    if (weight_t == nullptr || reinterpret_cast<uintptr_t>(weight_t) % 8 != 0 ||
        reinterpret_cast<uintptr_t>(bias) % 8 != 0 ||
        !silu_depthwise_conv3x3_gate_tokens_supported(dtype, batch, channels, height, width, x, out)) {
        return cudaErrorInvalidValue;
    }
    const bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        constexpr int rows = tile_rows<scalar_t>();
        constexpr int cols = tile_cols<scalar_t>();
        const dim3 grid(static_cast<unsigned>(batch * ceil_div(height, rows) * ceil_div(width, cols)),
                        static_cast<unsigned>(ceil_div(channels, kGroup)));
        silu_dwconv_gate_tokens_kernel<scalar_t><<<grid, 32 * rows, 0, stream>>>(
            static_cast<const scalar_t*>(x), weight_t, bias, static_cast<int>(height), static_cast<int>(width),
            static_cast<int>(channels), static_cast<scalar_t*>(out));
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
