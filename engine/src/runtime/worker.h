// The engine's single worker thread and its job queue (the Mandelbrot/sd-server pattern): submit,
// cancel and status never block on a running job; jobs run in submission order; every exception a
// job throws ends at this boundary as a Failed event, and the worker keeps serving.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "runtime/cancel_token.h"
#include "runtime/job_context.h"

namespace engine::runtime {

/// Runs one request to completion on the worker thread. Throws on failure (JobCancelled when
/// cancelled); any exception type is allowed.
class PipelineRunner {
public:
    virtual ~PipelineRunner() = default;
    virtual JobResult run(const GenerationRequest& request, JobContext& ctx) = 0;
};

/// Maps an exception caught at the job boundary to an engine::Error (OOM, classified, internal).
Error error_from_current_exception() noexcept;

class Worker {
public:
    /// thread_init runs once on the worker thread before the first job (set thread-local state).
    Worker(std::unique_ptr<PipelineRunner> runner, Callbacks callbacks, std::function<void()> thread_init = {});
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    JobId submit(GenerationRequest request);
    bool cancel(JobId job) noexcept;
    void cancel_all() noexcept;
    JobStatus status(JobId job) const noexcept;
    std::size_t num_pending() const noexcept;

private:
    struct Job {
        JobId id = 0;
        GenerationRequest request;
        std::shared_ptr<CancelToken> cancel;
    };

    void run_loop();
    void run_job(Job& job);
    void set_status(JobId id, JobStatus status);
    void flush_cancelled_notifications();

    std::unique_ptr<PipelineRunner> runner_;
    Callbacks callbacks_;
    std::function<void()> thread_init_;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    std::unordered_map<JobId, JobStatus> statuses_;
    std::vector<JobId> cancelled_while_queued_;  // Cancelled events still to deliver (on the worker thread)
    JobId running_id_ = 0;
    std::shared_ptr<CancelToken> running_cancel_;
    JobId next_id_ = 1;
    bool stop_ = false;
    std::thread thread_;  // last: starts after everything above exists
};

}  // namespace engine::runtime
