#include "ui/result_archiver.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QPointer>
#include <QSet>
#include <QThreadPool>

#include "ui/engine_bridge.h"
#include "ui/models/gallery_model.h"

namespace ui {
namespace {

constexpr int kThumbnailEdge = 320;  // 2× the grid cell, sharp on HiDPI screens

QImage thumbnailOf(const QImage& img) {
    return img.scaled(kThumbnailEdge, kThumbnailEdge, Qt::KeepAspectRatio, Qt::SmoothTransformation)
        .convertToFormat(QImage::Format_RGB888);
}

}  // namespace

ResultArchiver::ResultArchiver(GalleryModel* gallery, QObject* parent) : QObject(parent), gallery_(gallery) {}

ResultArchiver::~ResultArchiver() = default;

ParamList ResultArchiver::mergedParameters(const GenerationResult& result, const GenerationParams& params) {
    ParamList merged = result.parameters;
    QSet<QString> keys;
    for (const auto& p : merged) {
        keys.insert(p.first);
    }
    for (const auto& p : params.toParamList()) {
        if (!keys.contains(p.first)) {
            merged.append(p);
        }
    }
    return merged;
}

bool ResultArchiver::writeFiles(const QString& dir, const QString& id, const GenerationResult& result,
                                const GenerationParams& params, appcore::GalleryItem* item, QString* error) {
    appcore::GalleryItem it;
    it.id = id;
    it.task = result.task != appcore::Task::None ? result.task : params.task;
    it.createdAt = QDateTime::currentDateTime();
    it.modelName = params.modelName;
    it.modelPath = params.modelPath;
    it.parameters = mergedParameters(result, params);
    it.prompt = it.parameter(QStringLiteral("prompt"));
    it.negativePrompt = it.parameter(QStringLiteral("negative_prompt"));
    it.seed = result.seed;
    it.durationS = result.durationS;
    const QDir base(dir);
    QDir().mkpath(base.filePath(QStringLiteral("thumbs")));
    it.thumbnailPath = base.filePath(QStringLiteral("thumbs/%1.jpg").arg(id));

    if (result.isVideo()) {
        it.kind = appcore::GalleryItem::Kind::Video;
        const QString frameDir = base.filePath(id);
        if (!QDir().mkpath(frameDir)) {
            if (error) {
                *error = QCoreApplication::translate("ui", "Cannot create %1.").arg(frameDir);
            }
            return false;
        }
        for (int i = 0; i < result.frames.size(); ++i) {
            const QString path =
                QDir(frameDir).filePath(QStringLiteral("frame_%1.png").arg(i + 1, 4, 10, QLatin1Char('0')));
            if (!writePngFile(path, result.frames[i], it.parameters, error)) {
                QDir(frameDir).removeRecursively();
                return false;
            }
            it.framePaths << path;
        }
        it.filePath = it.framePaths.first();
        it.numFrames = static_cast<int>(result.frames.size());
        it.fps = result.fps;
        it.width = result.frames.first().width();
        it.height = result.frames.first().height();
        // The middle frame says more about a clip than the first.
        thumbnailOf(result.frames[result.frames.size() / 2]).save(it.thumbnailPath, "JPG", 88);
    } else {
        if (result.image.isNull()) {
            if (error) {
                *error = QCoreApplication::translate("ui", "The job finished without a picture.");
            }
            return false;
        }
        it.kind = appcore::GalleryItem::Kind::Image;
        it.filePath = base.filePath(id + QStringLiteral(".png"));
        if (!writePngFile(it.filePath, result.image, it.parameters, error)) {
            return false;
        }
        it.width = result.image.width();
        it.height = result.image.height();
        thumbnailOf(result.image).save(it.thumbnailPath, "JPG", 88);
    }
    *item = it;
    return true;
}

void ResultArchiver::archive(const GenerationResult& result, const GenerationParams& params) {
    const QString id = gallery_->newItemId();
    const QString dir = gallery_->dir();
    const JobId job = result.job;
    ++pending_;
    QPointer<ResultArchiver> self(this);
    QThreadPool::globalInstance()->start([self, dir, id, result, params, job] {
        appcore::GalleryItem item;
        QString error;
        const bool ok = writeFiles(dir, id, result, params, &item, &error);
        // Back to the GUI thread (through the application object, which outlives us); the QPointer is
        // only looked at there.
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, ok, item, error, job] {
                if (!self) {
                    return;
                }
                --self->pending_;
                if (!ok) {
                    emit self->archiveFailed(job, error);
                    return;
                }
                if (!self->gallery_->addItem(item)) {
                    emit self->archiveFailed(job, self->gallery_->lastError());
                    return;
                }
                emit self->archived(item.id, job);
            },
            Qt::QueuedConnection);
    });
}

bool ResultArchiver::waitForIdle(int timeoutMs) {
    QDeadlineTimer deadline(timeoutMs);
    while (pending_ > 0 && !deadline.hasExpired()) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThreadPool::globalInstance()->waitForDone(5);
    }
    QCoreApplication::processEvents();
    return pending_ == 0;
}

}  // namespace ui
