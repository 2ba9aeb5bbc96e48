#include "runtime/job_context.h"

#include <utility>

namespace engine::runtime {

JobContext::JobContext(JobId job, std::shared_ptr<const CancelToken> cancel, const Callbacks* callbacks,
                       PreviewOptions preview, std::function<void()> on_check_point)
    : job_(job),
      cancel_(std::move(cancel)),
      callbacks_(callbacks),
      preview_(preview),
      on_check_point_(std::move(on_check_point)),
      start_(Clock::now()),
      last_preview_(start_) {}

void JobContext::check_cancel() const {
    if (on_check_point_) {
        on_check_point_();
    }
    cancel_->throw_if_requested();
}

void JobContext::report_progress(JobStage stage, int step, int num_steps) {
    check_cancel();
    if (callbacks_ && callbacks_->on_progress) {
        ProgressEvent e;
        e.job = job_;
        e.stage = stage;
        e.step = step;
        e.num_steps = num_steps;
        e.elapsed_s = elapsed_s();
        callbacks_->on_progress(e);
    }
}

bool JobContext::wants_preview(int step, int num_steps) const {
    if (!preview_.enabled || !callbacks_ || !callbacks_->on_preview) {
        return false;
    }
    if (step >= num_steps) {
        return true;  // the final state is always shown
    }
    int every = preview_.every_n_steps > 0 ? preview_.every_n_steps : 1;
    if (step % every != 0) {
        return false;
    }
    if (has_previewed_) {
        auto since = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_preview_);
        if (since.count() < preview_.min_interval_ms) {
            return false;
        }
    }
    return true;
}

void JobContext::report_preview(int step, int num_steps, std::vector<Image> frames) {
    if (!callbacks_ || !callbacks_->on_preview) {
        return;
    }
    PreviewEvent e;
    e.job = job_;
    e.step = step;
    e.num_steps = num_steps;
    e.frames = std::move(frames);
    last_preview_ = Clock::now();
    has_previewed_ = true;
    callbacks_->on_preview(e);
}

double JobContext::elapsed_s() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
}

}  // namespace engine::runtime
