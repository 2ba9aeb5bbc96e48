#include "core/local_models.h"

#include <QCoreApplication>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>

#include <algorithm>

namespace appcore {
namespace {

const QStringList kCheckpointSuffixes = {QStringLiteral("ckpt"), QStringLiteral("safetensors"), QStringLiteral("pt"),
                                         QStringLiteral("pth")};

qint64 pathSize(const QString& path) {
    QFileInfo info(path);
    if (info.isFile()) {
        return info.size();
    }
    qint64 total = 0;
    QDirIterator it(path, QDir::Files | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories | QDirIterator::FollowSymlinks);
    while (it.hasNext()) {
        it.next();
        total += it.fileInfo().size();
    }
    return total;
}

// Families whose weights are a single LVDM checkpoint, guessed from the file or folder name.
ModelFamily familyFromCheckpointName(const QString& lowerName) {
    if (lowerName.contains(QStringLiteral("dynamicrafter"))) {
        return ModelFamily::DynamiCrafter;
    }
    if (lowerName.contains(QStringLiteral("videocrafter")) || lowerName.contains(QStringLiteral("vc2")) ||
        lowerName.contains(QStringLiteral("vc1"))) {
        if (lowerName.contains(QStringLiteral("i2v"))) {
            return ModelFamily::VideoCrafterI2V;
        }
        return ModelFamily::VideoCrafter;
    }
    return ModelFamily::Unknown;
}

int tasksOf(ModelFamily family) {
    switch (family) {
        case ModelFamily::Sana:
        case ModelFamily::SanaSprint:
            return kTaskTextToImage;
        case ModelFamily::VideoCrafter:
            return kTaskTextToVideo;
        case ModelFamily::VideoCrafterI2V:
        case ModelFamily::DynamiCrafter:
            return kTaskImageToVideo;
        case ModelFamily::Unknown:
            break;
    }
    return 0;
}

void setNativeSize(LocalModel& m, const QString& lowerName) {
    switch (m.family) {
        case ModelFamily::Sana:
        case ModelFamily::SanaSprint: {
            int side = 1024;
            if (lowerName.contains(QStringLiteral("4096")) || lowerName.contains(QStringLiteral("4kpx"))) {
                side = 4096;
            } else if (lowerName.contains(QStringLiteral("2048")) || lowerName.contains(QStringLiteral("2kpx"))) {
                side = 2048;
            } else if (lowerName.contains(QStringLiteral("512px"))) {
                side = 512;
            }
            m.nativeWidth = m.nativeHeight = side;
            break;
        }
        case ModelFamily::DynamiCrafter:
            if (lowerName.contains(QStringLiteral("1024"))) {
                m.nativeWidth = 1024;
                m.nativeHeight = 576;
            } else if (lowerName.contains(QStringLiteral("256"))) {
                m.nativeWidth = m.nativeHeight = 256;
            } else {
                m.nativeWidth = 512;
                m.nativeHeight = 320;
            }
            break;
        case ModelFamily::VideoCrafter:
        case ModelFamily::VideoCrafterI2V:
            m.nativeWidth = 512;
            m.nativeHeight = 320;
            break;
        case ModelFamily::Unknown:
            break;
    }
}

// "models--Efficient-Large-Model--Sana_1600M_1024px_diffusers" → "Efficient-Large-Model/Sana_1600M_1024px_diffusers"
QString repoIdFromCacheFolder(const QString& folder) {
    QString rest = folder.mid(QStringLiteral("models--").size());
    return rest.replace(QStringLiteral("--"), QStringLiteral("/"));
}

QString displayName(const QString& path) {
    QFileInfo info(path);
    return info.isDir() ? info.fileName() : info.completeBaseName();
}

}  // namespace

Task LocalModel::defaultTask() const {
    for (Task t : {Task::TextToImage, Task::TextToVideo, Task::ImageToVideo}) {
        if (supports(t)) {
            return t;
        }
    }
    return Task::None;
}

LocalModel identifyModel(const QString& path, QString* why) {
    LocalModel m;
    QFileInfo info(path);
    m.path = info.absoluteFilePath();
    m.name = displayName(path);
    auto fail = [&](const QString& reason) {
        if (why) {
            *why = reason;
        }
        m.family = ModelFamily::Unknown;
        m.tasks = 0;
        return m;
    };
    if (!info.exists()) {
        return fail(QCoreApplication::translate("appcore", "%1 does not exist.").arg(path));
    }
    if (info.isDir()) {
        QDir dir(path);
        if (dir.exists(QStringLiteral("model_index.json"))) {
            QFile f(dir.filePath(QStringLiteral("model_index.json")));
            if (!f.open(QIODevice::ReadOnly)) {
                return fail(QCoreApplication::translate("appcore", "Cannot read %1.").arg(f.fileName()));
            }
            const QJsonObject index = QJsonDocument::fromJson(f.readAll()).object();
            const QString cls = index.value(QStringLiteral("_class_name")).toString();
            if (cls == QLatin1String("SanaSprintPipeline")) {
                m.family = ModelFamily::SanaSprint;
            } else if (cls.startsWith(QLatin1String("Sana")) && cls.endsWith(QLatin1String("Pipeline"))) {
                m.family = ModelFamily::Sana;
            } else {
                return fail(QCoreApplication::translate("appcore",
                                                        "%1 is a diffusers model of type “%2”, which Kinora "
                                                        "cannot run. Kinora runs Sana and Sana-Sprint.")
                                .arg(path, cls.isEmpty() ? QStringLiteral("?") : cls));
            }
        } else {
            // A folder holding one LVDM checkpoint (the layout of VideoCrafter/DynamiCrafter hub repos).
            QStringList checkpoints;
            for (const QFileInfo& f : dir.entryInfoList(QDir::Files)) {
                if (kCheckpointSuffixes.contains(f.suffix().toLower())) {
                    checkpoints << f.absoluteFilePath();
                }
            }
            const ModelFamily family = familyFromCheckpointName(info.fileName().toLower());
            if (checkpoints.size() != 1 || family == ModelFamily::Unknown) {
                return fail(
                    QCoreApplication::translate("appcore",
                                                "Kinora does not recognise %1: a model is a diffusers folder (with "
                                                "model_index.json) or a VideoCrafter/DynamiCrafter checkpoint.")
                        .arg(path));
            }
            m.family = family;
            m.path = checkpoints.first();
            for (const QFileInfo& f :
                 dir.entryInfoList({QStringLiteral("*.yaml"), QStringLiteral("*.yml")}, QDir::Files)) {
                m.configPath = f.absoluteFilePath();
                break;
            }
        }
        m.name = info.fileName();
    } else {
        if (!kCheckpointSuffixes.contains(info.suffix().toLower())) {
            return fail(
                QCoreApplication::translate("appcore", "%1 is not a model file (expected .ckpt or .safetensors).")
                    .arg(path));
        }
        // model.ckpt is named by its folder.
        const QString lower = (info.dir().dirName() + QLatin1Char('/') + info.fileName()).toLower();
        m.family = familyFromCheckpointName(lower);
        if (m.family == ModelFamily::Unknown) {
            return fail(QCoreApplication::translate("appcore",
                                                    "Kinora cannot tell which model %1 is. Put it in a folder named "
                                                    "after the model (e.g. VideoCrafter2 or DynamiCrafter_512).")
                            .arg(path));
        }
        if (info.completeBaseName() == QLatin1String("model")) {
            m.name = info.dir().dirName();
        }
    }
    m.tasks = tasksOf(m.family);
    setNativeSize(m, (m.name + QLatin1Char(' ') + m.path).toLower());
    m.sizeBytes = pathSize(info.absoluteFilePath());
    return m;
}

QList<LocalModel> scanModels(const QString& modelsDir, const QString& hubCacheDir, const QStringList& extraPaths) {
    QList<LocalModel> out;
    QSet<QString> seen;
    auto add = [&](const QString& path, ModelSource source, const QString& name) {
        LocalModel m = identifyModel(path);
        if (m.family == ModelFamily::Unknown) {
            return;
        }
        const QString key = QFileInfo(m.path).canonicalFilePath();
        if (seen.contains(key)) {
            return;
        }
        seen.insert(key);
        m.source = source;
        if (!name.isEmpty()) {
            m.name = name;
        }
        out << m;
    };
    if (!modelsDir.isEmpty()) {
        QDir dir(modelsDir);
        for (const QFileInfo& f : dir.entryInfoList(QDir::Dirs | QDir::Files | QDir::NoDotAndDotDot, QDir::Name)) {
            add(f.absoluteFilePath(), ModelSource::ModelsFolder, {});
        }
    }
    for (const QString& p : extraPaths) {
        add(p, ModelSource::Added, {});
    }
    if (!hubCacheDir.isEmpty()) {
        QDir hub(hubCacheDir);
        for (const QFileInfo& repo : hub.entryInfoList({QStringLiteral("models--*")}, QDir::Dirs)) {
            QDir repoDir(repo.absoluteFilePath());
            // refs/main names the snapshot to use; else the newest snapshot.
            QString snapshot;
            QFile ref(repoDir.filePath(QStringLiteral("refs/main")));
            if (ref.open(QIODevice::ReadOnly)) {
                const QString commit = QString::fromUtf8(ref.readAll()).trimmed();
                if (repoDir.exists(QStringLiteral("snapshots/") + commit)) {
                    snapshot = repoDir.filePath(QStringLiteral("snapshots/") + commit);
                }
            }
            if (snapshot.isEmpty()) {
                const QFileInfoList snaps = QDir(repoDir.filePath(QStringLiteral("snapshots")))
                                                .entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Time);
                if (snaps.isEmpty()) {
                    continue;
                }
                snapshot = snaps.first().absoluteFilePath();
            }
            const QString repoId = repoIdFromCacheFolder(repo.fileName());
            const QString repoName = repoId.section(QLatin1Char('/'), -1);
            if (QFileInfo::exists(snapshot + QStringLiteral("/model_index.json"))) {
                add(snapshot, ModelSource::HubCache, repoName);
            } else if (QFileInfo::exists(snapshot + QStringLiteral("/model.ckpt"))) {
                // The checkpoint is named after the repo, which the snapshot folder (a commit hash) is not.
                LocalModel m;
                m.family = familyFromCheckpointName(repoId.toLower());
                if (m.family == ModelFamily::Unknown) {
                    continue;
                }
                m.path = snapshot + QStringLiteral("/model.ckpt");
                const QString key = QFileInfo(m.path).canonicalFilePath();
                if (seen.contains(key)) {
                    continue;
                }
                seen.insert(key);
                m.name = repoName;
                m.source = ModelSource::HubCache;
                m.tasks = tasksOf(m.family);
                setNativeSize(m, repoId.toLower());
                m.sizeBytes = QFileInfo(key).size();
                out << m;
            }
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const LocalModel& a, const LocalModel& b) {
        return a.name.compare(b.name, Qt::CaseInsensitive) < 0;
    });
    return out;
}

QString familyLabel(ModelFamily family) {
    switch (family) {
        case ModelFamily::Sana:
            return QStringLiteral("Sana");
        case ModelFamily::SanaSprint:
            return QStringLiteral("Sana-Sprint");
        case ModelFamily::VideoCrafter:
            return QStringLiteral("VideoCrafter2");
        case ModelFamily::VideoCrafterI2V:
            return QStringLiteral("VideoCrafter i2v");
        case ModelFamily::DynamiCrafter:
            return QStringLiteral("DynamiCrafter");
        case ModelFamily::Unknown:
            break;
    }
    return QCoreApplication::translate("appcore", "Unknown");
}

ParameterSpec parameterSpec(const LocalModel& model, Task task) {
    ParameterSpec s;
    const int nativeW = model.nativeWidth > 0 ? model.nativeWidth : 1024;
    const int nativeH = model.nativeHeight > 0 ? model.nativeHeight : 1024;
    switch (model.family) {
        case ModelFamily::Sana:
        case ModelFamily::SanaSprint:
        case ModelFamily::Unknown: {
            // Sana: DPM-Solver++ flow, 20 steps, CFG 4.5, flow_shift 3 (6 for 4K); sizes are multiples of 32 (DC-AE
            // f32).
            const bool sprint = model.family == ModelFamily::SanaSprint;
            s.steps = sprint ? IntSpec{1, 20, 1, 2} : IntSpec{1, 100, 1, 20};
            s.guidance = sprint ? RealSpec{1.0, 10.0, 0.1, 4.5, 1} : RealSpec{1.0, 20.0, 0.1, 4.5, 1};
            s.width = IntSpec{256, 4096, 32, nativeW};
            s.height = IntSpec{256, 4096, 32, nativeH};
            if (!sprint) {
                s.hasFlowShift = true;
                s.flowShift = RealSpec{0.5, 12.0, 0.5, nativeW >= 4096 ? 6.0 : 3.0, 1};
            }
            break;
        }
        case ModelFamily::VideoCrafter:
        case ModelFamily::VideoCrafterI2V:
        case ModelFamily::DynamiCrafter: {
            // LVDM DDIM: 50 steps, eta 1; VideoCrafter2 cfg 12 with fps conditioning 28;
            // DynamiCrafter cfg 7.5 with frame stride 3 / 24 / 10 for 256 / 512 / 1024.
            const bool dc = model.family == ModelFamily::DynamiCrafter;
            s.steps = IntSpec{1, 200, 1, 50};
            s.guidance = dc ? RealSpec{1.0, 20.0, 0.1, 7.5, 1} : RealSpec{1.0, 30.0, 0.5, 12.0, 1};
            s.width = IntSpec{256, 1024, 64, nativeW};
            s.height = IntSpec{256, 1024, 64, nativeH};
            s.hasFrames = true;
            s.frames = IntSpec{4, 32, 1, 16};
            s.hasEta = true;
            s.eta = RealSpec{0.0, 1.0, 0.05, 1.0, 2};
            if (dc) {
                s.hasFrameStride = true;
                if (nativeW >= 1024) {
                    s.frameStride = IntSpec{5, 15, 1, 10};
                } else if (nativeW <= 256) {
                    s.frameStride = IntSpec{1, 6, 1, 3};
                } else {
                    s.frameStride = IntSpec{15, 30, 1, 24};
                }
                s.hasFps = true;
                s.fps = RealSpec{1.0, 30.0, 1.0, 8.0, 0};
            } else {
                s.hasFps = true;
                s.fps = RealSpec{1.0, 60.0, 1.0, model.family == ModelFamily::VideoCrafterI2V ? 8.0 : 28.0, 0};
            }
            break;
        }
    }
    (void)task;
    return s;
}

}  // namespace appcore
