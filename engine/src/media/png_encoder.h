// A dependency-free PNG encoder (zlib "stored" blocks: uncompressed but valid), used when the build
// has no OpenImageIO (the GPU machines), so kinora-cli can still write its results.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/events.h"
#include "engine/media.h"

namespace engine::media {

/// Encodes an 8-bit grey/RGB/RGBA image with tEXt chunks.
std::vector<std::uint8_t> encode_png_stored(const Image& image, const ParameterList& text_chunks);

}  // namespace engine::media
