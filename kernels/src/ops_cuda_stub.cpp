// Built when KINORA_ENABLE_CUDA is OFF. ops.cpp sends CUDA tensors to the device-generic references when
// cuda_built() is false, so these are never reached; they fail clearly instead of leaving a missing symbol.
#include <c10/util/Exception.h>

#include "ops_impl.h"

namespace kernels::detail {
namespace {

[[noreturn]] void no_cuda(const char* op) {
    TORCH_CHECK(false, op,
                ": this Kinora build has no CUDA kernels (KINORA_ENABLE_CUDA=OFF); build the gpu-pip preset");
}

}  // namespace

bool cuda_built() noexcept {
    return false;
}

at::Tensor relu_linear_attention_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, double) {
    no_cuda("relu_linear_attention");
}

at::Tensor layer_norm_modulate_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, double) {
    no_cuda("layer_norm_modulate");
}

at::Tensor rms_norm_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                         std::optional<at::ScalarType>, const at::Tensor&) {
    no_cuda("rms_norm");
}

at::Tensor bias_silu_cuda(const at::Tensor&, const at::Tensor&) {
    no_cuda("bias_silu");
}

at::Tensor depthwise_conv3x3_silu_gate_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
    no_cuda("depthwise_conv3x3_silu_gate");
}

at::Tensor gated_residual_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
    no_cuda("gated_residual");
}

std::tuple<at::Tensor, at::Tensor> residual_layer_norm_modulate_cuda(const at::Tensor&, const at::Tensor&,
                                                                     const at::Tensor&, const at::Tensor&,
                                                                     const at::Tensor&, double, const at::Tensor&) {
    no_cuda("residual_layer_norm_modulate");
}

at::Tensor silu_depthwise_conv3x3_gate_nhwc_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                 const at::Tensor&) {
    no_cuda("silu_depthwise_conv3x3_gate_nhwc");
}

at::Tensor group_norm_cuda(const at::Tensor&, int64_t, const at::Tensor&, const at::Tensor&, double, bool,
                           const at::Tensor&, const at::Tensor&) {
    no_cuda("group_norm");
}

std::tuple<at::Tensor, at::Tensor> add_layer_norm_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                       const at::Tensor&, double) {
    no_cuda("add_layer_norm");
}

at::Tensor geglu_cuda(const at::Tensor&) {
    no_cuda("geglu");
}

at::Tensor add_channel_bias_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
    no_cuda("add_channel_bias");
}

at::Tensor short_sequence_attention_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
    no_cuda("short_sequence_attention");
}

std::tuple<at::Tensor, at::Tensor> quantize_rows_e4m3_cuda(const at::Tensor&) {
    no_cuda("quantize_rows_e4m3");
}

}  // namespace kernels::detail
