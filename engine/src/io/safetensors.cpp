#include "io/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "core/json.h"
#include "io/float8.h"

namespace engine::io {
namespace {

Unexpected corrupt(const std::string& path, const std::string& what) {
    return make_error(ErrorCode::ModelLoadFailed, path + " is not a valid safetensors file: " + what +
                                                      ". The file may be truncated or corrupt; download it again.");
}

bool native_dtype(const std::string& d, at::ScalarType& out) {
    auto st = safetensors_scalar_type(d);
    if (!st) return false;
    out = *st;
    return true;
}

}  // namespace

std::size_t safetensors_dtype_size(const std::string& d) noexcept {
    if (d == "F64" || d == "I64" || d == "U64") return 8;
    if (d == "F32" || d == "I32" || d == "U32") return 4;
    if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
    if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
    return 0;
}

std::optional<at::ScalarType> safetensors_scalar_type(const std::string& d) noexcept {
    if (d == "F64") return at::kDouble;
    if (d == "F32") return at::kFloat;
    if (d == "F16") return at::kHalf;
    if (d == "BF16") return at::kBFloat16;
    if (d == "I64") return at::kLong;
    if (d == "I32") return at::kInt;
    if (d == "I16") return at::kShort;
    if (d == "I8") return at::kChar;
    if (d == "U8") return at::kByte;
    if (d == "BOOL") return at::kBool;
    return std::nullopt;
}

std::string safetensors_dtype_name(at::ScalarType type) {
    switch (type) {
        case at::kDouble:
            return "F64";
        case at::kFloat:
            return "F32";
        case at::kHalf:
            return "F16";
        case at::kBFloat16:
            return "BF16";
        case at::kLong:
            return "I64";
        case at::kInt:
            return "I32";
        case at::kShort:
            return "I16";
        case at::kChar:
            return "I8";
        case at::kByte:
            return "U8";
        case at::kBool:
            return "BOOL";
        default:
            return {};
    }
}

Expected<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return Unexpected{mapped.error()};
    std::shared_ptr<SafetensorsFile> f(new SafetensorsFile(std::move(mapped).value()));
    const std::size_t size = f->file_->size();
    if (size < 8) {
        return corrupt(path, "it is " + std::to_string(size) + " bytes long, shorter than the 8-byte header length");
    }
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | f->file_->data()[i];
    if (header_len > size - 8) {
        return corrupt(path, "the header length (" + std::to_string(header_len) + " bytes) runs past the end of the " +
                                 std::to_string(size) + "-byte file");
    }
    if (header_len > 100u * 1024u * 1024u) {
        return corrupt(path, "the header is implausibly large (" + std::to_string(header_len) + " bytes)");
    }
    const std::string header(reinterpret_cast<const char*>(f->file_->data() + 8), header_len);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) {
        return corrupt(path, std::string("the header is not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) return corrupt(path, "the header is not a JSON object");
    f->data_start_ = 8 + header_len;
    const std::uint64_t data_size = size - f->data_start_;

    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const nlohmann::json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) return corrupt(path, "__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                f->metadata_[m.key()] = m.value().is_string() ? m.value().get<std::string>() : m.value().dump();
            }
            continue;
        }
        auto bad = [&](const std::string& what) { return corrupt(path, "tensor '" + name + "': " + what); };
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
            return bad("needs dtype, shape and data_offsets");
        }
        SafetensorsEntry e;
        e.name = name;
        if (!v["dtype"].is_string()) return bad("dtype is not a string");
        e.dtype = v["dtype"].get<std::string>();
        const std::size_t elem = safetensors_dtype_size(e.dtype);
        at::ScalarType st{};
        const bool decodable = native_dtype(e.dtype, st) || e.dtype == "F8_E4M3" || e.dtype == "F8_E5M2";
        if (elem == 0 || !decodable) {
            return make_error(ErrorCode::UnsupportedModel,
                              path + ": tensor '" + name + "' has dtype '" + e.dtype +
                                  "', which Kinora cannot read (supported: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 "
                                  "I32 I16 I8 U8 BOOL)");
        }
        if (!v["shape"].is_array()) return bad("shape is not a list");
        std::uint64_t numel = 1;
        for (const auto& d : v["shape"]) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
                return bad("shape has a negative or non-integer size");
            }
            const auto dim = d.get<std::uint64_t>();
            if (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim) return bad("shape overflows");
            numel *= dim;
            e.shape.push_back(static_cast<std::int64_t>(dim));
        }
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
            if (off.is_array() && off.size() == 2 && off[0].is_number_integer() && off[1].is_number_integer() &&
                (off[0].get<std::int64_t>() < 0 || off[1].get<std::int64_t>() < 0)) {
                return bad("data_offsets are negative");
            }
            return bad("data_offsets must be two non-negative integers");
        }
        e.begin = off[0].get<std::uint64_t>();
        e.end = off[1].get<std::uint64_t>();
        if (e.end < e.begin) return bad("data_offsets end before they begin");
        if (e.end > data_size) {
            return bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                       ") run past the data section (" + std::to_string(data_size) + " bytes)");
        }
        if (e.end - e.begin != numel * elem) {
            return bad("holds " + std::to_string(e.end - e.begin) + " bytes but shape × " + e.dtype + " needs " +
                       std::to_string(numel * elem));
        }
        f->entries_.push_back(std::move(e));
    }
    std::sort(f->entries_.begin(), f->entries_.end(),
              [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.begin < b.begin; });
    for (std::size_t i = 0; i < f->entries_.size(); ++i) {
        if (i > 0 && f->entries_[i].begin < f->entries_[i - 1].end) {
            return corrupt(path, "tensors '" + f->entries_[i - 1].name + "' and '" + f->entries_[i].name + "' overlap");
        }
        f->index_[f->entries_[i].name] = i;
    }
    return f;
}

at::Tensor SafetensorsFile::make_tensor(const SafetensorsEntry& e) const {
    std::uint8_t* ptr = file_->mutable_data() + data_start_ + e.begin;
    const std::size_t bytes = e.end - e.begin;
    if (e.dtype == "F8_E4M3" || e.dtype == "F8_E5M2") {
        return decode_float8(ptr, bytes, e.shape, e.dtype == "F8_E4M3" ? Float8Kind::E4M3 : Float8Kind::E5M2);
    }
    at::ScalarType st{};
    native_dtype(e.dtype, st);
    const std::size_t elem = safetensors_dtype_size(e.dtype);
    const auto options = at::TensorOptions().dtype(st).device(at::kCPU);
    if (bytes == 0) {
        return at::empty(e.shape, options);
    }
    if (reinterpret_cast<std::uintptr_t>(ptr) % elem != 0) {
        // Misaligned for its dtype: copy into an aligned buffer.
        at::Tensor t = at::empty(e.shape, options);
        std::memcpy(t.data_ptr(), ptr, bytes);
        return t;
    }
    std::shared_ptr<MappedFile> keep = file_;
    return at::from_blob(
        ptr, e.shape, [keep](void*) mutable { keep.reset(); }, options);
}

Expected<at::Tensor> SafetensorsFile::tensor(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) {
        return make_error(ErrorCode::ModelLoadFailed, path() + " has no tensor named '" + name + "'");
    }
    return make_tensor(entries_[it->second]);
}

Expected<TensorMap> SafetensorsFile::tensors() const {
    TensorMap out;
    for (const auto& e : entries_) out.emplace(e.name, make_tensor(e));
    return out;
}

Expected<TensorMap> load_safetensors(const std::string& path) {
    auto f = SafetensorsFile::open(path);
    if (!f) return Unexpected{f.error()};
    return f.value()->tensors();
}

Expected<TensorMap> load_sharded_safetensors(const std::string& index_json_path) {
    auto j = core::read_json_file(index_json_path);
    if (!j) return Unexpected{j.error()};
    if (!j->is_object() || !j->contains("weight_map") || !(*j)["weight_map"].is_object()) {
        return make_error(ErrorCode::ModelLoadFailed, index_json_path + " has no \"weight_map\" object");
    }
    const std::filesystem::path dir = std::filesystem::path(index_json_path).parent_path();
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    TensorMap out;
    for (auto it = (*j)["weight_map"].begin(); it != (*j)["weight_map"].end(); ++it) {
        if (!it.value().is_string()) {
            return make_error(ErrorCode::ModelLoadFailed,
                              index_json_path + ": weight_map['" + it.key() + "'] is not a file name");
        }
        const std::string shard = it.value().get<std::string>();
        if (shard.find('/') != std::string::npos || shard == "..") {
            return make_error(ErrorCode::ModelLoadFailed,
                              index_json_path + ": shard name '" + shard + "' is not a plain file name");
        }
        auto s = shards.find(shard);
        if (s == shards.end()) {
            auto opened = SafetensorsFile::open((dir / shard).string());
            if (!opened) {
                if (opened.error().code == ErrorCode::ModelNotFound) {
                    return make_error(ErrorCode::ModelNotFound, "Shard " + (dir / shard).string() + " named by " +
                                                                    index_json_path +
                                                                    " is missing; download it again.");
                }
                return Unexpected{opened.error()};
            }
            s = shards.emplace(shard, std::move(opened).value()).first;
        }
        auto t = s->second->tensor(it.key());
        if (!t) {
            return make_error(ErrorCode::ModelLoadFailed,
                              index_json_path + " maps '" + it.key() + "' to " + shard + ", which does not contain it");
        }
        out.emplace(it.key(), std::move(t).value());
    }
    return out;
}

Expected<TensorMap> load_safetensors_folder(const std::string& dir, const std::vector<std::string>& stems) {
    namespace fs = std::filesystem;
    // Plain files first; then diffusers' weight variants, as `variant="bf16"` downloads name them:
    // <stem>.<variant>.safetensors, or sharded <stem>.safetensors.index.<variant>.json.
    static const char* const kVariants[] = {"bf16", "fp16", "fp32"};
    for (const auto& stem : stems) {
        const fs::path single = fs::path(dir) / (stem + ".safetensors");
        if (fs::exists(single)) return load_safetensors(single.string());
        const fs::path index = fs::path(dir) / (stem + ".safetensors.index.json");
        if (fs::exists(index)) return load_sharded_safetensors(index.string());
    }
    for (const auto& stem : stems) {
        for (const char* variant : kVariants) {
            const fs::path single = fs::path(dir) / (stem + "." + variant + ".safetensors");
            if (fs::exists(single)) return load_safetensors(single.string());
            const fs::path index = fs::path(dir) / (stem + ".safetensors.index." + variant + ".json");
            if (fs::exists(index)) return load_sharded_safetensors(index.string());
        }
    }
    std::string tried;
    for (const auto& stem : stems) tried += (tried.empty() ? "" : ", ") + stem + ".safetensors";
    return make_error(ErrorCode::ModelNotFound,
                      "No weights in " + dir + " (looked for " + tried +
                          ", their sharded .index.json and their bf16/fp16/fp32 variants). The download may be "
                          "incomplete: open the Model Manager to finish it.");
}

namespace {

// Writes all of [data, data + size) to fd (write() may write less than asked).
bool write_all(int fd, const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

Expected<void> save_safetensors(const std::string& path, const TensorMap& tensors,
                                const std::map<std::string, std::string>& metadata) {
    struct Item {
        const std::string* name;
        at::Tensor data;  // CPU, contiguous
        std::string dtype;
        std::size_t elem;
    };
    std::vector<Item> items;
    items.reserve(tensors.size());
    for (const auto& [name, t] : tensors) {
        if (name == "__metadata__") {
            return make_error(ErrorCode::InvalidRequest, path + ": '__metadata__' cannot be a tensor name");
        }
        if (!t.defined() || t.is_sparse()) {
            return make_error(ErrorCode::InvalidRequest,
                              path + ": tensor '" + name + "' is undefined or sparse; safetensors holds dense tensors");
        }
        const std::string dtype = safetensors_dtype_name(t.scalar_type());
        if (dtype.empty()) {
            return make_error(ErrorCode::InvalidRequest, path + ": tensor '" + name + "' has dtype " +
                                                             std::string(c10::toString(t.scalar_type())) +
                                                             ", which Kinora cannot write to safetensors");
        }
        items.push_back({&name, t.to(at::kCPU).contiguous(), dtype, safetensors_dtype_size(dtype)});
    }
    // Largest elements first: every data offset is then a multiple of its dtype's size.
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.elem > b.elem; });

    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& item : items) {
        const auto nbytes = static_cast<std::uint64_t>(item.data.numel()) * item.elem;
        header[*item.name] = {
            {"dtype", item.dtype}, {"shape", item.data.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
        offset += nbytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
    std::uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * i));

    static std::atomic<unsigned> counter{0};
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    auto io_error = [&](const std::string& what, int err) {
        return make_error(ErrorCode::IoError,
                          "Cannot write " + path + ": " + what + " failed (" + std::strerror(err) + ")");
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("creating " + tmp, errno);
    bool ok = write_all(fd, len, sizeof(len)) && write_all(fd, text.data(), text.size());
    for (std::size_t i = 0; ok && i < items.size(); ++i) {
        ok = write_all(fd, items[i].data.data_ptr(), static_cast<std::size_t>(items[i].data.numel()) * items[i].elem);
    }
    int err = ok ? 0 : errno;
    if (ok && ::fsync(fd) != 0) {
        ok = false;
        err = errno;
    }
    if (::close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        ::unlink(tmp.c_str());
        return io_error("writing", err);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        ::unlink(tmp.c_str());
        return io_error("renaming " + tmp + " to it", err);
    }
    return {};
}

}  // namespace engine::io
