// The model registry: the built-in resources/models.json (every model the issue asks for, valid, with
// tasks, licences, defaults), its validation, and the installed/partial status read from the cache.
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>

#include "core/model_registry.h"
#include "hub_test_util.h"

using appcore::InstallState;
using appcore::ModelRegistry;

TEST_CASE("registry: the built-in models.json lists the supported models completely", "[registry]") {
    const ModelRegistry registry = ModelRegistry::builtIn();
    REQUIRE_FALSE(registry.models().isEmpty());
    // The built-in copy is the file in the source tree.
    const QByteArray source = qgetenv("KINORA_SOURCE_DIR");
    if (!source.isEmpty()) {
        QFile onDisk(QString::fromLocal8Bit(source) + QStringLiteral("/resources/models.json"));
        QFile builtIn(QStringLiteral(":/kinora/models.json"));
        REQUIRE(onDisk.open(QIODevice::ReadOnly));
        REQUIRE(builtIn.open(QIODevice::ReadOnly));
        CHECK(onDisk.readAll() == builtIn.readAll());
    }
    struct Expected {
        const char* repo;
        const char* task;
    };
    const Expected expected[] = {
        {"Efficient-Large-Model/Sana_600M_512px_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_600M_1024px_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_1600M_512px_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_1600M_1024px_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_1600M_2Kpx_BF16_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_1600M_4Kpx_BF16_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_Sprint_0.6B_1024px_diffusers", "t2i"},
        {"Efficient-Large-Model/Sana_Sprint_1.6B_1024px_diffusers", "t2i"},
        {"VideoCrafter/VideoCrafter2", "t2v"},
        {"VideoCrafter/Image2Video-512", "i2v"},
        {"Doubiiu/DynamiCrafter", "i2v"},
        {"Doubiiu/DynamiCrafter_512", "i2v"},
        {"Doubiiu/DynamiCrafter_1024", "i2v"},
        {"laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "tokenizer"},
    };
    for (const Expected& x : expected) {
        INFO(x.repo);
        const appcore::ModelEntry* e = registry.find(QString::fromLatin1(x.repo));
        REQUIRE(e != nullptr);
        CHECK(e->tasks.contains(QString::fromLatin1(x.task)));
        CHECK_FALSE(e->licenceName.isEmpty());
        CHECK(e->approxSizeBytes > 0);
        CHECK_FALSE(e->selection.include.isEmpty());
    }
    for (const appcore::ModelEntry& e : registry.models()) {
        INFO(e.id.toStdString());
        if (e.tasks.contains(QStringLiteral("t2i")) || e.tasks.contains(QStringLiteral("t2v")) ||
            e.tasks.contains(QStringLiteral("i2v"))) {
            CHECK(e.defaults.value(QStringLiteral("num_inference_steps")).toInt() > 0);
            CHECK(e.defaults.value(QStringLiteral("guidance_scale")).toDouble() > 0.0);
            CHECK(e.defaults.value(QStringLiteral("width_px")).toInt() > 0);
            CHECK(e.defaults.value(QStringLiteral("height_px")).toInt() > 0);
        }
        if (e.tasks.contains(QStringLiteral("t2v")) || e.tasks.contains(QStringLiteral("i2v"))) {
            CHECK(e.defaults.value(QStringLiteral("num_frames")).toInt() == 16);
            CHECK(e.requires.contains(QStringLiteral("openclip-vit-h-14-tokenizer")));
            CHECK(e.format == QStringLiteral("lvdm-ckpt"));
            CHECK_FALSE(e.configName.isEmpty());
            CHECK(e.selection.include == QStringList{QStringLiteral("model.ckpt")});
        }
        if (e.format == QStringLiteral("diffusers")) {
            CHECK(e.selection.include.contains(QStringLiteral("model_index.json")));
        }
        if (e.gated) {
            CHECK_THAT(e.access.toStdString(), Catch::Contains("accept") && Catch::Contains("token"));
        }
    }
    const appcore::ModelEntry* vc2 = registry.find(QStringLiteral("videocrafter2"));
    REQUIRE(vc2);
    const auto chain = registry.withRequirements(*vc2);
    REQUIRE(chain.size() == 2);
    CHECK(chain[1]->id == QStringLiteral("openclip-vit-h-14-tokenizer"));
    CHECK(registry.find(QStringLiteral("openclip-vit-h-14-tokenizer"))->selection.include ==
          QStringList({QStringLiteral("vocab.json"), QStringLiteral("merges.txt")}));
}

TEST_CASE("registry: malformed model lists are rejected with a message", "[registry]") {
    const auto parse = [](const char* json) {
        QString error;
        const auto r = ModelRegistry::fromJson(QByteArray(json), &error);
        return std::make_pair(r.has_value(), error.toStdString());
    };
    CHECK_THAT(parse("{").second, Catch::Contains("not valid JSON"));
    CHECK_THAT(parse("{\"schema\": 2, \"models\": []}").second, Catch::Contains("schema"));
    const char* base =
        R"({"schema":1,"models":[{"id":"a","name":"A","repo":"%1","tasks":["%2"],"licence":{"name":"MIT"},
            "requires":[%3]}]})";
    const auto make = [&](const char* repo, const char* task, const char* requires) {
        return QString::fromLatin1(base)
            .arg(QString::fromLatin1(repo), QString::fromLatin1(task), QString::fromLatin1(requires))
            .toLatin1();
    };
    QString error;
    CHECK(ModelRegistry::fromJson(make("org/name", "t2i", ""), &error).has_value());
    CHECK_FALSE(ModelRegistry::fromJson(make("../name", "t2i", ""), &error).has_value());
    CHECK_THAT(error.toStdString(), Catch::Contains("\"repo\""));
    CHECK_FALSE(ModelRegistry::fromJson(make("org/name", "dance", ""), &error).has_value());
    CHECK_THAT(error.toStdString(), Catch::Contains("unknown task"));
    CHECK_FALSE(ModelRegistry::fromJson(make("org/name", "t2i", "\"nope\""), &error).has_value());
    CHECK_THAT(error.toStdString(), Catch::Contains("requires unknown model"));
}

TEST_CASE("registry: a model's status follows what the cache holds", "[registry]") {
    testhub::HubFixture fx;
    testhub::Repo repo;
    repo.commit = testhub::HubTestServer::makeCommit(9);
    const auto add = [&repo](const QString& path, const QByteArray& content, bool lfs) {
        testhub::File f;
        f.content = content;
        f.lfs = lfs;
        repo.files.insert(path, f);
    };
    add(QStringLiteral("model_index.json"),
        R"({"_class_name": "SanaPipeline", "scheduler": ["diffusers", "S"], "transformer": ["diffusers", "T"],
            "vae": [null, null]})",
        false);
    add(QStringLiteral("scheduler/scheduler_config.json"), "{}", false);
    add(QStringLiteral("transformer/config.json"), "{}", false);
    add(QStringLiteral("transformer/diffusion_pytorch_model.safetensors.index.json"),
        R"({"weight_map": {"a": "diffusion_pytorch_model-00001-of-00002.safetensors",
                           "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}})",
        false);
    add(QStringLiteral("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"),
        testhub::HubTestServer::makeContent(5000, 1), true);
    add(QStringLiteral("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"),
        testhub::HubTestServer::makeContent(6000, 2), true);
    fx.server.addRepo(QStringLiteral("test-org/tiny-sana"), repo);
    QString error;
    const auto registry = ModelRegistry::fromJson(
        R"({"schema":1,"models":[{"id":"tiny","name":"Tiny","repo":"test-org/tiny-sana","format":"diffusers",
            "tasks":["t2i"],"licence":{"name":"MIT"},
            "include":["model_index.json","scheduler/*","transformer/*"]}]})",
        &error);
    REQUIRE(registry.has_value());
    const appcore::ModelEntry& entry = registry->models().first();
    const appcore::HubCache cache(fx.config.cacheDir);
    CHECK(ModelRegistry::status(entry, cache).state == InstallState::NotInstalled);

    appcore::HubClient client(fx.config);
    const testhub::PullOutcome out = testhub::runPull(client, entry.repoId, entry.pullOptions());
    INFO(out.error.message.toStdString());
    REQUIRE(out.finished);
    appcore::ModelStatus s = ModelRegistry::status(entry, cache);
    CHECK(s.state == InstallState::Installed);
    CHECK(s.snapshotDir == out.snapshotDir);
    CHECK(s.bytesOnDisk >= 11000);

    // A shard's blob goes missing (the link dangles): incomplete, and the note names it.
    const QString shard2 = testhub::HubTestServer::sha256Hex(
        repo.files[QStringLiteral("transformer/diffusion_pytorch_model-00002-of-00002.safetensors")].content);
    REQUIRE(QFile::remove(cache.blobPath(entry.repoId, shard2)));
    s = ModelRegistry::status(entry, cache);
    CHECK(s.state == InstallState::Partial);
    CHECK_THAT(s.note.toStdString(), Catch::Contains("diffusion_pytorch_model-00002-of-00002.safetensors"));
    // Pulling again repairs it (only the missing file is fetched).
    const int before = static_cast<int>(fx.server.requests().size());
    const testhub::PullOutcome again = testhub::runPull(client, entry.repoId, entry.pullOptions());
    REQUIRE(again.finished);
    CHECK(ModelRegistry::status(entry, cache).state == InstallState::Installed);
    int cdn = 0;
    for (int i = before; i < fx.server.requests().size(); ++i) {
        cdn += fx.server.requests()[i].cdn ? 1 : 0;
    }
    CHECK(cdn == 1);
    REQUIRE(cache.removeRepo(entry.repoId, &error));
    CHECK(ModelRegistry::status(entry, cache).state == InstallState::NotInstalled);
}
