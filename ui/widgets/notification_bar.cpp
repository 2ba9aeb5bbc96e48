#include "ui/widgets/notification_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QStyle>
#include <QTimer>
#include <QToolButton>

#include "ui/icons.h"

namespace ui {

NotificationBar::NotificationBar(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("notificationBar"));
    setAttribute(Qt::WA_StyledBackground);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(12, 8, 8, 8);
    layout->setSpacing(10);
    icon_ = new QLabel(this);
    icon_->setFixedSize(20, 20);
    text_ = new QLabel(this);
    text_->setObjectName(QStringLiteral("notificationText"));
    text_->setWordWrap(true);
    text_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    action_ = new QPushButton(this);
    action_->setObjectName(QStringLiteral("notificationAction"));
    close_ = new QToolButton(this);
    close_->setIcon(icon(QStringLiteral("close")));
    close_->setAutoRaise(true);
    close_->setToolTip(tr("Dismiss"));
    layout->addWidget(icon_, 0, Qt::AlignTop);
    layout->addWidget(text_, 1);
    layout->addWidget(action_, 0, Qt::AlignVCenter);
    layout->addWidget(close_, 0, Qt::AlignTop);
    autoHide_ = new QTimer(this);
    autoHide_->setSingleShot(true);
    connect(autoHide_, &QTimer::timeout, this, &NotificationBar::dismiss);
    connect(close_, &QToolButton::clicked, this, &NotificationBar::dismiss);
    connect(action_, &QPushButton::clicked, this, [this] {
        auto cb = callback_;
        dismiss();
        if (cb) {
            cb();
        }
    });
    hide();
}

void NotificationBar::showMessage(Kind kind, const QString& text, const QString& actionText,
                                  std::function<void()> action) {
    kind_ = kind;
    const char* names[] = {"info", "warning", "error"};
    setProperty("kind", QString::fromLatin1(names[static_cast<int>(kind)]));
    style()->unpolish(this);
    style()->polish(this);
    icon_->setPixmap(icon(kind == Kind::Info ? QStringLiteral("info") : QStringLiteral("warning")).pixmap(20, 20));
    text_->setText(text);
    callback_ = std::move(action);
    action_->setText(actionText);
    action_->setVisible(!actionText.isEmpty() && callback_);
    show();
    if (kind == Kind::Info) {
        autoHide_->start(6000);
    } else {
        autoHide_->stop();
    }
}

void NotificationBar::dismiss() {
    autoHide_->stop();
    callback_ = nullptr;
    hide();
}

QString NotificationBar::text() const {
    return isHidden() ? QString() : text_->text();
}

}  // namespace ui
