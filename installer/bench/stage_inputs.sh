#!/usr/bin/env bash
# Run on the development machine (not the GPU one) before a device call of run_gpu_bench.sh: puts what the GPU
# machine lacks into ignored folders of the checkout, to be named in the call's `carry`:
#   .device/third_party/   nlohmann/json.hpp and catch2/catch.hpp from Debian's packages (header-only)
#   .ref/bench/            ../shared/bench/reference_diffusers.py + ../shared/golden/tiny_gemma_spm.model
#   .ref/src/diffusers, .ref/lvdm, .ref/utils    from git mirrors given below (diffusers, VideoCrafter)
#   .ref-dc/lvdm, .ref-dc/utils                  from a DynamiCrafter mirror
# The source trees are exported, never committed (.ref is in .gitignore; .ref-dc is too, see below).
#
#   installer/bench/stage_inputs.sh [--diffusers GITDIR] [--videocrafter GITDIR] [--dynamicrafter GITDIR]
# GITDIR: a bare git directory, e.g. what the fetch tool returns for github:huggingface/diffusers.
# Then: run(command="installer/bench/run_gpu_bench.sh", carry=[".device", ".ref", ".ref-dc"])   (64 MiB in all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${KINORA_SHARED_DIR:-$ROOT/../shared}"
DIFFUSERS="" VIDEOCRAFTER="" DYNAMICRAFTER=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --diffusers) DIFFUSERS="$2"; shift 2 ;;
        --videocrafter) VIDEOCRAFTER="$2"; shift 2 ;;
        --dynamicrafter) DYNAMICRAFTER="$2"; shift 2 ;;
        *) echo "stage_inputs.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

tp="$ROOT/.device/third_party"
mkdir -p "$tp/nlohmann_json" "$tp/catch2/catch2"
rm -rf "$tp/nlohmann_json/nlohmann"
cp -r /usr/include/nlohmann "$tp/nlohmann_json/nlohmann"
cp /usr/include/catch2/catch.hpp "$tp/catch2/catch2/catch.hpp"
echo "third-party headers: $(du -sh "$tp" | cut -f1) in $tp"

mkdir -p "$ROOT/.ref/bench"
cp "$SHARED/bench/reference_diffusers.py" "$SHARED/bench/README.md" "$ROOT/.ref/bench/"
cp "$SHARED/golden/tiny_gemma_spm.model" "$ROOT/.ref/bench/"

export_tree() {  # export_tree GITDIR DEST PATH...
    local git_dir="$1" dest="$2"
    shift 2
    mkdir -p "$dest"
    git --git-dir="$git_dir" archive --format=tar HEAD "$@" | tar -x -C "$dest"
}
[[ -n "$DIFFUSERS" ]] && export_tree "$DIFFUSERS" "$ROOT/.ref" src/diffusers
[[ -n "$VIDEOCRAFTER" ]] && export_tree "$VIDEOCRAFTER" "$ROOT/.ref" lvdm utils
[[ -n "$DYNAMICRAFTER" ]] && export_tree "$DYNAMICRAFTER" "$ROOT/.ref-dc" lvdm utils
du -sh "$ROOT/.device" "$ROOT/.ref" "$ROOT/.ref-dc" 2>/dev/null || true
