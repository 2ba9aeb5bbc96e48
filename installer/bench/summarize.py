#!/usr/bin/env python3
"""Side-by-side table of kinora-bench and the Python reference (../shared/bench/reference_diffusers.py), as
docs/PERFORMANCE.md lays it out. Standard library only (it runs on the GPU machine and here).

    summarize.py kinora_bench.jsonl reference.jsonl [--env env.txt]

Ratios are ours / reference: below 1 means Kinora is faster (or smaller). Only lines of the same call compare."""
import argparse
import json
import os
import sys

# kinora-bench case -> prefix of the reference script's case string
REFERENCE_PREFIX = {
    "sana1600": "sana1600_",
    "sana600": "sana600_",
    "sprint1600_2step": "sprint1600_",
    "sprint600_2step": "sprint600_",
    "vc2": "videocrafter2_",
    "dc512": "dynamicrafter512_",
}


def read_jsonl(path):
    lines = []
    if not path or not os.path.exists(path):
        return lines
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if not raw.startswith("{"):
                continue
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                pass
    return lines


def first_key(d, prefix):
    """The value of the first key of d that starts with prefix (the reference names keys like
    'transformer_fwd_s(batch2)'), else None. Our '..._graphed' component numbers are not the eager ones."""
    for k, v in d.items():
        if k.startswith(prefix) and not k.endswith("_all") and not k.endswith("_graphed"):
            return v
    return None


def graphed_fwd_ms(line):
    """The denoiser forward (Sana transformer, LVDM UNet) through a CUDA graph (kinora-bench "..._graphed"), else
    None."""
    for k, v in line.items():
        if (k.startswith("transformer_fwd_ms") or k.startswith("unet_fwd_ms")) and k.endswith("_graphed"):
            return v
    return None


SWITCHES = ("kernels", "graphs", "channels_last", "quantization")


def quantization_of(line):
    q = line.get("quantization", "none")
    return q.get("mode", "none") if isinstance(q, dict) else q


def step_ms(line):
    """The transformer forward through a CUDA graph where one was timed, else the eager one (ms)."""
    graphed = graphed_fwd_ms(line)
    if graphed is not None:
        return graphed
    eager = ours_numbers(line)["step"]
    return None if eager is None else 1e3 * eager


def mode(line):
    """The switches a kinora-bench line ran with: kernels, CUDA graphs, channels-last, weight quantisation (older
    lines: defaults)."""
    return (line.get("kernels", "fused"), line.get("graphs", "on"), line.get("channels_last", "on"),
            quantization_of(line))


def label_of(line):
    kernels, graphs, channels_last, quantization = mode(line)
    extra = []
    if quantization != "none":
        extra.append(f"{quantization} weights")
    if kernels == "aten":
        extra.append("ATen ops")
    if graphs == "off" and line.get("case", "").startswith(("sana", "sprint")):
        extra.append("no CUDA graphs")
    if channels_last == "off":
        extra.append("NCHW convs")
    return line["case"] + (f" ({', '.join(extra)})" if extra else "")


def partner(ours, line, **changes):
    """The error-free line of the same case whose switches equal line's except `changes` (kernels / graphs /
    channels_last = value)."""
    want = dict(zip(SWITCHES, mode(line)))
    want.update(changes)
    for other in ours:
        if other is line or "error" in other or other.get("case") != line.get("case"):
            continue
        if dict(zip(SWITCHES, mode(other))) == want:
            return other
    return None


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}{unit}" if abs(v) < 100 else f"{v:.0f}{unit}"
    return f"{v}{unit}"


def ratio(ours, ref):
    if ours is None or ref in (None, 0):
        return "–"
    return f"{ours / ref:.2f}×"


def ours_numbers(line):
    """Seconds / GiB from a kinora-bench line."""
    ms = lambda v: None if v is None else v / 1e3  # noqa: E731
    return {
        "total": line.get("total_s"),
        "step": ms(first_key(line, "transformer_fwd_ms") or first_key(line, "unet_fwd_ms")),
        "decode": ms(first_key(line, "vae_decode_ms") or first_key(line, "vae_decode_")),
        "text": ms(first_key(line, "text_encode_ms")),
        "peak": line.get("peak_mem_GiB"),
        "denoise_step": ms(line.get("denoise_per_step_ms")),
    }


def ref_numbers(line):
    return {
        "total": line.get("total_s", line.get("est_50_steps_s")),
        "step": first_key(line, "transformer_fwd_s") or first_key(line, "unet_fwd_s"),
        "decode": first_key(line, "vae_decode"),
        "text": first_key(line, "text_encode_s"),
        "peak": line.get("peak_mem_GiB"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours")
    ap.add_argument("reference", nargs="?")
    ap.add_argument("--env")
    args = ap.parse_args()

    lines = [l for l in read_jsonl(args.ours) if "case" in l]
    ours = [l for l in lines if "ops" not in l]
    kernel_lines = [l for l in lines if "ops" in l]
    refs = read_jsonl(args.reference)
    ref_meta = next((l for l in refs if "gpu" in l), {})
    refs = [l for l in refs if "case" in l]

    if args.env and os.path.exists(args.env):
        with open(args.env, encoding="utf-8") as f:
            print("```\n" + f.read().strip() + "\n```\n")
    if ref_meta:
        print(f"Reference: torch {ref_meta.get('torch')} on {ref_meta.get('gpu')}\n")

    print("| case | device | total (ours) | total (ref) | ratio | denoiser fwd (ours) | (ref) | ratio "
          "| VAE decode (ours) | (ref) | ratio | text enc (ours) | (ref) | peak GiB (ours) | (ref) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for line in ours:
        name = line["case"]
        label = label_of(line)
        if "error" in line:
            print(f"| {label} | – | error: {line['error'][:80]} | | | | | | | | | | | | |")
            continue
        o = ours_numbers(line)
        prefix = REFERENCE_PREFIX.get(name)
        matches = [r for r in refs if prefix and str(r.get("case", "")).startswith(prefix) and "error" not in r]
        eager = next((r for r in matches if "compile" not in r["case"]), None)
        compiled = [r for r in matches if "compile" in r["case"]]
        r = ref_numbers(eager) if eager else {}
        print(f"| {label} | {line.get('device', '–').split(' (')[0]} | {fmt(o['total'], ' s')} "
              f"| {fmt(r.get('total'), ' s')} | {ratio(o['total'], r.get('total'))} "
              f"| {fmt(None if o['step'] is None else 1e3 * o['step'], ' ms')} "
              f"| {fmt(None if r.get('step') is None else 1e3 * r['step'], ' ms')} | {ratio(o['step'], r.get('step'))} "
              f"| {fmt(None if o['decode'] is None else 1e3 * o['decode'], ' ms')} "
              f"| {fmt(None if r.get('decode') is None else 1e3 * r['decode'], ' ms')} "
              f"| {ratio(o['decode'], r.get('decode'))} "
              f"| {fmt(None if o['text'] is None else 1e3 * o['text'], ' ms')} "
              f"| {fmt(None if r.get('text') is None else 1e3 * r['text'], ' ms')} "
              f"| {fmt(o['peak'])} | {fmt(r.get('peak'))} |")
        for c in compiled:
            rc = ref_numbers(c)
            compile_mode = c["case"].split("compile-", 1)[-1]
            print(f"| ↳ vs torch.compile {compile_mode} | | | {fmt(rc['total'], ' s')} | {ratio(o['total'], rc['total'])} "
                  f"| | {fmt(None if rc['step'] is None else 1e3 * rc['step'], ' ms')} | {ratio(o['step'], rc['step'])} "
                  f"| | | | | | | |")
    print("\nRatios are ours / reference (below 1: Kinora faster or smaller). The reference times no end-to-end video "
          "run: its total for vc2 / dc512 is 50 × one UNet forward (est_50_steps_s); ours is the whole pipeline.\n")
    # Quantised weights: speed against the same case unquantised, and the quality check the line carries.
    pairs = [(l, partner(ours, l, quantization="none")) for l in ours
             if "error" not in l and quantization_of(l) != "none"]
    if pairs:
        print("Quantised transformer blocks (same build, same card) against the unquantised model; quality: the final "
              "image (same seed, all steps) and one forward against the unquantised model's:\n")
        print("| case | weights | total | unquantised | ratio | step (graphed on CUDA) | unquantised | ratio | peak GiB "
              "| unquantised | image PSNR | image max diff | forward rel. L2 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for q, base in pairs:
            oq = ours_numbers(q)
            ob = ours_numbers(base) if base else {}
            sq, sb = step_ms(q), step_ms(base) if base else None
            info = q.get("quantization", {})
            print(f"| {q['case']} | {quantization_of(q)} | {fmt(oq['total'], ' s')} | {fmt(ob.get('total'), ' s')} "
                  f"| {ratio(oq['total'], ob.get('total'))} | {fmt(sq, ' ms')} | {fmt(sb, ' ms')} | {ratio(sq, sb)} "
                  f"| {fmt(oq['peak'])} | {fmt(ob.get('peak'))} | {fmt(info.get('image_psnr_db'), ' dB')} "
                  f"| {fmt(info.get('image_max_abs_diff'))} | {fmt(info.get('forward_rel_l2_error'))} |")
        print()
    # Before / after our kernels: the same case with --kernels off (ATen ops) and on (fused).
    pairs = []
    for line in ours:
        if "error" in line or line.get("kernels") != "aten":
            continue
        fused = partner(ours, line, kernels="fused")
        if fused:
            pairs.append((line, fused))
    if pairs:
        print("Before / after our fused kernels (same build, same card; ATen ops = --kernels off):\n")
        print("| case | total ATen | total fused | fused / ATen | denoiser fwd ATen | fused | fused / ATen |")
        print("|---|---|---|---|---|---|---|")
        for before, after in pairs:
            b, a = ours_numbers(before), ours_numbers(after)
            print(f"| {after['case']} | {fmt(b['total'], ' s')} | {fmt(a['total'], ' s')} | {ratio(a['total'], b['total'])} "
                  f"| {fmt(None if b['step'] is None else 1e3 * b['step'], ' ms')} "
                  f"| {fmt(None if a['step'] is None else 1e3 * a['step'], ' ms')} | {ratio(a['step'], b['step'])} |")
        print()
    # Before / after CUDA graphs: the same case with --graphs off (eager transformer steps) and on.
    pairs = [(l, partner(ours, l, graphs="on")) for l in ours if "error" not in l and mode(l)[1] == "off"]
    pairs = [(b, a) for b, a in pairs if a]
    if pairs:
        print("Before / after CUDA graphs for the transformer step (same build, same card; eager = --graphs off). "
              "Component: one forward eager vs replayed from a graph, in the graphs-on run:\n")
        print("| case | total eager | total graphs | graphs / eager | denoise per step eager | graphs | ratio "
              "| fwd eager (component) | fwd graphed | ratio | graphed vs eager max abs diff | captures / replays |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for before, after in pairs:
            b, a = ours_numbers(before), ours_numbers(after)
            eager_ms = first_key(after, "transformer_fwd_ms")
            graphed_ms = graphed_fwd_ms(after)
            stats = after.get("graph_stats", {})
            print(f"| {after['case']} | {fmt(b['total'], ' s')} | {fmt(a['total'], ' s')} | {ratio(a['total'], b['total'])} "
                  f"| {fmt(None if b['denoise_step'] is None else 1e3 * b['denoise_step'], ' ms')} "
                  f"| {fmt(None if a['denoise_step'] is None else 1e3 * a['denoise_step'], ' ms')} "
                  f"| {ratio(a['denoise_step'], b['denoise_step'])} "
                  f"| {fmt(eager_ms, ' ms')} | {fmt(graphed_ms, ' ms')} | {ratio(graphed_ms, eager_ms)} "
                  f"| {fmt(after.get('graphed_vs_eager_max_abs_diff'))} "
                  f"| {stats.get('captures', '–')} / {stats.get('replays', '–')}"
                  f"{' (capture FAILED)' if stats.get('capture_failed') else ''} |")
        print()
    # Before / after channels-last convolutions: the same case with --channels-last off (NCHW) and on.
    pairs = [(l, partner(ours, l, channels_last="on")) for l in ours if "error" not in l and mode(l)[2] == "off"]
    pairs = [(b, a) for b, a in pairs if a]
    if pairs:
        print("Before / after channels-last convolutions (VAE decode; the UNet forward for video; NCHW = "
              "--channels-last off):\n")
        print("| case | total NCHW | total channels-last | ratio | VAE decode NCHW | channels-last | ratio "
              "| denoiser fwd NCHW | channels-last | ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for before, after in pairs:
            b, a = ours_numbers(before), ours_numbers(after)
            ms = lambda v: None if v is None else 1e3 * v  # noqa: E731
            print(f"| {after['case']} | {fmt(b['total'], ' s')} | {fmt(a['total'], ' s')} | {ratio(a['total'], b['total'])} "
                  f"| {fmt(ms(b['decode']), ' ms')} | {fmt(ms(a['decode']), ' ms')} | {ratio(a['decode'], b['decode'])} "
                  f"| {fmt(ms(b['step']), ' ms')} | {fmt(ms(a['step']), ' ms')} | {ratio(a['step'], b['step'])} |")
        print()
    print("Stages of our end-to-end runs (medians, seconds):\n")
    print("| case | kernels | graphs | channels-last | dtype | steps | stages | total |")
    print("|---|---|---|---|---|---|---|---|")
    for line in ours:
        if "error" in line:
            continue
        stages = ", ".join(f"{k} {v:.4g}" for k, v in line.get("stages_s", {}).items())
        print(f"| {line['case']} | {line.get('kernels', '–')} | {line.get('graphs', '–')} "
              f"| {line.get('channels_last', '–')} | {line.get('dtype')} | {line.get('steps')} | {stages} "
              f"| total {fmt(line.get('total_s'))} |")
    for kl in kernel_lines:
        print(f"\nOur kernels vs the ATen ops they replace ({kl.get('device')}, {kl.get('dtype')}):\n")
        print("| op | shape | fused ms | ATen ms | speedup | min MB | fused GB/s | rel. diff |")
        print("|---|---|---|---|---|---|---|---|")
        for op in kl["ops"]:
            print(f"| {op['op']} | {op['shape']} | {fmt(op['fused_ms'])} | {fmt(op['aten_ms'])} | {op['speedup']}× "
                  f"| {fmt(op['min_MB'])} | {fmt(op['fused_GBps'])} | {op['rel_diff_vs_aten']:.1e} |")
    errors = [l for l in ours + refs if "error" in l]
    if errors:
        print("\nErrors:")
        for e in errors:
            print(f"- {e.get('case')}: {str(e['error'])[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
