// A small Hugging Face hub for the tests: a real HTTP/1.1 server on 127.0.0.1 (QTcpServer, real sockets)
// that answers the requests Kinora's hub client makes, the way huggingface.co does:
//   GET  /api/models/{repo}/revision/{rev}?blobs=true   model info: sha (commit), gated, siblings
//   GET  /{repo}/resolve/{rev}/{path}                    LFS files: 302 to the "CDN" (a second port) with
//                                                        X-Repo-Commit, X-Linked-Etag, X-Linked-Size;
//                                                        git files: 200 with ETag = git blob sha1
//   GET  /cdn/{etag}   (CDN port)                        the content, with Range (206) support
// and plays the faults the tests ask for: a connection dropped after N bytes, wrong hashes, error
// statuses (with X-Error-Code), gated repos, slow bodies, unsafe names in the listing.
// It records every request (path, Range, Authorization, bytes sent) so tests can check what the
// client did.
#pragma once

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QObject>
#include <QString>
#include <QUrl>

class QTcpServer;
class QTcpSocket;

namespace testhub {

struct File {
    QByteArray content;
    bool lfs = true;
    QString advertisedSha256;  // non-empty: listed/announced instead of the real sha256 (wrong-hash fault)
};

struct Repo {
    QString commit;                           // 40 hex
    QMap<QString, File> files;                // path -> file
    QString gated = QStringLiteral("false");  // "false", "auto", "manual"
    QString acceptedToken;                    // the token that has accepted the licence (gated repos)
    QString listedGated;                      // non-empty: what the model info says instead of `gated`
    QStringList extraListedNames;             // names listed but not served (unsafe-name fault)
};

struct Fault {
    int dropAfterBytes = -1;   // close the connection after this many body bytes ...
    int dropTimes = 0;         // ... this many times
    int status = 0;            // answer this HTTP status to resolve requests ...
    int statusTimes = -1;      // ... this many times (-1: always)
    int slowChunkBytes = 0;    // send the body in chunks of this size ...
    int slowIntervalMs = 0;    // ... one every this many ms
    bool ignoreRange = false;  // answer 200 with everything to Range requests
};

struct Request {
    bool cdn = false;
    QString method;
    QString path;      // with query
    QByteArray range;  // Range header
    QByteArray authorization;
    int status = 0;
    qint64 bodyBytesSent = 0;
};

class HubTestServer : public QObject {
    Q_OBJECT
public:
    explicit HubTestServer(QObject* parent = nullptr);
    ~HubTestServer() override;

    /// Listens on 127.0.0.1 (two ports: hub and CDN); false if it cannot.
    bool start();
    /// The hub address, for HF_ENDPOINT / HubConfig::endpoint.
    QUrl endpoint() const;

    void addRepo(const QString& repoId, const Repo& repo);
    void setFault(const QString& repoPath, const Fault& fault);  // repoPath: "org/name/file"

    const QList<Request>& requests() const { return requests_; }
    int maxConcurrentCdnTransfers() const { return maxConcurrent_; }
    /// The sha256 (hex) of some bytes, as the hub lists it.
    static QString sha256Hex(const QByteArray& data);
    /// Deterministic pseudo-random bytes.
    static QByteArray makeContent(qint64 size, quint32 seed);
    static QString makeCommit(quint32 seed);

private:
    void onConnection(QTcpServer* server, bool cdn);
    void handle(QTcpSocket* socket, bool cdn, const QByteArray& head);
    void serveHub(QTcpSocket* socket, int requestIndex, const QString& method, const QString& path,
                  const QMap<QByteArray, QByteArray>& headers);
    void serveContent(QTcpSocket* socket, int requestIndex, const QString& repoPath, const File& file,
                      const QByteArray& etag, const QString& commit, const QMap<QByteArray, QByteArray>& headers,
                      bool head);
    void reply(QTcpSocket* socket, int requestIndex, int status, const QList<QPair<QByteArray, QByteArray>>& headers,
               const QByteArray& body, bool head = false);

    QTcpServer* hub_ = nullptr;
    QTcpServer* cdn_ = nullptr;
    QMap<QString, Repo> repos_;
    QMap<QString, Fault> faults_;
    QList<Request> requests_;
    int concurrent_ = 0;
    int maxConcurrent_ = 0;
};

}  // namespace testhub
