// Kinora's custom ops. Each takes and returns at::Tensor; ops.cpp checks the arguments and
// dispatches to the CUDA kernel for CUDA tensors (when built with CUDA) or to the CPU reference.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <tuple>

namespace kernels {

/// True when this build contains our CUDA kernels.
bool has_cuda_kernels() noexcept;
/// "CUDA kernels built in" or "built without CUDA kernels".
std::string kernels_description();

/// Whether CUDA tensors go to our fused kernels (true, the default) or to the ATen composites that the CPU
/// references are (false): the "before" of every before/after number, with the same engine code around it.
/// The environment variable KINORA_DISABLE_CUDA_KERNELS=1 sets the initial value to false. Thread-safe.
void set_cuda_kernels_enabled(bool enabled) noexcept;
bool cuda_kernels_enabled() noexcept;

/// Sana's ReLU linear attention (diffusers SanaLinearAttnProcessor2_0), all heads at once:
///   q, k, v: [B, H, N, D] (already projected; ReLU is applied here), result: [B, H, N, D]
///   out[n] = (relu(q[n]) · Σ_m relu(k[m])ᵀ v[m]) / (relu(q[n]) · Σ_m relu(k[m]) + eps),
/// accumulated in float32 whatever the input dtype; the result has v's dtype. Inputs may be strided views (e.g.
/// heads split off a [B, N, H·D] projection); the CUDA result is laid out in memory like v (dense), so callers
/// must reshape() rather than view() it.
/// CUDA: one fused pass over N per (batch, head) for Σ relu(k)ᵀv and Σ relu(k) (float32, split over token chunks
/// and summed in a fixed order: deterministic), then one output pass; D, Dv <= 64 (larger heads use ATen ops). For
/// bfloat16 in Sana's layout at D = 32 both passes run on tensor cores: the sums' products are exact as before, and
/// the output pass takes KV and Σk as bfloat16 hi + lo terms (≈ 2^-17 of their value, far below the output's
/// rounding).
at::Tensor relu_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);

/// Sana's adaLN modulation of a LayerNorm without affine parameters (norm1 / norm2 of SanaTransformerBlock and the
/// final layer):  out = layer_norm(x, eps) · (1 + scale) + shift, statistics over the last dim D.
///   x: [B, N, D]; shift, scale: [B, 1, D] (or [1, 1, D]) → [B, N, D] in the type-promoted dtype of the three
///   (x's dtype in the models). CPU: exactly those ATen ops; CUDA: one pass per row, float32 arithmetic, one
///   rounding at the end.
at::Tensor layer_norm_modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);

/// diffusers RMSNorm over the last dim: h = x · rsqrt(mean(x², float32) + eps) in float32; without weight the
/// result is h in x's dtype; with a half/bfloat16 weight h is rounded to the weight's dtype and multiplied by the
/// weight (+ bias) in that dtype; with a float32 weight, h · weight (+ bias) in float32.
///   x: [..., D]; weight, bias: [D] or undefined (bias only with weight). CPU: exactly those ATen ops; CUDA: one
///   pass per row in float32, one rounding at the end.
///   out_dtype: the result rounded to this dtype (CPU: .to(out_dtype) after the ops above; CUDA: the kernel writes
///   it directly when it is x's dtype), e.g. Gemma-2's norm: rms_norm(x, 1 + weight (float32), {}, eps, x's dtype).
///   residual: [..., D] like x, or undefined: the result is then `rms_norm(...) + residual`, the norm rounded first
///   as the separate add sees it (the DC-AE's blocks end in x + norm(h)); CUDA: added in the same pass.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                    std::optional<at::ScalarType> out_dtype = std::nullopt, const at::Tensor& residual = {});

/// SiLU of x plus a per-channel bias, as at::silu(x + bias) computes it: the sum rounded to x's dtype, then the
/// SiLU (a convolution's bias and activation, e.g. the DC-AE ResBlock's conv1 run without its bias).
///   x: [..., C]; bias: [C] in x's dtype → [..., C] in x's dtype. CPU: exactly those ATen ops; CUDA: one vectorised
///   pass (float32 arithmetic, the same two roundings) for contiguous x; other layouts go to the ATen ops.
at::Tensor bias_silu(const at::Tensor& x, const at::Tensor& bias);

/// GLUMBConv's depthwise step and gate (Sana's feed-forward, the DC-AE's EfficientViT MLP):
///   y = conv2d(x, weight, bias, stride 1, padding 1, groups = 2C);  out = y[:, :C] · SiLU(y[:, C:])
///   x: [B, 2C, H, W]; weight: [2C, 1, 3, 3]; bias: [2C] or undefined → [B, C, H, W] in x's dtype.
/// CPU: exactly those ATen ops; CUDA: one fused kernel (float32 accumulation) for contiguous NCHW input; other
/// layouts go to the ATen ops (channels-last callers use silu_depthwise_conv3x3_gate_nhwc instead).
at::Tensor depthwise_conv3x3_silu_gate(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// The gated residual of Sana's blocks: out = x + gate · y, computed as at::addcmul does (float32 arithmetic for
/// half types, one rounding).  x, y: [B, N, D]; gate: [B, 1, D] or [1, 1, D] → [B, N, D] in the promoted dtype.
/// CPU: at::addcmul; CUDA: one vectorised pass reading the gate row where it lies (all three of one dtype, x and y
/// contiguous; anything else goes to at::addcmul).
at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y);

/// A Sana block seam in one pass: the residual add that ends one sub-layer and the modulated LayerNorm that starts
/// the next.  s = x + gate · y (as gated_residual) when gate is defined, else x + y (as an add), rounded to x's dtype;
/// out = layer_norm_modulate(s, shift, scale, eps) of that rounded sum. Returns {out, s}.
///   x, y: [B, N, D] of one dtype; gate (or undefined), shift, scale: [B, 1, D] or [1, 1, D].
///   y_head (or undefined): [S, 1, D] of x's dtype, 1 <= S <= B: the first S samples' y is this row, broadcast over
///   N (their rows of y are not read and may hold anything), e.g. cross-attention outputs known to be constant.
/// CPU: exactly those two ops; CUDA: one warp-per-row pass reading x, y and the modulation rows where they lie and
/// writing s and out (all of x's dtype, dense rows up to 3072 half values); anything else runs the two CUDA ops.
std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate(const at::Tensor& x, const at::Tensor& y,
                                                                const at::Tensor& gate, const at::Tensor& shift,
                                                                const at::Tensor& scale, double eps,
                                                                const at::Tensor& y_head = {});

/// GLUMBConv between its two 1×1 convolutions, on the token layout (channels innermost), SiLU included:
///   y = conv2d(SiLU(x), weight, bias, padding 1, groups = 2C);  out = y[..., :C] · SiLU(y[..., C:])
///   x: [B, H, W, 2C] (the conv_inverted output before its SiLU, e.g. a [B, N, 2C] projection viewed on its grid);
///   weight: [2C, 1, 3, 3]; bias: [2C] or undefined → [B, H, W, C] contiguous, in x's dtype. The SiLU output, the conv
///   output, SiLU(gate) and the product are each rounded to x's dtype, as the unfused ops round them.
/// CPU: exactly those ATen ops; CUDA: one kernel that stages SiLU(x) tiles in shared memory (float32 accumulation).
///   taps: undefined, or depthwise_taps(weight, bias) converted once by a caller that runs the op many times with one
///   weight (the CUDA kernel reads it instead of converting weight and bias on every call); the CPU ignores it.
at::Tensor silu_depthwise_conv3x3_gate_nhwc(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                            const at::Tensor& taps = {});

/// The depthwise weights as silu_depthwise_conv3x3_gate_nhwc's CUDA kernel reads them: float32 [10, 2C], rows 0..8
/// the taps (row 3·ky + kx holds weight[:, 0, ky, kx]), row 9 the bias (zeros without one). weight: [2C, 1, 3, 3],
/// bias: [2C] or undefined; any floating dtype, on the weight's device.
at::Tensor depthwise_taps(const at::Tensor& weight, const at::Tensor& bias);

/// GroupNorm with float32 statistics, as LVDM's GroupNorm32 (`super().forward(x.float()).type(x.dtype)`) and its
/// GroupNorm → SiLU under fp16 autocast compute it, with an optional per-(sample, channel) addend applied first (a
/// convolution's bias and the ResBlock's time embedding, folded into the norm's pass):
///   v = float32(x) + channel_add[n, c];  y = group_norm(v, groups, weight, bias, eps) [then SiLU], rounded once
/// to x's dtype; statistics per sample and group over the group's channels and all positions.
///   x: [N, C, *] in any layout; weight, bias: [C] or undefined; channel_add: float32 [N, C] or undefined;
///   out: undefined (the result is then laid out like x: channels-last stays channels-last) or [N, C, *] of x's dtype
///   in any layout (e.g. a permuted view of a token buffer), written in place and returned.
/// CPU: exactly those ATen ops (then copied into out); CUDA: partial statistics, a per-group merge and one
/// normalising pass (16-byte vectors) when channels are innermost in both x and out (channels-last maps, frame-major
/// videos read as sequences) and the positions fold into two strided dims; other layouts go to the ATen ops.
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu, const at::Tensor& channel_add = {}, const at::Tensor& out = {});

/// nn.LayerNorm over the last dim in float32 (LVDM's transformer blocks: autocast runs layer_norm in float32), after
/// an optional residual add:  s = x + residual (rounded to x's dtype, as the add leaves it) or x itself;
///   y = layer_norm(float32(s), weight, bias, eps) rounded to x's dtype.  Returns {y, s}.
///   x, residual: [..., D] (residual undefined or x's shape and dtype); weight, bias: [D] or undefined.
/// CPU: exactly those ATen ops; CUDA: a warp per row (the row in registers) for contiguous rows up to 3072 half
/// values, writing s and y in one pass; anything else goes to the ATen ops.
std::tuple<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& residual,
                                                  const at::Tensor& weight, const at::Tensor& bias, double eps);

/// GEGLU's gating (LDM / diffusers FeedForward): h = [value | gate] on the last dim → value · GELU(gate), GELU in its
/// erf form; the GELU and the product each rounded to h's dtype as at::gelu and the multiply leave them.
///   h: [..., 2I] → [..., I]. CPU: exactly those ATen ops; CUDA: one vectorised pass for contiguous h.
at::Tensor geglu(const at::Tensor& h);

/// A convolution's bias and the residual after it: y + bias (channel dim 1, broadcast), then + residual, each add
/// rounded to y's dtype as ATen's adds round them.  y: [N, C, *]; bias: [C]; residual: y's shape or undefined.
/// CPU: exactly those ATen ops; CUDA: one vectorised pass when y (and the residual, with the same strides) is dense
/// with channels innermost (channels-last maps); the result has y's strides.
at::Tensor add_channel_bias(const at::Tensor& y, const at::Tensor& bias, const at::Tensor& residual = {});

/// Softmax attention over short sequences (at most 32 queries and keys: the video UNets' temporal attention over
/// frames), heads at once:  out = softmax(q kᵀ / √D [masked]) v.
///   q: [B, H, Lq, D], k, v: [B, H, Lk, D] (e.g. heads split off [B, L, H·D] projections); mask: undefined or bool
///   [Lq, Lk], true = attend (as scaled_dot_product_attention's boolean masks) → [B, H, Lq, D] in q's dtype, laid out
///   as [B, Lq, H, D] in memory (merging the heads back is a view).
/// CPU: ATen ops in float32 (half inputs widened), one rounding at the end (for float32 inputs, LibTorch 1.13's
/// scaled_dot_product_attention as Kinora's shim computes it); CUDA: a warp per (batch, head), float32 throughout,
/// one rounding (the fused flash kernels tile these tiny problems at 64 × 128), for D = 16, 32, 64 or 128 with
/// 16-byte rows; anything else goes to the reference ops.
at::Tensor short_sequence_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& mask = {});
/// The longest sequence short_sequence_attention's CUDA kernel takes (longer ones run the reference ops).
constexpr int64_t kShortSequenceMaxLength = 32;

/// Row-wise float8 e4m3fn quantisation: the activation side of a row-wise scaled FP8 GEMM (one scale per token) and
/// the weight side (one scale per output channel). For each row m of x [M, K] (any floating dtype, NaN-free):
///   amax = max(max_k |x[m, k]|, 1e-12);  q[m, k] = e4m3fn(x[m, k] · (448 / amax));  scale[m] = amax / 448
/// in float32, e4m3fn() rounding to nearest even and saturating at ±448, so x[m, k] ≈ value(q[m, k]) · scale[m].
/// Returns {q: [M, K] uint8 holding the e4m3fn bit patterns (view them as at::kFloat8_e4m3fn on torch 2.x),
/// scale: [M] float32}. CPU: a scalar reference; CUDA: one block per row, two passes, 16-byte loads (any row
/// stride; elements must be contiguous within a row or the input is copied).
std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3(const at::Tensor& x);

/// The float32 values of e4m3fn bit patterns (uint8, any shape, any device): the inverse of quantize_rows_e4m3's
/// rounding (0x7f / 0xff are NaN).
at::Tensor e4m3_to_float(const at::Tensor& q);

}  // namespace kernels
