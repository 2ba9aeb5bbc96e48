#include "kernels/ops.h"

#include <ATen/ATen.h>

#include "ops_impl.h"

namespace kernels {

bool has_cuda_kernels() noexcept { return detail::cuda_built(); }

std::string kernels_description() {
    return detail::cuda_built() ? "CUDA kernels built in" : "built without CUDA kernels";
}

at::Tensor relu_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "relu_linear_attention: q, k, v must be [B, H, N, D]; got ",
                q.sizes(), ", ", k.sizes(), ", ", v.sizes());
    TORCH_CHECK(q.sizes() == k.sizes(), "relu_linear_attention: q and k shapes differ: ", q.sizes(), " vs ", k.sizes());
    TORCH_CHECK(v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == q.size(2),
                "relu_linear_attention: v must be [B, H, N, Dv] matching q; got ", v.sizes(), " vs ", q.sizes());
    TORCH_CHECK(q.device() == k.device() && q.device() == v.device(), "relu_linear_attention: tensors on different devices");
    TORCH_CHECK(eps > 0.0, "relu_linear_attention: eps must be positive, got ", eps);
    if (q.is_cuda()) {
        return detail::relu_linear_attention_cuda(q, k, v, eps);
    }
    return detail::relu_linear_attention_cpu(q, k, v, eps);
}

}  // namespace kernels
