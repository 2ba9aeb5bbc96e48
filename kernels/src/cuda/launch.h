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
    bool vectorized = false;      // the 16-byte-vector kernels (see relu_linear_attention_vectorizable)
    // Both passes on tensor cores (bfloat16, D = 32, compute capability 8.0+): kv_floats then counts the 32-bit words
    // of KV and Σk split into bfloat16 hi / lo terms as the output MMAs' B fragments (needed even when chunks == 1).
    bool mma = false;
};

/// True when q, k, v and out are rows of 16-byte vectors (features contiguous, every other stride a whole number
/// of vectors, 16-byte aligned) and D = Dv = 32 or 64: Sana's heads split off [B, N, H·D] projections.
bool relu_linear_attention_vectorizable(DType dtype, const void* q, Strides4 q_strides, const void* k,
                                        Strides4 k_strides, const void* v, Strides4 v_strides, const void* out,
                                        Strides4 out_strides, int d_k, int d_v);

/// head_dim = max(D, Dv) in 1..kLinearAttentionMaxHead; token_contiguous: q's token stride is 1 and its feature
/// stride is not (the DC-AE's layout); vectorized: relu_linear_attention_vectorizable said yes; mma: the inputs are
/// bfloat16 on a device of compute capability 8.0 or newer, so a vectorised D = 32 problem may take the tensor-core
/// passes.
LinearAttentionPlan plan_relu_linear_attention(int64_t batch_heads, int64_t tokens, int head_dim, bool token_contiguous,
                                               int num_sms, bool vectorized = false, bool mma = false);

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

/// The same with x, shift, scale and out all of `dtype` (no float32 copies of the modulation): shift / scale rows
/// of row r start at (r / rows_per_batch) · mod_stride elements (mod_stride 0: one row for all), e.g. chunks of
/// Sana's [B, 6, D] modulation. A warp per row; supported for dim a multiple of 16 bytes' worth of elements up to
/// 3072 half / 1536 float32 values, mod_stride a multiple of that vector, 16-byte aligned pointers.
/// With a residual y ([rows, dim], or null) the row normalised is s = x + y, or x + gate · y with a gate (dim wide, or
/// null; its rows start at (r / rows_per_batch) · gate_stride), rounded once to `dtype` and written to sum_out
/// ([rows, dim]; needed with y). With y_head ([y_head_samples, dim], 16-byte aligned, or null) the rows of the first
/// y_head_samples batches take y_head's row b as their y (broadcast; y's rows of those batches are not read).
bool layer_norm_modulate_rows_supported(DType dtype, int64_t rows, int64_t dim, const void* x, const void* shift,
                                        const void* scale, int64_t mod_stride, const void* out,
                                        const void* y = nullptr, const void* gate = nullptr, int64_t gate_stride = 0,
                                        const void* sum_out = nullptr, const void* y_head = nullptr,
                                        int64_t y_head_samples = 0);
cudaError_t layer_norm_modulate_rows(DType dtype, const void* x, const void* shift, const void* scale, int64_t rows,
                                     int64_t dim, int64_t rows_per_batch, int64_t mod_stride, float eps, void* out,
                                     cudaStream_t stream, const void* y = nullptr, const void* gate = nullptr,
                                     int64_t gate_stride = 0, void* sum_out = nullptr, const void* y_head = nullptr,
                                     int64_t y_head_samples = 0);

/// out[r, :] = x[r, :] · rsqrt(mean(x[r, :]²) + eps) [· weight [+ bias]]. x: [rows, dim] contiguous of in_type;
/// weight, bias: float32 [dim] or null; out: [rows, dim] contiguous of out_type (in_type or kFloat32).
// residual (in_type, [rows, dim], or null): added to the rounded result in the same pass; cudaErrorNotSupported when
// the row's kernel form cannot take one (then nothing ran).
cudaError_t rms_norm(DType in_type, DType out_type, const void* x, const float* weight, const float* bias, int64_t rows,
                     int64_t dim, float eps, const void* residual, void* out, cudaStream_t stream);

// ---- GLUMBConv's depthwise 3×3 conv + SiLU gate ------------------------------------------------------------------

/// x is [B, 2C, H, W] contiguous, weight [2C, 9], out [B, C, H, W]. weight, bias (or null): float32.
cudaError_t depthwise_conv3x3_silu_gate(DType dtype, const void* x, const float* weight, const float* bias,
                                        int64_t batch, int64_t channels, int64_t height, int64_t width, void* out,
                                        cudaStream_t stream);

/// The token layout with the SiLU before the conv: x [B, H, W, 2C] contiguous (the conv_inverted output before its
/// SiLU), weight_t [9, 2C] float32 (tap-major), bias [2C] float32 or null (both 8-byte aligned), out [B, H, W, C]
/// contiguous.
/// Supported when C is a multiple of 16 bytes' worth of elements and x, out are 16-byte aligned (see below).
bool silu_depthwise_conv3x3_gate_tokens_supported(DType dtype, int64_t batch, int64_t channels, int64_t height,
                                                  int64_t width, const void* x, const void* out);
cudaError_t silu_depthwise_conv3x3_gate_tokens(DType dtype, const void* x, const float* weight_t, const float* bias,
                                               int64_t batch, int64_t channels, int64_t height, int64_t width,
                                               void* out, cudaStream_t stream);

// ---- Gated residual ---------------------------------------------------------------------------------------------

/// out[r, :] = x[r, :] + gate[m, :] · y[r, :] (float32 arithmetic, one rounding), m = r / rows_per_batch, the gate
/// row at gate + m · gate_stride (0: one row for all). x, y, out: [rows, dim] contiguous, all of `dtype`; dim and
/// gate_stride whole 16-byte vectors, pointers 16-byte aligned.
bool gated_residual_supported(DType dtype, int64_t rows, int64_t dim, const void* x, const void* gate,
                              int64_t gate_stride, const void* y, const void* out);
cudaError_t gated_residual(DType dtype, const void* x, const void* gate, const void* y, int64_t rows, int64_t dim,
                           int64_t rows_per_batch, int64_t gate_stride, void* out, int num_sms, cudaStream_t stream);

// ---- Bias + SiLU ---------------------------------------------------------------------------------------------------

/// out[r, c] = SiLU(round(x[r, c] + bias[c])) in float32, rounded to `dtype` (what at::silu(x + bias) computes).
/// x, out: [rows, channels] contiguous of `dtype`; bias float32 [channels]; channels whole 16-byte vectors, x and out
/// 16-byte aligned.
bool bias_silu_supported(DType dtype, int64_t rows, int64_t channels, const void* x, const void* out);
cudaError_t bias_silu(DType dtype, const void* x, const float* bias, int64_t rows, int64_t channels, void* out,
                      int num_sms, cudaStream_t stream);

// ---- GroupNorm on channels-innermost maps ------------------------------------------------------------------------

/// Element strides of one sample and of its two position dims [T, R] (outer, inner); channels have stride 1.
struct GroupNormLayout {
    int64_t n, t, r;
};

/// Launch shape and float32 workspaces of group_norm (from plan_group_norm; the caller allocates them).
struct GroupNormPlan {
    bool supported = false;
    int vec = 1;                 // channels a thread loads at once: 1, or 16 bytes' worth
    int threads_x = 0;           // channel vectors: one thread each (C / vec)
    int threads_y = 0;           // position rows of a statistics block
    int64_t chunks = 0;          // position chunks per sample (statistics blocks per sample)
    int64_t per_chunk = 0;       // positions per chunk
    int64_t partial_floats = 0;  // N · chunks · 2 · C
    int64_t param_floats = 0;    // 2 · N · C (the per-channel factors a and b)
    size_t shared_bytes = 0;
};

/// True when C is whole 16-byte vectors, both pointers 16-byte aligned and every stride a whole vector.
bool group_norm_vectorizable(DType dtype, int64_t channels, const void* x, GroupNormLayout x_layout, const void* out,
                             GroupNormLayout out_layout);
GroupNormPlan plan_group_norm(DType dtype, int64_t samples, int64_t positions, int64_t channels, int num_sms,
                              bool vectorized);

/// y[n, t, r, c] = (x + add[n, c] − mean[n, g]) · rstd[n, g] · weight[c] + bias[c] [then SiLU], g = c / (C / groups),
/// statistics (float32, biased variance) over the group's channels and all T · R positions of sample n; one rounding
/// to `dtype`. x and out of `dtype` through their layouts; weight, bias (or null) of param_type; add float32 [N, C]
/// (or null); partial / params: plan.partial_floats / plan.param_floats floats.
cudaError_t group_norm(DType dtype, const void* x, GroupNormLayout x_layout, int64_t samples, int64_t outer,
                       int64_t inner, int64_t channels, int64_t groups, DType param_type, const void* weight,
                       const void* bias, const float* channel_add, float eps, bool silu, const GroupNormPlan& plan,
                       float* partial, float* params, void* out, GroupNormLayout out_layout, int num_sms,
                       cudaStream_t stream);

// ---- LayerNorm with affine parameters and an optional residual --------------------------------------------------

/// s = round(x + residual) (or x), out = round(layer_norm(s) · weight + bias) per row, float32 statistics; a warp per
/// row. x, residual, sum_out, out: [rows, dim] contiguous of `dtype`; weight, bias: [dim] of param_type (or null).
/// Supported for dim whole 16-byte vectors up to 3072 half / 1536 float32 values and 16-byte aligned pointers.
bool layer_norm_rows_supported(DType dtype, int64_t rows, int64_t dim, const void* x, const void* residual,
                               const void* sum_out, const void* out);
cudaError_t layer_norm_rows(DType dtype, const void* x, const void* residual, DType param_type, const void* weight,
                            const void* bias, int64_t rows, int64_t dim, float eps, void* sum_out, void* out,
                            cudaStream_t stream);

// ---- GEGLU and channel bias (+ residual) -------------------------------------------------------------------------

/// out[r, i] = round(h[r, i] · round(GELU(h[r, I + i]))) (erf form, float32), h: [rows, 2I], out: [rows, I], both
/// contiguous of `dtype`, I whole 16-byte vectors, 16-byte aligned.
bool geglu_supported(DType dtype, int64_t rows, int64_t inner, const void* h, const void* out);
cudaError_t geglu(DType dtype, const void* h, int64_t rows, int64_t inner, void* out, int num_sms,
                  cudaStream_t stream);

/// out[r, c] = round(round(y[r, c] + bias[c]) + residual[r, c]) (no residual: round(y + bias)): a convolution's bias
/// and the residual after it, with the separate adds' roundings. y, residual, out: [rows, C] of `dtype` (dense, the
/// same strides: rows of C contiguous); bias float32 [C]; C whole 16-byte vectors, 16-byte aligned.
bool channel_bias_supported(DType dtype, int64_t rows, int64_t channels, const void* y, const void* residual,
                            const void* out);
cudaError_t channel_bias(DType dtype, const void* y, const float* bias, const void* residual, int64_t rows,
                         int64_t channels, void* out, int num_sms, cudaStream_t stream);

// ---- Softmax attention over short sequences ------------------------------------------------------------------------

/// Longest query / key sequence short_attention takes (kernels::kShortSequenceMaxLength).
constexpr int kShortAttentionMaxLength = 32;

/// True when 1 <= Lq, Lk <= kShortAttentionMaxLength, D is 16, 32, 64 or 128 (each lane's share of a row whole 16-byte
/// vectors), and q, k, v, out are rows of whole 16-byte vectors (head dim contiguous, other strides whole vectors,
/// 16-byte aligned).
bool short_attention_supported(DType dtype, int lq, int lk, int d, const void* q, Strides4 q_strides, const void* k,
                               Strides4 k_strides, const void* v, Strides4 v_strides, const void* out,
                               Strides4 out_strides);
/// out = softmax(q kᵀ · scale, masked) v per (batch, head): q [B, H, Lq, D], k, v [B, H, Lk, D], out [B, H, Lq, D],
/// all of `dtype`; mask: bytes [Lq, Lk] (0 = masked out) or null. float32 arithmetic, one rounding.
cudaError_t short_attention(DType dtype, const void* q, Strides4 q_strides, const void* k, Strides4 k_strides,
                            const void* v, Strides4 v_strides, int64_t batch, int64_t heads, int lq, int lk, int d,
                            float scale, const uint8_t* mask, void* out, Strides4 out_strides, cudaStream_t stream);

// ---- FP8 (e4m3fn) quantisation -----------------------------------------------------------------------------------

/// Per row r of x (`cols` values from x + r · row_stride, elements contiguous): amax = max(max |x|, 1e-12),
/// q[r, c] = e4m3fn(x[r, c] · (448 / amax)) (round to nearest even, saturated to ±448), scale[r] = amax / 448.
/// q: [rows, cols] contiguous bytes; scale: [rows] float32. Rows of whole 16-byte vectors, 16-byte aligned, take
/// the vectorised path; any other layout the scalar one (same results).
cudaError_t quantize_rows_e4m3(DType dtype, const void* x, int64_t rows, int64_t cols, int64_t row_stride, void* q,
                               float* scale, cudaStream_t stream);

/// Grid limits the glue checks before calling (larger problems go to ATen ops).
constexpr int64_t kMaxGridX = 2147483647;
constexpr int64_t kMaxGridY = 65535;

}  // namespace kernels::cuda
