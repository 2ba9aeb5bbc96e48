// Catch2 runner for the UI tests: a QApplication (offscreen unless a platform is set), deterministic
// hashing, and settings/data redirected to Qt's test locations so a run never touches the user's.
#define CATCH_CONFIG_RUNNER
#define CATCH_CONFIG_NO_POSIX_SIGNALS  // support/crash_backtrace.h handles fatal signals
#include <catch2/catch.hpp>

#include "support/crash_backtrace.h"
#include "support/test_environment.h"

#include <QApplication>
#include <QHashSeed>
#include <QSettings>
#include <QStandardPaths>

#include "ui/generation_types.h"

int main(int argc, char** argv) {
    test_support::apply_default_test_environment();
    test_support::install_crash_backtrace();
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
        qputenv("QT_QPA_PLATFORM", "offscreen");
    }
    QHashSeed::setDeterministicGlobalSeed();
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("KinoraTests"));
    QApplication::setOrganizationName(QStringLiteral("KinoraTests"));
    QSettings().clear();
    ui::registerMetaTypes();
    return Catch::Session().run(argc, argv);
}
