#include "io/zip_archive.h"

#include <array>

namespace engine::io {
namespace {

constexpr std::uint32_t kLocalHeaderSig = 0x04034b50;
constexpr std::uint32_t kCentralHeaderSig = 0x02014b50;
constexpr std::uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr std::uint32_t kZip64EndOfCentralDirSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::size_t kEndOfCentralDirSize = 22;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kZip64EndOfCentralDirSize = 56;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kLocalHeaderSize = 30;
constexpr std::uint16_t kZip64ExtraId = 0x0001;

std::uint16_t rd16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t rd32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t rd64(const std::uint8_t* p) {
    return static_cast<std::uint64_t>(rd32(p)) | (static_cast<std::uint64_t>(rd32(p + 4)) << 32);
}

Unexpected corrupt(const std::string& path, const std::string& what) {
    return make_error(ErrorCode::ModelLoadFailed, path + " is not a valid zip archive: " + what +
                                                      ". The file may be truncated or corrupt; download it again.");
}

std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}

const char* method_name(std::uint16_t method) {
    switch (method) {
        case 8:
            return "deflate";
        case 9:
            return "deflate64";
        case 12:
            return "bzip2";
        case 14:
            return "lzma";
        case 93:
            return "zstd";
        case 95:
            return "xz";
        default:
            return "an unknown method";
    }
}

}  // namespace

std::uint32_t ZipArchive::crc32(const std::uint8_t* data, std::size_t size) noexcept {
    static const std::array<std::uint32_t, 256> table = make_crc_table();
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

Expected<std::shared_ptr<ZipArchive>> ZipArchive::open(const std::string& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return Unexpected{mapped.error()};
    return open(std::move(mapped).value());
}

Expected<std::shared_ptr<ZipArchive>> ZipArchive::open(std::shared_ptr<MappedFile> file) {
    std::shared_ptr<ZipArchive> zip(new ZipArchive(std::move(file)));
    auto ok = zip->read_directory();
    if (!ok) return Unexpected{ok.error()};
    return zip;
}

Expected<void> ZipArchive::read_directory() {
    const std::string& path = file_->path();
    const std::uint8_t* base = file_->data();
    const std::uint64_t size = file_->size();
    if (size < kEndOfCentralDirSize) {
        return corrupt(path, "it is " + std::to_string(size) + " bytes long, too short for a zip archive");
    }

    // The end-of-central-directory record sits at the end, followed only by its comment (<= 65535 bytes).
    std::uint64_t eocd = size;  // not found
    const std::uint64_t lowest = size - kEndOfCentralDirSize > 0xFFFF ? size - kEndOfCentralDirSize - 0xFFFF : 0;
    for (std::uint64_t pos = size - kEndOfCentralDirSize + 1; pos-- > lowest;) {
        if (rd32(base + pos) == kEndOfCentralDirSig && pos + kEndOfCentralDirSize + rd16(base + pos + 20) <= size) {
            eocd = pos;
            break;
        }
    }
    if (eocd == size) {
        return corrupt(path, "no end-of-central-directory record was found (not a zip archive, or cut short)");
    }
    const std::uint8_t* e = base + eocd;
    std::uint64_t disk = rd16(e + 4);
    std::uint64_t cd_disk = rd16(e + 6);
    std::uint64_t num_entries = rd16(e + 10);
    std::uint64_t cd_size = rd32(e + 12);
    std::uint64_t cd_offset = rd32(e + 16);
    std::uint64_t cd_limit = eocd;  // the central directory ends before this offset

    // ZIP64: a locator right before the EOCD points at the ZIP64 end-of-central-directory record.
    if (eocd >= kZip64LocatorSize && rd32(base + eocd - kZip64LocatorSize) == kZip64LocatorSig) {
        const std::uint8_t* loc = base + eocd - kZip64LocatorSize;
        const std::uint64_t rec = rd64(loc + 8);
        if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1) {
            return make_error(ErrorCode::UnsupportedModel,
                              path + " is a multi-part (split) zip archive, which Kinora cannot read");
        }
        if (rec > eocd - kZip64LocatorSize || eocd - kZip64LocatorSize - rec < kZip64EndOfCentralDirSize) {
            return corrupt(path, "the ZIP64 end-of-central-directory record lies outside the file");
        }
        const std::uint8_t* z = base + rec;
        if (rd32(z) != kZip64EndOfCentralDirSig) {
            return corrupt(path, "the ZIP64 end-of-central-directory record has a bad signature");
        }
        disk = rd32(z + 16);
        cd_disk = rd32(z + 20);
        num_entries = rd64(z + 32);
        cd_size = rd64(z + 40);
        cd_offset = rd64(z + 48);
        cd_limit = rec;
    } else if (num_entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
        return corrupt(path, "the end-of-central-directory record needs ZIP64 data, but there is no ZIP64 locator");
    }
    if (disk != 0 || cd_disk != 0) {
        return make_error(ErrorCode::UnsupportedModel,
                          path + " is a multi-part (split) zip archive, which Kinora cannot read");
    }
    if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) {
        return corrupt(path, "the central directory (offset " + std::to_string(cd_offset) + ", " +
                                 std::to_string(cd_size) + " bytes) runs past its end record");
    }
    if (num_entries > cd_size / kCentralHeaderSize) {
        return corrupt(path, "the central directory claims " + std::to_string(num_entries) +
                                 " entries, more than its " + std::to_string(cd_size) + " bytes can hold");
    }

    entries_.reserve(num_entries);
    std::uint64_t pos = cd_offset;
    const std::uint64_t cd_end = cd_offset + cd_size;
    for (std::uint64_t i = 0; i < num_entries; ++i) {
        const std::string where = "central directory entry " + std::to_string(i);
        if (cd_end - pos < kCentralHeaderSize || rd32(base + pos) != kCentralHeaderSig) {
            return corrupt(path, where + " is missing or has a bad signature");
        }
        const std::uint8_t* h = base + pos;
        ZipEntry entry;
        entry.flags = rd16(h + 8);
        entry.method = rd16(h + 10);
        entry.crc32 = rd32(h + 16);
        entry.compressed_size = rd32(h + 20);
        entry.uncompressed_size = rd32(h + 24);
        const std::uint64_t name_len = rd16(h + 28);
        const std::uint64_t extra_len = rd16(h + 30);
        const std::uint64_t comment_len = rd16(h + 32);
        std::uint64_t disk_start = rd16(h + 34);
        entry.local_header_offset = rd32(h + 42);
        const std::uint64_t record_len = kCentralHeaderSize + name_len + extra_len + comment_len;
        if (cd_end - pos < record_len) return corrupt(path, where + " runs past the central directory");
        entry.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);

        // ZIP64 extended information: 64-bit values for the fields saturated at 0xFFFF(FFFF), in this order.
        const std::uint8_t* x = h + kCentralHeaderSize + name_len;
        const std::uint8_t* x_end = x + extra_len;
        while (x_end - x >= 4) {
            const std::uint16_t id = rd16(x);
            const std::uint16_t len = rd16(x + 2);
            if (static_cast<std::uint64_t>(x_end - x - 4) < len) {
                return corrupt(path, "entry '" + entry.name + "' has a malformed extra field");
            }
            if (id == kZip64ExtraId) {
                const std::uint8_t* f = x + 4;
                const std::uint8_t* f_end = f + len;
                auto take64 = [&](std::uint64_t& v) {
                    if (f_end - f < 8) return false;
                    v = rd64(f);
                    f += 8;
                    return true;
                };
                if ((entry.uncompressed_size == 0xFFFFFFFFu && !take64(entry.uncompressed_size)) ||
                    (entry.compressed_size == 0xFFFFFFFFu && !take64(entry.compressed_size)) ||
                    (entry.local_header_offset == 0xFFFFFFFFu && !take64(entry.local_header_offset))) {
                    return corrupt(path, "entry '" + entry.name + "' has a ZIP64 extra field that is too short");
                }
                if (disk_start == 0xFFFF && f_end - f >= 4) disk_start = rd32(f);
            }
            x += 4 + len;
        }
        if (disk_start != 0) {
            return make_error(ErrorCode::UnsupportedModel,
                              path + " is a multi-part (split) zip archive, which Kinora cannot read");
        }

        // The data starts after the local header, whose name and extra lengths may differ from the central
        // directory's (torch pads the local extra field to align the data to 64 bytes).
        const std::uint64_t lh = entry.local_header_offset;
        if (lh > size || size - lh < kLocalHeaderSize || rd32(base + lh) != kLocalHeaderSig) {
            return corrupt(path, "the local header of entry '" + entry.name + "' (at byte " + std::to_string(lh) +
                                     ") is missing or outside the file");
        }
        entry.data_offset = lh + kLocalHeaderSize + rd16(base + lh + 26) + rd16(base + lh + 28);
        if (entry.data_offset > size || size - entry.data_offset < entry.compressed_size) {
            return corrupt(path, "the data of entry '" + entry.name + "' (" + std::to_string(entry.compressed_size) +
                                     " bytes at byte " + std::to_string(entry.data_offset) +
                                     ") runs past the end of the " + std::to_string(size) + "-byte file");
        }
        index_.emplace(entry.name, entries_.size());  // the first of duplicate names wins
        entries_.push_back(std::move(entry));
        pos += record_len;
    }
    return {};
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

Expected<ByteView> ZipArchive::stored_data(const ZipEntry& entry) const {
    if ((entry.flags & 1u) != 0) {
        return make_error(ErrorCode::UnsupportedModel,
                          path() + ": entry '" + entry.name + "' is encrypted, which Kinora cannot read");
    }
    if (entry.method != 0) {
        return make_error(ErrorCode::UnsupportedModel,
                          path() + ": entry '" + entry.name + "' is compressed (" + method_name(entry.method) +
                              ", method " + std::to_string(entry.method) +
                              "). Kinora reads the uncompressed archives that torch.save writes; a checkpoint "
                              "re-zipped by another tool must be re-saved with torch.save or converted to "
                              "safetensors.");
    }
    if (entry.compressed_size != entry.uncompressed_size) {
        return corrupt(path(), "stored entry '" + entry.name + "' has different compressed (" +
                                   std::to_string(entry.compressed_size) + ") and uncompressed (" +
                                   std::to_string(entry.uncompressed_size) + ") sizes");
    }
    return ByteView{file_->data() + entry.data_offset, static_cast<std::size_t>(entry.compressed_size)};
}

Expected<ByteView> ZipArchive::stored_data_checked(const ZipEntry& entry) const {
    auto view = stored_data(entry);
    if (!view) return view;
    // torch.save with torch.serialization.set_crc32_options(False) records 0: nothing to check against.
    if (entry.crc32 == 0) return view;
    const std::uint32_t crc = crc32(view->data, view->size);
    if (crc != entry.crc32) {
        return corrupt(path(), "entry '" + entry.name + "' fails its CRC-32 check");
    }
    return view;
}

}  // namespace engine::io
