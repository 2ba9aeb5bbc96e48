// Ref: pytorch/pytorch torch/serialization.py (_save, _load: zip layout, persistent ids) and torch/_utils.py
// (_rebuild_tensor_v2/_v3, _rebuild_parameter)
// PyTorch checkpoint reader for the zip format torch.save writes since 1.6 (Lightning .ckpt, .pt, .pth, .bin):
//   <top>/data.pkl         the pickled object (a dict); tensors refer to storages through persistent ids
//                          ('storage', <torch.FloatStorage>, key, location, numel)
//   <top>/data/<key>       each storage's raw bytes, stored uncompressed, 64-byte aligned
//   <top>/byteorder        "little" (absent in old files, which are little-endian)
// The top folder's name varies ("archive", the file stem, anything). The pickle is read by our restricted
// unpickler (io/pickle.h), which never runs code: tensors are rebuilt from an allow-list of torch functions,
// other globals become inert placeholders that are an error only when used (inside the state dict).
// Tensors are CPU views into the memory-mapped file (zero-copy) with the saved sizes, strides and storage
// offset; storages sharing bytes stay shared. Misaligned storages are copied; FP8 tensors (_rebuild_tensor_v3)
// are decoded to bfloat16 as in io/safetensors.
//
//     auto ckpt = read_torch_checkpoint("model.ckpt");
//     if (!ckpt) return Unexpected{ckpt.error()};
//     TensorMap& w = ckpt->tensors;              // "model.diffusion_model.input_blocks.0.0.weight", ...
//     std::string step = ckpt->metadata["global_step"];
//
// Thread safety: free functions; results are independent values.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "engine/error.h"
#include "io/safetensors.h"

namespace engine::io {

struct TorchCheckpoint {
    TensorMap tensors;                            // the state dict
    std::map<std::string, std::string> metadata;  // top-level scalar entries: epoch, global_step, ...
    std::string state_dict_key;    // where the state dict was: "state_dict", "module", "model.module", "" = top level
    std::size_t bytes_copied = 0;  // storage bytes that could not be viewed in place (misaligned, FP8)
};

/// Reads a zip-format PyTorch checkpoint. The state dict is the "state_dict" entry of a Lightning dict, a nested
/// "model_state_dict" / "module" / "model" dict, or the top-level dict when it maps names to tensors. A legacy
/// (pre-1.6) torch.save file, a non-zip file, a zip without data.pkl, a missing storage record or anything in
/// the state dict that is not a tensor (naming the global that would build it) is an error saying what to do.
Expected<TorchCheckpoint> read_torch_checkpoint(const std::string& path);

}  // namespace engine::io
