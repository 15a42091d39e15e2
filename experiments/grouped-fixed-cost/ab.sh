#!/usr/bin/env bash
# On the GPU machine, in one call: main's shared library and the same built with PATCH applied
# (experiments/build_variants.sh; the probe no-count-read.patch, say), then masked_vs_plain.py on
# each in turn (main, patched, patched, main), DeepGEMM beside them (it travels in
# peers/deepgemm-v1: bench/peers.py says how).
# Usage: experiments/grouped-fixed-cost/ab.sh OUTDIR PATCH [REPS]   (from the repository root)
set -uo pipefail
out=$1 patch_file=$2 reps=${3:-15}
read -ra names < <(experiments/build_variants.sh "$out/lib" fp8block libfp8block.so "$patch_file") || exit 1
[ ${#names[@]} -eq 2 ] || exit 1
export PYTHONPATH=python:bench:peers/deepgemm-v1 DG_JIT_CACHE_DIR=$PWD/.dg-cache PYTHONUNBUFFERED=1
for n in main "${names[1]}" "${names[1]}" main; do
    echo "=== $n"
    FP8BLOCK_LIBRARY="$out/lib/$n/libfp8block.so" python3 experiments/grouped-fixed-cost/masked_vs_plain.py --reps "$reps"
done >"$out/masked_vs_plain_ab.txt" 2>&1
mv "$out/lib/build.log" "$out/" && rm -rf "$out/lib"
echo "ab.sh: $out/masked_vs_plain_ab.txt"
