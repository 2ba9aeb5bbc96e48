// SeedControl: the seed field with its mode (random each run, fixed, or increment after each run), a
// button for a new random seed and one to copy it.
#pragma once

#include <QWidget>

class QComboBox;
class QLineEdit;
class QToolButton;

namespace ui {

enum class SeedMode { Random = 0, Fixed, Increment };

class SeedControl : public QWidget {
    Q_OBJECT
public:
    explicit SeedControl(QWidget* parent = nullptr);

    quint64 seed() const;
    SeedMode mode() const;
    /// The seed the next job uses, advancing per mode: Random draws a new one (and shows it), Fixed
    /// keeps it, Increment uses it and shows the next.
    quint64 takeSeedForJob();
    /// A fresh random seed (32-bit, so it is easy to read and type).
    static quint64 randomSeed();
    QLineEdit* field() const { return field_; }

public slots:
    void setSeed(quint64 seed);
    void setMode(ui::SeedMode mode);
    /// "Reuse this seed": sets it and switches to Fixed.
    void reuseSeed(quint64 seed);
    void copyToClipboard();

signals:
    void modeChanged(ui::SeedMode mode);

private:
    QLineEdit* field_ = nullptr;
    QComboBox* mode_ = nullptr;
    QToolButton* dice_ = nullptr;
    QToolButton* copy_ = nullptr;
};

}  // namespace ui
