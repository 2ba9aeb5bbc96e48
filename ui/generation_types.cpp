#include "ui/generation_types.h"

#include <QCoreApplication>
#include <QList>

namespace ui {
namespace {

QString num(double v) {
    return QString::number(v, 'g', 6);
}

}  // namespace

ParamList GenerationParams::toParamList() const {
    ParamList p;
    p.append({QStringLiteral("prompt"), prompt});
    if (!negativePrompt.isEmpty()) {
        p.append({QStringLiteral("negative_prompt"), negativePrompt});
    }
    p.append({QStringLiteral("task"), appcore::taskId(task)});
    if (!modelName.isEmpty()) {
        p.append({QStringLiteral("model"), modelName});
    }
    if (steps > 0) {
        p.append({QStringLiteral("steps"), QString::number(steps)});
    }
    if (isSet(guidance)) {
        p.append({QStringLiteral("guidance_scale"), num(guidance)});
    }
    p.append({QStringLiteral("seed"), QString::number(seed)});
    if (width > 0 && height > 0) {
        p.append({QStringLiteral("size"), QStringLiteral("%1x%2").arg(width).arg(height)});
    }
    if (numFrames > 0) {
        p.append({QStringLiteral("num_frames"), QString::number(numFrames)});
    }
    if (isSet(fps)) {
        p.append({QStringLiteral("fps"), num(fps)});
    }
    if (frameStride > 0) {
        p.append({QStringLiteral("frame_stride"), QString::number(frameStride)});
    }
    if (isSet(eta)) {
        p.append({QStringLiteral("eta"), num(eta)});
    }
    if (isSet(flowShift)) {
        p.append({QStringLiteral("flow_shift"), num(flowShift)});
    }
    if (!resolutionBinning && task == appcore::Task::TextToImage) {
        p.append({QStringLiteral("resolution_binning"), QStringLiteral("off")});
    }
    if (!inputImageName.isEmpty()) {
        p.append({QStringLiteral("input_image"), inputImageName});
    }
    return p;
}

GenerationParams GenerationParams::fromParamList(const ParamList& params) {
    GenerationParams g;
    for (const auto& [key, value] : params) {
        bool ok = false;
        if (key == QLatin1String("prompt")) {
            g.prompt = value;
        } else if (key == QLatin1String("negative_prompt")) {
            g.negativePrompt = value;
        } else if (key == QLatin1String("task")) {
            g.task = appcore::taskFromId(value);
        } else if (key == QLatin1String("model")) {
            g.modelName = value;
        } else if (key == QLatin1String("steps")) {
            const int v = value.toInt(&ok);
            if (ok) g.steps = v;
        } else if (key == QLatin1String("guidance_scale")) {
            const double v = value.toDouble(&ok);
            if (ok) g.guidance = v;
        } else if (key == QLatin1String("seed")) {
            const quint64 v = value.toULongLong(&ok);
            if (ok) g.seed = v;
        } else if (key == QLatin1String("size")) {
            const QStringList wh = value.split(QLatin1Char('x'));
            if (wh.size() == 2) {
                g.width = wh[0].trimmed().toInt();
                g.height = wh[1].trimmed().toInt();
            }
        } else if (key == QLatin1String("width")) {
            g.width = value.toInt();
        } else if (key == QLatin1String("height")) {
            g.height = value.toInt();
        } else if (key == QLatin1String("num_frames")) {
            g.numFrames = value.toInt();
        } else if (key == QLatin1String("fps")) {
            const double v = value.toDouble(&ok);
            if (ok) g.fps = v;
        } else if (key == QLatin1String("frame_stride")) {
            g.frameStride = value.toInt();
        } else if (key == QLatin1String("eta")) {
            const double v = value.toDouble(&ok);
            if (ok) g.eta = v;
        } else if (key == QLatin1String("flow_shift")) {
            const double v = value.toDouble(&ok);
            if (ok) g.flowShift = v;
        } else if (key == QLatin1String("resolution_binning")) {
            g.resolutionBinning = value != QLatin1String("off");
        }
    }
    return g;
}

QString stageLabel(JobStage stage) {
    switch (stage) {
        case JobStage::LoadingModel:
            return QCoreApplication::translate("ui", "Loading model");
        case JobStage::EncodingPrompt:
            return QCoreApplication::translate("ui", "Encoding prompt");
        case JobStage::Denoising:
            return QCoreApplication::translate("ui", "Denoising");
        case JobStage::Decoding:
            return QCoreApplication::translate("ui", "Decoding");
        case JobStage::Finishing:
            return QCoreApplication::translate("ui", "Finishing");
        case JobStage::None:
            break;
    }
    return QCoreApplication::translate("ui", "Starting");
}

QString failureHint(FailureCode code, const GenerationParams& params) {
    auto tr = [](const char* s) { return QCoreApplication::translate("ui", s); };
    switch (code) {
        case FailureCode::OutOfMemory: {
            QString hint;
            if (params.width > 0 && params.height > 0) {
                const int w = qMax(256, (params.width / 2 + 31) / 32 * 32);
                const int h = qMax(256, (params.height / 2 + 31) / 32 * 32);
                hint = tr("Try a smaller size (e.g. %1×%2)").arg(w).arg(h);
            } else {
                hint = tr("Try a smaller size");
            }
            if (params.numFrames > 8) {
                hint += tr(" or fewer frames");
            }
            return hint + tr(", or set Memory mode to “Low memory” in Settings.");
        }
        case FailureCode::ModelNotFound:
            return tr(
                "The model's files are missing. Check the model folder, or download it again in the Model "
                "Manager.");
        case FailureCode::ModelLoadFailed:
            return tr("The model's files look incomplete or damaged. Download the model again.");
        case FailureCode::UnsupportedModel:
            return tr("Pick a model that can do this task (the badges in the model picker show what each can do).");
        case FailureCode::DeviceUnavailable:
            return tr("Choose the CPU device in Settings, or check the GPU driver.");
        case FailureCode::InvalidRequest:
            return tr("Check the highlighted parameters and try again.");
        case FailureCode::IoError:
            return tr("Check free disk space and write permissions.");
        case FailureCode::Internal:
            return tr("This looks like a bug in Kinora. The log file has the details; please report it.");
        case FailureCode::None:
            break;
    }
    return {};
}

void registerMetaTypes() {
    qRegisterMetaType<GenerationParams>();
    qRegisterMetaType<GenerationResult>();
    qRegisterMetaType<JobStage>();
    qRegisterMetaType<JobState>();
    qRegisterMetaType<FailureCode>();
    qRegisterMetaType<QList<QImage>>();
}

}  // namespace ui
