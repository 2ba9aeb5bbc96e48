// CUDA graphs for a fixed-shape forward (issue #9: the Sana transformer step is launch-bound on an H200).
//
//     runtime::CudaGraphRunner runner("SanaTransformer2D", [&](const std::vector<at::Tensor>& in) {
//         return model->forward(in[0], in[1], in[2], cond_from(in));
//     });
//     at::Tensor v = runner.run({latents, embeds, t, mask});   // a fresh tensor, owned by the caller
//
// For CUDA inputs, the first call with a new input signature (sizes, strides, dtypes, device of every input) copies
// the inputs into static buffers, runs the function twice on a side stream (warm-up: cuBLAS / cuDNN handles,
// workspaces, lazily built caches), then captures one call into an at::cuda::CUDAGraph with its own memory pool.
// Later calls with that signature copy the inputs into the static buffers, replay the graph on the current stream
// and return a clone of the static output. CPU inputs, builds without CUDA, graphs switched off, a nested capture,
// or more than `max_graphs` signatures run the function eagerly. A capture that fails (the function does something a
// graph cannot hold: a host synchronisation, a pageable host copy) is logged once and the runner stays eager.
//
// The function must be a pure function of its inputs and the (unchanging) module state: no RNG, no host reads of
// device values. Parameters must not be reallocated after a capture (drop the runner when the model changes).
// Switches: KINORA_DISABLE_CUDA_GRAPHS=1 in the environment, or set_enabled(false). Thread safety: one thread at a
// time (the engine worker).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace engine::runtime {

/// True when this build of the engine can capture CUDA graphs (a CUDA LibTorch).
bool cuda_graphs_built() noexcept;
/// False when KINORA_DISABLE_CUDA_GRAPHS is set to a non-empty value other than "0".
bool cuda_graphs_allowed_by_env() noexcept;

class CudaGraphRunner {
public:
    using Fn = std::function<at::Tensor(const std::vector<at::Tensor>& inputs)>;

    /// `name` appears in the log. The runner starts enabled iff cuda_graphs_allowed_by_env().
    CudaGraphRunner(std::string name, Fn fn, int max_graphs = 4);
    ~CudaGraphRunner();
    CudaGraphRunner(const CudaGraphRunner&) = delete;
    CudaGraphRunner& operator=(const CudaGraphRunner&) = delete;

    /// fn(inputs), through a graph where possible (see the file comment). Every input must be defined.
    /// `persistent` tensors follow the inputs in what fn receives, but are not copied: a graph reads them where they
    /// lie, and their addresses are part of its signature. For large inputs that stay the same over many calls and
    /// that the caller keeps in the same memory (refilled in place, e.g. the caption's cross-attention keys and values
    /// over a run's steps): a graph replays only over the very tensors it was captured with.
    at::Tensor run(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& persistent = {});

    void set_enabled(bool enabled) noexcept;
    bool enabled() const noexcept;
    /// True after a capture failed: every later call is eager.
    bool failed() const noexcept;
    int64_t captures() const noexcept;  // graphs captured
    int64_t replays() const noexcept;   // calls answered by a replay
    int64_t eager_calls() const noexcept;
    /// Releases the graphs and their memory pools (e.g. before the model is unloaded).
    void reset();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace engine::runtime
