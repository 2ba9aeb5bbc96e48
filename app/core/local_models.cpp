#include "core/local_models.h"

#include <QCoreApplication>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
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

// The sample sizes the engine has aspect-ratio bins for (diffusers' ASPECT_RATIO_512/1024/2048/4096_BIN);
// Sana-Sprint uses its bins only at 1024 px (sample_size 32), as diffusers' SanaSprintPipeline does.
bool hasAspectRatioBins(ModelFamily family, int sampleSize) {
    if (family == ModelFamily::SanaSprint) {
        return sampleSize == 32;
    }
    return sampleSize == 16 || sampleSize == 32 || sampleSize == 64 || sampleSize == 128;
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
            if (m.sampleSize > 0 && m.vaeScaleFactor > 0) {
                m.nativeWidth = m.nativeHeight = m.sampleSize * m.vaeScaleFactor;
                m.resolutionBinning = hasAspectRatioBins(m.family, m.sampleSize);
                break;
            }
            // No configs to read (yet): the released models' DC-AE compresses 32×.
            int side = 1024;
            if (lowerName.contains(QStringLiteral("4096")) || lowerName.contains(QStringLiteral("4kpx"))) {
                side = 4096;
            } else if (lowerName.contains(QStringLiteral("2048")) || lowerName.contains(QStringLiteral("2kpx"))) {
                side = 2048;
            } else if (lowerName.contains(QStringLiteral("512px"))) {
                side = 512;
            }
            m.nativeWidth = m.nativeHeight = side;
            m.resolutionBinning = hasAspectRatioBins(m.family, side / 32);
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

// Python's json module writes NaN, Infinity and -Infinity (hub configs hold them, e.g. the scheduler's
// lambda_min_clipped); Qt's parser refuses them. Outside strings they become null here.
QByteArray withoutNonFiniteNumbers(const QByteArray& text) {
    QByteArray out;
    out.reserve(text.size());
    bool inString = false;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) {
                out += text[++i];
            } else if (c == '"') {
                inString = false;
            }
            continue;
        }
        if (c == '"') {
            inString = true;
            out += c;
            continue;
        }
        bool replaced = false;
        for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
            const QByteArray w(word);
            if (text.mid(i, w.size()) == w) {
                out += "null";
                i += w.size() - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            out += c;
        }
    }
    return out;
}

// An LVDM config in JSON (the original YAML's structure): the native size is model.params.image_size (latent
// [h, w]) times the autoencoder's 2^(len(ch_mult) - 1), the frame count the UNet's temporal_length. A config that
// does not say leaves the family's values.
void readLvdmJsonConfig(LocalModel& m) {
    QFile f(m.configPath);
    if (!f.open(QIODevice::ReadOnly)) {
        return;
    }
    const QJsonObject params = QJsonDocument::fromJson(withoutNonFiniteNumbers(f.readAll()))
                                   .object()
                                   .value(QStringLiteral("model"))
                                   .toObject()
                                   .value(QStringLiteral("params"))
                                   .toObject();
    const QJsonArray size = params.value(QStringLiteral("image_size")).toArray();
    const QJsonArray mult = params.value(QStringLiteral("first_stage_config"))
                                .toObject()
                                .value(QStringLiteral("params"))
                                .toObject()
                                .value(QStringLiteral("ddconfig"))
                                .toObject()
                                .value(QStringLiteral("ch_mult"))
                                .toArray();
    if (size.size() == 2 && size[0].toInt() > 0 && size[1].toInt() > 0 && !mult.isEmpty()) {
        const int factor = 1 << (mult.size() - 1);
        m.nativeHeight = size[0].toInt() * factor;
        m.nativeWidth = size[1].toInt() * factor;
    }
    const int frames = params.value(QStringLiteral("unet_config"))
                           .toObject()
                           .value(QStringLiteral("params"))
                           .toObject()
                           .value(QStringLiteral("temporal_length"))
                           .toInt();
    if (frames > 0) {
        m.nativeFrames = frames;
    }
}

// A JSON object from a file; empty when the file is missing or not JSON.
QJsonObject readJsonObject(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        return {};
    }
    return QJsonDocument::fromJson(withoutNonFiniteNumbers(f.readAll())).object();
}

// Reads what the UI needs from a Sana pipeline folder's component configs, and which components are missing.
void readSanaConfigs(LocalModel& m, const QDir& dir, const QJsonObject& index) {
    for (const char* part : {"tokenizer", "text_encoder", "transformer", "vae", "scheduler"}) {
        const QString name = QString::fromLatin1(part);
        if (index.value(name).isArray() && !dir.exists(name)) {
            m.missingParts << name;
        }
    }
    const QJsonObject transformer = readJsonObject(dir.filePath(QStringLiteral("transformer/config.json")));
    m.sampleSize = transformer.value(QStringLiteral("sample_size")).toInt(0);
    const QJsonObject vae = readJsonObject(dir.filePath(QStringLiteral("vae/config.json")));
    const QJsonArray blocks = vae.value(QStringLiteral("encoder_block_out_channels")).toArray();
    if (!blocks.isEmpty()) {
        m.vaeScaleFactor = 1 << (blocks.size() - 1);  // diffusers: 2^(len(encoder_block_out_channels) - 1)
    }
    const QJsonObject scheduler = readJsonObject(dir.filePath(QStringLiteral("scheduler/scheduler_config.json")));
    m.flowShift = scheduler.value(QStringLiteral("flow_shift")).toDouble(0.0);
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
            const QJsonObject index = QJsonDocument::fromJson(withoutNonFiniteNumbers(f.readAll())).object();
            const QString cls = index.value(QStringLiteral("_class_name")).toString();
            // Exactly the pipelines the engine runs: SanaPAGPipeline, SanaControlNetPipeline,
            // SanaSprintImg2ImgPipeline, SanaVideoPipeline ... are other models.
            if (cls == QLatin1String("SanaSprintPipeline")) {
                m.family = ModelFamily::SanaSprint;
            } else if (cls == QLatin1String("SanaPipeline")) {
                m.family = ModelFamily::Sana;
            } else if (cls.startsWith(QLatin1String("Sana"))) {
                return fail(QCoreApplication::translate("appcore",
                                                        "%1 is a %2, a Sana variant Kinora cannot run yet. Kinora "
                                                        "runs the text-to-image SanaPipeline and SanaSprintPipeline.")
                                .arg(path, cls));
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
            // Its config: the original YAML, or a config.json (the engine reads both); none means the built-in
            // preset that matches the checkpoint's tensors.
            for (const QFileInfo& f : dir.entryInfoList(
                     {QStringLiteral("*.yaml"), QStringLiteral("*.yml"), QStringLiteral("config.json")}, QDir::Files,
                     QDir::Name)) {
                if (m.configPath.isEmpty() || f.suffix() != QLatin1String("json")) {
                    m.configPath = f.absoluteFilePath();
                }
            }
        }
        if (m.family == ModelFamily::Sana || m.family == ModelFamily::SanaSprint) {
            QFile idx(dir.filePath(QStringLiteral("model_index.json")));
            idx.open(QIODevice::ReadOnly);
            readSanaConfigs(m, dir, QJsonDocument::fromJson(withoutNonFiniteNumbers(idx.readAll())).object());
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
    if (m.configPath.endsWith(QLatin1String(".json"))) {
        readLvdmJsonConfig(m);
    }
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
            // Sana (diffusers' SanaPipeline defaults): DPM-Solver++ flow, 20 steps, CFG 4.5, flow_shift from the
            // scheduler config (3, 6 for 4K). Sana-Sprint: SCM with 2 steps (the model is distilled for 1-4),
            // guidance 4.5 fed to its guidance embedder, no negative prompt. Sizes: the engine takes multiples
            // of 32 (diffusers' check_inputs) up to 4096; the smallest offered is 256 px, or the native size of
            // a smaller (test) model.
            const bool sprint = model.family == ModelFamily::SanaSprint;
            s.steps = sprint ? IntSpec{1, 4, 1, 2} : IntSpec{1, 100, 1, 20};
            s.guidance = sprint ? RealSpec{1.0, 10.0, 0.1, 4.5, 1} : RealSpec{1.0, 20.0, 0.1, 4.5, 1};
            auto roundUp = [](int v, int step) { return qMax(step, (v + step - 1) / step * step); };
            const int multiple = qMax(32, model.vaeScaleFactor);
            const int w = roundUp(nativeW, multiple);
            const int h = roundUp(nativeH, multiple);
            s.width = IntSpec{qMin(256, w), 4096, multiple, w};
            s.height = IntSpec{qMin(256, h), 4096, multiple, h};
            if (!sprint) {
                s.hasFlowShift = true;
                const double shift = model.flowShift > 0.0 ? model.flowShift : (nativeW >= 4096 ? 6.0 : 3.0);
                s.flowShift = RealSpec{0.5, 12.0, 0.5, shift, 1};
            }
            s.hasNegativePrompt = !sprint;
            s.hasResolutionBinning = model.resolutionBinning;
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
            // Multiples of 64 for the released models; a smaller (test) model's config allows its own size.
            const int multiple = nativeW % 64 == 0 && nativeH % 64 == 0 ? 64 : 16;
            s.width = IntSpec{qMin(256, nativeW), 1024, multiple, nativeW};
            s.height = IntSpec{qMin(256, nativeH), 1024, multiple, nativeH};
            s.hasFrames = true;
            const int frames = model.nativeFrames > 0 ? model.nativeFrames : 16;
            s.frames = IntSpec{qMin(4, frames), 32, 1, frames};
            s.hasEta = true;
            s.eta = RealSpec{0.0, 1.0, 0.05, 1.0, 2};
            s.hasNegativePrompt = true;
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
