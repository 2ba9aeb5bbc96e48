// CUDA implementations. Until a kernel of ours lands, CUDA tensors use LibTorch's own CUDA ops in the
// same float32-accumulating formulation as the CPU reference (GPU speed work: issue #9).
#include <ATen/ATen.h>

#include "ops_impl.h"

namespace kernels::detail {

bool cuda_built() noexcept { return true; }

at::Tensor relu_linear_attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    return relu_linear_attention_cpu(q, k, v, eps);  // device-generic ATen composite
}

}  // namespace kernels::detail
