// The app's icons: SVGs drawn for Kinora in resources/icons, loaded from the Qt resources.
#pragma once

#include <QIcon>
#include <QString>

namespace ui {

/// The icon ":/icons/<name>.svg" (an empty icon when there is none).
QIcon icon(const QString& name);

}  // namespace ui
