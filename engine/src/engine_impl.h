// The real Engine: a Worker whose runner dispatches requests to the pipelines, plus the device setup.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "runtime/worker.h"

namespace engine {

class EngineImpl final : public Engine {
public:
    EngineImpl(const EngineOptions& options, Callbacks callbacks, std::unique_ptr<runtime::PipelineRunner> runner,
               std::string device_description);
    ~EngineImpl() override;

    Expected<JobId> submit(GenerationRequest request) noexcept override;
    bool cancel(JobId job) noexcept override;
    void cancel_all() noexcept override;
    JobStatus status(JobId job) const noexcept override;
    std::size_t num_pending() const noexcept override;
    std::string device_description() const override { return device_description_; }

private:
    std::string device_description_;
    std::unique_ptr<runtime::Worker> worker_;
};

}  // namespace engine
