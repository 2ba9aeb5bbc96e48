// What a running pipeline sees of the engine: cancellation, progress and (throttled) previews.
// Torch-free, so pipelines, samplers and tests share it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "runtime/cancel_token.h"

namespace engine::runtime {

class JobContext {
public:
    using Clock = std::chrono::steady_clock;

    JobContext(JobId job, std::shared_ptr<const CancelToken> cancel, const Callbacks* callbacks,
               PreviewOptions preview, std::function<void()> on_check_point = {});

    JobId job() const noexcept { return job_; }

    /// Throws JobCancelled if the job was cancelled. Call at least once per denoising step.
    void check_cancel() const;
    /// True once cancel was requested (for loops that must clean up before throwing).
    bool cancel_requested() const noexcept { return cancel_->requested(); }

    /// Reports progress (also a check point: it checks cancellation first).
    void report_progress(JobStage stage, int step, int num_steps);

    /// True when a preview for this step would be delivered (enabled, every-n, min interval; the last
    /// step always qualifies). Lets the pipeline skip computing previews nobody will see.
    bool wants_preview(int step, int num_steps) const;
    /// Delivers a preview (frames: one image, or one per video frame).
    void report_preview(int step, int num_steps, std::vector<Image> frames);

    /// Seconds since the context was made (job start).
    double elapsed_s() const;

private:
    JobId job_;
    std::shared_ptr<const CancelToken> cancel_;
    const Callbacks* callbacks_;
    PreviewOptions preview_;
    std::function<void()> on_check_point_;
    Clock::time_point start_;
    Clock::time_point last_preview_;
    bool has_previewed_ = false;
};

}  // namespace engine::runtime
