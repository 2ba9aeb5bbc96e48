#include "support/crash_backtrace.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace test_support {
namespace {

void write_stderr(const char* s) {
    // async-signal-safe: write(2) only
    ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
    (void)ignored;
}

void on_fatal_signal(int sig) {
    write_stderr("\n*** fatal signal ");
    write_stderr(::strsignal(sig));  // reads a static table; good enough on the way down
    write_stderr(": native stack (innermost first)\n");
    void* frames[128];
    const int n = ::backtrace(frames, 128);
    ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
    write_stderr("*** end of stack\n");
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

}  // namespace

void install_crash_backtrace() {
    // backtrace() loads libgcc_s on its first call; do that now, not inside a handler.
    void* warm[2];
    (void)::backtrace(warm, 2);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction sa {};
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
        ::sigaction(sig, &sa, nullptr);
    }
}

}  // namespace test_support
