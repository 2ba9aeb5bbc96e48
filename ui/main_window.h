// The main window: model picker and task, prompt and negative prompt, parameters and seed on the left;
// the canvas (live preview, picture, or the clip player) in the middle; the job queue and the gallery
// docked on the right. With no model installed it shows an empty state that leads to the model manager.
//
// It talks to the engine only through the EngineBridge and keeps every piece of view state on the GUI
// thread. Settings it changes are saved (QSettings) and announced with settingsChanged(); the app layer
// decides what that means for the engine.
#pragma once

#include <QMainWindow>

#include "core/app_settings.h"
#include "core/local_models.h"
#include "ui/generation_types.h"

class QAction;
class QButtonGroup;
class QComboBox;
class QLabel;
class QMimeData;
class QProgressBar;
class QPushButton;
class QSplitter;
class QStackedWidget;
class QToolButton;
class QDockWidget;

namespace ui {

class ElidedLabel;
class EngineBridge;
class GalleryModel;
class GalleryView;
class ImageCanvas;
class InputImageWidget;
class JobQueueModel;
class JobQueueView;
class ModelListModel;
class NotificationBar;
class ParameterPanel;
class PromptEditor;
class ResultArchiver;
class SeedControl;
class VideoPlayer;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    /// bridge and gallery must outlive the window.
    MainWindow(EngineBridge* bridge, GalleryModel* gallery, const appcore::AppSettings& settings,
               QWidget* parent = nullptr);
    ~MainWindow() override;

    // ---- state, for the app, tests and the screenshot tour ----
    EngineBridge* bridge() const { return bridge_; }
    JobQueueModel* jobQueue() const { return jobs_; }
    GalleryModel* gallery() const { return gallery_; }
    ResultArchiver* archiver() const { return archiver_; }
    ModelListModel* modelList() const { return models_; }
    PromptEditor* promptEditor() const { return prompt_; }
    PromptEditor* negativePromptEditor() const { return negative_; }
    ParameterPanel* parameterPanel() const { return params_; }
    SeedControl* seedControl() const { return seed_; }
    QComboBox* modelPicker() const { return modelPicker_; }
    InputImageWidget* inputImageWidget() const { return inputImage_; }
    NotificationBar* notificationBar() const { return notification_; }
    ImageCanvas* canvas() const { return canvas_; }
    VideoPlayer* videoPlayer() const { return player_; }
    GalleryView* galleryView() const { return galleryView_; }
    JobQueueView* jobQueueView() const { return queueView_; }
    QPushButton* generateButton() const { return generateButton_; }
    appcore::AppSettings settings() const { return settings_; }

    /// Lists these models in the picker (keeps the selection when it is still there).
    void setModels(const QList<appcore::LocalModel>& models);
    /// Scans the models folder, the added models and the hub cache again.
    void rescanModels();
    /// Picks a model by path or name; false if it is not listed.
    bool selectModel(const QString& pathOrName);
    const appcore::LocalModel* currentModel() const;
    appcore::Task currentTask() const { return task_; }
    void setTask(appcore::Task task);

    /// What Generate would submit now (the seed as shown, not advanced).
    GenerationParams currentParams() const;
    /// Puts parameters back into the controls (reuse), selecting their model when installed.
    void applyParams(const GenerationParams& params);

    /// A dropped or pasted image (or file): sets the image-to-video input, or says why not. True when set.
    bool acceptMedia(const QMimeData* mime);
    bool setInputImageFromFile(const QString& path);
    void setInputImage(const QImage& image, const QString& name);
    void clearInputImage();

    /// Shows a gallery result in the canvas / player.
    void showGalleryItem(const QString& id);
    QString viewedItemId() const { return viewedItemId_; }

signals:
    void modelManagerRequested();
    /// The user changed the settings (already saved).
    void settingsChanged(const appcore::AppSettings& settings);

public slots:
    void openModelManager();
    /// Submits the current parameters; returns the job id, or 0 (with a message shown) when it cannot.
    ui::JobId generate();
    /// Cancels the running job (or the last queued one).
    void cancelCurrent();
    void cancelAll();
    void openSettings();
    void applySettings(const appcore::AppSettings& settings);
    void addModel();
    /// Adds a model folder or checkpoint from elsewhere (what Add Model does after its file dialog) and
    /// selects it; says in the notification bar why not when it is not a model Kinora can run.
    bool addModelPath(const QString& path);
    void pasteImage();
    void exportItem(const QString& id);
    void reuseParameters(const QString& id);
    void reuseSeed(const QString& id);
    void deleteItem(const QString& id);
    void revealItem(const QString& id);
    void showShortcuts();

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void closeEvent(QCloseEvent* event) override;

private:
    void buildActions();
    void buildMenus();
    QWidget* buildEmptyState();
    QWidget* buildLeftPanel();
    QWidget* buildCenter();
    void buildDocks();
    void connectBridge();
    void restoreUiState();
    void saveUiState() const;
    void updatePages();
    void onModelChanged();
    void updateTaskButtons();
    void updateNegativePrompt();
    void updateSummary();
    void updateViewedInfo();
    void showResult(const GenerationResult& result);
    void showJobPreview(JobId job);
    void onJobFailed(JobId job, const QString& message, int code);
    void offerI2VFor(const QString& name);

    EngineBridge* bridge_ = nullptr;
    GalleryModel* gallery_ = nullptr;
    appcore::AppSettings settings_;
    JobQueueModel* jobs_ = nullptr;
    ModelListModel* models_ = nullptr;
    ResultArchiver* archiver_ = nullptr;
    appcore::Task task_ = appcore::Task::TextToImage;

    QStackedWidget* pages_ = nullptr;
    QSplitter* splitter_ = nullptr;
    QComboBox* modelPicker_ = nullptr;
    QLabel* modelInfo_ = nullptr;
    QButtonGroup* taskGroup_ = nullptr;
    InputImageWidget* inputImage_ = nullptr;
    PromptEditor* prompt_ = nullptr;
    PromptEditor* negative_ = nullptr;
    QLabel* negativeLabel_ = nullptr;
    QToolButton* historyButton_ = nullptr;
    ParameterPanel* params_ = nullptr;
    SeedControl* seed_ = nullptr;
    QPushButton* generateButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    NotificationBar* notification_ = nullptr;
    QStackedWidget* viewStack_ = nullptr;
    ImageCanvas* canvas_ = nullptr;
    VideoPlayer* player_ = nullptr;
    QWidget* infoStrip_ = nullptr;
    ElidedLabel* infoPrompt_ = nullptr;
    ElidedLabel* infoMeta_ = nullptr;
    QDockWidget* queueDock_ = nullptr;
    QDockWidget* galleryDock_ = nullptr;
    JobQueueView* queueView_ = nullptr;
    GalleryView* galleryView_ = nullptr;
    QLabel* statusDevice_ = nullptr;
    QLabel* statusJobs_ = nullptr;
    QProgressBar* statusProgress_ = nullptr;

    QAction* generateAction_ = nullptr;
    QAction* cancelAction_ = nullptr;
    QAction* cancelAllAction_ = nullptr;
    QAction* pasteImageAction_ = nullptr;
    QAction* exportAction_ = nullptr;
    QAction* reuseAction_ = nullptr;
    QAction* settingsAction_ = nullptr;
    QAction* managerAction_ = nullptr;
    QAction* addModelAction_ = nullptr;
    QAction* rescanAction_ = nullptr;
    QAction* openModelsFolderAction_ = nullptr;
    QAction* quitAction_ = nullptr;

    bool followLive_ = true;  // the canvas follows the running job
    JobId shownJob_ = 0;      // job whose preview/result the canvas shows
    QString viewedItemId_;    // gallery item the canvas shows
    QString lastModelPath_;
};

}  // namespace ui
