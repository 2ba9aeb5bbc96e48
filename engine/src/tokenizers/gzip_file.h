// Reading a gzip-compressed file (open_clip's bpe_simple_vocab_16e6.txt.gz). zlib is optional: a
// build without it (gzip_file_no_zlib.cpp) answers with a clear error instead.
#pragma once

#include <string>

#include "engine/error.h"

namespace engine::tokenizers {

/// True when this build can decompress gzip (zlib was found at configure time).
bool has_gzip_support() noexcept;

/// The decompressed content of a .gz file. ModelNotFound when missing, ModelLoadFailed when it is not
/// valid gzip, UnsupportedModel when the build has no zlib.
Expected<std::string> read_gzip_file(const std::string& path);

}  // namespace engine::tokenizers
