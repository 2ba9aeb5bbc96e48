// Catch2 runner for the appcore tests: a QCoreApplication (QApplication for the widget tests, on the
// offscreen platform) must exist before any QObject; each test drives the event loop itself.
#define CATCH_CONFIG_RUNNER
#define CATCH_CONFIG_NO_POSIX_SIGNALS  // support/crash_backtrace.h handles fatal signals
#include <catch2/catch.hpp>

#include "support/crash_backtrace.h"
#include "support/test_environment.h"

#include <QHashSeed>
#include <QtGlobal>

#ifdef KINORA_TEST_WIDGETS
#include <QApplication>
using TestApplication = QApplication;
#else
#include <QCoreApplication>
using TestApplication = QCoreApplication;
#endif

int main(int argc, char** argv) {
    test_support::apply_default_test_environment();
    test_support::install_crash_backtrace();
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM")) {
        qputenv("QT_QPA_PLATFORM", "offscreen");  // also when ctest lists the tests
    }
    QHashSeed::setDeterministicGlobalSeed();
    TestApplication app(argc, argv);
    TestApplication::setApplicationName(QStringLiteral("kinora-tests"));
    return Catch::Session().run(argc, argv);
}
