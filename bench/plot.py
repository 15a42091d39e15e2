#!/usr/bin/env python3
"""Plots the JSON that `fp8block bench` and `fp8block accuracy` write, and that of the peer and
epilogue benches (bench/peers.py, bench/epilogue.py).

    python3 bench/plot.py bench    results.json --out DIR [--prefix NAME]
    python3 bench/plot.py accuracy results.json --out DIR [--prefix NAME]
    python3 bench/plot.py peers    peers.json    --out DIR [--prefix NAME]
    python3 bench/plot.py epilogue epilogue.json --out DIR [--prefix NAME]

bench writes NAME-tflops.png (TFLOP/s per method: squares against size, DeepSeek shapes
side by side), NAME-speedup.png (fp8block over cuBLASLt block-scaled, per-tensor and bf16,
and quantize+GEMM over bf16) and NAME-quant.png (quantize GB/s against a copy of the same
bytes). accuracy writes NAME.png: errors and SNR per data set and scheme. peers writes NAME.png:
each peer's GPU time over fp8block's per shape (DeepGEMM, cuBLASLt block-scaled). epilogue writes
NAME.png: e4m3 D, bf16 D + bias and e4m3 D against bf16 D + quantize, over bf16 D's time, per
shape, with issue 16's 1.02 bar. NAME defaults to the kind. A method with no numbers (unavailable, failed) is left out and named in the title.
"""
import argparse
import json
import math
import os
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GEMM_METHODS = [  # name in the JSON, label, colour
    ("fp8block", "fp8block (block FP8)", "#d62728"),
    ("cublaslt_fp8_block", "cuBLASLt block FP8", "#1f77b4"),
    ("cublaslt_fp8_tensor", "cuBLASLt per-tensor FP8", "#2ca02c"),
    ("cublaslt_bf16", "cuBLASLt bf16", "#7f7f7f"),
]
SPEEDUPS = [  # key in "speedup", label, colour
    ("fp8block_vs_cublaslt_fp8_block", "fp8block GEMM vs cuBLASLt block FP8", "#1f77b4"),
    ("fp8block_vs_cublaslt_fp8_tensor", "fp8block GEMM vs cuBLASLt per-tensor FP8", "#2ca02c"),
    ("fp8block_vs_cublaslt_bf16", "fp8block GEMM vs cuBLASLt bf16", "#7f7f7f"),
    ("pipeline_vs_cublaslt_bf16", "quantize A + fp8block GEMM vs cuBLASLt bf16", "#9467bd"),
]
QUANT = [  # method, label, colour, hatch
    ("quantize_a_1x128", "quantize A 1x128", "#d62728", None),
    ("copy_a", "copy of A (same bf16 bytes)", "#f7b6b6", "//"),
    ("quantize_b_128x128", "quantize B 128x128", "#1f77b4", None),
    ("copy_b", "copy of B (same bf16 bytes)", "#aec7e8", "//"),
]
SCHEME_COLOURS = {"fp8block": "#d62728", "per-tensor": "#2ca02c", "per-row": "#ff7f0e", "bf16": "#7f7f7f"}


def value(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def shape_label(s):
    return f"{s['m']}x{s['n']}x{s['k']}"


def in_set(s, name):
    return name in s["set"].split("+")


def subtitle(data):
    parts = [data.get("device", "?"), data.get("date", "?")[:10], "commit " + data.get("commit", "?")]
    if data.get("cublaslt"):
        parts.append(data["cublaslt"])
    return ", ".join(parts)


def on_cpu(data):
    """A CPU bench: its throughputs span decades (and sit far below a GPU's), so they are
    drawn on a log axis, and it has no cuBLASLt baselines to take speedups over."""
    return data.get("device", "").startswith("cpu")


def wrapped(text, width=110):
    """A title that fits its figure: each line wrapped at `width` characters."""
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def missing_note(shapes, methods):
    """The methods that have no number anywhere, grouped by the first reason given."""
    reasons = {}
    for name, label, *_ in methods:
        results = [s["results"][name] for s in shapes]
        if results and all(value(r.get("seconds")) is None for r in results):
            why = f"{results[0]['status']} ({results[0].get('detail', '')[:70]})"
            reasons.setdefault(why, []).append(label)
    return [", ".join(labels) + ": " + why for why, labels in reasons.items()]


def bar_groups(ax, labels, series, ylabel, log=False, mark_zero=None):
    """Grouped bars: series is a list of (label, colour, hatch, values); None values are
    skipped; a zero value, which draws no bar, gets the text mark_zero instead."""
    count = max(len(series), 1)
    width = 0.8 / count
    xs = range(len(labels))
    for i, (label, colour, hatch, values) in enumerate(series):
        pts = [(x + (i - (count - 1) / 2) * width, v) for x, v in zip(xs, values) if v is not None]
        if pts:
            ax.bar([p[0] for p in pts], [p[1] for p in pts], width, label=label, color=colour, hatch=hatch,
                   edgecolor="black" if hatch else None, linewidth=0.3)
        for x, v in pts:
            if mark_zero and v == 0:
                ax.text(x, 0, mark_zero, rotation=90, ha="center", va="bottom", fontsize=7, color=colour)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # headroom for the legend
    ax.grid(axis="y", alpha=0.3)


SMALL_M = 1024  # below it a GEMM streams B from HBM and is bound by bandwidth, not math


def plot_bench_tflops(data, out):
    """Squares against size; the other shapes as bars, large M and small M apart, each
    panel on its own scale so that the small-M shapes stay readable."""
    shapes = data["shapes"]
    squares = sorted((s for s in shapes if in_set(s, "square")), key=lambda s: s["m"])
    others = [s for s in shapes if not in_set(s, "square")]
    large = [s for s in others if s["m"] >= SMALL_M]
    small = [s for s in others if s["m"] < SMALL_M]
    top = [p for p in (("square", squares), ("large", large)) if p[1]]
    rows = int(bool(top)) + int(bool(small))
    fig = plt.figure(figsize=(16, 5.5 * rows))
    grid = fig.add_gridspec(rows, max(len(top), 1), width_ratios=[1.0, 1.6][:max(len(top), 1)] if len(top) == 2 else None)
    panels = [(fig.add_subplot(grid[0, i]), kind, group) for i, (kind, group) in enumerate(top)]
    if small:
        panels.append((fig.add_subplot(grid[rows - 1, :]), "small", small))
    for ax, kind, group in panels:
        if kind == "square":
            sizes = [s["m"] for s in group]
            for name, label, colour in GEMM_METHODS:
                pts = [(n, value(s["results"][name]["tflops"])) for n, s in zip(sizes, group)]
                pts = [p for p in pts if p[1] is not None]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label, color=colour)
            ax.set_xscale("log", base=2)
            if on_cpu(data):
                ax.set_yscale("log")
            ax.set_xticks(sizes)
            ax.set_xticklabels([str(n) for n in sizes])
            ax.set_xlabel("M = N = K")
            ax.set_ylabel("TFLOP/s")
            if not on_cpu(data):
                ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
            ax.set_title("Square GEMMs")
            ax.grid(alpha=0.3)
        else:
            series = [(label, colour, None, [value(s["results"][name]["tflops"]) for s in group])
                      for name, label, colour in GEMM_METHODS]
            bar_groups(ax, [shape_label(s) for s in group], series, "TFLOP/s", log=on_cpu(data))
            ax.set_xlabel("M x N x K")
            what = "DeepSeek-V3 shapes" if all(in_set(s, "deepseek") for s in group) else "Shapes"
            ax.set_title(f"{what}, M >= {SMALL_M}" if kind == "large" else
                         f"{what}, M < {SMALL_M} (bound by reading B from memory)")
        ax.legend(fontsize=8)
    notes = missing_note(shapes, GEMM_METHODS)
    fig.suptitle(wrapped("GEMM throughput, D = A·Bᵀ, bf16 out (higher is better)\n" + subtitle(data)
                         + ("\nno numbers: " + "; ".join(notes) if notes else ""), width=160), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def per_shape_bars(data, out, series, ylabel, xlabel, title, note_methods, empty_text, reference_line=None):
    """One group of bars a shape, one bar a series, saved to out."""
    shapes = data["shapes"]
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(shapes) + 3), 5.5))
    bar_groups(ax, [shape_label(s) for s in shapes], series, ylabel)
    if reference_line is not None:
        ax.axhline(reference_line, color="black", linewidth=1)
    ax.set_xlabel(xlabel)
    if any(v is not None for *_, values in series for v in values):
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, empty_text, transform=ax.transAxes, ha="center")
    notes = missing_note(shapes, note_methods)
    ax.set_title(wrapped(title + "\n" + subtitle(data) + ("\nno numbers: " + "; ".join(notes) if notes else ""),
                         width=max(60, int(fig.get_figwidth() * 11))), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def plot_bench_speedup(data, out):
    series = [(label, colour, None, [value(s["speedup"][key]) for s in data["shapes"]])
              for key, label, colour in SPEEDUPS]
    per_shape_bars(data, out, series, "speedup (time of the other / time of fp8block)", "M x N x K",
                   "fp8block speedup (>1: fp8block faster)", GEMM_METHODS,
                   "CPU backend: no cuBLASLt baselines here, so no speedups (the GPU bench has them)"
                   if on_cpu(data) else "no speedups: fp8block's GEMM or the baselines have no numbers here",
                   reference_line=1.0)


def plot_bench_quant(data, out):
    series = [(label, colour, hatch, [value(s["results"][name]["gbytes_per_s"]) for s in data["shapes"]])
              for name, label, colour, hatch in QUANT]
    per_shape_bars(data, out, series, "GB/s (bytes read + written)", "M x N x K (A is M x K, B is N x K, bf16 in)",
                   "Quantization bandwidth against a device copy of the same bytes",
                   [(n, label) for n, label, *_ in QUANT], "no quantization numbers here")


def plot_accuracy(data, out):
    dists = data["distributions"]
    schemes = list(data["schemes"].keys())
    labels = [d["name"] for d in dists]
    metrics = [
        ("rel_frobenius", "relative Frobenius error of D", True),
        ("worst_row_rel", "worst row's relative error of D", True),
        ("snr_a_worst_row_db", "SNR of A's worst row (dB)", False),
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(17, 6.5))
    for ax, (key, title, log) in zip(axes, metrics):
        series = [(scheme, SCHEME_COLOURS.get(scheme, None), None,
                   [value(d["results"][scheme].get(key)) for d in dists]) for scheme in schemes]
        bar_groups(ax, labels, series, title + (" (log)" if log else ""), log=log,
                   mark_zero=None if log else "0 dB: row flushed to zero")
        ax.set_title(title + (" — lower is better" if log else " — higher is better"), fontsize=10)
        ax.set_xlabel("data")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, [f"{n}: {data['schemes'][n]}" for n in names], loc="lower center", ncol=2, fontsize=8)
    fig.suptitle(f"Accuracy of D = A·Bᵀ against fp64 of the original inputs, "
                 f"M={data['m']} N={data['n']} K={data['k']}\n{subtitle(data)}", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(out, dpi=130)
    plt.close(fig)


PEERS = [("deepgemm", "DeepGEMM v1", "#ff7f0e"), ("cublaslt", "cuBLASLt block-scaled", "#1f77b4")]
EPILOGUE = [  # key in the row, label, colour
    ("e4m3_over_bf16", "e4m3 D (fused scales) / bf16 D", "#d62728"),
    ("bias_over_bf16", "bf16 D + bias / bf16 D", "#7f7f7f"),
    ("e4m3_over_bf16_quantize", "e4m3 D / (bf16 D + quantize_1x128)", "#9467bd"),
]


def ratio_figure(labels, series, ylabel, title, out, lines):
    """Per-shape bars of time ratios, with horizontal reference lines (value, style)."""
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(labels) + 3), 5.5))
    bar_groups(ax, labels, series, ylabel)
    for y, style in lines:
        ax.axhline(y, color="black", linewidth=1, linestyle=style)
    ax.set_xlabel("M x N x K")
    ax.legend(fontsize=8)
    ax.set_title(wrapped(title, width=max(60, int(fig.get_figwidth() * 11))), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def plot_peers(data, out):
    """Each peer's GPU time over fp8block's (> 1: fp8block faster); a peer absent on a shape is a gap."""
    shapes = data["shapes"]

    def ratio(s, peer):
        ours, theirs = s["methods"].get("fp8block", {}), s["methods"].get(peer, {})
        return theirs["gpu_us"] / ours["gpu_us"] if "gpu_us" in ours and "gpu_us" in theirs else None
    series = [(label, colour, None, [ratio(s, peer) for s in shapes]) for peer, label, colour in PEERS]
    ratio_figure([shape_label(s) for s in shapes], series, "peer time / fp8block time (> 1: fp8block faster)",
                 "fp8block against its peers, same process, same tensors (bench/peers.py)\n"
                 f"{data.get('device', '?')}, {data.get('date', '?')[:10]}, commit {data.get('commit', '?')}",
                 out, [(1.0, "-")])


def plot_epilogue(data, out):
    shapes = data["shapes"]
    series = [(label, colour, None, [value(s.get(key)) for s in shapes]) for key, label, colour in EPILOGUE]
    ratio_figure([shape_label(s) for s in shapes], series, "time / bf16 D's time",
                 "What the epilogue costs: e4m3 output with its scales, a bias (bench/epilogue.py; dashed: "
                 f"issue 16's 1.02 bar)\n{data.get('device', '?')}, commit {data.get('commit', '?')}",
                 out, [(1.0, "-"), (1.02, "--")])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["bench", "accuracy", "peers", "epilogue"])
    parser.add_argument("json")
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--prefix", help="file name prefix (default: the kind)")
    args = parser.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    prefix = os.path.join(args.out, args.prefix or args.kind)
    written = []
    if args.kind == "bench":
        for suffix, fn in (("tflops", plot_bench_tflops), ("speedup", plot_bench_speedup),
                           ("quant", plot_bench_quant)):
            fn(data, f"{prefix}-{suffix}.png")
            written.append(f"{prefix}-{suffix}.png")
    else:
        {"accuracy": plot_accuracy, "peers": plot_peers, "epilogue": plot_epilogue}[args.kind](data, prefix + ".png")
        written.append(prefix + ".png")
    print("plot.py: wrote " + ", ".join(written), file=sys.stderr)


if __name__ == "__main__":
    main()
