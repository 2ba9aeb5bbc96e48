// EngineBridge against the scripted FakeEngine: signal order, the queue, cancel, failures, and preview
// coalescing / throttling. Everything the engine reports arrives on the GUI thread.
#include <catch2/catch.hpp>

#include <QSignalSpy>
#include <QThread>

#include "uitest_support.h"

using testsupport::FakeEngine;
using testsupport::FakeEvent;

namespace {

ui::GenerationParams t2iParams(const QString& prompt, int steps = 3) {
    ui::GenerationParams p;
    p.task = appcore::Task::TextToImage;
    p.modelName = QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers");
    p.modelPath = QStringLiteral("/models/Sana_Sprint_0.6B_1024px_diffusers");
    p.prompt = prompt;
    p.steps = steps;
    p.width = 64;
    p.height = 32;
    p.seed = 7;
    return p;
}

std::vector<engine::Image> onePreview(int step) {
    return {testsupport::make_test_picture(8, 8, static_cast<std::uint64_t>(step))};
}

}  // namespace

TEST_CASE("EngineBridge: a job is queued, started, progresses and finishes on the GUI thread", "[ui]") {
    uitest::FakeBridge fb;
    ui::EngineBridge& bridge = *fb.bridge;
    QSignalSpy queued(&bridge, &ui::EngineBridge::jobQueued);
    QSignalSpy started(&bridge, &ui::EngineBridge::jobStarted);
    QSignalSpy progressed(&bridge, &ui::EngineBridge::jobProgressed);
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    QSignalSpy drained(&bridge, &ui::EngineBridge::queueDrained);
    QThread* gui = QThread::currentThread();
    bool allOnGui = true;
    QObject::connect(&bridge, &ui::EngineBridge::jobProgressed, &bridge,
                     [&] { allOnGui = allOnGui && QThread::currentThread() == gui; });

    QString error;
    const ui::JobId id = bridge.submitJob(t2iParams(QStringLiteral("a red fox")), &error);
    REQUIRE(id != 0);
    CHECK(error.isEmpty());
    REQUIRE(queued.count() == 1);  // synchronously, before any engine event
    CHECK(queued[0][0].value<quint64>() == id);
    CHECK(bridge.numPending() == 1);

    REQUIRE(finished.wait(5000));
    CHECK(started.count() == 1);
    CHECK(progressed.count() >= 3);
    CHECK(allOnGui);
    const auto result = finished[0][1].value<ui::GenerationResult>();
    CHECK(result.job == id);
    CHECK(result.task == appcore::Task::TextToImage);
    CHECK(result.image.size() == QSize(64, 32));
    CHECK(result.seed == 7);
    CHECK(bridge.numPending() == 0);
    CHECK(uitest::waitUntil([&] { return drained.count() == 1; }));

    // The request the engine got carries what was asked.
    const auto requests = fb.fake->requests();
    REQUIRE(requests.size() == 1);
    const auto* r = std::get_if<engine::TextToImageRequest>(&requests[0]);
    REQUIRE(r != nullptr);
    CHECK(r->prompt == "a red fox");
    CHECK(r->num_inference_steps == 3);
    CHECK(r->width_px == 64);
    CHECK(r->height_px == 32);
    CHECK(r->seed == 7);
    CHECK(std::isnan(r->guidance_scale));  // not set → the model's default
}

TEST_CASE("EngineBridge: jobs run in order and one can be cancelled while queued", "[ui]") {
    uitest::FakeBridge fb;
    ui::EngineBridge& bridge = *fb.bridge;
    fb.fake->hold();  // keep the first job at its first event
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    QSignalSpy cancelled(&bridge, &ui::EngineBridge::jobCancelled);
    const ui::JobId a = bridge.submitJob(t2iParams(QStringLiteral("a")));
    const ui::JobId b = bridge.submitJob(t2iParams(QStringLiteral("b")));
    const ui::JobId c = bridge.submitJob(t2iParams(QStringLiteral("c")));
    REQUIRE((a && b && c));
    CHECK(bridge.numPending() == 3);

    CHECK(bridge.cancelJob(b));
    fb.fake->release();
    REQUIRE(uitest::waitUntil([&] { return finished.count() == 2 && cancelled.count() == 1; }));
    CHECK(finished[0][0].value<quint64>() == a);
    CHECK(finished[1][0].value<quint64>() == c);
    CHECK(cancelled[0][0].value<quint64>() == b);
    CHECK_FALSE(bridge.cancelJob(b));  // no longer active
    CHECK(bridge.numPending() == 0);
}

TEST_CASE("EngineBridge: cancelling the running job stops it within a step, cancel all empties the queue", "[ui]") {
    uitest::FakeBridge fb(FakeEngine::default_script(20));
    ui::EngineBridge& bridge = *fb.bridge;
    QSignalSpy started(&bridge, &ui::EngineBridge::jobStarted);
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    QSignalSpy cancelled(&bridge, &ui::EngineBridge::jobCancelled);

    SECTION("cancel the running job") {
        const ui::JobId a = bridge.submitJob(t2iParams(QStringLiteral("slow"), 50));
        REQUIRE(started.wait(5000));
        CHECK(bridge.cancelJob(a));
        REQUIRE(uitest::waitUntil([&] { return cancelled.count() == 1; }, 3000));
        CHECK(cancelled[0][0].value<quint64>() == a);
        CHECK(finished.count() == 0);
    }
    SECTION("cancel all") {
        bridge.submitJob(t2iParams(QStringLiteral("one"), 50));
        bridge.submitJob(t2iParams(QStringLiteral("two"), 50));
        bridge.submitJob(t2iParams(QStringLiteral("three"), 50));
        REQUIRE(started.wait(5000));
        bridge.cancelAll();
        REQUIRE(uitest::waitUntil([&] { return cancelled.count() == 3; }, 3000));
        CHECK(finished.count() == 0);
        CHECK(bridge.numPending() == 0);
    }
}

TEST_CASE("EngineBridge: a failed job reports code and message, and the queue goes on", "[ui]") {
    int calls = 0;
    uitest::FakeBridge fb([&calls](engine::JobId, const engine::GenerationRequest& request) {
        if (calls++ == 0) {
            return FakeEngine::Script{
                FakeEvent::progress(engine::JobStage::Denoising, 1, 3, 0.1),
                FakeEvent::fail(engine::ErrorCode::OutOfMemory, "CUDA out of memory (tried to allocate 2.00 GiB)")};
        }
        return FakeEngine::job_script(request, 1);
    });
    ui::EngineBridge& bridge = *fb.bridge;
    QSignalSpy failed(&bridge, &ui::EngineBridge::jobFailed);
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    const ui::JobId a = bridge.submitJob(t2iParams(QStringLiteral("too big")));
    const ui::JobId b = bridge.submitJob(t2iParams(QStringLiteral("fine")));
    REQUIRE(uitest::waitUntil([&] { return failed.count() == 1 && finished.count() == 1; }));
    CHECK(failed[0][0].value<quint64>() == a);
    CHECK(failed[0][1].toString().contains(QStringLiteral("out of memory")));
    CHECK(failed[0][2].toInt() == static_cast<int>(ui::FailureCode::OutOfMemory));
    CHECK(finished[0][0].value<quint64>() == b);

    // The hint for an out-of-memory failure proposes a smaller size.
    ui::GenerationParams big = t2iParams(QStringLiteral("x"));
    big.width = 2048;
    big.height = 1024;
    const QString hint = ui::failureHint(ui::FailureCode::OutOfMemory, big);
    CHECK(hint.contains(QStringLiteral("1024×512")));
    CHECK(hint.contains(QStringLiteral("Low memory")));
}

TEST_CASE("EngineBridge: bad requests fail at submit with a message and emit nothing", "[ui]") {
    uitest::FakeBridge fb;
    ui::EngineBridge& bridge = *fb.bridge;
    QSignalSpy queued(&bridge, &ui::EngineBridge::jobQueued);
    QString error;

    ui::GenerationParams noModel = t2iParams(QStringLiteral("x"));
    noModel.modelPath.clear();
    CHECK(bridge.submitJob(noModel, &error) == 0);
    CHECK(error.contains(QStringLiteral("model")));

    ui::GenerationParams i2v = t2iParams(QStringLiteral("x"));
    i2v.task = appcore::Task::ImageToVideo;
    CHECK(bridge.submitJob(i2v, &error) == 0);
    CHECK(error.contains(QStringLiteral("input image")));

    // The engine's own cheap validation (here: a negative size) comes back as text, too.
    ui::GenerationParams bad = t2iParams(QStringLiteral("x"));
    bad.width = -64;
    error.clear();
    CHECK(bridge.submitJob(bad, &error) == 0);
    CHECK_FALSE(error.isEmpty());
    CHECK(queued.count() == 0);
    CHECK(fb.fake->requests().empty());
}

TEST_CASE("EngineBridge: an image-to-video request carries the input picture", "[ui]") {
    uitest::FakeBridge fb;
    ui::EngineBridge& bridge = *fb.bridge;
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    ui::GenerationParams p;
    p.task = appcore::Task::ImageToVideo;
    p.modelPath = QStringLiteral("/models/DynamiCrafter_512/model.ckpt");
    p.prompt = QStringLiteral("waves");
    p.steps = 2;
    p.width = 64;
    p.height = 40;
    p.numFrames = 5;
    p.fps = 8;
    p.frameStride = 24;
    p.inputImage = uitest::testImage(30, 20);
    REQUIRE(bridge.submitJob(p) != 0);
    REQUIRE(finished.wait(5000));
    const auto result = finished[0][1].value<ui::GenerationResult>();
    CHECK(result.frames.size() == 5);
    CHECK(result.fps == Approx(8.0));

    const auto requests = fb.fake->requests();
    const auto* r = std::get_if<engine::ImageToVideoRequest>(&requests.at(0));
    REQUIRE(r != nullptr);
    CHECK(r->frame_stride == 24);
    CHECK(r->num_frames == 5);
    REQUIRE(r->image.width == 30);
    REQUIRE(r->image.height == 20);
    REQUIRE(r->image.channels == 3);
    // Pixels arrive unchanged (row padding of QImage removed).
    const QImage src = uitest::testImage(30, 20);
    for (int y : {0, 7, 19}) {
        for (int x : {0, 13, 29}) {
            const QColor c = src.pixelColor(x, y);
            const size_t o = (static_cast<size_t>(y) * 30 + static_cast<size_t>(x)) * 3;
            CHECK(r->image.pixels[o] == c.red());
            CHECK(r->image.pixels[o + 1] == c.green());
            CHECK(r->image.pixels[o + 2] == c.blue());
        }
    }
}

TEST_CASE("EngineBridge: a burst of previews is coalesced to the newest one", "[ui]") {
    constexpr int kSteps = 40;
    uitest::FakeBridge fb([](engine::JobId, const engine::GenerationRequest& request) {
        FakeEngine::Script s;
        for (int i = 1; i <= kSteps; ++i) {
            s.push_back(FakeEvent::progress(engine::JobStage::Denoising, i, kSteps, i * 0.01));
            s.push_back(FakeEvent::preview(i, kSteps, onePreview(i)));
        }
        // A pause after the burst, then the usual ending.
        s.push_back(FakeEvent::progress(engine::JobStage::Decoding, 1, 1, 1.0, 400));
        s.push_back(FakeEngine::job_script(request, 0).back());
        return s;
    });
    ui::EngineBridge& bridge = *fb.bridge;
    bridge.setPreviewIntervalMs(0);
    QSignalSpy previews(&bridge, &ui::EngineBridge::previewReady);
    QSignalSpy progressed(&bridge, &ui::EngineBridge::jobProgressed);
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    REQUIRE(bridge.submitJob(t2iParams(QStringLiteral("burst"))) != 0);
    // The worker emits all 40 previews while the GUI thread is not running its event loop.
    QThread::msleep(200);
    CHECK(previews.count() == 0);
    QCoreApplication::processEvents();
    // One delivery, carrying the newest preview; the progress events all arrive (they are tiny).
    CHECK(previews.count() == 1);
    REQUIRE(previews.count() >= 1);
    CHECK(previews[0][1].toInt() == kSteps);
    CHECK(previews[0][3].value<QList<QImage>>().size() == 1);
    CHECK(progressed.count() == kSteps);
    REQUIRE(finished.wait(5000));
    CHECK(previews.count() == 1);
}

TEST_CASE("EngineBridge: previews are throttled to one per interval per job", "[ui]") {
    constexpr int kSteps = 24;
    constexpr int kStepMs = 15;
    constexpr int kIntervalMs = 120;
    uitest::FakeBridge fb([](engine::JobId, const engine::GenerationRequest& request) {
        FakeEngine::Script s;
        for (int i = 1; i <= kSteps; ++i) {
            s.push_back(FakeEvent::progress(engine::JobStage::Denoising, i, kSteps, i * 0.015, kStepMs));
            s.push_back(FakeEvent::preview(i, kSteps, onePreview(i)));
        }
        s.push_back(FakeEvent::progress(engine::JobStage::Decoding, 1, 1, 1.0, 2 * kIntervalMs));
        s.push_back(FakeEngine::job_script(request, 0).back());
        return s;
    });
    ui::EngineBridge& bridge = *fb.bridge;
    bridge.setPreviewIntervalMs(kIntervalMs);
    QSignalSpy previews(&bridge, &ui::EngineBridge::previewReady);
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    QElapsedTimer clock;
    clock.start();
    QList<qint64> times;
    QObject::connect(&bridge, &ui::EngineBridge::previewReady, &bridge, [&] { times << clock.elapsed(); });
    REQUIRE(bridge.submitJob(t2iParams(QStringLiteral("throttle"))) != 0);
    REQUIRE(finished.wait(10000));
    // 24 steps × 15 ms ≈ 360 ms of previews → about 360 / 120 + 1 deliveries, far fewer than 24. Under
    // load the steps stretch, so the bound is the spacing: never two deliveries closer than the interval.
    CHECK(previews.count() >= 2);
    CHECK(previews.count() < kSteps / 2);
    for (int i = 1; i < times.size(); ++i) {
        CHECK(times[i] - times[i - 1] >= kIntervalMs - 20);  // timer granularity, slot latency
    }
    CHECK(previews.last()[1].toInt() == kSteps);  // the last step's preview is not lost
}

TEST_CASE("EngineBridge: an engine that cannot start is reported, and a new one replaces it when idle", "[ui]") {
    ui::EngineBridge bridge([](engine::Callbacks) -> engine::Expected<std::unique_ptr<engine::Engine>> {
        return engine::make_error(engine::ErrorCode::DeviceUnavailable, "CUDA was requested but is not available.");
    });
    CHECK_FALSE(bridge.isReady());
    CHECK(bridge.engineError().contains(QStringLiteral("CUDA")));
    QString error;
    ui::GenerationParams p = t2iParams(QStringLiteral("x"));
    CHECK(bridge.submitJob(p, &error) == 0);
    CHECK(error.contains(QStringLiteral("not running")));

    QSignalSpy restarted(&bridge, &ui::EngineBridge::engineRestarted);
    int made = 0;
    auto fakeFactory = [&made](engine::Callbacks cb) -> engine::Expected<std::unique_ptr<engine::Engine>> {
        auto f = std::make_unique<FakeEngine>(std::move(cb), FakeEngine::default_script(30));
        ++made;
        return std::unique_ptr<engine::Engine>(std::move(f));
    };
    bridge.setEngineFactory(fakeFactory);
    CHECK(restarted.count() == 1);
    REQUIRE(bridge.isReady());
    CHECK(bridge.deviceDescription() == QStringLiteral("fake"));

    // While a job runs, a new engine waits for the queue to drain.
    QSignalSpy finished(&bridge, &ui::EngineBridge::jobFinished);
    REQUIRE(bridge.submitJob(p) != 0);
    bridge.setEngineFactory(fakeFactory);
    CHECK(made == 1);  // not yet: a job runs
    CHECK(bridge.restartPending());
    CHECK(restarted.count() == 1);
    REQUIRE(finished.wait(5000));
    REQUIRE(uitest::waitUntil([&] { return restarted.count() == 2; }));
    CHECK_FALSE(bridge.restartPending());
    CHECK(made == 2);
    CHECK(bridge.isReady());
}

TEST_CASE("EngineBridge: the real engine runs on its worker and reports a job it cannot run as a failure", "[ui]") {
    appcore::EngineSettings cpu;
    ui::EngineBridge bridge(ui::EngineBridge::realEngineFactory(cpu));
    REQUIRE(bridge.isReady());
    CHECK(bridge.deviceDescription() == QStringLiteral("cpu"));
    QSignalSpy failed(&bridge, &ui::EngineBridge::jobFailed);
    QSignalSpy drained(&bridge, &ui::EngineBridge::queueDrained);
    ui::GenerationParams p = t2iParams(QStringLiteral("a fox"));
    p.modelPath = QStringLiteral("/nonexistent/Sana_1600M_1024px_diffusers");
    const ui::JobId id = bridge.submitJob(p);
    REQUIRE(id != 0);
    REQUIRE(failed.wait(30000));
    CHECK(failed[0][0].value<quint64>() == id);
    CHECK_FALSE(failed[0][1].toString().isEmpty());
    const auto code = static_cast<ui::FailureCode>(failed[0][2].toInt());
    CHECK((code == ui::FailureCode::ModelNotFound || code == ui::FailureCode::UnsupportedModel));
    CHECK(uitest::waitUntil([&] { return drained.count() == 1; }));

    // CUDA on this CPU-only build: the engine does not start, and says what to do.
    appcore::EngineSettings cuda;
    cuda.device = appcore::DeviceChoice::Cuda;
    ui::EngineBridge gpu(ui::EngineBridge::realEngineFactory(cuda));
    if (!gpu.isReady()) {
        CHECK(gpu.engineError().contains(QStringLiteral("CPU")));
    }
}
