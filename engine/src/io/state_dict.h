// Strict loading of a checkpoint's tensors into a LibTorch module, by name.
//
// Registration names of our modules are the checkpoint's own keys (after a prefix is stripped), so
// loading is a 1:1 match. The report lists missing, unexpected and mis-shaped keys; strict loading
// fails when any is non-empty (minus keys the caller explicitly ignores).
//
//     io::StateDictOptions o;
//     o.prefix = "model.diffusion_model.";
//     auto report = io::load_state_dict(*unet, weights, o, "VideoCrafter2 UNet");
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"

namespace engine::io {

struct StateDictOptions {
    /// Only keys starting with this prefix are considered, with the prefix removed ("" = all keys).
    std::string prefix;
    /// Key renames applied after the prefix is stripped: (from, to) on whole-key prefixes.
    std::vector<std::pair<std::string, std::string>> renames;
    /// Checkpoint keys matching any of these ECMAScript regexes are ignored (not "unexpected").
    std::vector<std::string> ignore_unexpected;
    /// Module keys matching any of these regexes may be absent from the checkpoint.
    std::vector<std::string> allow_missing;
    /// Fail on any missing / unexpected / mis-shaped key.
    bool strict = true;
};

struct StateDictReport {
    std::vector<std::string> missing;     // in the module, not in the checkpoint
    std::vector<std::string> unexpected;  // in the checkpoint (after prefix), not in the module
    std::vector<std::string> mismatched;  // "name: checkpoint [a, b] vs module [c, d]"
    std::size_t num_loaded = 0;

    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
    /// A readable summary listing at most max_per_kind keys of each kind.
    std::string summary(std::size_t max_per_kind = 8) const;
};

/// Copies matching tensors into the module's parameters and buffers (converting dtype/device to the
/// module's), under NoGradGuard. `what` names the component in error messages. Strict failures are
/// ModelLoadFailed errors whose message carries the report summary.
Expected<StateDictReport> load_state_dict(torch::nn::Module& module, const TensorMap& weights,
                                          const StateDictOptions& options, const std::string& what);

/// The keys of `weights` under prefix, with the prefix removed.
TensorMap select_prefix(const TensorMap& weights, const std::string& prefix);

}  // namespace engine::io
