// CudaGraphRunner for CPU-only builds of LibTorch: every call is eager (see cuda_graph.h).
#include <cstdlib>
#include <cstring>
#include <utility>

#include "runtime/cuda_graph.h"

namespace engine::runtime {

bool cuda_graphs_built() noexcept {
    return false;
}

bool cuda_graphs_allowed_by_env() noexcept {
    const char* v = std::getenv("KINORA_DISABLE_CUDA_GRAPHS");
    return v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0;
}

struct CudaGraphRunner::Impl {
    Fn fn;
    bool enabled = false;
    int64_t eager = 0;
};

CudaGraphRunner::CudaGraphRunner(std::string /*name*/, Fn fn, int /*max_graphs*/) : impl_(std::make_unique<Impl>()) {
    impl_->fn = std::move(fn);
    impl_->enabled = cuda_graphs_allowed_by_env();
}

CudaGraphRunner::~CudaGraphRunner() = default;

at::Tensor CudaGraphRunner::run(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& persistent) {
    ++impl_->eager;
    if (persistent.empty()) return impl_->fn(inputs);
    std::vector<at::Tensor> all = inputs;
    all.insert(all.end(), persistent.begin(), persistent.end());
    return impl_->fn(all);
}

void CudaGraphRunner::set_enabled(bool enabled) noexcept {
    impl_->enabled = enabled;
}
bool CudaGraphRunner::enabled() const noexcept {
    return impl_->enabled;
}
bool CudaGraphRunner::failed() const noexcept {
    return false;
}
int64_t CudaGraphRunner::captures() const noexcept {
    return 0;
}
int64_t CudaGraphRunner::replays() const noexcept {
    return 0;
}
int64_t CudaGraphRunner::eager_calls() const noexcept {
    return impl_->eager;
}
void CudaGraphRunner::reset() {}

}  // namespace engine::runtime
