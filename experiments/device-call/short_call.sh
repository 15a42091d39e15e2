#!/usr/bin/env bash
# On the GPU machine, when failed starts have left too little device time for wait_call.sh
# (its correctness tests come before its benches): only what a few minutes can tell, in order of
# what it decides, on the pack of prebuild.sh (carry ab and peers).
#  1. on an H200, main's bench-quant three times (issue 19's H200 quantizer line);
#  2. ab_plain.py: main, the PLAIN variants and DeepGEMM on the M >= 4096 shapes, cut off by the
#     budget (rows print as they are timed, so a cut run still returns its first shapes).
# A variant measured here still owes its tests before it is merged (wait_call.sh or the suite).
# Usage: [PLAIN="..."] [BUDGET=s] experiments/device-call/short_call.sh (BUDGET default 200)
set -u
cd "$(dirname "$0")/../.."
read -ra plain <<<"${PLAIN:-}"
BUDGET_DEFAULT=200
. experiments/device-call/call_setup.sh
quant_on_h200
[ "$(left)" -gt 30 ] && plain_ab 8 "${plain[@]}"
tail -15 "$R/plain_bench.txt" 2>/dev/null
save
rm -rf "$R"
echo "done in $((SECONDS - T0)) s"
