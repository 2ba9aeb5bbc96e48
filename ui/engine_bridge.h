// EngineBridge: the only door between the Qt world and the engine. It owns the engine, turns
// GenerationParams into engine requests, and re-posts every engine callback (which runs on the
// engine's worker thread) to the GUI thread as a signal. Previews are coalesced: per job at most one
// is pending in the event queue (the newest wins) and at most one is emitted per previewIntervalMs.
//
//     ui::EngineBridge bridge(ui::EngineBridge::realEngineFactory(settings.engine));
//     connect(&bridge, &ui::EngineBridge::jobFinished, this, [this](ui::JobId id, const ui::GenerationResult& r)
//     {...}); QString error; ui::JobId id = bridge.submitJob(params, &error);   // returns at once
//
// The media helpers below (image reading, PNG writing with metadata, video export) wrap the engine's
// media_io so that, too, stays behind this one file.
//
// Thread safety: EngineBridge lives in and is used from the GUI thread only. The media helpers are
// free functions without shared state and may run on any thread.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QImage>
#include <QList>
#include <QObject>
#include <QSet>
#include <QString>

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <engine/engine.h>

#include "core/app_settings.h"
#include "ui/generation_types.h"

namespace ui {

class EngineBridge : public QObject {
    Q_OBJECT
public:
    /// Makes an engine that reports through the given callbacks (the real one, or a test fake).
    using EngineFactory = std::function<engine::Expected<std::unique_ptr<engine::Engine>>(engine::Callbacks)>;

    explicit EngineBridge(EngineFactory factory, QObject* parent = nullptr);
    /// Cancels all jobs and joins the engine's worker before the QObject goes away.
    ~EngineBridge() override;

    /// The factory of the real engine for these settings.
    static EngineFactory realEngineFactory(const appcore::EngineSettings& settings);
    /// The engine request submitJob() makes of these parameters; false with *error when it cannot.
    static bool buildRequest(const GenerationParams& params, engine::GenerationRequest* request, QString* error);
    /// The engine options these settings stand for (device, device index, precision, memory mode).
    static engine::EngineOptions engineOptions(const appcore::EngineSettings& settings);

    /// True when an engine is running (it may have failed to start: see engineError()).
    bool isReady() const { return engine_ != nullptr; }
    /// Why the engine could not start ("" when it runs).
    QString engineError() const { return engineError_; }
    /// "cpu", "cuda:0", ...
    QString deviceDescription() const;
    /// Jobs queued or running.
    int numPending() const { return static_cast<int>(active_.size()); }
    bool isActive(JobId job) const { return active_.contains(job); }

    /// Minimum time between two previews of one job reaching the GUI (default 100 ms; 0: no limit).
    void setPreviewIntervalMs(int ms) { previewIntervalMs_ = ms; }
    int previewIntervalMs() const { return previewIntervalMs_; }

    /// Replaces the engine (new device/precision). Takes effect at once when idle, else after the
    /// queue drains; engineRestarted() tells when.
    void setEngineFactory(EngineFactory factory);
    bool restartPending() const { return static_cast<bool>(pendingFactory_); }

    /// Checks and queues a job; returns its id, or 0 with *error set (nothing is emitted then).
    JobId submitJob(const GenerationParams& params, QString* error = nullptr);
    /// Cancels one queued or running job; false if it is not active.
    bool cancelJob(JobId job);
    /// Cancels everything queued or running.
    void cancelAll();

signals:
    void jobQueued(ui::JobId job, const ui::GenerationParams& params);
    void jobStarted(ui::JobId job);
    void jobProgressed(ui::JobId job, ui::JobStage stage, int step, int numSteps, double elapsedS);
    /// One image for text-to-image; one per frame for video.
    void previewReady(ui::JobId job, int step, int numSteps, const QList<QImage>& frames);
    void jobFinished(ui::JobId job, const ui::GenerationResult& result);
    void jobFailed(ui::JobId job, const QString& message, int code);
    void jobCancelled(ui::JobId job);
    /// The engine was (re)created; isReady()/engineError() tell how it went.
    void engineRestarted();
    /// No job is queued or running any more.
    void queueDrained();

private:
    struct PendingPreview;

    void createEngine(const EngineFactory& factory);
    engine::Callbacks makeCallbacks();
    void onPreviewPosted(JobId job);
    void deliverPreview(JobId job);
    void endJob(JobId job);
    void checkDrained();

    std::unique_ptr<engine::Engine> engine_;
    QString engineError_;
    EngineFactory pendingFactory_;
    QSet<JobId> active_;
    QHash<JobId, qint64> lastPreviewMs_;
    QElapsedTimer clock_;
    int previewIntervalMs_ = 100;

    // Written by the worker thread, read by the GUI thread.
    std::mutex previewMutex_;
    std::unordered_map<JobId, std::shared_ptr<PendingPreview>> previews_;
};

// ---- media I/O (engine/media_io.h behind Qt types) -------------------------------------------------

/// Reads an image file (PNG, JPEG, WebP, TIFF, ...). On failure returns a null QImage and sets *error
/// to a sentence that names the file and says what is wrong.
QImage readImageFile(const QString& path, QString* error);
/// Writes a PNG whose text chunks hold the parameters (A1111 "parameters" and a "kinora" JSON).
bool writePngFile(const QString& path, const QImage& image, const ParamList& parameters, QString* error);
/// Reads the text chunks of a PNG (e.g. "parameters", "kinora").
ParamList readPngTextFile(const QString& path, QString* error);

/// Video containers the export dialog offers.
enum class VideoFormat { Mp4 = 0, WebM, Gif };
/// True when this build can encode the format (needs the engine's FFmpeg video writer).
bool videoExportAvailable(VideoFormat format);
/// Encodes frames to a video file; fails with a clear message when the build cannot.
bool writeVideoFile(const QString& path, VideoFormat format, const QList<QImage>& frames, double fps,
                    const ParamList& parameters, QString* error);

}  // namespace ui
