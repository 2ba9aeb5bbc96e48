#!/usr/bin/env bash
# GPU speed work (issue #9) in one command, on the GPU machine (pip torch + CUDA, nvcc, CMake, ninja; no Qt):
# configure + build the gpu-pip preset (kernels, engine, kinora-bench, test_kernels), run our kernels' CUDA-vs-CPU
# tests, run kinora-bench, and (when its sources were carried) the Python reference in the same call on the same
# card, then print a summary table. Everything lands in $OUT (the device tool's output folder) or ./out/gpu-bench.
#
#   installer/bench/run_gpu_bench.sh                       # all stages, all cases
#   installer/bench/run_gpu_bench.sh build test            # stages: build test bench reference summary (any order)
#   installer/bench/run_gpu_bench.sh bench reference summary --cases sana1600,sprint1600_2step --repeats 5
#
# Options: --cases LIST (kinora-bench names, default all) --repeats N (default 3) --jobs N (build, default nproc)
#          --compile MODE (also run the reference with torch.compile(mode=MODE)) --bench-args "..." (passed on)
# Inputs carried with the call (ignored paths of the checkout):
#   .device/third_party/{nlohmann_json/nlohmann/json.hpp, catch2/catch2/catch.hpp}   (or KINORA_THIRD_PARTY_INCLUDE;
#       installer/bench/stage_inputs.sh puts them there from this machine's Debian packages)
#   .ref/    diffusers src/ + VideoCrafter lvdm/ utils/ (REF_DIR), .ref-dc/ DynamiCrafter (REF_DC_DIR), and the
#            reference script with tiny_gemma_spm.model in .ref/bench/ (stage_inputs.sh copies them)
# One device command may run 600 s at most: if a full run does not fit, call the stages separately; the build folder
# survives between calls while the machine stays warm.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT_DIR="${OUT:-$ROOT/out/gpu-bench}"
mkdir -p "$OUT_DIR"
BUILD_DIR="$ROOT/build/gpu-pip"
REF_DIR="${REF_DIR:-$ROOT/.ref}"
REF_DC_DIR="${REF_DC_DIR:-$ROOT/.ref-dc}"
REF_SCRIPT="${REF_SCRIPT:-$REF_DIR/bench/reference_diffusers.py}"
CASES="all"
REPEATS=3
JOBS="$(nproc 2>/dev/null || echo 8)"
COMPILE_MODE=""
BENCH_ARGS=""
STAGES=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        build|test|bench|reference|summary|all) STAGES+=("$1"); shift ;;
        --cases) CASES="$2"; shift 2 ;;
        --repeats) REPEATS="$2"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --compile) COMPILE_MODE="$2"; shift 2 ;;
        --bench-args) BENCH_ARGS="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "run_gpu_bench.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
    esac
done
[[ ${#STAGES[@]} -eq 0 ]] && STAGES=(all)
has_stage() { local s; for s in "${STAGES[@]}"; do [[ "$s" == "$1" || "$s" == all ]] && return 0; done; return 1; }

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT_DIR/run.log"; }
STATUS=0

# ---- environment (what card, what clocks: the numbers only compare on the same card) ---------------------------
{
    echo "date: $(date -u +%FT%TZ)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,temperature.gpu --format=csv 2>&1
    python3 -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "python", sys.version.split()[0])' 2>&1
    nvcc --version 2>&1 | tail -1
    cmake --version 2>&1 | head -1
} > "$OUT_DIR/env.txt"
cat "$OUT_DIR/env.txt"

# ---- build ------------------------------------------------------------------------------------------------------
if has_stage build; then
    log "build: configure gpu-pip"
    export KINORA_TORCH_CMAKE_PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
    export KINORA_TORCH_CUDA_VERSION="$(python3 -c 'import torch;print(torch.version.cuda)')"
    THIRD_PARTY="${KINORA_THIRD_PARTY_INCLUDE:-$ROOT/.device/third_party}"
    # The reference benchmark's GPU has compute capability 9.0 (H100/H200): sm_90 SASS for our kernels
    # (KINORA_CUDA_ARCHITECTURES) and for torch's own arch probe (TORCH_CUDA_ARCH_LIST), both set by the preset.
    if cmake --preset gpu-pip -DKINORA_THIRD_PARTY_INCLUDE="$THIRD_PARTY" -DKINORA_BUILD_BENCH=ON \
            -DKINORA_BUILD_TESTS=ON > "$OUT_DIR/configure.log" 2>&1; then
        log "build: compile kinora-bench test_kernels test_bench (-j$JOBS)"
        start=$SECONDS
        if cmake --build "$BUILD_DIR" --target kinora-bench test_kernels test_bench -j "$JOBS" \
                > "$OUT_DIR/build.log" 2>&1; then
            log "build: done in $((SECONDS - start)) s"
        else
            log "build: FAILED (build.log)"; grep -E "error|Error" "$OUT_DIR/build.log" | head -30; STATUS=1
        fi
    else
        log "build: configure FAILED (configure.log)"; tail -30 "$OUT_DIR/configure.log"; STATUS=1
    fi
    # Which machine code the kernels carry (expect sm_90), and their registers / spills (ptxas -v in build.log).
    if [[ -f "$BUILD_DIR/kernels/libkernels.a" ]]; then
        cuobjdump --list-elf "$BUILD_DIR/kernels/libkernels.a" > "$OUT_DIR/kernels_elf.txt" 2>&1
        log "kernels: $(grep -o 'sm_[0-9a]*' "$OUT_DIR/kernels_elf.txt" | sort | uniq -c | tr '\n' ' ')"
        grep -E "registers|spill" "$OUT_DIR/build.log" | sort | uniq -c | sort -rn > "$OUT_DIR/kernels_ptxas.txt" || true
    fi
fi

# ---- kernel tests -----------------------------------------------------------------------------------------------
if has_stage test; then
    if [[ -x "$BUILD_DIR/bin/test_kernels" ]]; then
        log "test: kernels, CPU references and CUDA vs CPU"
        "$BUILD_DIR/bin/test_kernels" "[kernels]" > "$OUT_DIR/test_kernels_cpu.log" 2>&1 || STATUS=1
        "$BUILD_DIR/bin/test_kernels" "[cuda]" --durations yes > "$OUT_DIR/test_kernels_cuda.log" 2>&1 || STATUS=1
        log "test: cpu: $(tail -2 "$OUT_DIR/test_kernels_cpu.log" | tr '\n' ' ')"
        log "test: cuda: $(tail -2 "$OUT_DIR/test_kernels_cuda.log" | tr '\n' ' ')"
    else
        log "test: no test_kernels binary (build first)"; STATUS=1
    fi
    if [[ -x "$BUILD_DIR/bin/test_bench" ]]; then
        KINORA_TEST_BIN_DIR="$BUILD_DIR/bin" "$BUILD_DIR/bin/test_bench" > "$OUT_DIR/test_bench.log" 2>&1 || STATUS=1
        log "test: kinora-bench tiny: $(tail -2 "$OUT_DIR/test_bench.log" | tr '\n' ' ')"
    fi
fi

# ---- kinora-bench -----------------------------------------------------------------------------------------------
if has_stage bench; then
    if [[ -x "$BUILD_DIR/bin/kinora-bench" ]]; then
        log "bench: kinora-bench --case $CASES --repeats $REPEATS $BENCH_ARGS"
        # shellcheck disable=SC2086
        "$BUILD_DIR/bin/kinora-bench" --case "$CASES" --repeats "$REPEATS" --out "$OUT_DIR/kinora_bench.jsonl" \
            $BENCH_ARGS > "$OUT_DIR/kinora_bench.log" 2>&1 || STATUS=1
        tail -n 20 "$OUT_DIR/kinora_bench.log" | cut -c1-400
    else
        log "bench: no kinora-bench binary (build first)"; STATUS=1
    fi
fi

# ---- the Python reference, same call, same card ----------------------------------------------------------------
if has_stage reference; then
    # kinora-bench case -> reference case
    declare -A REF_CASE=([sana1600]=sana1600 [sana600]=sana600 [sprint1600_2step]=sprint1600 [sprint600_2step]=sprint600
                         [vc2]=vc2 [dc512]=dc512)
    if [[ "$CASES" == all ]]; then WANT=(sana1600 sana600 sprint1600_2step sprint600_2step vc2 dc512)
    else IFS=',' read -r -a WANT <<< "$CASES"; fi
    REF_MAIN=(); REF_DC=()
    for c in "${WANT[@]}"; do
        r="${REF_CASE[$c]:-}"
        [[ -z "$r" ]] && continue
        if [[ "$r" == dc512 ]]; then REF_DC+=("$r"); else REF_MAIN+=("$r"); fi
    done
    if [[ ! -f "$REF_SCRIPT" ]]; then
        log "reference: $REF_SCRIPT missing (carry .ref with installer/bench/stage_inputs.sh); skipped"
    else
        if [[ ${#REF_MAIN[@]} -gt 0 && -d "$REF_DIR/src/diffusers" ]]; then
            log "reference: ${REF_MAIN[*]} (diffusers / lvdm, eager)"
            python3 "$REF_SCRIPT" "$REF_DIR" "${REF_MAIN[@]}" >> "$OUT_DIR/reference.jsonl" 2>> "$OUT_DIR/reference.log" || STATUS=1
            if [[ -n "$COMPILE_MODE" ]]; then
                SANA_ONLY=(); for r in "${REF_MAIN[@]}"; do [[ "$r" != vc2 ]] && SANA_ONLY+=("$r"); done
                if [[ ${#SANA_ONLY[@]} -gt 0 ]]; then
                    log "reference: ${SANA_ONLY[*]} with torch.compile(mode=$COMPILE_MODE)"
                    python3 "$REF_SCRIPT" "$REF_DIR" "${SANA_ONLY[@]}" "--compile=$COMPILE_MODE" \
                        >> "$OUT_DIR/reference.jsonl" 2>> "$OUT_DIR/reference.log" || STATUS=1
                fi
            fi
        elif [[ ${#REF_MAIN[@]} -gt 0 ]]; then
            log "reference: $REF_DIR/src/diffusers missing; ${REF_MAIN[*]} skipped"
        fi
        if [[ ${#REF_DC[@]} -gt 0 && -d "$REF_DC_DIR/lvdm" ]]; then
            log "reference: dc512 (DynamiCrafter lvdm, eager)"
            python3 "$REF_SCRIPT" "$REF_DC_DIR" dc512 >> "$OUT_DIR/reference.jsonl" 2>> "$OUT_DIR/reference.log" || STATUS=1
        elif [[ ${#REF_DC[@]} -gt 0 ]]; then
            log "reference: $REF_DC_DIR/lvdm missing; dc512 skipped"
        fi
    fi
fi

# ---- summary ----------------------------------------------------------------------------------------------------
if has_stage summary; then
    python3 "$ROOT/installer/bench/summarize.py" "$OUT_DIR/kinora_bench.jsonl" "$OUT_DIR/reference.jsonl" \
        --env "$OUT_DIR/env.txt" | tee "$OUT_DIR/summary.md"
fi
log "done (status $STATUS); files in $OUT_DIR"
exit $STATUS
