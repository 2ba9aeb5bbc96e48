// Kinora's engine: a queue of generation jobs run one at a time on a worker thread it owns.
//
//     engine::Callbacks cb;
//     cb.on_progress = [](const engine::ProgressEvent& e) { ... };     // worker thread!
//     cb.on_finished = [](std::shared_ptr<const engine::JobResult> r) { ... };
//     auto made = engine::create_engine(engine::EngineOptions{}, cb);
//     if (!made) { report(made.error().message); return; }
//     std::unique_ptr<engine::Engine> eng = std::move(made).value();
//     engine::TextToImageRequest req; req.model_path = dir; req.prompt = "a fox";
//     engine::Expected<engine::JobId> id = eng->submit(req);
//     ...
//     eng->cancel(*id);           // returns at once; the job stops within one denoising step
//
// Thread safety: every Engine method may be called from any thread and never blocks on a running
// job. Callbacks run on the worker thread; they must return quickly and must not call back into the
// engine. Destroying the Engine cancels all jobs and joins the worker.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/events.h"
#include "engine/requests.h"

namespace engine {

enum class DeviceKind { Cpu = 0, Cuda };

/// Numeric precision of weights and activations.
enum class Precision {
    Auto = 0,  // float32 on CPU; bfloat16 on CUDA (float16 for models that want it)
    Float32,
    BFloat16,
    Float16,
};

/// Weight quantisation of the Sana transformer's linear layers (the attention projections and the feed-forward's 1×1
/// convolutions; embeddings, adaLN and the output projection stay in `precision`).
enum class WeightQuantization {
    None = 0,  // weights in `precision`
    Int8,      // int8 weights, one scale per output channel, dequantised for each product: half the weight memory,
               // any device (slightly slower on a GPU)
    Fp8,       // float8 e4m3 weights and activations with row-wise scales (FP8 tensor cores): half the weight memory
               // and faster products; CUDA GPUs of compute capability 8.9+ (Ada, Hopper) with bf16 precision
};

/// How hard to try to save memory.
enum class MemoryMode {
    Balanced = 0,  // keep the denoiser loaded between jobs; free the text encoder after encoding
    LowMemory,     // also free the denoiser/VAE after each job and decode in tiles
    KeepLoaded,    // keep every component resident for the fastest repeat jobs
};

const char* to_string(DeviceKind kind) noexcept;
const char* to_string(Precision precision) noexcept;
const char* to_string(MemoryMode mode) noexcept;
const char* to_string(WeightQuantization quantization) noexcept;

struct EngineOptions {
    DeviceKind device = DeviceKind::Cpu;
    int device_index = 0;
    Precision precision = Precision::Auto;
    MemoryMode memory_mode = MemoryMode::Balanced;
    WeightQuantization quantization = WeightQuantization::None;
    int num_threads = 0;  // CPU threads for LibTorch; 0: hardware threads - 1
};

/// Event sinks. Each may be empty. All run on the worker thread.
struct Callbacks {
    std::function<void(JobId, JobStatus)> on_status;  // Running, Cancelled, Finished, Failed (before the payload callbacks)
    std::function<void(const ProgressEvent&)> on_progress;
    std::function<void(const PreviewEvent&)> on_preview;
    std::function<void(std::shared_ptr<const JobResult>)> on_finished;
    std::function<void(JobId, const Error&)> on_failed;
};

/// The engine's interface. Implemented inside the engine (and by test fakes).
class Engine {
public:
    virtual ~Engine() = default;

    /// Validates cheap invariants and enqueues; returns the new job's id at once.
    virtual Expected<JobId> submit(GenerationRequest request) noexcept = 0;
    /// Cancels a queued or running job. False if the id is unknown or already finished.
    virtual bool cancel(JobId job) noexcept = 0;
    /// Cancels every queued and running job.
    virtual void cancel_all() noexcept = 0;
    /// Current status of a job (None for unknown ids).
    virtual JobStatus status(JobId job) const noexcept = 0;
    /// Jobs queued or running.
    virtual std::size_t num_pending() const noexcept = 0;
    /// "cpu", "cuda:0 (NVIDIA H100 80GB HBM3)", ...
    virtual std::string device_description() const = 0;
};

/// Creates the real engine: starts its worker thread. Fails with DeviceUnavailable if CUDA is asked
/// for and absent.
Expected<std::unique_ptr<Engine>> create_engine(const EngineOptions& options, Callbacks callbacks) noexcept;

/// Cheap checks of a request that need no model (sizes, steps, frames); the pipeline checks the rest.
Expected<void> validate_request(const GenerationRequest& request) noexcept;

}  // namespace engine
