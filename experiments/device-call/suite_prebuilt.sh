#!/usr/bin/env bash
# On the GPU machine: the GPU suite from programs built here (the ab pack's suite/ folder, from
# prebuild.sh with SUITE=1): every `ctest -L gpu` test as suite/tests.txt lists it (name, program,
# its FP8BLOCK_GEMM_PLAN; ctest itself cannot run there, its files hold this machine's paths),
# then memcheck and racecheck on the small sets of the contract test under the planner (its
# shapes reach the 256x128 E4M3 and bias kernels) and of the grouped test on 256x128 pairs, each
# tool's report kept in OUTDIR/TOOL-TEST.log (its first 300 lines and the summary).
# The contract test is never forced onto 256-row pairs: they have no F32 kernel for its reference.
# Usage: experiments/device-call/suite_prebuilt.sh SUITE_DIR OUTDIR SECONDS
set -u
bin=$1 out=$2 budget=$3
mkdir -p "$out"
T0=$SECONDS
left() { echo $((budget - (SECONDS - T0))); }
. "$(dirname "$0")/sanitize.sh"
failed=0
while read -r name program plan; do
    [ "$(left)" -gt 20 ] || { echo "=== $name: not run (time)"; failed=1; continue; }
    t=$SECONDS
    env ${plan:+FP8BLOCK_GEMM_PLAN=$plan} timeout $(($(left) - 10)) "$bin/$program" >"$out/$name.log" 2>&1
    rc=$?
    echo "=== $name: exit $rc in $((SECONDS - t)) s: $(grep -E 'checks|SKIP|FAIL' "$out/$name.log" | tail -1)"
    [ $rc -eq 0 ] || failed=1
done <"$bin/tests.txt"
for run in "gemm_epilogue " "grouped 256,128,2,0"; do
    read -r t plan <<<"$run"
    for tool in memcheck racecheck; do
        [ "$(left)" -gt 40 ] || { echo "=== $tool $t: not run (time)"; failed=1; continue; }
        sanitize "$out/$tool-$t.log" $(($(left) - 10)) "$tool" "$bin/gpu_test_${t}_gpu" FP8BLOCK_TEST_SMALL=1 \
            ${plan:+FP8BLOCK_GEMM_PLAN=$plan}
        summary=$(grep -E 'SUMMARY' "$out/$tool-$t.log" | tail -1)
        echo "=== $tool $t, small set${plan:+, plan $plan}: $summary"
        grep -Eq ' 0 (errors|hazards)' <<<"$summary" || failed=1
    done
done
echo "suite: $([ $failed -eq 0 ] && echo "every run passed" || echo "FAILED or not run") in $((SECONDS - T0)) s"
