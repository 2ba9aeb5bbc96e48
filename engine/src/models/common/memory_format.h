// Channels-last (NHWC in memory) convolutions for the VAEs and the LVDM UNet on CUDA (issue #9): cuDNN's fastest
// convolution kernels on tensor-core GPUs read and write NHWC, and an NCHW model pays a layout transform around each
// of them. A model switched to channels-last keeps its 2-D convolution kernels in that layout and converts its 4-D
// input once; every op keeps (or picks) its layout from its input, and the model's result is returned contiguous
// (NCHW) as before. The math is unchanged: only summation order inside a convolution may differ.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace torch::nn {
class Module;
}

namespace engine::models {

/// Converts the 4-D and 5-D floating parameters (2-D and 3-D convolution kernels) under `module`, recursively, to
/// channels-last / channels-last-3d (on) or back to contiguous (off), in place. Other parameters and buffers are left
/// as they are.
void set_conv_weights_channels_last(torch::nn::Module& module, bool on);

/// x.contiguous(ChannelsLast) when `on` and x is 4-D, else x.
at::Tensor channels_last_if(const at::Tensor& x, bool on);

/// False when KINORA_DISABLE_CHANNELS_LAST is set to a non-empty value other than "0".
bool channels_last_allowed_by_env() noexcept;

/// The default of the load options: on for CUDA devices (unless the environment says no), off elsewhere (CPU
/// convolutions gain little from it).
bool default_channels_last(const c10::Device& device) noexcept;

}  // namespace engine::models
