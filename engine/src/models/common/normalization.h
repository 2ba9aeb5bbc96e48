// Ref: huggingface/diffusers src/diffusers/models/normalization.py@58eb52c0803e RMSNorm, AdaLayerNormSingle
// Normalization layers shared by the models (the diffusers normalization.py role).
//
// dtype rule (as diffusers): statistics in float32, the result in the weight's dtype when that is
// half/bfloat16, so the same module runs in float32 and bfloat16.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>

#include "models/common/embeddings.h"
#include "models/common/plain_layers.h"

namespace engine::models {

struct RMSNormOptions {
    int64_t dim = 0;
    double eps = 1e-6;
    bool elementwise_affine = true;  // a "weight" parameter
    bool bias = false;               // a "bias" parameter too (only with elementwise_affine)
};

/// diffusers RMSNorm over the last dim: x · rsqrt(mean(x², float32) + eps) [· weight (+ bias)], through
/// kernels::rms_norm (the CPU reference is this formula op by op; CUDA runs a fused kernel).
/// Parameters are allocated uninitialised with `tensor_options` (loading fills them).
class RMSNormImpl : public torch::nn::Module {
public:
    explicit RMSNormImpl(const RMSNormOptions& options, const at::TensorOptions& tensor_options = {});
    at::Tensor forward(const at::Tensor& x);

    RMSNormOptions options;
    at::Tensor weight;  // [dim]; undefined without elementwise_affine
    at::Tensor bias;    // [dim]; undefined without bias
};
TORCH_MODULE(RMSNorm);

/// LayerNorm over the last dim without affine parameters (nn.LayerNorm(dim, elementwise_affine=False)).
at::Tensor layer_norm_no_affine(const at::Tensor& x, double eps);

// GroupNorm and the float32 LayerNorm of the LVDM models are kernels::group_norm and kernels::add_layer_norm.

/// The two outputs of an adaLN-single time embedding.
struct TimestepModulation {
    at::Tensor modulation;         // [B, 6 D]: linear(SiLU(embedded_timestep)), the per-block shift/scale/gate
    at::Tensor embedded_timestep;  // [B, D]: used by the final layer
};

/// diffusers AdaLayerNormSingle (PixArt-α adaLN-single) without additional conditions. Keys:
/// emb.timestep_embedder.linear_{1,2}.*, linear.*
class AdaLayerNormSingleImpl : public torch::nn::Module {
public:
    explicit AdaLayerNormSingleImpl(int64_t embedding_dim, const at::TensorOptions& options = {});
    /// timestep: [B] (any float dtype, embedded in float32); hidden_dtype: the model's activation dtype.
    TimestepModulation forward(const at::Tensor& timestep, at::ScalarType hidden_dtype);

    PixArtAlphaCombinedTimestepSizeEmbeddings emb{nullptr};
    PlainLinear linear{nullptr};
};
TORCH_MODULE(AdaLayerNormSingle);

}  // namespace engine::models
