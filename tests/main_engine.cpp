// Catch2 runner for the engine and kernel tests: single-threaded LibTorch (reproducible reductions;
// ctest runs tests in parallel instead). KINORA_TEST_THREADS overrides.
#define CATCH_CONFIG_RUNNER
#define CATCH_CONFIG_NO_POSIX_SIGNALS  // support/crash_backtrace.h handles fatal signals
#include <catch2/catch.hpp>

#include "support/crash_backtrace.h"
#include "support/test_environment.h"

#include <ATen/Parallel.h>

#include <cstdlib>

int main(int argc, char** argv) {
    test_support::apply_default_test_environment();
    test_support::install_crash_backtrace();
    int threads = 1;
    if (const char* t = std::getenv("KINORA_TEST_THREADS")) {
        threads = std::max(1, std::atoi(t));
    }
    at::set_num_threads(threads);
    return Catch::Session().run(argc, argv);
}
