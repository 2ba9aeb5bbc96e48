// `kinora-cli models list | pull | rm`, the real executable, against the test hub (HF_ENDPOINT) and a
// temporary cache (HF_HUB_CACHE), as a user would run it.
#include <QProcess>
#include <QProcessEnvironment>

#include "hub_test_util.h"

namespace {

struct CliRun {
    int exitCode = -1;
    QString out;
    QString err;
};

// Runs kinora-cli while this process's event loop keeps serving the test hub.
CliRun runCli(const QStringList& args, const QProcessEnvironment& env) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(KINORA_CLI_PATH), args);
    REQUIRE(p.waitForStarted(10000));
    REQUIRE(QTest::qWaitFor([&] { return p.state() == QProcess::NotRunning; }, 60000));
    CliRun r;
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

}  // namespace

TEST_CASE("cli: kinora-cli models pull, list and rm work against the hub", "[hub][cli]") {
    testhub::HubFixture fx;
    testhub::Repo repo;
    repo.commit = testhub::HubTestServer::makeCommit(31);
    testhub::File weights;
    weights.content = testhub::HubTestServer::makeContent(250000, 8);
    repo.files.insert(QStringLiteral("model.ckpt"), weights);
    testhub::File readme;
    readme.lfs = false;
    readme.content = "tiny\n";
    repo.files.insert(QStringLiteral("README.md"), readme);
    fx.server.addRepo(QStringLiteral("test-org/cli-model"), repo);
    testhub::Repo gated = repo;
    gated.gated = QStringLiteral("manual");
    gated.acceptedToken = QStringLiteral("hf_cli");
    fx.server.addRepo(QStringLiteral("test-org/cli-gated"), gated);

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                             "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH", "KINORA_MODELS_JSON"}) {
        env.remove(QString::fromLatin1(name));
    }
    env.insert(QStringLiteral("HF_ENDPOINT"), fx.server.endpoint().toString());
    env.insert(QStringLiteral("HF_HOME"), fx.tmp.path() + QStringLiteral("/hf-home"));
    env.insert(QStringLiteral("HF_HUB_CACHE"), fx.config.cacheDir);
    env.insert(QStringLiteral("KINORA_HUB_MIN_FREE_MB"), QStringLiteral("0"));

    const CliRun pull =
        runCli({QStringLiteral("models"), QStringLiteral("pull"), QStringLiteral("test-org/cli-model")}, env);
    INFO(pull.err.toStdString());
    REQUIRE(pull.exitCode == 0);
    const QString snapshot = pull.out.trimmed().split(QLatin1Char('\n')).last();
    CHECK(snapshot == fx.config.cacheDir + QStringLiteral("/models--test-org--cli-model/snapshots/") + repo.commit);
    QFile ckpt(snapshot + QStringLiteral("/model.ckpt"));
    REQUIRE(ckpt.open(QIODevice::ReadOnly));
    CHECK(ckpt.readAll() == weights.content);
    CHECK(pull.err.contains(QStringLiteral("not one of Kinora's models")));

    const CliRun list = runCli({QStringLiteral("models"), QStringLiteral("list")}, env);
    INFO(list.out.toStdString());
    REQUIRE(list.exitCode == 0);
    CHECK(list.out.contains(fx.config.cacheDir));
    CHECK(list.out.contains(QStringLiteral("sana-sprint-0.6b-1024")));  // the registry
    CHECK(list.out.contains(QStringLiteral("Other repos in the cache")));
    CHECK(list.out.contains(QStringLiteral("test-org/cli-model")));

    const CliRun gatedPull =
        runCli({QStringLiteral("models"), QStringLiteral("pull"), QStringLiteral("test-org/cli-gated")}, env);
    CHECK(gatedPull.exitCode == 1);
    CHECK(gatedPull.err.contains(QStringLiteral("gated")));
    CHECK(gatedPull.err.contains(QStringLiteral("token")));
    const CliRun tokenPull =
        runCli({QStringLiteral("models"), QStringLiteral("pull"), QStringLiteral("test-org/cli-gated"),
                QStringLiteral("--token"), QStringLiteral("hf_cli"), QStringLiteral("--quiet")},
               env);
    INFO(tokenPull.err.toStdString());
    CHECK(tokenPull.exitCode == 0);

    const CliRun rm =
        runCli({QStringLiteral("models"), QStringLiteral("rm"), QStringLiteral("test-org/cli-model")}, env);
    CHECK(rm.exitCode == 0);
    CHECK(rm.out.contains(QStringLiteral("removed test-org/cli-model")));
    CHECK_FALSE(QFileInfo::exists(fx.config.cacheDir + QStringLiteral("/models--test-org--cli-model")));
    const CliRun rmAgain =
        runCli({QStringLiteral("models"), QStringLiteral("rm"), QStringLiteral("test-org/cli-model")}, env);
    CHECK(rmAgain.exitCode == 1);
    CHECK(rmAgain.err.contains(QStringLiteral("not in the cache")));

    const CliRun bad = runCli({QStringLiteral("models"), QStringLiteral("pull"), QStringLiteral("../etc")}, env);
    CHECK(bad.exitCode == 2);
    const CliRun unknown = runCli({QStringLiteral("models"), QStringLiteral("fly")}, env);
    CHECK(unknown.exitCode == 2);
}
