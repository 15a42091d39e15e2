#!/usr/bin/env bash
# On the GPU machine: the README's peer tables again, for main of the pack (prebuild.sh; carry ab
# and peers), each step only while BUDGET (default 540) seconds allow, in the order of what the
# open issues still owe: on an H200, main's bench-quant three times (issue 19); bench/peers.py on
# the M >= 4096 shapes (issue 19), on M <= 128 with the read ceiling (issue 19);
# bench/grouped.py's two layouts (issue 18); bench/peers_wgrad.py (issue 17); then peers.py on
# M = 1, 16, 32 and 256; then the torch ops' tests on CUDA tensors and examples/moe.py. Logs and
# JSON under $OUT/r, packed into $OUT/all.tgz after each step.
# Usage: [BUDGET=s] experiments/device-call/peers_call.sh
set -u
cd "$(dirname "$0")/../.."
BUDGET_DEFAULT=540
. experiments/device-call/call_setup.sh
export FP8BLOCK_LIBRARY=$B/main/libfp8block.so
quant_on_h200
step() { # NAME MIN_SECONDS COMMAND...: COMMAND's output into $R/NAME.log, cut off 10 s before the budget ends
    local name=$1 need=$2
    shift 2
    [ "$(left)" -gt "$need" ] || { echo "=== $name: skipped, $(left) s left" | tee -a "$R/skipped.txt"; return; }
    echo "=== $name ($(left) s left)"
    timeout $(($(left) - 10)) "$@" 2>&1 | grep -vi warn >"$R/$name.log"
    tail -4 "$R/$name.log"
    save
}
step peers_large 60 python3 bench/peers.py --shapes large --no-ceiling --json "$R/peers_large.json"
step peers_small 60 python3 bench/peers.py --shapes small --json "$R/peers_small.json"
step grouped 90 python3 bench/grouped.py --layouts masked,contiguous --json "$R/grouped.json"
step wgrad 90 python3 bench/peers_wgrad.py --json "$R/wgrad.json"
step peers_extra 60 python3 bench/peers.py --shapes extra --no-ceiling --json "$R/peers_extra.json"
# the torch ops on CUDA tensors, the grouped epilogue and experts' quantization of f3763a7 among
# them (their CPU cases run in CI; the library they call is the pack's)
step torch_ops 60 python3 -m pytest -q -rs -p no:cacheprovider python/tests/test_torch_ops.py
step moe 40 python3 examples/moe.py
save
rm -rf "$R"
echo "done in $((SECONDS - T0)) s"
