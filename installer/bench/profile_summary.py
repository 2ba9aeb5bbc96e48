#!/usr/bin/env python3
"""Tabulates the Chrome traces of `kinora-bench --profile DIR` (LibTorch's Kineto profiler).

    installer/bench/profile_summary.py DIR [--top N]

For each trace: the GPU time of every kernel summed by kernel name, and the same time attributed to the innermost
CPU operator that launched the kernel (aten::mm, aten::_convolution, kinora's ops ...), largest first, with counts and
shares of the summed kernel time. The sum of kernel time is not the wall time: gaps between kernels are not in it.
"""
import argparse
import bisect
import collections
import glob
import json
import os
import re


def short(name, width=90):
    name = re.sub(r"\s+", " ", name)
    return name if len(name) <= width else name[: width - 3] + "..."


def summarize(path, top):
    with open(path) as f:
        trace = json.load(f)
    events = trace.get("traceEvents", trace if isinstance(trace, list) else [])
    kernels = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    runtime = {}
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in ("cuda_runtime", "cuda_driver"):
            corr = (e.get("args") or {}).get("correlation")
            if corr is not None:
                runtime[corr] = e
    # CPU ops per thread, sorted by start, for the innermost-containing lookup.
    ops = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e.get("cat") == "cpu_op":
            ops[(e.get("pid"), e.get("tid"))].append(e)
    starts = {}
    for key, lst in ops.items():
        lst.sort(key=lambda e: e["ts"])
        starts[key] = [e["ts"] for e in lst]

    def launcher(kernel):
        corr = (kernel.get("args") or {}).get("correlation")
        r = runtime.get(corr)
        if r is None:
            return "(unknown)"
        key = (r.get("pid"), r.get("tid"))
        lst = ops.get(key, [])
        i = bisect.bisect_right(starts.get(key, []), r["ts"]) - 1
        best = None
        # Walking back over the ops that started before the launch, the first that still contains it is the
        # innermost (nested ops start later than their parents).
        steps = 0
        while i >= 0 and steps < 400:
            e = lst[i]
            if e["ts"] <= r["ts"] <= e["ts"] + e.get("dur", 0):
                best = e
                break
            i -= 1
            steps += 1
        return best["name"] if best else "(no op)"

    by_kernel = collections.Counter()
    by_kernel_n = collections.Counter()
    by_op = collections.Counter()
    by_op_n = collections.Counter()
    for k in kernels:
        d = float(k.get("dur", 0))
        name = k.get("name", "?")
        by_kernel[name] += d
        by_kernel_n[name] += 1
        op = launcher(k)
        by_op[op] += d
        by_op_n[op] += 1
    total = sum(by_kernel.values())
    span = 0.0
    if kernels:
        span = max(k["ts"] + k.get("dur", 0) for k in kernels) - min(k["ts"] for k in kernels)
    out = [f"## {os.path.basename(path)}", "",
           f"kernels: {len(kernels)}, summed kernel time {total / 1e3:.3f} ms, first kernel start to last kernel end "
           f"{span / 1e3:.3f} ms", "",
           "| by CPU operator | calls | ms | share |", "|---|---|---|---|"]
    for op, d in by_op.most_common(top):
        out.append(f"| {short(op)} | {by_op_n[op]} | {d / 1e3:.3f} | {100 * d / max(total, 1e-9):.1f}% |")
    out += ["", "| by kernel | calls | ms | share |", "|---|---|---|---|"]
    for name, d in by_kernel.most_common(top):
        out.append(f"| {short(name)} | {by_kernel_n[name]} | {d / 1e3:.3f} | {100 * d / max(total, 1e-9):.1f}% |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.dir, "*.json")))
    if not paths:
        print(f"no traces in {a.dir}")
        return 1
    for p in paths:
        try:
            print(summarize(p, a.top))
        except Exception as e:  # one bad trace must not hide the others
            print(f"## {os.path.basename(p)}\n\nunreadable: {e}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
