#include "engine_impl.h"

#include <torch/cuda.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "core/log.h"
#include "models/common/quantized_linear.h"
#include "pipelines/model_cache.h"
#include "pipelines/pipeline_runner.h"

namespace engine {

EngineImpl::EngineImpl(const EngineOptions& options, Callbacks callbacks,
                       std::unique_ptr<runtime::PipelineRunner> runner, std::string device_description)
    : device_description_(std::move(device_description)) {
    int num_threads = options.num_threads;
    if (num_threads <= 0) {
        // Leave one core to the UI.
        num_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
    }
    worker_ = std::make_unique<runtime::Worker>(std::move(runner), std::move(callbacks),
                                                [num_threads] { at::set_num_threads(num_threads); });
}

EngineImpl::~EngineImpl() = default;  // the Worker cancels everything and joins

Expected<JobId> EngineImpl::submit(GenerationRequest request) noexcept {
    if (auto ok = validate_request(request); !ok) {
        return Unexpected{ok.error()};
    }
    try {
        return worker_->submit(std::move(request));
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, std::string("could not queue the job: ") + e.what());
    }
}

bool EngineImpl::cancel(JobId job) noexcept { return worker_->cancel(job); }
void EngineImpl::cancel_all() noexcept { worker_->cancel_all(); }
JobStatus EngineImpl::status(JobId job) const noexcept { return worker_->status(job); }
std::size_t EngineImpl::num_pending() const noexcept { return worker_->num_pending(); }

Expected<std::unique_ptr<Engine>> create_engine(const EngineOptions& options, Callbacks callbacks) noexcept {
    try {
        std::string description = "cpu";
        if (options.device == DeviceKind::Cuda) {
            if (!torch::cuda::is_available()) {
                return make_error(ErrorCode::DeviceUnavailable,
                                  "CUDA was requested but no CUDA device is usable (this build or driver has none). "
                                  "Choose the CPU device in Settings (or pass --device cpu).");
            }
            const int count = static_cast<int>(torch::cuda::device_count());
            if (options.device_index < 0 || options.device_index >= count) {
                return make_error(ErrorCode::DeviceUnavailable,
                                  "CUDA device " + std::to_string(options.device_index) + " does not exist (" +
                                      std::to_string(count) + " found).");
            }
            description = "cuda:" + std::to_string(options.device_index);
        }
        // FP8 quantisation where it cannot run: refused at start, not at the first Sana job.
        const pipelines::ComputeSettings compute = pipelines::compute_settings_for(options);
        if (auto why = models::quantization_unavailable(options.quantization, compute.device, compute.dtype)) {
            return make_error(ErrorCode::DeviceUnavailable,
                              *why + " Change it under Settings → Quantization (kinora-cli: --quantize).");
        }
        auto runner = pipelines::make_pipeline_runner(options);
        std::unique_ptr<Engine> engine =
            std::make_unique<EngineImpl>(options, std::move(callbacks), std::move(runner), description);
        LOG_INFO("engine started on %s", description.c_str());
        return engine;
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, std::string("could not start the engine: ") + e.what());
    }
}

}  // namespace engine
