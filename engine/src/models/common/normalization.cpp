// Ref: huggingface/diffusers src/diffusers/models/normalization.py@58eb52c0803e (see normalization.h)
#include "models/common/normalization.h"

#include <ATen/ATen.h>

namespace engine::models {

RMSNormImpl::RMSNormImpl(const RMSNormOptions& opts) : options(opts) {
    TORCH_CHECK(options.dim > 0, "RMSNorm: dim must be positive, got ", options.dim);
    if (options.elementwise_affine) {
        weight = register_parameter("weight", at::ones({options.dim}));
        if (options.bias) {
            bias = register_parameter("bias", at::zeros({options.dim}));
        }
    }
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
    const auto input_dtype = x.scalar_type();
    at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);  // [..., 1] float32
    at::Tensor h = x * at::rsqrt(variance + options.eps);                      // float32 by type promotion
    if (!weight.defined()) {
        return h.to(input_dtype);
    }
    if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) {
        h = h.to(weight.scalar_type());
    }
    h = h * weight;
    if (bias.defined()) {
        h = h + bias;
    }
    return h;
}

at::Tensor layer_norm_no_affine(const at::Tensor& x, double eps) {
    return at::layer_norm(x, {x.size(-1)}, /*weight=*/{}, /*bias=*/{}, eps);
}

AdaLayerNormSingleImpl::AdaLayerNormSingleImpl(int64_t embedding_dim) {
    emb = register_module("emb", PixArtAlphaCombinedTimestepSizeEmbeddings(embedding_dim));
    linear = register_module("linear", torch::nn::Linear(torch::nn::LinearOptions(embedding_dim, 6 * embedding_dim)));
}

TimestepModulation AdaLayerNormSingleImpl::forward(const at::Tensor& timestep, at::ScalarType hidden_dtype) {
    at::Tensor embedded = emb->forward(timestep, hidden_dtype);  // [B, D]
    return {linear->forward(at::silu(embedded)), embedded};      // [B, 6D], [B, D]
}

}  // namespace engine::models
