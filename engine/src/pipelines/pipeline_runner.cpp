#include "pipelines/pipeline_runner.h"

#include <filesystem>
#include <string>
#include <variant>

#include "core/engine_error.h"
#include "pipelines/model_cache.h"
#include "pipelines/text_to_image.h"
#include "pipelines/text_to_video.h"

namespace engine::pipelines {
namespace {

class DispatchRunner final : public runtime::PipelineRunner {
public:
    explicit DispatchRunner(const EngineOptions& options) : cache_(compute_settings_for(options)) {}

    JobResult run(const GenerationRequest& request, runtime::JobContext& ctx) override {
        if (const auto* t2i = std::get_if<TextToImageRequest>(&request)) {
            return run_text_to_image(*t2i, ctx, cache_);
        }
        if (const auto* i2v = std::get_if<ImageToVideoRequest>(&request)) {
            return run_image_to_video(*i2v, ctx, cache_);
        }
        if (const auto* t2v = std::get_if<TextToVideoRequest>(&request)) {
            return run_text_to_video(*t2v, ctx, cache_);
        }
        throw core::EngineError(ErrorCode::Internal, std::string("no pipeline for the task ") +
                                                         to_string(task_of(request)));
    }

private:
    ModelCache cache_;
};

}  // namespace

std::unique_ptr<runtime::PipelineRunner> make_pipeline_runner(const EngineOptions& options) {
    return std::make_unique<DispatchRunner>(options);
}

}  // namespace engine::pipelines
