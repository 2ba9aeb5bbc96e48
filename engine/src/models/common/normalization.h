// Ref: huggingface/diffusers src/diffusers/models/normalization.py@58eb52c0803e RMSNorm, AdaLayerNormSingle
// Ref: AILab-CVC/VideoCrafter lvdm/basics.py@11bcd76 GroupNormSpecific (group_norm_f32)
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

/// GroupNorm with float32 statistics and arithmetic, the result in x's dtype (LDM's GroupNorm32 /
/// GroupNormSpecific; also what autocast does with group_norm). x: [N, C, *] contiguous; weight, bias: [C] (any
/// float dtype) or undefined.
at::Tensor group_norm_f32(const at::Tensor& x, int64_t num_groups, const at::Tensor& weight, const at::Tensor& bias,
                          double eps);

/// SiLU(GroupNorm(x)) with both in float32 and one rounding to x's dtype at the end: what autocast does (group_norm
/// runs and returns float32, the activation follows in float32, the next convolution casts). For float32 x this is
/// group_norm_f32 followed by silu.
at::Tensor group_norm_silu_f32(const at::Tensor& x, int64_t num_groups, const at::Tensor& weight, const at::Tensor& bias,
                               double eps);

/// GroupNorm of x written into `out`: both are [N, C, *] logically but may have any strides (e.g. permuted views),
/// so a normalization can also change the memory layout in the same pass (video models normalise over frames
/// stored as [(N·T), C, H, W] and continue in [N·H·W, T, C]). Statistics per (n, group) over C/G channels and all
/// trailing dims, in float32; y = x · a + b with a = rstd · weight, b = bias - mean · a (computed in float32,
/// stored in out's dtype). Returns out.
at::Tensor group_norm_into(const at::Tensor& x, int64_t num_groups, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, at::Tensor out);

/// LayerNorm over the last dim computed in float32 for half/bfloat16 inputs (autocast behaviour), the result in x's
/// dtype. weight, bias: [D] or undefined.
at::Tensor layer_norm_f32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

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
