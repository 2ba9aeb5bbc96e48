#include "core/hub_selection.h"

#include <QMap>
#include <QRegularExpression>
#include <QSet>

namespace appcore {

namespace {

// Matches pattern[pi..] against text[ti..]; '*' backtracks over at most text.size() positions per star.
bool matchFrom(const QString& p, int pi, const QString& t, int ti) {
    while (pi < p.size()) {
        const QChar c = p[pi];
        if (c == QLatin1Char('*')) {
            while (pi < p.size() && p[pi] == QLatin1Char('*')) {
                ++pi;
            }
            if (pi == p.size()) {
                return true;
            }
            for (int k = ti; k <= t.size(); ++k) {
                if (matchFrom(p, pi, t, k)) {
                    return true;
                }
            }
            return false;
        }
        if (ti >= t.size()) {
            return false;
        }
        if (c == QLatin1Char('?')) {
            ++pi;
            ++ti;
            continue;
        }
        if (c == QLatin1Char('[')) {
            int end = pi + 1;
            if (end < p.size() && (p[end] == QLatin1Char('!') || p[end] == QLatin1Char('^'))) {
                ++end;
            }
            if (end < p.size() && p[end] == QLatin1Char(']')) {
                ++end;
            }
            while (end < p.size() && p[end] != QLatin1Char(']')) {
                ++end;
            }
            if (end < p.size()) {
                int k = pi + 1;
                bool negate = false;
                if (p[k] == QLatin1Char('!') || p[k] == QLatin1Char('^')) {
                    negate = true;
                    ++k;
                }
                bool found = false;
                for (; k < end; ++k) {
                    if (k + 2 < end && p[k + 1] == QLatin1Char('-')) {
                        if (t[ti] >= p[k] && t[ti] <= p[k + 2]) {
                            found = true;
                        }
                        k += 2;
                    } else if (p[k] == t[ti]) {
                        found = true;
                    }
                }
                if (found == negate) {
                    return false;
                }
                pi = end + 1;
                ++ti;
                continue;
            }
            // No closing ']': a literal '['.
        }
        if (c != t[ti]) {
            return false;
        }
        ++pi;
        ++ti;
    }
    return ti == t.size();
}

QString folderOf(const QString& path) {
    const int slash = path.lastIndexOf(QLatin1Char('/'));
    return slash < 0 ? QString() : path.left(slash);
}

}  // namespace

bool globMatch(const QString& pattern, const QString& path) {
    return matchFrom(pattern, 0, path, 0);
}

bool isWeightFile(const QString& path) {
    static const QRegularExpression re(
        QStringLiteral("\\.(safetensors|bin|ckpt|pt|pth|msgpack|h5|onnx|gguf)$|\\.index(\\.[a-z0-9_]+)?\\.json$"));
    return re.match(path).hasMatch();
}

QString variantOf(const QString& path) {
    static const QRegularExpression re(
        QStringLiteral("\\.(fp16|bf16|fp32|fp8|int4|int8)(\\.[a-z0-9]+|-\\d{5}-of-\\d{5}\\.[a-z0-9]+)$|"
                       "\\.index\\.(fp16|bf16|fp32|fp8|int4|int8)\\.json$"));
    const QString name = path.mid(path.lastIndexOf(QLatin1Char('/')) + 1);
    const QRegularExpressionMatch m = re.match(name);
    if (!m.hasMatch()) {
        return {};
    }
    return m.captured(1).isEmpty() ? m.captured(3) : m.captured(1);
}

QList<RepoFile> selectFiles(const QList<RepoFile>& files, const FileSelection& selection) {
    QList<RepoFile> candidates;
    for (const RepoFile& f : files) {
        bool keep = selection.include.isEmpty();
        for (const QString& p : selection.include) {
            keep = keep || globMatch(p, f.path);
        }
        for (const QString& p : selection.exclude) {
            keep = keep && !globMatch(p, f.path);
        }
        if (keep) {
            candidates.append(f);
        }
    }
    // Per folder, the variant of the weights to take: the asked one, else the plain files, else the first
    // of fp16/bf16/fp32 that is there.
    QMap<QString, QSet<QString>> variantsByFolder;
    for (const RepoFile& f : candidates) {
        if (isWeightFile(f.path)) {
            variantsByFolder[folderOf(f.path)].insert(variantOf(f.path));
        }
    }
    QMap<QString, QString> chosen;
    for (auto it = variantsByFolder.cbegin(); it != variantsByFolder.cend(); ++it) {
        const QSet<QString>& present = it.value();
        QString pick;
        bool found = false;
        for (const QString& v :
             {selection.variant, QString(), QStringLiteral("fp16"), QStringLiteral("bf16"), QStringLiteral("fp32")}) {
            if (present.contains(v)) {
                pick = v;
                found = true;
                break;
            }
        }
        if (!found && !present.isEmpty()) {
            pick = *present.cbegin();
        }
        chosen.insert(it.key(), pick);
    }
    QList<RepoFile> out;
    for (const RepoFile& f : candidates) {
        if (!isWeightFile(f.path) || variantOf(f.path) == chosen.value(folderOf(f.path))) {
            out.append(f);
        }
    }
    return out;
}

}  // namespace appcore
