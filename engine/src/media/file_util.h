// Safe file writing: write to "<path>.part-XXXX" in the same folder, fsync, rename. A failure (full
// disk, permissions) leaves the destination untouched and removes the partial file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"

namespace engine::media {

/// Writes bytes atomically to path.
Expected<void> write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes);

/// Lets `write` produce a file at a temporary path, then renames it to path (removing it on failure).
Expected<void> produce_file_atomically(const std::string& path,
                                       const std::function<Expected<void>(const std::string& tmp_path)>& write);

/// "Cannot write <path>: No space left on device. Free some disk space or choose another folder."
Error io_error_for(const std::string& path, int errno_value);

}  // namespace engine::media
