#!/usr/bin/env python3
"""fp8block.torch.InferenceLinear against bf16 nn.Linear (issue 20): DeepSeek-V3's (N, K)
weight shapes at M in {1, 64, 4096}, same run, same inputs.

Per shape: the relative error of each layer against an fp32 nn.Linear on the same weights
(‖y − y32‖ / ‖y32‖), and three times per call (bench/peers.py's Timer): GPU time of one
forward between events (L2 flushed, host hidden behind a spin kernel; median), the same
forward in eager mode and through torch.compile(fullgraph=True), and host time per call back
to back. InferenceLinear's forward is two kernels (quantize x 1x128, GEMM with the bias in its
epilogue); nn.Linear's is one cuBLAS GEMM.

Usage: FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python python3 bench/linear.py [--json F]
"""
import argparse
import json
import os
import random
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_shapes import WEIGHTS  # noqa: E402
from peers import Timer  # noqa: E402

import fp8block.torch as fbt  # noqa: E402

MS = (1, 64, 4096)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--host-calls", type=int, default=100)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.manual_seed(0)
    # one compiled forward per weight shape and M: more than Dynamo's default 8 of one code object
    for knob in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 64)
    timer, rng = Timer(), random.Random(0)
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    print(f"{'M':>5} {'N':>6} {'K':>6} | {'err bf16':>9} {'err fp8':>9} | {'bf16 us':>8} {'fp8 us':>8} "
          f"{'fp8 comp':>8} {'speedup':>7} | {'host bf16':>9} {'host fp8':>8}")
    rows = []
    for n, k in WEIGHTS:
        linear32 = torch.nn.Linear(k, n, device=device)
        linear16 = torch.nn.Linear(k, n, device=device, dtype=torch.bfloat16)
        with torch.no_grad():
            linear16.weight.copy_(linear32.weight)
            linear16.bias.copy_(linear32.bias)
        layer = fbt.InferenceLinear.from_float(linear16)
        compiled = torch.compile(layer, fullgraph=True)
        for m in MS:
            x = torch.randn(m, k, dtype=torch.bfloat16, device=device)
            with torch.no_grad():
                want = linear32(x.float())
                y16, y8, y8c = linear16(x), layer(x), compiled(x)
            torch.cuda.synchronize()
            if not torch.equal(y8c.view(torch.int16), y8.view(torch.int16)):
                raise SystemExit(f"{m}x{n}x{k}: the compiled layer differs from eager")

            def err(y):
                return float((y.float() - want).norm() / want.norm())

            calls = {"bf16": lambda: linear16(x), "fp8": lambda: layer(x), "fp8_compiled": lambda: compiled(x)}
            with torch.no_grad():
                gpu = {name: statistics.median(t) for name, t in timer.gpu_times(calls, args.reps, rng).items()}
                host = timer.host_times(calls, args.host_calls)
            row = {"m": m, "n": n, "k": k, "err_bf16": err(y16), "err_fp8": err(y8),
                   "gpu_us": gpu, "host_us": {name: h[0] for name, h in host.items()}}
            rows.append(row)
            print(f"{m:>5} {n:>6} {k:>6} | {row['err_bf16']:>9.2e} {row['err_fp8']:>9.2e} | "
                  f"{gpu['bf16']:>8.1f} {gpu['fp8']:>8.1f} {gpu['fp8_compiled']:>8.1f} "
                  f"{gpu['bf16'] / gpu['fp8']:>6.2f}x | {host['bf16'][0]:>9.1f} {host['fp8'][0]:>8.1f}", flush=True)
    by_m = {m: [r["gpu_us"]["bf16"] / r["gpu_us"]["fp8"] for r in rows if r["m"] == m] for m in MS}
    for m, ratios in by_m.items():
        print(f"M = {m}: speedup over bf16 nn.Linear, geomean {statistics.geometric_mean(ratios):.2f}x "
              f"(lowest {min(ratios):.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                       "commit": os.environ.get("FP8BLOCK_COMMIT", ""), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
