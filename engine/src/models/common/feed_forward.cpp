// Ref: huggingface/diffusers src/diffusers/models/transformers/sana_transformer.py@58eb52c0803e GLUMBConv
#include "models/common/feed_forward.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/dropout.h>

#include "kernels/ops.h"

namespace engine::models {

GLUMBConvImpl::GLUMBConvImpl(const GLUMBConvOptions& opts, const at::TensorOptions& tensor_options) : options(opts) {
    const auto hidden = static_cast<int64_t>(options.expand_ratio * static_cast<double>(options.in_channels));
    TORCH_CHECK(hidden > 0, "GLUMBConv: hidden channels must be positive (expand_ratio ", options.expand_ratio,
                ", in_channels ", options.in_channels, ")");
    const at::TensorOptions& o = tensor_options;
    conv_inverted = register_module("conv_inverted", PlainConv(options.in_channels, hidden * 2, conv2d_geometry(1), o));
    conv_depth = register_module(
        "conv_depth", PlainConv(hidden * 2, hidden * 2, conv2d_geometry(3, 1, 1, true, /*groups=*/hidden * 2), o));
    conv_point = register_module(
        "conv_point", PlainConv(hidden, options.out_channels, conv2d_geometry(1, 1, 0, /*bias=*/false), o));
    if (options.rms_norm) {
        norm = register_module("norm", RMSNorm(RMSNormOptions{options.out_channels, 1e-5, true, true}, o));
    }
}

at::Tensor GLUMBConvImpl::forward(const at::Tensor& x) {
    at::Tensor h = at::silu(conv_inverted->forward(x));  // [B, 2·hidden, H, W]
    // conv_depth, then value · SiLU(gate) of its two channel halves: [B, hidden, H, W]
    h = kernels::depthwise_conv3x3_silu_gate(h, conv_depth->weight, conv_depth->bias);
    h = conv_point->forward(h);  // [B, out, H, W]
    if (!norm.is_empty()) {
        h = norm->forward(h.movedim(1, -1)).movedim(-1, 1);  // RMSNorm over channels
    }
    if (options.residual_connection) {
        h = h + x;
    }
    return h;
}

namespace {
// A tensor's version counter; inference tensors (made under InferenceMode) keep none: their storage is all we track.
std::int64_t version_of(const at::Tensor& t) {
    return t.defined() && !t.is_inference() ? static_cast<std::int64_t>(t._version()) : 0;
}
}  // namespace

const at::Tensor& DepthwiseTapsCache::get(const at::Tensor& weight, const at::Tensor& bias) {
    const void* bias_source = bias.defined() ? bias.data_ptr() : nullptr;
    if (!taps_.defined() || weight_source_ != weight.data_ptr() || weight_version_ != version_of(weight) ||
        bias_source_ != bias_source || bias_version_ != version_of(bias) || taps_.device() != weight.device()) {
        taps_ = kernels::depthwise_taps(weight, bias);  // (re)made when the weights are loaded or moved
        weight_source_ = weight.data_ptr();
        weight_version_ = version_of(weight);
        bias_source_ = bias_source;
        bias_version_ = version_of(bias);
    }
    return taps_;
}

at::Tensor glumbconv_nhwc(const at::Tensor& x, const at::Tensor& inverted_weight, const at::Tensor& inverted_bias,
                          const at::Tensor& depth_weight, const at::Tensor& depth_bias, const at::Tensor& point_weight,
                          const at::Tensor& point_bias, const QuantizedWeight* inverted_q,
                          const QuantizedWeight* point_q, const at::Tensor& depth_taps) {
    TORCH_CHECK(x.dim() == 4, "GLUMBConv on tokens: x must be [B, H, W, C], got ", x.sizes());
    auto linear = [](const at::Tensor& in, const at::Tensor& conv_weight, const at::Tensor& bias,
                     const QuantizedWeight* q) {
        if (q != nullptr) {
            return quantized_linear(in, *q, bias);
        }
        const at::Tensor w = conv_weight.view({conv_weight.size(0), -1});  // [out, in, 1, 1] → [out, in]
        return bias.defined() ? at::linear(in, w, bias) : at::linear(in, w);
    };
    at::Tensor h = linear(x, inverted_weight, inverted_bias, inverted_q);            // [B, H, W, 2·hidden]
    h = kernels::silu_depthwise_conv3x3_gate_nhwc(h, depth_weight, depth_bias, depth_taps);  // [B, H, W, hidden]
    return linear(h, point_weight, point_bias, point_q);                             // [B, H, W, out]
}

at::Tensor GLUMBConvImpl::forward_nhwc(const at::Tensor& x) {
    auto q = [](const PlainConv& conv) { return conv->quantized ? &*conv->quantized : nullptr; };
    at::Tensor h = glumbconv_nhwc(x, conv_inverted->weight, conv_inverted->bias, conv_depth->weight, conv_depth->bias,
                                  conv_point->weight, conv_point->bias, q(conv_inverted), q(conv_point),
                                  depth_taps_.get(conv_depth->weight, conv_depth->bias));
    if (!norm.is_empty()) {
        h = norm->forward(h);  // RMSNorm over channels, the last dim here
    }
    if (options.residual_connection) {
        h = h + x;
    }
    return h;
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out, const at::TensorOptions& options) {
    proj = register_module("proj", PlainLinear(dim_in, dim_out * 2, true, options));
}

at::Tensor GEGLUImpl::forward(const at::Tensor& x) {
    return kernels::geglu(proj->forward(x));  // value · GELU(gate) of the two halves: [..., dim_out]
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult, const at::TensorOptions& options) {
    const int64_t inner = dim * mult;
    net_0 = GEGLU(dim, inner, options);
    net_2 = PlainLinear(inner, dim, true, options);
    net = register_module("net", torch::nn::ModuleList(net_0, torch::nn::Dropout(0.0), net_2));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
    return net_2->forward(net_0->forward(x));
}

}  // namespace engine::models
