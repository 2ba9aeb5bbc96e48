// Cooperative cancellation: the UI thread sets the flag, the worker polls it at every step.
#pragma once

#include <atomic>
#include <exception>

namespace engine::runtime {

/// Thrown by check points when the job was cancelled; the worker turns it into JobStatus::Cancelled.
struct JobCancelled : std::exception {
    const char* what() const noexcept override { return "job cancelled"; }
};

class CancelToken {
public:
    void request() noexcept { flag_.store(true, std::memory_order_release); }
    bool requested() const noexcept { return flag_.load(std::memory_order_acquire); }
    void throw_if_requested() const {
        if (requested()) {
            throw JobCancelled{};
        }
    }

private:
    static_assert(std::atomic<bool>::is_always_lock_free, "cancel flag must be lock-free");
    std::atomic<bool> flag_{false};
};

}  // namespace engine::runtime
