"""Experiment: what a masked grouped call costs beyond the plain GEMM of the same rows (issue 18).

One expert, N x K = 7168 x 2048 and 4096 x 7168, R rows in {64, 128, 256}; each timed as
  plain    fp8block.gemm on the R rows (the plain planner's plan, lean kernel, early loads)
  full     fp8block.gemm_grouped, masked, G = 1, max_m = R, count R (the same work)
  half     the same with count R / 2 (what bench/grouped.py gives: counts ~max_m / 2)
and DeepGEMM's plain and masked calls beside them on the same tensors (not with --fb-only). GPU time (events, L2
flushed, a spin before: bench/peers.py's Timer) and kernel time from the profiler, medians.
FP8BLOCK_GEMM_LOG=1 prints the plans on stderr.

Usage: FP8BLOCK_LIBRARY=... PYTHONPATH=python:bench:peers/deepgemm-v1 \
  python3 experiments/grouped-fixed-cost/masked_vs_plain.py [--reps 30] [--fb-only]
"""
import cuda.bindings.nvrtc  # noqa: F401
import argparse
import os
import random
import statistics
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "bench"), os.path.join(HERE, "..", "small-m-plans")]
from peers import Timer  # noqa: E402
from fixed_cost import kernel_us  # noqa: E402

import fp8block  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--fb-only", action="store_true", help="no DeepGEMM (its JIT builds take minutes on a fresh machine)")
    args = ap.parse_args()
    if not args.fb_only:
        import deep_gemm
    torch.manual_seed(0)
    timer = Timer()
    print(f"masked_vs_plain on {torch.cuda.get_device_name(0)}, commit {os.environ.get('FP8BLOCK_COMMIT', '?')}")
    print(f"{'N':>5} {'K':>5} {'R':>4} | {'call':<12} {'gpu us':>8} {'kern us':>8}")
    for n, k in ((7168, 2048), (4096, 7168)):
        w = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
        qb, sb = fp8block.quantize_128x128(w)
        qb3, sb3 = qb.contiguous().view(1, n, k), sb.contiguous().view(1, *sb.shape)
        for r in (64, 128, 256):
            x = torch.randn(r, k, dtype=torch.bfloat16, device="cuda")
            qa, sa = fp8block.quantize_1x128(x)
            qa3 = qa.contiguous().view(1, r, k)
            outs = {name: torch.zeros(1, r, n, dtype=torch.bfloat16, device="cuda")
                    for name in ("fb_full", "fb_half", "dg_full", "dg_half")}
            d_plain, d_dg_plain = (torch.empty(r, n, dtype=torch.bfloat16, device="cuda") for _ in range(2))
            full = torch.tensor([r], dtype=torch.int32, device="cuda")
            half = torch.tensor([r // 2], dtype=torch.int32, device="cuda")
            calls = {
                "fb plain": lambda: fp8block.gemm(qa, sa, qb, sb, out=d_plain),
                "fb full": lambda: fp8block.gemm_grouped(qa3, sa, qb3, sb3, counts=full, out=outs["fb_full"],
                                                         expected_m=r),
                "fb half": lambda: fp8block.gemm_grouped(qa3, sa, qb3, sb3, counts=half, out=outs["fb_half"],
                                                         expected_m=r // 2),
            }
            # The outputs against DeepGEMM's plain GEMM (with --fb-only, the masked call against ours).
            ref_name, ref, checked = "fp8block's plain GEMM", d_plain, [("fb full", outs["fb_full"][0])]
            if not args.fb_only:
                dg_sa = deep_gemm.get_col_major_tma_aligned_tensor(sa.t().contiguous())
                dg_sa3 = deep_gemm.get_col_major_tma_aligned_tensor(sa.t().contiguous().view(1, r, -1))
                calls.update({
                    "dg plain": lambda: deep_gemm.gemm_fp8_fp8_bf16_nt((qa, dg_sa), (qb, sb.contiguous()), d_dg_plain),
                    "dg full": lambda: deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_masked(
                        (qa3, dg_sa3), (qb3, sb3), outs["dg_full"], full, r),
                    "dg half": lambda: deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_masked(
                        (qa3, dg_sa3), (qb3, sb3), outs["dg_half"], half, r // 2),
                })
                ref_name, ref = "DeepGEMM's plain GEMM", d_dg_plain
                checked = [("fb plain", d_plain), ("fb full", outs["fb_full"][0]), ("dg full", outs["dg_full"][0])]
            for call in calls.values():
                call()
            torch.cuda.synchronize()
            ref = ref.float()
            for name, d in checked:
                diff = float((d.float() - ref).norm() / ref.norm())
                if diff > 1e-2:
                    raise SystemExit(f"{name} {r}x{n}x{k} differs from {ref_name} by {diff:.2e}")
            gpu = timer.gpu_times(calls, args.reps, random.Random(1))
            for name, call in calls.items():
                print(f"{n:>5} {k:>5} {r:>4} | {name:<12} {statistics.median(gpu[name]):>8.2f} "
                      f"{kernel_us(call, timer.flush_l2, args.reps)[0]:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
