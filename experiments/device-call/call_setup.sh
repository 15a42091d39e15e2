# Sourced from the repository root by the device-call runners (prebuilt_call.sh, short_call.sh,
# grouped-wide-tiles/wait_call.sh), after setting BUDGET_DEFAULT: results go under $OUT/r (R) and
# `save` packs them into $OUT/all.tgz (a call cut short still returns what it measured); `left`
# is the seconds of BUDGET (else BUDGET_DEFAULT) still to spend; the device goes into
# $R/device.txt; ab/bins.tar.xz (prebuild.sh) is unpacked under B, with the environment the
# binding and DeepGEMM's JIT need.
R=$OUT/r
mkdir -p "$R"
T0=$SECONDS
left() { echo $((${BUDGET:-$BUDGET_DEFAULT} - (SECONDS - T0))); }
save() { tar czf "$OUT/all.tgz" -C "$OUT" r; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader; } >"$R/device.txt"
cat "$R/device.txt"
tar xJf ab/bins.tar.xz -C ab || exit 1
B=ab/bins
export FP8BLOCK_COMMIT=$(cat ab/commit.txt) PYTHONUNBUFFERED=1 PYTHONPATH=python:bench:peers/deepgemm-v1
export DG_JIT_CACHE_DIR=$PWD/.dg-cache
# On an H200, main's bench-quant three times into $R/bench_quant.txt (issue 19's H200 quantizer
# line, unmeasured since the quantizers changed after 2026-12-06); nothing on other cards.
quant_on_h200() {
    grep -q H200 "$R/device.txt" || return 0
    for i in 1 2 3; do timeout 60 "$B/main/fp8block" bench-quant --device cuda; done >"$R/bench_quant.txt" 2>&1
    save
    tail -12 "$R/bench_quant.txt"
}
# ab_plain.py on main and the given plain-GEMM variants beside DeepGEMM, into
# $R/plain_bench.txt, stopped MARGIN seconds before the budget ends.
plain_ab() { # MARGIN VARIANT...
    local margin=$1 libs=("main=$B/main/libfp8block.so") v
    shift
    for v in "$@"; do libs+=("$v=$B/$v/libfp8block.so"); done
    timeout $(($(left) - margin)) python3 experiments/device-call/ab_plain.py "${libs[@]}" --reps 10 2>&1 |
        grep -vi warn >"$R/plain_bench.txt"
    save
}
