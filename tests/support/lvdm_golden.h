// The LVDM golden pipeline cases (vc2_pipeline_tiny, dc_pipeline_tiny) as engine requests: the prompt, steps,
// guidance, frame rate / stride and seed the golden runs were made with, for the CPU and the CUDA pipeline tests.
#pragma once

#include <cstdint>
#include <string>

#include "engine/requests.h"
#include "support/golden_case.h"

namespace test_support {

/// The golden runs reseeded the global generator before each random stage (INDEX.json notes): vc2 x_T with 7 and
/// the step noise with 8; dc the posterior sample with 4, x_T with 5, the step noise with 6. Kinora's per-stage
/// streams (seed + k) replay them from seed 7 and seed 4.
constexpr std::uint64_t kVC2GoldenSeed = 7;
constexpr std::uint64_t kDCGoldenSeed = 4;

/// The CLIP vocabulary folder of the golden set (the LVDM checkpoints ship none).
std::string clip_vocab_dir();

/// vc2_pipeline_tiny's text-to-video request at DDIM eta `eta`.
engine::TextToVideoRequest vc2_request_from(const GoldenCase& gc, double eta);

/// dc_pipeline_tiny's image-to-video request at DDIM eta `eta`, with a neutral 8-bit image of the golden image's
/// size (the golden feeds a float image: tests put gc.io("image") into the resolved options themselves).
engine::ImageToVideoRequest dc_request_from(const GoldenCase& gc, double eta);

}  // namespace test_support
