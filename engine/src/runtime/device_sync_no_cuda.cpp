// StreamMarker and copy_to_host_async for CPU-only builds of LibTorch: all work is synchronous (device_sync.h).
#include <ATen/ATen.h>

#include "runtime/device_sync.h"

namespace engine::runtime {

struct StreamMarker::Impl {};

StreamMarker StreamMarker::record(c10::Device device) {
    TORCH_CHECK(device.is_cpu(), "StreamMarker: this build of Kinora has no CUDA support (device ", device.str(), ")");
    return {};
}

bool StreamMarker::reached() const {
    return true;
}

void StreamMarker::wait() const {}

HostCopy copy_to_host_async(const at::Tensor& tensor) {
    if (!tensor.defined() || tensor.is_cpu()) return {tensor, StreamMarker()};
    return {tensor.to(at::kCPU), StreamMarker()};
}

}  // namespace engine::runtime
