// kinora-bench device helpers for CPU-only builds of LibTorch (see bench_device.h).
#include <ATen/Parallel.h>

#include <string>

#include "bench_device.h"

namespace kinora_bench {

bool cuda_available() {
    return false;
}

void synchronize(const c10::Device&) {}

void reset_peak_memory(const c10::Device&) {}

std::optional<std::int64_t> peak_memory_bytes(const c10::Device&) {
    return std::nullopt;
}

std::string device_description(const c10::Device& device) {
    if (device.is_cuda()) {
        return "CUDA (not in this build)";
    }
    return "CPU (" + std::to_string(at::get_num_threads()) + " threads)";
}

bool start_profiler(std::string* why) {
    if (why) *why = "--profile needs a CUDA build of LibTorch";
    return false;
}

bool stop_profiler(const std::string&, std::string* why) {
    if (why) *why = "--profile needs a CUDA build of LibTorch";
    return false;
}

}  // namespace kinora_bench
