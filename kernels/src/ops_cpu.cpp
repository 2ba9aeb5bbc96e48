// CPU references: written for clarity and exactness (float32 accumulation), the oracle of the CUDA tests.
#include <ATen/ATen.h>

#include "ops_impl.h"

namespace kernels::detail {

at::Tensor relu_linear_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    const auto out_dtype = v.scalar_type();
    at::Tensor qf = at::relu(q.to(at::kFloat));  // [B, H, N, D]
    at::Tensor kf = at::relu(k.to(at::kFloat));  // [B, H, N, D]
    at::Tensor vf = v.to(at::kFloat);            // [B, H, N, Dv]
    at::Tensor kv = at::matmul(kf.transpose(-1, -2), vf);           // [B, H, D, Dv]
    at::Tensor num = at::matmul(qf, kv);                             // [B, H, N, Dv]
    at::Tensor ksum = kf.sum(-2, /*keepdim=*/true);                  // [B, H, 1, D]
    at::Tensor den = at::matmul(qf, ksum.transpose(-1, -2));        // [B, H, N, 1]
    return (num / (den + eps)).to(out_dtype);
}

}  // namespace kernels::detail
