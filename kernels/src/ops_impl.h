// Backend entry points behind kernels/ops.h (one CPU reference, one CUDA implementation each). ops.cpp has
// checked shapes, devices and dtypes before either is called.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace kernels::detail {

at::Tensor relu_linear_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);
at::Tensor relu_linear_attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);

at::Tensor layer_norm_modulate_cpu(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);
at::Tensor layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);

at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);
at::Tensor rms_norm_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                         std::optional<at::ScalarType> out_dtype, const at::Tensor& residual);
at::Tensor bias_silu_cpu(const at::Tensor& x, const at::Tensor& bias);
at::Tensor bias_silu_cuda(const at::Tensor& x, const at::Tensor& bias);

at::Tensor depthwise_conv3x3_silu_gate_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);
at::Tensor depthwise_conv3x3_silu_gate_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

at::Tensor silu_depthwise_conv3x3_gate_nhwc_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);
at::Tensor silu_depthwise_conv3x3_gate_nhwc_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                                 const at::Tensor& taps);

at::Tensor gated_residual_cpu(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y);
at::Tensor gated_residual_cuda(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y);

std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate_cpu(const at::Tensor& x, const at::Tensor& y,
                                                                    const at::Tensor& gate, const at::Tensor& shift,
                                                                    const at::Tensor& scale, double eps);
std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& y,
                                                                     const at::Tensor& gate, const at::Tensor& shift,
                                                                     const at::Tensor& scale, double eps,
                                                                     const at::Tensor& y_head);
/// y [B, N, D] with its first S samples replaced by y_head [S, 1, D] broadcast over N (residual_layer_norm_modulate's
/// y_head, for the paths that take a whole y).
at::Tensor with_y_head(const at::Tensor& y, const at::Tensor& y_head);

at::Tensor group_norm_cpu(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                          double eps, bool silu, const at::Tensor& channel_add, const at::Tensor& out);
at::Tensor group_norm_cuda(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, bool silu, const at::Tensor& channel_add, const at::Tensor& out);

std::tuple<at::Tensor, at::Tensor> add_layer_norm_cpu(const at::Tensor& x, const at::Tensor& residual,
                                                      const at::Tensor& weight, const at::Tensor& bias, double eps);
std::tuple<at::Tensor, at::Tensor> add_layer_norm_cuda(const at::Tensor& x, const at::Tensor& residual,
                                                       const at::Tensor& weight, const at::Tensor& bias, double eps);

at::Tensor geglu_cpu(const at::Tensor& h);
at::Tensor geglu_cuda(const at::Tensor& h);

at::Tensor add_channel_bias_cpu(const at::Tensor& y, const at::Tensor& bias, const at::Tensor& residual);
at::Tensor add_channel_bias_cuda(const at::Tensor& y, const at::Tensor& bias, const at::Tensor& residual);

at::Tensor short_sequence_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask);
at::Tensor short_sequence_attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                         const at::Tensor& mask);

std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3_cpu(const at::Tensor& x);
std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3_cuda(const at::Tensor& x);

bool cuda_built() noexcept;

}  // namespace kernels::detail
