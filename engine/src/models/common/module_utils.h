// Small pieces the image autoencoders (AutoencoderKL, AutoencoderDC) share: moving a module's floating-point
// parameters and buffers to a dtype and device in place, and the input check of their 4-d entry points.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>

namespace engine::models {

/// Every floating-point parameter and buffer of `module` (recursively) to `dtype` on `device`; integer buffers
/// (e.g. BatchNorm's num_batches_tracked) keep their dtype and only move. In place: handles stay valid.
void convert_floating_tensors(torch::nn::Module& module, at::ScalarType dtype, c10::Device device);

/// InvalidRequest unless x is a non-empty floating-point [B, channels, H, W] tensor. Messages read
/// "<model>: the <what> ..." and end with `hint` where the channel count is wrong.
void require_nchw_input(const at::Tensor& x, int64_t channels, const std::string& model, const std::string& what,
                        const std::string& hint);

}  // namespace engine::models
