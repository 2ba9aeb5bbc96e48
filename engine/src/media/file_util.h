// Safe file writing: write to "<path>.part-XXXX" in the same folder, fsync, rename. A failure (full
// disk, permissions, cancellation) leaves the destination untouched and removes the partial file.
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

/// Lets `write` fill a fresh temporary folder, then renames it to path. path must not exist or be an
/// empty folder (a non-empty one is refused before `write` runs). On failure the temporary folder and
/// everything in it are removed.
Expected<void> produce_folder_atomically(const std::string& path,
                                         const std::function<Expected<void>(const std::string& tmp_dir)>& write);

/// fsync()s a finished file so that a late write error (full disk on NFS, quota) surfaces now;
/// errors name display_path.
Expected<void> sync_file(const std::string& display_path, const std::string& path);

/// "Cannot write <path>: No space left on device. Free some disk space or choose another folder."
Error io_error_for(const std::string& path, int errno_value);

}  // namespace engine::media
