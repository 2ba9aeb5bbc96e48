#!/usr/bin/env bash
# Checks that a program's calls into std::filesystem run libstdc++'s code, not the copies pip's libtorch exports
# (docs/ARCHITECTURE.md, "libstdc++ before torch on every link line"). With a shared libstdc++, it must come before
# every libtorch* library in the program's DT_NEEDED list; with a static one, the program must define every
# std::filesystem function it calls (none left for the dynamic linker to find in libtorch).
# Exit 0: holds; 1: violated; 77: cannot tell here (no readelf / nm, not a dynamic ELF program).
#   tests/tools/check_stdcxx_before_torch.sh <program>
set -u
prog="${1:?usage: check_stdcxx_before_torch.sh <program>}"
command -v readelf > /dev/null && command -v nm > /dev/null && command -v c++filt > /dev/null ||
    { echo "readelf / nm / c++filt missing"; exit 77; }
needed="$(readelf -d "$prog" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
[[ -n "$needed" ]] || { echo "$prog: no dynamic section"; exit 77; }
echo "$prog needs:"; echo "$needed" | sed 's/^/  /'
stdcxx_at="$(echo "$needed" | grep -n '^libstdc++\.so' | head -1 | cut -d: -f1)"
torch_at="$(echo "$needed" | grep -n '^libtorch' | head -1 | cut -d: -f1)"
[[ -n "$torch_at" ]] || { echo "FAIL: no libtorch among them (is this the right program?)"; exit 1; }
if [[ -n "$stdcxx_at" ]]; then
    if (( stdcxx_at < torch_at )); then
        echo "ok: libstdc++ (#$stdcxx_at) comes before libtorch (#$torch_at)"
        exit 0
    fi
    echo "FAIL: libstdc++ (#$stdcxx_at) comes after libtorch (#$torch_at): libtorch's std::filesystem would win"
    exit 1
fi
unbound="$(nm -D --undefined-only "$prog" | c++filt | grep 'std::filesystem::' || true)"
if [[ -z "$unbound" ]]; then
    echo "ok: static libstdc++, and the program defines every std::filesystem function it calls"
    exit 0
fi
echo "FAIL: static libstdc++, but these std::filesystem functions are left to the dynamic linker (libtorch's copies):"
echo "$unbound" | sed 's/^/  /'
exit 1
