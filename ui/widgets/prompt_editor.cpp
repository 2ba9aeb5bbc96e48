#include "ui/widgets/prompt_editor.h"

#include <QKeyEvent>
#include <QMimeData>
#include <QSettings>
#include <QUrl>

namespace ui {
namespace {

bool isSubmitKey(const QKeyEvent* k) {
    return (k->key() == Qt::Key_Return || k->key() == Qt::Key_Enter) && (k->modifiers() & Qt::ControlModifier);
}

}  // namespace

bool isMediaMimeData(const QMimeData* mime) {
    if (!mime) {
        return false;
    }
    if (mime->hasImage()) {
        return true;
    }
    if (mime->hasUrls()) {
        for (const QUrl& u : mime->urls()) {
            if (u.isLocalFile()) {
                return true;
            }
        }
    }
    return false;
}

PromptEditor::PromptEditor(QWidget* parent) : QPlainTextEdit(parent) {
    setTabChangesFocus(true);
    setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
    setVisibleLines(4);
}

void PromptEditor::setVisibleLines(int lines) {
    const int h =
        fontMetrics().lineSpacing() * lines + static_cast<int>(document()->documentMargin() * 2) + frameWidth() * 2 + 4;
    setFixedHeight(h);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void PromptEditor::setHistoryKey(const QString& key) {
    historyKey_ = key;
    if (!key.isEmpty()) {
        history_ = QSettings().value(key).toStringList();
        while (history_.size() > kMaxHistory) {
            history_.removeLast();
        }
    }
}

void PromptEditor::saveHistory() const {
    if (!historyKey_.isEmpty()) {
        QSettings().setValue(historyKey_, history_);
    }
}

void PromptEditor::commitToHistory() {
    const QString text = toPlainText().trimmed();
    historyPos_ = -1;
    if (text.isEmpty()) {
        return;
    }
    history_.removeAll(text);
    history_.prepend(text);
    while (history_.size() > kMaxHistory) {
        history_.removeLast();
    }
    saveHistory();
}

void PromptEditor::browseHistory(int direction) {
    if (history_.isEmpty()) {
        return;
    }
    if (historyPos_ < 0) {
        draft_ = toPlainText();
    }
    // Older entries have higher positions; -1 is the draft being typed.
    const int pos = qBound(-1, historyPos_ - direction, static_cast<int>(history_.size()) - 1);
    historyPos_ = pos;
    setPlainText(pos < 0 ? draft_ : history_[pos]);
    moveCursor(QTextCursor::End);
}

bool PromptEditor::event(QEvent* e) {
    // Claim Ctrl+Enter before the window's shortcut does, so it works the same in every window state.
    if (e->type() == QEvent::ShortcutOverride && isSubmitKey(static_cast<QKeyEvent*>(e))) {
        e->accept();
        return true;
    }
    return QPlainTextEdit::event(e);
}

void PromptEditor::keyPressEvent(QKeyEvent* e) {
    if (isSubmitKey(e)) {
        emit submitRequested();
        e->accept();
        return;
    }
    if ((e->modifiers() & Qt::ControlModifier) && (e->key() == Qt::Key_Up || e->key() == Qt::Key_Down)) {
        browseHistory(e->key() == Qt::Key_Up ? -1 : 1);
        e->accept();
        return;
    }
    QPlainTextEdit::keyPressEvent(e);
}

bool PromptEditor::canInsertFromMimeData(const QMimeData* source) const {
    return isMediaMimeData(source) || QPlainTextEdit::canInsertFromMimeData(source);
}

void PromptEditor::insertFromMimeData(const QMimeData* source) {
    if (isMediaMimeData(source)) {
        emit mediaPasted(source);
        return;
    }
    QPlainTextEdit::insertFromMimeData(source);
}

}  // namespace ui
