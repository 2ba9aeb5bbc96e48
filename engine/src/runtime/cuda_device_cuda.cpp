#include <ATen/cuda/CUDAContext.h>

#include "runtime/cuda_device.h"

namespace engine::runtime {

int cuda_compute_capability(int index) noexcept {
    try {
        if (index < 0 || index >= static_cast<int>(at::cuda::device_count())) {
            return 0;
        }
        const cudaDeviceProp* p = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(index));
        return p->major * 10 + p->minor;
    } catch (...) {
        return 0;
    }
}

}  // namespace engine::runtime
