#!/usr/bin/env bash
# On the GPU machine, in one call: main's CLI and quantize test, then the same built with each
# quantizer patch applied in turn (only src/cuda/quantize.cu differs, so each is a ~15 s rebuild
# after main's first build), each variant's quantize test, then `fp8block bench-quant` main /
# variants / variants reversed / main, one process each. The tree carries no .git there, so the
# patches go on with patch(1) and come off again after each build.
# Usage: experiments/quant-rows/ab.sh OUTDIR PATCH...   (from the repository root)
#   e.g. experiments/quant-rows/ab.sh $OUT experiments/quant-rows/two-part.patch \
#        experiments/quant-rows/rows-8.patch experiments/quant-rows/rows-G.patch
set -uo pipefail
out=$1
shift
build=${BUILD:-build-ab}
mkdir -p "$out/bin"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$out/build.log" 2>&1 || { echo "ab.sh: cmake failed ($out/build.log)" >&2; exit 1; }
build_one() { # NAME: builds the CLI and the quantize test, keeps both under OUTDIR/bin
    cmake --build "$build" -j "$(nproc)" --target fp8block_cli gpu_test_quantize_gpu >>"$out/build.log" 2>&1 || return 1
    cp "$build/fp8block" "$out/bin/$1" && cp "$build/tests/gpu_test_quantize_gpu" "$out/bin/test_$1"
}
build_one main || { echo "ab.sh: main did not build ($out/build.log)" >&2; exit 1; }
names=()
for p in "$@"; do
    name=$(basename "$p" .patch)
    patch -p1 --quiet <"$p" || { echo "ab.sh: $p does not apply" >&2; exit 1; }
    build_one "$name"
    built=$?
    patch -R -p1 --quiet <"$p"
    [ $built -eq 0 ] && names+=("$name") || echo "ab.sh: $name did not build" >&2
done
for n in main "${names[@]}"; do
    echo "=== test $n"
    "$out/bin/test_$n" 2>&1 | tail -2
done | tee "$out/tests.txt"
order=(main "${names[@]}")
for ((i = ${#names[@]}; i >= 1; i--)); do order+=("${names[i - 1]}"); done
order+=(main)
for n in "${order[@]}"; do
    echo "=== $n"
    "$out/bin/$n" bench-quant --device cuda
done >"$out/bench_quant.txt" 2>&1
rm -rf "$out/bin"
echo "ab.sh: $(grep -c '0 failed' "$out/tests.txt") of $((${#names[@]} + 1)) tests passed; bench in $out/bench_quant.txt"
