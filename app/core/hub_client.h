// The Hugging Face hub client: lists a repo through the hub API, downloads the files a model needs into
// the shared huggingface_hub cache, resumes interrupted downloads with Range requests, checks every file
// against its hash (sha256 = the LFS etag; git blob sha1 for small files) before it is used, retries
// with backoff, downloads several files at once, and can pause, resume and cancel.
//
//   appcore::HubClient hub(appcore::HubConfig::fromEnvironment());
//   appcore::PullJob* job = hub.pull("Efficient-Large-Model/Sana_Sprint_0.6B_1024px_diffusers", options);
//   QObject::connect(job, &appcore::PullJob::progressed, ...);
//   QObject::connect(job, &appcore::PullJob::finished, ...);  // snapshot folder, ready to load
//   QObject::connect(job, &appcore::PullJob::failed, ...);    // HubError with a message for the user
//
// Threading: HubClient and its jobs live in one thread with an event loop (the GUI thread, or the CLI's
// QCoreApplication); every call and signal happens there.
#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QUrl>

#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "core/hub_cache.h"
#include "core/hub_config.h"
#include "core/hub_selection.h"

class QNetworkAccessManager;
class QNetworkReply;
class QTimer;

namespace appcore {

enum class HubErrorKind {
    None = 0,
    InvalidRequest,  // bad repo id / revision
    Offline,         // HF_HUB_OFFLINE and not in the cache
    Network,         // connection failures, after the retries
    Unauthorized,    // 401: missing/invalid token, private repo
    Gated,           // gated repo: licence not accepted, or no token
    NotFound,        // 404: repo, revision or file
    Server,          // 5xx / 429 after the retries
    Checksum,        // content does not match its sha256 / git sha1
    DiskSpace,       // not enough space before starting, or a write failed for lack of space
    UnsafePath,      // the listing names a file outside the repo folder
    Protocol,        // unexpected answers (sizes, ranges, changed files)
    Busy,            // another process downloads the same blob
    Io,              // other local file errors
};
const char* toString(HubErrorKind kind);

struct HubError {
    HubErrorKind kind = HubErrorKind::None;
    int httpStatus = 0;
    QString file;     // repo path of the file concerned, if any
    QString message;  // for the user: what happened and what to do
};

struct RepoListing {
    QString repoId;
    QString revision;
    QString commit;
    QString gated;  // "false", "auto" or "manual" (the hub's model info)
    QList<RepoFile> files;
};

struct PullOptions {
    QString revision = QStringLiteral("main");
    FileSelection selection;
};

struct PullProgress {
    qint64 bytesDone = 0;
    qint64 bytesTotal = 0;
    double bytesPerSecond = 0.0;
    double etaSeconds = -1.0;  // -1: unknown
    int filesDone = 0;
    int filesTotal = 0;
    QString currentFile;  // the largest file in flight
};

/// One `pull` of a repo. Created by HubClient::pull(); owned by the client unless reparented.
class PullJob : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Listing, Downloading, Paused, Finished, Failed, Cancelled };
    Q_ENUM(State)

    ~PullJob() override;

    const QString& repoId() const { return repoId_; }
    State state() const { return state_; }
    bool isActive() const { return state_ == State::Listing || state_ == State::Downloading; }
    const HubError& error() const { return error_; }
    const RepoListing& listing() const { return listing_; }
    /// The files this pull downloads (after the selection).
    QList<RepoFile> selectedFiles() const;
    /// snapshots/<commit> once finished.
    const QString& snapshotDir() const { return snapshotDir_; }
    PullProgress progress() const;

public slots:
    /// Lists the repo and downloads; called by HubClient::pull.
    void start();
    /// Stops the transfers; the partial files stay for resume().
    void pause();
    /// Continues a paused pull (Range requests from where each file stopped).
    void resume();
    /// Stops now and deletes the partial files; completed, verified files stay in the cache.
    void cancel();

signals:
    void listed(qint64 bytesTotal, int numFiles);
    void progressed(const appcore::PullProgress& progress);
    void fileCompleted(const QString& path);
    void stateChanged(appcore::PullJob::State state);
    void finished(const QString& snapshotDir);
    void failed(const appcore::HubError& error);
    void paused();
    void cancelled();

private:
    friend class HubClient;
    struct FileTask;

    PullJob(QNetworkAccessManager* network, HubConfig config, QString repoId, PullOptions options, QObject* parent);

    void setState(State s);
    void requestListing();
    void onListingFinished(QNetworkReply* reply, int generation);
    void prepareFiles();
    void schedule();
    void beginTask(FileTask& t);
    void continueRehash(FileTask& t, int generation);
    void sendRequest(FileTask& t, const QUrl& url);
    void onHeaders(FileTask& t, QNetworkReply* reply);
    void onReadyRead(FileTask& t, QNetworkReply* reply);
    void onReplyFinished(FileTask& t, QNetworkReply* reply, int generation);
    void retryTask(FileTask& t, const QString& reason, int httpStatus);
    void completeTask(FileTask& t);
    void abortReply(FileTask& t);
    void resetTaskFile(FileTask& t);
    void fail(HubError error, FileTask* culprit, bool deleteCulpritPartial);
    void stopTransfers();
    void releaseTasks(bool deletePartials);
    void emitProgress(bool force);
    HubError httpError(QNetworkReply* reply, int status, const QString& file) const;
    QNetworkReply* get(const QUrl& url, qint64 rangeStart);
    QUrl resolveUrl(const RepoFile& file) const;
    QString webUrl(const QString& path) const;
    int retryDelayMs(int attempt) const;

    QNetworkAccessManager* network_;
    HubConfig config_;
    HubCache cache_;
    QString repoId_;
    PullOptions options_;
    State state_ = State::Idle;
    HubError error_;
    RepoListing listing_;
    bool listingDone_ = false;
    QPointer<QNetworkReply> listingReply_;
    int listingGeneration_ = 0;
    int listingAttempts_ = 0;
    std::vector<std::unique_ptr<FileTask>> tasks_;
    int filesDone_ = 0;
    qint64 bytesTotal_ = 0;
    QString snapshotDir_;
    QElapsedTimer clock_;
    qint64 lastProgressMs_ = -1;
    std::deque<std::pair<qint64, qint64>> speedSamples_;  // (ms, bytesDone)
};

class HubClient : public QObject {
    Q_OBJECT
public:
    explicit HubClient(HubConfig config, QObject* parent = nullptr);
    ~HubClient() override;

    const HubConfig& config() const { return config_; }
    HubCache cache() const { return HubCache(config_.cacheDir); }
    /// Replaces the access token (e.g. from the GUI's token field); `source` names it in messages.
    void setToken(const QString& token, const QString& source);
    /// Starts pulling `repoId`; the job reports through its signals. Delete it (deleteLater) when done,
    /// or leave it to the client.
    PullJob* pull(const QString& repoId, const PullOptions& options = {});

private:
    HubConfig config_;
    QNetworkAccessManager* network_;
};

/// "1.5 GB", "830 MB", "12 kB" (decimal units, as the hub shows sizes).
QString formatBytes(qint64 bytes);

}  // namespace appcore

Q_DECLARE_METATYPE(appcore::HubError)
Q_DECLARE_METATYPE(appcore::PullProgress)
