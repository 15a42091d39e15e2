"""Experiment: where a small GEMM's fixed cost goes. fp8block (FP8BLOCK_LIBRARY) beside DeepGEMM
on tiny shapes, kernel time from the profiler (CUPTI) with three things before each call:
  flush  L2 flushed, then a spin kernel (bench/peers.py's kernel time: code and data cold)
  spin   a spin kernel only (operands and code may still be in L2)
  none   nothing: calls back to back (fp8block's programmatic launch may overlap the previous)
and the wall time per call of 200 back-to-back calls (events around the loop).

Usage: FP8BLOCK_LIBRARY=... PYTHONPATH=python:bench:peers/deepgemm-v1 \
  python3 experiments/small-m-plans/fixed_cost.py [--shapes M,N,K;...]
"""
import cuda.bindings.nvrtc  # noqa: F401
import argparse
import os
import sys

import torch
from torch.profiler import profile, ProfilerActivity

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from peers import DeepGemm, Fp8block, Timer, make_problem  # noqa: E402

import fp8block  # noqa: E402


def kernel_us(call, before, reps):
    call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            before()
            call()
        torch.cuda.synchronize()
    times = [getattr(e, "device_time", None) or e.cuda_time for e in prof.events()
             if e.device_type == torch.autograd.DeviceType.CUDA and ("gemm" in e.name.lower() or "fp8" in e.name.lower())
             and "sleep" not in e.name.lower()]
    times.sort()
    return times[len(times) // 2] if times else float("nan"), len(times)


def loop_us(call, n=200):
    for _ in range(5):
        call()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    s.record()
    for _ in range(n):
        call()
    e.record()
    torch.cuda.synchronize()
    return s.elapsed_time(e) * 1e3 / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="64,128,128;64,8448,128;64,8448,512;64,7168,2048")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    timer = Timer()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(5)
    methods = [Fp8block(), DeepGemm()]
    spin = lambda: torch.cuda._sleep(timer.spin_cycles // 8)  # noqa: E731
    befores = {"flush": lambda: (timer.flush_l2(), spin()), "spin": spin, "none": lambda: None}
    print(f"device {torch.cuda.get_device_name(0)}; kernel us (median of {args.reps}, CUPTI) per preceding "
          "work, and us per call of 200 back to back")
    for s in args.shapes.split(";"):
        m, n, k = (int(v) for v in s.split(","))
        p = make_problem(fp8block, m, n, k, gen)
        cells = []
        for meth in methods:
            call, _ = meth.prepare(p)
            ks = {b: kernel_us(call, f, args.reps)[0] for b, f in befores.items()}
            cells.append(f"{meth.name}: " + " ".join(f"{b} {v:5.2f}" for b, v in ks.items()) +
                         f" | loop {loop_us(call):5.2f}")
        print(f"{m:5d}x{n:6d}x{k:6d} | " + " || ".join(cells), flush=True)


if __name__ == "__main__":
    main()
