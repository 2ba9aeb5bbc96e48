#include "ui/dialogs/model_manager_dialog.h"

#include <QCheckBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

namespace ui {

namespace {

enum Column { ColumnName = 0, ColumnTasks, ColumnSize, ColumnLicence, ColumnStatus, ColumnProgress, ColumnCount };

const char* kTokenSetting = "hub/token";

QString taskLabel(const QString& task) {
    if (task == QStringLiteral("t2i")) return ModelManagerDialog::tr("text to image");
    if (task == QStringLiteral("t2v")) return ModelManagerDialog::tr("text to video");
    if (task == QStringLiteral("i2v")) return ModelManagerDialog::tr("image to video");
    if (task == QStringLiteral("tokenizer")) return ModelManagerDialog::tr("tokenizer");
    if (task == QStringLiteral("text-encoder")) return ModelManagerDialog::tr("text encoder");
    return task;
}

QString formatDuration(double seconds) {
    if (seconds < 0) {
        return {};
    }
    const qint64 s = static_cast<qint64>(seconds + 0.5);
    if (s < 60) {
        return ModelManagerDialog::tr("%1 s left").arg(s);
    }
    if (s < 3600) {
        return ModelManagerDialog::tr("%1 min %2 s left").arg(s / 60).arg(s % 60);
    }
    return ModelManagerDialog::tr("%1 h %2 min left").arg(s / 3600).arg((s % 3600) / 60);
}

}  // namespace

ModelManagerDialog::ModelManagerDialog(appcore::ModelRegistry registry, appcore::HubConfig config, QWidget* parent)
    : QDialog(parent), registry_(std::move(registry)) {
    setWindowTitle(tr("Model Manager"));
    setObjectName(QStringLiteral("modelManagerDialog"));
    resize(980, 560);
    environmentTokenSource_ = config.tokenSource;
    QString savedToken;
    if (config.token.isEmpty()) {
        savedToken = QSettings().value(QLatin1String(kTokenSetting)).toString();
        if (!savedToken.isEmpty()) {
            config.token = savedToken;
            config.tokenSource = tr("the saved token");
        }
    }
    client_ = new appcore::HubClient(config, this);
    rows_.reserve(registry_.models().size());
    for (const appcore::ModelEntry& e : registry_.models()) {
        Row row;
        row.entry = &e;
        rows_.append(row);
    }
    buildUi();
    if (!savedToken.isEmpty()) {
        token_->setText(savedToken);
        rememberToken_->setChecked(true);
    }
    refreshStatus();
}

ModelManagerDialog::~ModelManagerDialog() {
    // Jobs die with the client (a child); their partial files stay for the next start.
    for (Row& row : rows_) {
        if (row.job) {
            row.job->disconnect(this);
        }
    }
}

void ModelManagerDialog::buildUi() {
    auto* layout = new QVBoxLayout(this);
    cacheLabel_ = new QLabel(this);
    cacheLabel_->setObjectName(QStringLiteral("cacheLabel"));
    cacheLabel_->setWordWrap(true);
    cacheLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    const appcore::HubConfig& config = client_->config();
    QString cacheText = tr("Models are stored in the Hugging Face cache %1, shared with Python programs.")
                            .arg(QDir::toNativeSeparators(config.cacheDir));
    if (config.offline) {
        cacheText += QLatin1Char(' ') + tr("HF_HUB_OFFLINE is set: nothing can be downloaded.");
    }
    cacheLabel_->setText(cacheText);
    layout->addWidget(cacheLabel_);

    tree_ = new QTreeWidget(this);
    tree_->setObjectName(QStringLiteral("modelTree"));
    tree_->setColumnCount(ColumnCount);
    tree_->setHeaderLabels({tr("Model"), tr("Task"), tr("Size"), tr("Licence"), tr("Status"), tr("Progress")});
    tree_->setRootIsDecorated(false);
    tree_->setUniformRowHeights(true);
    tree_->setSelectionMode(QAbstractItemView::SingleSelection);
    tree_->header()->setSectionResizeMode(ColumnName, QHeaderView::Stretch);
    for (int c = ColumnTasks; c < ColumnCount; ++c) {
        tree_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    }
    for (int i = 0; i < rows_.size(); ++i) {
        Row& row = rows_[i];
        const appcore::ModelEntry& e = *row.entry;
        row.item = new QTreeWidgetItem(tree_);
        row.item->setData(ColumnName, Qt::UserRole, e.id);
        row.item->setText(ColumnName, e.name);
        row.item->setToolTip(ColumnName, e.repoId);
        QStringList tasks;
        for (const QString& t : e.tasks) {
            tasks.append(taskLabel(t));
        }
        row.item->setText(ColumnTasks, tasks.join(QStringLiteral(", ")));
        auto* licence = new QLabel(tree_);
        licence->setTextFormat(Qt::RichText);
        licence->setOpenExternalLinks(true);
        licence->setText(e.licenceUrl.isEmpty()
                             ? e.licenceName.toHtmlEscaped()
                             : QStringLiteral("<a href=\"%1\">%2</a>")
                                   .arg(e.licenceUrl.toHtmlEscaped(), e.licenceName.toHtmlEscaped()));
        licence->setToolTip(e.licenceUrl);
        tree_->setItemWidget(row.item, ColumnLicence, licence);
        row.bar = new QProgressBar(tree_);
        row.bar->setObjectName(QStringLiteral("progress_") + e.id);
        row.bar->setRange(0, 100);
        row.bar->setValue(0);
        row.bar->setTextVisible(true);
        tree_->setItemWidget(row.item, ColumnProgress, row.bar);
    }
    connect(tree_, &QTreeWidget::itemSelectionChanged, this, &ModelManagerDialog::updateButtons);
    layout->addWidget(tree_, 1);

    details_ = new QLabel(this);
    details_->setObjectName(QStringLiteral("modelDetails"));
    details_->setWordWrap(true);
    details_->setTextFormat(Qt::RichText);
    details_->setOpenExternalLinks(true);
    layout->addWidget(details_);

    auto* buttons = new QHBoxLayout;
    downloadButton_ = new QPushButton(tr("Download"), this);
    downloadButton_->setObjectName(QStringLiteral("downloadButton"));
    pauseButton_ = new QPushButton(tr("Pause"), this);
    pauseButton_->setObjectName(QStringLiteral("pauseButton"));
    cancelButton_ = new QPushButton(tr("Cancel download"), this);
    cancelButton_->setObjectName(QStringLiteral("cancelButton"));
    deleteButton_ = new QPushButton(tr("Delete"), this);
    deleteButton_->setObjectName(QStringLiteral("deleteButton"));
    openButton_ = new QPushButton(tr("Open folder"), this);
    openButton_->setObjectName(QStringLiteral("openFolderButton"));
    for (QPushButton* b : {downloadButton_, pauseButton_, cancelButton_, deleteButton_, openButton_}) {
        buttons->addWidget(b);
    }
    buttons->addStretch(1);
    layout->addLayout(buttons);
    connect(downloadButton_, &QPushButton::clicked, this, [this] {
        if (Row* row = selectedRow()) {
            startDownload(row->entry->id);
        }
    });
    connect(pauseButton_, &QPushButton::clicked, this, [this] {
        Row* row = selectedRow();
        if (!row || !row->job) {
            return;
        }
        if (row->job->state() == appcore::PullJob::State::Paused) {
            startDownload(row->entry->id);
        } else {
            pauseDownload(row->entry->id);
        }
    });
    connect(cancelButton_, &QPushButton::clicked, this, [this] {
        if (Row* row = selectedRow()) {
            cancelDownload(row->entry->id);
        }
    });
    connect(deleteButton_, &QPushButton::clicked, this, [this] {
        Row* row = selectedRow();
        if (!row) {
            return;
        }
        const auto answer = QMessageBox::question(
            this, tr("Delete model"),
            tr("Delete %1 (%2) from the Hugging Face cache? Python programs that use the same cache lose it too.")
                .arg(row->entry->name, appcore::formatBytes(row->status.bytesOnDisk + row->status.partialBytes)));
        if (answer == QMessageBox::Yes) {
            deleteModel(row->entry->id);
        }
    });
    connect(openButton_, &QPushButton::clicked, this, [this] {
        Row* row = selectedRow();
        if (!row) {
            return;
        }
        const QString dir =
            row->status.snapshotDir.isEmpty() ? client_->cache().repoDir(row->entry->repoId) : row->status.snapshotDir;
        QDesktopServices::openUrl(QUrl::fromLocalFile(QDir(dir).exists() ? dir : client_->config().cacheDir));
    });

    auto* tokenRow = new QHBoxLayout;
    auto* tokenLabel = new QLabel(tr("Access token:"), this);
    token_ = new QLineEdit(this);
    token_->setObjectName(QStringLiteral("tokenField"));
    token_->setEchoMode(QLineEdit::Password);
    token_->setPlaceholderText(environmentTokenSource_.isEmpty()
                                   ? tr("hf_... (needed for gated models only)")
                                   : tr("using the token from %1").arg(environmentTokenSource_));
    tokenLabel->setBuddy(token_);
    rememberToken_ = new QCheckBox(tr("Remember"), this);
    rememberToken_->setObjectName(QStringLiteral("rememberToken"));
    auto* tokenHelp = new QLabel(QStringLiteral("<a href=\"%1/settings/tokens\">%2</a>")
                                     .arg(client_->config().endpoint.toString().toHtmlEscaped(), tr("Get a token")),
                                 this);
    tokenHelp->setOpenExternalLinks(true);
    tokenRow->addWidget(tokenLabel);
    tokenRow->addWidget(token_, 1);
    tokenRow->addWidget(rememberToken_);
    tokenRow->addWidget(tokenHelp);
    layout->addLayout(tokenRow);
    connect(token_, &QLineEdit::editingFinished, this, &ModelManagerDialog::applyToken);
    connect(rememberToken_, &QCheckBox::toggled, this, &ModelManagerDialog::applyToken);

    message_ = new QLabel(this);
    message_->setObjectName(QStringLiteral("messageLabel"));
    message_->setWordWrap(true);
    message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    message_->hide();
    layout->addWidget(message_);

    auto* close = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(close);
    if (!rows_.isEmpty()) {
        tree_->setCurrentItem(rows_.first().item);
    }
    updateButtons();
}

void ModelManagerDialog::applyToken() {
    const QString text = token_->text().trimmed();
    if (!text.isEmpty()) {
        client_->setToken(text, tr("the token field"));
    } else {
        // Back to what the environment gives (HF_TOKEN or the token file), if anything.
        const appcore::HubConfig env = appcore::HubConfig::fromEnvironment();
        client_->setToken(env.token, env.tokenSource);
    }
    QSettings settings;
    if (rememberToken_->isChecked() && !text.isEmpty()) {
        settings.setValue(QLatin1String(kTokenSetting), text);
    } else {
        settings.remove(QLatin1String(kTokenSetting));
    }
}

ModelManagerDialog::Row* ModelManagerDialog::selectedRow() {
    const QTreeWidgetItem* item = tree_->currentItem();
    return item ? rowFor(item->data(ColumnName, Qt::UserRole).toString()) : nullptr;
}

ModelManagerDialog::Row* ModelManagerDialog::rowFor(const QString& modelId) {
    for (Row& row : rows_) {
        if (row.entry->id == modelId) {
            return &row;
        }
    }
    return nullptr;
}

const ModelManagerDialog::Row* ModelManagerDialog::rowFor(const QString& modelId) const {
    for (const Row& row : rows_) {
        if (row.entry->id == modelId) {
            return &row;
        }
    }
    return nullptr;
}

void ModelManagerDialog::refreshStatus() {
    const appcore::HubCache cache = client_->cache();
    for (Row& row : rows_) {
        row.status = appcore::ModelRegistry::status(*row.entry, cache);
        updateRow(row);
    }
    updateButtons();
}

void ModelManagerDialog::startDownload(const QString& modelId) {
    Row* row = rowFor(modelId);
    if (!row) {
        return;
    }
    if (!token_->text().trimmed().isEmpty()) {
        applyToken();
    }
    message_->hide();
    for (const appcore::ModelEntry* e : registry_.withRequirements(*row->entry)) {
        Row* r = rowFor(e->id);
        if (!r) {
            continue;
        }
        if (r->job && r->job->state() == appcore::PullJob::State::Paused) {
            r->job->resume();
        } else if (!(r->job && r->job->isActive()) &&
                   (r == row || r->status.state != appcore::InstallState::Installed)) {
            startJob(*r);
        }
        updateRow(*r);
    }
    updateButtons();
}

void ModelManagerDialog::startJob(Row& row) {
    if (row.job) {
        row.job->disconnect(this);
        row.job->deleteLater();
    }
    row.failure.clear();
    row.exactSizeBytes = -1;
    appcore::PullJob* job = client_->pull(row.entry->repoId, row.entry->pullOptions());
    row.job = job;
    const QString id = row.entry->id;
    connect(job, &appcore::PullJob::listed, this, [this, id](qint64 bytesTotal, int) {
        if (Row* r = rowFor(id)) {
            r->exactSizeBytes = bytesTotal;
            updateRow(*r);
        }
    });
    connect(job, &appcore::PullJob::progressed, this, [this, id](const appcore::PullProgress& p) {
        if (Row* r = rowFor(id)) {
            updateRow(*r);
            emit downloadProgressed(id, p.bytesDone, p.bytesTotal);
        }
    });
    connect(job, &appcore::PullJob::stateChanged, this, [this, id](appcore::PullJob::State) {
        if (Row* r = rowFor(id)) {
            updateRow(*r);
            updateButtons();
        }
    });
    connect(job, &appcore::PullJob::finished, this, [this, id](const QString&) {
        if (Row* r = rowFor(id)) {
            r->status = appcore::ModelRegistry::status(*r->entry, client_->cache());
            updateRow(*r);
            updateButtons();
            showMessage(tr("%1 is ready.").arg(r->entry->name), false);
            emit downloadFinished(id);
            emit installedModelsChanged();
        }
    });
    connect(job, &appcore::PullJob::failed, this, [this, id](const appcore::HubError& error) {
        if (Row* r = rowFor(id)) {
            r->failure = error.message;
            r->status = appcore::ModelRegistry::status(*r->entry, client_->cache());
            updateRow(*r);
            updateButtons();
            showMessage(tr("%1: %2").arg(r->entry->name, error.message), true);
            if (error.kind == appcore::HubErrorKind::Gated || error.kind == appcore::HubErrorKind::Unauthorized) {
                token_->setFocus();
            }
            emit downloadFailed(id, error.message);
        }
    });
    connect(job, &appcore::PullJob::cancelled, this, [this, id] {
        if (Row* r = rowFor(id)) {
            r->status = appcore::ModelRegistry::status(*r->entry, client_->cache());
            updateRow(*r);
            updateButtons();
        }
    });
    emit downloadStarted(id);
}

void ModelManagerDialog::pauseDownload(const QString& modelId) {
    if (Row* row = rowFor(modelId); row && row->job) {
        row->job->pause();
    }
}

void ModelManagerDialog::cancelDownload(const QString& modelId) {
    if (Row* row = rowFor(modelId); row && row->job) {
        row->job->cancel();
    }
}

bool ModelManagerDialog::deleteModel(const QString& modelId) {
    Row* row = rowFor(modelId);
    if (!row) {
        return false;
    }
    if (row->job) {
        row->job->cancel();
        row->job->disconnect(this);
        row->job->deleteLater();
        row->job = nullptr;
    }
    QString error;
    const bool ok = client_->cache().removeRepo(row->entry->repoId, &error);
    row->failure.clear();
    row->status = appcore::ModelRegistry::status(*row->entry, client_->cache());
    updateRow(*row);
    updateButtons();
    if (!ok) {
        showMessage(tr("Could not delete %1: %2").arg(row->entry->name, error), true);
        return false;
    }
    showMessage(tr("%1 was deleted.").arg(row->entry->name), false);
    emit modelDeleted(modelId);
    emit installedModelsChanged();
    return true;
}

void ModelManagerDialog::updateRow(Row& row) {
    using State = appcore::PullJob::State;
    const appcore::ModelEntry& e = *row.entry;
    const qint64 size = row.exactSizeBytes >= 0 ? row.exactSizeBytes : e.approxSizeBytes;
    row.item->setText(ColumnSize, size <= 0
                                      ? QString()
                                      : (row.exactSizeBytes >= 0 ? appcore::formatBytes(size)
                                                                 : QStringLiteral("≈ ") + appcore::formatBytes(size)));
    QString status;
    int percent = 0;
    const State state = row.job ? row.job->state() : State::Idle;
    const appcore::PullProgress p = row.job ? row.job->progress() : appcore::PullProgress{};
    if (p.bytesTotal > 0) {
        percent = static_cast<int>(100.0 * static_cast<double>(p.bytesDone) / static_cast<double>(p.bytesTotal));
    }
    switch (state) {
        case State::Listing:
            status = tr("Starting...");
            break;
        case State::Downloading: {
            status = tr("Downloading %1%").arg(percent);
            if (p.bytesPerSecond > 0) {
                status += QStringLiteral(", %1/s").arg(appcore::formatBytes(static_cast<qint64>(p.bytesPerSecond)));
                const QString eta = formatDuration(p.etaSeconds);
                if (!eta.isEmpty()) {
                    status += QStringLiteral(", ") + eta;
                }
            }
            break;
        }
        case State::Paused:
            status = tr("Paused at %1%").arg(percent);
            break;
        case State::Failed:
            status = tr("Failed");
            break;
        default:
            break;
    }
    if (status.isEmpty()) {
        switch (row.status.state) {
            case appcore::InstallState::Installed:
                status = tr("Installed");
                percent = 100;
                break;
            case appcore::InstallState::Partial:
                status = tr("Incomplete");
                break;
            case appcore::InstallState::NotInstalled:
                status = e.gated ? tr("Available (gated: needs a token)") : tr("Available");
                percent = 0;
                break;
        }
    }
    row.item->setText(ColumnStatus, status);
    row.item->setToolTip(ColumnStatus, row.failure.isEmpty() ? row.status.note : row.failure);
    row.bar->setValue(std::clamp(percent, 0, 100));
    if (tree_->currentItem() == row.item) {
        updateButtons();
    }
}

void ModelManagerDialog::updateButtons() {
    using State = appcore::PullJob::State;
    const Row* row = selectedRow();
    const bool offline = client_->config().offline;
    const State state = row && row->job ? row->job->state() : State::Idle;
    const bool active = state == State::Listing || state == State::Downloading;
    const bool paused = state == State::Paused;
    const bool installed = row && row->status.state == appcore::InstallState::Installed;
    downloadButton_->setEnabled(row && !offline && !active && !paused);
    downloadButton_->setText(row && row->status.state == appcore::InstallState::Partial ? tr("Resume download")
                             : installed                                                ? tr("Check for updates")
                                                                                        : tr("Download"));
    pauseButton_->setEnabled(active || paused);
    pauseButton_->setText(paused ? tr("Resume") : tr("Pause"));
    cancelButton_->setEnabled(active || paused);
    deleteButton_->setEnabled(row && (row->status.state != appcore::InstallState::NotInstalled || paused));
    openButton_->setEnabled(row != nullptr);
    if (!row) {
        details_->clear();
        return;
    }
    const appcore::ModelEntry& e = *row->entry;
    QString html =
        QStringLiteral("<b>%1</b> &mdash; %2<br>").arg(e.name.toHtmlEscaped(), e.description.toHtmlEscaped());
    html += tr("Repository: <a href=\"%1\">%2</a>")
                .arg((client_->config().endpoint.toString() + QLatin1Char('/') + e.repoId).toHtmlEscaped(),
                     e.repoId.toHtmlEscaped());
    QStringList defaults;
    for (auto it = e.defaults.begin(); it != e.defaults.end(); ++it) {
        defaults.append(QStringLiteral("%1 %2").arg(it.key(), it.value().toVariant().toString()));
    }
    if (!defaults.isEmpty()) {
        html += QStringLiteral("<br>") + tr("Defaults: %1").arg(defaults.join(QStringLiteral(", ")).toHtmlEscaped());
    }
    if (e.gated) {
        html += QStringLiteral("<br>") + e.access.toHtmlEscaped();
    }
    if (!row->status.note.isEmpty()) {
        html += QStringLiteral("<br>") + row->status.note.toHtmlEscaped();
    }
    details_->setText(html);
}

void ModelManagerDialog::showMessage(const QString& text, bool error) {
    message_->setProperty("error", error);
    message_->setStyleSheet(error ? QStringLiteral("color: #e06c75;") : QString());
    message_->setText(text);
    message_->show();
}

QString ModelManagerDialog::statusText(const QString& modelId) const {
    const Row* row = rowFor(modelId);
    return row ? row->item->text(ColumnStatus) : QString();
}

int ModelManagerDialog::progressPercent(const QString& modelId) const {
    const Row* row = rowFor(modelId);
    return row ? row->bar->value() : -1;
}

QString ModelManagerDialog::messageText() const {
    return message_->text();
}

}  // namespace ui
