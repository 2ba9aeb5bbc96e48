#include "pipelines/pipeline_runner.h"

#include <string>
#include <variant>

#include "core/engine_error.h"

namespace engine::pipelines {
namespace {

class DispatchRunner final : public runtime::PipelineRunner {
public:
    explicit DispatchRunner(const EngineOptions& options) : options_(options) {}

    JobResult run(const GenerationRequest& request, runtime::JobContext& ctx) override {
        (void)ctx;
        // The pipelines register here as they land (issues #3-#6).
        throw core::EngineError(ErrorCode::UnsupportedModel,
                                std::string("The ") + to_string(task_of(request)) +
                                    " pipeline is not part of this build yet.");
    }

private:
    EngineOptions options_;
};

}  // namespace

std::unique_ptr<runtime::PipelineRunner> make_pipeline_runner(const EngineOptions& options) {
    return std::make_unique<DispatchRunner>(options);
}

}  // namespace engine::pipelines
