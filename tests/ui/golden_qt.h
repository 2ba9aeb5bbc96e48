// Golden cases read with Qt only (the UI tests have no torch): a case's folder, its INDEX.json metadata,
// and a float32 tensor of its io.safetensors turned into an 8-bit picture the way the engine rounds.
// The safetensors reading here is our own few lines (header length, JSON header, little-endian floats),
// independent of the engine's reader.
#pragma once

#include <QDir>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QtEndian>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

namespace uitest {

/// $KINORA_GOLDEN_DIR/<name> ("" when the golden folder is unset).
inline QString goldenCaseDir(const QString& name) {
    const QString root = qEnvironmentVariable("KINORA_GOLDEN_DIR");
    return root.isEmpty() ? QString() : QDir(root).filePath(name);
}

/// The "meta" object of a case in INDEX.json; empty with *error set when it cannot be read.
inline QJsonObject goldenMeta(const QString& name, QString* error) {
    QFile f(QDir(qEnvironmentVariable("KINORA_GOLDEN_DIR")).filePath(QStringLiteral("INDEX.json")));
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot open ") + f.fileName();
        return {};
    }
    QJsonParseError parse{};
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &parse);
    if (doc.isNull()) {
        *error = QStringLiteral("INDEX.json: ") + parse.errorString();
        return {};
    }
    const QJsonObject c = doc.object().value(name).toObject();
    if (c.isEmpty()) {
        *error = QStringLiteral("INDEX.json has no case ") + name;
    }
    return c.value(QStringLiteral("meta")).toObject();
}

/// A float32 tensor of <case>/io.safetensors: its shape and values (row-major). False with *error set on any
/// problem.
inline bool goldenTensor(const QString& caseName, const QString& tensor, QList<int>* shape, QList<float>* values,
                         QString* error) {
    QFile f(QDir(goldenCaseDir(caseName)).filePath(QStringLiteral("io.safetensors")));
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot open ") + f.fileName();
        return false;
    }
    const QByteArray bytes = f.readAll();
    if (bytes.size() < 8) {
        *error = QStringLiteral("io.safetensors is too short");
        return false;
    }
    const quint64 headerLength = qFromLittleEndian<quint64>(bytes.constData());
    if (headerLength > static_cast<quint64>(bytes.size() - 8)) {
        *error = QStringLiteral("io.safetensors: bad header length");
        return false;
    }
    const QJsonObject header = QJsonDocument::fromJson(bytes.mid(8, static_cast<qsizetype>(headerLength))).object();
    const QJsonObject entry = header.value(tensor).toObject();
    const QJsonArray dims = entry.value(QStringLiteral("shape")).toArray();
    const QJsonArray offsets = entry.value(QStringLiteral("data_offsets")).toArray();
    if (entry.value(QStringLiteral("dtype")).toString() != QLatin1String("F32") || offsets.size() != 2) {
        *error = QStringLiteral("io.safetensors: %1 is not an F32 tensor").arg(tensor);
        return false;
    }
    qint64 count = 1;
    shape->clear();
    for (const QJsonValue& d : dims) {
        shape->append(d.toInt());
        count *= d.toInt();
    }
    const qint64 begin = 8 + static_cast<qint64>(headerLength) + offsets[0].toInteger();
    const qint64 end = 8 + static_cast<qint64>(headerLength) + offsets[1].toInteger();
    if (end - begin != count * 4 || end > bytes.size()) {
        *error = QStringLiteral("io.safetensors: %1's byte range does not match its shape").arg(tensor);
        return false;
    }
    values->resize(count);
    for (qint64 i = 0; i < count; ++i) {
        const quint32 bits = qFromLittleEndian<quint32>(bytes.constData() + begin + i * 4);
        std::memcpy(&(*values)[i], &bits, sizeof(float));
    }
    return true;
}

/// One picture of a [1, 3, H, W] tensor (frame < 0) or frame `frame` of a [1, 3, F, H, W] video as RGB888, each
/// value v mapped as round(clamp(v * scale + offset, 0, 1) * 255): scale 1, offset 0 for pictures in [0, 1];
/// 0.5, 0.5 for LVDM videos in [-1, 1]. Null with *error set on any problem.
inline QImage goldenPicture(const QString& caseName, const QString& tensor, int frame, double scale, double offset,
                            QString* error) {
    QList<int> shape;
    QList<float> values;
    if (!goldenTensor(caseName, tensor, &shape, &values, error)) {
        return {};
    }
    const bool video = frame >= 0;
    if (shape.size() != (video ? 5 : 4) || shape[0] != 1 || shape[1] != 3 || (video && frame >= shape[2])) {
        *error = QStringLiteral("io.safetensors: %1 is not a [1, 3, %2H, W] tensor (or has no frame %3)")
                     .arg(tensor, video ? QStringLiteral("F, ") : QString())
                     .arg(frame);
        return {};
    }
    const int frames = video ? shape[2] : 1;
    const int h = shape[shape.size() - 2];
    const int w = shape[shape.size() - 1];
    QImage img(w, h, QImage::Format_RGB888);
    for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < h; ++y) {
            uchar* row = img.scanLine(y);
            for (int x = 0; x < w; ++x) {
                const qint64 i = ((qint64(c) * frames + qMax(frame, 0)) * h + y) * w + x;
                const double v = static_cast<double>(values[i]) * scale + offset;
                row[x * 3 + c] = static_cast<uchar>(std::lround(std::fmin(1.0, std::fmax(0.0, v)) * 255.0));
            }
        }
    }
    return img;
}

/// A [1, 3, H, W] float32 tensor in [0, 1] from <case>/io.safetensors as an RGB888 picture, each value
/// rounded as round(clamp(v, 0, 1) * 255). Null with *error set on any problem.
inline QImage goldenImage(const QString& caseName, const QString& tensor, QString* error) {
    return goldenPicture(caseName, tensor, -1, 1.0, 0.0, error);
}

/// The largest difference of any channel of any pixel (RGB), or -1 when the sizes differ.
inline int maxChannelDiff(const QImage& a, const QImage& b) {
    if (a.size() != b.size()) {
        return -1;
    }
    const QImage x = a.convertToFormat(QImage::Format_RGB888);
    const QImage y = b.convertToFormat(QImage::Format_RGB888);
    int worst = 0;
    for (int row = 0; row < x.height(); ++row) {
        const uchar* p = x.constScanLine(row);
        const uchar* q = y.constScanLine(row);
        for (int i = 0; i < x.width() * 3; ++i) {
            worst = qMax(worst, qAbs(int(p[i]) - int(q[i])));
        }
    }
    return worst;
}

}  // namespace uitest

// Catch prints QStrings as text in failure messages.
namespace Catch {
template <>
struct StringMaker<QString> {
    static std::string convert(const QString& s) { return '"' + s.toStdString() + '"'; }
};
}  // namespace Catch
