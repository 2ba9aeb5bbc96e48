#include "io/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "io/torch_ckpt.h"

namespace engine::io {
namespace {

constexpr std::uintmax_t kMaxIndexJsonBytes = 64u * 1024u * 1024u;

std::string read_head(const std::string& path, std::size_t n) {
    std::ifstream f(path, std::ios::binary);
    std::string head(n, '\0');
    f.read(head.data(), static_cast<std::streamsize>(n));
    head.resize(f ? n : static_cast<std::size_t>(f.gcount()));
    return head;
}

std::string hex_bytes(const std::string& s, std::size_t n) {
    std::string out;
    char buf[4];
    for (std::size_t i = 0; i < s.size() && i < n; ++i) {
        std::snprintf(buf, sizeof(buf), "%02x", static_cast<unsigned char>(s[i]));
        out += (i ? " " : "") + std::string(buf);
    }
    return out;
}

const char* kSupported =
    "Kinora reads .safetensors files, sharded .safetensors.index.json sets and PyTorch zip checkpoints "
    "(.ckpt, .pt, .pth, .bin written by torch.save since PyTorch 1.6)";

}  // namespace

const char* to_string(CheckpointFormat format) noexcept {
    switch (format) {
        case CheckpointFormat::Unknown:
            return "unknown";
        case CheckpointFormat::Safetensors:
            return "safetensors";
        case CheckpointFormat::SafetensorsIndex:
            return "safetensors_index";
        case CheckpointFormat::TorchZip:
            return "torch_zip";
        case CheckpointFormat::TorchLegacy:
            return "torch_legacy";
        case CheckpointFormat::Gguf:
            return "gguf";
    }
    return "unknown";
}

CheckpointFormat detect_checkpoint_format(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return CheckpointFormat::Unknown;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) return CheckpointFormat::Unknown;
    const std::string h = read_head(path, 16);
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(h[i]); };
    if (h.size() >= 4 && h[0] == 'P' && h[1] == 'K' && ((b(2) == 3 && b(3) == 4) || (b(2) == 5 && b(3) == 6))) {
        return CheckpointFormat::TorchZip;
    }
    if (h.size() >= 4 && h.compare(0, 4, "GGUF") == 0) return CheckpointFormat::Gguf;
    if (h.size() >= 2 && b(0) == 0x80 && b(1) >= 2 && b(1) <= 5) return CheckpointFormat::TorchLegacy;
    if (h.size() >= 9 && size >= 10) {
        std::uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | b(static_cast<std::size_t>(i));
        if (len >= 2 && len <= size - 8 && h[8] == '{') return CheckpointFormat::Safetensors;
    }
    const auto first = h.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && h[first] == '{' && size <= kMaxIndexJsonBytes) {
        auto j = core::read_json_file(path);
        if (j && j->is_object() && j->contains("weight_map") && (*j)["weight_map"].is_object()) {
            return CheckpointFormat::SafetensorsIndex;
        }
    }
    return CheckpointFormat::Unknown;
}

Expected<Checkpoint> read_checkpoint(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) return make_error(ErrorCode::ModelNotFound, "No such file: " + path);
    if (fs::is_directory(path, ec)) {
        return make_error(
            ErrorCode::ModelLoadFailed,
            path + " is a folder; pass the weights file inside it (e.g. model.safetensors or model.ckpt)");
    }
    Checkpoint out;
    out.format = detect_checkpoint_format(path);
    switch (out.format) {
        case CheckpointFormat::Safetensors: {
            auto f = SafetensorsFile::open(path);
            if (!f) return Unexpected{f.error()};
            auto t = (*f)->tensors();
            if (!t) return Unexpected{t.error()};
            out.tensors = std::move(t).value();
            out.metadata = (*f)->metadata();
            return out;
        }
        case CheckpointFormat::SafetensorsIndex: {
            auto t = load_sharded_safetensors(path);
            if (!t) return Unexpected{t.error()};
            out.tensors = std::move(t).value();
            return out;
        }
        case CheckpointFormat::TorchZip:
        case CheckpointFormat::TorchLegacy: {  // the torch reader explains the legacy format
            auto c = read_torch_checkpoint(path);
            if (!c) return Unexpected{c.error()};
            out.tensors = std::move(c->tensors);
            out.metadata = std::move(c->metadata);
            return out;
        }
        case CheckpointFormat::Gguf:
            return make_error(ErrorCode::UnsupportedModel,
                              path +
                                  " is a GGUF file (llama.cpp / ComfyUI-GGUF quantized weights), which Kinora "
                                  "does not read; use the original .safetensors or .ckpt weights.");
        case CheckpointFormat::Unknown:
            break;
    }
    const std::string head = read_head(path, 64);
    std::string hint;
    if (head.empty()) {
        hint = "the file is empty; download it again";
    } else if (head.compare(0, 23, "version https://git-lfs") == 0) {
        hint =
            "it is a Git LFS pointer, not the weights; fetch the real file (git lfs pull, or download it "
            "from the hub page)";
    } else if (head.find("<!DOCTYPE") != std::string::npos || head.find("<html") != std::string::npos ||
               head.find("<HTML") != std::string::npos) {
        hint = "it is an HTML page (a failed or redirected download?); download the file again";
    } else {
        hint = "it begins with bytes " + hex_bytes(head, 8) + ", which match no weight format";
    }
    return make_error(ErrorCode::ModelLoadFailed, "not a checkpoint: " + path + " (" + hint + "). " + kSupported + ".");
}

Expected<TensorMap> load_checkpoint(const std::string& path) {
    auto c = read_checkpoint(path);
    if (!c) return Unexpected{c.error()};
    return std::move(c->tensors);
}

}  // namespace engine::io
