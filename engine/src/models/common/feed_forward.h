// Ref: huggingface/diffusers src/diffusers/models/transformers/sana_transformer.py@58eb52c0803e GLUMBConv
// Ref: AILab-CVC/VideoCrafter lvdm/modules/attention.py@11bcd76 GEGLU, FeedForward
// Feed-forward blocks shared by the models.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>

#include "models/common/normalization.h"
#include "models/common/plain_layers.h"

namespace engine::models {

struct GLUMBConvOptions {
    int64_t in_channels = 0;
    int64_t out_channels = 0;
    double expand_ratio = 4.0;  // hidden = int(expand_ratio · in_channels)
    bool rms_norm = false;      // norm_type "rms_norm": RMSNorm(out, eps 1e-5, weight + bias) over channels
    bool residual_connection = true;
};

/// kernels::depthwise_taps of a depthwise convolution's weight and bias (the layout the token-layout CUDA kernel reads;
/// the CPU reference ignores it), made on first use and remade when the weight or bias is loaded or moved (storage,
/// version or device changes). One conversion a load instead of two copy kernels a call; the step's CUDA graphs
/// capture after eager warm-up calls, so the conversion is never captured.
class DepthwiseTapsCache {
public:
    const at::Tensor& get(const at::Tensor& weight, const at::Tensor& bias);

private:
    at::Tensor taps_;
    const void* weight_source_ = nullptr;
    const void* bias_source_ = nullptr;
    std::int64_t weight_version_ = 0;
    std::int64_t bias_version_ = 0;
};

/// diffusers GLUMBConv (Sana's feed-forward, DC-AE's EfficientViT block MLP), on [B, C, H, W]:
///   h = SiLU(conv_inverted(x))                 1×1, C → 2·hidden, bias
///   h = conv_depth(h)                          3×3 depthwise, padding 1, bias
///   h = conv_point(h[:hidden] · SiLU(h[hidden:]))   1×1, hidden → out, no bias
///   [h = RMSNorm over channels], [h = h + x]
/// The depthwise conv and the gate go through kernels::depthwise_conv3x3_silu_gate (CPU: the same ATen ops;
/// CUDA: one fused kernel). Keys: conv_inverted.*, conv_depth.*, conv_point.weight, norm.{weight,bias}.
/// Parameters are allocated uninitialised with `tensor_options` (loading fills them).
class GLUMBConvImpl : public torch::nn::Module {
public:
    explicit GLUMBConvImpl(const GLUMBConvOptions& options, const at::TensorOptions& tensor_options = {});
    at::Tensor forward(const at::Tensor& x);
    /// The same on the token layout, channels innermost: x [B, H, W, C] (e.g. Sana's [B, N, D] tokens viewed on
    /// their grid, or a channels-last feature map permuted) → [B, H, W, out]. The 1×1 convs are matrix products over
    /// the channels (bias in the GEMM's epilogue), the SiLU, depthwise conv and gate one kernel
    /// (kernels::silu_depthwise_conv3x3_gate_nhwc): no layout change and no [B, 2·hidden, H, W] SiLU pass.
    at::Tensor forward_nhwc(const at::Tensor& x);

    GLUMBConvOptions options;
    PlainConv conv_inverted{nullptr};
    PlainConv conv_depth{nullptr};
    PlainConv conv_point{nullptr};
    RMSNorm norm{nullptr};

private:
    DepthwiseTapsCache depth_taps_;
};
TORCH_MODULE(GLUMBConv);

/// GLUMBConv's three convolutions on the token layout x [B, H, W, C] (channels innermost), for any module that holds
/// them (this one, the DC-AE's): the 1×1 convs as matrix products over the channels (bias in the GEMM's epilogue),
/// SiLU → depthwise 3×3 → value · SiLU(gate) as kernels::silu_depthwise_conv3x3_gate_nhwc. Weights as the Conv2d
/// checkpoints hold them ([out, in, 1, 1], [2·hidden, 1, 3, 3]); biases may be undefined → [B, H, W, out].
/// inverted_q / point_q: the 1×1 convs' quantised weights (PlainConv::quantized) used instead of the float ones;
/// depth_taps: kernels::depthwise_taps(depth_weight, depth_bias) (a DepthwiseTapsCache's), or undefined.
at::Tensor glumbconv_nhwc(const at::Tensor& x, const at::Tensor& inverted_weight, const at::Tensor& inverted_bias,
                          const at::Tensor& depth_weight, const at::Tensor& depth_bias, const at::Tensor& point_weight,
                          const at::Tensor& point_bias, const QuantizedWeight* inverted_q = nullptr,
                          const QuantizedWeight* point_q = nullptr, const at::Tensor& depth_taps = {});

/// GEGLU projection: [a, g] = chunk(proj(x), 2) on the last dim, a · GELU(g) with the exact (erf) GELU.
/// Key: proj.*.
class GEGLUImpl : public torch::nn::Module {
public:
    GEGLUImpl(int64_t dim_in, int64_t dim_out, const at::TensorOptions& options = {});
    at::Tensor forward(const at::Tensor& x);

    PlainLinear proj{nullptr};  // dim_in → 2·dim_out
};
TORCH_MODULE(GEGLU);

/// The gated feed-forward of the LDM/LVDM transformer blocks (FeedForward(dim, glu=True), also diffusers'
/// FeedForward(activation_fn="geglu")): net.2(GEGLU(x)) with inner = mult · dim. Keys: net.0.proj.*, net.2.* (net.1
/// is a parameter-free dropout).
class FeedForwardImpl : public torch::nn::Module {
public:
    explicit FeedForwardImpl(int64_t dim, int64_t mult = 4, const at::TensorOptions& options = {});
    /// x: [..., dim] → [..., dim].
    at::Tensor forward(const at::Tensor& x);

    torch::nn::ModuleList net{nullptr};
    GEGLU net_0{nullptr};        // == net[0]
    PlainLinear net_2{nullptr};  // == net[2]
};
TORCH_MODULE(FeedForward);

}  // namespace engine::models
