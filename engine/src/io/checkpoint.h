// One entry point for weight files: the format is picked by content (magic bytes), not by extension, so a
// safetensors file named .ckpt or a torch checkpoint named .bin both load.
//   safetensors                8-byte header length + JSON header starting with '{'
//   sharded safetensors index  a JSON object with "weight_map" (model.safetensors.index.json)
//   PyTorch zip checkpoint     "PK\x03\x04" (torch.save since 1.6; .ckpt/.pt/.pth/.bin)
// Recognised but refused with advice: legacy torch.save pickles (pre-1.6), GGUF, Git LFS pointers, HTML pages.
//
//     auto weights = load_checkpoint("/models/vc2/model.ckpt");
//     if (!weights) return Unexpected{weights.error()};
//
// Thread safety: free functions; results are independent values.
#pragma once

#include <map>
#include <string>

#include "engine/error.h"
#include "io/safetensors.h"

namespace engine::io {

enum class CheckpointFormat {
    Unknown = 0,
    Safetensors,
    SafetensorsIndex,
    TorchZip,
    TorchLegacy,
    Gguf,
};

/// Stable lower-case name, e.g. "torch_zip".
const char* to_string(CheckpointFormat format) noexcept;

/// The format of the file at `path` by its content; Unknown for other content and unreadable paths.
CheckpointFormat detect_checkpoint_format(const std::string& path);

struct Checkpoint {
    TensorMap tensors;
    std::map<std::string, std::string> metadata;  // safetensors __metadata__, or a torch checkpoint's top-level scalars
    CheckpointFormat format = CheckpointFormat::Unknown;
};

/// Reads every tensor of a weight file in any supported format (see the top of this header).
/// Errors: ModelNotFound for a missing path, UnsupportedModel for recognised formats Kinora does not read,
/// ModelLoadFailed ("not a checkpoint: ...") for anything else, each with what to do.
Expected<Checkpoint> read_checkpoint(const std::string& path);

/// read_checkpoint() without the metadata.
Expected<TensorMap> load_checkpoint(const std::string& path);

}  // namespace engine::io
