#!/usr/bin/env bash
# On the GPU machine, one call: the half-units library (ab/bins/half-units, prebuilt here by
# experiments/device-call/prebuild.sh experiments/grouped-half-units/half-units.patch) beside
# main's (ab/bins/main). Carry `ab` and `peers`. Results under $OUT/r (at most 8 files come back:
# the summaries go to stdout too).
#   1. the grouped test under 256,128,2,0 (half units in both layouts) and 128,128,2,0;
#   2. racecheck and memcheck on the first's small set;
#   3. contiguous_vs_plain at 4096x7168, main / half-units / half-units / main;
#   4. bench/grouped.py, both layouts, half-units / main / half-units / main.
set -u
cd "$(dirname "$0")/../.."
R=$OUT/r
mkdir -p "$R"
tar xJf ab/bins.tar.xz -C ab || exit 1
B=ab/bins
export FP8BLOCK_COMMIT="$(cat ab/commit.txt)" PYTHONUNBUFFERED=1 PYTHONPATH=python:bench:peers/deepgemm-v1
export DG_JIT_CACHE_DIR=$PWD/.dg-cache
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } | tee "$R/device.txt"
for plan in 256,128,2,0 128,128,2,0; do
    echo "== plan $plan"
    FP8BLOCK_GEMM_PLAN=$plan timeout 60 "$B/half-units/gpu_test_grouped_gpu" 2>&1 | tail -3
    echo "rc ${PIPESTATUS[0]}"
done >"$R/tests.txt"
grep -E "^rc|checks" "$R/tests.txt"
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in racecheck memcheck; do
    FP8BLOCK_TEST_SMALL=1 FP8BLOCK_GEMM_PLAN=256,128,2,0 timeout 90 "$cs" --tool $tool --error-exitcode 99 \
        "$B/half-units/gpu_test_grouped_gpu" >"$R/$tool.txt" 2>&1
    echo "$tool rc $? $(grep -Eo 'RACECHECK SUMMARY.*|ERROR SUMMARY.*' "$R/$tool.txt" | tail -1)"
done | tee "$R/sanitizers.txt"
for v in main half-units half-units main; do
    echo "=== $v"
    FP8BLOCK_LIBRARY=$PWD/$B/$v/libfp8block.so timeout 90 \
        python3 experiments/grouped-fixed-cost/contiguous_vs_plain.py --reps 10 --shapes 4096,7168 2>&1 | grep -vi warn
done >"$R/contiguous_vs_plain.txt" 2>&1
grep -E "===| fb " "$R/contiguous_vs_plain.txt"
for v in half-units main half-units main; do
    echo "=== $v"
    FP8BLOCK_LIBRARY=$PWD/$B/$v/libfp8block.so timeout 120 python3 bench/grouped.py --reps 10 2>&1 | grep -vi warn
done >"$R/grouped.txt" 2>&1
grep -E "===|geomean" "$R/grouped.txt"
