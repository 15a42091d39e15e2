"""Experiment: the weight-gradient GEMM under several launch plans, same process, same tensors,
beside DeepGEMM's wgrad. Each plan is its own copy of the library (FP8BLOCK_GEMM_PLAN is read
once per library instance, at its first GEMM).

A plan may be prefixed old: to run FP8BLOCK_LIBRARY_OLD's library instead (an earlier build
beside the current one). --once calls each plan once with no timing, for Nsight Compute.

Usage (GPU machine, DeepGEMM in peers/ as bench/peers.py says):
  FP8BLOCK_LIBRARY=build/libfp8block.so [FP8BLOCK_LIBRARY_OLD=old/libfp8block.so] \
  PYTHONPATH=python:bench:peers/deepgemm-v1 python3 experiments/wgrad-plans/wgrad_plans.py \
      --plans default old:default 192,128,2,0,2 [--shapes out,in,tokens;...] [--json F]
"""
import cuda.bindings.nvrtc  # noqa: F401  (DeepGEMM's JIT wants NVRTC before torch)
import argparse
import ctypes
import json
import os
import random
import shutil
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from peers import Timer  # noqa: E402
from peers_wgrad import WEIGHTS, TOKENS, operands, deepgemm_call, fp8block_call  # noqa: E402

from fp8block import _library as L  # noqa: E402


def library_copy(lib_path, tag):
    """(lib, ctx): a private copy of the library at lib_path (its own knobs, read at its first
    GEMM under the FP8BLOCK_GEMM_PLAN of that moment) and a context on the current device."""
    dst = f"/tmp/fp8block-{tag}.so"
    shutil.copy(lib_path, dst)
    lib = ctypes.CDLL(dst, mode=ctypes.RTLD_LOCAL)
    for name, (restype, argtypes) in L._PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    handle = L._ctx_p()
    assert lib.fp8block_create(ctypes.byref(handle), torch.cuda.current_device()) == 0
    return lib, handle.value


def load_variant(i, spec):
    """spec: PLAN or old:PLAN (FP8BLOCK_LIBRARY_OLD's library); PLAN 'default' or bm,bn,..."""
    lib_path = os.environ["FP8BLOCK_LIBRARY"]
    plan = spec
    if spec.startswith("old:"):
        lib_path, plan = os.environ["FP8BLOCK_LIBRARY_OLD"], spec[4:]
    if plan == "default":
        os.environ.pop("FP8BLOCK_GEMM_PLAN", None)
    else:
        os.environ["FP8BLOCK_GEMM_PLAN"] = plan
    lib, ctx = library_copy(lib_path, f"variant{i}")
    # first GEMM: the knobs are read now, under this plan
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1)
    a, sa, b, sb = operands(256, 256, 256, gen)
    d = torch.zeros((256, 256), dtype=torch.float32, device="cuda")
    fp8block_call(a, sa, b, sb, d, lib, ctx)()
    torch.cuda.synchronize()
    return lib, ctx


def plan_arguments(shapes_help):
    """The plan scripts' command line: --plans, --reps, --shapes, --json, --once."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--plans", nargs="+", default=["default"])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--shapes", default="", help=shapes_help)
    ap.add_argument("--json")
    ap.add_argument("--once", action="store_true", help="one call of each, no timing (for ncu)")
    return ap.parse_args()


def summarize(rows, variants, shape, args):
    """Per plan: DeepGEMM's time over the plan's, geomean of GPU and of kernel time, and the
    lowest row (named by shape(row)); every row into args.json if given."""
    for p in variants if rows else []:
        g = statistics.geometric_mean([r["gpu_us"]["deepgemm"] / r["gpu_us"][p] for r in rows])
        k = statistics.geometric_mean([r["kernel_us"]["deepgemm"] / r["kernel_us"][p] for r in rows])
        lo = min(rows, key=lambda r: r["gpu_us"]["deepgemm"] / r["gpu_us"][p])
        print(f"geomean vs DeepGEMM, plan {p}: gpu {g:.3f}x, kernel {k:.3f}x; lowest "
              f"{shape(lo)} {lo['gpu_us']['deepgemm'] / lo['gpu_us'][p]:.3f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(0), "plans": args.plans, "rows": rows}, f, indent=1)


def main():
    args = plan_arguments("out,in,tokens;... (default: the 15 of peers_wgrad)")
    import deep_gemm as dg
    variants = {p: load_variant(i, p) for i, p in enumerate(args.plans)}
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";") if s] or \
        [(o, i, t) for (o, i) in WEIGHTS for t in TOKENS]
    timer, rng = Timer(), random.Random(17)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(17)
    print(f"device {torch.cuda.get_device_name(0)}; plans {args.plans}; gpu time us (kernel us), DeepGEMM / plan")
    rows = []
    for (out, inp, tokens) in shapes:
        a, sa, b, sb = operands(out, inp, tokens, gen)
        d_dg = torch.zeros((out, inp), dtype=torch.float32, device="cuda")
        calls = {"deepgemm": deepgemm_call(dg, a, sa, b, sb, d_dg)}
        calls["deepgemm"]()
        diffs = {}
        for p, (lib, ctx) in variants.items():
            d = torch.zeros_like(d_dg)
            calls[p] = fp8block_call(a, sa, b, sb, d, lib, ctx)
            calls[p]()
            torch.cuda.synchronize()
            diffs[p] = float((d - d_dg).norm() / d_dg.norm().clamp_min(1e-30))
        if args.once:
            print(f"{out}x{inp}x{tokens}: rel diff {diffs}", flush=True)
            continue
        gpu = {n: statistics.median(v) for n, v in timer.gpu_times(calls, args.reps, rng).items()}
        kern = {n: v[0] for n, v in timer.kernel_times(calls, args.reps).items()}
        row = {"out": out, "in": inp, "tokens": tokens, "gpu_us": gpu, "kernel_us": kern, "rel_diff": diffs}
        rows.append(row)
        cells = " | ".join(f"{p}: {gpu[p]:7.1f} ({kern[p]:7.1f}) {gpu['deepgemm'] / gpu[p]:.3f}x d={diffs[p]:.0e}"
                           for p in variants)
        print(f"{out:6d}x{inp:6d}x{tokens:6d} | DG {gpu['deepgemm']:7.1f} ({kern['deepgemm']:7.1f}) | {cells}",
              flush=True)
    summarize(rows, variants, lambda r: f"{r['out']}x{r['in']}x{r['tokens']}", args)


if __name__ == "__main__":
    main()
