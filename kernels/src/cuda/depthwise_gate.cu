// GLUMBConv's depthwise 3×3 convolution and SiLU gate (kernels::depthwise_conv3x3_silu_gate) on CUDA, fused:
// each output value reads the 3×3 neighbourhoods of its value channel c and gate channel c + C, accumulates both in
// float32 and writes value · SiLU(gate) once. The [B, 2C, H, W] intermediate of the unfused version never exists.
// Two layouts: channels-last (Sana's token grid; threads along channels) and contiguous NCHW (threads along W).
#include "common.cuh"

namespace kernels::cuda {
namespace {

constexpr int kThreads = 256;

// x [B, H, W, 2C] (channels-last memory), weight_t [9, 2C] float32 (tap-major), bias [2C] float32 or null,
// out [B, H, W, C].
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    depthwise_gate_nhwc_kernel(const scalar_t* __restrict__ x, const float* __restrict__ weight_t,
                               const float* __restrict__ bias, int64_t height, int64_t width, int64_t channels,
                               int64_t total, scalar_t* __restrict__ out) {
    const int64_t index = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (index >= total) {
        return;
    }
    const int64_t c = index % channels;
    const int64_t pixel = index / channels;
    const int64_t px = pixel % width;
    const int64_t py = (pixel / width) % height;
    const int64_t b = pixel / (width * height);
    const int64_t two_c = 2 * channels;
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
            const scalar_t* in = x + ((b * height + y) * width + xx) * two_c;
            value = fmaf(weight_t[tap * two_c + c], to_float(in[c]), value);
            gate = fmaf(weight_t[tap * two_c + c + channels], to_float(in[c + channels]), gate);
        }
    }
    out[pixel * channels + c] = from_float<scalar_t>(value * silu(gate));
}

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

}  // namespace

cudaError_t depthwise_conv3x3_silu_gate(DType dtype, bool channels_last, const void* x, const float* weight,
                                        const float* bias, int64_t batch, int64_t channels, int64_t height,
                                        int64_t width, void* out, cudaStream_t stream) {
    const int64_t total = batch * channels * height * width;
    if (batch <= 0 || channels <= 0 || height <= 0 || width <= 0 || weight == nullptr ||
        ceil_div(total, kThreads) > kMaxGridX) {
        return cudaErrorInvalidValue;
    }
    const auto blocks = static_cast<unsigned>(ceil_div(total, kThreads));
    const bool ok = dispatch_dtype(dtype, [&](auto tag) {
        using scalar_t = typename decltype(tag)::type;
        const auto* xp = static_cast<const scalar_t*>(x);
        auto* op = static_cast<scalar_t*>(out);
        if (channels_last) {
            depthwise_gate_nhwc_kernel<scalar_t>
                <<<blocks, kThreads, 0, stream>>>(xp, weight, bias, height, width, channels, total, op);
        } else {
            depthwise_gate_nchw_kernel<scalar_t>
                <<<blocks, kThreads, 0, stream>>>(xp, weight, bias, height, width, channels, total, op);
        }
    });
    return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kernels::cuda
