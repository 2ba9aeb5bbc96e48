// StreamMarker and copy_to_host_async for CUDA builds of LibTorch: CUDA events and pinned memory (device_sync.h).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>

#include "runtime/device_sync.h"

namespace engine::runtime {

struct StreamMarker::Impl {
    at::cuda::CUDAEvent event;  // timing off, blocking wait off: cudaEventSynchronize as torch.cuda.Event does
};

StreamMarker StreamMarker::record(c10::Device device) {
    StreamMarker marker;
    if (device.is_cuda()) {
        marker.impl_ = std::make_shared<Impl>();
        marker.impl_->event.record(at::cuda::getCurrentCUDAStream(device.index()));
    }
    return marker;
}

bool StreamMarker::reached() const {
    return !impl_ || impl_->event.query();
}

void StreamMarker::wait() const {
    if (impl_) impl_->event.synchronize();
}

HostCopy copy_to_host_async(const at::Tensor& tensor) {
    if (!tensor.defined() || !tensor.is_cuda()) return {tensor, StreamMarker()};
    at::Tensor host = at::empty(tensor.sizes(), tensor.options().device(at::kCPU).pinned_memory(true));
    host.copy_(tensor, /*non_blocking=*/true);
    return {host, StreamMarker::record(tensor.device())};
}

}  // namespace engine::runtime
