#!/usr/bin/env python3
"""A/B of plain-GEMM libraries in one process: main's libfp8block.so and each variant's, loaded
side by side (ab_grouped.py's loader), timed on the same tensors with DeepGEMM v1 in one shuffled
rotation a rep (bench/peers.py's Timer: events, L2 flushed, host hidden behind a spin).

Rows: bench/peers.py's large shapes (M >= 4096, where the 256x128 pairs run). Each variant's bf16 D
must equal main's bit for bit (same sums, same rounding) and DeepGEMM's within 1e-2.

Usage (GPU machine): PYTHONPATH=python:bench:peers/deepgemm-v1 python3 ab_plain.py \\
    main=ab/bins/main/libfp8block.so g256p=ab/bins/g256p/libfp8block.so [--reps 10]
"""
import os
import random
import statistics
import sys

from ab_grouped import ab_arguments, on  # the first import: DeepGEMM's NVRTC before torch's

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "bench")]
from peer_shapes import LARGE  # noqa: E402
from peers import DeepGemm, Timer, make_problem, rel_error  # noqa: E402

import fp8block  # noqa: E402


def main():
    args, loaded, names = ab_arguments(__doc__)
    dg = DeepGemm()
    timer = Timer()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1)
    print(f"ab_plain on {torch.cuda.get_device_name(0)}, commit {os.environ.get('FP8BLOCK_COMMIT', '?')}, "
          f"libraries {' '.join(names)} (GPU us, medians of {args.reps}, one shuffled rotation a rep)")
    print(f"{'M':>5} {'N':>6} {'K':>6} | " + " ".join(f"{n:>9}" for n in names + ["deepgemm"]) + " | " +
          " ".join(f"{n + '/DG':>9}" for n in names))
    ratios = {name: [] for name in names}
    for m, n, k in LARGE:
        p = make_problem(fp8block, m, n, k, gen)
        calls, outs = {}, {}
        calls["deepgemm"], outs["deepgemm"] = dg.prepare(p)
        for name in names:
            d = torch.full((m, n), float("nan"), dtype=torch.bfloat16, device="cuda")
            outs[name] = d
            calls[name] = on(loaded, name, lambda d=d: fp8block.gemm(p["a"], p["sa"], p["b"], p["sb"], out=d))
        for call in calls.values():
            call()
        torch.cuda.synchronize()
        for name in names:
            if not torch.equal(outs[name], outs[names[0]]):
                raise SystemExit(f"{m}x{n}x{k}: {name}'s D differs from {names[0]}'s")
            err = rel_error(outs[name], p["ref"])
            if not err < 1e-2:
                raise SystemExit(f"{m}x{n}x{k}: {name} off the fp32 product by {err:.2e}")
        gpu = {name: statistics.median(t) for name, t in timer.gpu_times(calls, args.reps, random.Random(1)).items()}
        for name in names:
            ratios[name].append(gpu["deepgemm"] / gpu[name])
        print(f"{m:>5} {n:>6} {k:>6} | " + " ".join(f"{gpu[x]:>9.1f}" for x in names + ["deepgemm"]) + " | " +
              " ".join(f"{gpu['deepgemm'] / gpu[x]:>8.3f}x" for x in names), flush=True)
    for name in names:
        print(f"{name}: M >= 4096 {statistics.geometric_mean(ratios[name]):.3f}x DeepGEMM (lowest {min(ratios[name]):.3f}x)")


if __name__ == "__main__":
    main()
