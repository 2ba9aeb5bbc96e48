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
    /// Called after step `step` (1-based) of `num_steps` has been issued, with its new latents. On a CUDA device the
    /// step may still be running: the latents tell the callee where to wait for it (make_step_hooks does).
    std::function<void(int step, int num_steps, const at::Tensor& latents)> on_step;
    /// Called after every step (after on_step) with the new latents and the step's x0 prediction ("denoised"); the
    /// callee decides whether a preview is due (and may keep the tensors: they are not modified afterwards).
    std::function<void(int step, int num_steps, const at::Tensor& latents, const at::Tensor& denoised)> maybe_preview;

    void cancel_point() const {
        if (check_cancel) {
            check_cancel();
        }
    }
    void step_done(int step, int num_steps, const at::Tensor& latents, const at::Tensor& denoised) const {
        if (on_step) {
            on_step(step, num_steps, latents);
        }
        if (maybe_preview) {
            maybe_preview(step, num_steps, latents, denoised);
        }
    }
};

/// Makes a preview's pixels from a step's latents and x0 prediction (`denoised`, undefined when the sampler has none):
/// [F, H, W, 3] uint8, one frame per image, on the tensors' device. Runs only when a preview is due. On a GPU it
/// queues its work and must not wait for it (no host copies): make_step_hooks copies the pixels to the host.
using PreviewRenderer = std::function<at::Tensor(const at::Tensor& latents, const at::Tensor& denoised)>;

/// Host pixels [F, H, W, C] uint8 (a PreviewRenderer's output: C = 3) → one Image per frame.
std::vector<Image> images_from_pixels(const at::Tensor& pixels);

/// How far the sampler's thread may run ahead of a CUDA device: steps issued but not yet done.
inline constexpr int kStepsAhead = 2;

/// Hooks that forward to a job: check_cancel → ctx.check_cancel(); each step's progress → ctx.report_progress(stage,
/// step, n); previews → ctx.report_preview(frames of render(...)) when ctx.wants_preview(step, n) and a renderer is
/// given.
///
/// On a CUDA device nothing here drains the stream before the last step. A step's progress is reported when the
/// device has done it (a CUDA event), and the thread waits only when it is more than kStepsAhead steps ahead, so that
/// the device always has the next steps queued and a cancel takes effect within that many steps. A preview's pixels
/// are rendered on the device and copied to pinned host memory without waiting; they are delivered after their
/// step's progress, once they have arrived, while the device works on later steps. While one preview is on its way,
/// later steps offer none; the last step always gets one, queued behind it. After the last step everything is
/// delivered before step_done returns. CPU tensors: everything is reported and rendered at once. `ctx` must outlive
/// the hooks; the hooks may serve several sampler runs in turn. A caller that wraps maybe_preview must call the
/// original at every step (with a renderer it delivers the last step's progress).
StepHooks make_step_hooks(runtime::JobContext& ctx, PreviewRenderer render = {}, JobStage stage = JobStage::Denoising);

}  // namespace engine::schedulers
