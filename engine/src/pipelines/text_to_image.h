// The text-to-image task: a TextToImageRequest through the Sana / Sana-Sprint pipeline, reporting
// progress and previews to the job.
#pragma once

#include "engine/events.h"
#include "engine/requests.h"
#include "pipelines/model_cache.h"
#include "runtime/job_context.h"

namespace engine::pipelines {

JobResult run_text_to_image(const TextToImageRequest& request, runtime::JobContext& ctx, ModelCache& cache);

}  // namespace engine::pipelines
