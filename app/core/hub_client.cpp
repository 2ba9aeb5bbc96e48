#include "core/hub_client.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QStorageInfo>
#include <QTimer>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifndef KINORA_VERSION
#define KINORA_VERSION "dev"
#endif

namespace appcore {

namespace {

constexpr int kMaxRedirects = 10;
constexpr qint64 kRehashChunk = 8 * 1024 * 1024;
constexpr qint64 kProgressIntervalMs = 100;
constexpr qint64 kSpeedWindowMs = 5000;

bool isRedirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool isRetryableStatus(int status) {
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool sameOrigin(const QUrl& a, const QUrl& b) {
    return a.scheme() == b.scheme() && a.host().compare(b.host(), Qt::CaseInsensitive) == 0 &&
           a.port(a.scheme() == QStringLiteral("https") ? 443 : 80) ==
               b.port(b.scheme() == QStringLiteral("https") ? 443 : 80);
}

// huggingface_hub's etag normalisation: drop a weak "W/" prefix and the quotes.
QString normalizeEtag(QByteArray raw) {
    raw = raw.trimmed();
    if (raw.startsWith("W/")) {
        raw = raw.mid(2);
    }
    if (raw.size() >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
        raw = raw.mid(1, raw.size() - 2);
    }
    return QString::fromLatin1(raw);
}

QString quoted(const QString& path) {
    // Names from the hub are shown escaped, so a hostile name cannot fake a message.
    QString out;
    for (const QChar c : path) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f) {
            out += QStringLiteral("\\x%1").arg(c.unicode(), 2, 16, QLatin1Char('0'));
        } else {
            out += c;
        }
    }
    return QLatin1Char('\'') + out + QLatin1Char('\'');
}

bool isHex(const QString& s, int length) {
    if (s.size() != length) {
        return false;
    }
    for (const QChar c : s) {
        if (!((c >= QLatin1Char('0') && c <= QLatin1Char('9')) || (c >= QLatin1Char('a') && c <= QLatin1Char('f')))) {
            return false;
        }
    }
    return true;
}

// The nearest existing folder at or above `path` (the cache folder may not exist yet).
QString existingAncestor(QString path) {
    QFileInfo info(path);
    while (!info.exists()) {
        const QString parent = info.absolutePath();
        if (parent == info.absoluteFilePath()) {
            break;
        }
        info = QFileInfo(parent);
    }
    return info.absoluteFilePath();
}

bool isDiskFullErrno(int err) {
#ifdef EDQUOT
    if (err == EDQUOT) {
        return true;
    }
#endif
    return err == ENOSPC || err == EFBIG;
}

}  // namespace

const char* toString(HubErrorKind kind) {
    switch (kind) {
        case HubErrorKind::None:
            return "none";
        case HubErrorKind::InvalidRequest:
            return "invalid request";
        case HubErrorKind::Offline:
            return "offline";
        case HubErrorKind::Network:
            return "network";
        case HubErrorKind::Unauthorized:
            return "unauthorized";
        case HubErrorKind::Gated:
            return "gated";
        case HubErrorKind::NotFound:
            return "not found";
        case HubErrorKind::Server:
            return "server";
        case HubErrorKind::Checksum:
            return "checksum";
        case HubErrorKind::DiskSpace:
            return "disk space";
        case HubErrorKind::UnsafePath:
            return "unsafe path";
        case HubErrorKind::Protocol:
            return "protocol";
        case HubErrorKind::Busy:
            return "busy";
        case HubErrorKind::Io:
            return "io";
    }
    return "unknown";
}

QString formatBytes(qint64 bytes) {
    const double b = static_cast<double>(bytes);
    if (bytes >= 1000LL * 1000 * 1000) {
        return QStringLiteral("%1 GB").arg(b / 1e9, 0, 'f', b >= 1e11 ? 0 : (b >= 1e10 ? 1 : 2));
    }
    if (bytes >= 1000LL * 1000) {
        return QStringLiteral("%1 MB").arg(b / 1e6, 0, 'f', b >= 1e8 ? 0 : 1);
    }
    if (bytes >= 1000) {
        return QStringLiteral("%1 kB").arg(b / 1e3, 0, 'f', 0);
    }
    return QStringLiteral("%1 B").arg(bytes);
}

// ---- one file of a pull --------------------------------------------------------------------------

struct PullJob::FileTask {
    enum class Status { Pending, Active, Done };

    RepoFile file;
    QStringList aliases;  // other paths of the same content in this repo: linked to the same blob
    Status status = Status::Pending;
    qint64 offset = 0;  // bytes in the .incomplete file, all of them in `hash`
    bool hashValid = false;
    std::unique_ptr<QCryptographicHash> hash;
    std::unique_ptr<QFile> out;
    std::unique_ptr<QFile> rehashIn;
    BlobLock lock;
    QPointer<QNetworkReply> reply;
    int generation = 0;  // bumped whenever pending callbacks of this task must be ignored
    int attempts = 0;    // consecutive failed attempts
    int redirects = 0;
    bool firstHop = true;    // the current request is the resolve URL (not the CDN)
    bool accepting = false;  // the current response is file content
    bool headersSeen = false;
    qint64 attemptBytes = 0;
    QByteArray errorBody;

    void resetHash() {
        hash =
            std::make_unique<QCryptographicHash>(file.isLfs() ? QCryptographicHash::Sha256 : QCryptographicHash::Sha1);
        if (!file.isLfs()) {
            hash->addData(QByteArray("blob ") + QByteArray::number(file.size) + QByteArray(1, '\0'));
        }
        offset = 0;
        hashValid = true;
    }
};

// ---- PullJob ---------------------------------------------------------------------------------------

PullJob::PullJob(QNetworkAccessManager* network, HubConfig config, QString repoId, PullOptions options, QObject* parent)
    : QObject(parent),
      network_(network),
      config_(std::move(config)),
      cache_(config_.cacheDir),
      repoId_(std::move(repoId)),
      options_(std::move(options)) {
    if (options_.revision.isEmpty()) {
        options_.revision = QStringLiteral("main");
    }
    clock_.start();
}

PullJob::~PullJob() {
    stopTransfers();
    releaseTasks(false);
}

QList<RepoFile> PullJob::selectedFiles() const {
    QList<RepoFile> files;
    for (const auto& t : tasks_) {
        files.append(t->file);
    }
    return files;
}

PullProgress PullJob::progress() const {
    PullProgress p;
    p.bytesTotal = bytesTotal_;
    p.filesTotal = static_cast<int>(tasks_.size());
    p.filesDone = filesDone_;
    qint64 largest = -1;
    for (const auto& t : tasks_) {
        p.bytesDone += t->status == FileTask::Status::Done ? t->file.size : t->offset;
        if (t->status == FileTask::Status::Active && t->file.size > largest) {
            largest = t->file.size;
            p.currentFile = t->file.path;
        }
    }
    if (speedSamples_.size() >= 2) {
        const auto& a = speedSamples_.front();
        const auto& b = speedSamples_.back();
        if (b.first > a.first) {
            p.bytesPerSecond =
                static_cast<double>(b.second - a.second) * 1000.0 / static_cast<double>(b.first - a.first);
        }
    }
    if (p.bytesPerSecond > 0.0) {
        p.etaSeconds = static_cast<double>(p.bytesTotal - p.bytesDone) / p.bytesPerSecond;
    }
    return p;
}

void PullJob::setState(State s) {
    if (state_ != s) {
        state_ = s;
        emit stateChanged(s);
    }
}

QString PullJob::webUrl(const QString& path) const {
    return config_.endpoint.toString() + QLatin1Char('/') + path;
}

int PullJob::retryDelayMs(int attempt) const {
    qint64 delay = config_.retryBaseDelayMs;
    for (int i = 1; i < attempt && delay < config_.retryMaxDelayMs; ++i) {
        delay *= 2;
    }
    return static_cast<int>(std::min<qint64>(delay, config_.retryMaxDelayMs));
}

QNetworkReply* PullJob::get(const QUrl& url, qint64 rangeStart) {
    QNetworkRequest request(url);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    request.setRawHeader("User-Agent", QByteArray("kinora/") + KINORA_VERSION + "; hf_hub-compatible");
    request.setRawHeader("Accept-Encoding", "identity");  // real sizes, byte ranges of the real content
    // The token goes to the hub only, never to the CDN a download is redirected to.
    if (!config_.token.isEmpty() && sameOrigin(url, config_.endpoint)) {
        request.setRawHeader("Authorization", "Bearer " + config_.token.toUtf8());
    }
    if (rangeStart > 0) {
        request.setRawHeader("Range", "bytes=" + QByteArray::number(rangeStart) + "-");
    }
    request.setTransferTimeout(config_.stallTimeoutMs);
    return network_->get(request);
}

QUrl PullJob::resolveUrl(const RepoFile& file) const {
    // The commit, not the branch: every file comes from the same commit even if the branch moves.
    const QByteArray url = config_.endpoint.toEncoded() + '/' + repoId_.toUtf8() + "/resolve/" +
                           listing_.commit.toLatin1() + '/' + QUrl::toPercentEncoding(file.path, "/");
    return QUrl::fromEncoded(url, QUrl::StrictMode);
}

void PullJob::start() {
    if (state_ != State::Idle) {
        return;
    }
    if (!HubCache::isValidRepoId(repoId_)) {
        fail({HubErrorKind::InvalidRequest,
              0,
              {},
              QStringLiteral("%1 is not a valid Hugging Face repo id: expected \"organisation/name\" "
                             "(letters, digits, '-', '_', '.').")
                  .arg(quoted(repoId_))},
             nullptr, false);
        return;
    }
    if (!HubCache::isValidRevision(options_.revision)) {
        fail({HubErrorKind::InvalidRequest,
              0,
              {},
              QStringLiteral("%1 is not a valid revision (a branch, tag or commit).").arg(quoted(options_.revision))},
             nullptr, false);
        return;
    }
    if (config_.offline) {
        const QString dir = cache_.resolveSnapshot(repoId_, options_.revision);
        if (!dir.isEmpty() && !QDir(dir).isEmpty()) {
            snapshotDir_ = dir;
            setState(State::Finished);
            emit finished(snapshotDir_);
            return;
        }
        fail({HubErrorKind::Offline,
              0,
              {},
              QStringLiteral("HF_HUB_OFFLINE is set, so Kinora does not connect to the hub, and %1 (%2) is not in "
                             "the cache at %3. Unset HF_HUB_OFFLINE to download it.")
                  .arg(repoId_, options_.revision, config_.cacheDir)},
             nullptr, false);
        return;
    }
    setState(State::Listing);
    requestListing();
}

void PullJob::requestListing() {
    const QByteArray url = config_.endpoint.toEncoded() + "/api/models/" + repoId_.toUtf8() + "/revision/" +
                           QUrl::toPercentEncoding(options_.revision) + "?blobs=true";
    QNetworkReply* reply = get(QUrl::fromEncoded(url, QUrl::StrictMode), 0);
    listingReply_ = reply;
    const int generation = ++listingGeneration_;
    connect(reply, &QNetworkReply::finished, this, [this, reply, generation] { onListingFinished(reply, generation); });
}

HubError PullJob::httpError(QNetworkReply* reply, int status, const QString& file) const {
    const QString code = QString::fromLatin1(reply->rawHeader("X-Error-Code"));
    QString serverMessage = QString::fromUtf8(reply->rawHeader("X-Error-Message")).left(300);
    serverMessage.removeIf([](QChar c) { return c.unicode() < 0x20 || c.unicode() == 0x7f; });
    const QString repoPage = webUrl(repoId_);
    const QString tokenName = config_.tokenSource.isEmpty() ? QStringLiteral("the token field") : config_.tokenSource;
    HubError e;
    e.httpStatus = status;
    e.file = file;
    const QString detail =
        serverMessage.isEmpty() ? QString() : QStringLiteral(" (the hub says: %1)").arg(serverMessage);
    if (status == 401 || status == 403) {
        const bool gated = code == QStringLiteral("GatedRepo") ||
                           (listing_.gated != QStringLiteral("false") && !listing_.gated.isEmpty());
        if (gated && config_.token.isEmpty()) {
            e.kind = HubErrorKind::Gated;
            e.message = QStringLiteral(
                            "%1 is a gated model: its authors ask you to accept their licence before downloading. "
                            "1) Log in at %2 and accept the licence. 2) Create a read access token at %3. "
                            "3) Enter it in Kinora's access-token field (or set HF_TOKEN, or run `hf auth login`), "
                            "then download again.%4")
                            .arg(repoId_, repoPage, webUrl(QStringLiteral("settings/tokens")), detail);
        } else if (gated) {
            e.kind = HubErrorKind::Gated;
            e.message = QStringLiteral(
                            "Your access token (from %1) has no access to the gated model %2 (HTTP %3): accept the "
                            "licence at %4 while logged in with the account that owns the token, and check that the "
                            "token may read gated repos (%5).%6")
                            .arg(tokenName, repoId_, QString::number(status), repoPage,
                                 webUrl(QStringLiteral("settings/tokens")), detail);
        } else if (config_.token.isEmpty()) {
            e.kind = HubErrorKind::Unauthorized;
            e.message = QStringLiteral(
                            "The hub refused %1 (HTTP %2): the repo does not exist or is private. Check the name; "
                            "if it is private, enter an access token (%3) that can read it.%4")
                            .arg(repoId_, QString::number(status), webUrl(QStringLiteral("settings/tokens")), detail);
        } else {
            e.kind = HubErrorKind::Unauthorized;
            e.message = QStringLiteral(
                            "The hub refused your access token (from %1) for %2 (HTTP %3): the token is invalid or "
                            "expired, or cannot read this repo. Make a new one at %4.%5")
                            .arg(tokenName, repoId_, QString::number(status), webUrl(QStringLiteral("settings/tokens")),
                                 detail);
        }
        return e;
    }
    if (status == 404) {
        e.kind = HubErrorKind::NotFound;
        if (code == QStringLiteral("RevisionNotFound")) {
            e.message = QStringLiteral("%1 has no revision %2 on %3.%4")
                            .arg(repoId_, quoted(options_.revision), config_.endpoint.toString(), detail);
        } else if (code == QStringLiteral("EntryNotFound") || !file.isEmpty()) {
            e.message = QStringLiteral("%1 has no file %2 at commit %3 (HTTP 404).%4")
                            .arg(repoId_, quoted(file), listing_.commit, detail);
        } else {
            e.message = QStringLiteral("There is no model repo %1 on %2 (HTTP 404). Check the name at %3.%4")
                            .arg(repoId_, config_.endpoint.toString(), repoPage, detail);
        }
        return e;
    }
    e.kind = isRetryableStatus(status) ? HubErrorKind::Server : HubErrorKind::Protocol;
    const QString reason = reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
    e.message = QStringLiteral("The hub answered HTTP %1 %2 for %3.%4")
                    .arg(QString::number(status), reason, file.isEmpty() ? repoId_ : quoted(file), detail);
    return e;
}

void PullJob::onListingFinished(QNetworkReply* reply, int generation) {
    reply->deleteLater();
    if (generation != listingGeneration_ || state_ != State::Listing) {
        return;
    }
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status == 0 || reply->error() != QNetworkReply::NoError) {
        if (status == 0 || isRetryableStatus(status)) {
            ++listingAttempts_;
            const QString reason = status == 0 ? reply->errorString() : QStringLiteral("HTTP %1").arg(status);
            if (listingAttempts_ >= config_.maxAttempts) {
                HubError e = status == 0 ? HubError{HubErrorKind::Network, 0, {}, {}} : httpError(reply, status, {});
                e.message = QStringLiteral(
                                "Could not list the files of %1 on %2 after %3 attempts (%4). Check your "
                                "internet connection (or HF_ENDPOINT), then try again.")
                                .arg(repoId_, config_.endpoint.toString(), QString::number(listingAttempts_), reason);
                fail(e, nullptr, false);
                return;
            }
            const int gen = listingGeneration_;
            QTimer::singleShot(retryDelayMs(listingAttempts_), this, [this, gen] {
                if (gen == listingGeneration_ && state_ == State::Listing) {
                    requestListing();
                }
            });
            return;
        }
        fail(httpError(reply, status, {}), nullptr, false);
        return;
    }
    QJsonParseError parseError{};
    const QJsonDocument doc = QJsonDocument::fromJson(reply->readAll(), &parseError);
    const QJsonObject info = doc.object();
    const QString commit = info.value(QStringLiteral("sha")).toString();
    if (parseError.error != QJsonParseError::NoError || !HubCache::isCommitHash(commit) ||
        !info.value(QStringLiteral("siblings")).isArray()) {
        fail({HubErrorKind::Protocol,
              status,
              {},
              QStringLiteral("The hub's answer for %1 is not a model listing (no commit or file list). Is HF_ENDPOINT "
                             "(%2) a Hugging Face hub?")
                  .arg(repoId_, config_.endpoint.toString())},
             nullptr, false);
        return;
    }
    RepoListing listing;
    listing.repoId = repoId_;
    listing.revision = options_.revision;
    listing.commit = commit;
    const QJsonValue gated = info.value(QStringLiteral("gated"));
    listing.gated =
        gated.isString() ? gated.toString() : (gated.toBool(false) ? QStringLiteral("true") : QStringLiteral("false"));
    for (const QJsonValue& v : info.value(QStringLiteral("siblings")).toArray()) {
        const QJsonObject s = v.toObject();
        RepoFile f;
        f.path = s.value(QStringLiteral("rfilename")).toString();
        if (!HubCache::isSafeRelativePath(f.path)) {
            fail({HubErrorKind::UnsafePath, 0, f.path,
                  QStringLiteral("The file list of %1 contains the unsafe name %2, which would be written outside the "
                                 "model's folder. Nothing was downloaded. The repo (or the server at %3) is broken or "
                                 "hostile; do not use it.")
                      .arg(repoId_, quoted(f.path), config_.endpoint.toString())},
                 nullptr, false);
            return;
        }
        f.blobId = s.value(QStringLiteral("blobId")).toString();
        f.size = static_cast<qint64>(s.value(QStringLiteral("size")).toDouble(-1));
        const QJsonObject lfs = s.value(QStringLiteral("lfs")).toObject();
        if (!lfs.isEmpty()) {
            f.sha256 = lfs.value(QStringLiteral("sha256")).toString();
            f.size = static_cast<qint64>(lfs.value(QStringLiteral("size")).toDouble(-1));
        }
        const bool hashOk = f.isLfs() ? isHex(f.sha256, 64) : isHex(f.blobId, 40);
        if (!hashOk || f.size < 0) {
            fail({HubErrorKind::Protocol, 0, f.path,
                  QStringLiteral("The hub listed %1 of %2 without a valid size and hash, so it cannot be verified.")
                      .arg(quoted(f.path), repoId_)},
                 nullptr, false);
            return;
        }
        listing.files.append(f);
    }
    listing_ = listing;
    listingDone_ = true;
    prepareFiles();
}

void PullJob::prepareFiles() {
    const QList<RepoFile> selected = selectFiles(listing_.files, options_.selection);
    if (selected.isEmpty()) {
        fail({HubErrorKind::NotFound,
              0,
              {},
              QStringLiteral("None of the %1 files of %2 matches the model's file list (%3).")
                  .arg(QString::number(listing_.files.size()), repoId_,
                       options_.selection.include.isEmpty() ? QStringLiteral("all files")
                                                            : options_.selection.include.join(QStringLiteral(", ")))},
             nullptr, false);
        return;
    }
    if (listing_.gated != QStringLiteral("false") && !listing_.gated.isEmpty() && config_.token.isEmpty()) {
        // Same advice as for a 401 GatedRepo answer, without asking the hub for files it will refuse.
        HubError e;
        e.kind = HubErrorKind::Gated;
        e.message = QStringLiteral(
                        "%1 is a gated model: its authors ask you to accept their licence before downloading. "
                        "1) Log in at %2 and accept the licence. 2) Create a read access token at %3. "
                        "3) Enter it in Kinora's access-token field (or set HF_TOKEN, or run `hf auth login`), "
                        "then download again.")
                        .arg(repoId_, webUrl(repoId_), webUrl(QStringLiteral("settings/tokens")));
        fail(e, nullptr, false);
        return;
    }
    tasks_.clear();
    bytesTotal_ = 0;
    filesDone_ = 0;
    qint64 needed = 0;
    for (const RepoFile& f : selected) {
        if (!cache_.hasSnapshotFile(repoId_, listing_.commit, f.path, f.size)) {
            // The same content at another path (identical small configs are common): one download, two links.
            auto same = std::find_if(tasks_.begin(), tasks_.end(), [&f](const std::unique_ptr<FileTask>& t) {
                return t->file.etag() == f.etag() && t->status != FileTask::Status::Done;
            });
            if (same != tasks_.end()) {
                (*same)->aliases.append(f.path);
                continue;
            }
        }
        auto t = std::make_unique<FileTask>();
        t->file = f;
        bytesTotal_ += f.size;
        QString error;
        if (cache_.hasSnapshotFile(repoId_, listing_.commit, f.path, f.size)) {
            t->status = FileTask::Status::Done;  // already there (maybe downloaded by Python)
        } else if (cache_.hasBlob(repoId_, f.etag(), f.size)) {
            if (!cache_.linkSnapshotFile(repoId_, listing_.commit, f.path, f.etag(), &error)) {
                fail({HubErrorKind::Io, 0, f.path, QStringLiteral("Cannot update the cache: %1").arg(error)}, nullptr,
                     false);
                return;
            }
            t->status = FileTask::Status::Done;  // same content at another commit
        } else {
            const QFileInfo partial(cache_.incompletePath(repoId_, f.etag()));
            if (partial.isFile() && partial.size() <= f.size) {
                t->offset = partial.size();  // resumed below; its bytes are hashed again before that
            }
            needed += f.size - t->offset;
        }
        if (t->status == FileTask::Status::Done) {
            ++filesDone_;
        }
        tasks_.push_back(std::move(t));
    }
    if (needed > 0) {
        const QString where = existingAncestor(config_.cacheDir);
        const qint64 available = QStorageInfo(where).bytesAvailable();
        if (available >= 0 && available - config_.reserveBytes < needed) {
            fail({HubErrorKind::DiskSpace,
                  0,
                  {},
                  QStringLiteral("Not enough disk space for %1: it needs %2 more, the disk holding %3 has %4 free, "
                                 "and Kinora keeps %5 free (KINORA_HUB_MIN_FREE_MB). Free some disk space, or set "
                                 "HF_HUB_CACHE to a folder on a bigger disk, then download again.")
                      .arg(repoId_, formatBytes(needed), config_.cacheDir, formatBytes(std::max<qint64>(available, 0)),
                           formatBytes(config_.reserveBytes))},
                 nullptr, false);
            return;
        }
    }
    emit listed(bytesTotal_, static_cast<int>(tasks_.size()));
    if (filesDone_ == static_cast<int>(tasks_.size())) {
        QString error;
        cache_.writeRef(repoId_, options_.revision, listing_.commit, &error);
        snapshotDir_ = cache_.snapshotDir(repoId_, listing_.commit);
        emitProgress(true);
        setState(State::Finished);
        emit finished(snapshotDir_);
        return;
    }
    setState(State::Downloading);
    emitProgress(true);
    schedule();
}

void PullJob::schedule() {
    if (state_ != State::Downloading) {
        return;
    }
    int active = 0;
    for (const auto& t : tasks_) {
        active += t->status == FileTask::Status::Active ? 1 : 0;
    }
    for (auto& t : tasks_) {
        if (active >= config_.maxParallelFiles) {
            break;
        }
        if (t->status == FileTask::Status::Pending) {
            ++active;
            beginTask(*t);
            if (state_ != State::Downloading) {
                return;  // beginTask failed the pull
            }
        }
    }
}

void PullJob::beginTask(FileTask& t) {
    t.status = FileTask::Status::Active;
    QString error;
    if (!t.lock.isLocked() && !t.lock.tryLock(cache_.lockPath(repoId_, t.file.etag()), &error)) {
        fail({HubErrorKind::Busy, 0, t.file.path,
              QStringLiteral("Cannot download %1 of %2: %3 (%4). Wait until the other download (maybe a Python "
                             "program using the same cache) is done, then try again.")
                  .arg(quoted(t.file.path), repoId_, error, cache_.lockPath(repoId_, t.file.etag()))},
             nullptr, false);
        return;
    }
    const QString partialPath = cache_.incompletePath(repoId_, t.file.etag());
    if (!t.out) {
        QDir().mkpath(QFileInfo(partialPath).absolutePath());
        // Unbuffered: a failed write reports its errno at once (disk full, quota, file size limit).
        t.out = std::make_unique<QFile>(partialPath);
        if (!t.out->open(QIODevice::ReadWrite | QIODevice::Unbuffered)) {
            fail({HubErrorKind::Io, 0, t.file.path,
                  QStringLiteral("Cannot write into the cache: %1: %2").arg(partialPath, t.out->errorString())},
                 &t, false);
            return;
        }
        const qint64 onDisk = t.out->size();
        if (!t.hashValid || onDisk != t.offset) {
            if (onDisk > t.file.size) {
                t.out->resize(0);
            }
            t.resetHash();
            if (t.out->size() > 0) {
                // Bytes of an earlier run: hash them again (in chunks, the event loop keeps running).
                t.rehashIn = std::make_unique<QFile>(partialPath);
                if (!t.rehashIn->open(QIODevice::ReadOnly)) {
                    t.rehashIn.reset();
                    t.out->resize(0);
                } else {
                    continueRehash(t, t.generation);
                    return;
                }
            }
        }
        t.out->seek(t.offset);
    }
    t.attempts = 0;
    t.redirects = 0;
    t.firstHop = true;
    sendRequest(t, resolveUrl(t.file));
}

void PullJob::continueRehash(FileTask& t, int generation) {
    if (generation != t.generation || !t.rehashIn || state_ != State::Downloading) {
        return;
    }
    const QByteArray chunk = t.rehashIn->read(kRehashChunk);
    if (!chunk.isEmpty()) {
        t.hash->addData(chunk);
        t.offset += chunk.size();
        QTimer::singleShot(0, this, [this, tp = &t, generation] { continueRehash(*tp, generation); });
        return;
    }
    t.rehashIn.reset();
    t.out->seek(t.offset);
    emitProgress(false);
    t.attempts = 0;
    t.redirects = 0;
    t.firstHop = true;
    sendRequest(t, resolveUrl(t.file));
}

void PullJob::sendRequest(FileTask& t, const QUrl& url) {
    t.accepting = false;
    t.headersSeen = false;
    t.attemptBytes = 0;
    t.errorBody.clear();
    QNetworkReply* reply = get(url, t.offset);
    reply->setReadBufferSize(4 * 1024 * 1024);
    t.reply = reply;
    const int generation = t.generation;
    FileTask* tp = &t;
    connect(reply, &QNetworkReply::metaDataChanged, this, [this, tp, reply, generation] {
        if (generation == tp->generation && tp->reply == reply) {
            onHeaders(*tp, reply);
        }
    });
    connect(reply, &QNetworkReply::readyRead, this, [this, tp, reply, generation] {
        if (generation == tp->generation && tp->reply == reply) {
            onReadyRead(*tp, reply);
        }
    });
    connect(reply, &QNetworkReply::finished, this, [this, tp, reply, generation] {
        reply->deleteLater();
        if (generation == tp->generation && tp->reply == reply) {
            onReplyFinished(*tp, reply, generation);
        }
    });
}

void PullJob::onHeaders(FileTask& t, QNetworkReply* reply) {
    if (t.headersSeen) {
        return;
    }
    t.headersSeen = true;
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status != 200 && status != 206 && !isRedirect(status)) {
        t.accepting = false;
        return;
    }
    // Identity checks, on the hub's answer (a redirect or the content itself).
    const QString commit = QString::fromLatin1(reply->rawHeader("X-Repo-Commit")).trimmed();
    QByteArray etagHeader = reply->rawHeader("X-Linked-Etag");
    if (etagHeader.isEmpty() && t.firstHop) {
        etagHeader = reply->rawHeader("ETag");  // a CDN's ETag is its own business, the hub's is the hash
    }
    const QString etag = normalizeEtag(etagHeader);
    const QByteArray linkedSize = reply->rawHeader("X-Linked-Size");
    if ((!commit.isEmpty() && commit != listing_.commit) || (!etag.isEmpty() && etag != t.file.etag()) ||
        (!linkedSize.isEmpty() && linkedSize.toLongLong() != t.file.size)) {
        fail({HubErrorKind::Protocol, status, t.file.path,
              QStringLiteral("%1 of %2 changed on the hub while downloading (it now has etag %3, commit %4; the "
                             "listing said %5, commit %6). Download again to get the new version.")
                  .arg(quoted(t.file.path), repoId_, etag.isEmpty() ? QStringLiteral("?") : etag,
                       commit.isEmpty() ? QStringLiteral("?") : commit, t.file.etag(), listing_.commit)},
             &t, true);
        return;
    }
    if (isRedirect(status)) {
        return;
    }
    if (status == 206) {
        static const QRegularExpression re(QStringLiteral("^bytes (\\d+)-(\\d+)/(\\d+|\\*)$"));
        const QRegularExpressionMatch m = re.match(QString::fromLatin1(reply->rawHeader("Content-Range")).trimmed());
        if (!m.hasMatch() || m.captured(1).toLongLong() != t.offset ||
            (m.captured(3) != QStringLiteral("*") && m.captured(3).toLongLong() != t.file.size)) {
            // Not the range we asked for: start this file over.
            abortReply(t);
            resetTaskFile(t);
            retryTask(t, QStringLiteral("the server sent the wrong byte range"), 0);
            return;
        }
    } else if (t.offset > 0) {
        // 200 to a Range request: the server sends everything again; drop what we have (huggingface_hub does too).
        t.out->resize(0);
        t.out->seek(0);
        t.resetHash();
    }
    t.accepting = true;
}

void PullJob::onReadyRead(FileTask& t, QNetworkReply* reply) {
    if (!t.headersSeen) {
        const int generation = t.generation;
        onHeaders(t, reply);
        if (generation != t.generation || state_ != State::Downloading) {
            return;
        }
    }
    if (!t.accepting) {
        const QByteArray body = reply->readAll();
        if (t.errorBody.size() < 4096) {
            t.errorBody += body.left(4096 - t.errorBody.size());
        }
        return;
    }
    const QByteArray data = reply->readAll();
    if (data.isEmpty()) {
        return;
    }
    if (t.offset + data.size() > t.file.size) {
        fail({HubErrorKind::Protocol, 0, t.file.path,
              QStringLiteral("The server sent more bytes for %1 than the %2 the hub lists; the download was "
                             "stopped and deleted.")
                  .arg(quoted(t.file.path), QString::number(t.file.size))},
             &t, true);
        return;
    }
    errno = 0;
    const qint64 written = t.out->write(data);
    if (written != data.size()) {
        const int err = errno;
        const QString why = err != 0 ? QString::fromLocal8Bit(std::strerror(err)) : t.out->errorString();
        HubError e;
        e.file = t.file.path;
        if (err == 0 || isDiskFullErrno(err)) {
            e.kind = HubErrorKind::DiskSpace;
            e.message = QStringLiteral(
                            "Writing %1 failed (%2): the disk holding %3 is out of disk space (or a size "
                            "quota or limit was reached). The partial file was deleted. Free some disk "
                            "space, or set HF_HUB_CACHE to a bigger disk, then download again.")
                            .arg(quoted(t.file.path), why, config_.cacheDir);
        } else {
            e.kind = HubErrorKind::Io;
            e.message =
                QStringLiteral("Writing %1 into %2 failed: %3.").arg(quoted(t.file.path), config_.cacheDir, why);
        }
        fail(e, &t, true);
        return;
    }
    t.hash->addData(data);
    t.offset += data.size();
    t.attemptBytes += data.size();
    emitProgress(false);
}

void PullJob::onReplyFinished(FileTask& t, QNetworkReply* reply, int generation) {
    if (t.accepting || reply->bytesAvailable() > 0) {
        onReadyRead(t, reply);
        if (generation != t.generation || state_ != State::Downloading) {
            return;
        }
    }
    t.reply = nullptr;
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (isRedirect(status) && reply->error() == QNetworkReply::NoError) {
        const QUrl target = reply->url().resolved(QUrl::fromEncoded(reply->rawHeader("Location")));
        if (!target.isValid() || target.isEmpty() || ++t.redirects > kMaxRedirects ||
            (target.scheme() != QStringLiteral("https") && target.scheme() != QStringLiteral("http"))) {
            fail({HubErrorKind::Protocol, status, t.file.path,
                  QStringLiteral("The hub redirected the download of %1 too often or to an invalid address.")
                      .arg(quoted(t.file.path))},
                 &t, false);
            return;
        }
        t.firstHop = sameOrigin(target, config_.endpoint) && t.firstHop;
        sendRequest(t, target);
        return;
    }
    if (status >= 400) {
        if (status == 416) {
            resetTaskFile(t);
            retryTask(t, QStringLiteral("HTTP 416 (range not satisfiable)"), status);
            return;
        }
        if (isRetryableStatus(status)) {
            retryTask(t,
                      QStringLiteral("HTTP %1 %2")
                          .arg(status)
                          .arg(reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString()),
                      status);
            return;
        }
        fail(httpError(reply, status, t.file.path), &t, false);
        return;
    }
    if (reply->error() != QNetworkReply::NoError || status == 0) {
        retryTask(t, reply->errorString(), 0);
        return;
    }
    if (status != 200 && status != 206) {
        fail({HubErrorKind::Protocol, status, t.file.path,
              QStringLiteral("Unexpected HTTP %1 while downloading %2.")
                  .arg(QString::number(status), quoted(t.file.path))},
             &t, false);
        return;
    }
    if (t.offset < t.file.size) {
        retryTask(t,
                  QStringLiteral("the connection ended after %1 of %2 bytes")
                      .arg(QString::number(t.offset), QString::number(t.file.size)),
                  0);
        return;
    }
    completeTask(t);
}

void PullJob::abortReply(FileTask& t) {
    ++t.generation;
    if (t.reply) {
        QNetworkReply* r = t.reply;
        t.reply = nullptr;
        r->disconnect(this);
        // Deleting a reply stops its transfer. No abort(): a reply with an error still queued inside Qt
        // (another file's 401 when one 401 already ended the pull) would report that error twice.
        r->deleteLater();
    }
}

void PullJob::resetTaskFile(FileTask& t) {
    if (t.out) {
        t.out->resize(0);
        t.out->seek(0);
    }
    t.resetHash();
}

void PullJob::retryTask(FileTask& t, const QString& reason, int httpStatus) {
    if (t.attemptBytes > 0) {
        t.attempts = 0;  // it made progress: a dropped connection, not a dead server
    }
    ++t.attempts;
    if (t.attempts >= config_.maxAttempts) {
        HubError e;
        e.file = t.file.path;
        e.httpStatus = httpStatus;
        if (httpStatus != 0) {
            e.kind = HubErrorKind::Server;
            e.message = QStringLiteral(
                            "The hub answered %1 %2 times in a row for %3 of %4, so Kinora gave up. The hub "
                            "may be having trouble: try again later. Files finished so far are kept, and "
                            "the next download continues where this one stopped.")
                            .arg(reason, QString::number(t.attempts), quoted(t.file.path), repoId_);
        } else {
            e.kind = HubErrorKind::Network;
            e.message =
                QStringLiteral(
                    "Downloading %1 of %2 from %3 failed %4 times in a row (%5). Check your "
                    "internet connection, then download again: it continues where it stopped.")
                    .arg(quoted(t.file.path), repoId_, config_.endpoint.host(), QString::number(t.attempts), reason);
        }
        fail(e, &t, false);
        return;
    }
    const int generation = ++t.generation;
    FileTask* tp = &t;
    QTimer::singleShot(retryDelayMs(t.attempts), this, [this, tp, generation] {
        if (generation != tp->generation || state_ != State::Downloading) {
            return;
        }
        tp->redirects = 0;
        tp->firstHop = true;
        tp->out->seek(tp->offset);
        sendRequest(*tp, resolveUrl(tp->file));  // from the hub again: CDN addresses expire
    });
}

void PullJob::completeTask(FileTask& t) {
    const QString digest = QString::fromLatin1(t.hash->result().toHex());
    t.out->close();
    t.out.reset();
    const QString partialPath = cache_.incompletePath(repoId_, t.file.etag());
    if (digest != t.file.etag()) {
        fail(
            {HubErrorKind::Checksum, 0, t.file.path,
             QStringLiteral("%1 of %2 is damaged: its %3 is %4 but the hub lists %5. The download was deleted and "
                            "nothing of it is used. Download again; if this repeats, a proxy or the server sends "
                            "wrong data.")
                 .arg(quoted(t.file.path), repoId_,
                      t.file.isLfs() ? QStringLiteral("SHA-256") : QStringLiteral("git SHA-1"), digest, t.file.etag())},
            &t, true);
        return;
    }
    const QString blob = cache_.blobPath(repoId_, t.file.etag());
    QString error;
    if (QFileInfo::exists(blob)) {
        QFile::remove(partialPath);  // another job finished the same content first
    } else if (!QFile::rename(partialPath, blob)) {
        fail({HubErrorKind::Io, 0, t.file.path, QStringLiteral("Cannot move %1 to %2.").arg(partialPath, blob)}, &t,
             true);
        return;
    }
    bool linked = cache_.linkSnapshotFile(repoId_, listing_.commit, t.file.path, t.file.etag(), &error);
    for (const QString& alias : t.aliases) {
        linked = linked && cache_.linkSnapshotFile(repoId_, listing_.commit, alias, t.file.etag(), &error);
    }
    if (!linked || !cache_.writeRef(repoId_, options_.revision, listing_.commit, &error)) {
        fail({HubErrorKind::Io, 0, t.file.path, QStringLiteral("Cannot update the cache: %1").arg(error)}, nullptr,
             false);
        return;
    }
    t.lock.unlock();
    t.status = FileTask::Status::Done;
    t.offset = t.file.size;
    ++filesDone_;
    emit fileCompleted(t.file.path);
    for (const QString& alias : t.aliases) {
        emit fileCompleted(alias);
    }
    if (state_ != State::Downloading) {
        return;
    }
    if (filesDone_ == static_cast<int>(tasks_.size())) {
        snapshotDir_ = cache_.snapshotDir(repoId_, listing_.commit);
        emitProgress(true);
        setState(State::Finished);
        emit finished(snapshotDir_);
        return;
    }
    emitProgress(false);
    schedule();
}

void PullJob::stopTransfers() {
    ++listingGeneration_;
    if (listingReply_) {
        listingReply_->disconnect(this);
        listingReply_->deleteLater();
    }
    for (auto& t : tasks_) {
        abortReply(*t);
        t->rehashIn.reset();
        if (t->status == FileTask::Status::Active) {
            t->status = FileTask::Status::Pending;
        }
    }
}

void PullJob::releaseTasks(bool deletePartials) {
    for (auto& t : tasks_) {
        if (t->status == FileTask::Status::Done) {
            continue;
        }
        if (t->out) {
            t->out->close();
            t->out.reset();
        }
        const QString partial = cache_.incompletePath(repoId_, t->file.etag());
        // Only a partial file this job holds the lock of is touched: another job or process may be writing it.
        if (!QFileInfo::exists(partial) ||
            (!t->lock.isLocked() && !t->lock.tryLock(cache_.lockPath(repoId_, t->file.etag()), nullptr))) {
            t->lock.unlock();
            continue;
        }
        if (deletePartials || QFileInfo(partial).size() == 0) {
            QFile::remove(partial);  // an empty one holds nothing to resume
            t->hashValid = false;
            t->offset = 0;
        }
        t->lock.unlock();
    }
}

void PullJob::fail(HubError error, FileTask* culprit, bool deleteCulpritPartial) {
    if (state_ == State::Failed || state_ == State::Cancelled || state_ == State::Finished) {
        return;
    }
    stopTransfers();
    if (culprit && deleteCulpritPartial) {
        if (culprit->out) {
            culprit->out->close();
            culprit->out.reset();
        }
        QFile::remove(cache_.incompletePath(repoId_, culprit->file.etag()));
        culprit->hashValid = false;
        culprit->offset = 0;
    }
    releaseTasks(false);
    if (!repoId_.isEmpty() && HubCache::isValidRepoId(repoId_)) {
        cache_.pruneEmptyDirs(repoId_);
    }
    error_ = std::move(error);
    setState(State::Failed);
    emit failed(error_);
}

void PullJob::pause() {
    if (state_ != State::Listing && state_ != State::Downloading) {
        return;
    }
    stopTransfers();
    for (auto& t : tasks_) {
        if (t->out) {
            t->out->close();  // reopened (and checked against `offset`) on resume
            t->out.reset();
        }
    }
    setState(State::Paused);
    emit paused();
}

void PullJob::resume() {
    if (state_ != State::Paused) {
        return;
    }
    if (!listingDone_) {
        listingAttempts_ = 0;
        setState(State::Listing);
        requestListing();
        return;
    }
    setState(State::Downloading);
    emitProgress(true);
    schedule();
}

void PullJob::cancel() {
    if (state_ == State::Finished || state_ == State::Failed || state_ == State::Cancelled) {
        return;
    }
    stopTransfers();
    releaseTasks(true);
    if (HubCache::isValidRepoId(repoId_)) {
        cache_.pruneEmptyDirs(repoId_);
    }
    setState(State::Cancelled);
    emit cancelled();
}

void PullJob::emitProgress(bool force) {
    const qint64 now = clock_.elapsed();
    if (!force && lastProgressMs_ >= 0 && now - lastProgressMs_ < kProgressIntervalMs) {
        return;
    }
    lastProgressMs_ = now;
    PullProgress p = progress();
    speedSamples_.emplace_back(now, p.bytesDone);
    while (speedSamples_.size() > 2 && now - speedSamples_.front().first > kSpeedWindowMs) {
        speedSamples_.pop_front();
    }
    p = progress();
    emit progressed(p);
}

// ---- HubClient -------------------------------------------------------------------------------------

HubClient::HubClient(HubConfig config, QObject* parent)
    : QObject(parent), config_(std::move(config)), network_(new QNetworkAccessManager(this)) {
    network_->setAutoDeleteReplies(false);
}

HubClient::~HubClient() = default;

void HubClient::setToken(const QString& token, const QString& source) {
    config_.token = token.trimmed();
    config_.tokenSource = config_.token.isEmpty() ? QString() : source;
}

PullJob* HubClient::pull(const QString& repoId, const PullOptions& options) {
    auto* job = new PullJob(network_, config_, repoId, options, this);
    QTimer::singleShot(0, job, &PullJob::start);
    return job;
}

}  // namespace appcore
