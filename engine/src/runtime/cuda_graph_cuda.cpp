// CudaGraphRunner for CUDA builds of LibTorch (see cuda_graph.h): capture per input signature, replay.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "core/log.h"
#include "core/torch_compat.h"
#include "runtime/cuda_graph.h"

namespace engine::runtime {

bool cuda_graphs_built() noexcept {
    return true;
}

bool cuda_graphs_allowed_by_env() noexcept {
    const char* v = std::getenv("KINORA_DISABLE_CUDA_GRAPHS");
    return v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0;
}

namespace {

struct Graph {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    std::vector<at::Tensor> static_inputs;
    at::Tensor static_output;
};

// Sizes, strides, dtype and device of every input: what a captured graph is specialised on.
std::string signature_of(const std::vector<at::Tensor>& inputs) {
    std::ostringstream s;
    for (const auto& t : inputs) {
        s << static_cast<int>(t.scalar_type()) << '@' << t.device().index() << t.sizes() << t.strides() << ';';
    }
    return s.str();
}

// Persistent inputs are read where they lie: their addresses are part of the signature too.
std::string persistent_signature_of(const std::vector<at::Tensor>& persistent) {
    std::ostringstream s;
    s << '|' << signature_of(persistent);
    for (const auto& t : persistent) {
        s << t.data_ptr() << ';';
    }
    return s.str();
}

std::vector<at::Tensor> joined(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
    std::vector<at::Tensor> all = a;
    all.insert(all.end(), b.begin(), b.end());
    return all;
}

bool all_cuda_same_device(const std::vector<at::Tensor>& inputs) {
    if (inputs.empty()) return false;
    for (const auto& t : inputs) {
        if (!t.defined() || !t.is_cuda() || t.device() != inputs.front().device()) return false;
    }
    return true;
}

}  // namespace

struct CudaGraphRunner::Impl {
    std::string name;
    Fn fn;
    int max_graphs = 4;
    bool enabled = true;
    bool failed = false;
    bool warned_full = false;
    int64_t captures = 0;
    int64_t replays = 0;
    int64_t eager = 0;
    std::map<std::string, Graph> graphs;
    std::optional<c10::cuda::CUDAStream> side_stream;

    at::Tensor eager_call(const std::vector<at::Tensor>& inputs) {
        ++eager;
        return fn(inputs);
    }

    // Warm-up and capture on a side stream (graphs cannot be captured on the legacy default stream); the current
    // stream waits for the side stream before and after. Returns false (logged) when anything fails.
    bool capture(const std::string& key, const std::vector<at::Tensor>& inputs,
                 const std::vector<at::Tensor>& persistent) {
        const c10::Device device = inputs.front().device();
        c10::cuda::CUDAGuard device_guard(device);
        if (!side_stream || side_stream->device() != device) {
            side_stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
        }
        c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device.index());
        Graph g;
        bool capturing = false;
        decltype(at::cuda::graph_pool_handle()) pool{0, 0};  // a std::pair of ids
        try {
            for (const auto& t : inputs) {
                g.static_inputs.push_back(at::empty_like(t).copy_(t));  // keeps a dense input's strides
            }
            const std::vector<at::Tensor> fn_inputs = joined(g.static_inputs, persistent);
            at::cuda::CUDAEvent ready;
            ready.record(current);
            ready.block(*side_stream);
            {
                c10::cuda::CUDAStreamGuard stream_guard(*side_stream);
                for (int i = 0; i < 2; ++i) {
                    (void)fn(fn_inputs);
                }
                g.graph = std::make_unique<at::cuda::CUDAGraph>();
                pool = at::cuda::graph_pool_handle();  // our own id: a failed capture must close it (below)
                g.graph->capture_begin(pool);
                capturing = true;
                g.static_output = fn(fn_inputs);
                capturing = false;
                g.graph->capture_end();
            }
            at::cuda::CUDAEvent done;
            done.record(*side_stream);
            done.block(current);
        } catch (const std::exception& e) {
            if (capturing) {
                // End the broken capture so that the stream works again; its own error is expected.
                try {
                    c10::cuda::CUDAStreamGuard stream_guard(*side_stream);
                    g.graph->capture_end();
                } catch (const std::exception&) {
                }
            }
#if KINORA_TORCH_GRAPH_POOL_API
            // When cudaStreamEndCapture fails, CUDAGraph::capture_end throws before it ends the allocator's routing
            // of allocations to the graph's pool (whose filter refers to the graph we are about to destroy).
            if (pool.first != 0 || pool.second != 0) {
                try {
                    c10::cuda::CUDACachingAllocator::endAllocateToPool(device.index(), pool);
                } catch (const std::exception&) {
                    // capture_end got that far: nothing routed any more
                }
            }
#endif
            (void)cudaGetLastError();  // a failed capture leaves a (non-sticky) error behind
            std::string what = e.what();
            what = what.substr(0, what.find('\n'));
            LOG_WARN("CUDA graph capture of %s failed (%s); running it eagerly from now on", name.c_str(),
                     what.c_str());
            failed = true;
            return false;
        }
        ++captures;
        LOG_INFO("captured a CUDA graph of %s (%zu of at most %d)", name.c_str(), graphs.size() + 1, max_graphs);
        graphs.emplace(key, std::move(g));
        return true;
    }
};

CudaGraphRunner::CudaGraphRunner(std::string name, Fn fn, int max_graphs) : impl_(std::make_unique<Impl>()) {
    impl_->name = std::move(name);
    impl_->fn = std::move(fn);
    impl_->max_graphs = max_graphs;
    impl_->enabled = cuda_graphs_allowed_by_env();
}

CudaGraphRunner::~CudaGraphRunner() = default;

at::Tensor CudaGraphRunner::run(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& persistent) {
    Impl& m = *impl_;
    const std::vector<at::Tensor> all = persistent.empty() ? inputs : joined(inputs, persistent);
    if (!m.enabled || m.failed || !all_cuda_same_device(all)) {
        return m.eager_call(all);
    }
    const c10::Device device = all.front().device();
    c10::cuda::CUDAGuard device_guard(device);
    if (c10::cuda::currentStreamCaptureStatusMayInitCtx() != c10::cuda::CaptureStatus::None) {
        return m.eager_call(all);  // inside someone else's capture: just record the work
    }
    const std::string key = signature_of(inputs) + persistent_signature_of(persistent);
    auto it = m.graphs.find(key);
    if (it == m.graphs.end()) {
        if (static_cast<int>(m.graphs.size()) >= m.max_graphs) {
            if (!m.warned_full) {
                LOG_INFO("%s: %d CUDA graphs captured already; other input shapes run eagerly", m.name.c_str(),
                         m.max_graphs);
                m.warned_full = true;
            }
            return m.eager_call(all);
        }
        if (!m.capture(key, inputs, persistent)) {
            return m.eager_call(all);
        }
        it = m.graphs.find(key);
    }
    Graph& g = it->second;
    for (size_t i = 0; i < inputs.size(); ++i) {
        g.static_inputs[i].copy_(inputs[i]);
    }
    g.graph->replay();
    ++m.replays;
    return g.static_output.clone();
}

void CudaGraphRunner::set_enabled(bool enabled) noexcept {
    impl_->enabled = enabled;
}
bool CudaGraphRunner::enabled() const noexcept {
    return impl_->enabled;
}
bool CudaGraphRunner::failed() const noexcept {
    return impl_->failed;
}
int64_t CudaGraphRunner::captures() const noexcept {
    return impl_->captures;
}
int64_t CudaGraphRunner::replays() const noexcept {
    return impl_->replays;
}
int64_t CudaGraphRunner::eager_calls() const noexcept {
    return impl_->eager;
}
void CudaGraphRunner::reset() {
    impl_->graphs.clear();
}

}  // namespace engine::runtime
