"""Experiment: the plain GEMM (bf16 D) under several launch plans, same process, same tensors,
beside DeepGEMM's gemm_fp8_fp8_bf16_nt. Each plan is its own copy of the library
(FP8BLOCK_GEMM_PLAN is read once per library instance, at its first GEMM); a plan prefixed
old: runs FP8BLOCK_LIBRARY_OLD's library (an earlier build beside the current one).

Usage (GPU machine, DeepGEMM in peers/ as bench/peers.py says):
  FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python:bench:peers/deepgemm-v1 \
  python3 experiments/small-m-plans/small_m_plans.py --plans default 64,128,1,0 \
      [--shapes M,N,K;...] [--json F]
"""
import cuda.bindings.nvrtc  # noqa: F401  (DeepGEMM's JIT wants NVRTC before torch)
import os
import random
import statistics
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "wgrad-plans"))
from peers import DeepGemm, Timer, make_problem  # noqa: E402
from peer_shapes import SMALL  # noqa: E402
from wgrad_plans import load_variant, plan_arguments, summarize  # noqa: E402

import fp8block  # noqa: E402
from fp8block import _library as L  # noqa: E402


def gemm_call(lib, ctx, p):
    ldd = p["fp8block"]["ldd"]
    d = torch.full((p["m"], ldd), float("nan"), dtype=torch.bfloat16, device="cuda")
    stream = torch.cuda.current_stream().cuda_stream
    args = (ctx, p["m"], p["n"], p["k"], p["a"].data_ptr(), p["a"].stride(0), p["sa"].data_ptr(),
            p["sa"].stride(0), p["b"].data_ptr(), p["b"].stride(0), p["sb"].data_ptr(), p["sb"].stride(0),
            d.data_ptr(), L.BF16, ldd, stream)

    def call():
        st = lib.fp8block_gemm(*args)
        if st:
            raise RuntimeError(f"fp8block_gemm: status {st}")
    return call, d[:, :p["n"]]


def main():
    args = plan_arguments("M,N,K;... (default: bench/peers.py's small set)")
    variants = {p: load_variant(i, p) for i, p in enumerate(args.plans)}
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";") if s] or SMALL
    timer, rng, dg = Timer(), random.Random(17), DeepGemm()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(17)
    print(f"device {torch.cuda.get_device_name(0)}; plans {args.plans}; gpu time us (kernel us), DeepGEMM / plan")
    rows = []
    for (m, n, k) in shapes:
        p = make_problem(fp8block, m, n, k, gen)
        calls, outs = {}, {}
        calls["deepgemm"], outs["deepgemm"] = dg.prepare(p)
        for name, (lib, ctx) in variants.items():
            calls[name], outs[name] = gemm_call(lib, ctx, p)
        for c in calls.values():
            c()
        torch.cuda.synchronize()
        ref = outs["deepgemm"].float()
        diffs = {name: float((outs[name].float() - ref).norm() / ref.norm()) for name in variants}
        if args.once:
            print(f"{m}x{n}x{k}: rel diff to DeepGEMM {diffs}", flush=True)
            continue
        gpu = {c: statistics.median(v) for c, v in timer.gpu_times(calls, args.reps, rng).items()}
        kern = {c: v[0] for c, v in timer.kernel_times(calls, args.reps).items()}
        rows.append({"m": m, "n": n, "k": k, "gpu_us": gpu, "kernel_us": kern, "rel_diff": diffs})
        cells = " | ".join(f"{c}: {gpu[c]:6.1f} ({kern[c]:6.1f}) {gpu['deepgemm'] / gpu[c]:.3f}x d={diffs[c]:.0e}"
                           for c in variants)
        print(f"{m:5d}x{n:6d}x{k:6d} | DG {gpu['deepgemm']:6.1f} ({kern['deepgemm']:6.1f}) | {cells}", flush=True)
    summarize(rows, variants, lambda r: f"{r['m']}x{r['n']}x{r['k']}", args)


if __name__ == "__main__":
    main()
