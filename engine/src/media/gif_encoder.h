// Animated GIF writer without dependencies: one global 256-colour palette for the whole clip, optional
// Floyd-Steinberg dithering, LZW, NETSCAPE2.0 looping, comment extensions for the parameters.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/media.h"

namespace engine::media {

/// At most 256 colours for a set of RGB frames.
struct GifPalette {
    std::vector<std::array<std::uint8_t, 3>> colors;
    bool exact = false;  // true when the frames have at most 256 distinct colours (all are in the palette)
};

/// The exact colours when the frames hold at most 256 of them; else median cut over a 5-bit-per-channel
/// histogram of every pixel of every frame (the box with the largest squared error is split where the
/// two halves' squared error is smallest, along its widest channel), refined by three k-means passes.
GifPalette build_gif_palette(const std::vector<Image>& frames_rgb);

struct GifEncodeOptions {
    double fps = 8.0;
    bool dither = true;
    int loop_count = 0;                 // times to play; 0 = forever
    std::vector<std::string> comments;  // one comment extension each
    std::function<bool()> is_cancelled;
    std::function<void(int, int)> on_progress;
};

/// Encodes RGB frames (3 channels, equal sizes up to 65535 px a side) as a GIF89a file in memory.
/// Frame delays are whole hundredths of a second, spread so their sum follows the fps (8 fps: 12, 13,
/// 12, 13, ...); at least 2 (50 fps), the shortest delay browsers honour.
Expected<std::vector<std::uint8_t>> encode_gif(const std::vector<Image>& frames_rgb, const GifEncodeOptions& options);

}  // namespace engine::media
