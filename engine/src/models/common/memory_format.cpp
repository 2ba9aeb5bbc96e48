#include "models/common/memory_format.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <cstdlib>
#include <cstring>

namespace engine::models {

void set_conv_weights_channels_last(torch::nn::Module& module, bool on) {
    torch::NoGradGuard no_grad;
    for (auto& p : module.parameters(/*recurse=*/true)) {
        if (!p.defined() || !p.is_floating_point() || (p.dim() != 4 && p.dim() != 5)) continue;
        const auto format = !on            ? at::MemoryFormat::Contiguous
                            : p.dim() == 4 ? at::MemoryFormat::ChannelsLast
                                           : at::MemoryFormat::ChannelsLast3d;
        if (!p.is_contiguous(format)) {
            p.set_data(p.contiguous(format));
        }
    }
}

at::Tensor channels_last_if(const at::Tensor& x, bool on) {
    return on && x.defined() && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

bool channels_last_allowed_by_env() noexcept {
    const char* v = std::getenv("KINORA_DISABLE_CHANNELS_LAST");
    return v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0;
}

bool default_channels_last(const c10::Device& device) noexcept {
    return device.is_cuda() && channels_last_allowed_by_env();
}

}  // namespace engine::models
