"""Experiment: what a bias costs the plain GEMM (issue 16's bias / bf16 up to 1.39x at K = 512,
+3 us at 64x7168x16384). One call each, in this order, per shape: bf16 D, bf16 D + bf16 bias,
bf16 D + fp32 bias; under Nsight Compute (one kernel each) or timed (--reps: GPU time per call,
events after an L2 flush, median, as bench/peers.py). FP8BLOCK_GEMM_LOG=1 prints each call's
plan and whether it took the lean or the bias kernel.

Usage (GPU machine): FP8BLOCK_LIBRARY=... PYTHONPATH=python:bench \
  [ncu --kernel-name regex:gemm_fp8_block ...] python3 experiments/bias-cost/bias_probe.py \
  [--shapes M,N,K;...] [--reps N]
"""
import argparse
import os
import random
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from epilogue import Gemms, outputs  # noqa: E402
from peers import Timer  # noqa: E402

import fp8block  # noqa: E402
from fp8block import _library as L  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="128,32768,512;64,7168,16384")
    ap.add_argument("--reps", type=int, default=0, help="0: one call each (for a profiler)")
    args = ap.parse_args()
    g, gen = Gemms(), torch.Generator(device="cuda")
    gen.manual_seed(16)
    for spec in args.shapes.split(";"):
        m, n, k = (int(v) for v in spec.split(","))
        a, sa = fp8block.quantize_1x128(torch.randn((m, k), dtype=torch.bfloat16, device="cuda", generator=gen))
        b, sb = fp8block.quantize_128x128(torch.randn((n, k), dtype=torch.bfloat16, device="cuda", generator=gen))
        d16 = outputs(m, n)[0]
        bias16 = torch.randn(n, dtype=torch.bfloat16, device="cuda", generator=gen)
        bias32 = bias16.float()
        calls = {"bf16": g.gemm(a, sa, b, sb, d16, L.BF16),
                 "bf16+bias16": g.gemm(a, sa, b, sb, d16, L.BF16, bias=bias16),
                 "bf16+bias32": g.gemm(a, sa, b, sb, d16, L.BF16, bias=bias32)}
        for name, call in calls.items():
            call()
        torch.cuda.synchronize()
        if args.reps:
            t = Timer().gpu_times(calls, args.reps, random.Random(1))
            print(f"{m}x{n}x{k}: " + "  ".join(f"{name} {statistics.median(v):.2f} us" for name, v in t.items()),
                  flush=True)


if __name__ == "__main__":
    main()
