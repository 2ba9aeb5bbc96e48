#include "pipelines/pipeline_runner.h"

#include <filesystem>
#include <string>
#include <variant>

#include "core/engine_error.h"
#include "pipelines/model_cache.h"
#include "pipelines/text_to_image.h"

namespace engine::pipelines {
namespace {

class DispatchRunner final : public runtime::PipelineRunner {
public:
    explicit DispatchRunner(const EngineOptions& options) : cache_(compute_settings_for(options)) {}

    JobResult run(const GenerationRequest& request, runtime::JobContext& ctx) override {
        if (const auto* t2i = std::get_if<TextToImageRequest>(&request)) {
            return run_text_to_image(*t2i, ctx, cache_);
        }
        // The video pipelines register here as they land (issues #5, #6).
        throw core::EngineError(ErrorCode::UnsupportedModel, std::string("The ") + to_string(task_of(request)) +
                                                                 " pipeline is not part of this build yet.");
    }

private:
    ModelCache cache_;
};

}  // namespace

std::unique_ptr<runtime::PipelineRunner> make_pipeline_runner(const EngineOptions& options) {
    return std::make_unique<DispatchRunner>(options);
}

}  // namespace engine::pipelines
