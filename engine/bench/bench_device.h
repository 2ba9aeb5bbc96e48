// What kinora-bench needs from the device beyond LibTorch's tensor API: synchronisation, the caching allocator's
// peak statistics and the device's name. Two implementations, chosen by CMake (as the engine's optional-library
// variants are): bench_device_cuda.cpp when LibTorch has CUDA, bench_device_no_cuda.cpp otherwise.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <string>

namespace kinora_bench {

/// True when this build's LibTorch has CUDA and a device is present.
bool cuda_available();
/// Waits until all work queued on the device is done (no-op on the CPU).
void synchronize(const c10::Device& device);
/// Starts a new peak-memory window (CUDA caching allocator; no-op on the CPU).
void reset_peak_memory(const c10::Device& device);
/// Peak bytes allocated by tensors since reset_peak_memory; nullopt on the CPU.
std::optional<std::int64_t> peak_memory_bytes(const c10::Device& device);
/// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)" or "CPU (N threads)".
std::string device_description(const c10::Device& device);

/// Starts LibTorch's Kineto profiler (CPU ops and CUDA kernels); false (with `why` set) where this build cannot.
bool start_profiler(std::string* why);
/// Stops it and writes a Chrome trace (JSON) to `path`; false (with `why` set) when no profile was running.
bool stop_profiler(const std::string& path, std::string* why);

}  // namespace kinora_bench
