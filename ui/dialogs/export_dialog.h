// ExportDialog: saves a gallery result where the user wants it: PNG with the parameters embedded for
// pictures; for clips MP4 / WebM / GIF (through the engine's video writer, when the build has it) or the
// frames as numbered PNGs. The folder is remembered. exportItem() does the work without any dialog.
#pragma once

#include <QDialog>

#include "core/gallery_store.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;

namespace ui {

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    enum class Format { Png = 0, PngFrames, Mp4, WebM, Gif };

    explicit ExportDialog(const appcore::GalleryItem& item, QWidget* parent = nullptr);

    Format format() const;
    QString targetPath() const;
    bool embedParameters() const;
    void setFormat(Format format);
    void setTargetPath(const QString& path);

    /// True when this build can write the format.
    static bool formatAvailable(Format format);
    /// "Kinora_20250314-101502_seed42.png" (or a folder name for frames).
    static QString suggestedName(const appcore::GalleryItem& item, Format format);
    /// Writes the item. Png: one file (a clip's first frame); PngFrames: target is a folder that gets
    /// frame_0001.png...; video formats: one file. False with *error on failure.
    static bool exportItem(const appcore::GalleryItem& item, Format format, const QString& target, bool embedParameters,
                           QString* error);

public slots:
    void accept() override;

private:
    void browse();
    void formatChanged();

    appcore::GalleryItem item_;
    QComboBox* format_ = nullptr;
    QLineEdit* path_ = nullptr;
    QCheckBox* embed_ = nullptr;
    QLabel* note_ = nullptr;
    QPushButton* exportButton_ = nullptr;
};

}  // namespace ui
