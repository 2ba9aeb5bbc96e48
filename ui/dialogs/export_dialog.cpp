#include "ui/dialogs/export_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/engine_bridge.h"
#include "ui/file_dialogs.h"
#include "ui/icons.h"

namespace ui {
namespace {

const QString kPurpose = QStringLiteral("export");

QString extension(ExportDialog::Format f) {
    switch (f) {
        case ExportDialog::Format::Png:
            return QStringLiteral(".png");
        case ExportDialog::Format::PngFrames:
            return {};
        case ExportDialog::Format::Mp4:
            return QStringLiteral(".mp4");
        case ExportDialog::Format::WebM:
            return QStringLiteral(".webm");
        case ExportDialog::Format::Gif:
            return QStringLiteral(".gif");
    }
    return {};
}

VideoFormat videoFormat(ExportDialog::Format f) {
    switch (f) {
        case ExportDialog::Format::WebM:
            return VideoFormat::WebM;
        case ExportDialog::Format::Gif:
            return VideoFormat::Gif;
        default:
            return VideoFormat::Mp4;
    }
}

}  // namespace

bool ExportDialog::formatAvailable(Format format) {
    switch (format) {
        case Format::Png:
        case Format::PngFrames:
            return true;
        case Format::Mp4:
        case Format::WebM:
        case Format::Gif:
            return videoExportAvailable(videoFormat(format));
    }
    return false;
}

QString ExportDialog::suggestedName(const appcore::GalleryItem& item, Format format) {
    QString base = QStringLiteral("Kinora_%1_seed%2").arg(item.id.section(QLatin1Char('-'), 0, 1)).arg(item.seed);
    if (format == Format::PngFrames) {
        return base + QStringLiteral("_frames");
    }
    return base + extension(format);
}

bool ExportDialog::exportItem(const appcore::GalleryItem& item, Format format, const QString& target,
                              bool embedParameters, QString* error) {
    auto fail = [error](const QString& message) {
        if (error) {
            *error = message;
        }
        return false;
    };
    if (target.isEmpty()) {
        return fail(tr("Choose where to save."));
    }
    const appcore::ParameterPairs params = embedParameters ? item.parameters : appcore::ParameterPairs{};
    auto loadFrame = [&](const QString& path, QImage* out) {
        *out = QImage(path);
        return !out->isNull();
    };
    switch (format) {
        case Format::Png: {
            QImage img;
            if (!loadFrame(item.filePath, &img)) {
                return fail(tr("The result file %1 is missing or unreadable.").arg(item.filePath));
            }
            return writePngFile(target, img, params, error);
        }
        case Format::PngFrames: {
            if (!QDir().mkpath(target)) {
                return fail(tr("Cannot create the folder %1.").arg(target));
            }
            const QStringList frames = item.framePaths.isEmpty() ? QStringList{item.filePath} : item.framePaths;
            for (int i = 0; i < frames.size(); ++i) {
                QImage img;
                if (!loadFrame(frames[i], &img)) {
                    return fail(tr("Frame %1 (%2) is missing or unreadable.").arg(i + 1).arg(frames[i]));
                }
                const QString out =
                    QDir(target).filePath(QStringLiteral("frame_%1.png").arg(i + 1, 4, 10, QLatin1Char('0')));
                if (!writePngFile(out, img, params, error)) {
                    return false;
                }
            }
            return true;
        }
        case Format::Mp4:
        case Format::WebM:
        case Format::Gif: {
            if (item.kind != appcore::GalleryItem::Kind::Video || item.framePaths.isEmpty()) {
                return fail(tr("This result is a picture, not a clip: export it as PNG."));
            }
            QList<QImage> frames;
            for (const QString& f : item.framePaths) {
                QImage img;
                if (!loadFrame(f, &img)) {
                    return fail(tr("Frame %1 is missing or unreadable.").arg(f));
                }
                frames << img;
            }
            return writeVideoFile(target, videoFormat(format), frames, item.fps > 0 ? item.fps : 8.0, params, error);
        }
    }
    return fail(tr("Unknown export format."));
}

ExportDialog::ExportDialog(const appcore::GalleryItem& item, QWidget* parent) : QDialog(parent), item_(item) {
    setWindowTitle(item.kind == appcore::GalleryItem::Kind::Video ? tr("Export Clip") : tr("Export Picture"));
    setObjectName(QStringLiteral("exportDialog"));
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    format_ = new QComboBox(this);
    format_->setObjectName(QStringLiteral("exportFormat"));
    auto* model = new QStandardItemModel(format_);
    auto addFormat = [&](Format f, const QString& label) {
        const bool available = formatAvailable(f);
        auto* it = new QStandardItem(available ? label : tr("%1 — not available in this build").arg(label));
        it->setData(static_cast<int>(f), Qt::UserRole);
        if (!available) {
            it->setFlags(it->flags() & ~Qt::ItemIsEnabled);
        }
        model->appendRow(it);
    };
    if (item.kind == appcore::GalleryItem::Kind::Video) {
        addFormat(Format::Mp4, tr("MP4 video (H.264)"));
        addFormat(Format::WebM, tr("WebM video (VP9)"));
        addFormat(Format::Gif, tr("GIF animation"));
        addFormat(Format::PngFrames, tr("PNG frames (a folder)"));
        addFormat(Format::Png, tr("PNG of the first frame"));
    } else {
        addFormat(Format::Png, tr("PNG picture"));
    }
    format_->setModel(model);
    form->addRow(tr("Format"), format_);

    auto* pathRow = new QWidget(this);
    auto* pl = new QHBoxLayout(pathRow);
    pl->setContentsMargins(0, 0, 0, 0);
    path_ = new QLineEdit(pathRow);
    path_->setObjectName(QStringLiteral("exportPath"));
    auto* browse = new QToolButton(pathRow);
    browse->setIcon(icon(QStringLiteral("folder")));
    browse->setToolTip(tr("Choose…"));
    pl->addWidget(path_, 1);
    pl->addWidget(browse);
    form->addRow(tr("Save to"), pathRow);
    embed_ = new QCheckBox(tr("Embed the parameters (prompt, seed, steps, …)"), this);
    embed_->setChecked(true);
    embed_->setToolTip(tr("Stored as PNG text chunks: an A1111-style “parameters” text and a JSON copy."));
    form->addRow(QString(), embed_);
    layout->addLayout(form);
    note_ = new QLabel(this);
    note_->setObjectName(QStringLiteral("noteLabel"));
    note_->setWordWrap(true);
    layout->addWidget(note_);
    layout->addStretch(1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    exportButton_ = buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    exportButton_->setObjectName(QStringLiteral("primaryButton"));
    exportButton_->setDefault(true);
    layout->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::accepted, this, &ExportDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(browse, &QToolButton::clicked, this, &ExportDialog::browse);
    connect(format_, &QComboBox::currentIndexChanged, this, &ExportDialog::formatChanged);

    // Start on the first format this build can write.
    for (int i = 0; i < model->rowCount(); ++i) {
        if (model->item(i)->isEnabled()) {
            format_->setCurrentIndex(i);
            break;
        }
    }
    formatChanged();
    setMinimumWidth(fontMetrics().horizontalAdvance(QLatin1Char('x')) * 64);
}

ExportDialog::Format ExportDialog::format() const {
    return static_cast<Format>(format_->currentData().toInt());
}
QString ExportDialog::targetPath() const {
    return path_->text().trimmed();
}
bool ExportDialog::embedParameters() const {
    return embed_->isChecked();
}

void ExportDialog::setFormat(Format format) {
    const int i = format_->findData(static_cast<int>(format));
    if (i >= 0) {
        format_->setCurrentIndex(i);
    }
}

void ExportDialog::setTargetPath(const QString& path) {
    path_->setText(path);
}

void ExportDialog::formatChanged() {
    const Format f = format();
    path_->setText(QDir(rememberedDir(kPurpose)).filePath(suggestedName(item_, f)));
    embed_->setEnabled(f == Format::Png || f == Format::PngFrames);
    QString note;
    if (item_.kind == appcore::GalleryItem::Kind::Video && !formatAvailable(Format::Mp4)) {
        note =
            tr("MP4 and WebM export need FFmpeg's encoders, which this build lacks. GIF and PNG frames work; "
               "the frames are kept losslessly in the gallery, so you can export them later.");
    }
    if (f == Format::PngFrames) {
        note = tr("Writes frame_0001.png, frame_0002.png, … into the folder (created if needed).") +
               (note.isEmpty() ? QString() : QStringLiteral("\n") + note);
    }
    note_->setText(note);
    note_->setVisible(!note.isEmpty());
}

void ExportDialog::browse() {
    const Format f = format();
    QString chosen;
    if (f == Format::PngFrames) {
        chosen = askDirectory(this, kPurpose, tr("Export Frames To"));
        if (!chosen.isEmpty()) {
            chosen = QDir(chosen).filePath(suggestedName(item_, f));
        }
    } else {
        const QString filter = f == Format::Png ? tr("PNG pictures (*.png)") : tr("Video (*%1)").arg(extension(f));
        chosen = askSaveFileName(this, kPurpose, tr("Export"), suggestedName(item_, f), filter);
    }
    if (!chosen.isEmpty()) {
        path_->setText(chosen);
    }
}

void ExportDialog::accept() {
    QString error;
    QString target = targetPath();
    const QString ext = extension(format());
    if (!ext.isEmpty() && !target.endsWith(ext, Qt::CaseInsensitive)) {
        target += ext;
    }
    if (format() != Format::PngFrames && QFileInfo::exists(target) &&
        QMessageBox::question(this, tr("Replace?"), tr("%1 exists. Replace it?").arg(target)) != QMessageBox::Yes) {
        return;
    }
    if (!exportItem(item_, format(), target, embedParameters(), &error)) {
        QMessageBox::warning(this, tr("Export failed"), error);
        return;
    }
    rememberDir(kPurpose, format() == Format::PngFrames ? QFileInfo(target).absolutePath() : target);
    QDialog::accept();
}

}  // namespace ui
