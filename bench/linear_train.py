#!/usr/bin/env python3
"""A training step of fp8block.torch.Linear against bf16 nn.Linear (issue 17): forward and
backward (input, weight and bias gradients) on DeepSeek-V3's weight shapes (out x in) at
4096 and 16384 tokens, same run, same inputs, both layers with bf16 weights.

fp8block's step is eight kernels: quantize-transpose of x (x's 1x128 codes for fprop, xᵀ's for
wgrad, one read), quantize_128x128 of W, the fprop GEMM with the bias; quantize-transpose of dY,
the 128x128 transpose of W's codes and scales, the dgrad and wgrad GEMMs; torch's bias-gradient
sum and the fp32 -> bf16 cast of dW. nn.Linear's is three cuBLAS GEMMs and the sum.

Per shape: GPU time of one step between events (bench/peers.py's Timer: L2 flushed, host hidden
behind a spin kernel, median) and the fp8 step's kernel time by kernel from the profiler, so
that the NOTES can say where the step goes.

Usage: FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python python3 bench/linear_train.py [--json F]
"""
import argparse
import json
import os
import random
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Timer  # noqa: E402

import fp8block.torch as fbt  # noqa: E402

WEIGHTS = [(7168, 2048), (2112, 7168), (4096, 7168), (7168, 16384), (24576, 1536)]  # out x in
TOKENS = (4096, 16384)


def step_call(layer, x, dy):
    def call():
        x.grad = None
        for p in layer.parameters():
            p.grad = None
        layer(x).backward(dy)
    return call


def kernel_breakdown(call, reps):
    """{kernel name (first 48 characters): mean us per step} from the profiler."""
    from torch.profiler import profile, ProfilerActivity
    call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            call()
        torch.cuda.synchronize()
    by_name = {}
    for ev in prof.events():
        if ev.device_type != torch.autograd.DeviceType.CUDA:
            continue
        dt = getattr(ev, "device_time", None)
        dt = ev.cuda_time if dt is None else dt
        by_name[ev.name[:48]] = by_name.get(ev.name[:48], 0.0) + dt / reps
    return dict(sorted(by_name.items(), key=lambda kv: -kv[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.manual_seed(0)
    timer, rng = Timer(), random.Random(0)
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; "
          f"commit {os.environ.get('FP8BLOCK_COMMIT', 'unknown')}")
    print(f"{'out':>6} {'in':>6} {'tokens':>6} | {'bf16 us':>9} {'fp8 us':>9} {'speedup':>7} | fp8 step's largest kernels (us)")
    rows = []
    for out, inp in WEIGHTS:
        bf16 = torch.nn.Linear(inp, out, device=device, dtype=torch.bfloat16)
        fp8 = fbt.Linear.from_float(bf16)
        for tokens in TOKENS:
            x = torch.randn(tokens, inp, dtype=torch.bfloat16, device=device, requires_grad=True)
            dy = torch.randn(tokens, out, dtype=torch.bfloat16, device=device)
            calls = {"bf16": step_call(bf16, x, dy), "fp8": step_call(fp8, x, dy)}
            gpu = {name: statistics.median(v) for name, v in timer.gpu_times(calls, args.reps, rng).items()}
            kernels = kernel_breakdown(calls["fp8"], args.reps)
            top = ", ".join(f"{name.split('<')[0].split('(')[0][:28]} {us:.0f}" for name, us in list(kernels.items())[:4])
            print(f"{out:6d} {inp:6d} {tokens:6d} | {gpu['bf16']:9.1f} {gpu['fp8']:9.1f} "
                  f"{gpu['bf16'] / gpu['fp8']:6.2f}x | {top}", flush=True)
            rows.append({"out": out, "in": inp, "tokens": tokens, "gpu_us": gpu, "fp8_kernels_us": kernels})
    for tokens in TOKENS:
        ratios = [r["gpu_us"]["bf16"] / r["gpu_us"]["fp8"] for r in rows if r["tokens"] == tokens]
        geo = statistics.geometric_mean(ratios)
        print(f"{tokens} tokens: fp8 step speed-up over bf16 nn.Linear, geomean {geo:.2f}x (lowest {min(ratios):.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(0), "commit": os.environ.get("FP8BLOCK_COMMIT", "unknown"),
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
