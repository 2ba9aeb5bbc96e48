// Values of the generation parameters a job stores with its result (PNG text chunks, video tags, the gallery).
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdio>
#include <string>

namespace engine::pipelines {

/// A number as the parameters show it: shortest of %g ("4.5", "20", "0.001").
inline std::string format_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

/// The compute precision as the CLI's --precision names it (fp32, bf16, fp16), else the dtype's name. It changes the
/// picture a little, so it is part of what reproduces one.
inline std::string precision_name(c10::ScalarType dtype) {
    switch (dtype) {
        case c10::ScalarType::Float:
            return "fp32";
        case c10::ScalarType::BFloat16:
            return "bf16";
        case c10::ScalarType::Half:
            return "fp16";
        default:
            return c10::toString(dtype);
    }
}

}  // namespace engine::pipelines
