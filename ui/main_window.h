// The main window. With no model installed it shows an empty state that leads to the model manager.
#pragma once

#include <QMainWindow>

class QStackedWidget;

namespace ui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

signals:
    void modelManagerRequested();

public slots:
    void openModelManager();

private:
    QWidget* buildEmptyState();
    QStackedWidget* pages_ = nullptr;
};

}  // namespace ui
