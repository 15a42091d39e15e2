#!/usr/bin/env bash
# On the GPU machine, in one call: main's shared library and grouped test, the same built with
# each PATCH applied in turn (experiments/build_variants.sh), each variant's grouped test, then
# masked_vs_plain.py on main, every variant, and main again. FB_ONLY=1 leaves DeepGEMM out (its
# JIT builds take minutes on a fresh machine); else it travels in peers/deepgemm-v1 (bench/peers.py
# says how).
# Usage: experiments/grouped-fixed-cost/ab.sh OUTDIR PATCH... (from the repository root; REPS=15)
#   e.g. experiments/grouped-fixed-cost/ab.sh $OUT experiments/grouped-fixed-cost/no-count-read.patch \
#        experiments/grouped-fixed-cost/count-prefetch.patch experiments/grouped-fixed-cost/row-copy.patch
set -uo pipefail
out=$1
shift
read -ra names < <(experiments/build_variants.sh "$out/lib" "fp8block gpu_test_grouped_gpu" \
    "libfp8block.so tests/gpu_test_grouped_gpu" "$@") || exit 1
[ ${#names[@]} -gt 1 ] || exit 1
for n in "${names[@]}"; do
    echo "=== grouped test $n"
    "$out/lib/$n/gpu_test_grouped_gpu" 2>&1 | tail -2
done | tee "$out/tests.txt"
export PYTHONPATH=python:bench:peers/deepgemm-v1 DG_JIT_CACHE_DIR=$PWD/.dg-cache PYTHONUNBUFFERED=1
flags=(--reps "${REPS:-15}")
[ "${FB_ONLY:-0}" = 1 ] && flags+=(--fb-only)
for n in "${names[@]}" main; do
    echo "=== $n"
    FP8BLOCK_LIBRARY="$out/lib/$n/libfp8block.so" python3 experiments/grouped-fixed-cost/masked_vs_plain.py "${flags[@]}"
done >"$out/masked_vs_plain_ab.txt" 2>&1
mv "$out/lib/build.log" "$out/" && rm -rf "$out/lib"
echo "ab.sh: $(grep -c ', 0 failed' "$out/tests.txt") of ${#names[@]} grouped tests passed; $out/masked_vs_plain_ab.txt"
