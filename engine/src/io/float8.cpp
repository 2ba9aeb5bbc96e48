#include "io/float8.h"

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <limits>

namespace engine::io {

float float8_to_float(std::uint8_t bits, Float8Kind kind) noexcept {
    const bool negative = (bits & 0x80) != 0;
    int exponent = 0;
    int mantissa = 0;
    int mantissa_bits = 0;
    int bias = 0;
    if (kind == Float8Kind::E4M3) {
        exponent = (bits >> 3) & 0x0F;
        mantissa = bits & 0x07;
        mantissa_bits = 3;
        bias = 7;
        if (exponent == 0x0F && mantissa == 0x07) return std::numeric_limits<float>::quiet_NaN();  // fn: no inf
    } else {
        exponent = (bits >> 2) & 0x1F;
        mantissa = bits & 0x03;
        mantissa_bits = 2;
        bias = 15;
        if (exponent == 0x1F) {
            if (mantissa != 0) return std::numeric_limits<float>::quiet_NaN();
            return negative ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        }
    }
    float value = 0.f;
    const float scale = static_cast<float>(1 << mantissa_bits);
    if (exponent == 0) {
        value = std::ldexp(static_cast<float>(mantissa) / scale, 1 - bias);  // subnormal
    } else {
        value = std::ldexp(1.f + static_cast<float>(mantissa) / scale, exponent - bias);
    }
    return negative ? -value : value;
}

at::Tensor decode_float8(const std::uint8_t* data, std::size_t bytes, const std::vector<std::int64_t>& shape,
                         Float8Kind kind) {
    std::array<float, 256> table{};
    for (int i = 0; i < 256; ++i) table[static_cast<std::size_t>(i)] = float8_to_float(static_cast<std::uint8_t>(i), kind);
    at::Tensor out = at::empty({static_cast<std::int64_t>(bytes)}, at::TensorOptions().dtype(at::kFloat));
    float* dst = out.data_ptr<float>();
    for (std::size_t i = 0; i < bytes; ++i) dst[i] = table[data[i]];
    return out.to(at::kBFloat16).reshape(shape);
}

}  // namespace engine::io
