// nn.Linear, nn.LayerNorm, nn.Conv{1,2,3}d and nn.GroupNorm as parameter holders allocated uninitialised (at::empty)
// in the requested dtype and device. Checkpoint loading fills every parameter (strict), so torch::nn's random
// (kaiming) init would only cost time and memory: ~1.6 B float32 values for the Sana 1600M transformer, on the CPU
// even when the model is meant for the GPU in bfloat16. Keys: weight, bias (as torch.nn). The forwards compute
// exactly what the torch::nn modules' forwards compute (PlainLayerNorm excepted: see there).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "models/common/quantized_linear.h"

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
        if (quantized) {
            return quantized_linear(x, *quantized, bias);
        }
        return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
    }
    /// forward(x) written into `into` (dense [.., out] of the result's dtype, e.g. a slice of a larger batch): the
    /// matrix product writes there directly; a quantised layer, or inputs that are not dense, copy its result in.
    void forward_into(const at::Tensor& x, const at::Tensor& into) {
        if (quantized || !x.is_contiguous() || !into.is_contiguous() || into.scalar_type() != weight.scalar_type() ||
            x.scalar_type() != weight.scalar_type()) {
            into.copy_(forward(x));
            return;
        }
        const at::Tensor x2 = x.view({-1, x.size(-1)});
        at::Tensor into2 = into.view({-1, into.size(-1)});
        if (bias.defined()) {
            at::addmm_out(into2, bias, x2, weight.t());
        } else {
            at::mm_out(into2, x2, weight.t());
        }
    }
    /// Stores the weight quantised (quantized_linear.h) and releases the float weight's memory (the parameter
    /// becomes an empty tensor). False, and nothing changes, when the layer's shape does not take `mode`. The last
    /// step of loading: the module must not be moved or converted afterwards.
    bool quantize(WeightQuantization mode) { return quantize_parameter(weight, mode, quantized); }

    at::Tensor weight;
    at::Tensor bias;
    std::optional<QuantizedWeight> quantized;
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

/// The geometry of a convolution: the kernel's rank (1, 2 or 3) is the convolution's. stride and padding are one
/// value per spatial dim (a single value applies to all); dilation is 1.
struct ConvGeometry {
    std::vector<std::int64_t> kernel;
    std::vector<std::int64_t> stride = {1};
    std::vector<std::int64_t> padding = {0};
    std::int64_t groups = 1;
    bool bias = true;
};

/// nn.Conv1d / Conv2d / Conv3d (zero padding): weight [out, in / groups, *kernel], bias [out] (undefined without).
class PlainConvImpl : public torch::nn::Module {
public:
    PlainConvImpl(std::int64_t in_channels, std::int64_t out_channels, const ConvGeometry& geometry,
                  const at::TensorOptions& options)
        : rank_(static_cast<std::int64_t>(geometry.kernel.size())),
          stride_(expand(geometry.stride)),
          padding_(expand(geometry.padding)),
          groups_(geometry.groups) {
        TORCH_CHECK(rank_ >= 1 && rank_ <= 3, "PlainConv: a kernel of rank 1, 2 or 3, got ", rank_);
        TORCH_CHECK(groups_ >= 1 && in_channels % groups_ == 0 && out_channels % groups_ == 0, "PlainConv: ",
                    in_channels, " -> ", out_channels, " channels are not divisible into ", groups_, " groups");
        std::vector<std::int64_t> shape = {out_channels, in_channels / groups_};
        shape.insert(shape.end(), geometry.kernel.begin(), geometry.kernel.end());
        const at::TensorOptions o = options.requires_grad(false);
        weight = register_parameter("weight", at::empty(shape, o), /*requires_grad=*/false);
        if (geometry.bias) {
            bias = register_parameter("bias", at::empty({out_channels}, o), false);
        }
    }
    /// [N, C_in, *spatial] -> [N, C_out, *spatial']
    at::Tensor forward(const at::Tensor& x) {
        if (quantized) {  // a 1×1 convolution over the channels
            return quantized_linear(x.movedim(1, -1), *quantized, bias).movedim(-1, 1);
        }
        const std::vector<std::int64_t> dilation(static_cast<std::size_t>(rank_), 1);
        switch (rank_) {
            case 1:
                return at::conv1d(x, weight, bias, stride_, padding_, dilation, groups_);
            case 2:
                return at::conv2d(x, weight, bias, stride_, padding_, dilation, groups_);
            default:
                return at::conv3d(x, weight, bias, stride_, padding_, dilation, groups_);
        }
    }
    /// The convolution without its bias, for callers that add the bias in a later fused pass (a norm's addend,
    /// kernels::add_channel_bias). Not for quantised weights.
    at::Tensor forward_without_bias(const at::Tensor& x) const {
        TORCH_CHECK(!quantized, "PlainConv::forward_without_bias: the weight is quantised");
        const std::vector<std::int64_t> dilation(static_cast<std::size_t>(rank_), 1);
        switch (rank_) {
            case 1:
                return at::conv1d(x, weight, {}, stride_, padding_, dilation, groups_);
            case 2:
                return at::conv2d(x, weight, {}, stride_, padding_, dilation, groups_);
            default:
                return at::conv3d(x, weight, {}, stride_, padding_, dilation, groups_);
        }
    }
    std::int64_t groups() const { return groups_; }
    const std::vector<std::int64_t>& stride() const { return stride_; }
    const std::vector<std::int64_t>& padding() const { return padding_; }
    /// As PlainLinear::quantize, for 1×1 convolutions (stride 1, no padding, one group) only: false for others.
    bool quantize(WeightQuantization mode) {
        for (std::size_t i = 0; i < stride_.size(); ++i) {
            if (stride_[i] != 1 || padding_[i] != 0) return false;
        }
        return groups_ == 1 && quantize_parameter(weight, mode, quantized);  // which refuses kernels beyond 1×1
    }

    at::Tensor weight;
    at::Tensor bias;
    std::optional<QuantizedWeight> quantized;  // 1×1 convolutions only (see quantize)

private:
    std::vector<std::int64_t> expand(const std::vector<std::int64_t>& v) const {
        TORCH_CHECK(v.size() == 1 || static_cast<std::int64_t>(v.size()) == rank_, "PlainConv: ", v.size(),
                    " values for a rank-", rank_, " convolution");
        return v.size() == 1 ? std::vector<std::int64_t>(static_cast<std::size_t>(rank_), v[0]) : v;
    }

    std::int64_t rank_;
    std::vector<std::int64_t> stride_;
    std::vector<std::int64_t> padding_;
    std::int64_t groups_;
};
TORCH_MODULE(PlainConv);

/// A square 2-D convolution's geometry: kernel k×k, the same stride and padding on both axes.
inline ConvGeometry conv2d_geometry(std::int64_t kernel, std::int64_t stride = 1, std::int64_t padding = 0,
                                    bool bias = true, std::int64_t groups = 1) {
    return ConvGeometry{{kernel, kernel}, {stride}, {padding}, groups, bias};
}

/// nn.GroupNorm(num_groups, channels, eps, affine=True): weight, bias [channels]; forward = at::group_norm in the
/// input's dtype (as nn.GroupNorm; the models mostly call kernels::group_norm with weight and bias instead).
class PlainGroupNormImpl : public torch::nn::Module {
public:
    PlainGroupNormImpl(std::int64_t num_groups_, std::int64_t channels, double eps_, const at::TensorOptions& options)
        : num_groups(num_groups_), eps(eps_) {
        TORCH_CHECK(num_groups > 0 && channels % num_groups == 0, "PlainGroupNorm: ", channels,
                    " channels are not divisible into ", num_groups, " groups");
        const at::TensorOptions o = options.requires_grad(false);
        weight = register_parameter("weight", at::empty({channels}, o), false);
        bias = register_parameter("bias", at::empty({channels}, o), false);
    }
    at::Tensor forward(const at::Tensor& x) { return at::group_norm(x, num_groups, weight, bias, eps); }

    at::Tensor weight;
    at::Tensor bias;
    std::int64_t num_groups;
    double eps;
};
TORCH_MODULE(PlainGroupNorm);

}  // namespace engine::models
