#!/usr/bin/env bash
# The dependency rules of the design guide ("Dependency rules") in machine-checked form: no Qt header in the engine
# or the kernels; no torch (torch/, ATen/, c10/) and no kernels header in ui/, app/ or the engine's public API
# (engine/include). Prints every offending line and exits 1 if there is one.
#   check_layering.sh [SOURCE_ROOT]   (default: the repository this script is in)
set -uo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$root" || exit 2
for dir in engine kernels ui app; do
    [[ -d "$dir" ]] || { echo "check_layering: $root/$dir is missing" >&2; exit 2; }
done
status=0
sources=(--include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cu' --include='*.cuh')
check() {  # check RULE PATTERN DIR...: grep's exit 1 (no line) passes, 0 (lines) and 2 (an error) fail
    local rule="$1" pattern="$2" hits rc
    shift 2
    hits="$(grep -rnE "$pattern" "${sources[@]}" "$@")"
    rc=$?
    if (( rc == 0 )); then
        echo "layering: $rule:"
        echo "$hits"
        status=1
    elif (( rc != 1 )); then
        echo "layering: grep failed ($rc) for: $rule" >&2
        status=1
    fi
}
include='^[[:space:]]*#[[:space:]]*include[[:space:]]*'
check "Qt headers in engine/ or kernels/ (they are Qt-free)" "$include<Q[A-Za-z]" engine kernels
check "torch headers in ui/, app/ or engine/include/ (torch is private to engine/src and kernels/)" \
    "$include[<\"](torch|ATen|c10)/" ui app engine/include
check "kernels headers in ui/, app/ or engine/include/ (only engine/src may use the kernels)" \
    "$include[<\"]kernels/" ui app engine/include
(( status == 0 )) && echo "layering: engine/ and kernels/ include no Qt; ui/, app/ and engine/include/ no torch or kernels"
exit $status
