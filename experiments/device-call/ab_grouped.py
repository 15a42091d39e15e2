#!/usr/bin/env python3
"""A/B of grouped-GEMM libraries in one process: main's libfp8block.so and each variant's, loaded
side by side, timed on the same tensors with DeepGEMM v1 in one shuffled rotation (bench/peers.py's
Timer: events, L2 flushed, host hidden behind a spin, each rep's order drawn anew).

Why: prebuilt_call.sh's rotation (main / variant / variant / main, one process each) saw the same
library's row move by up to 10% between its passes on an H100 whose clocks drifted under a long
call (bench/NOTES.md "Measured: half units dealt"). Calls interleaved within a rep drift together.

Rows: bench/grouped.py's contiguous rows (its draws: random.Random(18), sizes padded to 128) and
contiguous_vs_plain's c256 / c128 rows at 4096x7168 (every group a multiple of 256 rows, or 128
more). Each library's output is checked against DeepGEMM's on the groups' rows before timing.

Usage (GPU machine): PYTHONPATH=python:bench:peers/deepgemm-v1 python3 ab_grouped.py \\
    main=ab/bins/main/libfp8block.so wide=ab/bins/wide/libfp8block.so [--reps 10]
"""
import argparse
import os
import random
import statistics
import sys

try:  # DeepGEMM's JIT wants the system NVRTC loaded before torch's
    import cuda.bindings.nvrtc  # noqa: F401
except Exception:
    pass
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "bench"), os.path.join(HERE, "..", "grouped-fixed-cost")]
from grouped import SHAPES, contiguous_operands, contiguous_sizes, experts, masked_counts, rel_diff  # noqa: E402
from contiguous_vs_plain import ROWS, group_sizes  # noqa: E402
from peers import Timer  # noqa: E402

import deep_gemm  # noqa: E402
import fp8block  # noqa: E402
from fp8block import _library as L  # noqa: E402


def load(libraries):
    """{name: (CDLL, its contexts)}: each library loaded through the binding's own loader."""
    loaded = {}
    for name, path in libraries:
        L._lib, L._contexts = None, {}
        os.environ[L.LIBRARY_ENV] = path
        loaded[name] = (L.library(), L._contexts)
    return loaded


def ab_arguments(description):
    """The command line of an A/B script (NAME=PATH..., main's first; --reps), each library
    loaded: (args, loaded, names)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("libraries", nargs="+", help="NAME=PATH, main's first")
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    libraries = [tuple(a.split("=", 1)) for a in args.libraries]
    return args, load(libraries), [name for name, _ in libraries]


def on(loaded, name, fn):
    """fn run with library `name` as the binding's library (and its contexts)."""
    lib, contexts = loaded[name]

    def call():
        L._lib, L._contexts = lib, contexts
        return fn()
    return call


def rows_to_time():
    """(label, G, N, K, group sizes), bench/grouped.py's contiguous draws first."""
    rows, pick = [], random.Random(18)
    for n, k in SHAPES:
        for g in (4, 8, 32):
            rows.append(("grouped.py", g, n, k, contiguous_sizes(pick, g)[1]))
        for g in (1, 2, 4, 8, 16, 32):  # the masked rows' draws, so that the next shape's match
            for max_m in (64, 128, 256):
                masked_counts(pick, g, max_m)
    for g, total in ROWS.items():
        rows.append(("c256", g, 4096, 7168, group_sizes(g, total, False)))
        rows.append(("c128", g, 4096, 7168, group_sizes(g, total, True)))
    return rows


def main():
    args, loaded, names = ab_arguments(__doc__)
    torch.manual_seed(0)
    timer = Timer()
    print(f"ab_grouped on {torch.cuda.get_device_name(0)}, commit {os.environ.get('FP8BLOCK_COMMIT', '?')}, "
          f"libraries {' '.join(names)} (GPU us, medians of {args.reps}, one shuffled rotation a rep)")
    print(f"{'rows':<10} {'G':>3} {'N':>5} {'K':>5} {'M':>6} | " + " ".join(f"{n:>9}" for n in names + ["deepgemm"]) +
          " | " + " ".join(f"{n + '/DG':>9}" for n in names))
    ratios = {name: [] for name in names}
    for label, g, n, k, sizes in rows_to_time():
        m = sum(sizes)
        qb, sb = experts(g, n, k)
        qa, sa, offsets, m_indices, dg_sa = contiguous_operands(sizes, k)
        d_dg = torch.empty(m, n, dtype=torch.bfloat16, device="cuda")
        calls = {"deepgemm": lambda: deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_contiguous((qa, dg_sa), (qb, sb), d_dg,
                                                                                          m_indices)}
        outs = {}
        for name in names:
            outs[name] = torch.full((m, n), float("nan"), dtype=torch.bfloat16, device="cuda")
            calls[name] = on(loaded, name, lambda d=outs[name]: fp8block.gemm_grouped(qa, sa, qb, sb, offsets=offsets,
                                                                                       out=d))
        for call in calls.values():
            call()
        torch.cuda.synchronize()
        every = torch.arange(m, device="cuda")
        for name in names:
            diff = rel_diff(outs[name], d_dg, every)
            if not diff <= 1e-2:
                raise SystemExit(f"{label} G={g} N={n}: {name} and DeepGEMM differ by {diff:.2e}")
        gpu = {name: statistics.median(t) for name, t in timer.gpu_times(calls, args.reps, random.Random(1)).items()}
        for name in names:
            ratios[name].append((label, gpu["deepgemm"] / gpu[name]))
        print(f"{label:<10} {g:>3} {n:>5} {k:>5} {m:>6} | " + " ".join(f"{gpu[x]:>9.1f}" for x in names + ["deepgemm"]) +
              " | " + " ".join(f"{gpu['deepgemm'] / gpu[x]:>8.3f}x" for x in names), flush=True)
    for name in names:
        bench_rows = [r for label, r in ratios[name] if label == "grouped.py"]
        print(f"{name}: bench/grouped.py's contiguous rows {statistics.geometric_mean(bench_rows):.3f}x DeepGEMM "
              f"(lowest {min(bench_rows):.3f}x); every row {statistics.geometric_mean([r for _, r in ratios[name]]):.3f}x")


if __name__ == "__main__":
    main()
