#!/usr/bin/env python3
"""Grouped (mixture-of-experts) GEMMs beside DeepGEMM v1, same process, same tensors (issue 18):
fp8block.gemm_grouped against m_grouped_gemm_fp8_fp8_bf16_nt_contiguous and _masked, bf16 D,
on DeepSeek-V3's expert shapes N x K = 4096 x 7168 and 7168 x 2048.

Contiguous: G in {4, 8, 32}, group sizes drawn from 256-8192 rows and rounded up to 128 (the
alignment DeepGEMM needs; both then do the same work); fp8block is also timed on the unrounded
sizes ("fp8block raw", same rows but no padding, which DeepGEMM cannot take). Masked: G in
{1, 2, 4, 8, 16, 32} x max_m in {64, 128, 256}, counts about max_m / 2, and both told so: the
same expected_m = max_m // 2 goes to DeepGEMM's masked call and to fp8block.gemm_grouped (a
planning hint for each; the counts themselves stay on the GPU). The operands are quantized
once by fp8block and handed to both (A's scales in DeepGEMM's M-major TMA-aligned form, made
before timing); the outputs are compared on the rows the groups own before anything is
timed. GPU time per call as bench/peers.py measures it (events, L2 flushed, host hidden behind
a spin kernel, median), and host time per call.

Usage (GPU machine): FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python:peers/deepgemm-v1 \\
    python3 bench/grouped.py [--layouts masked] [--shapes 7168,2048] [--groups 2] [--max-m 256] [--once] [--json F]
"""
import argparse
import json
import os
import random
import statistics
import sys

try:  # DeepGEMM's JIT wants the system NVRTC loaded before torch's
    import cuda.bindings.nvrtc  # noqa: F401
except Exception:
    pass
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Timer  # noqa: E402

import fp8block  # noqa: E402

SHAPES = [(4096, 7168), (7168, 2048)]


def experts(g, n, k):
    w = torch.randn(g * n, k, dtype=torch.bfloat16, device="cuda")
    qs = [fp8block.quantize_128x128(w[i * n:(i + 1) * n]) for i in range(g)]
    qb = torch.stack([q for q, _ in qs]).contiguous()
    sb = torch.stack([s.contiguous() for _, s in qs]).contiguous()
    return qb, sb


def contiguous_sizes(pick, g):
    """G group sizes drawn from 256-8192 rows (256-2048 at G = 32), and the same rounded up to
    128 (DeepGEMM's alignment)."""
    sizes = [pick.randint(256, 8192 if g < 32 else 2048) for _ in range(g)]
    return sizes, [(s + 127) // 128 * 128 for s in sizes]


def masked_counts(pick, g, max_m):
    """G valid counts of about max_m / 2, each in [1, max_m]."""
    return [max(1, min(max_m, int(pick.gauss(max_m / 2, max_m / 6)))) for _ in range(g)]


def row_offsets(sizes):
    """The G + 1 row offsets of groups of `sizes` rows, as fp8block's contiguous layout takes them."""
    return torch.tensor([0] + list(torch.tensor(sizes).cumsum(0)), dtype=torch.int32, device="cuda")


def contiguous_operands(sizes, k):
    """A for groups of `sizes` rows (bf16 randoms quantized 1x128, codes contiguous), the G + 1
    row offsets fp8block takes, and DeepGEMM's per-row group indices and M-major A scales."""
    import deep_gemm
    g, m = len(sizes), sum(sizes)
    qa, sa = fp8block.quantize_1x128(torch.randn(m, k, dtype=torch.bfloat16, device="cuda"))
    offsets = row_offsets(sizes)
    m_indices = torch.repeat_interleave(torch.arange(g, dtype=torch.int32, device="cuda"),
                                        torch.tensor(sizes, device="cuda")).contiguous()
    return qa.contiguous(), sa, offsets, m_indices, deep_gemm.get_col_major_tma_aligned_tensor(sa.t().contiguous())


def rel_diff(a, b, rows):
    a, b = a[rows].float(), b[rows].float()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--host-calls", type=int, default=50)
    parser.add_argument("--layouts", default="contiguous,masked", help="which layouts to time (comma-separated)")
    parser.add_argument("--shapes", default="", help="N,K;... (default: both expert shapes)")
    parser.add_argument("--json")
    parser.add_argument("--groups", default="", help="only these G (comma-separated)")
    parser.add_argument("--max-m", default="", help="masked: only these max_m (comma-separated)")
    parser.add_argument("--once", action="store_true", help="call each once and compare, no timing (for ncu)")
    args = parser.parse_args()
    only_g = {int(v) for v in args.groups.split(",") if v}
    only_max_m = {int(v) for v in args.max_m.split(",") if v}
    layouts = args.layouts.split(",")
    shapes = [tuple(int(v) for v in t.split(",")) for t in args.shapes.split(";") if t] or SHAPES
    import deep_gemm
    torch.manual_seed(0)
    pick, timer = random.Random(18), Timer()
    print(f"grouped on {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
          f"commit {os.environ.get('FP8BLOCK_COMMIT', '?')}")
    print(f"{'layout':>10} {'G':>3} {'rows':>7} {'N':>5} {'K':>5} | {'fp8block':>9} {'deepgemm':>9} {'raw':>9} | "
          f"{'vs DG':>6} | {'host fb':>7} {'host DG':>7} | rel diff")
    rows_out = []
    for n, k in shapes:
        for g in (4, 8, 32) if "contiguous" in layouts else ():
            if only_g and g not in only_g:
                continue
            sizes, padded = contiguous_sizes(pick, g)
            m = sum(padded)
            qb, sb = experts(g, n, k)
            qa_c, sa, offsets, m_indices, dg_sa = contiguous_operands(padded, k)
            raw_offsets = row_offsets(sizes)
            d_fb = torch.empty(m, n, dtype=torch.bfloat16, device="cuda")
            d_dg = torch.empty(m, n, dtype=torch.bfloat16, device="cuda")
            calls = {
                "fp8block": lambda: fp8block.gemm_grouped(qa_c, sa, qb, sb, offsets=offsets, out=d_fb),
                "deepgemm": lambda: deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_contiguous((qa_c, dg_sa), (qb, sb), d_dg,
                                                                                     m_indices),
                "raw": lambda: fp8block.gemm_grouped(qa_c, sa, qb, sb, offsets=raw_offsets, out=d_fb),
            }
            calls["fp8block"](), calls["deepgemm"]()
            torch.cuda.synchronize()
            diff = rel_diff(d_fb, d_dg, slice(0, m))
            rows_out.append(measure(timer, calls, args, "contiguous", g, m, n, k, diff))
        for g in (1, 2, 4, 8, 16, 32) if "masked" in layouts else ():
            if only_g and g not in only_g:
                continue
            qb, sb = experts(g, n, k)
            for max_m in (64, 128, 256):
                if only_max_m and max_m not in only_max_m:
                    continue
                x = torch.randn(g * max_m, k, dtype=torch.bfloat16, device="cuda")
                qa, sa = fp8block.quantize_1x128(x)
                qa3 = qa.contiguous().view(g, max_m, k)
                counts = torch.tensor(masked_counts(pick, g, max_m), dtype=torch.int32, device="cuda")
                dg_sa = deep_gemm.get_col_major_tma_aligned_tensor(sa.t().contiguous().view(g, max_m, -1))
                d_fb = torch.zeros(g, max_m, n, dtype=torch.bfloat16, device="cuda")
                d_dg = torch.zeros(g, max_m, n, dtype=torch.bfloat16, device="cuda")
                calls = {
                    "fp8block": lambda: fp8block.gemm_grouped(qa3, sa, qb, sb, counts=counts, out=d_fb,
                                                              expected_m=max_m // 2),
                    "deepgemm": lambda: deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_masked((qa3, dg_sa), (qb, sb), d_dg,
                                                                                     counts, max_m // 2),
                }
                calls["fp8block"](), calls["deepgemm"]()
                torch.cuda.synchronize()
                owned = torch.arange(max_m, device="cuda")[None, :] < counts[:, None]
                diff = rel_diff(d_fb, d_dg, owned)
                rows_out.append(measure(timer, calls, args, "masked", g, g * max_m, n, k, diff))
    rows_out = [r for r in rows_out if r]
    for layout in layouts:
        ratios = [r["deepgemm_us"] / r["fp8block_us"] for r in rows_out if r["layout"] == layout]
        if not ratios:
            continue
        print(f"{layout}: fp8block speed-up over DeepGEMM, geomean {statistics.geometric_mean(ratios):.3f}x, "
              f"lowest {min(ratios):.3f}x (bar: geomean >= 1.0, none below 0.9)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(0), "commit": os.environ.get("FP8BLOCK_COMMIT", ""),
                       "rows": rows_out}, f, indent=1)


def measure(timer, calls, args, layout, g, m, n, k, diff):
    if args.once:
        print(f"{layout:>10} {g:>3} {m:>7} {n:>5} {k:>5} | called once | rel diff {diff:.1e}", flush=True)
        if diff > 1e-2:
            raise SystemExit(f"{layout} G={g}: fp8block and DeepGEMM differ by {diff:.2e} on the groups' rows")
        return None
    gpu = {name: statistics.median(t) for name, t in timer.gpu_times(calls, args.reps, random.Random(1)).items()}
    host = {name: h[0] for name, h in timer.host_times(calls, args.host_calls).items()}
    raw = f"{gpu['raw']:>9.1f}" if "raw" in gpu else f"{'-':>9}"
    print(f"{layout:>10} {g:>3} {m:>7} {n:>5} {k:>5} | {gpu['fp8block']:>9.1f} {gpu['deepgemm']:>9.1f} {raw} | "
          f"{gpu['deepgemm'] / gpu['fp8block']:>5.2f}x | {host['fp8block']:>7.1f} {host['deepgemm']:>7.1f} | "
          f"{diff:.1e}", flush=True)
    if diff > 1e-2:
        raise SystemExit(f"{layout} G={g}: fp8block and DeepGEMM differ by {diff:.2e} on the groups' rows")
    return {"layout": layout, "groups": g, "m": m, "n": n, "k": k, "fp8block_us": gpu["fp8block"],
            "deepgemm_us": gpu["deepgemm"], "raw_us": gpu.get("raw"), "host_us": host, "rel_diff": diff}


if __name__ == "__main__":
    main()
