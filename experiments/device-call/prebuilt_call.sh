#!/usr/bin/env bash
# On the GPU machine: one short call on the programs of ab/bins.tar.xz (prebuild.sh), in the
# order that suits the card, each step only while the time left (BUDGET seconds, default 300)
# allows; results under $OUT/r, packed as $OUT/all.tgz after each step (a call cut short still
# returns what it measured).
#   QUANT="two-part half-tiles"   quantizer variants: their quantize tests, then bench-quant
#                                  main / variants / variants reversed / main
#   GROUPED="row-copy ..."        grouped variants: their grouped tests, then masked_vs_plain
#                                  main / variants / main (a probe that is correct only for full
#                                  groups, no-count-read, fails its test by design); DeepGEMM beside
#                                  them only with PEERS=1 and peers/deepgemm-v1 carried (its JIT
#                                  builds take minutes on a fresh machine)
#   RACECHECK=1                    last, while time is left: compute-sanitizer racecheck on each
#                                  variant's test with FP8BLOCK_TEST_SMALL=1 (grouped: its own
#                                  plans, then 64,64,1,0 and 256,128,2,0 as scripts/gpu-sanitize)
# H200: the quantizers first (issue 19's H200 line); otherwise the grouped variants first.
set -u
cd "$(dirname "$0")/../.."
R=$OUT/r
mkdir -p "$R"
T0=$SECONDS
left() { echo $((${BUDGET:-300} - (SECONDS - T0))); }
save() { tar czf "$OUT/all.tgz" -C "$OUT" r; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader; } >"$R/device.txt"
cat "$R/device.txt"
tar xJf ab/bins.tar.xz -C ab || exit 1
B=ab/bins
export FP8BLOCK_COMMIT=$(cat ab/commit.txt) PYTHONUNBUFFERED=1 PYTHONPATH=python:bench:peers/deepgemm-v1
export DG_JIT_CACHE_DIR=$PWD/.dg-cache
peers=(--fb-only)
[ "${PEERS:-0}" = 1 ] && peers=()
read -ra quant <<<"${QUANT:-}"
read -ra grouped <<<"${GROUPED:-}"
test_each() { # TEST NAME...
    local test=$1
    shift
    for v in "$@"; do
        echo "=== $test $v"
        timeout 60 "$B/$v/$test" 2>&1 | tail -3
        echo "rc ${PIPESTATUS[0]}"
    done
}
quant_step() {
    [ ${#quant[@]} -gt 0 ] || return
    echo "quantize tests ($(left) s left)"
    test_each gpu_test_quantize_gpu "${quant[@]}" >"$R/quant_tests.txt"
    save
    local order=(main "${quant[@]}")
    for ((i = ${#quant[@]} - 1; i >= 0; i--)); do order+=("${quant[i]}"); done
    for v in "${order[@]}" main; do
        [ "$(left)" -gt 25 ] || break
        echo "=== $v"
        timeout 40 "$B/$v/fp8block" bench-quant --device cuda
    done >"$R/bench_quant.txt" 2>&1
    save
}
grouped_step() {
    [ ${#grouped[@]} -gt 0 ] || return
    echo "grouped tests ($(left) s left)"
    test_each gpu_test_grouped_gpu "${grouped[@]}" >"$R/grouped_tests.txt"
    save
    for v in main "${grouped[@]}" main; do
        [ "$(left)" -gt 45 ] || break
        echo "=== $v"
        FP8BLOCK_LIBRARY=$PWD/$B/$v/libfp8block.so timeout 50 \
            python3 experiments/grouped-fixed-cost/masked_vs_plain.py --reps 10 "${peers[@]}"
    done >"$R/masked_vs_plain.txt" 2>&1
    save
}
racecheck_one() { # VARIANT TEST [PLAN]
    [ "$(left)" -gt 40 ] || return
    local t0=$SECONDS rc
    env FP8BLOCK_TEST_SMALL=1 ${3:+FP8BLOCK_GEMM_PLAN=$3} timeout $(($(left) - 10)) "$sanitizer" --tool racecheck \
        --racecheck-report all --error-exitcode 99 "$B/$1/$2" >"$R/racecheck-$1-$2${3:+@$3}.log" 2>&1
    rc=$?
    echo "racecheck $1 $2${3:+@$3}: exit $rc ($(grep -Eo 'RACECHECK SUMMARY.*' "$R/racecheck-$1-$2${3:+@$3}.log" | tail -1)), $((SECONDS - t0)) s"
}
racecheck_step() {
    [ "${RACECHECK:-0}" = 1 ] || return
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    echo "racecheck ($(left) s left)"
    {
        for v in "${quant[@]}"; do racecheck_one "$v" gpu_test_quantize_gpu; done
        for v in "${grouped[@]}"; do
            [ "$v" = no-count-read ] && continue
            for plan in "" 64,64,1,0 256,128,2,0; do racecheck_one "$v" gpu_test_grouped_gpu $plan; done
        done
    } | tee "$R/racecheck.txt"
    save
}
if grep -q H200 "$R/device.txt"; then quant_step; grouped_step; else grouped_step; quant_step; fi
racecheck_step
echo "done in $((SECONDS - T0)) s"
