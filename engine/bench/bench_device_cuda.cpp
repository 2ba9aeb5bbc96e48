// kinora-bench device helpers for CUDA builds of LibTorch (see bench_device.h).
#include <ATen/Parallel.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/cuda.h>

#include <set>
#include <string>

#include "bench_device.h"

namespace kinora_bench {

bool cuda_available() {
    return torch::cuda::is_available();
}

void synchronize(const c10::Device& device) {
    if (device.is_cuda()) {
        c10::cuda::CUDAGuard guard(device);
        c10::cuda::device_synchronize();
    }
}

void reset_peak_memory(const c10::Device& device) {
    if (device.is_cuda()) {
        c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
    }
}

std::optional<std::int64_t> peak_memory_bytes(const c10::Device& device) {
    if (!device.is_cuda()) {
        return std::nullopt;
    }
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
    return stats.allocated_bytes[0].peak;  // [0]: StatType::AGGREGATE (its namespace differs between versions)
}

std::string device_description(const c10::Device& device) {
    if (!device.is_cuda()) {
        return "CPU (" + std::to_string(at::get_num_threads()) + " threads)";
    }
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(c10::cuda::current_device());
    return std::string(p->name) + " (sm_" + std::to_string(p->major) + std::to_string(p->minor) + ", " +
           std::to_string(p->multiProcessorCount) + " SMs)";
}

namespace {
bool& profiling() {
    static bool active = false;
    return active;
}
}  // namespace

bool start_profiler(std::string* why) {
    namespace prof = torch::profiler::impl;
    try {
        const prof::ProfilerConfig config(prof::ProfilerState::KINETO);
        const std::set<prof::ActivityType> activities{prof::ActivityType::CPU, prof::ActivityType::CUDA};
        torch::autograd::profiler::prepareProfiler(config, activities);
        torch::autograd::profiler::enableProfiler(config, activities);
        profiling() = true;
        return true;
    } catch (const std::exception& e) {
        if (why) *why = e.what();
        return false;
    }
}

bool stop_profiler(const std::string& path, std::string* why) {
    if (!profiling()) {
        if (why) *why = "no profile is running";
        return false;
    }
    profiling() = false;
    try {
        auto result = torch::autograd::profiler::disableProfiler();
        result->save(path);
        return true;
    } catch (const std::exception& e) {
        if (why) *why = e.what();
        return false;
    }
}

}  // namespace kinora_bench
