#!/usr/bin/env bash
# GPU speed work (issue #9) in ONE device call, inside a time budget: configure + build the gpu-pip preset, run the
# CUDA tests (our kernels against their CPU references, the engine's [cuda] golden cases), kinora-bench, and the
# Python reference in the same call on the same card, then a summary table. Each step has an estimated cost; a step
# that no longer fits in what is left of the budget is skipped and named in the log and the summary, and every
# command runs under `timeout` so the whole script ends inside the budget.
#
#   installer/bench/run_gpu_bench.sh [--budget SECONDS] [--jobs N] [--repeats N] [--only LIST] [--skip LIST]
#
#   --budget S    wall-clock seconds for everything (default 540: one device command may run 600 s)
#   --jobs N      build parallelism (default: nproc)
#   --repeats N   kinora-bench end-to-end repeats for the image cases (default 3; the video cases run 1)
#   --only LIST / --skip LIST   comma-separated step names (as the log prints them), e.g. --skip ref_dc,bench_dc512
# Environment: OUT (output folder), KINORA_BUILD_DIR (default build/gpu-pip), REF_DIR (default .ref),
#   KINORA_GOLDEN_DIR, KINORA_BENCH_EXTRA (extra kinora-bench words). A CPU rehearsal of the flow, no GPU:
#   KINORA_BUILD_DIR=build/cpu-debian KINORA_BENCH_EXTRA="--tiny --device cpu" \
#       installer/bench/run_gpu_bench.sh --skip configure,build,build_test_engine
#
# Inputs, carried with the call (ignored folders of the checkout; installer/bench/stage_inputs.sh fills them here):
#   .device/third_party/{nlohmann_json/nlohmann/json.hpp, catch2/catch2/catch.hpp}  header-only test/JSON libraries
#   .golden/{sana_pipeline_tiny,sana_sprint_pipeline_tiny,sana_transformer_tiny,sana_sprint_transformer_tiny}
#                                                            the golden cases of the engine's [cuda] tests
#   .ref/bench/reference_diffusers.py (+ tiny_gemma_spm.model), .ref/vc (diffusers src/ + VideoCrafter lvdm/ utils/),
#   .ref/dc (DynamiCrafter lvdm/ utils/)
# Device call (from the repository root):
#   run(command="installer/bench/run_gpu_bench.sh", carry=[".device", ".golden", ".ref"], timeout_s=600)
#
# What comes back in $OUT (the device tool returns at most 8 files): summary.md (with the SM clock and board power
# during each benchmark step, from nvidia-smi sampled every 100 ms), run.log, kinora_bench.jsonl, reference.jsonl,
# logs.tar.gz (environment, configure/build logs, ptxas report, test logs, raw outputs, power.csv and steps.tsv).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT" || exit 2
OUT_DIR="${OUT:-$ROOT/out/gpu-bench}"
mkdir -p "$OUT_DIR"
LOG_DIR="$(mktemp -d /tmp/kinora-gpu-bench.XXXXXX)"
BUILD_DIR="${KINORA_BUILD_DIR:-$ROOT/build/gpu-pip}"
REF_DIR="${REF_DIR:-$ROOT/.ref}"
REF_SCRIPT="$REF_DIR/bench/reference_diffusers.py"
BUDGET=540
JOBS="$(nproc 2>/dev/null || echo 8)"
REPEATS=3
ONLY=""
SKIP=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --budget) BUDGET="$2"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --repeats) REPEATS="$2"; shift 2 ;;
        --only) ONLY=",$2,"; shift 2 ;;
        --skip) SKIP=",$2,"; shift 2 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "run_gpu_bench.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
    esac
done

START=$SECONDS
STATUS=0
SKIPPED=()
left() { echo $((BUDGET - (SECONDS - START))); }
log() { echo "[$(date +%H:%M:%S) +$((SECONDS - START))s] $*" | tee -a "$OUT_DIR/run.log"; }
# Packs the logs into $OUT (called after every step, so a kill still leaves the latest ones).
pack() { tar -czf "$OUT_DIR/logs.tar.gz" -C "$LOG_DIR" . 2>/dev/null || true; }
SMI_PID=""
finish() {
    [[ -n "$SMI_PID" ]] && kill "$SMI_PID" 2>/dev/null
    pack
}
trap finish EXIT

# wanted NAME: the step is selected by --only / --skip
wanted() {
    [[ -n "$ONLY" && "$ONLY" != *",$1,"* ]] && return 1
    [[ -n "$SKIP" && "$SKIP" == *",$1,"* ]] && return 1
    return 0
}

# step NAME ESTIMATE_S CAP_S COMMAND...: runs COMMAND under `timeout` when the estimate fits in what is left (keeping
# 10 s for the summary); the timeout is min(CAP_S, what is left). Output goes to $LOG_DIR/NAME.log.
step() {
    local name="$1" estimate="$2" cap="$3"
    shift 3
    if ! wanted "$name"; then
        return 0
    fi
    local avail=$(( $(left) - 10 ))
    if (( avail < estimate )); then
        log "SKIPPED $name: needs about ${estimate} s, ${avail} s left"
        SKIPPED+=("$name (needs ~${estimate} s, ${avail} s left)")
        return 0
    fi
    local limit=$(( cap < avail ? cap : avail ))
    log "$name (estimate ${estimate} s, limit ${limit} s): $*"
    local t0=$SECONDS rc=0 started
    started="$(date +%s.%N)"
    timeout --kill-after=5 "$limit" "$@" > "$LOG_DIR/$name.log" 2>&1 || rc=$?
    printf '%s\t%s\t%s\n' "$name" "$started" "$(date +%s.%N)" >> "$LOG_DIR/steps.tsv"
    if (( rc == 124 || rc == 137 )); then
        log "$name: TIMED OUT after $((SECONDS - t0)) s (limit ${limit} s)"
        SKIPPED+=("$name (timed out at ${limit} s)")
        STATUS=1
    elif (( rc != 0 )); then
        log "$name: FAILED rc=$rc after $((SECONDS - t0)) s (log: logs.tar.gz/$name.log)"
        tail -n 15 "$LOG_DIR/$name.log" | cut -c1-300 | tee -a "$OUT_DIR/run.log"
        STATUS=1
    else
        log "$name: ok in $((SECONDS - t0)) s"
    fi
    pack
    return $rc
}

export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1

# ---- environment: which card, which clocks (numbers compare only on the same card) --------------------------------
{
    echo "date: $(date -u +%FT%TZ)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv 2>&1
    python3 -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "python", sys.version.split()[0])' 2>&1
    nvcc --version 2>&1 | tail -1
    cmake --version 2>&1 | head -1
    echo "cpus: $(nproc)"
} > "$LOG_DIR/env.txt"
tee -a "$OUT_DIR/run.log" < "$LOG_DIR/env.txt"
log "budget ${BUDGET} s"
# Clocks and power every 100 ms for the whole run (the summary tables them per step): on the H100 and H200 the Sana
# step runs at the board's power cap, which times alone do not show.
if command -v nvidia-smi > /dev/null 2>&1; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,power.limit,clocks_event_reasons.active,utilization.gpu \
        --format=csv,noheader,nounits -lms 100 > "$LOG_DIR/power.csv" 2> /dev/null &
    SMI_PID=$!
fi

# ---- build ----------------------------------------------------------------------------------------------------------
TORCH_PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null)"
export KINORA_TORCH_CMAKE_PREFIX="$TORCH_PREFIX"
KINORA_TORCH_CUDA_VERSION="$(python3 -c 'import torch;print(torch.version.cuda)' 2>/dev/null)"
export KINORA_TORCH_CUDA_VERSION
export TORCH_CUDA_ARCH_LIST="9.0"
THIRD_PARTY="${KINORA_THIRD_PARTY_INCLUDE:-$ROOT/.device/third_party}"
BUILT=0
if step configure 15 120 cmake --preset gpu-pip -DKINORA_THIRD_PARTY_INCLUDE="$THIRD_PARTY" -DKINORA_BUILD_BENCH=ON \
        -DKINORA_BUILD_TESTS=ON; then
    # What the benchmark needs first; the engine's test binary (30 test files) after, if time allows.
    if step build 150 330 cmake --build "$BUILD_DIR" --target kinora-bench test_kernels -j "$JOBS"; then
        BUILT=1
    elif [[ " ${SKIPPED[*]} " == *"build (timed out"* ]]; then
        # ninja resumes where it was stopped: the benchmark before anything else.
        step build_continue 30 240 cmake --build "$BUILD_DIR" --target kinora-bench test_kernels -j "$JOBS" && BUILT=1
    fi
    if (( BUILT )); then
        step build_test_engine 60 200 cmake --build "$BUILD_DIR" --target test_engine -j "$JOBS"
    fi
fi
if [[ -f "$BUILD_DIR/kernels/libkernels.a" ]]; then
    cuobjdump --list-elf "$BUILD_DIR/kernels/libkernels.a" > "$LOG_DIR/kernels_elf.txt" 2>&1
    log "kernels machine code: $(grep -o 'sm_[0-9a]*' "$LOG_DIR/kernels_elf.txt" | sort | uniq -c | tr '\n' ' ')"
    grep -hE "registers|spill" "$LOG_DIR"/build*.log | sort | uniq -c | sort -rn > "$LOG_DIR/kernels_ptxas.txt" || true
fi
BIN="$BUILD_DIR/bin"

# ---- the steps after the build, most important first ----------------------------------------------------------------
GOLDEN="${KINORA_GOLDEN_DIR:-}"
for g in "$ROOT/.golden" "$ROOT/shared/golden" "$ROOT/../shared/golden"; do
    [[ -z "$GOLDEN" && -d "$g/sana_pipeline_tiny" ]] && GOLDEN="$(cd "$g" && pwd)"
done

bench() {  # bench NAME ESTIMATE CAP kinora-bench-args...
    local name="$1" estimate="$2" cap="$3"
    shift 3
    if [[ ! -x "$BIN/kinora-bench" ]]; then
        wanted "$name" && SKIPPED+=("$name (no kinora-bench binary)")
        return 0
    fi
    # shellcheck disable=SC2086  # KINORA_BENCH_EXTRA: extra words, e.g. "--tiny --device cpu" for a CPU rehearsal
    step "$name" "$estimate" "$cap" "$BIN/kinora-bench" --out "$OUT_DIR/kinora_bench.jsonl" "$@" ${KINORA_BENCH_EXTRA:-}
}

reference() {  # reference NAME ESTIMATE CAP SOURCE_DIR cases...
    local name="$1" estimate="$2" cap="$3" src="$4"
    shift 4
    if [[ ! -f "$REF_SCRIPT" || ! -d "$src/lvdm" ]]; then
        wanted "$name" && { log "SKIPPED $name: $REF_SCRIPT or $src/lvdm missing (carry .ref)"; SKIPPED+=("$name (no .ref)"); }
        return 0
    fi
    step "$name" "$estimate" "$cap" python3 "$REF_SCRIPT" "$src" "$@"
    # Its JSON lines (printed and flushed case by case, so a timeout keeps the finished ones).
    grep -h '^{' "$LOG_DIR/$name.log" >> "$OUT_DIR/reference.jsonl" 2>/dev/null || true
}

if [[ -x "$BIN/test_kernels" ]]; then
    (( BUILT )) || log "note: the build step did not succeed in this run; using the binaries in $BIN"
    step test_kernels_cuda 60 150 "$BIN/test_kernels" "[cuda]" --durations yes
elif wanted test_kernels_cuda; then
    log "SKIPPED test_kernels_cuda: no test_kernels binary"
    SKIPPED+=("test_kernels_cuda (no binary)")
fi
if [[ -x "$BIN/test_engine" && -n "$GOLDEN" ]]; then
    export KINORA_GOLDEN_DIR="$GOLDEN"
    step test_engine_cuda 30 120 "$BIN/test_engine" "[cuda]" --durations yes
elif wanted test_engine_cuda; then
    log "SKIPPED test_engine_cuda: $([[ -x "$BIN/test_engine" ]] && echo "no golden dir (carry .golden)" || echo "no test_engine binary")"
    SKIPPED+=("test_engine_cuda")
fi
# The GPU build's programs run libstdc++'s std::filesystem, not pip libtorch's copies (cmake/TorchSetup.cmake), and the
# CPU test whose temp-folder cleanup crashed on those copies (eleventh session) passes.
step link_order 5 60 bash -c 'check="$1"; shift; rc=0
    for p in "$@"; do [[ -x "$p" ]] && { "$check" "$p" || rc=1; }; done
    [[ -x "$1" ]] && { "$1" "SanaTransformer2DConfig: unknown or unsupported math-changing keys are refused by name" || rc=1; }
    exit $rc' link_order "$ROOT/tests/tools/check_stdcxx_before_torch.sh" "$BIN/test_engine" "$BIN/kinora-cli" \
    "$BIN/kinora-bench"
bench bench_kernels 20 90 --case kernels --component-repeats 20
# Where the time goes: one profiled denoiser forward, VAE decode and text encoding (LibTorch's profiler), tabulated by
# kernel and by launching operator in profile.md. Its JSON lines go to the log only (the runs are short).
if [[ -x "$BIN/kinora-bench" ]] && wanted profile; then
    step profile 40 150 "$BIN/kinora-bench" --case sana1600,sprint1600_1step --repeats 1 --component-repeats 3 \
        --profile "$LOG_DIR/profile" ${KINORA_BENCH_EXTRA:-} &&
        python3 "$ROOT/installer/bench/profile_summary.py" "$LOG_DIR/profile" > "$OUT_DIR/profile.md" 2>&1
fi
bench bench_sana1600 35 120 --case sana1600 --repeats "$REPEATS"
# Before / after the caption shortcuts: every step attends to all 300 positions of both prompts, as diffusers does.
bench bench_sana1600_full_caption 35 120 --case sana1600 --repeats "$REPEATS" --trim-caption off
bench bench_sprint1600 40 150 --case sprint1600_1step,sprint1600_2step --repeats "$REPEATS"
# Live previews as the app makes them, one at every step (docs/PERFORMANCE.md, "Previews and progress without draining
# the stream"): against bench_sana1600 / bench_sprint1600, what previews cost.
bench bench_sana1600_previews 35 120 --case sana1600 --repeats "$REPEATS" --previews every
bench bench_sprint1600_previews 40 150 --case sprint1600_1step,sprint1600_2step --repeats "$REPEATS" --previews every
# Lower precision: the transformer blocks' weights in FP8 (e4m3, row-wise scales) or int8; every line carries its
# quality check against the unquantised model (image PSNR, one forward's relative error).
bench bench_sana1600_fp8 45 150 --case sana1600 --repeats "$REPEATS" --quantize fp8
bench bench_sprint1600_fp8 45 150 --case sprint1600_1step,sprint1600_2step --repeats "$REPEATS" --quantize fp8
bench bench_sana1600_int8 45 150 --case sana1600 --repeats "$REPEATS" --quantize int8
bench bench_sana600_fp8 35 120 --case sana600 --repeats "$REPEATS" --quantize fp8
if [[ -x "$BIN/kinora-bench" ]] && wanted profile_fp8; then
    step profile_fp8 40 150 "$BIN/kinora-bench" --case sana1600 --repeats 1 --component-repeats 3 --quantize fp8 \
        --profile "$LOG_DIR/profile_fp8" ${KINORA_BENCH_EXTRA:-} &&
        python3 "$ROOT/installer/bench/profile_summary.py" "$LOG_DIR/profile_fp8" > "$OUT_DIR/profile_fp8.md" 2>&1
fi
# Before / after CUDA graphs (the transformer step eager) and channels-last convolutions (NCHW DC-AE decode).
bench bench_sana1600_nographs 35 120 --case sana1600 --repeats "$REPEATS" --graphs off
bench bench_sprint1600_1step_nographs 20 90 --case sprint1600_1step --repeats "$REPEATS" --graphs off
bench bench_sprint1600_1step_nchw 20 90 --case sprint1600_1step --repeats "$REPEATS" --channels-last off
reference ref_vc 120 240 "$REF_DIR/vc" sana1600 sprint1600 sana600 vc2
bench bench_sana1600_aten 35 120 --case sana1600 --repeats "$REPEATS" --kernels off
bench bench_sprint1600_1step_aten 20 90 --case sprint1600_1step --repeats "$REPEATS" --kernels off
bench bench_sana600 35 120 --case sana600 --repeats "$REPEATS"
bench bench_sana600_nographs 35 120 --case sana600 --repeats "$REPEATS" --graphs off
bench bench_vc2 60 150 --case vc2 --repeats 1
bench bench_vc2_nchw 60 150 --case vc2 --repeats 1 --channels-last off  # the UNet's NCHW path: before / after
bench bench_vc2_nographs 60 150 --case vc2 --repeats 1 --graphs off      # the UNet step eager: before / after
reference ref_vc2 60 150 "$REF_DIR/vc" vc2  # lvdm's UNet alone, for a ratio in the same call
# The video UNet's profile (one forward at batch 2, the KL decode): where its time goes, by kernel and operator.
if [[ -x "$BIN/kinora-bench" ]] && wanted profile_vc2; then
    step profile_vc2 45 150 "$BIN/kinora-bench" --case vc2 --repeats 1 --component-repeats 3 \
        --profile "$LOG_DIR/profile_vc2" ${KINORA_BENCH_EXTRA:-} &&
        python3 "$ROOT/installer/bench/profile_summary.py" "$LOG_DIR/profile_vc2" > "$OUT_DIR/profile_vc2.md" 2>&1
fi
reference ref_dc 40 120 "$REF_DIR/dc" dc512
bench bench_dc512 60 150 --case dc512 --repeats 1
bench bench_sprint600 25 90 --case sprint600_2step --repeats "$REPEATS"
# diffusers' own bf16 error against the float32 goldens: the fair bar for our bf16 parity test (printed as JSON).
if [[ -f "$REF_DIR/bench/bf16_baseline.py" && -n "$GOLDEN" ]]; then
    step ref_bf16_baseline 40 90 python3 "$REF_DIR/bench/bf16_baseline.py" "$REF_DIR/vc" "$GOLDEN"
    grep -h '^{' "$LOG_DIR/ref_bf16_baseline.log" > "$OUT_DIR/bf16_baseline.jsonl" 2>/dev/null || true
fi
# The goals are stated against diffusers with torch.compile (what an expert Python user runs); compiling takes
# minutes, so it comes last and only when the budget still allows it.
reference ref_compile 150 240 "$REF_DIR/vc" sana1600 sprint1600 --compile=default

# ---- summary --------------------------------------------------------------------------------------------------------
{
    python3 "$ROOT/installer/bench/summarize.py" "$OUT_DIR/kinora_bench.jsonl" "$OUT_DIR/reference.jsonl" \
        --env "$LOG_DIR/env.txt"
    echo
    power="$(python3 "$ROOT/installer/bench/power_summary.py" "$LOG_DIR/power.csv" "$LOG_DIR/steps.tsv")"
    [[ -n "$power" ]] && printf '%s\n\n' "$power"
    echo "Run: budget ${BUDGET} s, used $((SECONDS - START)) s, status ${STATUS}."
    if (( ${#SKIPPED[@]} > 0 )); then
        echo "Skipped or cut short:"
        for s in "${SKIPPED[@]}"; do echo "- $s"; done
    else
        echo "Nothing skipped."
    fi
} > "$OUT_DIR/summary.md" 2>&1
cat "$OUT_DIR/summary.md"
log "done (status $STATUS) in $((SECONDS - START)) s; files in $OUT_DIR"
pack
exit $STATUS
