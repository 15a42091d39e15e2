#!/usr/bin/env bash
# On the GPU machine, in one call: main's shared library, then the same built with PATCH applied
# (the probe no-count-read.patch, say), then masked_vs_plain.py on each in turn (main, patched,
# patched, main), DeepGEMM beside them (it travels in peers/deepgemm-v1: bench/peers.py says how).
# The tree carries no .git there, so the patch goes on with patch(1) and comes off after its build.
# Usage: experiments/grouped-fixed-cost/ab.sh OUTDIR PATCH [REPS]   (from the repository root)
set -uo pipefail
out=$1 patch_file=$2 reps=${3:-15}
build=${BUILD:-build-ab}
mkdir -p "$out/lib"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$out/build.log" 2>&1 || { echo "ab.sh: cmake failed ($out/build.log)" >&2; exit 1; }
build_lib() { # NAME
    cmake --build "$build" -j "$(nproc)" --target fp8block >>"$out/build.log" 2>&1 || return 1
    mkdir -p "$out/lib/$1" && cp -L "$build/libfp8block.so" "$out/lib/$1/libfp8block.so"
}
build_lib main || { echo "ab.sh: main did not build ($out/build.log)" >&2; exit 1; }
name=$(basename "$patch_file" .patch)
patch -p1 --quiet <"$patch_file" || { echo "ab.sh: $patch_file does not apply" >&2; exit 1; }
build_lib "$name"
built=$?
patch -R -p1 --quiet <"$patch_file"
[ $built -eq 0 ] || { echo "ab.sh: $name did not build" >&2; exit 1; }
export PYTHONPATH=python:bench:peers/deepgemm-v1 DG_JIT_CACHE_DIR=$PWD/.dg-cache PYTHONUNBUFFERED=1
for n in main "$name" "$name" main; do
    echo "=== $n"
    FP8BLOCK_LIBRARY="$out/lib/$n/libfp8block.so" python3 experiments/grouped-fixed-cost/masked_vs_plain.py --reps "$reps"
done >"$out/masked_vs_plain_ab.txt" 2>&1
rm -rf "$out/lib"
echo "ab.sh: $out/masked_vs_plain_ab.txt"
