// Pixel containers that cross the engine's public API: 8-bit, interleaved, row-major.
//
//     engine::Image img{width, height, 3, std::vector<uint8_t>(width * height * 3)};
//
// Thread safety: plain value types; copy them across threads freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace engine {

/// An 8-bit image: channels is 1 (grey), 3 (RGB) or 4 (RGBA); pixels.size() == width * height * channels.
struct Image {
    int width = 0;
    int height = 0;
    int channels = 0;
    std::vector<std::uint8_t> pixels;

    /// True when the image holds no pixels.
    bool empty() const noexcept { return width <= 0 || height <= 0 || pixels.empty(); }
    /// Bytes per row.
    std::size_t stride() const noexcept { return static_cast<std::size_t>(width) * static_cast<std::size_t>(channels); }
    /// True when the buffer size matches the declared dimensions.
    bool is_consistent() const noexcept {
        return width > 0 && height > 0 && (channels == 1 || channels == 3 || channels == 4) &&
               pixels.size() == stride() * static_cast<std::size_t>(height);
    }
};

/// A clip: frames of equal size played at fps.
struct VideoFrames {
    double fps = 8.0;
    std::vector<Image> frames;

    /// True when there is nothing to play.
    bool empty() const noexcept { return frames.empty(); }
};

}  // namespace engine
