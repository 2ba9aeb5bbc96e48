#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QStackedWidget>
#include <QVBoxLayout>

namespace ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("Kinora"));
    resize(1280, 800);
    setMinimumSize(960, 600);

    auto* fileMenu = menuBar()->addMenu(tr("&File"));
    auto* quit = fileMenu->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, qApp, &QApplication::quit);
    auto* modelsMenu = menuBar()->addMenu(tr("&Models"));
    auto* manager = modelsMenu->addAction(tr("Model &Manager..."));
    manager->setShortcut(QKeySequence(tr("Ctrl+M")));
    connect(manager, &QAction::triggered, this, &MainWindow::openModelManager);

    pages_ = new QStackedWidget(this);
    pages_->addWidget(buildEmptyState());
    setCentralWidget(pages_);
}

QWidget* MainWindow::buildEmptyState() {
    auto* page = new QWidget(this);
    page->setObjectName(QStringLiteral("emptyState"));
    auto* layout = new QVBoxLayout(page);
    layout->addStretch(2);
    auto* title = new QLabel(tr("No model installed yet"), page);
    title->setObjectName(QStringLiteral("emptyStateTitle"));
    title->setAlignment(Qt::AlignCenter);
    auto* body = new QLabel(tr("Kinora generates images with Sana and videos with VideoCrafter, on your own "
                               "machine.\nDownload a model to start: Sana-Sprint 0.6B is the quickest first step."),
                            page);
    body->setObjectName(QStringLiteral("emptyStateBody"));
    body->setAlignment(Qt::AlignCenter);
    body->setWordWrap(true);
    auto* open = new QPushButton(tr("Open the Model Manager"), page);
    open->setObjectName(QStringLiteral("primaryButton"));
    open->setDefault(true);
    connect(open, &QPushButton::clicked, this, &MainWindow::openModelManager);
    layout->addWidget(title);
    layout->addSpacing(8);
    layout->addWidget(body);
    layout->addSpacing(16);
    layout->addWidget(open, 0, Qt::AlignHCenter);
    layout->addStretch(3);
    return page;
}

void MainWindow::openModelManager() { emit modelManagerRequested(); }

}  // namespace ui
