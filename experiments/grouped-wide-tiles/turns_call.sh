#!/usr/bin/env bash
# On the GPU machine: the call that measures wide160t and wide160h (bench/NOTES.md "The 128-row
# tile's loop"), on ab/bins.tar.xz from `experiments/device-call/prebuild.sh
# experiments/grouped-wide-tiles/wide160t.patch experiments/grouped-wide-tiles/wide160h.patch`;
# carry ab and peers. In order, each cut short by the call's limit rather than skipped:
#  1. prebuilt_call.sh: each variant's grouped test under FP8BLOCK_GEMM_PLAN=128,160,2,0, then
#     ab_grouped.py (main, both variants and DeepGEMM in one process); on an H200 main's
#     bench-quant first (issue 19's H200 line);
#  2. the small test set under the same plan on main (the control: main has no 128x160 kernel)
#     and on each variant, every failing check listed, then racecheck and memcheck on wide160h;
#  3. Nsight Compute's raw page on wide160h and DeepGEMM (ncu_stalls.py reads the stalls).
# Usage: experiments/grouped-wide-tiles/turns_call.sh   (results under $OUT, as the runners')
set -u
cd "$(dirname "$0")/../.."
quant=
nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && quant=main
QUANT=$quant GROUPED="wide160t wide160h" GROUPED_PLANS="128,160,2,0" GROUPED_BENCH=ab PEERS=1 BUDGET=${BUDGET:-200} \
    bash experiments/device-call/prebuilt_call.sh
bins=ab/bins
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in main wide160t wide160h; do
    echo "=== $v, small set, plan 128,160,2,0"
    FP8BLOCK_TEST_SMALL=1 FP8BLOCK_GEMM_PLAN=128,160,2,0 timeout 30 "$bins/$v/gpu_test_grouped_gpu" 2>&1 |
        grep -E "FAIL|DIFFERENT|checks"
done >"$OUT/forced_small.txt"
for tool in racecheck memcheck; do
    echo "=== $tool wide160h, small set, plan 128,160,2,0"
    FP8BLOCK_TEST_SMALL=1 FP8BLOCK_GEMM_PLAN=128,160,2,0 timeout 60 "$sanitizer" --tool "$tool" \
        "$bins/wide160h/gpu_test_grouped_gpu" 2>&1 | grep -E "SUMMARY|checks"
done >>"$OUT/forced_small.txt"
grep -E "===|checks|SUMMARY" "$OUT/forced_small.txt"
NCU_PAGE=raw timeout 90 bash experiments/grouped-wide-tiles/ncu_call.sh wide160h
