#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QButtonGroup>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QDesktopServices>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPainter>
#include <QPainterPath>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QStyle>
#include <QStyledItemDelegate>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>
#include <QtMath>

#include "core/gallery_store.h"
#include "ui/dialogs/export_dialog.h"
#include "ui/dialogs/settings_dialog.h"
#include "ui/engine_bridge.h"
#include "ui/file_dialogs.h"
#include "ui/icons.h"
#include "ui/models/gallery_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/model_list_model.h"
#include "ui/result_archiver.h"
#include "ui/widgets/elided_label.h"
#include "ui/widgets/gallery_view.h"
#include "ui/widgets/image_canvas.h"
#include "ui/widgets/input_image_widget.h"
#include "ui/widgets/job_queue_view.h"
#include "ui/widgets/notification_bar.h"
#include "ui/widgets/parameter_panel.h"
#include "ui/widgets/prompt_editor.h"
#include "ui/widgets/seed_control.h"
#include "ui/widgets/video_player.h"

namespace ui {
namespace {

const QString kUiGroup = QStringLiteral("ui/");

// The picker's rows: model name, then badges of what it can do.
class ModelPickerDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;

    void paint(QPainter* p, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
        QStyleOptionViewItem opt = option;
        initStyleOption(&opt, index);
        const QStringList badges =
            index.data(ModelListModel::TaskBadgesRole).toString().split(QLatin1Char(' '), Qt::SkipEmptyParts);
        const QFontMetrics fm(opt.font);
        int badgesWidth = 0;
        for (const QString& b : badges) {
            badgesWidth += fm.horizontalAdvance(b) + 14;
        }
        opt.text = fm.elidedText(opt.text, Qt::ElideMiddle, opt.rect.width() - badgesWidth - 24);
        QStyledItemDelegate::paint(p, opt, index);
        p->save();
        p->setRenderHint(QPainter::Antialiasing);
        int x = opt.rect.right() - 6;
        for (auto it = badges.crbegin(); it != badges.crend(); ++it) {
            const int w = fm.horizontalAdvance(*it) + 10;
            const QRectF r(x - w, opt.rect.center().y() - fm.height() / 2.0, w, fm.height());
            QPainterPath path;
            path.addRoundedRect(r, 4, 4);
            const bool video = *it != QLatin1String("T2I");
            p->fillPath(path, video ? QColor(0x5a, 0x3f, 0x8f) : QColor(0x2c, 0x52, 0x8f));
            p->setPen(QColor(0xee, 0xf0, 0xf4));
            p->drawText(r, Qt::AlignCenter, *it);
            x -= w + 4;
        }
        p->restore();
    }

    QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override {
        QSize s = QStyledItemDelegate::sizeHint(option, index);
        s.setHeight(qMax(s.height(), option.fontMetrics.height() + 12));
        return s;
    }
};

QLabel* sectionLabel(const QString& text, QWidget* parent) {
    auto* l = new QLabel(text, parent);
    l->setObjectName(QStringLiteral("sectionLabel"));
    return l;
}

QString elide(const QString& s, int chars) {
    return s.size() > chars ? s.left(chars - 1) + QStringLiteral("…") : s;
}

}  // namespace

MainWindow::MainWindow(EngineBridge* bridge, GalleryModel* gallery, const appcore::AppSettings& settings,
                       QWidget* parent)
    : QMainWindow(parent), bridge_(bridge), gallery_(gallery), settings_(settings) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("Kinora"));
    setWindowIcon(icon(QStringLiteral("kinora")));
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowNestedDocks);

    jobs_ = new JobQueueModel(this);
    jobs_->connectTo(bridge_);
    models_ = new ModelListModel(this);
    archiver_ = new ResultArchiver(gallery_, this);

    buildActions();
    pages_ = new QStackedWidget(this);
    pages_->addWidget(buildEmptyState());
    splitter_ = new QSplitter(Qt::Horizontal, this);
    splitter_->setObjectName(QStringLiteral("mainSplitter"));
    splitter_->setChildrenCollapsible(false);
    splitter_->addWidget(buildLeftPanel());
    splitter_->addWidget(buildCenter());
    splitter_->setStretchFactor(0, 0);
    splitter_->setStretchFactor(1, 1);
    {
        const int em = fontMetrics().horizontalAdvance(QLatin1Char('M'));
        splitter_->setSizes({em * 33, em * 70});
    }
    pages_->addWidget(splitter_);
    setCentralWidget(pages_);
    buildDocks();
    buildMenus();

    statusDevice_ = new QLabel(this);
    statusDevice_->setObjectName(QStringLiteral("statusDevice"));
    statusJobs_ = new QLabel(this);
    statusProgress_ = new QProgressBar(this);
    statusProgress_->setRange(0, 1000);
    statusProgress_->setTextVisible(false);
    statusProgress_->setFixedWidth(fontMetrics().horizontalAdvance(QLatin1Char('x')) * 18);
    statusProgress_->setMaximumHeight(6);
    statusBar()->addWidget(statusDevice_);
    statusBar()->addPermanentWidget(statusJobs_);
    statusBar()->addPermanentWidget(statusProgress_);

    connectBridge();
    restoreUiState();
    rescanModels();
    updateSummary();

    const int em = fontMetrics().horizontalAdvance(QLatin1Char('M'));
    resize(qMax(1280, em * 90), qMax(800, em * 56));
    setMinimumSize(960, 600);
}

MainWindow::~MainWindow() = default;

// ---- construction ------------------------------------------------------------------------------------

void MainWindow::buildActions() {
    generateAction_ = new QAction(icon(QStringLiteral("generate")), tr("&Generate"), this);
    generateAction_->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    connect(generateAction_, &QAction::triggered, this, [this] { generate(); });
    cancelAction_ = new QAction(icon(QStringLiteral("stop")), tr("&Cancel"), this);
    cancelAction_->setShortcut(QKeySequence(Qt::Key_Escape));
    connect(cancelAction_, &QAction::triggered, this, &MainWindow::cancelCurrent);
    cancelAllAction_ = new QAction(tr("Cancel &All"), this);
    cancelAllAction_->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_Escape));
    connect(cancelAllAction_, &QAction::triggered, this, &MainWindow::cancelAll);
    pasteImageAction_ = new QAction(tr("&Paste Image as Input"), this);
    pasteImageAction_->setShortcuts({QKeySequence::Paste, QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_V)});
    connect(pasteImageAction_, &QAction::triggered, this, &MainWindow::pasteImage);
    exportAction_ = new QAction(icon(QStringLiteral("export")), tr("&Export…"), this);
    exportAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    connect(exportAction_, &QAction::triggered, this, [this] {
        const QString id = viewedItemId_.isEmpty() ? galleryView_->currentItemId() : viewedItemId_;
        exportItem(id);
    });
    reuseAction_ = new QAction(icon(QStringLiteral("reuse")), tr("&Reuse Parameters"), this);
    reuseAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    connect(reuseAction_, &QAction::triggered, this,
            [this] { reuseParameters(viewedItemId_.isEmpty() ? galleryView_->currentItemId() : viewedItemId_); });
    settingsAction_ = new QAction(icon(QStringLiteral("settings")), tr("&Settings…"), this);
    settingsAction_->setShortcuts({QKeySequence::Preferences, QKeySequence(Qt::CTRL | Qt::Key_Comma)});
    settingsAction_->setMenuRole(QAction::PreferencesRole);
    connect(settingsAction_, &QAction::triggered, this, &MainWindow::openSettings);
    managerAction_ = new QAction(icon(QStringLiteral("model")), tr("Model &Manager…"), this);
    managerAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_M));
    connect(managerAction_, &QAction::triggered, this, &MainWindow::openModelManager);
    addModelAction_ = new QAction(icon(QStringLiteral("add")), tr("&Add Model…"), this);
    addModelAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    connect(addModelAction_, &QAction::triggered, this, &MainWindow::addModel);
    rescanAction_ = new QAction(tr("&Rescan Models"), this);
    rescanAction_->setShortcut(QKeySequence(Qt::Key_F5));
    connect(rescanAction_, &QAction::triggered, this, &MainWindow::rescanModels);
    openModelsFolderAction_ = new QAction(icon(QStringLiteral("folder")), tr("Open Models &Folder"), this);
    connect(openModelsFolderAction_, &QAction::triggered, this, [this] {
        QDir().mkpath(settings_.modelsDir);
        QDesktopServices::openUrl(QUrl::fromLocalFile(settings_.modelsDir));
    });
    quitAction_ = new QAction(tr("&Quit"), this);
    quitAction_->setShortcut(QKeySequence::Quit);
    connect(quitAction_, &QAction::triggered, this, &QWidget::close);
    for (QAction* a : {generateAction_, cancelAction_, cancelAllAction_, pasteImageAction_, exportAction_, reuseAction_,
                       settingsAction_, managerAction_, addModelAction_, rescanAction_, quitAction_}) {
        addAction(a);  // shortcuts work while menus are closed and in every page
    }
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(addModelAction_);
    file->addAction(pasteImageAction_);
    QAction* openImage = file->addAction(icon(QStringLiteral("image")), tr("Open &Input Image…"));
    connect(openImage, &QAction::triggered, this, [this] {
        const QString path = askOpenFileName(this, QStringLiteral("input-image"), tr("Input Image"),
                                             tr("Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.exr)"));
        if (!path.isEmpty()) {
            setInputImageFromFile(path);
        }
    });
    file->addSeparator();
    file->addAction(exportAction_);
    file->addSeparator();
    file->addAction(settingsAction_);
    file->addSeparator();
    file->addAction(quitAction_);

    QMenu* gen = menuBar()->addMenu(tr("&Generate"));
    gen->addAction(generateAction_);
    gen->addAction(cancelAction_);
    gen->addAction(cancelAllAction_);
    gen->addSeparator();
    gen->addAction(reuseAction_);
    QAction* focusPrompt = gen->addAction(tr("Edit &Prompt"));
    focusPrompt->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    connect(focusPrompt, &QAction::triggered, this, [this] {
        prompt_->setFocus();
        prompt_->selectAll();
    });
    addAction(focusPrompt);

    QMenu* models = menuBar()->addMenu(tr("&Models"));
    models->addAction(managerAction_);
    models->addAction(addModelAction_);
    models->addAction(openModelsFolderAction_);
    models->addAction(rescanAction_);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(queueDock_->toggleViewAction());
    view->addAction(galleryDock_->toggleViewAction());
    QAction* search = view->addAction(icon(QStringLiteral("search")), tr("&Search Gallery"));
    search->setShortcut(QKeySequence::Find);
    connect(search, &QAction::triggered, this, [this] {
        galleryDock_->show();
        galleryView_->searchField()->setFocus();
        galleryView_->searchField()->selectAll();
    });
    addAction(search);
    QAction* fit = view->addAction(icon(QStringLiteral("fit")), tr("&Fit to Window"));
    fit->setCheckable(true);
    fit->setChecked(true);
    fit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    connect(fit, &QAction::toggled, this, [this](bool on) {
        canvas_->setFitToWindow(on);
        player_->canvas()->setFitToWindow(on);
    });
    addAction(fit);
    QAction* full = view->addAction(tr("F&ull Screen"));
    full->setShortcut(QKeySequence::FullScreen);
    full->setCheckable(true);
    connect(full, &QAction::toggled, this, [this](bool on) { on ? showFullScreen() : showNormal(); });
    addAction(full);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* keys = help->addAction(tr("&Keyboard Shortcuts"));
    keys->setShortcut(QKeySequence::HelpContents);
    connect(keys, &QAction::triggered, this, &MainWindow::showShortcuts);
    addAction(keys);
    help->addAction(tr("&About Kinora"), this, [this] {
        QMessageBox::about(this, tr("About Kinora"),
                           tr("<h3>Kinora %1</h3><p>Pictures with Sana and Sana-Sprint, clips with VideoCrafter2 "
                              "and DynamiCrafter — generated on your own machine.</p>")
                               .arg(QApplication::applicationVersion()));
    });
}

QWidget* MainWindow::buildEmptyState() {
    auto* page = new QWidget(this);
    page->setObjectName(QStringLiteral("emptyState"));
    auto* layout = new QVBoxLayout(page);
    layout->addStretch(2);
    auto* logo = new QLabel(page);
    logo->setPixmap(icon(QStringLiteral("kinora")).pixmap(72, 72));
    logo->setAlignment(Qt::AlignCenter);
    auto* title = new QLabel(tr("No model installed yet"), page);
    title->setObjectName(QStringLiteral("emptyStateTitle"));
    title->setAlignment(Qt::AlignCenter);
    auto* body = new QLabel(tr("Kinora generates images with Sana and videos with VideoCrafter, on your own "
                               "machine.\nDownload a model to start: Sana-Sprint 0.6B is the quickest first step."),
                            page);
    body->setObjectName(QStringLiteral("emptyStateBody"));
    body->setAlignment(Qt::AlignCenter);
    body->setWordWrap(true);
    auto* open = new QPushButton(icon(QStringLiteral("model")), tr("Open the Model Manager"), page);
    open->setObjectName(QStringLiteral("primaryButton"));
    open->setDefault(true);
    connect(open, &QPushButton::clicked, this, &MainWindow::openModelManager);
    auto* add = new QPushButton(icon(QStringLiteral("add")), tr("Add a Model Folder…"), page);
    connect(add, &QPushButton::clicked, this, &MainWindow::addModel);
    auto* folder = new QLabel(page);
    folder->setObjectName(QStringLiteral("emptyStateBody"));
    folder->setAlignment(Qt::AlignCenter);
    folder->setTextInteractionFlags(Qt::TextSelectableByMouse);
    folder->setText(tr("or put model folders in %1 and press F5").arg(settings_.modelsDir.toHtmlEscaped()));
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(open);
    buttons->addWidget(add);
    buttons->addStretch(1);
    layout->addWidget(logo);
    layout->addSpacing(12);
    layout->addWidget(title);
    layout->addSpacing(8);
    layout->addWidget(body);
    layout->addSpacing(20);
    layout->addLayout(buttons);
    layout->addSpacing(10);
    layout->addWidget(folder);
    layout->addStretch(3);
    return page;
}

QWidget* MainWindow::buildLeftPanel() {
    auto* panel = new QWidget(this);
    panel->setObjectName(QStringLiteral("generationPanel"));
    auto* outer = new QVBoxLayout(panel);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->setSpacing(0);

    auto* scroll = new QScrollArea(panel);
    scroll->setObjectName(QStringLiteral("generationScroll"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    auto* content = new QWidget(scroll);
    content->setObjectName(QStringLiteral("generationContent"));
    auto* layout = new QVBoxLayout(content);
    layout->setContentsMargins(14, 12, 14, 12);
    layout->setSpacing(6);

    // Model and task.
    layout->addWidget(sectionLabel(tr("Model"), content));
    auto* modelRow = new QHBoxLayout;
    modelRow->setSpacing(6);
    modelPicker_ = new QComboBox(content);
    modelPicker_->setObjectName(QStringLiteral("modelPicker"));
    modelPicker_->setModel(models_);
    modelPicker_->setItemDelegate(new ModelPickerDelegate(modelPicker_));
    modelPicker_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    modelPicker_->setMinimumContentsLength(12);
    modelPicker_->setToolTip(
        tr("Installed models and what each can do: T2I text to image, T2V text to video, "
           "I2V image to video"));
    auto* modelMenuButton = new QToolButton(content);
    modelMenuButton->setIcon(icon(QStringLiteral("add")));
    modelMenuButton->setToolTip(tr("Add or manage models"));
    modelMenuButton->setPopupMode(QToolButton::InstantPopup);
    auto* modelMenu = new QMenu(modelMenuButton);
    modelMenu->addAction(managerAction_);
    modelMenu->addAction(addModelAction_);
    modelMenu->addAction(openModelsFolderAction_);
    modelMenu->addAction(rescanAction_);
    modelMenuButton->setMenu(modelMenu);
    modelRow->addWidget(modelPicker_, 1);
    modelRow->addWidget(modelMenuButton);
    layout->addLayout(modelRow);
    modelInfo_ = new QLabel(content);
    modelInfo_->setObjectName(QStringLiteral("noteLabel"));
    modelInfo_->setWordWrap(true);
    layout->addWidget(modelInfo_);

    auto* taskRow = new QHBoxLayout;
    taskRow->setSpacing(0);
    taskGroup_ = new QButtonGroup(this);
    taskGroup_->setExclusive(true);
    const struct {
        appcore::Task task;
        const char* icon;
        QString label;
    } tasks[] = {{appcore::Task::TextToImage, "image", tr("Image")},
                 {appcore::Task::TextToVideo, "video", tr("Video")},
                 {appcore::Task::ImageToVideo, "video", tr("Animate")}};
    for (const auto& t : tasks) {
        auto* b = new QToolButton(content);
        b->setObjectName(QStringLiteral("taskButton"));
        b->setText(t.label);
        b->setIcon(icon(QString::fromLatin1(t.icon)));
        b->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
        b->setCheckable(true);
        b->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
        b->setToolTip(appcore::taskLabel(t.task));
        taskGroup_->addButton(b, static_cast<int>(t.task));
        taskRow->addWidget(b);
    }
    connect(taskGroup_, &QButtonGroup::idClicked, this, [this](int id) { setTask(static_cast<appcore::Task>(id)); });
    layout->addLayout(taskRow);
    layout->addSpacing(6);

    inputImage_ = new InputImageWidget(content);
    connect(inputImage_, &InputImageWidget::removeRequested, this, &MainWindow::clearInputImage);
    connect(inputImage_, &InputImageWidget::browseRequested, this, [this] {
        const QString path = askOpenFileName(this, QStringLiteral("input-image"), tr("Input Image"),
                                             tr("Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.exr)"));
        if (!path.isEmpty()) {
            setInputImageFromFile(path);
        }
    });
    layout->addWidget(inputImage_);

    // Prompts.
    auto* promptHeader = new QHBoxLayout;
    promptHeader->addWidget(sectionLabel(tr("Prompt"), content), 1);
    historyButton_ = new QToolButton(content);
    historyButton_->setIcon(icon(QStringLiteral("history")));
    historyButton_->setToolTip(tr("Recent prompts (Ctrl+Up / Ctrl+Down in the field)"));
    historyButton_->setAutoRaise(true);
    historyButton_->setPopupMode(QToolButton::InstantPopup);
    auto* historyMenu = new QMenu(historyButton_);
    connect(historyMenu, &QMenu::aboutToShow, this, [this, historyMenu] {
        historyMenu->clear();
        const QStringList h = prompt_->history();
        if (h.isEmpty()) {
            historyMenu->addAction(tr("No prompts yet"))->setEnabled(false);
        }
        for (int i = 0; i < qMin(20, static_cast<int>(h.size())); ++i) {
            const QString text = h[i];
            historyMenu->addAction(elide(text.simplified(), 70), this, [this, text] {
                prompt_->setPlainText(text);
                prompt_->setFocus();
            });
        }
    });
    historyButton_->setMenu(historyMenu);
    promptHeader->addWidget(historyButton_);
    layout->addLayout(promptHeader);
    prompt_ = new PromptEditor(content);
    prompt_->setObjectName(QStringLiteral("promptEditor"));
    prompt_->setPlaceholderText(tr("Describe the picture or clip: subject, setting, light, style…"));
    prompt_->setHistoryKey(kUiGroup + QStringLiteral("promptHistory"));
    prompt_->setVisibleLines(5);
    layout->addWidget(prompt_);
    negativeLabel_ = sectionLabel(tr("Negative prompt"), content);
    layout->addWidget(negativeLabel_);
    negative_ = new PromptEditor(content);
    negative_->setObjectName(QStringLiteral("negativePromptEditor"));
    negative_->setPlaceholderText(tr("What to avoid (optional): blurry, text, watermark…"));
    negative_->setHistoryKey(kUiGroup + QStringLiteral("negativeHistory"));
    negative_->setVisibleLines(2);
    layout->addWidget(negative_);
    for (PromptEditor* e : {prompt_, negative_}) {
        connect(e, &PromptEditor::submitRequested, this, [this] { generate(); });
        connect(e, &PromptEditor::mediaPasted, this, [this](const QMimeData* m) { acceptMedia(m); });
    }
    layout->addSpacing(6);

    // Parameters and seed.
    auto* paramsHeader = new QHBoxLayout;
    paramsHeader->addWidget(sectionLabel(tr("Parameters"), content), 1);
    auto* resetParams = new QToolButton(content);
    resetParams->setIcon(icon(QStringLiteral("reuse")));
    resetParams->setToolTip(tr("Reset the parameters to the model's defaults"));
    resetParams->setAutoRaise(true);
    paramsHeader->addWidget(resetParams);
    layout->addLayout(paramsHeader);
    params_ = new ParameterPanel(content);
    connect(resetParams, &QToolButton::clicked, params_, &ParameterPanel::resetToDefaults);
    layout->addWidget(params_);
    layout->addSpacing(6);
    layout->addWidget(sectionLabel(tr("Seed"), content));
    seed_ = new SeedControl(content);
    layout->addWidget(seed_);
    layout->addStretch(1);
    scroll->setWidget(content);
    outer->addWidget(scroll, 1);

    // Generate / Cancel stay visible below the scrolling part.
    auto* actions = new QWidget(panel);
    actions->setObjectName(QStringLiteral("generateBar"));
    auto* al = new QHBoxLayout(actions);
    al->setContentsMargins(14, 10, 14, 12);
    al->setSpacing(8);
    generateButton_ = new QPushButton(icon(QStringLiteral("generate-white")), tr("Generate"), actions);
    generateButton_->setObjectName(QStringLiteral("generateButton"));
    generateButton_->setToolTip(tr("Generate (Ctrl+Enter). Press again to queue more."));
    generateButton_->setMinimumHeight(fontMetrics().height() * 2 + 10);
    cancelButton_ = new QPushButton(icon(QStringLiteral("stop")), QString(), actions);
    cancelButton_->setObjectName(QStringLiteral("cancelButton"));
    cancelButton_->setToolTip(tr("Cancel the running job (Esc); Shift+Esc cancels all"));
    cancelButton_->setMinimumHeight(generateButton_->minimumHeight());
    cancelButton_->setMinimumWidth(generateButton_->minimumHeight());
    auto* shortcutHint = new QLabel(tr("Ctrl+Enter"), actions);
    shortcutHint->setObjectName(QStringLiteral("shortcutHint"));
    al->addWidget(generateButton_, 1);
    al->addWidget(cancelButton_);
    outer->addWidget(actions);
    Q_UNUSED(shortcutHint);
    shortcutHint->hide();
    connect(generateButton_, &QPushButton::clicked, this, [this] { generate(); });
    connect(cancelButton_, &QPushButton::clicked, this, &MainWindow::cancelCurrent);

    const int em = fontMetrics().horizontalAdvance(QLatin1Char('M'));
    panel->setMinimumWidth(em * 27);
    panel->setMaximumWidth(em * 42);
    content->setMinimumWidth(em * 26);
    connect(modelPicker_, &QComboBox::currentIndexChanged, this, &MainWindow::onModelChanged);
    return panel;
}

QWidget* MainWindow::buildCenter() {
    auto* center = new QWidget(this);
    center->setObjectName(QStringLiteral("centerArea"));
    auto* layout = new QVBoxLayout(center);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    notification_ = new NotificationBar(center);
    layout->addWidget(notification_);
    viewStack_ = new QStackedWidget(center);
    canvas_ = new ImageCanvas(viewStack_);
    player_ = new VideoPlayer(viewStack_);
    viewStack_->addWidget(canvas_);
    viewStack_->addWidget(player_);
    layout->addWidget(viewStack_, 1);

    // What is on screen: prompt, model, size, seed, and the actions on it.
    infoStrip_ = new QWidget(center);
    infoStrip_->setObjectName(QStringLiteral("infoStrip"));
    auto* il = new QHBoxLayout(infoStrip_);
    il->setContentsMargins(12, 8, 8, 8);
    il->setSpacing(6);
    auto* texts = new QVBoxLayout;
    texts->setSpacing(2);
    infoPrompt_ = new ElidedLabel(infoStrip_);
    infoPrompt_->setObjectName(QStringLiteral("infoPrompt"));
    infoMeta_ = new ElidedLabel(infoStrip_);
    infoMeta_->setObjectName(QStringLiteral("infoMeta"));
    texts->addWidget(infoPrompt_);
    texts->addWidget(infoMeta_);
    il->addLayout(texts, 1);
    auto addButton = [this, il](const QString& iconName, const QString& text, const QString& tip, auto slot) {
        auto* b = new QToolButton(infoStrip_);
        b->setIcon(icon(iconName));
        b->setText(text);
        b->setToolTip(tip);
        b->setToolButtonStyle(text.isEmpty() ? Qt::ToolButtonIconOnly : Qt::ToolButtonTextBesideIcon);
        b->setAutoRaise(true);
        connect(b, &QToolButton::clicked, this, slot);
        il->addWidget(b);
        return b;
    };
    addButton(QStringLiteral("reuse"), tr("Reuse"), tr("Reuse these parameters (Ctrl+R)"),
              [this] { reuseParameters(viewedItemId_); });
    addButton(QStringLiteral("dice"), QString(), tr("Reuse only the seed"), [this] { reuseSeed(viewedItemId_); });
    addButton(QStringLiteral("export"), tr("Export"), tr("Export (Ctrl+E)"), [this] { exportItem(viewedItemId_); });
    addButton(QStringLiteral("folder"), QString(), tr("Show in folder"), [this] { revealItem(viewedItemId_); });
    addButton(QStringLiteral("trash"), QString(), tr("Move to trash (Delete in the gallery)"),
              [this] { deleteItem(viewedItemId_); });
    infoStrip_->hide();
    layout->addWidget(infoStrip_);
    return center;
}

void MainWindow::buildDocks() {
    queueView_ = new JobQueueView(jobs_, this);
    queueDock_ = new QDockWidget(tr("Queue"), this);
    queueDock_->setObjectName(QStringLiteral("queueDock"));
    queueDock_->setWidget(queueView_);
    queueDock_->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetClosable |
                            QDockWidget::DockWidgetFloatable);
    galleryView_ = new GalleryView(gallery_, this);
    galleryDock_ = new QDockWidget(tr("Gallery"), this);
    galleryDock_->setObjectName(QStringLiteral("galleryDock"));
    galleryDock_->setWidget(galleryView_);
    galleryDock_->setFeatures(queueDock_->features());
    addDockWidget(Qt::RightDockWidgetArea, queueDock_);
    addDockWidget(Qt::RightDockWidgetArea, galleryDock_);
    splitDockWidget(queueDock_, galleryDock_, Qt::Vertical);
    const int em = fontMetrics().horizontalAdvance(QLatin1Char('M'));
    resizeDocks({queueDock_, galleryDock_}, {em * 16, em * 40}, Qt::Vertical);
    resizeDocks({queueDock_}, {em * 27}, Qt::Horizontal);
    queueView_->setMinimumWidth(em * 20);

    connect(queueView_, &JobQueueView::cancelRequested, this, [this](JobId id) {
        if (bridge_->cancelJob(id)) {
            jobs_->markCancelling(id);
        }
    });
    connect(queueView_, &JobQueueView::cancelAllRequested, this, &MainWindow::cancelAll);
    connect(queueView_, &JobQueueView::jobActivated, this, &MainWindow::showJobPreview);
    connect(galleryView_, &GalleryView::itemActivated, this, &MainWindow::showGalleryItem);
    connect(galleryView_, &GalleryView::currentItemChanged, this, [this](const QString& id) {
        if (!id.isEmpty()) {
            showGalleryItem(id);
        }
    });
    connect(galleryView_, &GalleryView::reuseParametersRequested, this, &MainWindow::reuseParameters);
    connect(galleryView_, &GalleryView::reuseSeedRequested, this, &MainWindow::reuseSeed);
    connect(galleryView_, &GalleryView::exportRequested, this, &MainWindow::exportItem);
    connect(galleryView_, &GalleryView::revealRequested, this, &MainWindow::revealItem);
    connect(galleryView_, &GalleryView::deleteRequested, this, &MainWindow::deleteItem);
    connect(galleryView_, &GalleryView::copyPromptRequested, this, [this](const QString& id) {
        const int row = gallery_->rowOf(id);
        if (row >= 0) {
            QApplication::clipboard()->setText(gallery_->item(row).prompt);
            notification_->showMessage(NotificationBar::Kind::Info, tr("Prompt copied."));
        }
    });
}

void MainWindow::connectBridge() {
    connect(bridge_, &EngineBridge::previewReady, this,
            [this](JobId job, int step, int numSteps, const QList<QImage>& frames) {
                Q_UNUSED(step);
                Q_UNUSED(numSteps);
                if (!followLive_ || frames.isEmpty()) {
                    return;
                }
                const int row = jobs_->rowOf(job);
                if (row < 0 ||
                    jobs_->index(row).data(JobQueueModel::StateRole).toInt() != static_cast<int>(JobState::Running)) {
                    return;
                }
                shownJob_ = job;
                viewedItemId_.clear();
                infoStrip_->hide();
                player_->pause();
                viewStack_->setCurrentWidget(canvas_);
                canvas_->setFrames(frames);
            });
    connect(bridge_, &EngineBridge::jobProgressed, this, [this](JobId job) {
        if (followLive_ && (shownJob_ == job || shownJob_ == 0)) {
            shownJob_ = job;
            const int row = jobs_->rowOf(job);
            if (row >= 0) {
                viewStack_->setCurrentWidget(canvas_);
                canvas_->setOverlay(jobs_->index(row).data(JobQueueModel::StatusTextRole).toString(),
                                    jobs_->index(row).data(JobQueueModel::ProgressRole).toDouble());
            }
        }
    });
    connect(bridge_, &EngineBridge::jobStarted, this, [this](JobId job) {
        if (followLive_) {
            shownJob_ = job;
            viewedItemId_.clear();
            infoStrip_->hide();
            player_->pause();
            viewStack_->setCurrentWidget(canvas_);
            const GenerationParams* p = jobs_->params(job);
            canvas_->clear();
            canvas_->setPlaceholder(tr("Generating…"), p ? elide(p->prompt.simplified(), 200) : QString());
            canvas_->setOverlay(tr("Starting…"), 0.0);
        }
    });
    connect(bridge_, &EngineBridge::jobFinished, this, [this](JobId job, const GenerationResult& result) {
        const GenerationParams* p = jobs_->params(job);
        GenerationParams params = p ? *p : GenerationParams();
        if (p) {
            // The queue keeps only a thumbnail of the input; the record needs just its name.
            params.inputImage = QImage();
        }
        archiver_->archive(result, params);
        if (followLive_ && (shownJob_ == job || shownJob_ == 0)) {
            shownJob_ = job;
            showResult(result);
        }
    });
    connect(bridge_, &EngineBridge::jobFailed, this, &MainWindow::onJobFailed);
    connect(bridge_, &EngineBridge::jobCancelled, this, [this](JobId job) {
        if (shownJob_ == job) {
            canvas_->setPlaceholder(tr("Cancelled"), tr("Press Ctrl+Enter to generate again."));
            canvas_->setOverlay(tr("Cancelled"), -1.0);
        }
    });
    connect(bridge_, &EngineBridge::engineRestarted, this, [this] {
        updateSummary();
        if (!bridge_->isReady()) {
            notification_->showMessage(NotificationBar::Kind::Error,
                                       tr("The engine could not start: %1").arg(bridge_->engineError()),
                                       tr("Open Settings"), [this] { openSettings(); });
        } else {
            notification_->showMessage(NotificationBar::Kind::Info,
                                       tr("Engine restarted on %1.").arg(bridge_->deviceDescription()));
        }
    });
    connect(archiver_, &ResultArchiver::archived, this, [this](const QString& id, JobId job) {
        if (shownJob_ == job && followLive_) {
            viewedItemId_ = id;
            galleryView_->selectItem(id);
            updateViewedInfo();
        }
    });
    connect(archiver_, &ResultArchiver::archiveFailed, this, [this](JobId, const QString& message) {
        notification_->showMessage(NotificationBar::Kind::Error,
                                   tr("The result could not be saved to the gallery: %1").arg(message));
    });
    connect(jobs_, &JobQueueModel::summaryChanged, this, &MainWindow::updateSummary);
    if (!bridge_->isReady()) {
        notification_->showMessage(NotificationBar::Kind::Error,
                                   tr("The engine could not start: %1").arg(bridge_->engineError()),
                                   tr("Open Settings"), [this] { openSettings(); });
    }
}

void MainWindow::restoreUiState() {
    QSettings s;
    s.beginGroup(QStringLiteral("ui"));
    restoreGeometry(s.value(QStringLiteral("geometry")).toByteArray());
    restoreState(s.value(QStringLiteral("windowState")).toByteArray());
    splitter_->restoreState(s.value(QStringLiteral("splitter")).toByteArray());
    lastModelPath_ = s.value(QStringLiteral("model")).toString();
    task_ = appcore::taskFromId(s.value(QStringLiteral("task")).toString());
    if (task_ == appcore::Task::None) {
        task_ = appcore::Task::TextToImage;
    }
    prompt_->setPlainText(s.value(QStringLiteral("prompt")).toString());
    negative_->setPlainText(s.value(QStringLiteral("negativePrompt")).toString());
    seed_->setMode(static_cast<SeedMode>(qBound(0, s.value(QStringLiteral("seedMode"), 0).toInt(), 2)));
    if (s.contains(QStringLiteral("seed"))) {
        seed_->setSeed(s.value(QStringLiteral("seed")).toULongLong());
    }
    s.endGroup();
}

void MainWindow::saveUiState() const {
    QSettings s;
    s.beginGroup(QStringLiteral("ui"));
    s.setValue(QStringLiteral("geometry"), saveGeometry());
    s.setValue(QStringLiteral("windowState"), saveState());
    s.setValue(QStringLiteral("splitter"), splitter_->saveState());
    if (const appcore::LocalModel* m = currentModel()) {
        s.setValue(QStringLiteral("model"), m->path);
    }
    s.setValue(QStringLiteral("task"), appcore::taskId(task_));
    s.setValue(QStringLiteral("prompt"), prompt_->toPlainText());
    s.setValue(QStringLiteral("negativePrompt"), negative_->toPlainText());
    s.setValue(QStringLiteral("seedMode"), static_cast<int>(seed_->mode()));
    s.setValue(QStringLiteral("seed"), QString::number(seed_->seed()));
    s.endGroup();
}

// ---- models and tasks --------------------------------------------------------------------------------

void MainWindow::setModels(const QList<appcore::LocalModel>& models) {
    const QString keep = currentModel() ? currentModel()->path : lastModelPath_;
    {
        const QSignalBlocker block(modelPicker_);
        models_->setModels(models);
        const int row = models_->rowOf(keep);
        modelPicker_->setCurrentIndex(row >= 0 ? row : (models.isEmpty() ? -1 : 0));
    }
    onModelChanged();
    updatePages();
}

void MainWindow::rescanModels() {
    setModels(appcore::scanModels(settings_.modelsDir, settings_.hubCacheDir, settings_.extraModelPaths));
}

bool MainWindow::selectModel(const QString& pathOrName) {
    const int row = models_->rowOf(pathOrName);
    if (row < 0) {
        return false;
    }
    modelPicker_->setCurrentIndex(row);
    return true;
}

const appcore::LocalModel* MainWindow::currentModel() const {
    const int row = modelPicker_ ? modelPicker_->currentIndex() : -1;
    return row >= 0 && row < models_->rowCount() ? &models_->model(row) : nullptr;
}

void MainWindow::updatePages() {
    const bool hasModels = models_->rowCount() > 0;
    pages_->setCurrentIndex(hasModels ? 1 : 0);
    const bool showDocks = hasModels || gallery_->rowCount() > 0;
    queueDock_->setVisible(showDocks);
    galleryDock_->setVisible(showDocks);
    if (!hasModels && showDocks) {
        // Results stay reachable without a model; the empty page is then the center.
        pages_->setCurrentIndex(0);
    }
}

void MainWindow::onModelChanged() {
    const appcore::LocalModel* m = currentModel();
    if (m) {
        lastModelPath_ = m->path;
        if (!m->supports(task_)) {
            task_ = m->defaultTask();
        }
        modelInfo_->setText(tr("%1 · %2 · native %3×%4 · %5")
                                .arg(appcore::familyLabel(m->family), appcore::taskLabel(task_))
                                .arg(m->nativeWidth)
                                .arg(m->nativeHeight)
                                .arg(QLocale().formattedDataSize(m->sizeBytes)));
        if (!m->missingParts.isEmpty()) {
            // An interrupted download or a partial copy: say so before Generate fails on it.
            modelInfo_->setText(modelInfo_->text() + QStringLiteral("\n") +
                                tr("Incomplete: %1 missing. Download it again in the Model Manager.")
                                    .arg(m->missingParts.join(QStringLiteral(", "))));
        }
        modelInfo_->setToolTip(m->path);
        params_->setSpec(appcore::parameterSpec(*m, task_), false);
    } else {
        modelInfo_->clear();
    }
    updateNegativePrompt();
    updateTaskButtons();
}

void MainWindow::updateNegativePrompt() {
    // Sana-Sprint has no negative prompt: the field is hidden (its text is kept for the next model).
    const bool has = params_->spec().hasNegativePrompt;
    negativeLabel_->setVisible(has);
    negative_->setVisible(has);
}

void MainWindow::setTask(appcore::Task task) {
    const appcore::LocalModel* m = currentModel();
    if (m && !m->supports(task)) {
        // Pick the first installed model that can.
        for (int row = 0; row < models_->rowCount(); ++row) {
            if (models_->model(row).supports(task)) {
                task_ = task;
                modelPicker_->setCurrentIndex(row);
                return;
            }
        }
        notification_->showMessage(
            NotificationBar::Kind::Warning,
            tr("No installed model can do “%1”. Get one in the Model Manager.").arg(appcore::taskLabel(task)),
            tr("Model Manager"), [this] { openModelManager(); });
        updateTaskButtons();
        return;
    }
    if (task_ != task) {
        task_ = task;
        if (m) {
            params_->setSpec(appcore::parameterSpec(*m, task_), true);
        }
    }
    updateNegativePrompt();
    updateTaskButtons();
}

void MainWindow::updateTaskButtons() {
    const appcore::LocalModel* m = currentModel();
    for (QAbstractButton* b : taskGroup_->buttons()) {
        const auto t = static_cast<appcore::Task>(taskGroup_->id(b));
        b->setChecked(t == task_);
        // Tasks other models can do stay clickable: clicking switches the model.
        bool anyModel = false;
        for (int row = 0; row < models_->rowCount(); ++row) {
            anyModel = anyModel || models_->model(row).supports(t);
        }
        b->setEnabled(anyModel || (m && m->supports(t)));
        b->setProperty("unsupported", m && !m->supports(t));
        b->style()->unpolish(b);
        b->style()->polish(b);
    }
    inputImage_->setVisible(task_ == appcore::Task::ImageToVideo);
    generateButton_->setText(appcore::isVideoTask(task_) ? tr("Generate Clip") : tr("Generate"));
}

// ---- generation --------------------------------------------------------------------------------------

GenerationParams MainWindow::currentParams() const {
    GenerationParams p;
    p.task = task_;
    if (const appcore::LocalModel* m = currentModel()) {
        p.modelName = m->name;
        p.modelPath = m->path;
        p.configPath = m->configPath;
    }
    p.prompt = prompt_->toPlainText().trimmed();
    p.negativePrompt = params_->spec().hasNegativePrompt ? negative_->toPlainText().trimmed() : QString();
    params_->applyTo(p);
    p.seed = seed_->seed();
    if (task_ == appcore::Task::ImageToVideo && inputImage_->hasImage()) {
        p.inputImage = inputImage_->image();
        p.inputImageName = inputImage_->name();
    }
    p.previewEnabled = settings_.previewEnabled;
    p.previewEveryNSteps = settings_.previewEveryNSteps;
    return p;
}

JobId MainWindow::generate() {
    if (!currentModel()) {
        notification_->showMessage(NotificationBar::Kind::Warning, tr("Install or add a model first."),
                                   tr("Model Manager"), [this] { openModelManager(); });
        return 0;
    }
    if (prompt_->toPlainText().trimmed().isEmpty() && task_ != appcore::Task::ImageToVideo) {
        notification_->showMessage(NotificationBar::Kind::Warning, tr("Write a prompt first: what should it show?"));
        prompt_->setFocus();
        return 0;
    }
    if (task_ == appcore::Task::ImageToVideo && !inputImage_->hasImage()) {
        notification_->showMessage(NotificationBar::Kind::Warning,
                                   tr("Animate needs a picture: drop one on the window, paste it, or choose a file."),
                                   tr("Choose…"), [this] { emit inputImage_->browseRequested(); });
        return 0;
    }
    GenerationParams p = currentParams();
    p.seed = seed_->takeSeedForJob();
    QString error;
    const JobId id = bridge_->submitJob(p, &error);
    if (id == 0) {
        notification_->showMessage(NotificationBar::Kind::Error, tr("Could not start: %1").arg(error));
        return 0;
    }
    prompt_->commitToHistory();
    negative_->commitToHistory();
    followLive_ = true;
    if (jobs_->activeCount() <= 1) {
        shownJob_ = id;
    }
    if (notification_->kind() != NotificationBar::Kind::Info) {
        notification_->dismiss();
    }
    return id;
}

void MainWindow::cancelCurrent() {
    JobId target = 0;
    for (int row = 0; row < jobs_->rowCount(); ++row) {
        const auto state = static_cast<JobState>(jobs_->index(row).data(JobQueueModel::StateRole).toInt());
        if (state == JobState::Running) {
            target = jobs_->jobAt(row);
            break;
        }
        if (state == JobState::Queued) {
            target = jobs_->jobAt(row);  // the last queued one, if none runs
        }
    }
    if (target != 0 && bridge_->cancelJob(target)) {
        jobs_->markCancelling(target);
    }
}

void MainWindow::cancelAll() {
    for (int row = 0; row < jobs_->rowCount(); ++row) {
        const auto state = static_cast<JobState>(jobs_->index(row).data(JobQueueModel::StateRole).toInt());
        if (state == JobState::Running || state == JobState::Queued) {
            jobs_->markCancelling(jobs_->jobAt(row));
        }
    }
    bridge_->cancelAll();
}

void MainWindow::onJobFailed(JobId job, const QString& message, int code) {
    const GenerationParams* p = jobs_->params(job);
    const auto failure = static_cast<FailureCode>(code);
    QString text = tr("<b>Generation failed.</b> %1").arg(message.toHtmlEscaped());
    const QString hint = failureHint(failure, p ? *p : GenerationParams());
    if (!hint.isEmpty()) {
        text += QStringLiteral("<br>") + hint.toHtmlEscaped();
    }
    if (failure == FailureCode::OutOfMemory && p && p->width > 0) {
        const int w = p->width / 2;
        const int h = p->height / 2;
        notification_->showMessage(NotificationBar::Kind::Error, text, tr("Use half size"),
                                   [this, w, h] { params_->setSize(w, h); });
    } else if (failure == FailureCode::DeviceUnavailable) {
        notification_->showMessage(NotificationBar::Kind::Error, text, tr("Open Settings"), [this] { openSettings(); });
    } else if (failure == FailureCode::ModelNotFound || failure == FailureCode::ModelLoadFailed) {
        notification_->showMessage(NotificationBar::Kind::Error, text, tr("Model Manager"),
                                   [this] { openModelManager(); });
    } else {
        notification_->showMessage(NotificationBar::Kind::Error, text);
    }
    if (shownJob_ == job) {
        canvas_->setPlaceholder(tr("Nothing was generated"), hint);
        canvas_->setOverlay(tr("Failed"), -1.0);
    }
}

// ---- viewing -----------------------------------------------------------------------------------------

void MainWindow::showResult(const GenerationResult& result) {
    canvas_->clearOverlay();
    if (result.isVideo()) {
        player_->setFrames(result.frames, result.fps);
        viewStack_->setCurrentWidget(player_);
        player_->play();
    } else {
        canvas_->setImage(result.image);
        viewStack_->setCurrentWidget(canvas_);
    }
}

void MainWindow::showJobPreview(JobId job) {
    const int row = jobs_->rowOf(job);
    if (row < 0) {
        return;
    }
    const auto state = static_cast<JobState>(jobs_->index(row).data(JobQueueModel::StateRole).toInt());
    if (state == JobState::Running || state == JobState::Queued) {
        followLive_ = true;
        shownJob_ = job;
        viewedItemId_.clear();
        infoStrip_->hide();
        player_->pause();
        viewStack_->setCurrentWidget(canvas_);
        const QImage preview = jobs_->index(row).data(JobQueueModel::PreviewRole).value<QImage>();
        if (!preview.isNull()) {
            canvas_->setImage(preview);
        }
        canvas_->setOverlay(jobs_->index(row).data(JobQueueModel::StatusTextRole).toString(),
                            jobs_->index(row).data(JobQueueModel::ProgressRole).toDouble());
    }
}

void MainWindow::showGalleryItem(const QString& id) {
    const int row = gallery_->rowOf(id);
    if (row < 0) {
        return;
    }
    const appcore::GalleryItem& it = gallery_->item(row);
    // Browsing the gallery stops following the live preview until the next Generate.
    followLive_ = false;
    viewedItemId_ = id;
    canvas_->clearOverlay();
    if (it.kind == appcore::GalleryItem::Kind::Video) {
        QList<QImage> frames;
        for (const QString& f : it.framePaths) {
            frames << QImage(f);
        }
        player_->setFrames(frames, it.fps > 0 ? it.fps : 8.0);
        viewStack_->setCurrentWidget(player_);
    } else {
        player_->pause();
        canvas_->setImage(QImage(it.filePath));
        viewStack_->setCurrentWidget(canvas_);
    }
    galleryView_->selectItem(id);
    updateViewedInfo();
}

void MainWindow::updateViewedInfo() {
    const int row = gallery_->rowOf(viewedItemId_);
    if (row < 0) {
        infoStrip_->hide();
        return;
    }
    const appcore::GalleryItem& it = gallery_->item(row);
    infoPrompt_->setText(it.prompt.simplified());
    QStringList meta;
    meta << it.modelName;
    meta << QStringLiteral("%1×%2").arg(it.width).arg(it.height);
    if (it.kind == appcore::GalleryItem::Kind::Video) {
        meta << tr("%1 frames at %2 fps").arg(it.numFrames).arg(it.fps, 0, 'g', 3);
    }
    const QString steps = it.parameter(QStringLiteral("steps"));
    if (!steps.isEmpty()) {
        meta << tr("%1 steps").arg(steps);
    }
    const QString guidance = it.parameter(QStringLiteral("guidance_scale"));
    if (!guidance.isEmpty()) {
        meta << tr("guidance %1").arg(guidance);
    }
    meta << tr("seed %1").arg(it.seed);
    if (it.durationS >= 0.05) {
        meta << tr("%1 s").arg(it.durationS, 0, 'f', 1);
    }
    infoMeta_->setText(meta.join(QStringLiteral("  ·  ")));
    infoStrip_->show();
}

// ---- gallery actions ---------------------------------------------------------------------------------

void MainWindow::exportItem(const QString& id) {
    const int row = gallery_->rowOf(id);
    if (row < 0) {
        notification_->showMessage(NotificationBar::Kind::Info, tr("Select a result in the gallery to export."));
        return;
    }
    ExportDialog dialog(gallery_->item(row), this);
    dialog.exec();
}

void MainWindow::reuseParameters(const QString& id) {
    const int row = gallery_->rowOf(id);
    if (row < 0) {
        return;
    }
    const appcore::GalleryItem& it = gallery_->item(row);
    GenerationParams p = GenerationParams::fromParamList(it.parameters);
    p.modelPath = it.modelPath;
    if (p.modelName.isEmpty()) {
        p.modelName = it.modelName;
    }
    if (p.task == appcore::Task::None) {
        p.task = it.task;
    }
    p.seed = it.seed;
    applyParams(p);
}

void MainWindow::applyParams(const GenerationParams& p) {
    const bool found =
        (!p.modelPath.isEmpty() && selectModel(p.modelPath)) || (!p.modelName.isEmpty() && selectModel(p.modelName));
    if (p.task != appcore::Task::None && currentModel() && currentModel()->supports(p.task)) {
        setTask(p.task);
    }
    prompt_->setPlainText(p.prompt);
    negative_->setPlainText(p.negativePrompt);
    params_->setFromParams(p);
    seed_->reuseSeed(p.seed);
    if (!found && !p.modelName.isEmpty()) {
        notification_->showMessage(NotificationBar::Kind::Warning,
                                   tr("“%1” is not installed; the parameters were applied to %2.")
                                       .arg(p.modelName, currentModel() ? currentModel()->name : tr("no model")));
    } else {
        notification_->showMessage(NotificationBar::Kind::Info,
                                   tr("Parameters restored; the seed is fixed at %1.").arg(p.seed));
    }
}

void MainWindow::reuseSeed(const QString& id) {
    const int row = gallery_->rowOf(id);
    if (row < 0) {
        return;
    }
    seed_->reuseSeed(gallery_->item(row).seed);
    notification_->showMessage(NotificationBar::Kind::Info,
                               tr("Seed %1 fixed for the next runs.").arg(gallery_->item(row).seed));
}

void MainWindow::deleteItem(const QString& id) {
    const int row = gallery_->rowOf(id);
    if (row < 0) {
        return;
    }
    if (!gallery_->removeItem(id, appcore::GalleryStore::RemoveMode::Trash)) {
        if (gallery_->rowOf(id) < 0) {
            notification_->showMessage(NotificationBar::Kind::Warning, gallery_->lastError());
        } else if (QMessageBox::question(this, tr("Delete permanently?"),
                                         tr("%1\nDelete the result permanently instead?").arg(gallery_->lastError())) ==
                   QMessageBox::Yes) {
            if (!gallery_->removeItem(id, appcore::GalleryStore::RemoveMode::Delete)) {
                notification_->showMessage(NotificationBar::Kind::Error, gallery_->lastError());
                return;
            }
        } else {
            return;
        }
    } else {
        notification_->showMessage(NotificationBar::Kind::Info, tr("Moved to the trash."));
    }
    if (viewedItemId_ == id) {
        viewedItemId_.clear();
        infoStrip_->hide();
        canvas_->clear();
        canvas_->resetPlaceholder();
        player_->clear();
        viewStack_->setCurrentWidget(canvas_);
        // Show the neighbour, so Delete can be pressed repeatedly.
        const QString next = galleryView_->currentItemId();
        if (!next.isEmpty()) {
            showGalleryItem(next);
        }
    }
}

void MainWindow::revealItem(const QString& id) {
    const int row = gallery_->rowOf(id);
    if (row < 0) {
        return;
    }
    const QString path = gallery_->item(row).filePath;
    QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(path).absolutePath()));
}

// ---- input image -------------------------------------------------------------------------------------

bool MainWindow::acceptMedia(const QMimeData* mime) {
    if (!mime) {
        return false;
    }
    if (mime->hasUrls()) {
        for (const QUrl& url : mime->urls()) {
            if (url.isLocalFile()) {
                return setInputImageFromFile(url.toLocalFile());
            }
        }
    }
    if (mime->hasImage()) {
        const QImage img = qvariant_cast<QImage>(mime->imageData());
        if (!img.isNull()) {
            setInputImage(img, tr("Pasted image"));
            return true;
        }
    }
    notification_->showMessage(NotificationBar::Kind::Warning,
                               tr("There is no picture in what was pasted or dropped. Use a PNG, JPEG or WebP "
                                  "file, or copy an image."));
    return false;
}

bool MainWindow::setInputImageFromFile(const QString& path) {
    QString error;
    const QImage img = readImageFile(path, &error);
    if (img.isNull()) {
        notification_->showMessage(NotificationBar::Kind::Error,
                                   tr("<b>“%1” can't be used as an input picture.</b> %2")
                                       .arg(QFileInfo(path).fileName().toHtmlEscaped(), error.toHtmlEscaped()));
        return false;
    }
    rememberDir(QStringLiteral("input-image"), path);
    setInputImage(img, QFileInfo(path).fileName());
    return true;
}

void MainWindow::setInputImage(const QImage& image, const QString& name) {
    inputImage_->setImage(image, name);
    if (!(followLive_ && jobs_->activeCount() > 0)) {
        // Nothing live on screen: show the picture the clip will start from.
        viewedItemId_.clear();
        shownJob_ = 0;
        infoStrip_->hide();
        player_->pause();
        viewStack_->setCurrentWidget(canvas_);
        canvas_->setImage(image);
        canvas_->setOverlay(tr("Input picture: the clip starts from it"), -1.0);
    }
    const appcore::LocalModel* m = currentModel();
    if (m && m->supports(appcore::Task::ImageToVideo)) {
        setTask(appcore::Task::ImageToVideo);
        notification_->showMessage(NotificationBar::Kind::Info, tr("“%1” is the input picture.").arg(name));
        return;
    }
    offerI2VFor(name);
}

void MainWindow::offerI2VFor(const QString& name) {
    for (int row = 0; row < models_->rowCount(); ++row) {
        if (models_->model(row).supports(appcore::Task::ImageToVideo)) {
            const QString modelName = models_->model(row).name;
            notification_->showMessage(NotificationBar::Kind::Info,
                                       tr("“%1” is the input picture. Animate it with %2?").arg(name, modelName),
                                       tr("Animate"), [this] { setTask(appcore::Task::ImageToVideo); });
            return;
        }
    }
    notification_->showMessage(NotificationBar::Kind::Warning,
                               tr("“%1” is kept as the input picture, but no image-to-video model is installed. "
                                  "DynamiCrafter can animate it.")
                                   .arg(name),
                               tr("Model Manager"), [this] { openModelManager(); });
}

void MainWindow::clearInputImage() {
    inputImage_->clearImage();
}

void MainWindow::pasteImage() {
    const QMimeData* mime = QApplication::clipboard()->mimeData();
    if (isMediaMimeData(mime)) {
        acceptMedia(mime);
    } else {
        notification_->showMessage(NotificationBar::Kind::Info,
                                   tr("The clipboard holds no picture. Copy an image (or an image file) first."));
    }
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (isMediaMimeData(event->mimeData())) {
        event->acceptProposedAction();
    }
}

void MainWindow::dragMoveEvent(QDragMoveEvent* event) {
    if (isMediaMimeData(event->mimeData())) {
        event->acceptProposedAction();
    }
}

void MainWindow::dropEvent(QDropEvent* event) {
    if (acceptMedia(event->mimeData())) {
        event->acceptProposedAction();
    } else {
        event->ignore();
    }
}

// ---- settings, models, misc --------------------------------------------------------------------------

void MainWindow::openModelManager() {
    emit modelManagerRequested();
}

void MainWindow::openSettings() {
    SettingsDialog dialog(settings_, this);
    dialog.setDeviceNote(bridge_->isReady() ? tr("The engine now runs on %1.").arg(bridge_->deviceDescription())
                                            : tr("The engine is not running: %1").arg(bridge_->engineError()));
    if (dialog.exec() == QDialog::Accepted) {
        applySettings(dialog.settings());
    }
}

void MainWindow::applySettings(const appcore::AppSettings& s) {
    const bool pathsChanged = s.modelsDir != settings_.modelsDir || s.hubCacheDir != settings_.hubCacheDir ||
                              s.extraModelPaths != settings_.extraModelPaths;
    const bool engineChanged = s.engine != settings_.engine;
    settings_ = s;
    QSettings qs;
    settings_.save(qs);
    if (pathsChanged) {
        rescanModels();
    }
    if (engineChanged && jobs_->activeCount() > 0) {
        notification_->showMessage(NotificationBar::Kind::Info,
                                   tr("The new device settings apply when the running jobs are done."));
    }
    emit settingsChanged(settings_);
}

void MainWindow::addModel() {
    QMessageBox box(this);
    box.setWindowTitle(tr("Add Model"));
    box.setText(
        tr("Is the model a folder (Sana in diffusers format) or a checkpoint file (VideoCrafter, "
           "DynamiCrafter)?"));
    QPushButton* folder = box.addButton(tr("Folder…"), QMessageBox::AcceptRole);
    QPushButton* file = box.addButton(tr("Checkpoint File…"), QMessageBox::AcceptRole);
    box.addButton(QMessageBox::Cancel);
    box.exec();
    QString path;
    if (box.clickedButton() == folder) {
        path = askDirectory(this, QStringLiteral("add-model"), tr("Model Folder"));
    } else if (box.clickedButton() == file) {
        path = askOpenFileName(this, QStringLiteral("add-model"), tr("Model Checkpoint"),
                               tr("Checkpoints (*.ckpt *.safetensors *.pt *.pth)"));
    }
    if (!path.isEmpty()) {
        addModelPath(path);
    }
}

bool MainWindow::addModelPath(const QString& path) {
    QString why;
    const appcore::LocalModel m = appcore::identifyModel(path, &why);
    if (m.family == appcore::ModelFamily::Unknown) {
        notification_->showMessage(NotificationBar::Kind::Error,
                                   tr("<b>Not a model Kinora can use.</b> %1").arg(why.toHtmlEscaped()),
                                   tr("Model Manager"), [this] { openModelManager(); });
        return false;
    }
    appcore::AppSettings s = settings_;
    const QString added = QFileInfo(path).isDir() ? QFileInfo(path).absoluteFilePath() : m.path;
    if (!s.extraModelPaths.contains(added)) {
        s.extraModelPaths << added;
    }
    applySettings(s);
    if (!selectModel(m.path)) {
        // Already listed under another path (a symlink, the models folder): scanModels lists each once.
        const QString canonical = QFileInfo(m.path).canonicalFilePath();
        for (int row = 0; row < models_->rowCount(); ++row) {
            if (QFileInfo(models_->model(row).path).canonicalFilePath() == canonical) {
                modelPicker_->setCurrentIndex(row);
                break;
            }
        }
    }
    notification_->showMessage(NotificationBar::Kind::Info,
                               tr("Added %1 (%2).").arg(m.name, appcore::familyLabel(m.family)));
    return true;
}

void MainWindow::showShortcuts() {
    const QList<QPair<QString, QString>> keys = {
        {tr("Ctrl+Enter"), tr("Generate (queues another while one runs)")},
        {tr("Esc"), tr("Cancel the running job")},
        {tr("Shift+Esc"), tr("Cancel all jobs")},
        {tr("Ctrl+Up / Ctrl+Down"), tr("Browse prompt history (in a prompt field)")},
        {tr("Ctrl+L"), tr("Edit the prompt")},
        {tr("Ctrl+V"), tr("Paste a picture as the input for Animate")},
        {tr("Ctrl+R"), tr("Reuse the parameters of the shown result")},
        {tr("Ctrl+E"), tr("Export the shown result")},
        {tr("Ctrl+F"), tr("Search the gallery")},
        {tr("Delete"), tr("Move the selected gallery result to the trash")},
        {tr("Space / Left / Right"), tr("Play or pause a clip / step one frame (in the player)")},
        {tr("Ctrl+0"), tr("Fit to window / actual pixels (or double-click the picture)")},
        {tr("Ctrl+M"), tr("Model Manager")},
        {tr("Ctrl+,"), tr("Settings")},
    };
    QString html = QStringLiteral("<table cellspacing='6'>");
    for (const auto& [k, v] : keys) {
        html += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k.toHtmlEscaped(), v.toHtmlEscaped());
    }
    html += QStringLiteral("</table>");
    QMessageBox::information(this, tr("Keyboard Shortcuts"), html);
}

void MainWindow::updateSummary() {
    statusDevice_->setText(bridge_->isReady() ? tr("Engine: %1").arg(bridge_->deviceDescription())
                                              : tr("Engine not running"));
    const int active = jobs_->activeCount();
    const double progress = jobs_->overallProgress();
    if (active == 0) {
        statusJobs_->setText(QString());
        statusProgress_->hide();
        setWindowTitle(tr("Kinora"));
    } else {
        QString text = active == 1 ? tr("1 job") : tr("%1 jobs").arg(active);
        const double eta = jobs_->overallEta();
        if (eta >= 0) {
            text += QStringLiteral(" · ") + JobQueueModel::etaText(eta);
        }
        statusJobs_->setText(text);
        statusProgress_->show();
        statusProgress_->setValue(qRound(qMax(0.0, progress) * 1000));
        // Progress in the title, so it shows in the taskbar (ComfyUI #1040).
        setWindowTitle(tr("[%1%] Kinora").arg(qRound(qMax(0.0, progress) * 100)));
    }
    cancelButton_->setEnabled(active > 0);
    cancelAction_->setEnabled(active > 0);
    cancelAllAction_->setEnabled(active > 0);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (jobs_->activeCount() > 0 &&
        QMessageBox::question(this, tr("Quit Kinora?"),
                              (jobs_->activeCount() == 1 ? tr("A job is still running or queued. Quit and cancel it?")
                                                         : tr("%1 jobs are still running or queued. Quit and cancel "
                                                              "them?")
                                                               .arg(jobs_->activeCount()))) != QMessageBox::Yes) {
        event->ignore();
        return;
    }
    saveUiState();
    bridge_->cancelAll();
    archiver_->waitForIdle(10000);
    event->accept();
}

}  // namespace ui
