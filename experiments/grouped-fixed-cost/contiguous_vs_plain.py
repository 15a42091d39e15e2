"""Experiment: where the contiguous grouped GEMM's gap to DeepGEMM lives (issue 18).

bench/grouped.py puts the contiguous rows at 0.95-0.98x DeepGEMM while the plain GEMM runs at
0.99x on 4096x4096x7168. Three suspects, each isolated here on the same tensors, bf16 D:
  plain    fp8block.gemm / DeepGEMM's plain GEMM over all the rows with expert 0's weights
           (the same FLOPs as the grouped call): the base kernels' gap at this M
  c256     fp8block.gemm_grouped / DeepGEMM's contiguous call, every group a multiple of 256 rows
           (no padded rows in our 256-row tiles): what grouping costs beyond the plain GEMM
  c128     the same with every group 128 rows over a multiple of 256 (the most our 256-row
           tiles pad: half a tile a group; DeepGEMM's 128-row tiles pad none): what padding costs
G in {4, 32}, about the rows bench/grouped.py draws. GPU time (events, L2 flushed, a spin before:
bench/peers.py's Timer) and kernel time from the profiler, medians; TFLOP/s on the real rows.

Usage: FP8BLOCK_LIBRARY=... PYTHONPATH=python:bench:peers/deepgemm-v1 \
  python3 experiments/grouped-fixed-cost/contiguous_vs_plain.py [--reps 10] [--shapes 4096,7168]
"""
import cuda.bindings.nvrtc  # noqa: F401
import argparse
import os
import random
import statistics
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "bench"), os.path.join(HERE, "..", "small-m-plans")]
from grouped import contiguous_operands, experts  # noqa: E402
from peers import Timer  # noqa: E402
from fixed_cost import kernel_us  # noqa: E402

import deep_gemm  # noqa: E402
import fp8block  # noqa: E402

ROWS = {4: 12800, 32: 41984}  # about bench/grouped.py's totals at G = 4 and 32


def group_sizes(g, total, odd):
    tiles = max(1, round(total / g / 256))
    return [256 * tiles + (128 if odd else 0)] * g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--shapes", default="4096,7168;7168,2048")
    args = ap.parse_args()
    torch.manual_seed(0)
    timer = Timer()
    print(f"contiguous_vs_plain on {torch.cuda.get_device_name(0)}, commit {os.environ.get('FP8BLOCK_COMMIT', '?')}")
    print(f"{'N':>5} {'K':>5} {'G':>3} {'rows':>6} | {'call':<12} {'gpu us':>8} {'kern us':>8} {'TFLOP/s':>8}")
    for n, k in (tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")):
        for g in (4, 32):
            qb, sb = experts(g, n, k)
            for label, odd in (("c256", False), ("c128", True)):
                sizes = group_sizes(g, ROWS[g], odd)
                m = sum(sizes)
                qa, sa, offsets, m_indices, dg_sa = contiguous_operands(sizes, k)
                d = {name: torch.empty(m, n, dtype=torch.bfloat16, device="cuda") for name in ("fp", "dp", "fc", "dc")}
                calls = {
                    f"fb {label}": lambda: fp8block.gemm_grouped(qa, sa, qb, sb, offsets=offsets, out=d["fc"]),
                    f"dg {label}": lambda: deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_contiguous(
                        (qa, dg_sa), (qb, sb), d["dc"], m_indices),
                }
                if not odd:  # the plain GEMMs once a G: the same rows and FLOPs as c256
                    calls.update({
                        "fb plain": lambda: fp8block.gemm(qa, sa, qb[0], sb[0], out=d["fp"]),
                        "dg plain": lambda: deep_gemm.gemm_fp8_fp8_bf16_nt((qa, dg_sa), (qb[0], sb[0].contiguous()),
                                                                           d["dp"]),
                    })
                for call in calls.values():
                    call()
                torch.cuda.synchronize()
                for a, b in [("fc", "dc")] + ([("fp", "dp")] if "fb plain" in calls else []):
                    diff = float((d[a].float() - d[b].float()).norm() / d[b].float().norm())
                    if diff > 1e-2:
                        raise SystemExit(f"{a} and {b} differ by {diff:.2e} at G={g} {label} {m}x{n}x{k}")
                gpu = timer.gpu_times(calls, args.reps, random.Random(1))
                for name, call in calls.items():
                    us = statistics.median(gpu[name])
                    print(f"{n:>5} {k:>5} {g:>3} {m:>6} | {name:<12} {us:>8.1f} "
                          f"{kernel_us(call, timer.flush_l2, args.reps)[0]:>8.1f} {2 * m * n * k / us / 1e6:>8.0f}",
                          flush=True)


if __name__ == "__main__":
    main()
