// A fatal-signal handler for the test runners: prints the native stack to stderr, then lets the signal take its
// default course. Install it before Catch::Session runs: Catch2's own handler reports the test case, restores the
// handler that was there before (this one) and raises the signal again, so a crash in CI names both the test case
// and the frames. Symbol names need the executable's symbols exported (ENABLE_EXPORTS); otherwise the line still has
// the object and offset, which `addr2line -Cfe <object> <offset>` resolves.
#pragma once

namespace test_support {

void install_crash_backtrace();

}  // namespace test_support
