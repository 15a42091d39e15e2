#!/usr/bin/env bash
# `fp8block bench` on a GPU, on shapes that take different GEMM plans (128-row pairs
# sharing B, 32-wide tiles with K cut in CTA pairs, stream-K at small M, 256-row pairs
# sharing A with an odd number of N tiles, 192-row pairs; the plans are checked, and which calls
# take the lean kernels, without C, bias or stream-K code): every GEMM method is
# timed (fp8block and the three cuBLASLt baselines), fp8block's D agrees with cuBLASLt's
# block-scaled D on each shape (the JSON's relative difference, at most 1e-2), nothing
# fails, nothing is unavailable (no --allow-missing: a missing method would exit 3), exit 0.
# fp8block's D is compared with cuBLASLt's on every element. Skips (77) where no GPU can be opened.
# Usage: test_bench_gpu.sh path/to/fp8block
set -u

cli=${1:?usage: test_bench_gpu.sh path/to/fp8block}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

printf '512 256 256\n64 2112 1024\n128 1024 2048\n2048 1856 512\n1152 2112 512\n' >"$work/shapes.txt"
FP8BLOCK_GEMM_LOG=1 "$cli" bench --device cuda --shapes "$work/shapes.txt" --reps 3 --warmup 1 --csv "$work/b.csv" \
    --json "$work/b.json" >"$work/b.out" 2>"$work/b.err"
status=$?
if [ "$status" -ne 0 ] && grep -q 'cannot open the GPU' "$work/b.err"; then
    echo "SKIP: no GPU here ($(head -1 "$work/b.err"))"
    exit 77
fi

checks=$((checks + 1))
[ "$status" -eq 0 ] || fail "fp8block bench --device cuda exited $status (3: a method unavailable): $(tail -3 "$work/b.err")"
check test "$(grep -c 'measurements unavailable' "$work/b.err")" -eq 0 "no method unavailable on the GPU"
check grep -q 'GEMMs of a shape in turn' "$work/b.out" "the header says the GEMMs are timed in turn"
for shape in '512 +256 +256' '64 +2112 +1024' '128 +1024 +2048' '2048 +1856 +512' '1152 +2112 +512'; do
    check grep -qE "^ +${shape} \\| +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ \\|" "$work/b.out" \
        "row $shape: fp8block and the three cuBLASLt GEMMs all timed"
done
check test "$(grep -cE '^shapes,[0-9]+,[0-9]+,[0-9]+,(fp8block|cublaslt_[a-z0-9_]+),ok,' "$work/b.csv")" -eq 20 \
    "CSV: 4 GEMM methods ok on each of the 5 shapes"
check grep -q 'gemm 512x256x256: tile 128x64 cluster 2,' "$work/b.err" "512x256x256 runs 128-row pairs sharing B"
check grep -q 'gemm 64x2112x1024: tile 64x32 cluster 2 splitting K' "$work/b.err" "64x2112x1024 splits K in pairs"
check grep -qE 'gemm 128x1024x2048: .* [1-9][0-9]* by stream-K' "$work/b.err" "128x1024x2048 runs stream-K"
check grep -q 'gemm 2048x1856x512: tile 256x128 cluster 2 sharing A' "$work/b.err" "2048x1856x512 runs 256-row pairs"
check grep -q 'gemm 1152x2112x512: tile 192x128 cluster 2 sharing A' "$work/b.err" "1152x2112x512 runs 192-row pairs"
check grep -qE 'gemm 512x256x256: .*; lean kernel$' "$work/b.err" "a call with no C, bias or stream-K runs the lean kernel"
check test "$(grep -cE 'gemm 128x1024x2048: .*lean kernel' "$work/b.err")" -eq 0 "a stream-K call runs the general kernel"
if command -v python3 >/dev/null; then
    checks=$((checks + 1))
    python3 - "$work/b.json" <<'PY' || fail "JSON: fp8block's D against cuBLASLt block-scaled, every shape"
import json, math, sys
shapes = json.load(open(sys.argv[1]))["shapes"]
diffs = [s.get("fp8block_vs_cublaslt_block_rel_diff") for s in shapes]
assert len(diffs) == 5 and all(d is not None and math.isfinite(d) and d <= 1e-2 for d in diffs), diffs
PY
fi
checks=$((checks + 1))
if grep -qE '^ +[0-9]+ +[0-9]+ +[0-9]+ \|.*FAIL' "$work/b.out" || grep -q 'differs from cuBLASLt' "$work/b.err"; then
    fail "a method failed or fp8block's D disagreed with cuBLASLt's: $(grep -m3 -E 'FAIL|differs' "$work/b.out" "$work/b.err")"
fi

echo "test_bench_gpu: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
