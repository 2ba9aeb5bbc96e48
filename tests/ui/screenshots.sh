#!/usr/bin/env bash
# Saves screenshots of the main window's states (no model, ready, generating with a live preview,
# gallery, video timeline, failure, image-to-video input, settings, export) at 1280×800 and at 4K
# (3840×2160 at 200 % scale), by running kinora-screenshot-tour under Xvfb on the scripted fake engine;
# then kinora-screenshot-real shows the REAL engine (CPU) on the tiny golden Sana pipelines (a run with its
# live preview, the finished picture, Sana-Sprint, a corrupt model), when that binary is built.
#
#   tests/ui/screenshots.sh [OUT_DIR]        (default: build/cpu-debian/screenshots)
# Needs the kinora-screenshot-tour target built (cmake --build build/cpu-debian --target kinora-screenshot-tour)
# and xvfb-run. KINORA_BIN_DIR overrides where the binary is looked for.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="${KINORA_BIN_DIR:-$here/build/cpu-debian/bin}"
tour="$bin_dir/kinora-screenshot-tour"
out="${1:-$here/build/cpu-debian/screenshots}"
if [[ ! -x "$tour" ]]; then
    echo "error: $tour not found; build it with: cmake --build build/cpu-debian --target kinora-screenshot-tour" >&2
    exit 2
fi
command -v xvfb-run >/dev/null || { echo "error: xvfb-run is not installed (apt install xvfb)" >&2; exit 2; }
mkdir -p "$out/1280x800" "$out/4k"
export QT_QPA_PLATFORM=xcb
xvfb-run -a -s "-screen 0 1600x1000x24" "$tour" "$out/1280x800" --size 1280x800
QT_SCALE_FACTOR=2 xvfb-run -a -s "-screen 0 3840x2160x24" "$tour" "$out/4k" --size 1920x1080
real="$bin_dir/kinora-screenshot-real"
if [[ -x "$real" ]]; then
    xvfb-run -a -s "-screen 0 1600x1000x24" "$real" "$out/1280x800" --size 1280x800
    QT_SCALE_FACTOR=2 xvfb-run -a -s "-screen 0 3840x2160x24" "$real" "$out/4k" --size 1920x1080
else
    echo "note: $real not built; no real-engine screenshots (cmake --build ... --target kinora-screenshot-real)" >&2
fi
echo "screenshots in $out"
