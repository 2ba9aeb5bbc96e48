// FP8 (OCP e4m3fn / e5m2) decoding to bfloat16, exact for every finite value.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace engine::io {

enum class Float8Kind { E4M3, E5M2 };

/// The float value of one FP8 byte (NaN for NaN encodings; e5m2 also has ±inf).
float float8_to_float(std::uint8_t bits, Float8Kind kind) noexcept;

/// Decodes `bytes` FP8 values into a new bfloat16 CPU tensor of the given shape.
at::Tensor decode_float8(const std::uint8_t* data, std::size_t bytes, const std::vector<std::int64_t>& shape,
                         Float8Kind kind);

}  // namespace engine::io
