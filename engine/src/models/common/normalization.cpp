// Ref: huggingface/diffusers src/diffusers/models/normalization.py@58eb52c0803e (see normalization.h)
#include "models/common/normalization.h"

#include <ATen/ATen.h>

#include <vector>

#include "kernels/ops.h"

namespace engine::models {

RMSNormImpl::RMSNormImpl(const RMSNormOptions& opts, const at::TensorOptions& tensor_options) : options(opts) {
    TORCH_CHECK(options.dim > 0, "RMSNorm: dim must be positive, got ", options.dim);
    const at::TensorOptions o = tensor_options.requires_grad(false);
    if (options.elementwise_affine) {
        weight = register_parameter("weight", at::empty({options.dim}, o), /*requires_grad=*/false);
        if (options.bias) {
            bias = register_parameter("bias", at::empty({options.dim}, o), false);
        }
    }
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
    return kernels::rms_norm(x, weight, bias, options.eps);
}

at::Tensor layer_norm_no_affine(const at::Tensor& x, double eps) {
    return at::layer_norm(x, {x.size(-1)}, /*weight=*/{}, /*bias=*/{}, eps);
}

AdaLayerNormSingleImpl::AdaLayerNormSingleImpl(int64_t embedding_dim, const at::TensorOptions& options) {
    emb = register_module("emb", PixArtAlphaCombinedTimestepSizeEmbeddings(embedding_dim, options));
    linear = register_module("linear", PlainLinear(embedding_dim, 6 * embedding_dim, true, options));
}

TimestepModulation AdaLayerNormSingleImpl::forward(const at::Tensor& timestep, at::ScalarType hidden_dtype) {
    at::Tensor embedded = emb->forward(timestep, hidden_dtype);  // [B, D]
    return {linear->forward(at::silu(embedded)), embedded};      // [B, 6D], [B, D]
}

}  // namespace engine::models
