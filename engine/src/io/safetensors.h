// Ref: https://github.com/huggingface/safetensors (format spec: README "Format")
// safetensors reader: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data. The file is memory-mapped; tensors are zero-copy CPU views that keep the mapping
// alive. F8_E4M3 / F8_E5M2 are decoded to bfloat16 (exact), as LibTorch 1.13 has no float8 type.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/mapped_file.h"

namespace engine::io {

/// Tensors by name, ordered (deterministic iteration).
using TensorMap = std::map<std::string, at::Tensor>;

struct SafetensorsEntry {
    std::string name;
    std::string dtype;  // as in the file: "F32", "BF16", "F8_E4M3", ...
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0;  // byte offsets into the data section
    std::uint64_t end = 0;
};

class SafetensorsFile {
public:
    /// Maps and validates the file: header bounds, JSON, dtypes, shapes × dtype size = byte ranges,
    /// ranges inside the data section. Every failure names the file and, where relevant, the tensor.
    static Expected<std::shared_ptr<SafetensorsFile>> open(const std::string& path);

    const std::string& path() const noexcept { return file_->path(); }
    /// Entries in file order (by data offset).
    const std::vector<SafetensorsEntry>& entries() const noexcept { return entries_; }
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }

    /// The tensor (CPU; a view into the mapping when the dtype is native and aligned, else a copy).
    Expected<at::Tensor> tensor(const std::string& name) const;
    /// All tensors.
    Expected<TensorMap> tensors() const;

private:
    explicit SafetensorsFile(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {}
    at::Tensor make_tensor(const SafetensorsEntry& e) const;

    std::shared_ptr<MappedFile> file_;
    std::uint64_t data_start_ = 0;
    std::vector<SafetensorsEntry> entries_;
    std::map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
};

/// Loads every tensor of one .safetensors file.
Expected<TensorMap> load_safetensors(const std::string& path);

/// Loads a sharded checkpoint from its "*.safetensors.index.json" ({"weight_map": {name: shard}}):
/// each shard once, every tensor from the shard the map names; missing shards or tensors are errors.
Expected<TensorMap> load_sharded_safetensors(const std::string& index_json_path);

/// Loads a diffusers/transformers component folder: "<dir>/<stem>.safetensors" or its sharded
/// "<stem>.safetensors.index.json", trying the stems in order (e.g. "diffusion_pytorch_model", "model").
Expected<TensorMap> load_safetensors_folder(const std::string& dir, const std::vector<std::string>& stems);

/// Bytes per element of a safetensors dtype name (0 for unknown names).
std::size_t safetensors_dtype_size(const std::string& dtype) noexcept;

/// The LibTorch dtype of a safetensors dtype name; nullopt for F8 (decoded to bfloat16) and unknown names.
std::optional<at::ScalarType> safetensors_scalar_type(const std::string& dtype) noexcept;

/// The safetensors name of a LibTorch dtype ("F32", "BF16", ...); empty when safetensors cannot hold it.
std::string safetensors_dtype_name(at::ScalarType type);

/// Writes `tensors` (any device, any layout; stored contiguous, row-major, little-endian) and string
/// `metadata` as one .safetensors file. Atomic: the data goes to a temporary file in the same folder, which
/// is renamed over `path` only when complete, so readers never see a partial file. Data offsets are aligned
/// to each dtype's size. Errors: InvalidRequest for a dtype safetensors cannot hold, IoError when writing fails.
Expected<void> save_safetensors(const std::string& path, const TensorMap& tensors,
                                const std::map<std::string, std::string>& metadata = {});

}  // namespace engine::io
