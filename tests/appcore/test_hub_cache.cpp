// The cache layout helpers, the file selection and the environment variables, against the facts of
// huggingface_hub (docs/reference/apps.md §3.4, huggingface_hub constants.py / file_download.py).
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <catch2/catch.hpp>

#include "core/app_paths.h"
#include "core/hub_cache.h"
#include "core/hub_config.h"
#include "core/hub_selection.h"

using appcore::HubCache;

namespace {

// Sets environment variables for one scope and restores them afterwards.
class EnvGuard {
public:
    explicit EnvGuard(std::initializer_list<const char*> names) {
        for (const char* n : names) {
            saved_.append({n, qEnvironmentVariableIsSet(n), qgetenv(n)});
            qunsetenv(n);
        }
    }
    ~EnvGuard() {
        for (const auto& s : saved_) {
            if (s.wasSet) {
                qputenv(s.name, s.value);
            } else {
                qunsetenv(s.name);
            }
        }
    }

private:
    struct Saved {
        const char* name;
        bool wasSet;
        QByteArray value;
    };
    QList<Saved> saved_;
};

const std::initializer_list<const char*> kHubVariables = {"HF_HOME",
                                                          "HF_HUB_CACHE",
                                                          "HUGGINGFACE_HUB_CACHE",
                                                          "XDG_CACHE_HOME",
                                                          "HF_TOKEN",
                                                          "HUGGING_FACE_HUB_TOKEN",
                                                          "HF_TOKEN_PATH",
                                                          "HF_HUB_OFFLINE",
                                                          "TRANSFORMERS_OFFLINE",
                                                          "HF_ENDPOINT",
                                                          "HF_HUB_DISABLE_IMPLICIT_TOKEN",
                                                          "KINORA_HUB_MIN_FREE_MB",
                                                          "KINORA_HUB_PARALLEL"};

QList<appcore::RepoFile> files(const QStringList& paths) {
    QList<appcore::RepoFile> out;
    for (const QString& p : paths) {
        appcore::RepoFile f;
        f.path = p;
        out.append(f);
    }
    return out;
}

QStringList paths(const QList<appcore::RepoFile>& fs) {
    QStringList out;
    for (const auto& f : fs) {
        out.append(f.path);
    }
    return out;
}

}  // namespace

TEST_CASE("hub config: the environment variables are read as huggingface_hub reads them", "[hub][config]") {
    EnvGuard guard(kHubVariables);
    const QString home = QDir::homePath();
    SECTION("defaults") {
        const auto c = appcore::HubConfig::fromEnvironment();
        CHECK(c.endpoint == QUrl(QStringLiteral("https://huggingface.co")));
        CHECK(c.cacheDir == home + QStringLiteral("/.cache/huggingface/hub"));
        CHECK_FALSE(c.offline);
        CHECK(c.reserveBytes == 1024LL * 1024 * 1024);
        CHECK(appcore::hubCacheDir() == c.cacheDir);
    }
    SECTION("XDG_CACHE_HOME, then HF_HOME, then HUGGINGFACE_HUB_CACHE, then HF_HUB_CACHE") {
        qputenv("XDG_CACHE_HOME", "/tmp/xdg");
        CHECK(appcore::HubConfig::fromEnvironment().cacheDir == QStringLiteral("/tmp/xdg/huggingface/hub"));
        qputenv("HF_HOME", "~/hfhome");
        CHECK(appcore::HubConfig::fromEnvironment().cacheDir == home + QStringLiteral("/hfhome/hub"));
        qputenv("HUGGINGFACE_HUB_CACHE", "/tmp/legacy");
        CHECK(appcore::HubConfig::fromEnvironment().cacheDir == QStringLiteral("/tmp/legacy"));
        qputenv("HF_HUB_CACHE", "/tmp/new");
        CHECK(appcore::HubConfig::fromEnvironment().cacheDir == QStringLiteral("/tmp/new"));
    }
    SECTION("HF_ENDPOINT without its trailing slash") {
        qputenv("HF_ENDPOINT", "http://127.0.0.1:8080/mirror/");
        CHECK(appcore::HubConfig::fromEnvironment().endpoint == QUrl(QStringLiteral("http://127.0.0.1:8080/mirror")));
    }
    SECTION("HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE truth values") {
        for (const char* v : {"1", "ON", "yes", "True"}) {
            qputenv("HF_HUB_OFFLINE", v);
            CHECK(appcore::HubConfig::fromEnvironment().offline);
        }
        for (const char* v : {"0", "off", "", "2"}) {
            qputenv("HF_HUB_OFFLINE", v);
            CHECK_FALSE(appcore::HubConfig::fromEnvironment().offline);
        }
        qunsetenv("HF_HUB_OFFLINE");
        qputenv("TRANSFORMERS_OFFLINE", "1");
        CHECK(appcore::HubConfig::fromEnvironment().offline);
    }
    SECTION("token: HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the token file") {
        QTemporaryDir tmp;
        REQUIRE(tmp.isValid());
        qputenv("HF_HOME", tmp.path().toLocal8Bit());
        CHECK(appcore::HubConfig::fromEnvironment().token.isEmpty());
        QFile file(tmp.path() + QStringLiteral("/token"));
        REQUIRE(file.open(QIODevice::WriteOnly));
        file.write("hf_fromfile\n");
        file.close();
        auto c = appcore::HubConfig::fromEnvironment();
        CHECK(c.token == QStringLiteral("hf_fromfile"));
        CHECK(c.tokenSource.contains(QStringLiteral("token file")));
        QFile other(tmp.path() + QStringLiteral("/other-token"));
        REQUIRE(other.open(QIODevice::WriteOnly));
        other.write("hf_otherfile");
        other.close();
        qputenv("HF_TOKEN_PATH", (tmp.path() + QStringLiteral("/other-token")).toLocal8Bit());
        CHECK(appcore::HubConfig::fromEnvironment().token == QStringLiteral("hf_otherfile"));
        qputenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy");
        CHECK(appcore::HubConfig::fromEnvironment().token == QStringLiteral("hf_legacy"));
        qputenv("HF_TOKEN", "hf_env");
        c = appcore::HubConfig::fromEnvironment();
        CHECK(c.token == QStringLiteral("hf_env"));
        CHECK(c.tokenSource == QStringLiteral("HF_TOKEN"));
        qputenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1");
        CHECK(appcore::HubConfig::fromEnvironment().token.isEmpty());
    }
    SECTION("Kinora's own settings") {
        qputenv("KINORA_HUB_MIN_FREE_MB", "10");
        qputenv("KINORA_HUB_PARALLEL", "2");
        const auto c = appcore::HubConfig::fromEnvironment();
        CHECK(c.reserveBytes == 10LL * 1024 * 1024);
        CHECK(c.maxParallelFiles == 2);
    }
}

TEST_CASE("hub cache: names and paths follow huggingface_hub's layout", "[hub][cache]") {
    CHECK(HubCache::repoFolderName(QStringLiteral("Efficient-Large-Model/Sana_1600M_1024px_diffusers")) ==
          QStringLiteral("models--Efficient-Large-Model--Sana_1600M_1024px_diffusers"));
    const HubCache cache(QStringLiteral("/c/hub"));
    CHECK(cache.blobPath(QStringLiteral("a/b"), QStringLiteral("e")) == QStringLiteral("/c/hub/models--a--b/blobs/e"));
    CHECK(cache.snapshotFile(QStringLiteral("a/b"), QStringLiteral("c0"), QStringLiteral("vae/x.json")) ==
          QStringLiteral("/c/hub/models--a--b/snapshots/c0/vae/x.json"));
    CHECK(cache.lockPath(QStringLiteral("a/b"), QStringLiteral("e")) ==
          QStringLiteral("/c/hub/.locks/models--a--b/e.lock"));
    CHECK(cache.incompletePath(QStringLiteral("a/b"), QStringLiteral("e")) ==
          QStringLiteral("/c/hub/models--a--b/blobs/e.incomplete"));

    for (const char* ok : {"VideoCrafter/VideoCrafter2", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "gpt2",
                           "Doubiiu/DynamiCrafter_1024", "a.b/c_d"}) {
        INFO(ok);
        CHECK(HubCache::isValidRepoId(QString::fromLatin1(ok)));
    }
    for (const char* bad : {"", "a/b/c", "../x", "a/..", "a--b/c", "-a/b", "a/b.", "a b/c", "a/", "/b"}) {
        INFO(bad);
        CHECK_FALSE(HubCache::isValidRepoId(QString::fromLatin1(bad)));
    }
    for (const char* ok :
         {"model.ckpt", "transformer/diffusion_pytorch_model.safetensors", "a/b/c.json", "..a", "a..b"}) {
        INFO(ok);
        CHECK(HubCache::isSafeRelativePath(QString::fromLatin1(ok)));
    }
    for (const char* bad : {"", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "a\\b", "C:/x", "a/\x01b"}) {
        INFO(bad);
        CHECK_FALSE(HubCache::isSafeRelativePath(QString::fromLatin1(bad)));
    }
    CHECK(HubCache::isCommitHash(QStringLiteral("0123456789abcdef0123456789abcdef01234567")));
    CHECK_FALSE(HubCache::isCommitHash(QStringLiteral("0123456789ABCDEF0123456789abcdef01234567")));
    CHECK(HubCache::isValidRevision(QStringLiteral("main")));
    CHECK(HubCache::isValidRevision(QStringLiteral("refs/pr/1")));
    CHECK_FALSE(HubCache::isValidRevision(QStringLiteral("../main")));
}

TEST_CASE("hub cache: git blob sha1 agrees with git hash-object", "[hub][cache]") {
    const QByteArray content = "{\"_class_name\": \"SanaPipeline\"}\n";
    const QString git = QStandardPaths::findExecutable(QStringLiteral("git"));
    if (git.isEmpty()) {
        WARN("git is not installed: cannot cross-check the git blob sha1");
        return;
    }
    QProcess p;
    p.start(git, {QStringLiteral("hash-object"), QStringLiteral("--stdin")});
    REQUIRE(p.waitForStarted());
    p.write(content);
    p.closeWriteChannel();
    REQUIRE(p.waitForFinished());
    CHECK(HubCache::gitBlobSha1(content) == QString::fromLatin1(p.readAllStandardOutput()).trimmed());
}

TEST_CASE("hub cache: refs, links, scan, prune and remove", "[hub][cache]") {
    QTemporaryDir tmp;
    REQUIRE(tmp.isValid());
    const HubCache cache(tmp.path());
    const QString repo = QStringLiteral("org/name");
    const QString commit = QStringLiteral("0123456789abcdef0123456789abcdef01234567");
    QString error;
    REQUIRE(cache.writeRef(repo, QStringLiteral("main"), commit, &error));
    CHECK(cache.readRef(repo, QStringLiteral("main")) == commit);
    QDir().mkpath(tmp.path() + QStringLiteral("/models--org--name/blobs"));
    QFile blob(cache.blobPath(repo, QStringLiteral("abc")));
    REQUIRE(blob.open(QIODevice::WriteOnly));
    blob.write("12345");
    blob.close();
    REQUIRE(cache.linkSnapshotFile(repo, commit, QStringLiteral("sub/dir/f.bin"), QStringLiteral("abc"), &error));
    CHECK(QFile::symLinkTarget(cache.snapshotFile(repo, commit, QStringLiteral("sub/dir/f.bin"))) ==
          QFileInfo(cache.blobPath(repo, QStringLiteral("abc"))).absoluteFilePath());
    CHECK(cache.hasSnapshotFile(repo, commit, QStringLiteral("sub/dir/f.bin"), 5));
    CHECK_FALSE(cache.hasSnapshotFile(repo, commit, QStringLiteral("sub/dir/f.bin"), 6));
    CHECK(cache.resolveSnapshot(repo, QStringLiteral("main")) == cache.snapshotDir(repo, commit));
    QFile partial(cache.incompletePath(repo, QStringLiteral("def")));
    REQUIRE(partial.open(QIODevice::WriteOnly));
    partial.write("12");
    partial.close();
    const QList<appcore::CachedRepo> repos = cache.scan();
    REQUIRE(repos.size() == 1);
    CHECK(repos[0].repoId == repo);
    CHECK(repos[0].refs.value(QStringLiteral("main")) == commit);
    CHECK(repos[0].snapshots == QStringList{commit});
    CHECK(repos[0].blobBytes == 5);
    CHECK(repos[0].numPartials == 1);
    CHECK(repos[0].partialBytes == 2);
    REQUIRE(cache.removeRepo(repo, &error));
    CHECK_FALSE(QFileInfo::exists(cache.repoDir(repo)));
    CHECK(cache.scan().isEmpty());
    // Empty folders go, non-empty ones stay.
    QDir().mkpath(cache.snapshotDir(repo, commit) + QStringLiteral("/a/b"));
    cache.pruneEmptyDirs(repo);
    CHECK_FALSE(QFileInfo::exists(cache.repoDir(repo)));
}

TEST_CASE("hub cache: a blob lock excludes a second writer", "[hub][cache]") {
    QTemporaryDir tmp;
    REQUIRE(tmp.isValid());
    const QString path = tmp.path() + QStringLiteral("/.locks/x/e.lock");
    appcore::BlobLock a;
    appcore::BlobLock b;
    QString error;
    REQUIRE(a.tryLock(path, &error));
    CHECK_FALSE(b.tryLock(path, &error));
    CHECK_THAT(error.toStdString(), Catch::Contains("another program"));
    a.unlock();
    CHECK(b.tryLock(path, &error));
}

TEST_CASE("hub selection: globs match like fnmatch", "[hub][selection]") {
    using appcore::globMatch;
    CHECK(globMatch(QStringLiteral("scheduler/*"), QStringLiteral("scheduler/scheduler_config.json")));
    CHECK(globMatch(QStringLiteral("*"), QStringLiteral("a/b/c")));
    CHECK(globMatch(QStringLiteral("*.json"), QStringLiteral("vae/config.json")));
    CHECK(globMatch(QStringLiteral("tokenizer*"), QStringLiteral("tokenizer_config.json")));
    CHECK(globMatch(QStringLiteral("model?.bin"), QStringLiteral("model1.bin")));
    CHECK(globMatch(QStringLiteral("[ab].txt"), QStringLiteral("b.txt")));
    CHECK_FALSE(globMatch(QStringLiteral("[!ab].txt"), QStringLiteral("b.txt")));
    CHECK(globMatch(QStringLiteral("shard-[0-9].bin"), QStringLiteral("shard-7.bin")));
    CHECK_FALSE(globMatch(QStringLiteral("model.ckpt"), QStringLiteral("model.ckpt.bak")));
    CHECK_FALSE(globMatch(QStringLiteral("vae/*"), QStringLiteral("transformer/x")));
}

TEST_CASE("hub selection: diffusers weight variants per folder", "[hub][selection]") {
    using appcore::variantOf;
    CHECK(variantOf(QStringLiteral("vae/diffusion_pytorch_model.fp16.safetensors")) == QStringLiteral("fp16"));
    CHECK(variantOf(QStringLiteral("text_encoder/model.bf16-00001-of-00002.safetensors")) == QStringLiteral("bf16"));
    CHECK(variantOf(QStringLiteral("text_encoder/model.safetensors.index.fp16.json")) == QStringLiteral("fp16"));
    CHECK(variantOf(QStringLiteral("text_encoder/model-00001-of-00002.safetensors")).isEmpty());
    CHECK(variantOf(QStringLiteral("transformer/diffusion_pytorch_model.safetensors.index.json")).isEmpty());
    CHECK(variantOf(QStringLiteral("transformer/diffusion_pytorch_model.int4.safetensors")) == QStringLiteral("int4"));

    // File names as the Sana diffusers repos on the hub have them (Sana_600M_512px_diffusers,
    // Sana_1600M_1024px_BF16_diffusers trees).
    const QList<appcore::RepoFile> listing =
        files({QStringLiteral(".gitattributes"),
               QStringLiteral("model_index.json"),
               QStringLiteral("scheduler/scheduler_config.json"),
               QStringLiteral("tokenizer/tokenizer.json"),
               QStringLiteral("tokenizer/tokenizer.model"),
               QStringLiteral("text_encoder/config.json"),
               QStringLiteral("text_encoder/model-00001-of-00002.safetensors"),
               QStringLiteral("text_encoder/model-00002-of-00002.safetensors"),
               QStringLiteral("text_encoder/model.fp16-00001-of-00002.safetensors"),
               QStringLiteral("text_encoder/model.fp16-00002-of-00002.safetensors"),
               QStringLiteral("text_encoder/model.safetensors.index.fp16.json"),
               QStringLiteral("text_encoder/model.safetensors.index.json"),
               QStringLiteral("transformer/config.json"),
               QStringLiteral("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"),
               QStringLiteral("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"),
               QStringLiteral("transformer/diffusion_pytorch_model.bf16.safetensors"),
               QStringLiteral("transformer/diffusion_pytorch_model.int4.safetensors"),
               QStringLiteral("transformer/diffusion_pytorch_model.safetensors.index.json"),
               QStringLiteral("vae/config.json"),
               QStringLiteral("vae/diffusion_pytorch_model.bf16.safetensors"),
               QStringLiteral("vae/diffusion_pytorch_model.safetensors")});
    appcore::FileSelection s;
    s.include = {QStringLiteral("model_index.json"), QStringLiteral("scheduler/*"),   QStringLiteral("tokenizer/*"),
                 QStringLiteral("text_encoder/*"),   QStringLiteral("transformer/*"), QStringLiteral("vae/*")};
    SECTION("plain files") {
        CHECK(paths(appcore::selectFiles(listing, s)) ==
              QStringList({QStringLiteral("model_index.json"), QStringLiteral("scheduler/scheduler_config.json"),
                           QStringLiteral("tokenizer/tokenizer.json"), QStringLiteral("tokenizer/tokenizer.model"),
                           QStringLiteral("text_encoder/config.json"),
                           QStringLiteral("text_encoder/model-00001-of-00002.safetensors"),
                           QStringLiteral("text_encoder/model-00002-of-00002.safetensors"),
                           QStringLiteral("text_encoder/model.safetensors.index.json"),
                           QStringLiteral("transformer/config.json"),
                           QStringLiteral("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"),
                           QStringLiteral("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"),
                           QStringLiteral("transformer/diffusion_pytorch_model.safetensors.index.json"),
                           QStringLiteral("vae/config.json"),
                           QStringLiteral("vae/diffusion_pytorch_model.safetensors")}));
    }
    SECTION("bf16 where there is one, else the plain files") {
        s.variant = QStringLiteral("bf16");
        const QStringList got = paths(appcore::selectFiles(listing, s));
        CHECK(got.contains(QStringLiteral("transformer/diffusion_pytorch_model.bf16.safetensors")));
        CHECK_FALSE(got.contains(QStringLiteral("transformer/diffusion_pytorch_model-00001-of-00002.safetensors")));
        CHECK_FALSE(got.contains(QStringLiteral("transformer/diffusion_pytorch_model.safetensors.index.json")));
        CHECK_FALSE(got.contains(QStringLiteral("transformer/diffusion_pytorch_model.int4.safetensors")));
        CHECK(got.contains(QStringLiteral("vae/diffusion_pytorch_model.bf16.safetensors")));
        CHECK_FALSE(got.contains(QStringLiteral("vae/diffusion_pytorch_model.safetensors")));
        CHECK(got.contains(QStringLiteral("text_encoder/model-00001-of-00002.safetensors")));  // no bf16 there
        CHECK(got.contains(QStringLiteral("text_encoder/model.safetensors.index.json")));
        CHECK_FALSE(got.contains(QStringLiteral("text_encoder/model.fp16-00001-of-00002.safetensors")));
        CHECK(got.contains(QStringLiteral("transformer/config.json")));
    }
    SECTION("fp16 takes the fp16 shards with their index") {
        s.variant = QStringLiteral("fp16");
        const QStringList got = paths(appcore::selectFiles(listing, s));
        CHECK(got.contains(QStringLiteral("text_encoder/model.fp16-00001-of-00002.safetensors")));
        CHECK(got.contains(QStringLiteral("text_encoder/model.fp16-00002-of-00002.safetensors")));
        CHECK(got.contains(QStringLiteral("text_encoder/model.safetensors.index.fp16.json")));
        CHECK_FALSE(got.contains(QStringLiteral("text_encoder/model.safetensors.index.json")));
        CHECK_FALSE(got.contains(QStringLiteral(".gitattributes")));
    }
    SECTION("exclude wins over include") {
        s.exclude = {QStringLiteral("tokenizer/*.model")};
        const QStringList got = paths(appcore::selectFiles(listing, s));
        CHECK(got.contains(QStringLiteral("tokenizer/tokenizer.json")));
        CHECK_FALSE(got.contains(QStringLiteral("tokenizer/tokenizer.model")));
    }
}
