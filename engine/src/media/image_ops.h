// Pixel operations on engine::Image shared by the readers and writers: EXIF orientation, sRGB
// transfer, the PIL-style antialiased bilinear resampler behind resize_cover().
#pragma once

#include <cstdint>

#include "engine/media.h"

namespace engine::media {

/// Turns a stored image upright for its EXIF orientation (1..8; other values leave it unchanged).
/// 5..8 swap width and height.
Image apply_exif_orientation(Image stored, int orientation);

/// sRGB transfer function (IEC 61966-2-1) of a linear value, clipped to [0, 1].
float linear_to_srgb(float linear) noexcept;

/// A float in [0, 1] to 8 bits, rounded to nearest (values outside are clipped).
inline std::uint8_t unit_to_u8(float v) noexcept {
    v = v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
    return static_cast<std::uint8_t>(v * 255.f + 0.5f);
}

/// Resamples `image` to resized_width × resized_height with PIL's BILINEAR filter (triangle, support
/// widened by the downscale factor) and returns only the window [left, left + width) × [top, top + height)
/// of that resized image. Horizontal pass first, 8-bit intermediate, as PIL does.
Image resample_bilinear_window(const Image& image, int resized_width, int resized_height, int left, int top, int width,
                               int height);

}  // namespace engine::media
