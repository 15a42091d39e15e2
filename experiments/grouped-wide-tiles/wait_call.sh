#!/usr/bin/env bash
# On the GPU machine: a call on prebuilt 128x160 grouped variants (and plain-GEMM ones), on
# ab/bins.tar.xz from experiments/device-call/prebuild.sh with their patches; carry ab and peers
# (experiments/device-call/preflight.sh --peers checks both here first).
#   WIDE="wide160w wide160sa wide160s4"  variants with the 128x160 grouped pairs (the default: the
#                              calls of 2026-12-07 19:28-19:41 UTC)
#   PLAIN="..."                variants of the plain GEMM (default none; the 16:42 call of
#                              2026-12-07 ran WIDE="wide160h wide160w" PLAIN=g256p)
# Everything under $OUT/r, packed into $OUT/all.tgz after each step (r removed at the end: at most
# 8 files come back). In order, each while time is left:
#  1. on an H200, main's bench-quant three times (issue 19's H200 line);
#  2. tests: each WIDE variant's grouped test under FP8BLOCK_GEMM_PLAN=128,160,2,0; each PLAIN
#     variant's grouped test under its own plans and 256,128,2,0 and its GEMM test's fixed shapes
#     under its own plans and (16-bit D) 256,128,2,0;
#  3. ab_grouped.py: main, every variant and DeepGEMM in one process;
#  4. ab_plain.py: main, the PLAIN variants and DeepGEMM on the M >= 4096 shapes;
#  5. the GPU suite, where the pack holds one (suite_prebuilt.sh, SUITE_BUDGET seconds, default
#     440: the H100 ran its tests in ~350 s and the two sanitizer pairs take ~90 more);
#  6. racecheck and memcheck on the small grouped set: the WIDE variants after the first
#     (128,160,2,0), each PLAIN one (256,128,2,0), each report in TOOL-VARIANT.log (the first
#     300 lines and the summary);
#  7. Nsight Compute's samples per SASS instruction on the last WIDE variant and DeepGEMM
#     (ncu_source_call.sh).
# Usage: [WIDE=...] [PLAIN=...] [BUDGET=s] experiments/grouped-wide-tiles/wait_call.sh (BUDGET default 540)
set -u
cd "$(dirname "$0")/../.."
read -ra wide <<<"${WIDE-wide160w wide160sa wide160s4}"
read -ra plain <<<"${PLAIN:-}"
BUDGET_DEFAULT=540
. experiments/device-call/call_setup.sh
quant_on_h200
run_test() { # VARIANT TEST PLAN [ENV...] [-- ARGS...]
    local v=$1 test=$2 plan=$3 env=() args=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do env+=("$1"); shift; done
    [ $# -gt 0 ] && shift && args=("$@")
    [ -x "$B/$v/$test" ] || { echo "=== $v $test: not in the pack (its suite, if packed, runs it)"; return; }
    echo "=== $v $test${plan:+ plan $plan} ${env[*]} ${args[*]}"
    env ${plan:+FP8BLOCK_GEMM_PLAN=$plan} "${env[@]}" timeout 90 "$B/$v/$test" "${args[@]}" 2>&1 |
        grep -E "FAIL|checks|cases" | tail -4
    echo "rc ${PIPESTATUS[0]}"
}
{
    for v in "${wide[@]}"; do run_test "$v" gpu_test_grouped_gpu 128,160,2,0; done
    for v in "${plain[@]}"; do
        run_test "$v" gpu_test_grouped_gpu ""
        run_test "$v" gpu_test_grouped_gpu 256,128,2,0
        run_test "$v" gpu_test_gemm_gpu "" -- quick 48 # the fixed shapes, each output type
        run_test "$v" gpu_test_gemm_gpu 256,128,2,0 FP8BLOCK_TEST_16BIT_OUT=1 -- quick 48
    done
} >"$R/tests.txt"
cat "$R/tests.txt"
save
libs=()
for v in main "${wide[@]}" "${plain[@]}"; do libs+=("$v=$B/$v/libfp8block.so"); done
timeout $(($(left) - 120)) python3 experiments/device-call/ab_grouped.py "${libs[@]}" --reps 10 2>&1 | grep -vi warn \
    >"$R/grouped_bench.txt"
tail -5 "$R/grouped_bench.txt"
save
if [ ${#plain[@]} -gt 0 ]; then
    plain_ab 60 "${plain[@]}"
    tail -3 "$R/plain_bench.txt"
fi
if [ -d "$B/suite" ]; then # the GPU suite of the commit in suite/commit.txt (prebuild.sh with SUITE=1)
    suite_budget=$(($(left) - 60 < ${SUITE_BUDGET:-440} ? $(left) - 60 : ${SUITE_BUDGET:-440}))
    bash experiments/device-call/suite_prebuilt.sh "$B/suite" "$R/suite" "$suite_budget" >"$R/suite.txt" 2>&1
    cat "$R/suite.txt"
    save
fi
. experiments/device-call/sanitize.sh
runs=()
for v in "${wide[@]:1}"; do runs+=("$v 128,160,2,0"); done
for v in "${plain[@]}"; do runs+=("$v 256,128,2,0"); done
for run in "${runs[@]}"; do
    read -r v plan <<<"$run"
    for tool in racecheck memcheck; do
        [ "$(left)" -gt 80 ] || break
        echo "=== $tool $v, small set, plan $plan"
        sanitize "$R/$tool-$v.log" 45 "$tool" "$B/$v/gpu_test_grouped_gpu" FP8BLOCK_TEST_SMALL=1 \
            FP8BLOCK_GEMM_PLAN="$plan"
        grep -E "SUMMARY|checks" "$R/$tool-$v.log"
    done
done >"$R/sanitize.txt"
cat "$R/sanitize.txt"
save
[ ${#wide[@]} -gt 0 ] && [ "$(left)" -gt 60 ] &&
    NCU_OUT=$R timeout $(($(left) - 10)) bash experiments/grouped-wide-tiles/ncu_source_call.sh "${wide[-1]}"
save
rm -rf "$R"
echo "done in $((SECONDS - T0)) s"
