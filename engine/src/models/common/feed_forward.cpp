// Ref: huggingface/diffusers src/diffusers/models/transformers/sana_transformer.py@58eb52c0803e GLUMBConv
#include "models/common/feed_forward.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/dropout.h>

namespace engine::models {

GLUMBConvImpl::GLUMBConvImpl(const GLUMBConvOptions& opts) : options(opts) {
    const auto hidden = static_cast<int64_t>(options.expand_ratio * static_cast<double>(options.in_channels));
    TORCH_CHECK(hidden > 0, "GLUMBConv: hidden channels must be positive (expand_ratio ", options.expand_ratio,
                ", in_channels ", options.in_channels, ")");
    conv_inverted = register_module("conv_inverted",
                                    torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_channels, hidden * 2, 1)));
    conv_depth = register_module(
        "conv_depth",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden * 2, hidden * 2, 3).padding(1).groups(hidden * 2)));
    conv_point = register_module(
        "conv_point", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, options.out_channels, 1).bias(false)));
    if (options.rms_norm) {
        norm = register_module("norm", RMSNorm(RMSNormOptions{options.out_channels, 1e-5, true, true}));
    }
}

at::Tensor GLUMBConvImpl::forward(const at::Tensor& x) {
    at::Tensor h = at::silu(conv_inverted->forward(x));  // [B, 2·hidden, H, W]
    h = conv_depth->forward(h);
    auto halves = h.chunk(2, 1);                               // value, gate: [B, hidden, H, W] each
    h = conv_point->forward(halves[0] * at::silu(halves[1]));  // [B, out, H, W]
    if (!norm.is_empty()) {
        h = norm->forward(h.movedim(1, -1)).movedim(-1, 1);  // RMSNorm over channels
    }
    if (options.residual_connection) {
        h = h + x;
    }
    return h;
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out) {
    proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(dim_in, dim_out * 2)));
}

at::Tensor GEGLUImpl::forward(const at::Tensor& x) {
    auto halves = proj->forward(x).chunk(2, -1);  // value, gate: [..., dim_out] each
    return halves[0] * at::gelu(halves[1]);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult) {
    const int64_t inner = dim * mult;
    net_0 = GEGLU(dim, inner);
    net_2 = torch::nn::Linear(torch::nn::LinearOptions(inner, dim));
    net = register_module("net", torch::nn::ModuleList(net_0, torch::nn::Dropout(0.0), net_2));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
    return net_2->forward(net_0->forward(x));
}

}  // namespace engine::models
