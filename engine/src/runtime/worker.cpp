#include "runtime/worker.h"

#include <c10/util/Exception.h>

#include <new>
#include <string>
#include <utility>

#include "core/engine_error.h"
#include "core/log.h"

namespace engine::runtime {
namespace {

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

Error out_of_memory_error(const std::string& detail) {
    return Error{ErrorCode::OutOfMemory,
                 "Out of memory: " + detail +
                     "\nTry a smaller image or video size, fewer frames, or the 'Low memory' mode in Settings."};
}

}  // namespace

Error error_from_current_exception() noexcept {
    try {
        throw;
    } catch (const core::EngineError& e) {
        return e.to_error();
    } catch (const c10::Error& e) {
        std::string msg = e.what_without_backtrace();
        if (contains(msg, "out of memory") || contains(msg, "Out of memory") || contains(msg, "OutOfMemory")) {
            return out_of_memory_error(msg);
        }
        return Error{ErrorCode::Internal, "LibTorch error: " + msg};
    } catch (const std::bad_alloc&) {
        return out_of_memory_error("a host memory allocation failed");
    } catch (const std::exception& e) {
        return Error{ErrorCode::Internal, std::string("Internal error: ") + e.what()};
    } catch (...) {
        return Error{ErrorCode::Internal, "Internal error: unknown exception"};
    }
}

Worker::Worker(std::unique_ptr<PipelineRunner> runner, Callbacks callbacks, std::function<void()> thread_init)
    : runner_(std::move(runner)),
      callbacks_(std::move(callbacks)),
      thread_init_(std::move(thread_init)),
      thread_([this] { run_loop(); }) {}

Worker::~Worker() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        for (Job& job : queue_) {
            job.cancel->request();
        }
        if (running_cancel_) {
            running_cancel_->request();
        }
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

JobId Worker::submit(GenerationRequest request) {
    JobId id = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        id = next_id_++;
        queue_.push_back(Job{id, std::move(request), std::make_shared<CancelToken>()});
        statuses_[id] = JobStatus::Queued;
    }
    cv_.notify_one();
    return id;
}

bool Worker::cancel(JobId job) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (job == running_id_ && running_cancel_) {
        running_cancel_->request();
        return true;
    }
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->id == job) {
            queue_.erase(it);
            statuses_[job] = JobStatus::Cancelled;
            cancelled_while_queued_.push_back(job);
            cv_.notify_one();  // an idle worker delivers the event at once
            return true;
        }
    }
    return false;
}

void Worker::cancel_all() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Job& job : queue_) {
        statuses_[job.id] = JobStatus::Cancelled;
        cancelled_while_queued_.push_back(job.id);
    }
    queue_.clear();
    if (running_cancel_) {
        running_cancel_->request();
    }
    cv_.notify_one();
}

JobStatus Worker::status(JobId job) const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = statuses_.find(job);
    return it == statuses_.end() ? JobStatus::None : it->second;
}

std::size_t Worker::num_pending() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size() + (running_id_ != 0 ? 1 : 0);
}

void Worker::set_status(JobId id, JobStatus status) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        statuses_[id] = status;
        const bool terminal =
            status == JobStatus::Finished || status == JobStatus::Failed || status == JobStatus::Cancelled;
        if (terminal && id == running_id_) {
            // Not pending any more once its final event goes out.
            running_id_ = 0;
            running_cancel_.reset();
        }
    }
    if (callbacks_.on_status) {
        try {
            callbacks_.on_status(id, status);
        } catch (...) {
            LOG_ERROR("on_status callback threw");
        }
    }
}

void Worker::flush_cancelled_notifications() {
    std::vector<JobId> ids;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ids.swap(cancelled_while_queued_);
    }
    if (callbacks_.on_status) {
        for (JobId id : ids) {
            callbacks_.on_status(id, JobStatus::Cancelled);
        }
    }
}

void Worker::run_loop() {
    if (thread_init_) {
        try {
            thread_init_();
        } catch (...) {
            Error e = error_from_current_exception();
            LOG_ERROR("worker thread init failed: %s", e.message.c_str());
        }
    }
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [this] { return stop_ || !queue_.empty() || !cancelled_while_queued_.empty(); });
            if (stop_) {
                break;
            }
            if (queue_.empty()) {
                lock.unlock();
                flush_cancelled_notifications();
                continue;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
            running_id_ = job.id;
            running_cancel_ = job.cancel;
        }
        flush_cancelled_notifications();
        run_job(job);  // ends with a terminal set_status(), which clears running_id_
    }
    flush_cancelled_notifications();
}

void Worker::run_job(Job& job) {
    set_status(job.id, JobStatus::Running);
    const PreviewOptions preview = std::visit([](const auto& r) { return r.preview; }, job.request);
    JobContext ctx(job.id, job.cancel, &callbacks_, preview, [this] { flush_cancelled_notifications(); });
    JobResult result;
    try {
        ctx.check_cancel();
        result = runner_->run(job.request, ctx);
    } catch (const JobCancelled&) {
        LOG_INFO("job %llu cancelled", static_cast<unsigned long long>(job.id));
        set_status(job.id, JobStatus::Cancelled);
        return;
    } catch (...) {
        Error error = error_from_current_exception();
        LOG_ERROR("job %llu failed: %s", static_cast<unsigned long long>(job.id), error.message.c_str());
        set_status(job.id, JobStatus::Failed);
        if (callbacks_.on_failed) {
            try {
                callbacks_.on_failed(job.id, error);
            } catch (...) {
                LOG_ERROR("on_failed callback threw");
            }
        }
        return;
    }
    result.job = job.id;
    if (result.duration_s <= 0.0) {
        result.duration_s = ctx.elapsed_s();
    }
    set_status(job.id, JobStatus::Finished);
    if (callbacks_.on_finished) {
        try {
            callbacks_.on_finished(std::make_shared<const JobResult>(std::move(result)));
        } catch (...) {
            LOG_ERROR("on_finished callback threw");
        }
    }
}

}  // namespace engine::runtime
