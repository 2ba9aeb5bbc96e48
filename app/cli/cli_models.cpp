// `kinora-cli models`: the model manager on the command line, through appcore's hub client, so the CLI
// downloads into the same Hugging Face cache, with the same checks, as the GUI.
//   kinora-cli models list
//   kinora-cli models pull sana-sprint-0.6b-1024          (a Kinora model id, with what it requires)
//   kinora-cli models pull Efficient-Large-Model/Sana_600M_512px_diffusers   (a repo: its registry files,
//                                                          or every file of a repo Kinora does not know)
//   kinora-cli models rm VideoCrafter/VideoCrafter2
#include <unistd.h>

#include <QCoreApplication>
#include <QTimer>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "cli/cli_args.h"
#include "cli/cli_models.h"
#include "core/hub_client.h"
#include "core/hub_config.h"
#include "core/model_registry.h"

namespace cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

std::atomic<bool> g_interrupted{false};

void onSigint(int) {
    g_interrupted = true;
}

std::string str(const QString& s) {
    return s.toStdString();
}

std::string formatEta(double seconds) {
    if (seconds < 0) {
        return "--";
    }
    const long long s = static_cast<long long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600) {
        std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    } else {
        std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
    }
    return buf;
}

// "[#########.........] 1.23 GB / 9.70 GB  35.2 MB/s  ETA 4m02s" on stderr, redrawn in place.
class DownloadBar {
public:
    explicit DownloadBar(bool enabled) : enabled_(enabled) {}
    void draw(const appcore::PullProgress& p) {
        if (!enabled_ || p.bytesTotal <= 0) {
            return;
        }
        constexpr int kWidth = 30;
        const double fraction = static_cast<double>(p.bytesDone) / static_cast<double>(p.bytesTotal);
        const int filled = static_cast<int>(kWidth * fraction);
        const std::string bar =
            std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
        std::fprintf(stderr, "\r[%s] %3d%%  %s / %s  %s/s  ETA %s  (%d/%d files)   ", bar.c_str(),
                     static_cast<int>(100 * fraction), str(appcore::formatBytes(p.bytesDone)).c_str(),
                     str(appcore::formatBytes(p.bytesTotal)).c_str(),
                     str(appcore::formatBytes(static_cast<qint64>(p.bytesPerSecond))).c_str(),
                     formatEta(p.etaSeconds).c_str(), p.filesDone, p.filesTotal);
        std::fflush(stderr);
        drawn_ = true;
    }
    void finish() {
        if (drawn_) {
            std::fputc('\n', stderr);
            drawn_ = false;
        }
    }

private:
    bool enabled_;
    bool drawn_ = false;
};

std::string stateText(const appcore::ModelStatus& s) {
    switch (s.state) {
        case appcore::InstallState::Installed:
            return "installed";
        case appcore::InstallState::Partial:
            return "incomplete";
        case appcore::InstallState::NotInstalled:
            return "-";
    }
    return "?";
}

void printCacheHeader(const appcore::HubConfig& config) {
    std::printf("Hugging Face cache: %s\n", str(config.cacheDir).c_str());
    if (config.offline) {
        std::printf("HF_HUB_OFFLINE is set: no downloads.\n");
    }
}

int commandList(int argc, char** argv, int begin) {
    Parser p("models list", "List Kinora's models and what the Hugging Face cache holds.");
    p.flag("help", "show this help");
    const ParsedArgs a = p.parse(argc, argv, begin);
    if (a.has("help")) {
        std::fputs(p.help().c_str(), stdout);
        return kExitOk;
    }
    const appcore::HubConfig config = appcore::HubConfig::fromEnvironment();
    const appcore::HubCache cache(config.cacheDir);
    const appcore::ModelRegistry registry = appcore::ModelRegistry::builtIn();
    printCacheHeader(config);
    std::printf("\n%-30s %-12s %-10s %-11s %s\n", "MODEL", "TASK", "SIZE", "STATUS", "REPO / LICENCE");
    for (const appcore::ModelEntry& e : registry.models()) {
        const appcore::ModelStatus s = appcore::ModelRegistry::status(e, cache);
        const qint64 size = s.state == appcore::InstallState::Installed ? s.bytesOnDisk : e.approxSizeBytes;
        const std::string sizeText =
            (s.state == appcore::InstallState::Installed ? "" : "~") + str(appcore::formatBytes(size));
        std::printf("%-30s %-12s %-10s %-11s %s%s\n", str(e.id).c_str(), str(e.tasks.join(QLatin1Char(','))).c_str(),
                    sizeText.c_str(), stateText(s).c_str(), str(e.repoId).c_str(), e.gated ? "  [gated]" : "");
        std::printf("%-30s %-12s %-10s %-11s %s\n", "", "", "", "", str(e.licenceName).c_str());
        if (s.state == appcore::InstallState::Partial && !s.note.isEmpty()) {
            std::printf("%-30s %s\n", "", str(s.note).c_str());
        }
    }
    bool headerDone = false;
    for (const appcore::CachedRepo& repo : cache.scan()) {
        bool known = false;
        for (const appcore::ModelEntry& e : registry.models()) {
            known = known || e.repoId.compare(repo.repoId, Qt::CaseInsensitive) == 0;
        }
        if (known) {
            continue;
        }
        if (!headerDone) {
            std::printf("\nOther repos in the cache:\n");
            headerDone = true;
        }
        std::printf("  %-60s %10s  %d snapshot(s)%s\n", str(repo.repoId).c_str(),
                    str(appcore::formatBytes(repo.blobBytes)).c_str(), static_cast<int>(repo.snapshots.size()),
                    repo.numPartials > 0 ? "  (download in progress)" : "");
    }
    return kExitOk;
}

int runOnePull(appcore::HubClient& client, const QString& repoId, const appcore::PullOptions& options, bool quiet,
               QString* snapshotDir) {
    const bool tty = isatty(STDERR_FILENO) != 0;
    DownloadBar bar(!quiet && tty);
    appcore::PullJob* job = client.pull(repoId, options);
    int rc = kExitFailed;
    QObject::connect(job, &appcore::PullJob::listed, job, [&](qint64 bytesTotal, int numFiles) {
        if (!quiet) {
            std::fprintf(stderr, "%s: %d file(s), %s\n", str(repoId).c_str(), numFiles,
                         str(appcore::formatBytes(bytesTotal)).c_str());
        }
    });
    QObject::connect(job, &appcore::PullJob::progressed, job, [&](const appcore::PullProgress& p) { bar.draw(p); });
    QObject::connect(job, &appcore::PullJob::fileCompleted, job, [&](const QString& path) {
        if (!quiet && !tty) {
            std::fprintf(stderr, "  verified %s\n", str(path).c_str());
        }
    });
    QObject::connect(job, &appcore::PullJob::finished, job, [&](const QString& dir) {
        bar.draw(job->progress());
        bar.finish();
        *snapshotDir = dir;
        rc = kExitOk;
        QCoreApplication::exit(0);
    });
    QObject::connect(job, &appcore::PullJob::failed, job, [&](const appcore::HubError& e) {
        bar.finish();
        std::fprintf(stderr, "error (%s): %s\n", appcore::toString(e.kind), str(e.message).c_str());
        rc = kExitFailed;
        QCoreApplication::exit(0);
    });
    QObject::connect(job, &appcore::PullJob::paused, job, [&] {
        bar.finish();
        std::fprintf(stderr, "interrupted: the partial download is kept; run the same command again to continue.\n");
        rc = kExitInterrupted;
        QCoreApplication::exit(0);
    });
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, job, [job] {
        if (g_interrupted.load()) {
            job->pause();
        }
    });
    poll.start(100);
    QCoreApplication::exec();
    poll.stop();
    delete job;
    return rc;
}

int commandPull(int argc, char** argv, int begin) {
    Parser p("models pull",
             "Download a model (a Kinora model id or a Hugging Face repo) into the Hugging Face "
             "cache; resumes where an earlier pull stopped.");
    p.option("revision", "REV", "branch, tag or commit (default: the model's, else main)")
        .option("token", "TOKEN",
                "Hugging Face access token for gated or private repos (default: HF_TOKEN or the "
                "token file of `hf auth login`)")
        .flag("quiet", "no progress bar")
        .flag("help", "show this help");
    const ParsedArgs a = p.parse(argc, argv, begin);
    if (a.has("help") || a.positional().size() != 1) {
        std::fputs(p.help().c_str(), a.has("help") ? stdout : stderr);
        std::fputs("\nusage: kinora-cli models pull ID|ORG/REPO [options]\n", a.has("help") ? stdout : stderr);
        return a.has("help") ? kExitOk : kExitUsage;
    }
    const QString target = QString::fromStdString(a.positional().front());
    appcore::HubConfig config = appcore::HubConfig::fromEnvironment();
    if (a.has("token")) {
        config.token = QString::fromStdString(a.get("token")).trimmed();
        config.tokenSource = QStringLiteral("--token");
    }
    const appcore::ModelRegistry registry = appcore::ModelRegistry::builtIn();
    QList<QPair<QString, appcore::PullOptions>> pulls;  // requirements first
    if (const appcore::ModelEntry* entry = registry.find(target)) {
        const QList<const appcore::ModelEntry*> all = registry.withRequirements(*entry);
        for (auto it = all.crbegin(); it != all.crend(); ++it) {
            appcore::PullOptions o = (*it)->pullOptions();
            if (*it == entry && a.has("revision")) {
                o.revision = QString::fromStdString(a.get("revision"));
            }
            pulls.append({(*it)->repoId, o});
        }
    } else if (appcore::HubCache::isValidRepoId(target) && target.contains(QLatin1Char('/'))) {
        appcore::PullOptions o;
        if (a.has("revision")) {
            o.revision = QString::fromStdString(a.get("revision"));
        }
        std::fprintf(stderr,
                     "note: %s is not one of Kinora's models (see `kinora-cli models list`); downloading "
                     "all of its files.\n",
                     str(target).c_str());
        pulls.append({target, o});
    } else {
        std::fprintf(stderr,
                     "error: '%s' is neither a Kinora model id nor a Hugging Face repo (organisation/name). "
                     "See `kinora-cli models list`.\n",
                     str(target).c_str());
        return kExitUsage;
    }
    printCacheHeader(config);
    appcore::HubClient client(config);
    std::signal(SIGINT, onSigint);
    QString lastSnapshot;
    for (const auto& pull : pulls) {
        QString snapshot;
        const int rc = runOnePull(client, pull.first, pull.second, a.has("quiet"), &snapshot);
        if (rc != kExitOk) {
            return rc;
        }
        lastSnapshot = snapshot;
        std::fprintf(stderr, "ready: %s\n", str(pull.first).c_str());
    }
    std::printf("%s\n", str(lastSnapshot).c_str());  // the folder to pass to --model
    return kExitOk;
}

int commandRemove(int argc, char** argv, int begin) {
    Parser p("models rm",
             "Delete a model's repo from the Hugging Face cache (all its snapshots and partial "
             "downloads). Python programs sharing the cache lose it too.");
    p.flag("help", "show this help");
    const ParsedArgs a = p.parse(argc, argv, begin);
    if (a.has("help") || a.positional().size() != 1) {
        std::fputs(p.help().c_str(), a.has("help") ? stdout : stderr);
        std::fputs("\nusage: kinora-cli models rm ID|ORG/REPO\n", a.has("help") ? stdout : stderr);
        return a.has("help") ? kExitOk : kExitUsage;
    }
    const QString target = QString::fromStdString(a.positional().front());
    const appcore::ModelRegistry registry = appcore::ModelRegistry::builtIn();
    const appcore::ModelEntry* entry = registry.find(target);
    const QString repoId = entry ? entry->repoId : target;
    if (!appcore::HubCache::isValidRepoId(repoId)) {
        std::fprintf(stderr, "error: '%s' is neither a Kinora model id nor a Hugging Face repo.\n",
                     str(target).c_str());
        return kExitUsage;
    }
    const appcore::HubConfig config = appcore::HubConfig::fromEnvironment();
    const appcore::HubCache cache(config.cacheDir);
    const appcore::CachedRepo repo = cache.scanRepo(repoId);
    if (repo.dir.isEmpty()) {
        std::fprintf(stderr, "error: %s is not in the cache (%s).\n", str(repoId).c_str(),
                     str(config.cacheDir).c_str());
        return kExitFailed;
    }
    QString error;
    if (!cache.removeRepo(repoId, &error)) {
        std::fprintf(stderr, "error: %s\n", str(error).c_str());
        return kExitFailed;
    }
    std::printf("removed %s (%s)\n", str(repoId).c_str(),
                str(appcore::formatBytes(repo.blobBytes + repo.partialBytes)).c_str());
    return kExitOk;
}

}  // namespace

int run_models_command(int argc, char** argv, int begin) {
    const std::string sub = begin < argc ? argv[begin] : "";
    if (sub.empty() || sub == "--help" || sub == "-h") {
        std::fprintf(sub.empty() ? stderr : stdout,
                     "usage: kinora-cli models <list|pull|rm> [options]\n\n"
                     "  list              Kinora's models, their size and whether they are installed\n"
                     "  pull ID|ORG/REPO  download a model into the Hugging Face cache (resumable, verified)\n"
                     "  rm ID|ORG/REPO    delete a model from the cache\n\n"
                     "The cache is the one Python's huggingface_hub uses (HF_HOME, HF_HUB_CACHE); HF_TOKEN,\n"
                     "HF_ENDPOINT and HF_HUB_OFFLINE work as they do there.\n");
        return sub.empty() ? kExitUsage : kExitOk;
    }
    int qtArgc = 1;
    QCoreApplication app(qtArgc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("Kinora"));
    QCoreApplication::setOrganizationName(QStringLiteral("Kinora"));
    if (sub == "list") return commandList(argc, argv, begin + 1);
    if (sub == "pull") return commandPull(argc, argv, begin + 1);
    if (sub == "rm") return commandRemove(argc, argv, begin + 1);
    std::fprintf(stderr, "error: unknown 'models' command '%s' (list, pull or rm)\n", sub.c_str());
    return kExitUsage;
}

}  // namespace cli
