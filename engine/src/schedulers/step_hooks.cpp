#include "schedulers/step_hooks.h"

#include <ATen/ATen.h>

#include <cstring>
#include <deque>
#include <memory>
#include <utility>

#include "runtime/device_sync.h"
#include "runtime/job_context.h"

namespace engine::schedulers {
namespace {

// The state behind make_step_hooks' closures (see step_hooks.h): steps issued but not yet reported, and the previews
// on their way to the host (one at a time, and the last step's).
class JobStepReporter {
public:
    JobStepReporter(runtime::JobContext& ctx, PreviewRenderer render, JobStage stage)
        : ctx_(ctx), render_(std::move(render)), stage_(stage) {}

    void step_issued(int step, int num_steps, const at::Tensor& latents) {
        if (step <= last_step_) forget();  // a new run with the same hooks (the last one may have been cancelled)
        last_step_ = step;
        issued_.push_back({step, num_steps, runtime::StreamMarker::record(latents.device())});
        // With previews, offer_preview drains after the last step, once that step's preview is queued behind it.
        settle(step >= num_steps && !render_ ? 0 : kStepsAhead);
    }

    void offer_preview(int step, int num_steps, const at::Tensor& latents, const at::Tensor& denoised) {
        const bool last = step >= num_steps;
        if ((previews_.empty() || last) && ctx_.wants_preview(step, num_steps)) {
            runtime::HostCopy pixels = runtime::copy_to_host_async(render_(latents, denoised));
            previews_.push_back({step, num_steps, pixels.host, pixels.done});
        }
        settle(last ? 0 : kStepsAhead);
    }

private:
    struct Issued {
        int step;
        int num_steps;
        runtime::StreamMarker done;
    };
    struct Preview {
        int step;
        int num_steps;
        at::Tensor pixels;  // host, once `done` is reached
        runtime::StreamMarker done;
    };

    // Reports the steps the device has done, in order, each followed by its preview once that has arrived; waits
    // while more than `keep` steps are outstanding. keep = 0: everything, previews included.
    void settle(size_t keep) {
        while (!issued_.empty()) {
            if (issued_.size() > keep) {
                issued_.front().done.wait();
            } else if (!issued_.front().done.reached()) {
                break;
            }
            const Issued done = issued_.front();
            issued_.pop_front();
            reported_ = done.step;
            ctx_.report_progress(stage_, done.step, done.num_steps);  // also a cancellation check point
            deliver_previews(/*wait=*/false);
        }
        if (keep == 0) deliver_previews(/*wait=*/true);
    }

    // Delivers the previews of reported steps whose pixels have arrived (wait: all of them).
    void deliver_previews(bool wait) {
        while (!previews_.empty() && previews_.front().step <= reported_ &&
               (wait || previews_.front().done.reached())) {
            Preview p = std::move(previews_.front());
            previews_.pop_front();
            p.done.wait();
            ctx_.report_preview(p.step, p.num_steps, images_from_pixels(p.pixels));
        }
    }

    void forget() {
        issued_.clear();
        previews_.clear();
        reported_ = 0;
    }

    runtime::JobContext& ctx_;
    PreviewRenderer render_;
    JobStage stage_;
    std::deque<Issued> issued_;
    std::deque<Preview> previews_;
    int last_step_ = 0;
    int reported_ = 0;  // the last step whose progress was reported
};

}  // namespace

std::vector<Image> images_from_pixels(const at::Tensor& pixels) {
    TORCH_CHECK(pixels.dim() == 4 && pixels.scalar_type() == at::kByte && pixels.is_cpu(),
                "pixels must be [F, H, W, C] uint8 on the host, got ", pixels.sizes(), " ", pixels.scalar_type(),
                " on ", pixels.device());
    const at::Tensor p = pixels.contiguous();
    std::vector<Image> frames(static_cast<size_t>(p.size(0)));
    const size_t frame_bytes = static_cast<size_t>(p.size(1) * p.size(2) * p.size(3));
    for (size_t f = 0; f < frames.size(); ++f) {
        Image& img = frames[f];
        img.height = static_cast<int>(p.size(1));
        img.width = static_cast<int>(p.size(2));
        img.channels = static_cast<int>(p.size(3));
        img.pixels.resize(frame_bytes);
        std::memcpy(img.pixels.data(), p.data_ptr<uint8_t>() + f * frame_bytes, frame_bytes);
    }
    return frames;
}

StepHooks make_step_hooks(runtime::JobContext& ctx, PreviewRenderer render, JobStage stage) {
    StepHooks hooks;
    runtime::JobContext* c = &ctx;
    const bool previews = static_cast<bool>(render);
    auto reporter = std::make_shared<JobStepReporter>(ctx, std::move(render), stage);
    hooks.check_cancel = [c] { c->check_cancel(); };
    hooks.on_step = [reporter](int step, int num_steps, const at::Tensor& latents) {
        reporter->step_issued(step, num_steps, latents);
    };
    if (previews) {
        hooks.maybe_preview = [reporter](int step, int num_steps, const at::Tensor& latents,
                                         const at::Tensor& denoised) {
            reporter->offer_preview(step, num_steps, latents, denoised);
        };
    }
    return hooks;
}

}  // namespace engine::schedulers
