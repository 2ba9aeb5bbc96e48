// nn.Linear and nn.LayerNorm as parameter holders allocated uninitialised (at::empty) in the requested dtype and
// device. Checkpoint loading fills every parameter (strict), so torch::nn::Linear's random (kaiming) init would only
// cost time and memory: ~1 B float32 values for the ViT-H open_clip towers, on the CPU even when the model is meant
// for the GPU in half precision. Keys: weight, bias (as torch.nn).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace engine::models {

/// nn.Linear(in, out, bias): weight [out, in], bias [out] (undefined without bias).
class PlainLinearImpl : public torch::nn::Module {
public:
    PlainLinearImpl(std::int64_t in_features, std::int64_t out_features, bool with_bias,
                    const at::TensorOptions& options) {
        const at::TensorOptions o = options.requires_grad(false);
        weight = register_parameter("weight", at::empty({out_features, in_features}, o), /*requires_grad=*/false);
        if (with_bias) {
            bias = register_parameter("bias", at::empty({out_features}, o), false);
        }
    }
    /// [.., in] -> [.., out]
    at::Tensor forward(const at::Tensor& x) {
        return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
    }

    at::Tensor weight;
    at::Tensor bias;
};
TORCH_MODULE(PlainLinear);

/// nn.LayerNorm(dim, eps) over the last dim with weight and bias. Half / bfloat16 inputs are normalised in float32 and
/// cast back (open_clip's LayerNormFp32; what autocast does to layer_norm in the reference fp16 runs).
class PlainLayerNormImpl : public torch::nn::Module {
public:
    PlainLayerNormImpl(std::int64_t dim, double layer_norm_eps, const at::TensorOptions& options)
        : eps(layer_norm_eps) {
        const at::TensorOptions o = options.requires_grad(false);
        weight = register_parameter("weight", at::empty({dim}, o), false);
        bias = register_parameter("bias", at::empty({dim}, o), false);
    }
    at::Tensor forward(const at::Tensor& x) {
        const at::ScalarType t = x.scalar_type();
        if (t == at::kHalf || t == at::kBFloat16) {
            return at::layer_norm(x.to(at::kFloat), {weight.size(0)}, weight.to(at::kFloat), bias.to(at::kFloat), eps)
                .to(t);
        }
        return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
    }

    at::Tensor weight;
    at::Tensor bias;
    double eps;
};
TORCH_MODULE(PlainLayerNorm);

}  // namespace engine::models
