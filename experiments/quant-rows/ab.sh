#!/usr/bin/env bash
# On the GPU machine, in one call: main's CLI and quantize test, then the same built with each
# quantizer patch applied in turn (experiments/build_variants.sh; only src/cuda/quantize.cu
# differs, so each is a ~15 s rebuild after main's first build), each variant's quantize test,
# then `fp8block bench-quant` main / variants / variants reversed / main, one process each.
# Usage: experiments/quant-rows/ab.sh OUTDIR PATCH...   (from the repository root)
#   e.g. experiments/quant-rows/ab.sh $OUT experiments/quant-rows/two-part.patch \
#        experiments/quant-rows/rows-8.patch experiments/quant-rows/rows-G.patch
set -uo pipefail
out=$1
shift
read -ra names < <(experiments/build_variants.sh "$out/bin" "fp8block_cli gpu_test_quantize_gpu" \
    "fp8block tests/gpu_test_quantize_gpu" "$@") || exit 1
[ ${#names[@]} -gt 0 ] || exit 1
for n in "${names[@]}"; do
    echo "=== test $n"
    "$out/bin/$n/gpu_test_quantize_gpu" 2>&1 | tail -2
done | tee "$out/tests.txt"
order=("${names[@]}")
for ((i = ${#names[@]} - 1; i >= 0; i--)); do order+=("${names[i]}"); done
for n in "${order[@]}"; do
    echo "=== $n"
    "$out/bin/$n/fp8block" bench-quant --device cuda
done >"$out/bench_quant.txt" 2>&1
mv "$out/bin/build.log" "$out/" && rm -rf "$out/bin"
echo "ab.sh: $(grep -c ', 0 failed' "$out/tests.txt") of ${#names[@]} tests passed; bench in $out/bench_quant.txt"
