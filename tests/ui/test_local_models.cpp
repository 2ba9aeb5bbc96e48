// Finding installed models: diffusers folders by pipeline class, LVDM checkpoints by name, hub-cache
// snapshots; and the parameter ranges per model.
#include <catch2/catch.hpp>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include "core/local_models.h"
#include "uitest_support.h"

TEST_CASE("identifyModel: tells the families apart and explains what it cannot use", "[ui]") {
    QTemporaryDir dir;
    const QString sana = uitest::makeDiffusersModel(dir.path(), QStringLiteral("Sana_1600M_4Kpx_BF16_diffusers"),
                                                    QStringLiteral("SanaPipeline"));
    appcore::LocalModel m = appcore::identifyModel(sana);
    CHECK(m.family == appcore::ModelFamily::Sana);
    CHECK(m.supports(appcore::Task::TextToImage));
    CHECK_FALSE(m.supports(appcore::Task::TextToVideo));
    CHECK(m.nativeWidth == 4096);
    CHECK(appcore::parameterSpec(m, appcore::Task::TextToImage).flowShift.value == Approx(6.0));

    const QString dc = uitest::makeCheckpointModel(dir.path(), QStringLiteral("DynamiCrafter_256"));
    m = appcore::identifyModel(dc);
    CHECK(m.family == appcore::ModelFamily::DynamiCrafter);
    CHECK(m.path.endsWith(QStringLiteral("DynamiCrafter_256/model.ckpt")));
    CHECK(m.defaultTask() == appcore::Task::ImageToVideo);
    const appcore::ParameterSpec spec = appcore::parameterSpec(m, appcore::Task::ImageToVideo);
    CHECK(spec.hasFrameStride);
    CHECK(spec.frameStride.value == 3);
    CHECK(spec.width.value == 256);

    QString why;
    const QString sd =
        uitest::makeDiffusersModel(dir.path(), QStringLiteral("sd15"), QStringLiteral("StableDiffusionPipeline"));
    CHECK(appcore::identifyModel(sd, &why).family == appcore::ModelFamily::Unknown);
    CHECK(why.contains(QStringLiteral("StableDiffusionPipeline")));
    QFile txt(dir.filePath(QStringLiteral("notes.txt")));
    txt.open(QIODevice::WriteOnly);
    txt.write("hello");
    txt.close();
    CHECK(appcore::identifyModel(txt.fileName(), &why).family == appcore::ModelFamily::Unknown);
    CHECK(why.contains(QStringLiteral("not a model file")));
    CHECK(appcore::identifyModel(dir.filePath(QStringLiteral("missing")), &why).family ==
          appcore::ModelFamily::Unknown);
    CHECK(why.contains(QStringLiteral("does not exist")));
}

TEST_CASE("scanModels: models folder, added paths and the Hugging Face cache, each listed once", "[ui]") {
    QTemporaryDir models, elsewhere, hub;
    uitest::makeDiffusersModel(models.path(), QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers"),
                               QStringLiteral("SanaSprintPipeline"));
    const QString vc = uitest::makeCheckpointModel(elsewhere.path(), QStringLiteral("VideoCrafter2"));
    // hub cache layout: models--org--name/{refs/main, snapshots/<commit>/...}
    const QString repo = hub.filePath(QStringLiteral("models--Efficient-Large-Model--Sana_600M_512px_diffusers"));
    QDir().mkpath(repo + QStringLiteral("/refs"));
    QFile ref(repo + QStringLiteral("/refs/main"));
    ref.open(QIODevice::WriteOnly);
    ref.write("abc123\n");
    ref.close();
    uitest::makeDiffusersModel(repo + QStringLiteral("/snapshots"), QStringLiteral("abc123"),
                               QStringLiteral("SanaPipeline"));
    const QString dcRepo = hub.filePath(QStringLiteral("models--Doubiiu--DynamiCrafter_512"));
    uitest::makeCheckpointModel(dcRepo + QStringLiteral("/snapshots"), QStringLiteral("fff000"));

    const QList<appcore::LocalModel> found = appcore::scanModels(models.path(), hub.path(), {vc, vc});
    REQUIRE(found.size() == 4);
    QStringList names;
    for (const auto& m : found) {
        names << m.name;
    }
    CHECK(names == (QStringList{QStringLiteral("DynamiCrafter_512"), QStringLiteral("Sana_600M_512px_diffusers"),
                                QStringLiteral("Sana_Sprint_0.6B_1024px_diffusers"), QStringLiteral("VideoCrafter2")}));
    CHECK(found[0].source == appcore::ModelSource::HubCache);
    CHECK(found[0].family == appcore::ModelFamily::DynamiCrafter);
    CHECK(found[1].nativeWidth == 512);
    CHECK(found[3].source == appcore::ModelSource::Added);
}
