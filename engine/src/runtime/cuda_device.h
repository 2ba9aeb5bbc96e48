// Facts about the CUDA device that choose code paths (not the CUDA runtime itself: torch-free callers see ints).
#pragma once

namespace engine::runtime {

/// The compute capability of CUDA device `index` as major · 10 + minor (89: Ada, 90: Hopper), or 0 when this build
/// has no CUDA or there is no such device.
int cuda_compute_capability(int index) noexcept;

}  // namespace engine::runtime
