#include "ui/widgets/seed_control.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QRandomGenerator>
#include <QRegularExpressionValidator>
#include <QToolButton>

#include "ui/icons.h"

namespace ui {

SeedControl::SeedControl(QWidget* parent) : QWidget(parent) {
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(6);
    field_ = new QLineEdit(this);
    field_->setObjectName(QStringLiteral("seedField"));
    // Up to 20 digits: any 64-bit seed.
    field_->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,20}")), field_));
    field_->setToolTip(tr("The seed. The same seed and parameters give the same result."));
    field_->setMinimumWidth(field_->fontMetrics().horizontalAdvance(QStringLiteral("0000000000")) + 16);
    mode_ = new QComboBox(this);
    mode_->addItem(tr("Random"), static_cast<int>(SeedMode::Random));
    mode_->addItem(tr("Fixed"), static_cast<int>(SeedMode::Fixed));
    mode_->addItem(tr("Increment"), static_cast<int>(SeedMode::Increment));
    mode_->setToolTip(tr("Random: a new seed each run. Fixed: keep it. Increment: add 1 after each run."));
    dice_ = new QToolButton(this);
    dice_->setIcon(icon(QStringLiteral("dice")));
    dice_->setToolTip(tr("New random seed"));
    dice_->setAutoRaise(true);
    copy_ = new QToolButton(this);
    copy_->setIcon(icon(QStringLiteral("copy")));
    copy_->setToolTip(tr("Copy the seed"));
    copy_->setAutoRaise(true);
    layout->addWidget(field_, 1);
    layout->addWidget(mode_);
    layout->addWidget(dice_);
    layout->addWidget(copy_);
    setFocusProxy(field_);

    connect(dice_, &QToolButton::clicked, this, [this] { setSeed(randomSeed()); });
    connect(copy_, &QToolButton::clicked, this, &SeedControl::copyToClipboard);
    connect(mode_, &QComboBox::currentIndexChanged, this, [this] { emit modeChanged(mode()); });
    setSeed(randomSeed());
}

quint64 SeedControl::randomSeed() {
    return QRandomGenerator::global()->bounded(Q_UINT64_C(4294967296));
}

quint64 SeedControl::seed() const {
    bool ok = false;
    const quint64 v = field_->text().toULongLong(&ok);
    return ok ? v : 0;
}

SeedMode SeedControl::mode() const {
    return static_cast<SeedMode>(mode_->currentData().toInt());
}

quint64 SeedControl::takeSeedForJob() {
    switch (mode()) {
        case SeedMode::Random: {
            const quint64 s = randomSeed();
            setSeed(s);
            return s;
        }
        case SeedMode::Fixed:
            return seed();
        case SeedMode::Increment: {
            const quint64 s = seed();
            setSeed(s + 1);
            return s;
        }
    }
    return seed();
}

void SeedControl::setSeed(quint64 seed) {
    field_->setText(QString::number(seed));
}

void SeedControl::setMode(SeedMode mode) {
    mode_->setCurrentIndex(mode_->findData(static_cast<int>(mode)));
}

void SeedControl::reuseSeed(quint64 seed) {
    setSeed(seed);
    setMode(SeedMode::Fixed);
}

void SeedControl::copyToClipboard() {
    QApplication::clipboard()->setText(QString::number(seed()));
}

}  // namespace ui
