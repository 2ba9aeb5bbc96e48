// Quantised linear layers (issue #9's lower precision): float8 e4m3 weights and activations with row-wise scales on
// FP8 tensor cores (Ada / Hopper), and int8 weight-only with per-output-channel scales, the portable option.
//
//   FP8:  w ≈ value(w_q[n, :]) · sw[n]  (quantised once, at load);  x ≈ value(x_q[m, :]) · sx[m]  (every call,
//         kernels::quantize_rows_e4m3);  y[m, n] = sx[m] · sw[n] · Σ_k x_q[m, k] · w_q[n, k] (+ bias[n]), one
//         cuBLASLt / CUTLASS GEMM with float32 accumulation writing bfloat16 (core::scaled_mm_e4m3_rowwise). On the
//         CPU the same product is emulated in float32 for the tests (users get FP8 on capable GPUs only).
//   Int8: w_q[n, k] = round(w[n, k] / s[n]) in [-127, 127], s[n] = max_k |w[n, k]| / 127 rounded to the compute
//         dtype; each call dequantises w_q · s (one rounding) into a transient weight and runs at::linear. Half the
//         resident weight memory; the products themselves are the unquantised ones.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace engine::models {

/// A [out, in] weight matrix stored quantised.
struct QuantizedWeight {
    WeightQuantization mode = WeightQuantization::None;
    at::Tensor data;   // [out, in]: int8 (Int8) or uint8 holding e4m3fn bit patterns (Fp8)
    at::Tensor scale;  // Int8: [out, 1] in the compute dtype; Fp8: [out] float32
    at::ScalarType compute_dtype = at::kFloat;  // the activations' dtype, which the layer returns
};

/// Why `mode` cannot run with `dtype` activations on `device` (a sentence that says what to do instead), or nullopt
/// when it can. Fp8 needs a CUDA device of compute capability 8.9 or newer, bfloat16 activations and a LibTorch
/// with row-wise scaled FP8 GEMMs; Int8 and None run everywhere.
std::optional<std::string> quantization_unavailable(WeightQuantization mode, const c10::Device& device,
                                                    at::ScalarType dtype);

/// Whether an [out, in] layer takes `mode` (Fp8: in and out multiples of 16, as the FP8 GEMMs require). Layers that
/// do not stay unquantised.
bool quantizable(WeightQuantization mode, int64_t out_features, int64_t in_features);

/// Quantises weight [out, in] (any floating dtype; the compute dtype is weight's) with `mode` (not None).
QuantizedWeight quantize_weight(const at::Tensor& weight, WeightQuantization mode);

/// The float weight [out, in] a QuantizedWeight stands for, in its compute dtype (tests and the Int8 path).
at::Tensor dequantize_weight(const QuantizedWeight& w);

/// An activation [.., in] quantised once for several FP8 products that read it (Sana's q, k, v projections).
struct QuantizedActivation {
    at::Tensor data;                 // [M, in] uint8 e4m3fn bit patterns
    at::Tensor scale;                // [M] float32
    std::vector<int64_t> leading;    // the activation's sizes before the last
    at::ScalarType dtype = at::kFloat;
};
QuantizedActivation quantize_activation_e4m3(const at::Tensor& x);

/// Quantises a layer's weight parameter ([out, in] or [out, in, 1, ...]) into `out` and releases the parameter's
/// memory (it becomes an empty tensor of its dtype); false, and nothing changes, when the shape does not take `mode`
/// (or mode is None).
bool quantize_parameter(at::Tensor& weight, WeightQuantization mode, std::optional<QuantizedWeight>& out);

/// x [.., in] → x · wᵀ + bias [.., out] with the quantised weight (bias in the compute dtype or undefined).
at::Tensor quantized_linear(const at::Tensor& x, const QuantizedWeight& w, const at::Tensor& bias);
/// The same for an FP8 weight and an activation quantised beforehand.
at::Tensor quantized_linear(const QuantizedActivation& x, const QuantizedWeight& w, const at::Tensor& bias);

}  // namespace engine::models
