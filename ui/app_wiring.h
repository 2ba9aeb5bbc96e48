// How the desktop app's parts are connected: engine settings → a new engine, the model manager's
// downloads → the model picker, the hub cache the manager downloads into. app/main_gui.cpp uses these,
// and so do the tests, so the tests check the connections the app really has.
#pragma once

#include <functional>

#include "core/app_settings.h"
#include "core/hub_config.h"
#include "ui/engine_bridge.h"

namespace ui {

class MainWindow;
class ModelManagerDialog;

/// Makes the engine factory for some engine settings (EngineBridge::realEngineFactory in the app).
using EngineFactoryMaker = std::function<EngineBridge::EngineFactory(const appcore::EngineSettings&)>;

/// The hub settings the model manager downloads with: the environment's (HF_ENDPOINT, HF_TOKEN, ...) but
/// the cache folder the user chose in Settings, which is the one the model picker scans.
appcore::HubConfig hubConfigFor(const appcore::AppSettings& settings, appcore::HubConfig environment);

/// When the user changes device, precision or memory mode, the bridge gets a new engine made by `make`
/// (at once when idle, else when the queue drains). Other settings changes leave the engine alone.
void connectEngineSettings(MainWindow* window, EngineBridge* bridge, EngineFactoryMaker make);

/// Models the manager downloads or deletes appear in (or leave) the window's model picker.
void connectModelManager(MainWindow* window, ModelManagerDialog* dialog);

}  // namespace ui
