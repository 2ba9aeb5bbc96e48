#include "runtime/cuda_device.h"

namespace engine::runtime {

int cuda_compute_capability(int /*index*/) noexcept {
    return 0;
}

}  // namespace engine::runtime
