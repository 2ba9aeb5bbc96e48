// Built when zlib was not found at configure time (file-name variant rule, engine/CMakeLists.txt).
#include "tokenizers/gzip_file.h"

#include <filesystem>

namespace engine::tokenizers {

bool has_gzip_support() noexcept {
    return false;
}

Expected<std::string> read_gzip_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return make_error(ErrorCode::ModelNotFound, "Missing file: " + path);
    }
    return make_error(ErrorCode::UnsupportedModel,
                      "Cannot read " + path +
                          ": this build of Kinora has no zlib, so gzip files cannot be decompressed. Use the "
                          "Hugging Face form of the vocabulary (vocab.json + merges.txt) instead, or rebuild with "
                          "zlib (Debian: apt install zlib1g-dev).");
}

}  // namespace engine::tokenizers
