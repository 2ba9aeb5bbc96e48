#include "core/hub_cache.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSaveFile>

#include <algorithm>

#if defined(Q_OS_UNIX)
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#endif

namespace appcore {

namespace {

const QString kIncompleteSuffix = QStringLiteral(".incomplete");

bool isValidNamePart(const QString& part) {
    static const QRegularExpression re(QStringLiteral("^[A-Za-z0-9_.\\-]{1,96}$"));
    if (!re.match(part).hasMatch()) {
        return false;
    }
    if (part.contains(QStringLiteral("--")) || part.contains(QStringLiteral(".."))) {
        return false;
    }
    const QChar first = part.front();
    const QChar last = part.back();
    return first != QLatin1Char('-') && first != QLatin1Char('.') && last != QLatin1Char('-') &&
           last != QLatin1Char('.');
}

}  // namespace

HubCache::HubCache(QString root) : root_(QDir::cleanPath(std::move(root))) {}

QString HubCache::repoFolderName(const QString& repoId) {
    return QStringLiteral("models--") + QString(repoId).replace(QLatin1Char('/'), QStringLiteral("--"));
}

bool HubCache::isValidRepoId(const QString& repoId) {
    const QStringList parts = repoId.split(QLatin1Char('/'));
    if (parts.size() < 1 || parts.size() > 2) {
        return false;
    }
    for (const QString& p : parts) {
        if (!isValidNamePart(p)) {
            return false;
        }
    }
    return true;
}

bool HubCache::isSafeRelativePath(const QString& path) {
    if (path.isEmpty() || path.size() > 4096 || path.startsWith(QLatin1Char('/')) || path.contains(QLatin1Char('\\'))) {
        return false;
    }
    for (const QChar c : path) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f) {
            return false;
        }
    }
    if (path.size() >= 2 && path[1] == QLatin1Char(':')) {
        return false;  // "C:..." would be a drive on Windows
    }
    const QStringList parts = path.split(QLatin1Char('/'));
    for (const QString& p : parts) {
        if (p.isEmpty() || p == QStringLiteral(".") || p == QStringLiteral("..")) {
            return false;
        }
    }
    return true;
}

bool HubCache::isCommitHash(const QString& text) {
    static const QRegularExpression re(QStringLiteral("^[0-9a-f]{40}$"));
    return re.match(text).hasMatch();
}

bool HubCache::isValidRevision(const QString& revision) {
    if (revision.isEmpty() || revision.size() > 256 || !isSafeRelativePath(revision)) {
        return false;
    }
    static const QRegularExpression re(QStringLiteral("^[A-Za-z0-9_.\\-/]+$"));
    return re.match(revision).hasMatch();
}

QString HubCache::gitBlobSha1(const QByteArray& content) {
    QCryptographicHash h(QCryptographicHash::Sha1);
    h.addData(QByteArray("blob ") + QByteArray::number(content.size()) + QByteArray(1, '\0'));
    h.addData(content);
    return QString::fromLatin1(h.result().toHex());
}

QString HubCache::repoDir(const QString& repoId) const {
    return root_ + QLatin1Char('/') + repoFolderName(repoId);
}

QString HubCache::blobPath(const QString& repoId, const QString& etag) const {
    return repoDir(repoId) + QStringLiteral("/blobs/") + etag;
}

QString HubCache::incompletePath(const QString& repoId, const QString& etag) const {
    return blobPath(repoId, etag) + kIncompleteSuffix;
}

QString HubCache::snapshotDir(const QString& repoId, const QString& commit) const {
    return repoDir(repoId) + QStringLiteral("/snapshots/") + commit;
}

QString HubCache::snapshotFile(const QString& repoId, const QString& commit, const QString& path) const {
    return snapshotDir(repoId, commit) + QLatin1Char('/') + path;
}

QString HubCache::lockPath(const QString& repoId, const QString& etag) const {
    return root_ + QStringLiteral("/.locks/") + repoFolderName(repoId) + QLatin1Char('/') + etag +
           QStringLiteral(".lock");
}

QString HubCache::readRef(const QString& repoId, const QString& revision) const {
    if (!isValidRevision(revision)) {
        return {};
    }
    QFile f(repoDir(repoId) + QStringLiteral("/refs/") + revision);
    if (!f.open(QIODevice::ReadOnly)) {
        return {};
    }
    const QString commit = QString::fromLatin1(f.read(128)).trimmed();
    return isCommitHash(commit) ? commit : QString();
}

bool HubCache::writeRef(const QString& repoId, const QString& revision, const QString& commit, QString* error) const {
    if (revision == commit || readRef(repoId, revision) == commit) {
        return true;
    }
    const QString path = repoDir(repoId) + QStringLiteral("/refs/") + revision;
    QDir().mkpath(QFileInfo(path).absolutePath());
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(commit.toLatin1()) != commit.size() || !f.commit()) {
        if (error) {
            *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
        }
        return false;
    }
    return true;
}

QString HubCache::resolveSnapshot(const QString& repoId, const QString& revision) const {
    const QString commit = isCommitHash(revision) ? revision : readRef(repoId, revision);
    if (commit.isEmpty()) {
        return {};
    }
    const QString dir = snapshotDir(repoId, commit);
    return QFileInfo(dir).isDir() ? dir : QString();
}

bool HubCache::hasBlob(const QString& repoId, const QString& etag, qint64 size) const {
    const QFileInfo info(blobPath(repoId, etag));
    return info.isFile() && !info.isSymLink() && info.size() == size;
}

bool HubCache::hasSnapshotFile(const QString& repoId, const QString& commit, const QString& path, qint64 size) const {
    const QFileInfo info(snapshotFile(repoId, commit, path));
    // QFileInfo follows symlinks for isFile()/size(): a dangling link is not a file.
    return info.exists() && info.isFile() && info.size() == size;
}

bool HubCache::linkSnapshotFile(const QString& repoId, const QString& commit, const QString& path, const QString& etag,
                                QString* error) const {
    const QString link = snapshotFile(repoId, commit, path);
    const QString blob = blobPath(repoId, etag);
    const QString linkDir = QFileInfo(link).absolutePath();
    if (!QDir().mkpath(linkDir)) {
        if (error) {
            *error = QStringLiteral("cannot create the folder %1").arg(linkDir);
        }
        return false;
    }
    QFile::remove(link);  // also removes a dangling or stale symlink
    const QString target = QDir(linkDir).relativeFilePath(blob);
#if defined(Q_OS_UNIX)
    if (::symlink(QFile::encodeName(target).constData(), QFile::encodeName(link).constData()) == 0) {
        return true;
    }
    const int err = errno;
    if (err != EPERM && err != EOPNOTSUPP) {
        if (error) {
            *error =
                QStringLiteral("cannot create the link %1: %2").arg(link, QString::fromLocal8Bit(std::strerror(err)));
        }
        return false;
    }
#endif
    // No symlinks on this file system: a copy, as huggingface_hub does in that case.
    if (!QFile::copy(blob, link)) {
        if (error) {
            *error = QStringLiteral("cannot copy %1 to %2").arg(blob, link);
        }
        return false;
    }
    return true;
}

CachedRepo HubCache::scanRepo(const QString& repoId) const {
    CachedRepo repo;
    repo.repoId = repoId;
    const QString dir = repoDir(repoId);
    if (!QFileInfo(dir).isDir()) {
        return repo;
    }
    repo.dir = dir;
    QDirIterator refs(dir + QStringLiteral("/refs"), QDir::Files, QDirIterator::Subdirectories);
    while (refs.hasNext()) {
        const QString file = refs.next();
        const QString revision = QDir(dir + QStringLiteral("/refs")).relativeFilePath(file);
        const QString commit = readRef(repoId, revision);
        if (!commit.isEmpty()) {
            repo.refs.insert(revision, commit);
        }
    }
    const QDir snapshots(dir + QStringLiteral("/snapshots"));
    repo.snapshots = snapshots.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    const QDir blobs(dir + QStringLiteral("/blobs"));
    for (const QFileInfo& info : blobs.entryInfoList(QDir::Files | QDir::Hidden)) {
        if (info.fileName().endsWith(kIncompleteSuffix)) {
            repo.partialBytes += info.size();
            ++repo.numPartials;
        } else {
            repo.blobBytes += info.size();
            ++repo.numBlobs;
        }
    }
    return repo;
}

QList<CachedRepo> HubCache::scan() const {
    QList<CachedRepo> repos;
    const QDir root(root_);
    for (const QString& name :
         root.entryList({QStringLiteral("models--*")}, QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        const QString repoId = name.mid(8).replace(QStringLiteral("--"), QStringLiteral("/"));
        if (isValidRepoId(repoId)) {
            repos.append(scanRepo(repoId));
        }
    }
    return repos;
}

bool HubCache::removeRepo(const QString& repoId, QString* error) const {
    if (!isValidRepoId(repoId)) {
        if (error) {
            *error = QStringLiteral("'%1' is not a valid repo id").arg(repoId);
        }
        return false;
    }
    QDir dir(repoDir(repoId));
    if (dir.exists() && !dir.removeRecursively()) {
        if (error) {
            *error = QStringLiteral("could not delete everything in %1").arg(dir.path());
        }
        return false;
    }
    QDir(root_ + QStringLiteral("/.locks/") + repoFolderName(repoId)).removeRecursively();
    return true;
}

void HubCache::pruneEmptyDirs(const QString& repoId) const {
    const QString top = repoDir(repoId);
    QStringList dirs;
    QDirIterator it(top, QDir::Dirs | QDir::NoDotAndDotDot | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        dirs.append(it.next());
    }
    // Deepest first, so parents become empty before they are looked at.
    std::sort(dirs.begin(), dirs.end(), [](const QString& a, const QString& b) { return a.size() > b.size(); });
    for (const QString& d : dirs) {
        QDir().rmdir(d);  // fails (and keeps the folder) when not empty
    }
    if (!QDir().rmdir(top)) {
        // Something is left (a partial download): keep the folders huggingface_hub expects in a repo.
        for (const char* sub : {"blobs", "snapshots", "refs"}) {
            QDir().mkpath(top + QLatin1Char('/') + QLatin1String(sub));
        }
    }
    const QString locks = root_ + QStringLiteral("/.locks/") + repoFolderName(repoId);
    QDir lockDir(locks);
    for (const QString& f : lockDir.entryList({QStringLiteral("*.lock")}, QDir::Files)) {
        // A lock file nobody holds is removed; one held by another process stays.
        BlobLock lock;
        if (lock.tryLock(lockDir.filePath(f), nullptr)) {
            QFile::remove(lockDir.filePath(f));
        }
    }
    QDir().rmdir(locks);
    QDir().rmdir(root_ + QStringLiteral("/.locks"));
}

BlobLock::~BlobLock() {
    unlock();
}

bool BlobLock::tryLock(const QString& path, QString* error) {
    unlock();
    QDir().mkpath(QFileInfo(path).absolutePath());
#if defined(Q_OS_UNIX)
    const int fd = ::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (error) {
            *error = QStringLiteral("cannot open the lock file %1: %2")
                         .arg(path, QString::fromLocal8Bit(std::strerror(errno)));
        }
        return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (error) {
            *error = err == EWOULDBLOCK ? QStringLiteral("another program is downloading this file right now")
                                        : QString::fromLocal8Bit(std::strerror(err));
        }
        return false;
    }
    fd_ = fd;
    return true;
#else
    Q_UNUSED(path);
    Q_UNUSED(error);
    fd_ = 0;  // no cross-process lock on this platform
    return true;
#endif
}

void BlobLock::unlock() {
#if defined(Q_OS_UNIX)
    if (fd_ >= 0) {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }
#endif
    fd_ = -1;
}

}  // namespace appcore
