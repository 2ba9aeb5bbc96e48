// Helpers shared by the appcore tests: a temporary cache + a running test hub + a client config,
// and a function that runs one pull to its end while the event loop serves both sides.
#pragma once

#include <QDirIterator>
#include <QSignalSpy>
#include <QStringList>
#include <QTemporaryDir>
#include <QTest>

#include <functional>

#include <catch2/catch.hpp>

#include "core/hub_client.h"
#include "hub_test_server.h"

namespace testhub {

struct HubFixture {
    QTemporaryDir tmp;
    HubTestServer server;
    appcore::HubConfig config;

    HubFixture() {
        REQUIRE(tmp.isValid());
        REQUIRE(server.start());
        config.endpoint = server.endpoint();
        config.cacheDir = tmp.path() + QStringLiteral("/hub");
        config.reserveBytes = 0;
        config.maxAttempts = 3;
        config.retryBaseDelayMs = 50;
        config.retryMaxDelayMs = 1000;
        config.stallTimeoutMs = 10000;
        config.maxParallelFiles = 4;
    }

    /// Every file and symlink under the temporary folder (relative paths), sorted.
    QStringList allFiles() const {
        QStringList out;
        QDirIterator it(tmp.path(), QDir::Files | QDir::System | QDir::Hidden, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            out.append(QDir(tmp.path()).relativeFilePath(it.next()));
        }
        out.sort();
        return out;
    }

    int countRequests(const std::function<bool(const Request&)>& pred) const {
        int n = 0;
        for (const Request& r : server.requests()) {
            n += pred(r) ? 1 : 0;
        }
        return n;
    }
};

struct PullOutcome {
    bool finished = false;
    bool failed = false;
    bool cancelled = false;
    appcore::HubError error;
    QString snapshotDir;
    int numProgress = 0;
    appcore::PullProgress lastProgress;
};

/// Runs `job` to its end (finished, failed or cancelled), at most `timeoutMs`.
inline PullOutcome waitForPull(appcore::PullJob* job, int timeoutMs = 20000) {
    QSignalSpy finished(job, &appcore::PullJob::finished);
    QSignalSpy failed(job, &appcore::PullJob::failed);
    QSignalSpy cancelled(job, &appcore::PullJob::cancelled);
    QSignalSpy progressed(job, &appcore::PullJob::progressed);
    const bool ended =
        QTest::qWaitFor([&] { return finished.count() + failed.count() + cancelled.count() > 0; }, timeoutMs);
    PullOutcome out;
    REQUIRE(ended);
    out.finished = finished.count() == 1;
    out.failed = failed.count() == 1;
    out.cancelled = cancelled.count() == 1;
    REQUIRE(finished.count() + failed.count() + cancelled.count() == 1);
    if (out.failed) {
        out.error = failed.at(0).at(0).value<appcore::HubError>();
    }
    if (out.finished) {
        out.snapshotDir = finished.at(0).at(0).toString();
    }
    out.numProgress = static_cast<int>(progressed.count());
    if (!progressed.isEmpty()) {
        out.lastProgress = progressed.last().at(0).value<appcore::PullProgress>();
    }
    return out;
}

inline PullOutcome runPull(appcore::HubClient& client, const QString& repoId, const appcore::PullOptions& options = {},
                           int timeoutMs = 20000) {
    appcore::PullJob* job = client.pull(repoId, options);
    PullOutcome out = waitForPull(job, timeoutMs);
    job->deleteLater();
    return out;
}

}  // namespace testhub
