// Ref: PKWARE APPNOTE.TXT 6.3.x (ZIP format: §4.3.6 layout, §4.3.12 central directory,
// §4.3.14-16 ZIP64 end of central directory record/locator, §4.5.3 ZIP64 extended information)
// A read-only ZIP reader over a memory-mapped file, enough for PyTorch checkpoints (torch.save since 1.6
// writes a zip of stored, uncompressed records, 64-byte aligned, ZIP64 when large). Stored entries are
// served zero-copy from the mapping; compressed or encrypted entries give a clear error.
//
//     auto zip = ZipArchive::open("model.ckpt");
//     if (!zip) return Unexpected{zip.error()};
//     const ZipEntry* e = (*zip)->find("archive/data.pkl");
//     auto bytes = (*zip)->stored_data(*e);  // ByteView into the mapping
//
// Thread safety: immutable after open(); safe to read from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/mapped_file.h"

namespace engine::io {

struct ZipEntry {
    std::string name;
    std::uint16_t method = 0;  // 0 = stored, 8 = deflate, ...
    std::uint16_t flags = 0;   // bit 0 = encrypted
    std::uint32_t crc32 = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t uncompressed_size = 0;
    std::uint64_t local_header_offset = 0;
    std::uint64_t data_offset = 0;  // first byte of the entry's data, from its local header
};

/// A span of bytes inside the mapping (valid while the archive or its MappedFile lives).
struct ByteView {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
};

class ZipArchive {
public:
    /// Maps `path` and reads the central directory (ZIP64 aware). Every entry's local header and data
    /// range are checked against the file size, so later reads cannot run out of bounds.
    static Expected<std::shared_ptr<ZipArchive>> open(const std::string& path);
    /// The same over an already mapped file.
    static Expected<std::shared_ptr<ZipArchive>> open(std::shared_ptr<MappedFile> file);

    const std::string& path() const noexcept { return file_->path(); }
    const std::shared_ptr<MappedFile>& file() const noexcept { return file_; }
    /// Entries in central-directory order.
    const std::vector<ZipEntry>& entries() const noexcept { return entries_; }
    /// The entry with exactly this name, or nullptr.
    const ZipEntry* find(const std::string& name) const;

    /// The bytes of a stored entry, zero-copy. A compressed or encrypted entry is an error that names it.
    Expected<ByteView> stored_data(const ZipEntry& entry) const;
    /// stored_data() plus a CRC-32 check (reads every byte: meant for small records such as data.pkl). A recorded
    /// CRC of 0 is taken as "not computed" (torch.save can skip CRCs) and not checked.
    Expected<ByteView> stored_data_checked(const ZipEntry& entry) const;

    /// CRC-32 (ISO-HDLC, as zip uses it) of a byte range.
    static std::uint32_t crc32(const std::uint8_t* data, std::size_t size) noexcept;

private:
    explicit ZipArchive(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {}
    Expected<void> read_directory();

    std::shared_ptr<MappedFile> file_;
    std::vector<ZipEntry> entries_;
    std::map<std::string, std::size_t> index_;
};

}  // namespace engine::io
