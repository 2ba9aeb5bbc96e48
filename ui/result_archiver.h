// ResultArchiver: puts finished results into the gallery. The files (full-size PNG with the parameters
// embedded, or one PNG per video frame, plus a JPEG thumbnail) are written on a pool thread so the GUI
// never waits on PNG compression; the index entry is added back on the GUI thread.
#pragma once

#include <QObject>

#include "core/gallery_store.h"
#include "ui/generation_types.h"

namespace ui {

class GalleryModel;

class ResultArchiver : public QObject {
    Q_OBJECT
public:
    explicit ResultArchiver(GalleryModel* gallery, QObject* parent = nullptr);
    ~ResultArchiver() override;

    /// Starts saving; archived() or archiveFailed() follows.
    void archive(const GenerationResult& result, const GenerationParams& params);
    /// Results being written.
    int pendingCount() const { return pending_; }
    /// Runs the event loop until nothing is pending (tests, shutdown). True when done in time.
    bool waitForIdle(int timeoutMs);

    /// Writes the files of one result under dir with the given id and returns the gallery entry.
    /// Thread-safe (touches only its own files). False with *error on failure (nothing is left behind).
    static bool writeFiles(const QString& dir, const QString& id, const GenerationResult& result,
                           const GenerationParams& params, appcore::GalleryItem* item, QString* error);
    /// The engine's parameters, completed with the ones the user set that the engine did not report.
    static ParamList mergedParameters(const GenerationResult& result, const GenerationParams& params);

signals:
    void archived(const QString& itemId, ui::JobId job);
    void archiveFailed(ui::JobId job, const QString& message);

private:
    GalleryModel* gallery_ = nullptr;
    int pending_ = 0;
};

}  // namespace ui
