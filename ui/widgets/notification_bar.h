// NotificationBar: a non-modal banner above the canvas for failures, warnings and notes, with an
// optional action button ("Use 512×512", "Open Settings") and a close button. Info notes hide by
// themselves after a few seconds; errors stay until closed or replaced.
#pragma once

#include <QWidget>
#include <functional>

class QLabel;
class QPushButton;
class QTimer;
class QToolButton;

namespace ui {

class NotificationBar : public QWidget {
    Q_OBJECT
public:
    enum class Kind { Info = 0, Warning, Error };

    explicit NotificationBar(QWidget* parent = nullptr);

    /// Shows a message (replacing any other). actionText empty: no action button.
    void showMessage(Kind kind, const QString& text, const QString& actionText = {},
                     std::function<void()> action = nullptr);
    void dismiss();
    QString text() const;
    Kind kind() const { return kind_; }

private:
    Kind kind_ = Kind::Info;
    QLabel* icon_ = nullptr;
    QLabel* text_ = nullptr;
    QPushButton* action_ = nullptr;
    QToolButton* close_ = nullptr;
    QTimer* autoHide_ = nullptr;
    std::function<void()> callback_;
};

}  // namespace ui
