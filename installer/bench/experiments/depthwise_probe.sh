#!/usr/bin/env bash
# Device call for depthwise_variants.cu: build, time every variant, count each kernel's SASS instructions by opcode,
# and profile the first shape's kernels with Nsight Compute (when installed; DEPTHWISE_PROBE_NCU=0 skips it).
# Writes to $OUT.
#   run(command="installer/bench/experiments/depthwise_probe.sh", timeout_s=400)
set -u
OUT="${OUT:-/tmp/depthwise_probe}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv > "$OUT/gpu.txt" 2>&1
nvcc -std=c++17 -arch=sm_90 -O3 -lineinfo -Ikernels/src/cuda installer/bench/experiments/depthwise_variants.cu \
    -o /tmp/dv -Xptxas -v > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
/tmp/dv > "$OUT/variants.txt" 2>&1
cat "$OUT/variants.txt"
CUOBJDUMP="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
if [[ -n "$CUOBJDUMP" ]]; then
    "$CUOBJDUMP" -sass /tmp/dv > /tmp/sass.txt 2>&1
    python3 - /tmp/sass.txt > "$OUT/sass_histogram.txt" <<'PY'
import re, sys, collections
fn, counts = None, collections.OrderedDict()
for line in open(sys.argv[1]):
    m = re.search(r"Function : (\S+)", line)
    if m:
        fn = m.group(1); counts[fn] = collections.Counter(); continue
    m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", line)
    if fn and m:
        counts[fn][m.group(2).split(".")[0]] += 1
for fn, c in counts.items():
    if "dwconv" not in fn and "variant" not in fn: continue
    print(fn, "total", sum(c.values()))
    print("   ", ", ".join(f"{k} {v}" for k, v in c.most_common(40)))
PY
    grep -A400000 "silu_dwconv_gate_tokens_kernelI13__nv_bfloat16" /tmp/sass.txt | sed -n '1,/\.L_x_[0-9]*:$/p' | head -2000 > "$OUT/sass_production_bf16.txt"
else
    echo "no cuobjdump" > "$OUT/sass_histogram.txt"
fi
NCU="$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
if [[ "${DEPTHWISE_PROBE_NCU:-1}" == 0 ]]; then
    echo "ncu skipped (DEPTHWISE_PROBE_NCU=0)" > "$OUT/ncu.txt"
elif [[ -n "$NCU" ]]; then
    METRICS=sm__inst_executed_pipe_alu.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_active
    METRICS+=,sm__inst_executed_pipe_fmaheavy.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active
    METRICS+=,sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active,sm__pipe_shared_cycles_active.avg.pct_of_peak_sustained_active
    for r in barrier long_scoreboard short_scoreboard mio_throttle math_pipe_throttle wait not_selected selected lg_throttle dispatch_stall no_instruction; do
        METRICS+=,smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio
    done
    timeout 200 "$NCU" -k regex:'silu_dwconv|prefetch' --launch-count 18 --section SpeedOfLight \
        --section ComputeWorkloadAnalysis --section InstructionStats --section WarpStateStats --section SchedulerStats \
        --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis --metrics "$METRICS" \
        /tmp/dv --quick > "$OUT/ncu.txt" 2>&1
    echo "ncu rc $?"
else
    echo "no ncu" > "$OUT/ncu.txt"
fi
