// The huggingface_hub cache layout, shared with Python users:
//   <root>/models--{org}--{name}/blobs/<etag>                 file content (etag: sha256 for LFS files,
//                                                             the git blob sha1 for files kept in git)
//   <root>/models--{org}--{name}/blobs/<etag>.incomplete      a download in progress (never used as a file)
//   <root>/models--{org}--{name}/snapshots/<commit>/<path>    relative symlink -> ../../blobs/<etag>
//   <root>/models--{org}--{name}/refs/<revision>              the commit hash, no newline
//   <root>/.locks/models--{org}--{name}/<etag>.lock           flock()ed while a blob is written
// Files Python downloaded are found here, and files written here load in Python. Without symlink support
// (some Windows setups) the blob is copied into the snapshot, as huggingface_hub does.
#pragma once

#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

namespace appcore {

/// One file of a repo as the hub lists it.
struct RepoFile {
    QString path;     // "transformer/diffusion_pytorch_model.safetensors"
    qint64 size = 0;  // real size (for LFS files the object's size, not the pointer's)
    QString blobId;   // git blob sha1 (40 hex)
    QString sha256;   // LFS object id (64 hex); empty for files stored in git

    bool isLfs() const { return !sha256.isEmpty(); }
    /// The blob's name in the cache (huggingface_hub's etag).
    QString etag() const { return isLfs() ? sha256 : blobId; }
};

/// What the cache holds for one repo.
struct CachedRepo {
    QString repoId;
    QString dir;
    QMap<QString, QString> refs;  // revision -> commit
    QStringList snapshots;        // commits with a snapshot folder
    qint64 blobBytes = 0;         // complete blobs
    int numBlobs = 0;
    qint64 partialBytes = 0;  // *.incomplete
    int numPartials = 0;
};

class HubCache {
public:
    explicit HubCache(QString root);
    const QString& root() const { return root_; }

    /// "models--org--name".
    static QString repoFolderName(const QString& repoId);
    /// "org/name" with letters, digits, '-', '_', '.' (no "--", no "..", no leading/trailing '-' or '.').
    static bool isValidRepoId(const QString& repoId);
    /// A repo-relative file path that stays inside its folder: no "..", ".", empty segments, absolute
    /// paths, backslashes, drive letters or control characters.
    static bool isSafeRelativePath(const QString& path);
    static bool isCommitHash(const QString& text);
    /// A branch, tag or commit name usable as refs/<revision>.
    static bool isValidRevision(const QString& revision);
    /// The git blob sha1 of `content` ("blob <size>\0" + content), as the hub lists it for non-LFS files.
    static QString gitBlobSha1(const QByteArray& content);

    QString repoDir(const QString& repoId) const;
    QString blobPath(const QString& repoId, const QString& etag) const;
    QString incompletePath(const QString& repoId, const QString& etag) const;
    QString snapshotDir(const QString& repoId, const QString& commit) const;
    QString snapshotFile(const QString& repoId, const QString& commit, const QString& path) const;
    QString lockPath(const QString& repoId, const QString& etag) const;

    /// The commit refs/<revision> names, or an empty string.
    QString readRef(const QString& repoId, const QString& revision) const;
    /// Writes refs/<revision> atomically (nothing when revision already is that commit).
    bool writeRef(const QString& repoId, const QString& revision, const QString& commit, QString* error) const;
    /// The snapshot folder for a revision (a commit or a ref), or an empty string.
    QString resolveSnapshot(const QString& repoId, const QString& revision) const;

    /// True when blobs/<etag> is a regular file of `size` bytes.
    bool hasBlob(const QString& repoId, const QString& etag, qint64 size) const;
    /// True when snapshots/<commit>/<path> opens as a file of `size` bytes.
    bool hasSnapshotFile(const QString& repoId, const QString& commit, const QString& path, qint64 size) const;
    /// Points snapshots/<commit>/<path> at blobs/<etag> (relative symlink, else a copy).
    bool linkSnapshotFile(const QString& repoId, const QString& commit, const QString& path, const QString& etag,
                          QString* error) const;

    QList<CachedRepo> scan() const;
    /// The repo's entry, or one with an empty dir when it is not cached.
    CachedRepo scanRepo(const QString& repoId) const;
    /// Deletes the repo folder and its lock folder.
    bool removeRepo(const QString& repoId, QString* error) const;
    /// Removes empty folders of the repo (bottom-up), the repo folder too when nothing is left.
    void pruneEmptyDirs(const QString& repoId) const;

private:
    QString root_;
};

/// An exclusive advisory lock (flock on Unix, the protocol of Python's filelock) on a lock file.
class BlobLock {
public:
    BlobLock() = default;
    ~BlobLock();
    BlobLock(const BlobLock&) = delete;
    BlobLock& operator=(const BlobLock&) = delete;
    /// Creates the file if needed and takes the lock without waiting; false when another process holds it.
    bool tryLock(const QString& path, QString* error);
    void unlock();
    bool isLocked() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

}  // namespace appcore
