#!/usr/bin/env bash
# Builds Kinora (preset cpu-debian) and runs the whole CPU test suite with ctest.
# Needs the Debian packages that `bash installer/linux/setup.sh --deps-only` installs, and the golden
# cases in ../shared/golden (or KINORA_GOLDEN_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
extra=()
if [ -n "${KINORA_GOLDEN_DIR:-}" ]; then extra+=("-DKINORA_GOLDEN_DIR=${KINORA_GOLDEN_DIR}"); fi
cmake --preset cpu-debian "${extra[@]}"
cmake --build --preset cpu-debian
ctest --preset cpu-debian "$@"
