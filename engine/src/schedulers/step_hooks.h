// What a sampler loop reports: cancellation checks, progress and previews. Samplers know nothing else of the
// engine; pipelines build the hooks from their JobContext with make_step_hooks().
//
//     auto hooks = schedulers::make_step_hooks(ctx, [&](const at::Tensor& latents, const at::Tensor& denoised) {
//         return preview_images(denoised);        // cheap latent → RGB projection
//     });
//     at::Tensor x = schedulers::sample_flow_dpm_solver(denoise, noise, schedule, hooks);
//
// Thread safety: the hooks run on the thread that runs the sampler (the engine worker).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "engine/events.h"
#include "engine/media.h"

namespace engine::runtime {
class JobContext;
}

namespace engine::schedulers {

struct StepHooks {
    /// Called before every model evaluation; throws (runtime::JobCancelled) to stop the loop.
    std::function<void()> check_cancel;
    /// Called after step `step` (1-based) of `num_steps` is done.
    std::function<void(int step, int num_steps)> on_step;
    /// Called after every step with the new latents and the step's x0 prediction ("denoised"); the callee decides
    /// whether a preview is due (and may keep the tensors: they are not modified afterwards).
    std::function<void(int step, int num_steps, const at::Tensor& latents, const at::Tensor& denoised)> maybe_preview;

    void cancel_point() const {
        if (check_cancel) {
            check_cancel();
        }
    }
    void step_done(int step, int num_steps, const at::Tensor& latents, const at::Tensor& denoised) const {
        if (on_step) {
            on_step(step, num_steps);
        }
        if (maybe_preview) {
            maybe_preview(step, num_steps, latents, denoised);
        }
    }
};

/// Turns latents into preview images (one per frame for video); runs only when a preview is due.
using PreviewRenderer = std::function<std::vector<Image>(const at::Tensor& latents, const at::Tensor& denoised)>;

/// Hooks that forward to a job: check_cancel → ctx.check_cancel(); on_step → ctx.report_progress(stage, step, n);
/// maybe_preview → ctx.report_preview(render(...)) when ctx.wants_preview(step, n) and a renderer is given.
/// `ctx` must outlive the hooks.
StepHooks make_step_hooks(runtime::JobContext& ctx, PreviewRenderer render = {}, JobStage stage = JobStage::Denoising);

}  // namespace engine::schedulers
