// PromptEditor: a plain-text prompt field with history (Ctrl+Up / Ctrl+Down, or the history menu),
// Ctrl+Enter to generate, and images pasted or dropped into it handed on instead of inserted as text.
#pragma once

#include <QPlainTextEdit>
#include <QStringList>

namespace ui {

class PromptEditor : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit PromptEditor(QWidget* parent = nullptr);

    /// Visible height in text lines.
    void setVisibleLines(int lines);
    /// The history lives in QSettings under this key ("" keeps it in memory only).
    void setHistoryKey(const QString& key);
    QStringList history() const { return history_; }
    /// Records the current text at the top of the history (duplicates move up; at most kMaxHistory).
    void commitToHistory();
    /// Browses the history: -1 older, +1 newer. The text being typed is kept as the newest entry.
    void browseHistory(int direction);

    static constexpr int kMaxHistory = 100;

signals:
    /// Ctrl+Enter.
    void submitRequested();
    /// An image (or a file) was pasted or dropped; the receiver decides what it is.
    void mediaPasted(const QMimeData* mime);

protected:
    bool event(QEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;
    bool canInsertFromMimeData(const QMimeData* source) const override;
    void insertFromMimeData(const QMimeData* source) override;

private:
    void saveHistory() const;

    QString historyKey_;
    QStringList history_;
    int historyPos_ = -1;  // -1: editing the draft
    QString draft_;
};

/// True when mime data holds an image or a non-text file rather than text.
bool isMediaMimeData(const QMimeData* mime);

}  // namespace ui
