// Open/save dialogs that remember the last folder per purpose ("export", "input-image", ...) in QSettings.
#pragma once

#include <QString>

class QWidget;

namespace ui {

/// The folder last used for this purpose (Pictures when none).
QString rememberedDir(const QString& purpose);
/// Stores the folder of path (or path itself when it is a folder) for this purpose.
void rememberDir(const QString& purpose, const QString& path);

/// Save dialog starting in the remembered folder with suggestedName; "" when cancelled.
QString askSaveFileName(QWidget* parent, const QString& purpose, const QString& caption, const QString& suggestedName,
                        const QString& filter);
/// Open dialog starting in the remembered folder; "" when cancelled.
QString askOpenFileName(QWidget* parent, const QString& purpose, const QString& caption, const QString& filter);
/// Folder dialog starting in the remembered folder (or start when given); "" when cancelled.
QString askDirectory(QWidget* parent, const QString& purpose, const QString& caption, const QString& start = {});

}  // namespace ui
