// The model manager: the models Kinora offers (resources/models.json) with their tasks, sizes, licences
// and state (available / downloading / paused / installed), downloads with progress, speed and time
// left, pause / resume / cancel, delete, "open folder", and the Hugging Face access token for gated
// models. Downloads go into the shared huggingface_hub cache through appcore::HubClient.
//
// Non-modal: keep one instance alive (hide it) so downloads go on while it is closed.
#pragma once

#include <QDialog>
#include <QHash>
#include <QPointer>

#include "core/hub_client.h"
#include "core/model_registry.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace ui {

class ModelManagerDialog : public QDialog {
    Q_OBJECT
public:
    /// `config` usually comes from appcore::HubConfig::fromEnvironment(); a token saved in the settings
    /// is used when the environment has none.
    ModelManagerDialog(appcore::ModelRegistry registry, appcore::HubConfig config, QWidget* parent = nullptr);
    ~ModelManagerDialog() override;

    /// Starts or resumes downloading a model and the models it requires.
    void startDownload(const QString& modelId);
    void pauseDownload(const QString& modelId);
    /// Stops the download and deletes its partial files.
    void cancelDownload(const QString& modelId);
    /// Deletes the model's files from the cache, without asking (the Delete button asks first).
    bool deleteModel(const QString& modelId);
    /// Re-reads the cache.
    void refreshStatus();

    QString statusText(const QString& modelId) const;
    int progressPercent(const QString& modelId) const;
    QString messageText() const;
    const appcore::ModelRegistry& registry() const { return registry_; }

signals:
    void downloadStarted(const QString& modelId);
    void downloadProgressed(const QString& modelId, qint64 bytesDone, qint64 bytesTotal);
    void downloadFinished(const QString& modelId);
    void downloadFailed(const QString& modelId, const QString& message);
    void modelDeleted(const QString& modelId);
    void installedModelsChanged();

private:
    struct Row {
        const appcore::ModelEntry* entry = nullptr;
        QTreeWidgetItem* item = nullptr;
        QProgressBar* bar = nullptr;
        QPointer<appcore::PullJob> job;
        appcore::ModelStatus status;
        qint64 exactSizeBytes = -1;
        QString failure;
    };

    void buildUi();
    void startJob(Row& row);
    void updateRow(Row& row);
    void updateButtons();
    void showMessage(const QString& text, bool error);
    void applyToken();
    Row* selectedRow();
    Row* rowFor(const QString& modelId);
    const Row* rowFor(const QString& modelId) const;

    appcore::ModelRegistry registry_;
    appcore::HubClient* client_ = nullptr;
    QList<Row> rows_;
    QTreeWidget* tree_ = nullptr;
    QLabel* cacheLabel_ = nullptr;
    QLabel* details_ = nullptr;
    QLabel* message_ = nullptr;
    QLineEdit* token_ = nullptr;
    QCheckBox* rememberToken_ = nullptr;
    QPushButton* downloadButton_ = nullptr;
    QPushButton* pauseButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QPushButton* deleteButton_ = nullptr;
    QPushButton* openButton_ = nullptr;
    QString environmentTokenSource_;
};

}  // namespace ui
