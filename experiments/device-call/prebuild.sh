#!/usr/bin/env bash
# Here, without a GPU: builds main and main with each PATCH (experiments/build_variants.sh, build
# folder build-ab) and packs the programs a device call runs into ab/bins.tar.xz, with HEAD's
# commit in ab/commit.txt (ab/ is ignored: add /ab/ to .git/info/exclude). A device call then
# spends no time building (gemm_launch.cu alone is ~2 min a variant) and the pack, xz -9e over
# near-identical binaries, stays ~2-3 MB a variant. Carry `ab` and run
# experiments/device-call/prebuilt_call.sh.
# Usage: experiments/device-call/prebuild.sh PATCH...   (from the repository root)
set -euo pipefail
rm -rf ab/bins && mkdir -p ab
BUILD=build-ab experiments/build_variants.sh ab/bins \
    "fp8block_cli fp8block gpu_test_quantize_gpu gpu_test_grouped_gpu" \
    "fp8block libfp8block.so tests/gpu_test_quantize_gpu tests/gpu_test_grouped_gpu" "$@"
git rev-parse --short HEAD >ab/commit.txt
tar cf - -C ab bins | xz -9e -T0 >ab/bins.tar.xz
rm -rf ab/bins
ls -l ab/bins.tar.xz
