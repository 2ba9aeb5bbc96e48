#include "models/common/module_utils.h"

#include <ATen/ATen.h>
#include <torch/types.h>

#include "core/engine_error.h"

namespace engine::models {

void convert_floating_tensors(torch::nn::Module& module, at::ScalarType dtype, c10::Device device) {
    torch::NoGradGuard no_grad;
    auto convert = [&](at::Tensor& t) {
        const auto target = at::isFloatingType(t.scalar_type()) ? dtype : t.scalar_type();
        t.set_data(t.to(device, target));
    };
    for (auto& p : module.parameters(/*recurse=*/true)) convert(p);
    for (auto& b : module.buffers(/*recurse=*/true)) convert(b);
}

void require_nchw_input(const at::Tensor& x, int64_t channels, const std::string& model, const std::string& what,
                        const std::string& hint) {
    core::require(x.defined() && x.dim() == 4, ErrorCode::InvalidRequest,
                  model + ": the " + what + " must be a [B, " + std::to_string(channels) + ", H, W] tensor" +
                      (x.defined() ? ", got " + c10::str(x.sizes()) : std::string(", got an undefined tensor")));
    core::require(x.size(1) == channels, ErrorCode::InvalidRequest,
                  model + ": the " + what + " has " + std::to_string(x.size(1)) + " channels, this model expects " +
                      std::to_string(channels) + " (" + hint + ")");
    core::require(x.size(0) > 0 && x.size(2) > 0 && x.size(3) > 0, ErrorCode::InvalidRequest,
                  model + ": the " + what + " is empty: " + c10::str(x.sizes()));
    core::require(at::isFloatingType(x.scalar_type()), ErrorCode::InvalidRequest,
                  model + ": the " + what + " must be a floating-point tensor, got " +
                      std::string(c10::toString(x.scalar_type())));
}

}  // namespace engine::models
