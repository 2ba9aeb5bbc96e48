// Kinora's custom ops. Each takes and returns at::Tensor; ops.cpp checks the arguments and
// dispatches to the CUDA kernel for CUDA tensors (when built with CUDA) or to the CPU reference.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace kernels {

/// True when this build contains our CUDA kernels.
bool has_cuda_kernels() noexcept;
/// "CUDA kernels for sm_80 sm_90" or "built without CUDA kernels".
std::string kernels_description();

/// Sana's ReLU linear attention (diffusers SanaLinearAttnProcessor2_0), all heads at once:
///   q, k, v: [B, H, N, D] (already projected; ReLU is applied here), result: [B, H, N, D]
///   out[n] = (relu(q[n]) · Σ_m relu(k[m])ᵀ v[m]) / (relu(q[n]) · Σ_m relu(k[m]) + eps),
/// accumulated in float32 whatever the input dtype; the result has v's dtype.
at::Tensor relu_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);

}  // namespace kernels
