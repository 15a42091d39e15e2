"""Experiment: where the half-block E4M3 pairs' extra time goes. Per shape, same process, same
tensors, GPU time (events, L2 flushed, host hidden) and kernel time (profiler):
  bf16         main's library, its plan (64-wide single CTAs, early loads)
  bf16 pair    a diagnostic build whose 64-wide pairs sharing A are compiled for bf16 D too,
               forced onto them (FP8BLOCK_GEMM_PLAN bm,64,2,0,2): the pair without E4M3
  e4m3         main's library, its plan (the same pairs, E4M3 epilogue with the amax swap)
  f32          main's library, its plan
So bf16 pair - bf16 is what pairing costs, e4m3 - bf16 pair what the E4M3 epilogue costs.

Usage: FP8BLOCK_LIBRARY=main.so FP8BLOCK_LIBRARY_DIAG=diag.so PYTHONPATH=python:bench \
  python3 experiments/half-block/pair_cost.py [--shapes M,N,K;...] [--reps N] [--once]
"""
import argparse
import os
import random
import statistics
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "wgrad-plans"))
from epilogue import Gemms, outputs  # noqa: E402
from peers import Timer  # noqa: E402
from wgrad_plans import library_copy  # noqa: E402

import fp8block  # noqa: E402
from fp8block import _library as L  # noqa: E402


def load_forced(path, plan, tag):
    """A private copy of the library whose knobs are read (at its first GEMM) under `plan`."""
    os.environ["FP8BLOCK_GEMM_PLAN"] = plan
    g = Gemms()
    g.lib, g.ctx = library_copy(path, tag)
    m = int(plan.split(",")[0])
    a, sa = fp8block.quantize_1x128(torch.randn((m, 256), dtype=torch.bfloat16, device="cuda"))
    b, sb = fp8block.quantize_128x128(torch.randn((256, 256), dtype=torch.bfloat16, device="cuda"))
    d = torch.empty((m, 256), dtype=torch.bfloat16, device="cuda")
    g.gemm(a, sa, b, sb, d, L.BF16)()
    torch.cuda.synchronize()
    del os.environ["FP8BLOCK_GEMM_PLAN"]
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="128,7168,2048;64,7168,2048;128,7168,16384;64,7168,16384")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--once", action="store_true", help="one call of each, no timing (for Nsight Compute)")
    args = ap.parse_args()
    main_g = Gemms()
    os.environ.pop("FP8BLOCK_GEMM_PLAN", None)
    a, sa = fp8block.quantize_1x128(torch.randn((128, 256), dtype=torch.bfloat16, device="cuda"))
    b, sb = fp8block.quantize_128x128(torch.randn((256, 256), dtype=torch.bfloat16, device="cuda"))
    main_g.gemm(a, sa, b, sb, torch.empty((128, 256), dtype=torch.bfloat16, device="cuda"), L.BF16)()  # knobs read now
    diag = os.environ.get("FP8BLOCK_LIBRARY_DIAG")  # without it, no "bf16 pair"
    forced = {bm: load_forced(diag, f"{bm},64,2,0,2", f"pair{bm}") for bm in (64, 128)} if diag else {}
    timer, rng = Timer(), random.Random(3)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(3)
    print(f"{torch.cuda.get_device_name(0)}: gpu us (kernel us), median of {args.reps}")
    for spec in args.shapes.split(";"):
        m, n, k = (int(v) for v in spec.split(","))
        a, sa = fp8block.quantize_1x128(torch.randn((m, k), dtype=torch.bfloat16, device="cuda", generator=gen))
        b, sb = fp8block.quantize_128x128(torch.randn((n, k), dtype=torch.bfloat16, device="cuda", generator=gen))
        d16, q, s, d32 = outputs(m, n)
        d16p = torch.empty_like(d16)
        calls = {"bf16": main_g.gemm(a, sa, b, sb, d16, L.BF16), "e4m3": main_g.gemm(a, sa, b, sb, q, L.E4M3, s),
                 "f32": main_g.gemm(a, sa, b, sb, d32, L.F32)}
        if forced:
            calls["bf16 pair"] = forced[64 if m <= 64 else 128].gemm(a, sa, b, sb, d16p, L.BF16)
        for c in calls.values():
            c()
        torch.cuda.synchronize()
        if args.once:
            continue
        same = torch.equal(d16.view(torch.int16), d16p.view(torch.int16))
        gpu = {c: statistics.median(v) for c, v in timer.gpu_times(calls, args.reps, rng).items()}
        kern = {c: v[0] for c, v in timer.kernel_times(calls, args.reps).items()}
        cells = "  ".join(f"{c} {gpu[c]:5.1f} ({kern[c]:5.1f})" for c in calls)
        print(f"{m}x{n}x{k}: {cells}  | pair - single {gpu['bf16 pair'] - gpu['bf16']:+.1f} "
              f"({kern['bf16 pair'] - kern['bf16']:+.1f}), e4m3 - pair {gpu['e4m3'] - gpu['bf16 pair']:+.1f} "
              f"({kern['e4m3'] - kern['bf16 pair']:+.1f}); bf16 pair == bf16: {same}", flush=True)


if __name__ == "__main__":
    main()
