// Built when KINORA_ENABLE_CUDA is OFF: CUDA tensors reach a clear error instead of a missing symbol.
#include <c10/util/Exception.h>

#include "ops_impl.h"

namespace kernels::detail {

bool cuda_built() noexcept { return false; }

at::Tensor relu_linear_attention_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, double) {
    TORCH_CHECK(false, "relu_linear_attention: this Kinora build has no CUDA kernels (KINORA_ENABLE_CUDA=OFF)");
}

}  // namespace kernels::detail
