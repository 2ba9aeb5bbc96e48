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
report() {  # report RULE grep-output
    if [[ -n "$2" ]]; then
        echo "layering: $1:"
        echo "$2"
        status=1
    fi
}
sources=(--include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cu' --include='*.cuh')
report "Qt headers in engine/ or kernels/ (they are Qt-free)" \
    "$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<Q[A-Za-z]' "${sources[@]}" engine kernels)"
report "torch headers in ui/, app/ or engine/include/ (torch is private to engine/src and kernels/)" \
    "$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](torch|ATen|c10)/' "${sources[@]}" ui app engine/include)"
report "kernels headers in ui/, app/ or engine/include/ (only engine/src may use the kernels)" \
    "$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]kernels/' "${sources[@]}" ui app engine/include)"
[[ $status -eq 0 ]] && echo "layering: engine/ and kernels/ include no Qt; ui/, app/ and engine/include/ no torch or kernels"
exit $status
