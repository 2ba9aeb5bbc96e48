#include "hub_test_server.h"

#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QUrlQuery>

namespace testhub {

namespace {

QByteArray reasonPhrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 206:
            return "Partial Content";
        case 302:
            return "Found";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 416:
            return "Range Not Satisfiable";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Status";
    }
}

QString gitBlobSha1(const QByteArray& content) {
    QCryptographicHash h(QCryptographicHash::Sha1);
    h.addData(QByteArray("blob ") + QByteArray::number(content.size()) + QByteArray(1, '\0'));
    h.addData(content);
    return QString::fromLatin1(h.result().toHex());
}

QString etagOf(const File& f) {
    if (!f.lfs) {
        return gitBlobSha1(f.content);
    }
    return f.advertisedSha256.isEmpty() ? HubTestServer::sha256Hex(f.content) : f.advertisedSha256;
}

}  // namespace

HubTestServer::HubTestServer(QObject* parent) : QObject(parent) {}

HubTestServer::~HubTestServer() = default;

bool HubTestServer::start() {
    hub_ = new QTcpServer(this);
    cdn_ = new QTcpServer(this);
    if (!hub_->listen(QHostAddress::LocalHost, 0) || !cdn_->listen(QHostAddress::LocalHost, 0)) {
        return false;
    }
    connect(hub_, &QTcpServer::newConnection, this, [this] { onConnection(hub_, false); });
    connect(cdn_, &QTcpServer::newConnection, this, [this] { onConnection(cdn_, true); });
    return true;
}

QUrl HubTestServer::endpoint() const {
    return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(hub_->serverPort()));
}

void HubTestServer::addRepo(const QString& repoId, const Repo& repo) {
    repos_.insert(repoId, repo);
}

void HubTestServer::setFault(const QString& repoPath, const Fault& fault) {
    faults_.insert(repoPath, fault);
}

QString HubTestServer::sha256Hex(const QByteArray& data) {
    return QString::fromLatin1(QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex());
}

QByteArray HubTestServer::makeContent(qint64 size, quint32 seed) {
    QByteArray out(size, Qt::Uninitialized);
    quint32 x = seed * 2654435761u + 12345u;
    for (qint64 i = 0; i < size; ++i) {
        x = x * 1664525u + 1013904223u;
        out[i] = static_cast<char>(x >> 24);
    }
    return out;
}

QString HubTestServer::makeCommit(quint32 seed) {
    return QString::fromLatin1(QCryptographicHash::hash(QByteArray::number(seed), QCryptographicHash::Sha1).toHex());
}

void HubTestServer::onConnection(QTcpServer* server, bool cdn) {
    while (QTcpSocket* socket = server->nextPendingConnection()) {
        auto* buffer = new QByteArray;
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QObject::destroyed, this, [buffer] { delete buffer; });
        connect(socket, &QTcpSocket::readyRead, this, [this, socket, cdn, buffer] {
            *buffer += socket->readAll();
            const int end = buffer->indexOf("\r\n\r\n");
            if (end < 0 || socket->property("handled").toBool()) {
                return;
            }
            socket->setProperty("handled", true);
            handle(socket, cdn, buffer->left(end));
        });
    }
}

void HubTestServer::handle(QTcpSocket* socket, bool cdn, const QByteArray& head) {
    const QList<QByteArray> lines = head.split('\n');
    const QList<QByteArray> requestLine = lines.value(0).trimmed().split(' ');
    QMap<QByteArray, QByteArray> headers;
    for (int i = 1; i < lines.size(); ++i) {
        const int colon = lines[i].indexOf(':');
        if (colon > 0) {
            headers.insert(lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
        }
    }
    Request r;
    r.cdn = cdn;
    r.method = QString::fromLatin1(requestLine.value(0));
    r.path = QString::fromLatin1(requestLine.value(1));
    r.range = headers.value("range");
    r.authorization = headers.value("authorization");
    requests_.append(r);
    const int index = static_cast<int>(requests_.size()) - 1;
    if (!cdn) {
        serveHub(socket, index, r.method, r.path, headers);
        return;
    }
    // CDN: /cdn/<etag>?file=<repo path>
    const QUrl url(r.path);
    const QString repoPath = QUrlQuery(url).queryItemValue(QStringLiteral("file"), QUrl::FullyDecoded);
    for (auto it = repos_.cbegin(); it != repos_.cend(); ++it) {
        if (repoPath.startsWith(it.key() + QLatin1Char('/'))) {
            const QString path = repoPath.mid(it.key().size() + 1);
            if (it.value().files.contains(path)) {
                const File& f = it.value().files[path];
                serveContent(socket, index, repoPath, f, etagOf(f).toLatin1(), QString(), headers,
                             r.method == QStringLiteral("HEAD"));
                return;
            }
        }
    }
    reply(socket, index, 404, {}, "no such object");
}

void HubTestServer::serveHub(QTcpSocket* socket, int index, const QString& method, const QString& path,
                             const QMap<QByteArray, QByteArray>& headers) {
    const QUrl url(path);
    const QString decoded = url.path(QUrl::FullyDecoded);
    if (decoded.startsWith(QStringLiteral("/api/models/"))) {
        const QString rest = decoded.mid(12);
        const int at = rest.indexOf(QStringLiteral("/revision/"));
        const QString repoId = at < 0 ? rest : rest.left(at);
        const QString revision = at < 0 ? QStringLiteral("main") : rest.mid(at + 10);
        if (!repos_.contains(repoId)) {
            reply(socket, index, 404, {{"X-Error-Code", "RepoNotFound"}, {"X-Error-Message", "Repository not found"}},
                  "{\"error\":\"Repository not found\"}");
            return;
        }
        const Repo& repo = repos_[repoId];
        if (revision != QStringLiteral("main") && revision != repo.commit) {
            reply(socket, index, 404, {{"X-Error-Code", "RevisionNotFound"}}, "{\"error\":\"Invalid rev id\"}");
            return;
        }
        QJsonArray siblings;
        for (auto it = repo.files.cbegin(); it != repo.files.cend(); ++it) {
            QJsonObject s;
            s.insert(QStringLiteral("rfilename"), it.key());
            const File& f = it.value();
            s.insert(QStringLiteral("blobId"),
                     gitBlobSha1(f.lfs ? QByteArray("pointer") + f.content.left(16) : f.content));
            if (f.lfs) {
                s.insert(QStringLiteral("size"), static_cast<double>(f.content.size()));
                QJsonObject lfs;
                lfs.insert(QStringLiteral("sha256"), etagOf(f));
                lfs.insert(QStringLiteral("size"), static_cast<double>(f.content.size()));
                lfs.insert(QStringLiteral("pointerSize"), 134);
                s.insert(QStringLiteral("lfs"), lfs);
            } else {
                s.insert(QStringLiteral("size"), static_cast<double>(f.content.size()));
            }
            siblings.append(s);
        }
        for (const QString& name : repo.extraListedNames) {
            QJsonObject s;
            s.insert(QStringLiteral("rfilename"), name);
            s.insert(QStringLiteral("blobId"), gitBlobSha1("x"));
            s.insert(QStringLiteral("size"), 1);
            siblings.append(s);
        }
        QJsonObject info;
        info.insert(QStringLiteral("id"), repoId);
        info.insert(QStringLiteral("sha"), repo.commit);
        const QString listedGated = repo.listedGated.isEmpty() ? repo.gated : repo.listedGated;
        if (listedGated == QStringLiteral("false")) {
            info.insert(QStringLiteral("gated"), false);
        } else {
            info.insert(QStringLiteral("gated"), listedGated);
        }
        info.insert(QStringLiteral("siblings"), siblings);
        reply(socket, index, 200, {{"Content-Type", "application/json"}},
              QJsonDocument(info).toJson(QJsonDocument::Compact));
        return;
    }
    // /{org}/{name}/resolve/{rev}/{path}
    const int resolveAt = decoded.indexOf(QStringLiteral("/resolve/"));
    if (resolveAt < 0) {
        reply(socket, index, 404, {}, "not found");
        return;
    }
    const QString repoId = decoded.mid(1, resolveAt - 1);
    const QString rest = decoded.mid(resolveAt + 9);
    const int slash = rest.indexOf(QLatin1Char('/'));
    const QString revision = rest.left(slash);
    const QString filePath = rest.mid(slash + 1);
    if (!repos_.contains(repoId)) {
        reply(socket, index, 404, {{"X-Error-Code", "RepoNotFound"}}, "Repository not found");
        return;
    }
    const Repo& repo = repos_[repoId];
    if (repo.gated != QStringLiteral("false")) {
        const QByteArray auth = headers.value("authorization");
        if (auth.isEmpty()) {
            reply(socket, index, 401,
                  {{"X-Error-Code", "GatedRepo"},
                   {"X-Error-Message", "Access to model " + repoId.toUtf8() +
                                           " is restricted. You must have access "
                                           "to it and be authenticated to access it. Please log in."}},
                  "gated");
            return;
        }
        if (auth != "Bearer " + repo.acceptedToken.toUtf8()) {
            reply(socket, index, 403,
                  {{"X-Error-Code", "GatedRepo"},
                   {"X-Error-Message", "Access to model " + repoId.toUtf8() +
                                           " is restricted and you are not in the "
                                           "authorized list."}},
                  "gated");
            return;
        }
    }
    const QString repoPath = repoId + QLatin1Char('/') + filePath;
    Fault& fault = faults_[repoPath];
    if (fault.status != 0 && fault.statusTimes != 0) {
        if (fault.statusTimes > 0) {
            --fault.statusTimes;
        }
        QList<QPair<QByteArray, QByteArray>> h;
        if (fault.status == 404) {
            h.append(qMakePair(QByteArray("X-Error-Code"), QByteArray("EntryNotFound")));
        }
        reply(socket, index, fault.status, h, reasonPhrase(fault.status));
        return;
    }
    if (revision != QStringLiteral("main") && revision != repo.commit) {
        reply(socket, index, 404, {{"X-Error-Code", "RevisionNotFound"}}, "Invalid rev id");
        return;
    }
    if (!repo.files.contains(filePath)) {
        reply(socket, index, 404, {{"X-Error-Code", "EntryNotFound"}}, "Entry not found");
        return;
    }
    const File& f = repo.files[filePath];
    if (f.lfs) {
        const QByteArray etag = etagOf(f).toLatin1();
        QUrl cdn(QStringLiteral("http://127.0.0.1:%1/cdn/%2").arg(cdn_->serverPort()).arg(QString::fromLatin1(etag)));
        QUrlQuery q;
        q.addQueryItem(QStringLiteral("file"), QString::fromUtf8(QUrl::toPercentEncoding(repoPath)));
        cdn.setQuery(q);
        reply(socket, index, 302,
              {{"Location", cdn.toEncoded()},
               {"X-Repo-Commit", repo.commit.toLatin1()},
               {"X-Linked-Etag", "\"" + etag + "\""},
               {"X-Linked-Size", QByteArray::number(f.content.size())},
               {"ETag", "W/\"" + gitBlobSha1("pointer").toLatin1() + "\""}},
              {}, method == QStringLiteral("HEAD"));
        return;
    }
    serveContent(socket, index, repoPath, f, etagOf(f).toLatin1(), repo.commit, headers,
                 method == QStringLiteral("HEAD"));
}

void HubTestServer::serveContent(QTcpSocket* socket, int index, const QString& repoPath, const File& file,
                                 const QByteArray& etag, const QString& commit,
                                 const QMap<QByteArray, QByteArray>& headers, bool head) {
    Fault& fault = faults_[repoPath];
    const qint64 size = file.content.size();
    qint64 start = 0;
    const QByteArray range = headers.value("range");
    if (!range.isEmpty() && !fault.ignoreRange) {
        if (!range.startsWith("bytes=") || !range.endsWith('-')) {
            reply(socket, index, 416, {}, {});
            return;
        }
        start = range.mid(6, range.size() - 7).toLongLong();
        if (start >= size) {
            reply(socket, index, 416, {{"Content-Range", "bytes */" + QByteArray::number(size)}}, {});
            return;
        }
    }
    QList<QPair<QByteArray, QByteArray>> h{
        {"Accept-Ranges", "bytes"}, {"Content-Type", "application/octet-stream"}, {"ETag", "\"" + etag + "\""}};
    if (!commit.isEmpty()) {
        h.append(qMakePair(QByteArray("X-Repo-Commit"), commit.toLatin1()));
    }
    int status = 200;
    if (start > 0) {
        status = 206;
        h.append(qMakePair(QByteArray("Content-Range"), "bytes " + QByteArray::number(start) + "-" +
                                                            QByteArray::number(size - 1) + "/" +
                                                            QByteArray::number(size)));
    }
    const QByteArray body = file.content.mid(start);
    if (head) {
        reply(socket, index, status, h, body, true);
        return;
    }
    // Headers first, then the body according to the fault.
    QByteArray out = "HTTP/1.1 " + QByteArray::number(status) + " " + reasonPhrase(status) + "\r\n";
    for (const auto& kv : h) {
        out += kv.first + ": " + kv.second + "\r\n";
    }
    out += "Content-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n";
    requests_[index].status = status;
    socket->write(out);
    ++concurrent_;
    maxConcurrent_ = std::max(maxConcurrent_, concurrent_);
    QPointer<QTcpSocket> guard(socket);
    auto done = std::make_shared<bool>(false);
    auto finish = [this, done] {
        if (!*done) {
            *done = true;
            --concurrent_;
        }
    };
    connect(socket, &QTcpSocket::disconnected, this, finish);
    if (fault.dropAfterBytes >= 0 && fault.dropTimes > 0) {
        --fault.dropTimes;
        const QByteArray part = body.left(fault.dropAfterBytes);
        socket->write(part);
        requests_[index].bodyBytesSent = part.size();
        socket->disconnectFromHost();  // after the queued bytes are written: an early end of the body
        return;
    }
    if (fault.slowChunkBytes > 0) {
        auto* timer = new QTimer(socket);
        auto offset = std::make_shared<qint64>(0);
        const int chunk = fault.slowChunkBytes;
        connect(timer, &QTimer::timeout, socket, [this, guard, timer, offset, body, chunk, index] {
            if (!guard || guard->state() != QAbstractSocket::ConnectedState) {
                timer->stop();
                return;
            }
            const QByteArray part = body.mid(*offset, chunk);
            guard->write(part);
            *offset += part.size();
            requests_[index].bodyBytesSent = *offset;
            if (*offset >= body.size()) {
                timer->stop();
                guard->disconnectFromHost();
            }
        });
        timer->start(fault.slowIntervalMs);
        return;
    }
    socket->write(body);
    requests_[index].bodyBytesSent = body.size();
    socket->disconnectFromHost();
}

void HubTestServer::reply(QTcpSocket* socket, int index, int status,
                          const QList<QPair<QByteArray, QByteArray>>& headers, const QByteArray& body, bool head) {
    QByteArray out = "HTTP/1.1 " + QByteArray::number(status) + " " + reasonPhrase(status) + "\r\n";
    for (const auto& kv : headers) {
        out += kv.first + ": " + kv.second + "\r\n";
    }
    out += "Content-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (!head) {
        out += body;
    }
    requests_[index].status = status;
    socket->write(out);
    socket->disconnectFromHost();
}

}  // namespace testhub
