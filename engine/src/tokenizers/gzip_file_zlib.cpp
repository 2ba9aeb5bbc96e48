// Built when zlib was found at configure time (file-name variant rule, engine/CMakeLists.txt).
#include <zlib.h>

#include <fstream>
#include <iterator>

#include "tokenizers/gzip_file.h"

namespace engine::tokenizers {

bool has_gzip_support() noexcept {
    return true;
}

Expected<std::string> read_gzip_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::ModelNotFound, "Missing file: " + path);
    }
    const std::string compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (compressed.size() < 18 || static_cast<unsigned char>(compressed[0]) != 0x1F ||
        static_cast<unsigned char>(compressed[1]) != 0x8B) {
        return make_error(ErrorCode::ModelLoadFailed, path + " is not a gzip file.");
    }
    z_stream stream{};
    // 16 + MAX_WBITS: gzip wrapper only
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        return make_error(ErrorCode::Internal, "zlib inflateInit2 failed for " + path);
    }
    std::string out;
    char buffer[1 << 16];
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    stream.avail_in = static_cast<uInt>(compressed.size());
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        stream.next_out = reinterpret_cast<Bytef*>(buffer);
        stream.avail_out = sizeof(buffer);
        status = inflate(&stream, Z_NO_FLUSH);
        if (status != Z_OK && status != Z_STREAM_END) {
            const std::string why = stream.msg != nullptr ? stream.msg : "corrupt data";
            inflateEnd(&stream);
            return make_error(ErrorCode::ModelLoadFailed,
                              path + " is a damaged gzip file (" + why + "). Download it again.");
        }
        out.append(buffer, sizeof(buffer) - stream.avail_out);
        if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
            inflateEnd(&stream);
            return make_error(ErrorCode::ModelLoadFailed, path + " is a truncated gzip file. Download it again.");
        }
    }
    inflateEnd(&stream);
    return out;
}

}  // namespace engine::tokenizers
