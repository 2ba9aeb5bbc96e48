// Which files of a hub repo a model needs: include/exclude glob patterns (fnmatch style, '*' also
// matches '/', as huggingface_hub's allow_patterns) and a diffusers weight variant ("fp16", "bf16"):
// in each folder the variant's weight files are taken when they exist, else the plain ones.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

#include "core/hub_cache.h"

namespace appcore {

struct FileSelection {
    QStringList include;  // empty: every file
    QStringList exclude;
    QString variant;  // empty: the plain weight files
};

/// fnmatch-style match of a whole path: '*' any run of characters (including '/'), '?' one character,
/// "[abc]" / "[!abc]" a character class.
bool globMatch(const QString& pattern, const QString& path);
/// True for weight files and their shard indexes (*.safetensors, *.bin, *.ckpt, *.pt(h), *.index*.json, ...).
bool isWeightFile(const QString& path);
/// The diffusers variant a weight file name carries ("fp16" for "x.fp16.safetensors",
/// "model.fp16-00001-of-00002.safetensors", "x.safetensors.index.fp16.json"), or "".
QString variantOf(const QString& path);
/// The files of `files` that `selection` keeps, in listing order.
QList<RepoFile> selectFiles(const QList<RepoFile>& files, const FileSelection& selection);

}  // namespace appcore
