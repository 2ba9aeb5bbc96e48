// Random weights for real-size models without checkpoints: the models are built uninitialised in their target
// dtype and device (the engine's constructors take TensorOptions), then filled here in place, on the device.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>

namespace kinora_bench {

/// Fills every floating parameter (and BatchNorm statistics) of `module` in place, on its device, from the default
/// generator of that device: matrices and kernels ~ N(0, 1/fan_in) (activations keep their scale through the
/// layers, as the reference's default inits do), 1-D weights ~ 1 + N(0, 0.02²) (norm scales), other 1-D
/// parameters ~ N(0, 0.02²) (biases), scalars 0. Never zeros: zero weights can run faster than real ones.
void randomize_parameters(torch::nn::Module& module);

/// Number of parameter elements (shared tensors counted once per registration).
std::int64_t count_parameters(const torch::nn::Module& module);

}  // namespace kinora_bench
