// Helpers for the UI tests: a bridge over the FakeEngine, tiny fake model folders, waiting on signals.
#pragma once

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <functional>
#include <memory>

#include "support/fake_engine.h"
#include "ui/engine_bridge.h"

namespace uitest {

/// A bridge whose engine is a FakeEngine; `fake` points at it while the bridge lives.
struct FakeBridge {
    testsupport::FakeEngine* fake = nullptr;
    std::unique_ptr<ui::EngineBridge> bridge;

    explicit FakeBridge(testsupport::FakeEngine::ScriptFn script = nullptr) {
        bridge = std::make_unique<ui::EngineBridge>(
            [this, script](engine::Callbacks cb) -> engine::Expected<std::unique_ptr<engine::Engine>> {
                auto f = std::make_unique<testsupport::FakeEngine>(std::move(cb), script);
                fake = f.get();
                return std::unique_ptr<engine::Engine>(std::move(f));
            });
    }
};

/// Runs the event loop until pred() holds or timeoutMs passes; returns pred().
inline bool waitUntil(const std::function<bool()>& pred, int timeoutMs = 5000) {
    QDeadlineTimer deadline(timeoutMs);
    while (!pred() && !deadline.hasExpired()) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    }
    return pred();
}

/// A folder that looks like an installed diffusers model of the given pipeline class.
inline QString makeDiffusersModel(const QString& parent, const QString& name, const QString& pipelineClass) {
    QDir(parent).mkpath(name);
    QFile f(QDir(parent).filePath(name + QStringLiteral("/model_index.json")));
    f.open(QIODevice::WriteOnly);
    f.write(
        QStringLiteral("{\"_class_name\": \"%1\", \"_diffusers_version\": \"0.33.0\"}").arg(pipelineClass).toUtf8());
    return QDir(parent).filePath(name);
}

/// A folder holding one (empty) LVDM checkpoint, like the VideoCrafter/DynamiCrafter hub repos.
inline QString makeCheckpointModel(const QString& parent, const QString& name) {
    QDir(parent).mkpath(name);
    QFile f(QDir(parent).filePath(name + QStringLiteral("/model.ckpt")));
    f.open(QIODevice::WriteOnly);
    f.write("not a real checkpoint");
    return QDir(parent).filePath(name);
}

/// A temporary folder on the same file system as the (test-mode) home trash, so moveToTrash works.
inline std::unique_ptr<QTemporaryDir> homeTempDir() {
    const QString base = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
    QDir().mkpath(base);
    return std::make_unique<QTemporaryDir>(base + QStringLiteral("/kinora-test-XXXXXX"));
}

/// A small picture with a recognisable pattern.
inline QImage testImage(int w, int h) {
    QImage img(w, h, QImage::Format_RGB888);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            img.setPixelColor(x, y, QColor((x * 255) / qMax(1, w - 1), (y * 255) / qMax(1, h - 1), 96));
        }
    }
    return img;
}

}  // namespace uitest
