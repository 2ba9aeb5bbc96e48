#!/usr/bin/env bash
# Checks that a program's calls into std::filesystem run libstdc++'s code, not the copies pip's libtorch exports
# (docs/ARCHITECTURE.md, "libstdc++ before torch on every link line"): with a shared libstdc++, it must come before
# every libtorch* library in the program's DT_NEEDED list; with a static one, the program must define
# std::filesystem::remove_all itself (its tests call it). Exit 0: holds; 1: violated; 77: not an ELF program here.
#   tests/tools/check_stdcxx_before_torch.sh <program>
set -u
prog="${1:?usage: check_stdcxx_before_torch.sh <program>}"
command -v readelf > /dev/null && command -v nm > /dev/null || { echo "readelf / nm missing"; exit 77; }
needed="$(readelf -d "$prog" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')" || exit 77
[[ -n "$needed" ]] || { echo "$prog: no dynamic section"; exit 77; }
echo "$prog needs:"; echo "$needed" | sed 's/^/  /'
stdcxx_at="$(echo "$needed" | grep -n '^libstdc++\.so' | head -1 | cut -d: -f1)"
torch_at="$(echo "$needed" | grep -n '^libtorch' | head -1 | cut -d: -f1)"
[[ -n "$torch_at" ]] || { echo "no libtorch among them"; exit 1; }
if [[ -n "$stdcxx_at" ]]; then
    if (( stdcxx_at < torch_at )); then
        echo "ok: libstdc++ (#$stdcxx_at) comes before libtorch (#$torch_at)"
        exit 0
    fi
    echo "FAIL: libstdc++ (#$stdcxx_at) comes after libtorch (#$torch_at): libtorch's std::filesystem would win"
    exit 1
fi
if nm -C --defined-only "$prog" | grep -q ' std::filesystem::remove_all('; then
    echo "ok: static libstdc++; the program defines std::filesystem::remove_all itself"
    exit 0
fi
echo "FAIL: static libstdc++, but std::filesystem::remove_all is not defined in the program: libtorch's copy is bound"
exit 1
