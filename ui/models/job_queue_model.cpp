#include "ui/models/job_queue_model.h"

#include <QtMath>

#include "ui/engine_bridge.h"

namespace ui {
namespace {

// Share of a job's time per stage, to turn stage + step into one progress value. Denoising dominates.
struct StageSpan {
    double begin;
    double end;
};

StageSpan spanOf(JobStage stage) {
    switch (stage) {
        case JobStage::None:
            return {0.0, 0.0};
        case JobStage::LoadingModel:
            return {0.0, 0.08};
        case JobStage::EncodingPrompt:
            return {0.08, 0.12};
        case JobStage::Denoising:
            return {0.12, 0.92};
        case JobStage::Decoding:
            return {0.92, 0.99};
        case JobStage::Finishing:
            return {0.99, 1.0};
    }
    return {0.0, 0.0};
}

QString formatSeconds(double s) {
    if (s < 1.0) {
        return JobQueueModel::tr("< 1 s");
    }
    const int total = qCeil(s);
    if (total < 60) {
        return JobQueueModel::tr("%1 s").arg(total);
    }
    if (total < 3600) {
        return JobQueueModel::tr("%1 min %2 s").arg(total / 60).arg(total % 60, 2, 10, QLatin1Char('0'));
    }
    return JobQueueModel::tr("%1 h %2 min").arg(total / 3600).arg((total % 3600) / 60, 2, 10, QLatin1Char('0'));
}

}  // namespace

JobQueueModel::JobQueueModel(QObject* parent) : QAbstractListModel(parent) {}

QString JobQueueModel::etaText(double seconds) {
    if (seconds < 1.5) {
        return tr("almost done");
    }
    return tr("about %1 left").arg(formatSeconds(seconds));
}

int JobQueueModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(jobs_.size());
}

QHash<int, QByteArray> JobQueueModel::roleNames() const {
    QHash<int, QByteArray> r = QAbstractListModel::roleNames();
    r.insert(JobIdRole, "jobId");
    r.insert(StateRole, "state");
    r.insert(StageRole, "stage");
    r.insert(ProgressRole, "progress");
    r.insert(StepRole, "step");
    r.insert(NumStepsRole, "numSteps");
    r.insert(EtaRole, "eta");
    r.insert(ElapsedRole, "elapsed");
    r.insert(StatusTextRole, "statusText");
    r.insert(MessageRole, "message");
    r.insert(HintRole, "hint");
    r.insert(FailureCodeRole, "failureCode");
    r.insert(TaskRole, "task");
    r.insert(PromptRole, "prompt");
    r.insert(PreviewRole, "preview");
    r.insert(QueuePositionRole, "queuePosition");
    return r;
}

QVariant JobQueueModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const Entry& e = jobs_[index.row()];
    switch (role) {
        case Qt::DisplayRole:
        case PromptRole:
            return e.params.prompt;
        case Qt::ToolTipRole: {
            QString tip = e.params.prompt.toHtmlEscaped();
            tip += QStringLiteral("<br><i>%1 · %2</i>")
                       .arg(e.params.modelName.toHtmlEscaped(), statusText(e).toHtmlEscaped());
            if (!e.hint.isEmpty()) {
                tip += QStringLiteral("<br>") + e.hint.toHtmlEscaped();
            }
            return tip;
        }
        case JobIdRole:
            return QVariant::fromValue<quint64>(e.id);
        case StateRole:
            return static_cast<int>(e.state);
        case StageRole:
            return static_cast<int>(e.stage);
        case ProgressRole:
            return progressOf(e);
        case StepRole:
            return e.step;
        case NumStepsRole:
            return e.numSteps;
        case EtaRole:
            return etaOf(e);
        case ElapsedRole:
            return e.elapsedS;
        case StatusTextRole:
            return statusText(e);
        case MessageRole:
            return e.message;
        case HintRole:
            return e.hint;
        case FailureCodeRole:
            return static_cast<int>(e.failure);
        case TaskRole:
            return static_cast<int>(e.params.task);
        case PreviewRole:
            return e.preview;
        case QueuePositionRole:
            return queuePosition(e);
        default:
            break;
    }
    return {};
}

void JobQueueModel::connectTo(EngineBridge* bridge) {
    connect(bridge, &EngineBridge::jobQueued, this, &JobQueueModel::addJob);
    connect(bridge, &EngineBridge::jobStarted, this, &JobQueueModel::markStarted);
    connect(bridge, &EngineBridge::jobProgressed, this, &JobQueueModel::updateProgress);
    connect(bridge, &EngineBridge::previewReady, this, &JobQueueModel::setPreview);
    connect(bridge, &EngineBridge::jobFinished, this, &JobQueueModel::markFinished);
    connect(bridge, &EngineBridge::jobFailed, this, &JobQueueModel::markFailed);
    connect(bridge, &EngineBridge::jobCancelled, this, &JobQueueModel::markCancelled);
}

int JobQueueModel::rowOf(JobId job) const {
    for (int i = 0; i < jobs_.size(); ++i) {
        if (jobs_[i].id == job) {
            return i;
        }
    }
    return -1;
}

JobId JobQueueModel::jobAt(int row) const {
    return row >= 0 && row < jobs_.size() ? jobs_[row].id : 0;
}

const GenerationParams* JobQueueModel::params(JobId job) const {
    const int row = rowOf(job);
    return row >= 0 ? &jobs_[row].params : nullptr;
}

int JobQueueModel::activeCount() const {
    int n = 0;
    for (const Entry& e : jobs_) {
        n += (e.state == JobState::Queued || e.state == JobState::Running) ? 1 : 0;
    }
    return n;
}

double JobQueueModel::overallProgress() const {
    double sum = 0.0;
    int n = 0;
    for (const Entry& e : jobs_) {
        if (e.state == JobState::Queued || e.state == JobState::Running) {
            sum += progressOf(e);
            ++n;
        }
    }
    return n == 0 ? -1.0 : sum / n;
}

double JobQueueModel::overallEta() const {
    double running = -1.0;
    double perJob = -1.0;
    int queued = 0;
    for (const Entry& e : jobs_) {
        if (e.state == JobState::Running) {
            running = etaOf(e);
            if (running >= 0 && e.elapsedS > 0) {
                perJob = e.elapsedS + running;
            }
        } else if (e.state == JobState::Queued) {
            ++queued;
        }
    }
    if (running < 0) {
        return -1.0;
    }
    if (queued > 0) {
        return perJob < 0 ? -1.0 : running + queued * perJob;
    }
    return running;
}

double JobQueueModel::progressOf(const Entry& e) const {
    switch (e.state) {
        case JobState::Finished:
            return 1.0;
        case JobState::Queued:
            return 0.0;
        case JobState::Failed:
        case JobState::Cancelled:
        case JobState::Running:
            break;
    }
    const StageSpan span = spanOf(e.stage);
    const double within = e.numSteps > 0 ? qBound(0.0, static_cast<double>(e.step) / e.numSteps, 1.0) : 0.0;
    return span.begin + (span.end - span.begin) * within;
}

double JobQueueModel::etaOf(const Entry& e) const {
    // The pace is measured from the first denoising step this job reported, so loading time and queue
    // wait never inflate it (ComfyUI #15962).
    if (e.state != JobState::Running || e.stage != JobStage::Denoising || e.denoiseStartS < 0) {
        return -1.0;
    }
    const int done = e.step - e.denoiseStartStep;
    if (done <= 0 || e.numSteps <= 0) {
        return -1.0;
    }
    const double perStep = (e.elapsedS - e.denoiseStartS) / done;
    if (perStep <= 0) {
        return -1.0;
    }
    // The VAE decode after denoising costs about two steps' worth.
    return perStep * (e.numSteps - e.step) + 2.0 * perStep;
}

int JobQueueModel::queuePosition(const Entry& e) const {
    if (e.state != JobState::Queued) {
        return 0;
    }
    int pos = 0;
    for (const Entry& other : jobs_) {
        if (other.state == JobState::Queued) {
            ++pos;
        }
        if (other.id == e.id) {
            break;
        }
    }
    return pos;
}

QString JobQueueModel::statusText(const Entry& e) const {
    if (e.cancelling && (e.state == JobState::Queued || e.state == JobState::Running)) {
        return tr("Cancelling…");
    }
    switch (e.state) {
        case JobState::Queued: {
            const int pos = queuePosition(e);
            return pos <= 1 ? tr("Queued · next") : tr("Queued · #%1").arg(pos);
        }
        case JobState::Running: {
            if (e.stage == JobStage::Denoising && e.numSteps > 0) {
                QString s = tr("Step %1/%2").arg(e.step).arg(e.numSteps);
                const double eta = etaOf(e);
                if (eta >= 0) {
                    s += QStringLiteral(" · ") + etaText(eta);
                }
                return s;
            }
            return stageLabel(e.stage) + QStringLiteral("…");
        }
        case JobState::Finished:
            return tr("Done in %1").arg(formatSeconds(e.durationS));
        case JobState::Failed:
            return tr("Failed: %1").arg(e.message);
        case JobState::Cancelled:
            return tr("Cancelled");
    }
    return {};
}

void JobQueueModel::changed(int row) {
    if (row < 0) {
        return;
    }
    const QModelIndex i = index(row);
    emit dataChanged(i, i);
    emit summaryChanged();
}

void JobQueueModel::addJob(JobId job, const GenerationParams& params) {
    if (job == 0 || rowOf(job) >= 0) {
        return;
    }
    const int row = static_cast<int>(jobs_.size());
    beginInsertRows(QModelIndex(), row, row);
    Entry e;
    e.id = job;
    e.params = params;
    e.params.inputImage = params.inputImage.isNull()
                              ? QImage()
                              : params.inputImage.scaled(64, 64, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    jobs_.append(e);
    endInsertRows();
    emit summaryChanged();
}

void JobQueueModel::markStarted(JobId job) {
    const int row = rowOf(job);
    if (row < 0) {
        return;
    }
    Entry& e = jobs_[row];
    if (e.state != JobState::Queued) {
        return;
    }
    e.state = JobState::Running;
    // Positions of the others change too.
    emit dataChanged(index(0), index(static_cast<int>(jobs_.size()) - 1));
    emit summaryChanged();
}

void JobQueueModel::updateProgress(JobId job, JobStage stage, int step, int numSteps, double elapsedS) {
    const int row = rowOf(job);
    if (row < 0) {
        return;
    }
    Entry& e = jobs_[row];
    if (e.state == JobState::Queued) {
        e.state = JobState::Running;
    }
    if (e.state != JobState::Running) {
        return;
    }
    if (stage == JobStage::Denoising && e.stage != JobStage::Denoising) {
        e.denoiseStartS = elapsedS;
        e.denoiseStartStep = step;
    }
    e.stage = stage;
    e.step = step;
    e.numSteps = numSteps;
    e.elapsedS = elapsedS;
    changed(row);
}

void JobQueueModel::setPreview(JobId job, int step, int numSteps, const QList<QImage>& frames) {
    Q_UNUSED(step);
    Q_UNUSED(numSteps);
    const int row = rowOf(job);
    if (row < 0 || frames.isEmpty()) {
        return;
    }
    jobs_[row].preview = frames.first();
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {PreviewRole, Qt::DecorationRole});
}

void JobQueueModel::markFinished(JobId job, const GenerationResult& result) {
    const int row = rowOf(job);
    if (row < 0) {
        return;
    }
    Entry& e = jobs_[row];
    e.state = JobState::Finished;
    e.stage = JobStage::Finishing;
    e.durationS = result.durationS > 0 ? result.durationS : e.elapsedS;
    const QImage& first = result.isVideo() ? result.frames.first() : result.image;
    if (!first.isNull()) {
        e.preview = first.scaled(96, 96, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    }
    emit dataChanged(index(0), index(static_cast<int>(jobs_.size()) - 1));
    emit summaryChanged();
}

void JobQueueModel::markFailed(JobId job, const QString& message, int code) {
    const int row = rowOf(job);
    if (row < 0) {
        return;
    }
    Entry& e = jobs_[row];
    e.state = JobState::Failed;
    e.message = message;
    e.failure = (code >= 0 && code <= static_cast<int>(FailureCode::Internal)) ? static_cast<FailureCode>(code)
                                                                               : FailureCode::Internal;
    e.hint = failureHint(e.failure, e.params);
    emit dataChanged(index(0), index(static_cast<int>(jobs_.size()) - 1));
    emit summaryChanged();
}

void JobQueueModel::markCancelled(JobId job) {
    const int row = rowOf(job);
    if (row < 0) {
        return;
    }
    jobs_[row].state = JobState::Cancelled;
    emit dataChanged(index(0), index(static_cast<int>(jobs_.size()) - 1));
    emit summaryChanged();
}

void JobQueueModel::markCancelling(JobId job) {
    const int row = rowOf(job);
    if (row < 0) {
        return;
    }
    jobs_[row].cancelling = true;
    changed(row);
}

void JobQueueModel::clearFinished() {
    for (int row = static_cast<int>(jobs_.size()) - 1; row >= 0; --row) {
        const JobState s = jobs_[row].state;
        if (s == JobState::Finished || s == JobState::Failed || s == JobState::Cancelled) {
            beginRemoveRows(QModelIndex(), row, row);
            jobs_.removeAt(row);
            endRemoveRows();
        }
    }
    emit summaryChanged();
}

bool JobQueueModel::removeJob(JobId job) {
    const int row = rowOf(job);
    if (row < 0 || jobs_[row].state == JobState::Queued || jobs_[row].state == JobState::Running) {
        return false;
    }
    beginRemoveRows(QModelIndex(), row, row);
    jobs_.removeAt(row);
    endRemoveRows();
    emit summaryChanged();
    return true;
}

}  // namespace ui
