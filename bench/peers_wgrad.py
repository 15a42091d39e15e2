"""The weight-gradient GEMM beside DeepGEMM's, same run, same tensors (issue 17's bar):
dW (out x in, fp32) += dYᵀ · X with K = tokens, both operands 1x128 along the tokens, made by
fp8block.quantize_1x128_transpose. fp8block through fp8block_gemm_ex (b_scales 1x128, C = D);
DeepGEMM v1 through wgrad_gemm_fp8_fp8_fp32_nt (which always accumulates into its output);
cuBLASLt's VEC128 x VEC128 scaling through torch._scaled_mm (no accumulation: D = A·Bᵀ).

GPU time per call as bench/peers.py measures it (events, L2 flushed, host hidden behind a
spin kernel, median), and kernel time from the profiler. Needs torch, a CUDA device, and
DeepGEMM on PYTHONPATH (bench/peers.py says how); DeepGEMM absent: fp8block alone.

Usage: FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python:peers/deepgemm-v1 \\
       python3 bench/peers_wgrad.py [--json F] [--reps N]
"""
import argparse
import ctypes
import json
import math
import os
import random
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Timer  # noqa: E402

import fp8block  # noqa: E402
from fp8block import _library as L  # noqa: E402

WEIGHTS = [(7168, 2048), (2112, 7168), (4096, 7168), (7168, 16384), (24576, 1536)]  # out x in
TOKENS = [4096, 8192, 16384]


def operands(out, inp, tokens, gen):
    dy = torch.randn((tokens, out), dtype=torch.bfloat16, device="cuda", generator=gen)
    x = torch.randn((tokens, inp), dtype=torch.bfloat16, device="cuda", generator=gen)
    _, (a, sa) = fp8block.quantize_1x128_transpose(dy)  # dYᵀ: out x tokens; sa (kb, out)
    _, (b, sb) = fp8block.quantize_1x128_transpose(x)   # Xᵀ: in x tokens; sb (kb, in)
    return a, sa, b, sb


def fp8block_call(a, sa, b, sb, d, lib=None, ctx=None):
    """dW (d) += a·bᵀ through fp8block_gemm_ex; lib and ctx: another loaded copy of the library
    and its context (experiments/wgrad-plans), else the binding's own."""
    if lib is None:
        lib, ctx = L.library(), L.context(torch.cuda.current_device())
    m, k = a.shape
    n = b.shape[0]
    desc = L.gemm_desc(m=m, n=n, k=k, a=a.data_ptr(), lda=a.stride(0), sa=sa.data_ptr(), ldsa=sa.stride(0),
                       b=b.data_ptr(), ldb=b.stride(0), sb=sb.data_ptr(), ldsb=sb.stride(0),
                       b_scales=L.B_SCALES_1x128, d=d.data_ptr(), d_dtype=L.F32, ldd=d.stride(0),
                       c=d.data_ptr(), c_dtype=L.F32, ldc=d.stride(0))
    ref, stream = ctypes.byref(desc), torch.cuda.current_stream().cuda_stream

    def call():
        st = lib.fp8block_gemm_ex(ctx, ref, stream)
        if st:
            L.check(st, ctx)
    call.desc = desc
    return call


def deepgemm_call(dg, a, sa, b, sb, d):
    # (kb, mn) scales with stride mn: DeepGEMM's "k-grouped" form, no copy when mn % 4 == 0
    def call():
        dg.wgrad_gemm_fp8_fp8_fp32_nt((a, sa), (b, sb), d)
    return call


def cublaslt_call(a, sa, b, sb):
    """cuBLASLt's VEC128 x VEC128 scaling through torch._scaled_mm (both scale tensors in the
    (rows, K/128) with rows-contiguous form torch checks: sa.t() and sb.t().t() = sb). It has
    no C input, so it writes a fresh D = A·Bᵀ instead of accumulating (less traffic than ours
    and DeepGEMM's, which read D too): fp32 out where the build takes it, else bf16."""
    for out_dtype in (torch.float32, torch.bfloat16):
        def call(out_dtype=out_dtype):
            return torch._scaled_mm(a, b.t(), scale_a=sa.t(), scale_b=sb, out_dtype=out_dtype)
        try:
            d = call()
            torch.cuda.synchronize()
            call.out_dtype, call.d = out_dtype, d
            return call
        except Exception as e:  # noqa: BLE001 - the next dtype, then reported
            why = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    raise RuntimeError(why)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    props = torch.cuda.get_device_properties(0)
    try:
        import deep_gemm as dg
    except Exception as e:  # noqa: BLE001 - any import failure means the peer is absent
        dg, why = None, f"{type(e).__name__}: {e}"
    print(f"wgrad peers on {props.name}, commit {os.environ.get('FP8BLOCK_COMMIT', 'unknown')}"
          + ("" if dg else f"; DeepGEMM absent ({why})"))
    timer, rng = Timer(), random.Random(17)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(17)
    rows = []
    print(f"{'out':>6} {'in':>6} {'tokens':>6} | {'fp8block us':>11} {'deepgemm us':>11} {'cublaslt us':>11} "
          f"| {'TFLOP/s':>8} | {'rel diff':>8} | DeepGEMM and cuBLASLt time / fp8block's")
    for (out, inp) in WEIGHTS:
        for tokens in TOKENS:
            a, sa, b, sb = operands(out, inp, tokens, gen)
            d_ours = torch.zeros((out, inp), dtype=torch.float32, device="cuda")
            calls = {"fp8block": fp8block_call(a, sa, b, sb, d_ours)}
            row = {"out": out, "in": inp, "tokens": tokens}
            calls["fp8block"]()
            if dg is not None:
                d_dg = torch.zeros_like(d_ours)
                try:
                    calls["deepgemm"] = deepgemm_call(dg, a, sa, b, sb, d_dg)
                    calls["deepgemm"]()
                    torch.cuda.synchronize()
                    row["rel_diff"] = float((d_ours - d_dg).norm() / d_dg.norm().clamp_min(1e-30))
                except Exception as e:  # noqa: BLE001 - reported, not fatal
                    calls.pop("deepgemm", None)
                    row["deepgemm_skipped"] = f"{type(e).__name__}: {e}"
            try:
                calls["cublaslt"] = cublaslt_call(a, sa, b, sb)
                d_lt = calls["cublaslt"].d.float()
                d_plain = torch.zeros_like(d_ours)
                fp8block_call(a, sa, b, sb, d_plain)()  # D = A·Bᵀ alone, as cuBLASLt computes it
                torch.cuda.synchronize()
                row["cublaslt_out"] = str(calls["cublaslt"].out_dtype).replace("torch.", "")
                row["cublaslt_rel_diff"] = float((d_plain - d_lt).norm() / d_lt.norm().clamp_min(1e-30))
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                calls.pop("cublaslt", None)
                row["cublaslt_skipped"] = f"{type(e).__name__}: {e}"
            gpu = {name: statistics.median(v) for name, v in timer.gpu_times(calls, args.reps, rng).items()}
            kern = {name: v[0] for name, v in timer.kernel_times(calls, args.reps).items()}
            row.update({"gpu_us": gpu, "kernel_us": kern})
            flops = 2.0 * out * inp * tokens
            vs = f"{gpu['deepgemm'] / gpu['fp8block']:.3f}x" if "deepgemm" in gpu else "-"
            vs_lt = f"{gpu['cublaslt'] / gpu['fp8block']:.3f}x" if "cublaslt" in gpu else "-"
            print(f"{out:6d} {inp:6d} {tokens:6d} | {gpu['fp8block']:11.1f} {gpu.get('deepgemm', float('nan')):11.1f} "
                  f"{gpu.get('cublaslt', float('nan')):11.1f} | {flops / gpu['fp8block'] / 1e6:8.1f} | "
                  f"{row.get('rel_diff', float('nan')):8.1e} | {vs:>8} {vs_lt:>8}", flush=True)
            if "cublaslt_skipped" in row and len(rows) == 0:
                print(f"  cuBLASLt skipped: {row['cublaslt_skipped']}", flush=True)
            rows.append(row)
    ratios = [r["gpu_us"]["deepgemm"] / r["gpu_us"]["fp8block"] for r in rows if "deepgemm" in r["gpu_us"]]
    if ratios:
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
        print(f"fp8block vs DeepGEMM wgrad (peer time / ours): geomean {geo:.3f}x, lowest {min(ratios):.3f}x "
              f"(bar: >= 1.0x)")
    ratios_lt = [r["gpu_us"]["cublaslt"] / r["gpu_us"]["fp8block"] for r in rows if "cublaslt" in r["gpu_us"]]
    if ratios_lt:
        geo = math.exp(sum(map(math.log, ratios_lt)) / len(ratios_lt))
        print(f"fp8block vs cuBLASLt VEC128xVEC128 ({rows[0].get('cublaslt_out')} out, no accumulation): geomean "
              f"{geo:.3f}x, lowest {min(ratios_lt):.3f}x (bar: >= 1.1x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": props.name, "commit": os.environ.get("FP8BLOCK_COMMIT", "unknown"), "rows": rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
