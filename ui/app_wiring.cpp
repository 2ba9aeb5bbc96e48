#include "ui/app_wiring.h"

#include <memory>
#include <utility>

#include "ui/dialogs/model_manager_dialog.h"
#include "ui/main_window.h"

namespace ui {

appcore::HubConfig hubConfigFor(const appcore::AppSettings& settings, appcore::HubConfig environment) {
    if (!settings.hubCacheDir.isEmpty()) {
        environment.cacheDir = settings.hubCacheDir;
    }
    return environment;
}

void connectEngineSettings(MainWindow* window, EngineBridge* bridge, EngineFactoryMaker make) {
    auto current = std::make_shared<appcore::EngineSettings>(window->settings().engine);
    QObject::connect(window, &MainWindow::settingsChanged, bridge,
                     [bridge, current, make = std::move(make)](const appcore::AppSettings& s) {
                         if (s.engine != *current) {
                             *current = s.engine;
                             bridge->setEngineFactory(make(s.engine));
                         }
                     });
}

void connectModelManager(MainWindow* window, ModelManagerDialog* dialog) {
    QObject::connect(dialog, &ModelManagerDialog::installedModelsChanged, window, &MainWindow::rescanModels);
}

}  // namespace ui
