// The torch-free interface of our CUDA kernels (kernels/src/cuda/*.cu): raw device pointers, sizes, strides and a
// stream in, a cudaError_t out. The at::Tensor glue (argument checks, dtypes, workspaces, fallbacks to ATen ops) is
// in ops_cuda.cu; the kernel files include no torch header, so they compile with nvcc alone.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kernels::cuda {

/// The element types our kernels take (float32, float16, bfloat16); anything else stays with ATen.
enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

/// Element strides of a 4-d [B, H, N, D] view.
struct Strides4 {
    int64_t b, h, n, d;
};

// ---- Sana's ReLU linear attention --------------------------------------------------------------------------------

/// Widest head (D and Dv) the kernels take.
constexpr int kLinearAttentionMaxHead = 64;

/// How the token axis is split for the KV pass, and the float32 workspaces the caller allocates.
struct LinearAttentionPlan {
    int dmax = 32;               // 32 or 64: the template width used
    int64_t chunks = 1;          // token chunks of pass 1 (grid.y), at most 65535
    int64_t rows_per_chunk = 0;  // tokens per chunk (a multiple of the tile)
    int64_t partial_floats = 0;  // workspace for the per-chunk partial sums: batch_heads · chunks · (dmax² + dmax)
    int64_t kv_floats = 0;  // workspace for the summed KV and Σk: batch_heads · (dmax² + dmax); 0 when chunks == 1
    int64_t output_blocks_y = 0;  // grid.y of the output pass (the caller falls back to ATen if it exceeds 65535)
};

/// head_dim = max(D, Dv) in 1..kLinearAttentionMaxHead; token_contiguous: q's token stride is 1 and its feature
/// stride is not (the DC-AE's layout).
LinearAttentionPlan plan_relu_linear_attention(int64_t batch_heads, int64_t tokens, int head_dim, bool token_contiguous,
                                               int num_sms);

/// q, k: [B, H, N, D], v: [B, H, N, Dv], out: [B, H, N, Dv], all of `dtype`, any strides (elements).
/// partial: plan.partial_floats floats; kv: plan.kv_floats floats (may be null when plan.chunks == 1).
cudaError_t relu_linear_attention(DType dtype, const void* q, Strides4 q_strides, const void* k, Strides4 k_strides,
                                  const void* v, Strides4 v_strides, int64_t batch, int64_t heads, int64_t tokens,
                                  int d_k, int d_v, float eps, const LinearAttentionPlan& plan, float* partial,
                                  float* kv, void* out, Strides4 out_strides, cudaStream_t stream);

// ---- Row normalisations ------------------------------------------------------------------------------------------

/// Longest row the norm kernels take (the row is cached in 48 KB of shared memory).
constexpr int64_t kMaxNormRow = 12 * 1024 - 64;

/// out[r, :] = layer_norm(x[r, :], eps) · (1 + scale[m, :]) + shift[m, :], m = r / rows_per_batch when per_batch,
/// else 0. x: [rows, dim] contiguous of in_type; shift, scale: float32 [Bm, dim]; out: [rows, dim] contiguous of
/// out_type, which must be in_type or kFloat32.
cudaError_t layer_norm_modulate(DType in_type, DType out_type, const void* x, const float* shift, const float* scale,
                                int64_t rows, int64_t dim, int64_t rows_per_batch, bool per_batch, float eps, void* out,
                                cudaStream_t stream);

/// out[r, :] = x[r, :] · rsqrt(mean(x[r, :]²) + eps) [· weight [+ bias]]. x: [rows, dim] contiguous of in_type;
/// weight, bias: float32 [dim] or null; out: [rows, dim] contiguous of out_type (in_type or kFloat32).
cudaError_t rms_norm(DType in_type, DType out_type, const void* x, const float* weight, const float* bias, int64_t rows,
                     int64_t dim, float eps, void* out, cudaStream_t stream);

// ---- GLUMBConv's depthwise 3×3 conv + SiLU gate ------------------------------------------------------------------

/// channels_last: x is [B, H, W, 2C] in memory, weight [9, 2C] (tap-major), out [B, H, W, C];
/// else x is [B, 2C, H, W] contiguous, weight [2C, 9], out [B, C, H, W]. weight, bias (or null): float32.
cudaError_t depthwise_conv3x3_silu_gate(DType dtype, bool channels_last, const void* x, const float* weight,
                                        const float* bias, int64_t batch, int64_t channels, int64_t height,
                                        int64_t width, void* out, cudaStream_t stream);

/// Grid limits the glue checks before calling (larger problems go to ATen ops).
constexpr int64_t kMaxGridX = 2147483647;
constexpr int64_t kMaxGridY = 65535;

}  // namespace kernels::cuda
