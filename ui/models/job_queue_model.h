// JobQueueModel: the jobs of this session, keyed by JobId, newest last. Fed only by the EngineBridge's
// signals (GUI thread). Each row knows its state, stage, progress, ETA, latest preview thumbnail, and
// for a failed job the message and a hint.
#pragma once

#include <QAbstractListModel>
#include <QElapsedTimer>
#include <QImage>
#include <QList>

#include "ui/generation_types.h"

namespace ui {

class EngineBridge;

class JobQueueModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        JobIdRole = Qt::UserRole + 1,
        StateRole,          // JobState (int)
        StageRole,          // JobStage (int)
        ProgressRole,       // double 0..1 over the whole job
        StepRole,           // int: step within the stage
        NumStepsRole,       // int
        EtaRole,            // double seconds left, < 0 when unknown
        ElapsedRole,        // double seconds since it started
        StatusTextRole,     // QString: "Step 12/20 · about 8 s left"
        MessageRole,        // QString: failure message
        HintRole,           // QString: what to do about the failure
        FailureCodeRole,    // int (FailureCode)
        TaskRole,           // int (appcore::Task)
        PromptRole,         // QString
        PreviewRole,        // QImage: latest preview (first frame)
        QueuePositionRole,  // int: 1 for the next queued job, 0 when not queued
    };

    explicit JobQueueModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    /// Wires every bridge signal to the matching slot.
    void connectTo(EngineBridge* bridge);

    /// Row of a job, or -1.
    int rowOf(JobId job) const;
    JobId jobAt(int row) const;
    /// The parameters a job was submitted with (nullptr if unknown).
    const GenerationParams* params(JobId job) const;
    /// Jobs queued or running.
    int activeCount() const;
    /// Progress of all active jobs together (0..1); -1 when none is active.
    double overallProgress() const;
    /// Seconds left for all active jobs, from the running job's pace (-1 when unknown).
    double overallEta() const;
    /// "about 8 s left", "almost done".
    static QString etaText(double seconds);

public slots:
    void addJob(ui::JobId job, const ui::GenerationParams& params);
    void markStarted(ui::JobId job);
    void updateProgress(ui::JobId job, ui::JobStage stage, int step, int numSteps, double elapsedS);
    void setPreview(ui::JobId job, int step, int numSteps, const QList<QImage>& frames);
    void markFinished(ui::JobId job, const ui::GenerationResult& result);
    void markFailed(ui::JobId job, const QString& message, int code);
    void markCancelled(ui::JobId job);
    /// Marks a job as being cancelled (until the engine confirms).
    void markCancelling(ui::JobId job);
    /// Removes finished, failed and cancelled rows.
    void clearFinished();
    /// Removes one row that is no longer active.
    bool removeJob(ui::JobId job);

signals:
    /// Emitted whenever activeCount() or overallProgress() may have changed.
    void summaryChanged();

private:
    struct Entry {
        JobId id = 0;
        GenerationParams params;
        JobState state = JobState::Queued;
        JobStage stage = JobStage::None;
        int step = 0;
        int numSteps = 0;
        double elapsedS = 0.0;
        double denoiseStartS = -1.0;  // elapsed time at the first denoising event
        int denoiseStartStep = 0;
        double durationS = 0.0;
        bool cancelling = false;
        QString message;
        QString hint;
        FailureCode failure = FailureCode::None;
        QImage preview;
    };

    double progressOf(const Entry& e) const;
    double etaOf(const Entry& e) const;
    QString statusText(const Entry& e) const;
    int queuePosition(const Entry& e) const;
    void changed(int row);

    QList<Entry> jobs_;
};

}  // namespace ui
