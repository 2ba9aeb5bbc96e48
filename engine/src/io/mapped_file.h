// A read-only view of a whole file through mmap (MAP_PRIVATE, so stray writes copy pages instead of
// touching the file). Shared by the safetensors and .ckpt readers; tensors viewing it keep it alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/error.h"

namespace engine::io {

class MappedFile {
public:
    static Expected<std::shared_ptr<MappedFile>> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::uint8_t* data() const noexcept { return data_; }
    std::uint8_t* mutable_data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    const std::string& path() const noexcept { return path_; }

private:
    MappedFile(std::string path, std::uint8_t* data, std::size_t size) : path_(std::move(path)), data_(data), size_(size) {}
    std::string path_;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace engine::io
