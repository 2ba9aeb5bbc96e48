// GLUMBConv's depthwise 3×3 convolution and SiLU gate on CUDA, fused: each output value reads the 3×3
// neighbourhoods of its value channel c and gate channel c + C, accumulates both in float32 and writes
// value · SiLU(gate) once. The [B, 2C, H, W] intermediate of the unfused version never exists.
//  - kernels::depthwise_conv3x3_silu_gate: contiguous NCHW input (threads along W).
//  - kernels::silu_depthwise_conv3x3_gate_nhwc: the token layout [B, H, W, 2C] (channels innermost), with the SiLU
//    that precedes the depthwise conv applied while each input row is staged in shared memory (once per element,
//    rounded to the activation dtype as the unfused SiLU's output is); blocks walk down the rows of a 32-column strip
//    (see below).
#include <type_traits>

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
//
// A block owns 32 channels of each half, a strip of up to 32 output columns and a range of output rows, and walks
// down the rows. Each input row of the strip (34 columns with the halo) is loaded once, SiLU'd once and staged in one
// of two shared-memory slots; every thread then reads the new row's values for its window. So SiLU runs once per
// input value (plus the two halo rows a block starts with), not once per tile that overlaps it. Thread t: channel
// pair t % 16 (channels c, c + 1 of both halves), output columns 2 · (t / 16) and + 1; its 3 × 4 window of
// (value, gate) pairs slides down in registers. The next row's global loads are in flight while the current row is
// computed.

constexpr int kStreamThreads = 256;
constexpr int kPairs = 16;                            // channel pairs per block: 32 channels of each half
constexpr int kGroup = 2 * kPairs;                    // channels of each half per block
constexpr int kStripCols = 2 * (kStreamThreads / kPairs);  // 32 output columns
constexpr int kInCols = kStripCols + 2;               // staged columns, with the halo

template <typename scalar_t>
struct StreamLayout {
    static constexpr int kVec = 16 / sizeof(scalar_t);  // elements per 16-byte vector
    static constexpr int kVecsPerHalf = kGroup / kVec;  // 4 for 2-byte types, 8 for float32
    static constexpr int kVecsPerPixel = 2 * kVecsPerHalf;
    // Elements per staged pixel: both halves, and for 2-byte types 16 elements of padding, so that the two
    // half-warps (columns two apart) read different banks.
    static constexpr int kPixel = 2 * kGroup + (sizeof(scalar_t) == 2 ? 16 : 0);
    static constexpr int kSlot = kInCols * kPixel;        // elements per staged row
    static constexpr int kRowVecs = kInCols * kVecsPerPixel;
    static constexpr int kLoads = (kRowVecs + kStreamThreads - 1) / kStreamThreads;  // vectors per thread and row
};

// SiLU of a staged input value. Half types: the approximate exponential and reciprocal (about 2 ulp of float32, far
// below their rounding); float32: as at::silu computes it.
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

template <typename scalar_t>
__device__ __forceinline__ float round_as(float v) {
    if constexpr (sizeof(scalar_t) == 2) {
        return to_float(from_float<scalar_t>(v));
    } else {
        return v;
    }
}

// Channels c, c + 1 of one staged pixel and half, as float32.
template <typename scalar_t>
__device__ __forceinline__ float2 load_pair(const scalar_t* p) {
    if constexpr (sizeof(scalar_t) == 2) {
        union {
            uint32_t raw;
            scalar_t v[2];
        } u;
        u.raw = *reinterpret_cast<const uint32_t*>(p);
        return make_float2(to_float(u.v[0]), to_float(u.v[1]));
    } else {
        return *reinterpret_cast<const float2*>(p);
    }
}

// One thread's share of staging an input row: kLoads 16-byte vectors of the strip (columns x0 − 1 … x0 + 32, both
// halves), prefetched into registers by fetch() and SiLU'd into a slot by stage().
template <typename scalar_t>
struct RowStager {
    using L = StreamLayout<scalar_t>;
    const scalar_t* src[L::kLoads];  // the vector in image row 0, or null (outside the image or past the channels)
    int dst[L::kLoads];              // element offset in a slot, or -1 (no such vector)
    uint4 data[L::kLoads];
    int64_t row_stride;              // elements per image row

    __device__ void init(const scalar_t* x_b, int width, int channels, int x0, int c0) {
        row_stride = static_cast<int64_t>(width) * 2 * channels;
#pragma unroll
        for (int k = 0; k < L::kLoads; ++k) {
            const int v = static_cast<int>(threadIdx.x) + k * kStreamThreads;
            const int px = v / L::kVecsPerPixel;
            const int half = (v / L::kVecsPerHalf) % 2;
            const int vec = v % L::kVecsPerHalf;
            const int col = x0 - 1 + px;
            const int c = c0 + vec * L::kVec;
            dst[k] = v < L::kRowVecs ? px * L::kPixel + half * kGroup + vec * L::kVec : -1;
            src[k] = (v < L::kRowVecs && col >= 0 && col < width && c < channels)
                         ? x_b + static_cast<int64_t>(col) * 2 * channels + half * channels + c
                         : nullptr;
        }
    }
    // Global loads of image row y (zeros outside the image: the convolution pads SiLU(x) with zeros).
    __device__ void fetch(int y, int height) {
#pragma unroll
        for (int k = 0; k < L::kLoads; ++k) {
            data[k] = (src[k] != nullptr && y >= 0 && y < height)
                          ? __ldg(reinterpret_cast<const uint4*>(src[k] + y * row_stride))
                          : make_uint4(0, 0, 0, 0);
        }
    }
    // SiLU of the fetched row, rounded to scalar_t as the unfused SiLU's output is, into `slot`.
    __device__ void stage(scalar_t* slot) const {
#pragma unroll
        for (int k = 0; k < L::kLoads; ++k) {
            if (dst[k] >= 0) {
                Vec16<scalar_t> u;
                u.raw = data[k];
#pragma unroll
                for (int j = 0; j < L::kVec; ++j) {
                    u.v[j] = from_float<scalar_t>(staged_silu<scalar_t>(to_float(u.v[j])));
                }
                *reinterpret_cast<uint4*>(slot + dst[k]) = u.raw;
            }
        }
    }
};

// grid.x: B · strips · row ranges (rows_per_block output rows each), grid.y: ceil(C / 32) channel groups.
// weight_t [9, 2C] float32 (tap-major), bias [2C] float32 or null. C is a multiple of 16 / sizeof(scalar_t); x and
// out are 16-byte aligned (the glue checks).
template <typename scalar_t>
__global__ void __launch_bounds__(kStreamThreads, 2)
    silu_dwconv_gate_rows_kernel(const scalar_t* __restrict__ x, const float* __restrict__ weight_t,
                                 const float* __restrict__ bias, int height, int width, int channels,
                                 int rows_per_block, scalar_t* __restrict__ out) {
    using L = StreamLayout<scalar_t>;
    __shared__ __align__(16) scalar_t slots[2][L::kSlot];

    const int strips = (width + kStripCols - 1) / kStripCols;
    const int ranges = (height + rows_per_block - 1) / rows_per_block;
    int t = blockIdx.x;
    const int range = t % ranges;
    t /= ranges;
    const int strip = t % strips;
    const int b = t / strips;
    const int x0 = strip * kStripCols;
    const int y0 = range * rows_per_block;
    const int y_end = min(height, y0 + rows_per_block);
    const int c0 = blockIdx.y * kGroup;

    const int pair = threadIdx.x % kPairs;
    const int col_pair = threadIdx.x / kPairs;
    const int c = c0 + 2 * pair;
    const bool channel_ok = c < channels;
    const int64_t pixel_stride = 2 * static_cast<int64_t>(channels);

    // Weights and biases of channels c, c + 1 of both halves (zeros past the last channel: nothing is written there).
    float2 w[2][9];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) {
            const float* p = weight_t + tap * pixel_stride + half * channels + c;
            w[half][tap] = channel_ok ? make_float2(p[0], p[1]) : make_float2(0.0f, 0.0f);
        }
    }
    float2 bv = make_float2(0.0f, 0.0f), bg = make_float2(0.0f, 0.0f);
    if (bias != nullptr && channel_ok) {
        bv = make_float2(bias[c], bias[c + 1]);
        bg = make_float2(bias[channels + c], bias[channels + c + 1]);
    }

    RowStager<scalar_t> stager;
    stager.init(x + static_cast<int64_t>(b) * height * width * pixel_stride, width, channels, x0, c0);

    // The window: rows y − 1, y, y + 1 (ring index (row − y0 + 1) % 3) × the thread's 4 input columns × 2 halves.
    float2 win[3][4][2];
    auto read_row = [&](const scalar_t* slot, float2 (&dst)[4][2]) {
#pragma unroll
        for (int col = 0; col < 4; ++col) {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                dst[col][half] = load_pair(slot + (2 * col_pair + col) * L::kPixel + half * kGroup + 2 * pair);
            }
        }
    };

    // Prologue: rows y0 − 1 and y0 staged and read, row y0 + 1 staged, row y0 + 2 in flight.
    stager.fetch(y0 - 1, height);
    stager.stage(slots[0]);
    stager.fetch(y0, height);
    stager.stage(slots[1]);
    __syncthreads();
    read_row(slots[0], win[0]);
    read_row(slots[1], win[1]);
    stager.fetch(y0 + 1, height);
    __syncthreads();  // slot 0 read by everyone before row y0 + 1 replaces it
    stager.stage(slots[0]);
    stager.fetch(y0 + 2, height);

    scalar_t* out_b = out + static_cast<int64_t>(b) * height * width * channels;
    // Output row y from ring phase P = (y − y0) % 3: rows y − 1, y, y + 1 are win[P], win[P + 1], win[P + 2] (mod 3).
    auto step = [&](int y, auto phase_tag) {
        constexpr int P = decltype(phase_tag)::value;
        constexpr int i0 = P, i1 = (P + 1) % 3, i2 = (P + 2) % 3;
        // Row y + 1 is staged (in slot (y − y0) % 2), and every thread has read row y out of the other slot.
        __syncthreads();
        read_row(slots[(y - y0 + 2) % 2], win[i2]);
#pragma unroll
        for (int oc = 0; oc < 2; ++oc) {
            float2 v = make_float2(0.0f, 0.0f), g = make_float2(0.0f, 0.0f);
#pragma unroll
            for (int dy = 0; dy < 3; ++dy) {
                const int wi = dy == 0 ? i0 : (dy == 1 ? i1 : i2);
#pragma unroll
                for (int dx = 0; dx < 3; ++dx) {
                    const int tap = dy * 3 + dx;
                    v.x = fmaf(w[0][tap].x, win[wi][oc + dx][0].x, v.x);
                    v.y = fmaf(w[0][tap].y, win[wi][oc + dx][0].y, v.y);
                    g.x = fmaf(w[1][tap].x, win[wi][oc + dx][1].x, g.x);
                    g.y = fmaf(w[1][tap].y, win[wi][oc + dx][1].y, g.y);
                }
            }
            const int ox = x0 + 2 * col_pair + oc;
            if (channel_ok && ox < width) {
                // The unfused ops' roundings: conv output (with bias), SiLU(gate), the product.
                const float value0 = round_as<scalar_t>(v.x + bv.x);
                const float value1 = round_as<scalar_t>(v.y + bv.y);
                const float gate0 = round_as<scalar_t>(g.x + bg.x);
                const float gate1 = round_as<scalar_t>(g.y + bg.y);
                scalar_t result[2];
                result[0] = from_float<scalar_t>(value0 * round_as<scalar_t>(staged_silu<scalar_t>(gate0)));
                result[1] = from_float<scalar_t>(value1 * round_as<scalar_t>(staged_silu<scalar_t>(gate1)));
                scalar_t* dst = out_b + (static_cast<int64_t>(y) * width + ox) * channels + c;
                if constexpr (sizeof(scalar_t) == 2) {
                    uint32_t packed;
                    memcpy(&packed, result, sizeof(packed));
                    *reinterpret_cast<uint32_t*>(dst) = packed;
                } else {
                    *reinterpret_cast<float2*>(dst) = make_float2(result[0], result[1]);
                }
            }
        }
        // Row y + 2 into the slot that held row y (read at the previous step), row y + 3 in flight.
        stager.stage(slots[(y - y0 + 1) % 2]);
        stager.fetch(y + 3, height);
    };
    for (int y = y0; y < y_end; y += 3) {
        step(y, std::integral_constant<int, 0>{});
        if (y + 1 < y_end) step(y + 1, std::integral_constant<int, 1>{});
        if (y + 2 < y_end) step(y + 2, std::integral_constant<int, 2>{});
    }
}

// Output rows per block: splits the rows so that the grid fills whole waves of two blocks per SM, counting the two
// halo rows each block stages.
int rows_per_block(int64_t items, int64_t height, int num_sms) {
    const int64_t slots = 2 * static_cast<int64_t>(num_sms > 0 ? num_sms : 132);
    int64_t best_rows = height;
    double best_cost = 0.0;
    for (int64_t splits = 1; splits <= 16; ++splits) {
        const int64_t rows = ceil_div(height, splits);
        if (splits > 1 && rows < 4) break;
        const int64_t waves = ceil_div(items * ceil_div(height, rows), slots);
        const double cost = static_cast<double>(waves) * (static_cast<double>(rows) + 1.5);
        if (splits == 1 || cost < best_cost) {
            best_cost = cost;
            best_rows = rows;
        }
    }
    return static_cast<int>(best_rows);
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
    return batch > 0 && channels > 0 && height > 0 && width > 0 && channels % vec == 0 && height <= (1 << 30) &&
           width <= (1 << 30) && channels <= (1 << 29) && aligned16(x) && aligned16(out) &&
           batch * ceil_div(width, kStripCols) * height <= kMaxGridX && ceil_div(channels, kGroup) <= kMaxGridY;
}

cudaError_t silu_depthwise_conv3x3_gate_tokens(DType dtype, const void* x, const float* weight_t, const float* bias,
                                               int64_t batch, int64_t channels, int64_t height, int64_t width,
                                               void* out, int num_sms, cudaStream_t stream) {
    if (weight_t == nullptr || !silu_depthwise_conv3x3_gate_tokens_supported(dtype, batch, channels, height, width, x,
                                                                             out)) {
        return cudaErrorInvalidValue;
    }
    const int64_t groups = ceil_div(channels, kGroup);
    const int64_t items = batch * ceil_div(width, kStripCols) * groups;
    const int rows = rows_per_block(items, height, num_sms);
    const dim3 grid(static_cast<unsigned>(batch * ceil_div(width, kStripCols) * ceil_div(height, rows)),
                    static_cast<unsigned>(groups));
    const bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        silu_dwconv_gate_rows_kernel<scalar_t><<<grid, kStreamThreads, 0, stream>>>(
            static_cast<const scalar_t*>(x), weight_t, bias, static_cast<int>(height), static_cast<int>(width),
            static_cast<int>(channels), rows, static_cast<scalar_t*>(out));
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
