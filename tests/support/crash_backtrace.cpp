#include "support/crash_backtrace.h"

#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace test_support {
namespace {

// The running test case and section, kept where the handler can print them without allocating.
char g_test_case[512];
char g_section[512];

void copy_name(char (&dst)[512], const std::string& name) {
    const size_t n = name.size() < sizeof(dst) - 1 ? name.size() : sizeof(dst) - 1;
    std::memcpy(dst, name.data(), n);
    dst[n] = '\0';
}

struct CrashContextListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        TestEventListenerBase::testCaseStarting(info);  // the base keeps the stacks its *Ended events pop
        copy_name(g_test_case, info.name);
        g_section[0] = '\0';
    }
    void sectionStarting(const Catch::SectionInfo& info) override {
        TestEventListenerBase::sectionStarting(info);
        copy_name(g_section, info.name);
    }
};
CATCH_REGISTER_LISTENER(CrashContextListener)

void write_stderr(const char* s) {
    // async-signal-safe: write(2) only
    ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
    (void)ignored;
}

void write_hex(const char* label, uintptr_t v) {
    char buf[32];
    int i = 31;
    buf[i] = '\0';
    do {
        buf[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0 && i > 2);
    buf[--i] = 'x';
    buf[--i] = '0';
    write_stderr(label);
    write_stderr(buf + i);
}

// " in <object> + offset (<symbol> + offset)" for a code address; false where it lies in no loaded object.
bool write_code_address(uintptr_t address) {
    Dl_info dl{};
    if (address == 0 || ::dladdr(reinterpret_cast<void*>(address), &dl) == 0) {
        return false;
    }
    write_stderr(" in ");
    write_stderr(dl.dli_fname != nullptr ? dl.dli_fname : "?");
    write_hex(" + ", address - reinterpret_cast<uintptr_t>(dl.dli_fbase));
    if (dl.dli_sname != nullptr) {
        write_stderr(" (");
        write_stderr(dl.dli_sname);
        write_hex(" + ", address - reinterpret_cast<uintptr_t>(dl.dli_saddr));
        write_stderr(")");
    }
    return true;
}

// Where the fault happened: the program counter (the frame the unwinder may not get past, e.g. a jump to a bad address)
// and its object and symbol, and the faulting address.
void write_fault_site(const siginfo_t* info, const void* context) {
    write_hex("*** fault address ", reinterpret_cast<uintptr_t>(info->si_addr));
#if defined(__x86_64__)
    const auto* uc = static_cast<const ucontext_t*>(context);
    const auto pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
    const auto sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
    write_hex(", pc ", pc);
    write_hex(", sp ", sp);
    if (!write_code_address(pc)) {
        // A call to a bad address (a null function pointer, an unresolved weak symbol) leaves its return address on
        // top of the stack: the caller.
        write_hex("\n*** called from ", *reinterpret_cast<const uintptr_t*>(sp));
        write_code_address(*reinterpret_cast<const uintptr_t*>(sp));
    }
#else
    (void)context;
#endif
    write_stderr("\n");
}

// The names of the signals the handler takes (strsignal is not async-signal-safe).
const char* signal_name(int sig) {
    switch (sig) {
        case SIGSEGV: return "SIGSEGV (segmentation fault)";
        case SIGBUS: return "SIGBUS (bus error)";
        case SIGFPE: return "SIGFPE (arithmetic exception)";
        case SIGILL: return "SIGILL (illegal instruction)";
        case SIGABRT: return "SIGABRT (aborted)";
        default: return "(other)";
    }
}

void on_fatal_signal(int sig, siginfo_t* info, void* context) {
    write_stderr("\n*** fatal signal ");
    write_stderr(signal_name(sig));
    write_stderr(" in test case \"");
    write_stderr(g_test_case);
    write_stderr("\", last section entered \"");
    write_stderr(g_section);
    write_stderr("\"\n");
    write_fault_site(info, context);
    write_stderr("*** native stack (innermost first)\n");
    void* frames[128];
    const int n = ::backtrace(frames, 128);
    ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
    write_stderr("*** end of stack\n");
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// The handler's own check (tests/tools/check_crash_handler.sh): a call through a null function pointer, the kind of
// crash it was written for. Hidden: it kills the runner.
TEST_CASE("crash handler self-test: a call to address 0", "[.crash-handler]") {
    void (*volatile null_function)() = nullptr;
    call_for_crash_self_test(null_function);
}

// Recurses until the stack overflows; the handler must still report it (it runs on its own stack).
volatile bool g_stop_recursion = false;  // never set: the compiler cannot see that the recursion is endless

__attribute__((noinline)) int recurse_for_crash_self_test(volatile int depth) {
    volatile char frame[256];
    frame[0] = static_cast<char>(depth);
    if (g_stop_recursion) return frame[0];
    return recurse_for_crash_self_test(depth + 1) + frame[0];
}

TEST_CASE("crash handler self-test: a stack overflow", "[.crash-handler-overflow]") {
    CHECK(recurse_for_crash_self_test(0) != 0);
}

}  // namespace

// Exported (ENABLE_EXPORTS), so that the handler names it as the caller; not a tail call, so that it is the caller.
__attribute__((noinline)) void call_for_crash_self_test(void (*function)()) {
    function();
    asm volatile("" ::: "memory");
}

void install_crash_backtrace() {
    // backtrace() loads libgcc_s on its first call; do that now, not inside a handler.
    void* warm[2];
    (void)::backtrace(warm, 2);
    // The handler runs on its own stack (SA_ONSTACK), so that a stack overflow is reported too.
    static char alt_stack[64 * 1024];
    stack_t ss{};
    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof(alt_stack);
    ::sigaltstack(&ss, nullptr);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction sa {};
        sa.sa_sigaction = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
        ::sigaction(sig, &sa, nullptr);
    }
}

}  // namespace test_support
