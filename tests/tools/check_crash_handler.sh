#!/usr/bin/env bash
# Runs a test runner's hidden crash test cases (tests/support/crash_backtrace.cpp) and checks what the crash handler
# printed: for a call to address 0 the signal and test case, the caller of the null function pointer (resolved to the
# test's own function) and the native stack; for a stack overflow the signal, test case and stack (the handler runs
# on its own stack); and that the runner died of the signal both times.
#   tests/tools/check_crash_handler.sh <test runner>
set -u
runner="${1:?usage: check_crash_handler.sh <test runner>}"
out="$("$runner" "[.crash-handler]" 2>&1)"
status=$?
echo "$out"
echo "exit status $status"
fail=0
expect() {
    grep -Eq "$1" <<< "$out" || { echo "FAIL: no line matching: $1"; fail=1; }
}
expect '^\*\*\* fatal signal SIGSEGV \(segmentation fault\) in test case "crash handler self-test: a call to address 0"'
expect '^\*\*\* fault address 0x0, pc 0x0, sp 0x[0-9a-f]+$'
expect '^\*\*\* called from 0x[0-9a-f]+ in .* \+ 0x[0-9a-f]+ \(.*call_for_crash_self_test.* \+ 0x[0-9a-f]+\)$'
expect '^\*\*\* native stack \(innermost first\)$'
expect '^\*\*\* end of stack$'
(( status == 128 + 11 )) || { echo "FAIL: expected death by SIGSEGV (status 139), got $status"; fail=1; }

# A stack overflow: reported from the handler's own stack.
out="$("$runner" "[.crash-handler-overflow]" 2>&1)"
status=$?
echo "$out" | head -12
echo "exit status $status"
expect '^\*\*\* fatal signal SIGSEGV \(segmentation fault\) in test case "crash handler self-test: a stack overflow"'
expect '^\*\*\* end of stack$'
(( status == 128 + 11 )) || { echo "FAIL: expected death by SIGSEGV (status 139), got $status"; fail=1; }
exit $fail
