// Helpers shared by the checkpoint I/O tests (test_io_*.cpp): a temp folder, byte builders for zip archives
// and pickles (to write bad files), and the bridge to the independent Python tools in tests/tools
// (golden_manifest.py, write_torch_ckpt.py), whose output the C++ readers are compared with.
#pragma once

#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace io_test {

namespace fs = std::filesystem;

/// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "kinora_io_XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
    // Unlink first: rewriting a file in place through O_TRUNC makes ext4 flush it to disk on close
    // (auto_da_alloc), which turns the truncation sweeps into seconds of I/O waits.
    std::error_code ec;
    fs::remove(path, ec);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
}

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline void put16(std::string& s, std::uint64_t v) {
    for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
inline void put32(std::string& s, std::uint64_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
inline void put64(std::string& s, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

/// CRC-32 bit by bit (deliberately not the table-driven code under test).
inline std::uint32_t crc32_bitwise(const std::string& data) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char c : data) {
        crc ^= c;
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/// Builds zip archives of stored entries the way torch.save lays them out (64-byte aligned data), optionally
/// with ZIP64 records everywhere and with sparse gaps (to put entries beyond 4 GiB without writing 4 GiB).
class ZipBuilder {
public:
    explicit ZipBuilder(bool zip64 = false, std::uint64_t align = 64) : zip64_(zip64), align_(align) {}

    void add(const std::string& name, const std::string& data, std::uint16_t method = 0) {
        const std::uint32_t crc = crc32_bitwise(data);
        std::string extra;
        if (zip64_) {
            put16(extra, 1);
            put16(extra, 16);
            put64(extra, data.size());
            put64(extra, data.size());
        }
        if (align_ > 1) {
            const std::uint64_t data_at = pos_ + 30 + name.size() + extra.size() + 4;
            const std::uint64_t pad = (align_ - data_at % align_) % align_;
            put16(extra, 0x4B46);
            put16(extra, pad);
            extra.append(pad, 'Z');
        }
        std::string h;
        put32(h, 0x04034b50);
        put16(h, zip64_ ? 45 : 20);
        put16(h, 0);
        put16(h, method);
        put16(h, 0);
        put16(h, 0x21);
        put32(h, crc);
        put32(h, zip64_ ? 0xFFFFFFFFu : data.size());
        put32(h, zip64_ ? 0xFFFFFFFFu : data.size());
        put16(h, name.size());
        put16(h, extra.size());
        h += name;
        h += extra;
        entries_.push_back({name, crc, data.size(), pos_, method});
        chunks_.emplace_back(pos_, h + data);
        pos_ += h.size() + data.size();
    }
    /// Leaves `bytes` of unwritten (sparse) space before the next entry.
    void add_gap(std::uint64_t bytes) { pos_ += bytes; }

    /// The whole archive as one string (no gaps allowed).
    std::string bytes() {
        finish();
        std::string out;
        for (const auto& [off, data] : chunks_) {
            if (off != out.size()) throw std::runtime_error("ZipBuilder::bytes() with gaps");
            out += data;
        }
        return out;
    }
    /// Writes the archive; gaps become holes of a sparse file.
    void write(const std::string& path) {
        finish();
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) throw std::runtime_error("cannot create " + path);
        std::uint64_t end = 0;
        for (const auto& [off, data] : chunks_) {
            if (::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(data.size())) {
                ::close(fd);
                throw std::runtime_error("cannot write " + path);
            }
            end = std::max<std::uint64_t>(end, off + data.size());
        }
        if (::ftruncate(fd, static_cast<off_t>(end)) != 0) {
            ::close(fd);
            throw std::runtime_error("cannot size " + path);
        }
        ::close(fd);
    }

private:
    struct Entry {
        std::string name;
        std::uint32_t crc;
        std::uint64_t size;
        std::uint64_t offset;
        std::uint16_t method;
    };

    void finish() {
        if (finished_) return;
        finished_ = true;
        const std::uint64_t cd_offset = pos_;
        std::string cd;
        for (const auto& e : entries_) {
            std::string extra;
            if (zip64_) {
                put16(extra, 1);
                put16(extra, 24);
                put64(extra, e.size);
                put64(extra, e.size);
                put64(extra, e.offset);
            }
            put32(cd, 0x02014b50);
            put16(cd, zip64_ ? 45 : 20);
            put16(cd, zip64_ ? 45 : 20);
            put16(cd, 0);
            put16(cd, e.method);
            put16(cd, 0);
            put16(cd, 0x21);
            put32(cd, e.crc);
            put32(cd, zip64_ ? 0xFFFFFFFFu : e.size);
            put32(cd, zip64_ ? 0xFFFFFFFFu : e.size);
            put16(cd, e.name.size());
            put16(cd, extra.size());
            put16(cd, 0);
            put16(cd, 0);
            put16(cd, 0);
            put32(cd, 0);
            put32(cd, zip64_ ? 0xFFFFFFFFu : e.offset);
            cd += e.name;
            cd += extra;
        }
        std::string tail;
        if (zip64_) {
            const std::uint64_t rec = cd_offset + cd.size();
            put32(tail, 0x06064b50);
            put64(tail, 44);
            put16(tail, 45);
            put16(tail, 45);
            put32(tail, 0);
            put32(tail, 0);
            put64(tail, entries_.size());
            put64(tail, entries_.size());
            put64(tail, cd.size());
            put64(tail, cd_offset);
            put32(tail, 0x07064b50);
            put32(tail, 0);
            put64(tail, rec);
            put32(tail, 1);
        }
        put32(tail, 0x06054b50);
        put16(tail, 0);
        put16(tail, 0);
        put16(tail, zip64_ ? 0xFFFF : entries_.size());
        put16(tail, zip64_ ? 0xFFFF : entries_.size());
        put32(tail, zip64_ ? 0xFFFFFFFFu : cd.size());
        put32(tail, zip64_ ? 0xFFFFFFFFu : cd_offset);
        put16(tail, 0);
        chunks_.emplace_back(cd_offset, cd + tail);
        pos_ += cd.size() + tail.size();
    }

    bool zip64_;
    std::uint64_t align_;
    bool finished_ = false;
    std::uint64_t pos_ = 0;
    std::vector<Entry> entries_;
    std::vector<std::pair<std::uint64_t, std::string>> chunks_;
};

/// Writes pickle opcodes by hand (for inputs CPython's pickler would never produce).
class PickleBuilder {
public:
    PickleBuilder& op(std::uint8_t c) {
        b_.push_back(static_cast<char>(c));
        return *this;
    }
    PickleBuilder& proto(int v) { return op(0x80).op(static_cast<std::uint8_t>(v)); }
    PickleBuilder& mark() { return op('('); }
    PickleBuilder& str(const std::string& s) {
        op('X');
        put32(b_, s.size());
        b_ += s;
        return *this;
    }
    PickleBuilder& integer(std::int32_t v) {
        op('J');
        put32(b_, static_cast<std::uint32_t>(v));
        return *this;
    }
    PickleBuilder& global(const std::string& module, const std::string& name) {
        op('c');
        b_ += module + "\n" + name + "\n";
        return *this;
    }
    PickleBuilder& raw(const std::string& bytes) {
        b_ += bytes;
        return *this;
    }
    /// A tensor as torch writes it: _rebuild_tensor_v2(persistent storage, offset, size, stride, False, {}).
    PickleBuilder& tensor(const std::string& key, const std::string& storage_type, std::int64_t numel,
                          const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& stride,
                          std::int64_t offset = 0) {
        global("torch._utils", "_rebuild_tensor_v2").mark();
        mark()
            .str("storage")
            .global("torch", storage_type)
            .str(key)
            .str("cpu")
            .integer(static_cast<std::int32_t>(numel));
        op('t').op('Q');
        integer(static_cast<std::int32_t>(offset));
        mark();
        for (auto s : size) integer(static_cast<std::int32_t>(s));
        op('t').mark();
        for (auto s : stride) integer(static_cast<std::int32_t>(s));
        op('t').op(0x89).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
        return *this;
    }
    PickleBuilder& stop() { return op('.'); }
    const std::string& bytes() const { return b_; }

private:
    std::string b_;
};

inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out.push_back(c);
        }
    }
    return out + "'";
}

/// Path of a script in tests/tools (KINORA_SOURCE_DIR from ctest, else relative to this header).
inline std::string tool_path(const std::string& name) {
    const char* src = std::getenv("KINORA_SOURCE_DIR");
    if (src != nullptr && *src != '\0') return (fs::path(src) / "tests" / "tools" / name).string();
    return (fs::path(__FILE__).parent_path().parent_path() / "tools" / name).string();
}

/// Runs `python3 <tool> <args>` (python3 from PATH) and returns its stdout; throws on a non-zero exit.
inline std::string run_tool(const std::string& tool, const std::vector<std::string>& args) {
    std::string cmd = "python3 " + shell_quote(tool_path(tool));
    for (const auto& a : args) cmd += " " + shell_quote(a);
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
    std::string out;
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = ::pclose(p);
    if (status != 0) {
        throw std::runtime_error("'" + cmd + "' failed (status " + std::to_string(status) +
                                 "); python3 must be on PATH");
    }
    return out;
}

/// golden_manifest.py's view of `files` (one JSON object per file, in order). Without `fnv` the manifest
/// has only SHA-1 digests (check_manifest then needs the FNV and fails).
inline std::vector<nlohmann::json> python_manifest(const std::vector<std::string>& files, bool fnv = true) {
    std::vector<std::string> args{"manifest"};
    if (!fnv) args.push_back("--no-fnv");
    args.insert(args.end(), files.begin(), files.end());
    auto j = nlohmann::json::parse(run_tool("golden_manifest.py", args));
    return j.at("files").get<std::vector<nlohmann::json>>();
}

/// FNV-1a 64 of a tensor's element bytes in row-major order.
inline std::uint64_t fnv1a64(const at::Tensor& t) {
    const at::Tensor c = t.contiguous();
    const auto* p = static_cast<const std::uint8_t*>(c.data_ptr());
    const std::size_t n = static_cast<std::size_t>(c.numel()) * c.element_size();
    std::uint64_t h = 0xCBF29CE484222325ull;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

inline std::string hex64(std::uint64_t v) {
    char buf[20];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

/// A JSON sample value from golden_manifest.py ("nan"/"inf"/"-inf" strings for non-finite) vs ours.
inline bool same_value(const nlohmann::json& expected, const at::Tensor& flat, std::int64_t index) {
    const at::Tensor v = flat[index];
    if (expected.is_number_integer()) {
        if (flat.scalar_type() == at::kBool) return v.item<bool>() == (expected.get<std::int64_t>() != 0);
        return v.item<std::int64_t>() == expected.get<std::int64_t>();
    }
    const double ours = v.item<double>();
    if (expected.is_string()) {
        const std::string s = expected.get<std::string>();
        if (s == "nan") return std::isnan(ours);
        if (s == "inf") return std::isinf(ours) && ours > 0;
        if (s == "-inf") return std::isinf(ours) && ours < 0;
        return false;
    }
    return ours == expected.get<double>();
}

/// Checks that `tensors` has exactly the manifest's tensors with the same dtype, shape, bytes and values.
/// F8 tensors (which our readers decode to bfloat16) are checked by value only. Returns the number checked.
inline std::size_t check_manifest(const nlohmann::json& manifest, const engine::io::TensorMap& tensors) {
    const std::string file = manifest.at("path").get<std::string>();
    INFO("file " << file);
    const auto& expected = manifest.at("tensors");
    CHECK(tensors.size() == expected.size());
    std::size_t checked = 0;
    for (const auto& e : expected) {
        const std::string name = e.at("name").get<std::string>();
        const std::string dtype = e.at("dtype").get<std::string>();
        INFO("tensor " << name << " (" << dtype << ")");
        auto it = tensors.find(name);
        REQUIRE(it != tensors.end());
        const at::Tensor& t = it->second;
        const bool fp8 = dtype.rfind("F8_", 0) == 0;
        CHECK(engine::io::safetensors_dtype_name(t.scalar_type()) == (fp8 ? std::string("BF16") : dtype));
        CHECK(t.sizes().vec() == e.at("shape").get<std::vector<std::int64_t>>());
        if (!fp8) CHECK(hex64(fnv1a64(t)) == e.at("fnv1a64").get<std::string>());
        const at::Tensor flat = t.reshape({-1});
        for (const auto& s : e.at("samples")) {
            const auto index = s.at(0).get<std::int64_t>();
            INFO("element " << index << ": expected " << s.at(1).dump() << ", got " << flat[index].item<double>());
            CHECK(same_value(s.at(1), flat, index));
        }
        ++checked;
    }
    return checked;
}

}  // namespace io_test
