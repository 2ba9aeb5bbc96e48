#include "random_weights.h"

#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <string>

namespace kinora_bench {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void randomize_parameters(torch::nn::Module& module) {
    torch::NoGradGuard no_grad;
    for (auto& item : module.named_parameters(/*recurse=*/true)) {
        at::Tensor p = item.value();
        if (!at::isFloatingType(p.scalar_type()) || p.numel() == 0) {
            continue;
        }
        if (p.dim() >= 2) {
            const double fan_in = static_cast<double>(p.numel() / p.size(0));
            p.normal_(0.0, 1.0 / std::sqrt(fan_in));
        } else if (p.dim() == 1) {
            p.normal_(ends_with(item.key(), "weight") ? 1.0 : 0.0, 0.02);
        } else {
            p.zero_();
        }
    }
    for (auto& item : module.named_buffers(/*recurse=*/true)) {
        at::Tensor b = item.value();
        if (ends_with(item.key(), "running_var")) {
            b.fill_(1.0);
        } else if (ends_with(item.key(), "running_mean")) {
            b.zero_();
        }
    }
}

std::int64_t count_parameters(const torch::nn::Module& module) {
    std::int64_t n = 0;
    for (const auto& p : module.parameters(/*recurse=*/true)) {
        n += p.numel();
    }
    return n;
}

}  // namespace kinora_bench
