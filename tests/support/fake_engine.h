// FakeEngine: a scripted engine::Engine for UI tests and the screenshot tour. It runs jobs on its own
// worker thread, exactly like the real engine, and plays back a script of events per job (progress,
// previews, then finish or failure), honouring cancel() between events. No model is loaded.
//
//     std::unique_ptr<FakeEngine> made;
//     FakeEngine* fake = nullptr;
//     ui::EngineBridge bridge([&](engine::Callbacks cb) -> engine::Expected<std::unique_ptr<engine::Engine>> {
//         auto f = std::make_unique<testsupport::FakeEngine>(std::move(cb));
//         fake = f.get();
//         return std::unique_ptr<engine::Engine>(std::move(f));
//     });
//     fake->set_script([](engine::JobId, const engine::GenerationRequest&) { return ...events...; });
//
// Thread safety: every Engine method may be called from any thread; callbacks run on the fake's worker.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <engine/engine.h>

namespace testsupport {

/// One scripted event of a job.
struct FakeEvent {
    enum class Kind { Progress, Preview, Finish, Fail };
    Kind kind = Kind::Progress;
    int delay_ms = 0;  // sleep before delivering it
    engine::JobStage stage = engine::JobStage::None;
    int step = 0;
    int num_steps = 0;
    double elapsed_s = 0.0;
    std::vector<engine::Image> frames;  // Preview
    engine::JobResult result;           // Finish (job id is filled in)
    engine::Error error;                // Fail

    static FakeEvent progress(engine::JobStage stage, int step, int num_steps, double elapsed_s, int delay_ms = 0) {
        FakeEvent e;
        e.kind = Kind::Progress;
        e.stage = stage;
        e.step = step;
        e.num_steps = num_steps;
        e.elapsed_s = elapsed_s;
        e.delay_ms = delay_ms;
        return e;
    }
    static FakeEvent preview(int step, int num_steps, std::vector<engine::Image> frames, int delay_ms = 0) {
        FakeEvent e;
        e.kind = Kind::Preview;
        e.step = step;
        e.num_steps = num_steps;
        e.frames = std::move(frames);
        e.delay_ms = delay_ms;
        return e;
    }
    static FakeEvent finish(engine::JobResult result, int delay_ms = 0) {
        FakeEvent e;
        e.kind = Kind::Finish;
        e.result = std::move(result);
        e.delay_ms = delay_ms;
        return e;
    }
    static FakeEvent fail(engine::ErrorCode code, std::string message, int delay_ms = 0) {
        FakeEvent e;
        e.kind = Kind::Fail;
        e.error = engine::Error{code, std::move(message)};
        e.delay_ms = delay_ms;
        return e;
    }
};

/// A procedural picture standing in for a generated one: sky, sun, hills. `phase` moves the sun (video
/// frames); `clarity` in [0, 1] blends from seeded noise to the picture (previews along the denoising).
inline engine::Image make_test_picture(int width, int height, std::uint64_t seed, double phase = 0.0,
                                       double clarity = 1.0) {
    engine::Image img;
    img.width = std::max(1, width);
    img.height = std::max(1, height);
    img.channels = 3;
    img.pixels.resize(img.stride() * static_cast<size_t>(img.height));
    const double hue = static_cast<double>((seed * 137) % 360) / 360.0;  // varies the palette per seed
    std::uint64_t rng = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    auto noise = [&rng]() {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>((rng >> 33) & 0xFFFF) / 65535.0;
    };
    const double sun_x = 0.2 + 0.6 * std::fmod(phase + static_cast<double>((seed * 7919) % 100) / 100.0 * 0.6, 1.0);
    const double sun_y = 0.38 - 0.1 * std::sin(phase * 3.14159) - 0.08 * static_cast<double>(seed % 3);
    for (int y = 0; y < img.height; ++y) {
        const double v = static_cast<double>(y) / img.height;
        for (int x = 0; x < img.width; ++x) {
            const double u = static_cast<double>(x) / img.width;
            // sky: warm horizon to deep top, tinted by the seed's hue
            double r = 0.95 - 0.7 * (1.0 - v) + 0.15 * std::sin(6.283 * hue);
            double g = 0.55 - 0.35 * (1.0 - v) + 0.1 * std::sin(6.283 * (hue + 0.33));
            double b = 0.35 + 0.45 * (1.0 - v) + 0.1 * std::sin(6.283 * (hue + 0.66));
            const double aspect = static_cast<double>(img.width) / img.height;
            const double d = std::hypot((u - sun_x) * aspect, v - sun_y);
            if (d < 0.09) {
                r = 1.0;
                g = 0.9;
                b = 0.6;
            } else if (d < 0.2) {
                const double glow = (0.2 - d) / 0.11 * 0.35;
                r += glow;
                g += glow * 0.8;
                b += glow * 0.4;
            }
            const double hill1 = 0.62 + 0.07 * std::sin(u * 7.0 + hue * 6.0) + 0.03 * std::sin(u * 23.0);
            const double hill2 = 0.76 + 0.05 * std::sin(u * 5.0 + 2.0 + hue * 3.0) + 0.02 * std::sin(u * 31.0);
            if (v > hill2) {
                r = 0.10 + 0.05 * v;
                g = 0.16 + 0.06 * v;
                b = 0.18;
            } else if (v > hill1) {
                r = 0.28 + 0.1 * std::sin(hue * 6.283);
                g = 0.22;
                b = 0.34;
            }
            double px[3] = {r, g, b};
            // Early previews are mostly noise; the picture emerges along the steps.
            const double w = std::sqrt(clarity);
            for (int c = 0; c < 3; ++c) {
                const double n = noise();
                const double value = w * px[c] + (1.0 - w) * n;
                img.pixels[static_cast<size_t>(y) * img.stride() + static_cast<size_t>(x) * 3 +
                           static_cast<size_t>(c)] =
                    static_cast<std::uint8_t>(std::clamp(value, 0.0, 1.0) * 255.0 + 0.5);
            }
        }
    }
    return img;
}

class FakeEngine final : public engine::Engine {
public:
    using Script = std::vector<FakeEvent>;
    using ScriptFn = std::function<Script(engine::JobId, const engine::GenerationRequest&)>;

    explicit FakeEngine(engine::Callbacks callbacks, ScriptFn script = nullptr)
        : callbacks_(std::move(callbacks)), script_(script ? std::move(script) : default_script(1)) {
        worker_ = std::thread([this] { run(); });
    }

    ~FakeEngine() override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
            held_ = false;
            cancel_queued_locked();
            if (running_ != 0) {
                cancel_running_ = true;
            }
        }
        cv_.notify_all();
        worker_.join();
    }

    FakeEngine(const FakeEngine&) = delete;
    FakeEngine& operator=(const FakeEngine&) = delete;

    /// Replaces the script for jobs that start from now on.
    void set_script(ScriptFn script) {
        std::lock_guard<std::mutex> lock(mutex_);
        script_ = std::move(script);
    }
    /// Pauses the worker before its next event (a running job stays Running; queued ones stay Queued).
    void hold() {
        std::lock_guard<std::mutex> lock(mutex_);
        held_ = true;
    }
    /// Lets the worker go on.
    void release() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            held_ = false;
        }
        cv_.notify_all();
    }
    /// Blocks the calling thread until no job is queued or running (or timeout); true when idle.
    bool wait_idle(int timeout_ms = 5000) {
        std::unique_lock<std::mutex> lock(mutex_);
        return idle_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return idle_; });
    }
    /// Every request submitted so far, in order.
    std::vector<engine::GenerationRequest> requests() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return requests_;
    }

    engine::Expected<engine::JobId> submit(engine::GenerationRequest request) noexcept override {
        if (auto ok = engine::validate_request(request); !ok) {
            return engine::Unexpected{ok.error()};
        }
        engine::JobId id = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            id = next_id_++;
            requests_.push_back(request);
            idle_ = false;
            queue_.push_back(Job{id, std::move(request)});
        }
        cv_.notify_all();
        return id;
    }

    bool cancel(engine::JobId job) noexcept override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (running_ == job) {
                cancel_running_ = true;
            } else {
                // Like the real engine: a queued job leaves the queue at once; its Cancelled event comes
                // from the worker at its next check point (at once when idle).
                auto it = std::find_if(queue_.begin(), queue_.end(), [job](const Job& j) { return j.id == job; });
                if (it == queue_.end()) {
                    return false;
                }
                cancelled_pending_.push_back(job);
                queue_.erase(it);
            }
        }
        cv_.notify_all();
        return true;
    }

    void cancel_all() noexcept override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            cancel_queued_locked();
            if (running_ != 0) {
                cancel_running_ = true;
            }
        }
        cv_.notify_all();
    }

    engine::JobStatus status(engine::JobId job) const noexcept override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (running_ == job) {
            return engine::JobStatus::Running;
        }
        for (const auto& j : queue_) {
            if (j.id == job) {
                return engine::JobStatus::Queued;
            }
        }
        return engine::JobStatus::None;
    }

    std::size_t num_pending() const noexcept override {
        std::lock_guard<std::mutex> lock(mutex_);
        return queue_.size() + (running_ != 0 ? 1 : 0);
    }

    std::string device_description() const override { return "fake"; }

    /// The usual life of a job: load, encode, `steps` denoising steps with a preview each, decode, finish
    /// with a test picture (or frames) of the requested size. step_delay_ms paces the denoising steps.
    static ScriptFn default_script(int step_delay_ms) {
        return [step_delay_ms](engine::JobId, const engine::GenerationRequest& request) {
            return job_script(request, step_delay_ms);
        };
    }

    static Script job_script(const engine::GenerationRequest& request, int step_delay_ms) {
        const auto& common = std::visit([](const auto& r) -> const engine::RequestCommon& { return r; }, request);
        const engine::TaskKind task = engine::task_of(request);
        int width = 64, height = 64, frames = 0;
        double fps = 8.0;
        if (const auto* t2i = std::get_if<engine::TextToImageRequest>(&request)) {
            width = t2i->width_px > 0 ? t2i->width_px : 1024;
            height = t2i->height_px > 0 ? t2i->height_px : 1024;
        } else {
            const auto& v = std::visit(
                [](const auto& r) -> const engine::TextToVideoRequest* {
                    if constexpr (std::is_base_of_v<engine::TextToVideoRequest, std::decay_t<decltype(r)>>) {
                        return &r;
                    } else {
                        return nullptr;
                    }
                },
                request);
            width = v && v->width_px > 0 ? v->width_px : 512;
            height = v && v->height_px > 0 ? v->height_px : 320;
            frames = v && v->num_frames > 0 ? v->num_frames : 16;
            fps = v && !std::isnan(v->fps) ? v->fps : 8.0;
        }
        const int steps = common.num_inference_steps > 0 ? common.num_inference_steps : 4;
        const double step_s = step_delay_ms / 1000.0;
        Script s;
        s.push_back(FakeEvent::progress(engine::JobStage::LoadingModel, 0, 1, 0.0));
        s.push_back(FakeEvent::progress(engine::JobStage::LoadingModel, 1, 1, 0.0));
        s.push_back(FakeEvent::progress(engine::JobStage::EncodingPrompt, 1, 1, 0.0));
        // Previews are latent-sized: 1/32 of the picture for Sana's DC-AE, 1/8 for the video VAE.
        const int down = frames > 0 ? 8 : 32;
        for (int i = 1; i <= steps; ++i) {
            s.push_back(FakeEvent::progress(engine::JobStage::Denoising, i, steps, i * step_s, step_delay_ms));
            if (common.preview.enabled) {
                std::vector<engine::Image> pv;
                const double clarity = static_cast<double>(i) / steps;
                const int n = frames > 0 ? frames : 1;
                for (int f = 0; f < n; ++f) {
                    pv.push_back(make_test_picture(std::max(8, width / down), std::max(8, height / down), common.seed,
                                                   n > 1 ? static_cast<double>(f) / (n - 1) : 0.0, clarity));
                }
                s.push_back(FakeEvent::preview(i, steps, std::move(pv)));
            }
        }
        s.push_back(FakeEvent::progress(engine::JobStage::Decoding, 1, 1, steps * step_s));
        engine::JobResult r;
        r.task = task;
        r.seed = common.seed;
        r.duration_s = steps * step_s;
        if (frames > 0) {
            r.video.fps = fps;
            for (int f = 0; f < frames; ++f) {
                r.video.frames.push_back(make_test_picture(width, height, common.seed,
                                                           frames > 1 ? static_cast<double>(f) / (frames - 1) : 0.0));
            }
        } else {
            r.image = make_test_picture(width, height, common.seed);
        }
        r.parameters = {{"prompt", common.prompt},
                        {"negative_prompt", common.negative_prompt},
                        {"steps", std::to_string(steps)},
                        {"seed", std::to_string(common.seed)},
                        {"size", std::to_string(width) + "x" + std::to_string(height)}};
        if (frames > 0) {
            r.parameters.emplace_back("num_frames", std::to_string(frames));
        }
        s.push_back(FakeEvent::finish(std::move(r)));
        return s;
    }

private:
    struct Job {
        engine::JobId id = 0;
        engine::GenerationRequest request;
    };

    void cancel_queued_locked() {
        for (const Job& j : queue_) {
            cancelled_pending_.push_back(j.id);
        }
        queue_.clear();
    }

    // Sends the Cancelled events of jobs removed from the queue.
    void deliver_cancelled() {
        std::vector<engine::JobId> ids;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ids.swap(cancelled_pending_);
        }
        for (engine::JobId id : ids) {
            emit_status(id, engine::JobStatus::Cancelled);
        }
    }

    void run() {
        for (;;) {
            Job job;
            ScriptFn script;
            bool have_job = false;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                cv_.wait(lock, [this] { return stop_ || !cancelled_pending_.empty() || (!queue_.empty() && !held_); });
                if (!queue_.empty() && !held_ && !stop_) {
                    job = std::move(queue_.front());
                    queue_.pop_front();
                    running_ = job.id;
                    cancel_running_ = false;
                    script = script_;
                    have_job = true;
                }
            }
            deliver_cancelled();
            if (!have_job) {
                notify_if_idle();
                std::lock_guard<std::mutex> lock(mutex_);
                if (stop_ && queue_.empty() && cancelled_pending_.empty()) {
                    return;
                }
                continue;
            }
            emit_status(job.id, engine::JobStatus::Running);
            play(job, script ? script(job.id, job.request) : Script{});
            {
                std::lock_guard<std::mutex> lock(mutex_);
                running_ = 0;
                cancel_running_ = false;
            }
            notify_if_idle();
        }
    }

    void play(const Job& job, Script script) {
        for (FakeEvent& e : script) {
            if (e.delay_ms > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(e.delay_ms));
            }
            {
                std::unique_lock<std::mutex> lock(mutex_);
                cv_.wait(lock, [this] { return !held_ || cancel_running_ || stop_; });
                if (cancel_running_ || stop_) {
                    lock.unlock();
                    deliver_cancelled();
                    emit_status(job.id, engine::JobStatus::Cancelled);
                    return;
                }
            }
            deliver_cancelled();
            switch (e.kind) {
                case FakeEvent::Kind::Progress:
                    if (callbacks_.on_progress) {
                        callbacks_.on_progress(
                            engine::ProgressEvent{job.id, e.stage, e.step, e.num_steps, e.elapsed_s});
                    }
                    break;
                case FakeEvent::Kind::Preview:
                    if (callbacks_.on_preview) {
                        callbacks_.on_preview(engine::PreviewEvent{job.id, e.step, e.num_steps, std::move(e.frames)});
                    }
                    break;
                case FakeEvent::Kind::Finish: {
                    emit_status(job.id, engine::JobStatus::Finished);
                    e.result.job = job.id;
                    if (callbacks_.on_finished) {
                        callbacks_.on_finished(std::make_shared<const engine::JobResult>(std::move(e.result)));
                    }
                    return;
                }
                case FakeEvent::Kind::Fail:
                    emit_status(job.id, engine::JobStatus::Failed);
                    if (callbacks_.on_failed) {
                        callbacks_.on_failed(job.id, e.error);
                    }
                    return;
            }
        }
        // A script without an ending fails the job, like an engine bug would.
        emit_status(job.id, engine::JobStatus::Failed);
        if (callbacks_.on_failed) {
            callbacks_.on_failed(job.id, engine::Error{engine::ErrorCode::Internal, "fake script ended early"});
        }
    }

    void emit_status(engine::JobId id, engine::JobStatus status) {
        if (callbacks_.on_status) {
            callbacks_.on_status(id, status);
        }
    }

    void notify_if_idle() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (queue_.empty() && running_ == 0 && cancelled_pending_.empty()) {
            idle_ = true;
            idle_cv_.notify_all();
        }
    }

    engine::Callbacks callbacks_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::condition_variable idle_cv_;
    std::deque<Job> queue_;
    std::vector<engine::GenerationRequest> requests_;
    std::vector<engine::JobId> cancelled_pending_;
    ScriptFn script_;
    engine::JobId next_id_ = 1;
    engine::JobId running_ = 0;
    bool cancel_running_ = false;
    bool held_ = false;
    bool idle_ = true;  // nothing queued, running or left to report
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace testsupport
