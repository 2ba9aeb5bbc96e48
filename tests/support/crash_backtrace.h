// A fatal-signal handler for the test runners: prints the running test case and the last section it entered, the
// faulting program counter (object, symbol, offset; for a call to address 0, its caller) and the native stack to
// stderr, then lets the signal take its default course. The runners define CATCH_CONFIG_NO_POSIX_SIGNALS, so that this
// handler sees the fault itself: Catch2's handler would report the test case and raise the signal again from inside
// itself, where the fault's own frame is lost. Symbol names need the executable's symbols exported (ENABLE_EXPORTS);
// otherwise a line still has the object and offset, which `addr2line -Cfe <object> <offset>` resolves.
#pragma once

namespace test_support {

void install_crash_backtrace();

/// Calls `function` (the crash handler's self-test calls a null pointer through it).
void call_for_crash_self_test(void (*function)());

}  // namespace test_support
