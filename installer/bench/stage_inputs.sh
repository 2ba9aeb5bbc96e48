#!/usr/bin/env bash
# Run on the development machine (not the GPU one) before the device call of run_gpu_bench.sh. Puts what the GPU
# machine lacks into ignored folders of the checkout, to be named in the call's `carry`:
#   .device/third_party/   nlohmann/json.hpp and catch2/catch.hpp from this machine's Debian packages (header-only)
#   .golden/               the golden cases of the engine's [cuda] tests (sana_pipeline_tiny, sana_sprint_pipeline_tiny,
#                          sana_transformer_tiny, sana_sprint_transformer_tiny, vc2_pipeline_tiny + clip_tokenizer;
#                          with --dc also dc_pipeline_tiny, 13 MB: with .ref that passes the 64 MiB a call carries, so
#                          a call with it carries .device and .golden only and runs the tests, not the references)
#   .ref/                  copied from --ref DIR when given (a folder with bench/ vc/ dc/: the reference script with
#                          tiny_gemma_spm.model, diffusers src/ + VideoCrafter lvdm/ utils/, DynamiCrafter lvdm/ utils/)
# None of these is ever committed (.gitignore). Then, from the repository root:
#   run(command="installer/bench/run_gpu_bench.sh", carry=[".device", ".golden", ".ref"], timeout_s=600)
#
#   installer/bench/stage_inputs.sh [--ref DIR] [--golden DIR] [--dc]   (defaults: .ref as it is, ../shared/golden)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REF_FROM=""
DC=0
GOLDEN_FROM="${KINORA_GOLDEN_DIR:-$ROOT/../shared/golden}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ref) REF_FROM="$2"; shift 2 ;;
        --golden) GOLDEN_FROM="$2"; shift 2 ;;
        --dc) DC=1; shift ;;
        *) echo "stage_inputs.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

tp="$ROOT/.device/third_party"
mkdir -p "$tp/nlohmann_json" "$tp/catch2/catch2"
rm -rf "$tp/nlohmann_json/nlohmann"
cp -r /usr/include/nlohmann "$tp/nlohmann_json/nlohmann"
cp /usr/include/catch2/catch.hpp "$tp/catch2/catch2/catch.hpp"

mkdir -p "$ROOT/.golden"
cases=(sana_pipeline_tiny sana_sprint_pipeline_tiny sana_transformer_tiny sana_sprint_transformer_tiny vc2_pipeline_tiny
       clip_tokenizer)
(( DC )) && cases+=(dc_pipeline_tiny)
rm -rf "${ROOT:?}/.golden/dc_pipeline_tiny"
for case in "${cases[@]}"; do
    rm -rf "${ROOT:?}/.golden/$case"
    cp -r "$GOLDEN_FROM/$case" "$ROOT/.golden/$case"
done
cp "$GOLDEN_FROM/INDEX.json" "$ROOT/.golden/INDEX.json"  # the test support looks every case up in it

if [[ -n "$REF_FROM" ]]; then
    mkdir -p "$ROOT/.ref"
    cp -r "$REF_FROM/." "$ROOT/.ref/"
fi
missing=0
for need in .ref/bench/reference_diffusers.py .ref/bench/tiny_gemma_spm.model .ref/vc/src/diffusers .ref/vc/lvdm \
            .ref/dc/lvdm; do
    if [[ ! -e "$ROOT/$need" ]]; then
        echo "missing: $need (the reference cases that need it will be skipped)"
        missing=1
    fi
done

du -sh "$ROOT/.device" "$ROOT/.golden" "$ROOT/.ref" 2>/dev/null || true
total_kb=$(du -sk "$ROOT/.device" "$ROOT/.golden" "$ROOT/.ref" 2>/dev/null | awk '{s += $1} END {print s}')
tracked_kb=$(git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 du -ck 2>/dev/null) | tail -1 | cut -f1)
echo "carried ${total_kb} KiB + tracked files ${tracked_kb} KiB (the device call takes 64 MiB in all)"
if (( total_kb + tracked_kb > 60 * 1024 )); then
    echo "warning: close to or over the 64 MiB limit" >&2
fi
exit $missing
