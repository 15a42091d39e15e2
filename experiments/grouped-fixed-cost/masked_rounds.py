"""Experiment: bench/grouped.py's masked rows as each library tiles them (issue 18). For each row,
the counts grouped.py draws (its seed, its order), fp8block's grouped plan and launch (masked_plans.c: the
planner and the kernel's group walk compiled in), DeepGEMM's get_best_configs (its own source from peers/, imports stubbed:
run without torch), the tiles each makes, the CTAs each launches and the most tiles a CTA takes,
beside the measured ratio from a grouped.json.

Usage: gcc -O1 -Isrc -Iinclude experiments/grouped-fixed-cost/masked_plans.c src/gemm_planner.c src/status.c \
  -o /tmp/masked_plans && python3 experiments/grouped-fixed-cost/masked_rounds.py /tmp/masked_plans RESULTS/grouped.json
"""
import json
import random
import re
import subprocess
import sys
import types

# DeepGEMM's heuristic from its own source, its imports stubbed (no torch here): the module head
# without its imports, then get_best_configs.
sys.modules["torch"] = types.ModuleType("torch")
src = open("peers/deepgemm-v1/deep_gemm/jit_kernels/gemm.py").read()
head, rest = src.split("def get_best_configs", 1)
head = re.sub(r"^from [^\n]*\([^)]*\)\n|^from [^\n]*\n|^import torch\n", "", head, flags=re.M)
head = head.rstrip().removesuffix("@lru_cache(maxsize=None)")
ns = {"ceil_div": lambda a, b: (a + b - 1) // b, "get_m_alignment_for_contiguous_layout": lambda: 128}
exec("import math\nfrom typing import Tuple\nfrom functools import lru_cache\n" + head, ns)
exec("def get_best_configs" + rest.split("\ndef ")[0], ns)
best = ns["get_best_configs"]
PLANS = sys.argv[1]
rows = {(r["n"], r["k"], r["groups"], r["m"] // r["groups"]): r for r in json.load(open(sys.argv[2]))["rows"] if r["layout"] == "masked"}
pick = random.Random(18)
cdiv = lambda a, b: (a + b - 1) // b
print(f"{'N':>5} {'K':>5} {'G':>3} {'max_m':>5} | {'ours: tile':>14} {'units':>5} {'CTAs':>5} {'max':>3} | {'DG: tile':>9} {'tiles':>5} {'CTAs':>4} {'max':>3} | {'vs DG':>5}  counts")
for n, k in [(4096, 7168), (7168, 2048)]:
    for g in (4, 8, 32):
        [pick.randint(256, 8192 if g < 32 else 2048) for _ in range(g)]
    for g in (1, 2, 4, 8, 16, 32):
        for max_m in (64, 128, 256):
            counts = [max(1, min(max_m, int(pick.gauss(max_m / 2, max_m / 6)))) for _ in range(g)]
            ours = subprocess.run([PLANS, str(n), str(k), str(g), str(max_m), str(max_m // 2)] + [str(c) for c in counts],
                                  capture_output=True, text=True).stdout.split()
            sms, bm, bn, *_ = best(max_m // 2, n, k, g, 132, is_grouped_masked=True)
            tiles = sum(cdiv(c, bm) for c in counts) * cdiv(n, bn)
            r = rows.get((n, k, g, max_m))
            ratio = r["deepgemm_us"] / r["fp8block_us"] if r else float("nan")
            print(f"{n:>5} {k:>5} {g:>3} {max_m:>5} | {ours[0]+' '+ours[1]:>14} {ours[3]:>5} {ours[5]:>5} {ours[7]:>3} | "
                  f"{bm}x{bn:<5} {tiles:>5} {sms:>4} {cdiv(tiles, sms):>3} | {ratio:5.2f}  {counts if g <= 8 else ''}")
