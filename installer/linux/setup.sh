#!/usr/bin/env bash
# Kinora on a fresh Debian 12: install what is missing, build, start the app.
#   bash installer/linux/setup.sh              # install + build + run kinora
#   bash installer/linux/setup.sh --deps-only  # only install the Debian packages
#   bash installer/linux/setup.sh --no-run     # install + build, don't start
set -euo pipefail
cd "$(dirname "$0")/../.."

DEPS_ONLY=0
RUN=1
for arg in "$@"; do
    case "$arg" in
        --deps-only) DEPS_ONLY=1 ;;
        --no-run) RUN=0 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

PACKAGES=(
    cmake ninja-build g++ pkg-config git
    libtorch-dev
    qt6-base-dev qt6-svg-dev qt6-image-formats-plugins
    libsentencepiece-dev
    libopenimageio-dev openimageio-tools
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
    nlohmann-json3-dev catch2
    xvfb xauth python3
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "Installing ${#missing[@]} missing Debian packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "All Debian packages are installed."
fi
((DEPS_ONLY)) && exit 0

cmake --preset cpu-debian
cmake --build --preset cpu-debian
if ((RUN)); then
    exec build/cpu-debian/bin/kinora
fi
