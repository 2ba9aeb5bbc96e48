// The video tasks: a TextToVideoRequest (VideoCrafter 1/2) or an ImageToVideoRequest (DynamiCrafter,
// VideoCrafter-i2v) through the LVDM pipeline, reporting progress (loading, conditioning, every DDIM step, every
// decoded frame), per-frame previews of the x0 estimate, and cancellation between steps and frames. Both tasks share
// one job flow (lvdm_pipeline.h); image-to-video only adds the picture.
#pragma once

#include "engine/events.h"
#include "engine/requests.h"
#include "pipelines/model_cache.h"
#include "runtime/job_context.h"

namespace engine::pipelines {

JobResult run_text_to_video(const TextToVideoRequest& request, runtime::JobContext& ctx, ModelCache& cache);

JobResult run_image_to_video(const ImageToVideoRequest& request, runtime::JobContext& ctx, ModelCache& cache);

}  // namespace engine::pipelines
