#!/usr/bin/env bash
# On the GPU machine: one short call on the programs of ab/bins.tar.xz (prebuild.sh), in the
# order that suits the card, each step only while the time left (BUDGET seconds, default 300)
# allows; results under $OUT/r, packed as $OUT/all.tgz after each step (a call cut short still
# returns what it measured).
#   QUANT="two-part half-tiles"   quantizer variants: their quantize tests, then bench-quant
#                                  main / variants / variants reversed / main
#   GROUPED="row-copy ..."        grouped variants: their grouped tests (under each plan of
#                                  GROUPED_PLANS, default the test's own), then GROUPED_BENCH
#                                  in the same rotation:
#                                    masked (default)  masked_vs_plain (a probe that is correct only
#                                                      for full groups, no-count-read, fails its
#                                                      test by design)
#                                    contiguous        contiguous_vs_plain at 4096x7168, then
#                                                      bench/grouped.py, both layouts
#                                    ab                ab_grouped.py: main and every variant loaded
#                                                      in one process, contiguous rows, one
#                                                      shuffled rotation a rep (clock drift
#                                                      between processes reached 10%)
#                                  DeepGEMM beside them only with PEERS=1 and peers/deepgemm-v1
#                                  carried (its JIT builds take minutes on a fresh machine);
#                                  contiguous needs it
#   SANITIZE="racecheck memcheck" last, while time is left: each compute-sanitizer tool on each
#                                  variant's test with FP8BLOCK_TEST_SMALL=1 (grouped: its own
#                                  plans, then 64,64,1,0, then GROUPED_PLANS or, without them,
#                                  256,128,2,0 as scripts/gpu-sanitize)
# H200: the quantizers first (issue 19's H200 line); otherwise the grouped variants first.
# The half-units call, for example: GROUPED=half-units GROUPED_PLANS="256,128,2,0 128,128,2,0"
# GROUPED_BENCH=contiguous PEERS=1 SANITIZE="racecheck memcheck" BUDGET=420.
set -u
cd "$(dirname "$0")/../.."
BUDGET_DEFAULT=300
. experiments/device-call/call_setup.sh
peers=(--fb-only)
[ "${PEERS:-0}" = 1 ] && peers=()
read -ra quant <<<"${QUANT:-}"
read -ra grouped <<<"${GROUPED:-}"
read -ra grouped_plans <<<"${GROUPED_PLANS:-}"
[ ${#grouped_plans[@]} -gt 0 ] || grouped_plans=("")
sanitize_plans=(256,128,2,0) # besides the test's own plans and 64,64,1,0: GROUPED_PLANS where given
[ -n "${GROUPED_PLANS:-}" ] && sanitize_plans=("${grouped_plans[@]}")
test_each() { # TEST PLAN NAME...   (PLAN "": the test's own)
    local test=$1 plan=$2
    shift 2
    for v in "$@"; do
        echo "=== $test $v${plan:+ plan $plan}"
        env ${plan:+FP8BLOCK_GEMM_PLAN=$plan} timeout 60 "$B/$v/$test" 2>&1 | tail -3
        echo "rc ${PIPESTATUS[0]}"
    done
}
rotation() { # VARIANT...: main, the variants, the variants reversed, main
    local order=(main "$@")
    for ((i = $# - 1; i >= 0; i--)); do order+=("${order[i + 1]}"); done
    echo "${order[@]}" main
}
quant_step() {
    [ ${#quant[@]} -gt 0 ] || return
    echo "quantize tests ($(left) s left)"
    test_each gpu_test_quantize_gpu "" "${quant[@]}" >"$R/quant_tests.txt"
    save
    for v in $(rotation "${quant[@]}"); do
        [ "$(left)" -gt 25 ] || break
        echo "=== $v"
        timeout 40 "$B/$v/fp8block" bench-quant --device cuda
    done >"$R/bench_quant.txt" 2>&1
    save
}
grouped_bench() { # VARIANT
    local lib=$PWD/$B/$1/libfp8block.so
    if [ "${GROUPED_BENCH:-masked}" = contiguous ]; then
        FP8BLOCK_LIBRARY=$lib timeout 90 \
            python3 experiments/grouped-fixed-cost/contiguous_vs_plain.py --reps 10 --shapes 4096,7168
        FP8BLOCK_LIBRARY=$lib timeout 120 python3 bench/grouped.py --reps 10
    else
        FP8BLOCK_LIBRARY=$lib timeout 50 \
            python3 experiments/grouped-fixed-cost/masked_vs_plain.py --reps 10 "${peers[@]}"
    fi
}
grouped_step() {
    [ ${#grouped[@]} -gt 0 ] || return
    echo "grouped tests ($(left) s left)"
    for plan in "${grouped_plans[@]}"; do test_each gpu_test_grouped_gpu "$plan" "${grouped[@]}"; done \
        >"$R/grouped_tests.txt"
    grep -E "^===|checks|^rc" "$R/grouped_tests.txt"
    save
    if [ "${GROUPED_BENCH:-masked}" = ab ]; then
        local libs=(main="$B/main/libfp8block.so")
        for v in "${grouped[@]}"; do libs+=("$v=$B/$v/libfp8block.so"); done
        timeout $(($(left) - 20)) python3 experiments/device-call/ab_grouped.py "${libs[@]}" --reps 10 2>&1 | grep -vi warn
    else
        for v in $(rotation "${grouped[@]}"); do
            [ "$(left)" -gt 45 ] || break
            echo "=== $v"
            grouped_bench "$v" 2>&1 | grep -vi warn
        done
    fi >"$R/grouped_bench.txt" 2>&1
    grep -E "^===|geomean|DeepGEMM \(" "$R/grouped_bench.txt"
    save
}
sanitize_one() { # TOOL VARIANT TEST [PLAN]
    [ "$(left)" -gt 40 ] || return
    local t0=$SECONDS rc log="$R/$1-$2-$3${4:+-plan-${4//,/-}}.log" extra=()
    [ "$1" = racecheck ] && extra=(--racecheck-report all)
    env FP8BLOCK_TEST_SMALL=1 ${4:+FP8BLOCK_GEMM_PLAN=$4} timeout $(($(left) - 10)) "$sanitizer" --tool "$1" \
        "${extra[@]}" --error-exitcode 99 "$B/$2/$3" >"$log" 2>&1
    rc=$?
    echo "$1 $2 $3${4:+ plan $4}: exit $rc ($(grep -Eo 'RACECHECK SUMMARY.*|ERROR SUMMARY.*' "$log" | tail -1)), $((SECONDS - t0)) s"
}
sanitize_step() {
    read -ra tools <<<"${SANITIZE:-}"
    [ ${#tools[@]} -gt 0 ] || return
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    echo "sanitizers ($(left) s left)"
    for tool in "${tools[@]}"; do
        for v in "${quant[@]}"; do sanitize_one "$tool" "$v" gpu_test_quantize_gpu; done
        for v in "${grouped[@]}"; do
            [ "$v" = no-count-read ] && continue
            for plan in "" 64,64,1,0 "${sanitize_plans[@]}"; do sanitize_one "$tool" "$v" gpu_test_grouped_gpu $plan; done
        done
    done | tee "$R/sanitize.txt"
    save
}
if grep -q H200 "$R/device.txt"; then quant_step; grouped_step; else grouped_step; quant_step; fi
sanitize_step
echo "done in $((SECONDS - T0)) s"
