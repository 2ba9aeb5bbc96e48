// Backend entry points behind kernels/ops.h (one CPU reference, one CUDA implementation each).
#pragma once

#include <ATen/core/Tensor.h>

namespace kernels::detail {

at::Tensor relu_linear_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);
at::Tensor relu_linear_attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);

bool cuda_built() noexcept;

}  // namespace kernels::detail
