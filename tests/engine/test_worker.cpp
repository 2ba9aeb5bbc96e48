// The worker thread and job queue, driven by a scripted fake pipeline (no models).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/engine_error.h"
#include "runtime/worker.h"

using namespace std::chrono_literals;
using engine::JobId;
using engine::JobStatus;

namespace {

// A pipeline that "denoises" for the request's num_inference_steps, sleeping step_ms each step, and
// fails on demand: prompt "throw" → std::runtime_error, "classified" → EngineError(InvalidRequest).
class FakePipeline final : public engine::runtime::PipelineRunner {
public:
    explicit FakePipeline(std::chrono::milliseconds step) : step_(step) {}

    engine::JobResult run(const engine::GenerationRequest& request, engine::runtime::JobContext& ctx) override {
        const auto& r = std::get<engine::TextToImageRequest>(request);
        {
            std::lock_guard<std::mutex> lock(mutex);
            started.push_back(ctx.job());
        }
        if (r.prompt == "throw") throw std::runtime_error("boom in the fake pipeline");
        if (r.prompt == "classified") throw engine::core::EngineError(engine::ErrorCode::InvalidRequest, "bad size");
        if (r.prompt == "bad_alloc") throw std::bad_alloc();
        for (int i = 0; i < r.num_inference_steps; ++i) {
            ctx.check_cancel();
            std::this_thread::sleep_for(step_);
            steps_run.fetch_add(1);
            ctx.report_progress(engine::JobStage::Denoising, i + 1, r.num_inference_steps);
            if (ctx.wants_preview(i + 1, r.num_inference_steps)) {
                ctx.report_preview(i + 1, r.num_inference_steps, {engine::Image{1, 1, 3, {1, 2, 3}}});
            }
        }
        engine::JobResult result;
        result.task = engine::TaskKind::TextToImage;
        result.image = engine::Image{2, 1, 3, {0, 0, 0, 255, 255, 255}};
        result.seed = r.seed;
        return result;
    }

    std::mutex mutex;
    std::vector<JobId> started;
    std::atomic<int> steps_run{0};

private:
    std::chrono::milliseconds step_;
};

// Records every event; lets a test wait for a condition.
struct Recorder {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::pair<JobId, JobStatus>> statuses;
    std::vector<JobId> finished;
    std::vector<std::pair<JobId, engine::Error>> failed;
    std::vector<engine::ProgressEvent> progress;
    int previews = 0;
    std::thread::id callback_thread;

    engine::Callbacks callbacks() {
        engine::Callbacks cb;
        cb.on_status = [this](JobId id, JobStatus s) {
            std::lock_guard<std::mutex> lock(mutex);
            callback_thread = std::this_thread::get_id();
            statuses.emplace_back(id, s);
            cv.notify_all();
        };
        cb.on_progress = [this](const engine::ProgressEvent& e) {
            std::lock_guard<std::mutex> lock(mutex);
            progress.push_back(e);
        };
        cb.on_preview = [this](const engine::PreviewEvent&) {
            std::lock_guard<std::mutex> lock(mutex);
            ++previews;
        };
        cb.on_finished = [this](std::shared_ptr<const engine::JobResult> r) {
            std::lock_guard<std::mutex> lock(mutex);
            finished.push_back(r->job);
            cv.notify_all();
        };
        cb.on_failed = [this](JobId id, const engine::Error& e) {
            std::lock_guard<std::mutex> lock(mutex);
            failed.emplace_back(id, e);
            cv.notify_all();
        };
        return cb;
    }

    // Waits until the job's last event arrived (the payload of Finished/Failed, or Cancelled).
    bool wait_terminal(JobId id, std::chrono::milliseconds timeout = 10s) {
        std::unique_lock<std::mutex> lock(mutex);
        return cv.wait_for(lock, timeout, [&] {
            for (JobId j : finished) {
                if (j == id) return true;
            }
            for (auto& f : failed) {
                if (f.first == id) return true;
            }
            for (auto& [j, s] : statuses) {
                if (j == id && s == JobStatus::Cancelled) return true;
            }
            return false;
        });
    }

    JobStatus last_status(JobId id) {
        std::lock_guard<std::mutex> lock(mutex);
        JobStatus last = JobStatus::None;
        for (auto& [j, s] : statuses) {
            if (j == id) last = s;
        }
        return last;
    }
};

engine::TextToImageRequest request(const std::string& prompt, int steps) {
    engine::TextToImageRequest r;
    r.model_path = "fake";
    r.prompt = prompt;
    r.num_inference_steps = steps;
    r.preview.min_interval_ms = 0;
    return r;
}

}  // namespace

TEST_CASE("worker: jobs run in submission order and finish", "[runtime]") {
    Recorder rec;
    auto* fake = new FakePipeline(1ms);
    engine::runtime::Worker worker(std::unique_ptr<engine::runtime::PipelineRunner>(fake), rec.callbacks());
    std::vector<JobId> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(worker.submit(request("p" + std::to_string(i), 3)));
    REQUIRE(rec.wait_terminal(ids.back()));
    for (JobId id : ids) REQUIRE(rec.wait_terminal(id));
    std::lock_guard<std::mutex> lock(fake->mutex);
    CHECK(fake->started == ids);
    CHECK(rec.finished == ids);
    CHECK(worker.num_pending() == 0);
    for (JobId id : ids) CHECK(worker.status(id) == JobStatus::Finished);
    CHECK(rec.callback_thread != std::this_thread::get_id());
}

TEST_CASE("worker: ids are unique and unknown ids have no status", "[runtime]") {
    Recorder rec;
    engine::runtime::Worker worker(std::make_unique<FakePipeline>(0ms), rec.callbacks());
    JobId a = worker.submit(request("a", 1));
    JobId b = worker.submit(request("b", 1));
    CHECK(a != 0);
    CHECK(b != a);
    CHECK(worker.status(9999) == JobStatus::None);
    CHECK_FALSE(worker.cancel(9999));
    REQUIRE(rec.wait_terminal(b));
}

TEST_CASE("worker: cancel mid-job stops within one step", "[runtime]") {
    Recorder rec;
    auto* fake = new FakePipeline(20ms);
    engine::runtime::Worker worker(std::unique_ptr<engine::runtime::PipelineRunner>(fake), rec.callbacks());
    JobId id = worker.submit(request("long", 1000));
    // wait until a few steps ran
    for (int i = 0; i < 500 && fake->steps_run.load() < 3; ++i) std::this_thread::sleep_for(2ms);
    REQUIRE(fake->steps_run.load() >= 3);
    const int at_cancel = fake->steps_run.load();
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(worker.cancel(id));
    REQUIRE(rec.wait_terminal(id));
    const auto dt = std::chrono::steady_clock::now() - t0;
    CHECK(rec.last_status(id) == JobStatus::Cancelled);
    CHECK(worker.status(id) == JobStatus::Cancelled);
    // at most the step in flight completes after the request
    CHECK(fake->steps_run.load() - at_cancel <= 1);
    CHECK(dt < 500ms);
    CHECK(rec.failed.empty());
    CHECK(rec.finished.empty());
}

TEST_CASE("worker: an exception inside a job becomes a failed event and the worker keeps serving", "[runtime]") {
    Recorder rec;
    engine::runtime::Worker worker(std::make_unique<FakePipeline>(0ms), rec.callbacks());
    JobId bad = worker.submit(request("throw", 2));
    JobId classified = worker.submit(request("classified", 2));
    JobId oom = worker.submit(request("bad_alloc", 2));
    JobId good = worker.submit(request("fine", 2));
    REQUIRE(rec.wait_terminal(good));
    REQUIRE(rec.failed.size() == 3);
    CHECK(rec.failed[0].first == bad);
    CHECK(rec.failed[0].second.code == engine::ErrorCode::Internal);
    CHECK(rec.failed[0].second.message.find("boom in the fake pipeline") != std::string::npos);
    CHECK(rec.failed[1].first == classified);
    CHECK(rec.failed[1].second.code == engine::ErrorCode::InvalidRequest);
    CHECK(rec.failed[1].second.message == "bad size");
    CHECK(rec.failed[2].first == oom);
    CHECK(rec.failed[2].second.code == engine::ErrorCode::OutOfMemory);
    CHECK(rec.failed[2].second.message.find("smaller") != std::string::npos);
    CHECK(worker.status(good) == JobStatus::Finished);
    CHECK(rec.finished == std::vector<JobId>{good});
}

TEST_CASE("worker: cancelling a queued job removes it and reports Cancelled without running it", "[runtime]") {
    Recorder rec;
    auto* fake = new FakePipeline(10ms);
    engine::runtime::Worker worker(std::unique_ptr<engine::runtime::PipelineRunner>(fake), rec.callbacks());
    JobId running = worker.submit(request("first", 20));
    JobId queued = worker.submit(request("second", 20));
    JobId after = worker.submit(request("third", 1));
    for (int i = 0; i < 500 && fake->steps_run.load() < 1; ++i) std::this_thread::sleep_for(2ms);
    REQUIRE(worker.status(running) == JobStatus::Running);
    REQUIRE(worker.cancel(queued));
    CHECK(worker.status(queued) == JobStatus::Cancelled);
    REQUIRE(rec.wait_terminal(queued));  // delivered while "first" still runs (at its next step)
    CHECK(worker.status(running) == JobStatus::Running);
    REQUIRE(rec.wait_terminal(after));
    std::lock_guard<std::mutex> lock(fake->mutex);
    CHECK(fake->started == std::vector<JobId>{running, after});
}

TEST_CASE("worker: cancel_all cancels the running and every queued job", "[runtime]") {
    Recorder rec;
    auto* fake = new FakePipeline(10ms);
    engine::runtime::Worker worker(std::unique_ptr<engine::runtime::PipelineRunner>(fake), rec.callbacks());
    std::vector<JobId> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(worker.submit(request("x", 1000)));
    for (int i = 0; i < 500 && fake->steps_run.load() < 1; ++i) std::this_thread::sleep_for(2ms);
    worker.cancel_all();
    for (JobId id : ids) {
        REQUIRE(rec.wait_terminal(id));
        CHECK(worker.status(id) == JobStatus::Cancelled);
    }
    CHECK(worker.num_pending() == 0);
    // the worker still serves after cancel_all
    JobId next = worker.submit(request("y", 1));
    REQUIRE(rec.wait_terminal(next));
    CHECK(worker.status(next) == JobStatus::Finished);
}

TEST_CASE("worker: progress and previews are reported on the worker thread, previews throttled", "[runtime]") {
    Recorder rec;
    engine::runtime::Worker worker(std::make_unique<FakePipeline>(1ms), rec.callbacks());
    auto r = request("p", 10);
    r.preview.every_n_steps = 5;
    JobId id = worker.submit(r);
    REQUIRE(rec.wait_terminal(id));
    std::lock_guard<std::mutex> lock(rec.mutex);
    REQUIRE(rec.progress.size() == 10);
    CHECK(rec.progress.back().step == 10);
    CHECK(rec.progress.back().num_steps == 10);
    CHECK(rec.progress.back().stage == engine::JobStage::Denoising);
    CHECK(rec.previews == 2);  // steps 5 and 10
}

TEST_CASE("worker: destroying the worker cancels a running job and joins", "[runtime]") {
    Recorder rec;
    auto* fake = new FakePipeline(10ms);
    JobId id = 0;
    const auto t0 = std::chrono::steady_clock::now();
    {
        engine::runtime::Worker worker(std::unique_ptr<engine::runtime::PipelineRunner>(fake), rec.callbacks());
        id = worker.submit(request("long", 100000));
        worker.submit(request("queued", 100000));
        for (int i = 0; i < 500 && fake->steps_run.load() < 1; ++i) std::this_thread::sleep_for(2ms);
    }
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(rec.last_status(id) == JobStatus::Cancelled);
}
