// Reading and writing the user's media files: images in (any common format), PNG out with the
// generation parameters embedded, video out (MP4/WebM/GIF/PNG frames).
//
//     auto img = engine::read_image("photo.jpg");            // RGB/RGBA 8-bit, EXIF orientation applied
//     engine::write_png("out.png", result.image, result.parameters);
//
// Thread safety: free functions without shared state; call from any thread.
#pragma once

#include <string>

#include "engine/error.h"
#include "engine/events.h"
#include "engine/media.h"

namespace engine {

/// Writes an 8-bit PNG. The parameters go in as an A1111-style "parameters" text chunk (prompt,
/// "Negative prompt: ...", "Steps: N, Sampler: ..., Seed: ...") and as a "kinora" JSON text chunk.
/// Writes to a temporary file first and renames, so a failure (full disk) leaves no partial file.
Expected<void> write_png(const std::string& path, const Image& image, const ParameterList& parameters);

/// Reads the text chunks of a PNG (key → value), e.g. to restore parameters from a result.
Expected<ParameterList> read_png_text(const std::string& path);

/// Reads an image file (PNG, JPEG, WebP, TIFF, EXR, ...) as 8-bit RGB (or RGBA when it has alpha),
/// with EXIF orientation applied. Fails with a clear message for non-images and corrupt files.
Expected<Image> read_image(const std::string& path);

/// A1111-style "parameters" text of a result ("<prompt>\nNegative prompt: ...\nSteps: 20, ...").
std::string format_a1111_parameters(const ParameterList& parameters);
/// The same parameters as one JSON object.
std::string format_parameters_json(const ParameterList& parameters);

/// True when this build can read and write images with OpenImageIO (else only PNG writing works).
bool has_image_io() noexcept;

}  // namespace engine
