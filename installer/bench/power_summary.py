#!/usr/bin/env python3
"""Clocks and power during each step of a device run (run_gpu_bench.sh): joins nvidia-smi's samples
(power.csv: timestamp, SM clock MHz, power W, power limit W, clocks_event_reasons.active, GPU utilisation %, taken
every 100 ms without header or units) with the steps' start and end times (steps.tsv: name, start, end in seconds
since the epoch) and prints a Markdown table for the benchmark and reference steps. A step whose busy samples show
the software power cap (reason bit 0x4) ran below its top clock because the board reached its power limit: its
times follow the energy of its work more than its kernel count (docs/PERFORMANCE.md, "Sana step, eighth session").

    power_summary.py power.csv steps.tsv"""
import statistics
import sys
from datetime import datetime

SW_POWER_CAP = 0x4


def read_samples(path):
    samples = []
    with open(path) as f:
        for line in f:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 6:
                continue
            try:
                t = datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
                samples.append((t, float(parts[1]), float(parts[2]), float(parts[3]), int(parts[4], 16),
                                float(parts[5])))
            except ValueError:
                continue
    return samples


def read_steps(path):
    steps = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                try:
                    steps.append((parts[0], float(parts[1]), float(parts[2])))
                except ValueError:
                    continue
    return steps


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        samples = read_samples(sys.argv[1])
        steps = read_steps(sys.argv[2])
    except OSError:
        return
    rows = []
    for name, start, end in steps:
        if not (name.startswith("bench") or name.startswith("ref") or name.startswith("profile")):
            continue
        busy = [s for s in samples if start <= s[0] <= end and s[5] >= 50]
        if not busy:
            continue
        clocks = [s[1] for s in busy]
        power = [s[2] for s in busy]
        capped = sum(1 for s in busy if s[4] & SW_POWER_CAP)
        rows.append(f"| {name} | {len(busy)} | {statistics.median(clocks):.0f} ({min(clocks):.0f}–{max(clocks):.0f}) | "
                    f"{statistics.median(power):.0f} / {max(power):.0f} / {busy[0][3]:.0f} | "
                    f"{100.0 * capped / len(busy):.0f} % |")
    if not rows:
        return
    print("Clocks and power during the steps (nvidia-smi every 100 ms, samples with the GPU ≥ 50 % busy):")
    print()
    print("| step | busy samples | SM clock MHz: median (min–max) | power W: median / max / limit | "
          "samples at the power cap |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
