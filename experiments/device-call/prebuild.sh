#!/usr/bin/env bash
# Here, without a GPU: builds main and main with each PATCH (experiments/build_variants.sh, build
# folder build-ab) and packs the programs a device call runs into ab/bins.tar.xz, with HEAD's
# commit in ab/commit.txt (ab/ is ignored: add /ab/ to .git/info/exclude). A device call then
# spends no time building (gemm_launch.cu alone is ~2 min a variant) and the pack, xz -9e over
# near-identical binaries, stays ~2-3 MB a variant. Carry `ab` and run
# experiments/device-call/prebuilt_call.sh.
# With SUITE=1 the pack also holds main's GPU tests and their plans (ctest's list) under suite/,
# for suite_prebuilt.sh (with SUITE_PATCH=FILE, the tests of main with that patch: a variant
# that changes every kernel owes the whole suite); xz then takes a dictionary that spans the
# near-identical programs.
# Usage: [SUITE=1 [SUITE_PATCH=FILE]] experiments/device-call/prebuild.sh PATCH...   (from the repository root)
set -euo pipefail
rm -rf ab/bins && mkdir -p ab
BUILD=build-ab experiments/build_variants.sh ab/bins \
    "fp8block_cli fp8block gpu_test_quantize_gpu gpu_test_grouped_gpu" \
    "fp8block libfp8block.so tests/gpu_test_quantize_gpu tests/gpu_test_grouped_gpu" "$@"
git rev-parse --short HEAD >ab/commit.txt
if [ "${SUITE:-0}" = 1 ]; then # patches are off again: build-ab is main's tree
    [ -z "${SUITE_PATCH:-}" ] || patch -p1 --quiet <"$SUITE_PATCH" || exit 1
    cmake --build build-ab -j "$(nproc)" >>ab/bins/build.log 2>&1
    built=$?
    [ -z "${SUITE_PATCH:-}" ] || patch -R -p1 --quiet <"$SUITE_PATCH"
    [ $built -eq 0 ] || { echo "prebuild: the suite did not build (ab/bins/build.log)" >&2; exit 1; }
    mkdir -p ab/bins/suite
    cp -L build-ab/tests/gpu_test_* ab/bins/suite/
    echo "$(git rev-parse --short HEAD)${SUITE_PATCH:+ + $(basename "$SUITE_PATCH" .patch)}" >ab/bins/suite/commit.txt
    (cd build-ab && ctest --show-only=json-v1 -L gpu) | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tests"]:
    if not t["name"].startswith("gpu_test_") or t["name"] == "gpu_test_cublaslt": continue
    env = [v for p in t.get("properties", []) if p["name"] == "ENVIRONMENT" for v in p["value"]]
    plan = [e.split("=", 1)[1] for e in env if e.startswith("FP8BLOCK_GEMM_PLAN=")]
    print(t["name"], t["command"][0].rsplit("/", 1)[1], plan[0] if plan else "")' >ab/bins/suite/tests.txt
fi
tar cf - -C ab bins | xz -9e --lzma2=preset=9e,dict=512MiB -T1 >ab/bins.tar.xz
rm -rf ab/bins
ls -l ab/bins.tar.xz
