#include "ui/engine_bridge.h"

#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>
#include <QMetaObject>
#include <QTimer>

#include <cstring>
#include <string>
#include <utility>

#include <engine/media_io.h>

namespace ui {

static_assert(static_cast<int>(FailureCode::InvalidRequest) == static_cast<int>(engine::ErrorCode::InvalidRequest));
static_assert(static_cast<int>(FailureCode::OutOfMemory) == static_cast<int>(engine::ErrorCode::OutOfMemory));
static_assert(static_cast<int>(FailureCode::IoError) == static_cast<int>(engine::ErrorCode::IoError));
static_assert(static_cast<int>(FailureCode::Internal) == static_cast<int>(engine::ErrorCode::Internal));
static_assert(static_cast<int>(JobStage::Denoising) == static_cast<int>(engine::JobStage::Denoising));
static_assert(static_cast<int>(JobStage::Finishing) == static_cast<int>(engine::JobStage::Finishing));

namespace {

QString tr(const char* s) {
    return QCoreApplication::translate("ui", s);
}

std::string toPath(const QString& path) {
    return QFile::encodeName(path).toStdString();
}

QString fromUtf8(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

// QImage rows are 32-bit aligned; engine::Image rows are packed.
engine::Image toEngineImage(const QImage& source) {
    const bool alpha = source.hasAlphaChannel();
    const QImage img = source.convertToFormat(alpha ? QImage::Format_RGBA8888 : QImage::Format_RGB888);
    engine::Image out;
    out.width = img.width();
    out.height = img.height();
    out.channels = alpha ? 4 : 3;
    out.pixels.resize(out.stride() * static_cast<size_t>(out.height));
    for (int y = 0; y < img.height(); ++y) {
        std::memcpy(out.pixels.data() + static_cast<size_t>(y) * out.stride(), img.constScanLine(y), out.stride());
    }
    return out;
}

QImage toQImage(const engine::Image& img) {
    if (!img.is_consistent()) {
        return {};
    }
    QImage::Format format = QImage::Format_RGB888;
    if (img.channels == 1) {
        format = QImage::Format_Grayscale8;
    } else if (img.channels == 4) {
        format = QImage::Format_RGBA8888;
    }
    // Wraps the buffer, then copy() detaches into memory QImage owns.
    return QImage(img.pixels.data(), img.width, img.height, static_cast<qsizetype>(img.stride()), format).copy();
}

engine::ParameterList toEngineParams(const ParamList& params) {
    engine::ParameterList out;
    out.reserve(static_cast<size_t>(params.size()));
    for (const auto& [k, v] : params) {
        out.emplace_back(k.toStdString(), v.toStdString());
    }
    return out;
}

ParamList fromEngineParams(const engine::ParameterList& params) {
    ParamList out;
    for (const auto& [k, v] : params) {
        out.append({fromUtf8(k), fromUtf8(v)});
    }
    return out;
}

appcore::Task fromEngineTask(engine::TaskKind kind) {
    switch (kind) {
        case engine::TaskKind::TextToImage:
            return appcore::Task::TextToImage;
        case engine::TaskKind::TextToVideo:
            return appcore::Task::TextToVideo;
        case engine::TaskKind::ImageToVideo:
            return appcore::Task::ImageToVideo;
        case engine::TaskKind::None:
            break;
    }
    return appcore::Task::None;
}

double orDefault(double v) {
    return isSet(v) ? v : engine::kUseModelDefault;
}

void fillCommon(const GenerationParams& p, engine::RequestCommon& r) {
    r.model_path = toPath(p.modelPath);
    r.config_path = toPath(p.configPath);
    r.prompt = p.prompt.toStdString();
    r.negative_prompt = p.negativePrompt.toStdString();
    r.seed = p.seed;
    r.num_inference_steps = p.steps;
    r.guidance_scale = orDefault(p.guidance);
    r.preview.enabled = p.previewEnabled;
    r.preview.every_n_steps = qMax(1, p.previewEveryNSteps);
}

void fillVideo(const GenerationParams& p, engine::TextToVideoRequest& r) {
    fillCommon(p, r);
    r.width_px = p.width;
    r.height_px = p.height;
    r.num_frames = p.numFrames;
    r.fps = orDefault(p.fps);
    r.eta = orDefault(p.eta);
}

bool toRequest(const GenerationParams& p, engine::GenerationRequest* out, QString* error) {
    if (p.modelPath.isEmpty()) {
        *error = tr("Choose a model first (Models ▸ Add Model, or the Model Manager).");
        return false;
    }
    switch (p.task) {
        case appcore::Task::TextToImage: {
            engine::TextToImageRequest r;
            fillCommon(p, r);
            r.width_px = p.width;
            r.height_px = p.height;
            r.flow_shift = orDefault(p.flowShift);
            r.use_resolution_binning = p.resolutionBinning;
            *out = std::move(r);
            return true;
        }
        case appcore::Task::TextToVideo: {
            engine::TextToVideoRequest r;
            fillVideo(p, r);
            *out = std::move(r);
            return true;
        }
        case appcore::Task::ImageToVideo: {
            if (p.inputImage.isNull()) {
                *error = tr("Image to video needs an input image: drop one on the window or paste it.");
                return false;
            }
            engine::ImageToVideoRequest r;
            fillVideo(p, r);
            r.image = toEngineImage(p.inputImage);
            r.frame_stride = p.frameStride;
            *out = std::move(r);
            return true;
        }
        case appcore::Task::None:
            break;
    }
    *error = tr("Choose what to generate (image or video).");
    return false;
}

GenerationResult toResult(const engine::JobResult& r) {
    GenerationResult out;
    out.job = r.job;
    out.task = fromEngineTask(r.task);
    if (!r.image.empty()) {
        out.image = toQImage(r.image);
    }
    out.frames.reserve(static_cast<qsizetype>(r.video.frames.size()));
    for (const engine::Image& f : r.video.frames) {
        out.frames.append(toQImage(f));
    }
    out.fps = r.video.fps;
    out.parameters = fromEngineParams(r.parameters);
    out.seed = r.seed;
    out.durationS = r.duration_s;
    return out;
}

}  // namespace

struct EngineBridge::PendingPreview {
    engine::PreviewEvent event;
    bool hasEvent = false;
    bool posted = false;  // a delivery is queued or scheduled; the worker only replaces the event
};

EngineBridge::EngineBridge(EngineFactory factory, QObject* parent) : QObject(parent) {
    clock_.start();
    createEngine(factory);
}

EngineBridge::~EngineBridge() {
    // Joins the worker. Functors it still posts to us are dropped with this QObject.
    engine_.reset();
}

bool EngineBridge::buildRequest(const GenerationParams& params, engine::GenerationRequest* request, QString* error) {
    QString why;
    const bool ok = toRequest(params, request, &why);
    if (!ok && error) {
        *error = why;
    }
    return ok;
}

engine::EngineOptions EngineBridge::engineOptions(const appcore::EngineSettings& s) {
    engine::EngineOptions o;
    o.device = s.device == appcore::DeviceChoice::Cuda ? engine::DeviceKind::Cuda : engine::DeviceKind::Cpu;
    o.device_index = s.deviceIndex;
    switch (s.precision) {
        case appcore::PrecisionChoice::Auto:
            o.precision = engine::Precision::Auto;
            break;
        case appcore::PrecisionChoice::Float32:
            o.precision = engine::Precision::Float32;
            break;
        case appcore::PrecisionChoice::BFloat16:
            o.precision = engine::Precision::BFloat16;
            break;
        case appcore::PrecisionChoice::Float16:
            o.precision = engine::Precision::Float16;
            break;
    }
    switch (s.memoryMode) {
        case appcore::MemoryModeChoice::Balanced:
            o.memory_mode = engine::MemoryMode::Balanced;
            break;
        case appcore::MemoryModeChoice::LowMemory:
            o.memory_mode = engine::MemoryMode::LowMemory;
            break;
        case appcore::MemoryModeChoice::KeepLoaded:
            o.memory_mode = engine::MemoryMode::KeepLoaded;
            break;
    }
    switch (s.quantization) {
        case appcore::QuantizationChoice::None:
            o.quantization = engine::WeightQuantization::None;
            break;
        case appcore::QuantizationChoice::Int8:
            o.quantization = engine::WeightQuantization::Int8;
            break;
        case appcore::QuantizationChoice::Fp8:
            o.quantization = engine::WeightQuantization::Fp8;
            break;
    }
    return o;
}

EngineBridge::EngineFactory EngineBridge::realEngineFactory(const appcore::EngineSettings& s) {
    const engine::EngineOptions o = engineOptions(s);
    return [o](engine::Callbacks cb) { return engine::create_engine(o, std::move(cb)); };
}

QString EngineBridge::deviceDescription() const {
    return engine_ ? fromUtf8(engine_->device_description()) : QString();
}

void EngineBridge::createEngine(const EngineFactory& factory) {
    engine_.reset();
    engineError_.clear();
    {
        std::lock_guard<std::mutex> lock(previewMutex_);
        previews_.clear();
    }
    if (!factory) {
        engineError_ = tr("No engine is configured.");
        return;
    }
    auto made = factory(makeCallbacks());
    if (!made) {
        engineError_ = fromUtf8(made.error().message);
        return;
    }
    engine_ = std::move(made).value();
}

void EngineBridge::setEngineFactory(EngineFactory factory) {
    if (!active_.isEmpty()) {
        pendingFactory_ = std::move(factory);
        return;
    }
    pendingFactory_ = nullptr;
    createEngine(factory);
    emit engineRestarted();
}

engine::Callbacks EngineBridge::makeCallbacks() {
    // Every callback runs on the engine's worker thread: copy what it carries and re-post to the GUI thread.
    engine::Callbacks cb;
    cb.on_status = [this](engine::JobId id, engine::JobStatus status) {
        if (status == engine::JobStatus::Running) {
            QMetaObject::invokeMethod(
                this, [this, id] { emit jobStarted(id); }, Qt::QueuedConnection);
        } else if (status == engine::JobStatus::Cancelled) {
            QMetaObject::invokeMethod(
                this,
                [this, id] {
                    endJob(id);
                    emit jobCancelled(id);
                    checkDrained();
                },
                Qt::QueuedConnection);
        }
        // Finished and Failed arrive with their payload in on_finished / on_failed.
    };
    cb.on_progress = [this](const engine::ProgressEvent& e) {
        QMetaObject::invokeMethod(
            this,
            [this, e] {
                if (active_.contains(e.job)) {
                    emit jobProgressed(e.job, static_cast<JobStage>(e.stage), e.step, e.num_steps, e.elapsed_s);
                }
            },
            Qt::QueuedConnection);
    };
    cb.on_preview = [this](const engine::PreviewEvent& e) {
        bool post = false;
        {
            std::lock_guard<std::mutex> lock(previewMutex_);
            auto& slot = previews_[e.job];
            if (!slot) {
                slot = std::make_shared<PendingPreview>();
            }
            slot->event = e;  // the newest wins
            slot->hasEvent = true;
            if (!slot->posted) {
                slot->posted = true;
                post = true;
            }
        }
        if (post) {
            const engine::JobId id = e.job;
            QMetaObject::invokeMethod(
                this, [this, id] { deliverPreview(id); }, Qt::QueuedConnection);
        }
    };
    cb.on_finished = [this](std::shared_ptr<const engine::JobResult> r) {
        QMetaObject::invokeMethod(
            this,
            [this, r] {
                const JobId id = r->job;
                endJob(id);
                emit jobFinished(id, toResult(*r));
                checkDrained();
            },
            Qt::QueuedConnection);
    };
    cb.on_failed = [this](engine::JobId id, const engine::Error& error) {
        const QString message = fromUtf8(error.message);
        const int code = static_cast<int>(error.code);
        QMetaObject::invokeMethod(
            this,
            [this, id, message, code] {
                endJob(id);
                emit jobFailed(id, message, code);
                checkDrained();
            },
            Qt::QueuedConnection);
    };
    return cb;
}

void EngineBridge::deliverPreview(JobId job) {
    if (!active_.contains(job)) {
        std::lock_guard<std::mutex> lock(previewMutex_);
        previews_.erase(job);
        return;
    }
    const qint64 now = clock_.elapsed();
    const auto last = lastPreviewMs_.constFind(job);
    if (previewIntervalMs_ > 0 && last != lastPreviewMs_.constEnd() && now - *last < previewIntervalMs_) {
        // Too soon: come back when the interval is over. The slot stays "posted", so the worker only
        // swaps in newer events meanwhile.
        QTimer::singleShot(static_cast<int>(previewIntervalMs_ - (now - *last)), this,
                           [this, job] { deliverPreview(job); });
        return;
    }
    engine::PreviewEvent event;
    {
        std::lock_guard<std::mutex> lock(previewMutex_);
        auto it = previews_.find(job);
        if (it == previews_.end() || !it->second->hasEvent) {
            if (it != previews_.end()) {
                it->second->posted = false;
            }
            return;
        }
        event = std::move(it->second->event);
        it->second->hasEvent = false;
        it->second->posted = false;
    }
    QList<QImage> frames;
    frames.reserve(static_cast<qsizetype>(event.frames.size()));
    for (const engine::Image& f : event.frames) {
        frames.append(toQImage(f));
    }
    lastPreviewMs_.insert(job, now);
    emit previewReady(job, event.step, event.num_steps, frames);
}

void EngineBridge::checkDrained() {
    if (!active_.isEmpty()) {
        return;
    }
    // Apply a pending engine change now that nothing runs, then tell.
    if (pendingFactory_) {
        EngineFactory f = std::move(pendingFactory_);
        pendingFactory_ = nullptr;
        createEngine(f);
        emit engineRestarted();
    }
    emit queueDrained();
}

void EngineBridge::endJob(JobId job) {
    active_.remove(job);
    lastPreviewMs_.remove(job);
    std::lock_guard<std::mutex> lock(previewMutex_);
    previews_.erase(job);
}

JobId EngineBridge::submitJob(const GenerationParams& params, QString* error) {
    QString why;
    auto fail = [&](const QString& message) -> JobId {
        if (error) {
            *error = message;
        }
        return 0;
    };
    if (!engine_) {
        return fail(tr("The engine is not running: %1").arg(engineError_));
    }
    engine::GenerationRequest request;
    if (!buildRequest(params, &request, &why)) {
        return fail(why);
    }
    engine::Expected<engine::JobId> id = engine_->submit(std::move(request));
    if (!id) {
        return fail(fromUtf8(id.error().message));
    }
    active_.insert(*id);
    emit jobQueued(*id, params);
    return *id;
}

bool EngineBridge::cancelJob(JobId job) {
    if (!engine_ || !active_.contains(job)) {
        return false;
    }
    return engine_->cancel(job);
}

void EngineBridge::cancelAll() {
    if (engine_) {
        engine_->cancel_all();
    }
}

// ---- media I/O --------------------------------------------------------------------------------------

QImage readImageFile(const QString& path, QString* error) {
    engine::Expected<engine::Image> img = engine::read_image(toPath(path));
    if (!img) {
        if (error) {
            *error = fromUtf8(img.error().message);
        }
        return {};
    }
    QImage out = toQImage(*img);
    if (out.isNull() && error) {
        *error = tr("%1 could not be decoded.").arg(QFileInfo(path).fileName());
    }
    return out;
}

bool writePngFile(const QString& path, const QImage& image, const ParamList& parameters, QString* error) {
    if (image.isNull()) {
        if (error) {
            *error = tr("There is no image to save.");
        }
        return false;
    }
    engine::Expected<void> ok = engine::write_png(toPath(path), toEngineImage(image), toEngineParams(parameters));
    if (!ok) {
        if (error) {
            *error = fromUtf8(ok.error().message);
        }
        return false;
    }
    return true;
}

ParamList readPngTextFile(const QString& path, QString* error) {
    engine::Expected<engine::ParameterList> text = engine::read_png_text(toPath(path));
    if (!text) {
        if (error) {
            *error = fromUtf8(text.error().message);
        }
        return {};
    }
    return fromEngineParams(*text);
}

namespace {

engine::VideoFormat toEngineFormat(VideoFormat format) {
    switch (format) {
        case VideoFormat::Mp4:
            return engine::VideoFormat::Mp4;
        case VideoFormat::WebM:
            return engine::VideoFormat::WebM;
        case VideoFormat::Gif:
            return engine::VideoFormat::Gif;
    }
    return engine::VideoFormat::None;
}

}  // namespace

bool videoExportAvailable(VideoFormat format) {
    const engine::VideoFormat wanted = toEngineFormat(format);
    for (engine::VideoFormat f : engine::available_video_formats()) {
        if (f == wanted) {
            return true;
        }
    }
    return false;
}

bool writeVideoFile(const QString& path, VideoFormat format, const QList<QImage>& frames, double fps,
                    const ParamList& parameters, QString* error) {
    if (!videoExportAvailable(format)) {
        if (error) {
            *error = tr("This build cannot write %1 video (its FFmpeg lacks the encoder). Export a GIF or the "
                        "frames as PNG instead.")
                         .arg(QString::fromLatin1(engine::to_string(toEngineFormat(format))).toUpper());
        }
        return false;
    }
    engine::VideoFrames video;
    video.fps = fps;
    video.frames.reserve(static_cast<size_t>(frames.size()));
    for (const QImage& f : frames) {
        video.frames.push_back(toEngineImage(f));
    }
    engine::VideoExportOptions options;
    options.format = toEngineFormat(format);
    options.parameters = toEngineParams(parameters);
    engine::Expected<void> ok = engine::write_video(toPath(path), video, options);
    if (!ok) {
        if (error) {
            *error = fromUtf8(ok.error().message);
        }
        return false;
    }
    return true;
}

}  // namespace ui
