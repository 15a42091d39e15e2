#!/usr/bin/env bash
# `fp8block run` end to end on the CPU backend: a report with throughput and both error
# lines for every output type, the same errors for the same seed, and a non-zero exit
# with a message on stderr for every kind of bad option.
# Usage: test_run.sh path/to/fp8block
set -u

cli=${1:?usage: test_run.sh path/to/fp8block}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

# expect_in FILE PATTERN WHAT: an extended regex, case-insensitive, must match a line.
expect_in() {
    checks=$((checks + 1))
    grep -Eqi -- "$2" "$1" || fail "$3: no line matches /$2/ in: $(head -c 2000 "$1")"
}

# A good run: exit 0 and a report with timings, TFLOP/s and both error lines.
good_run() {
    local name=$1
    shift
    checks=$((checks + 1))
    if ! "$cli" run "$@" >"$work/$name.out" 2>"$work/$name.err"; then
        fail "fp8block run $* exited $?: $(cat "$work/$name.err" "$work/$name.out")"
        return
    fi
    expect_in "$work/$name.out" 'TFLOP/s' "run $*: GEMM throughput"
    expect_in "$work/$name.out" 'GB/s' "run $*: quantization throughput"
    expect_in "$work/$name.out" 'kernel error.*[0-9]' "run $*: the kernel's error line"
    expect_in "$work/$name.out" 'quantization error.*[0-9]' "run $*: the quantization's error line"
    expect_in "$work/$name.out" 'M=257 N=300 K=333|257.*300.*333' "run $*: the shape"
}

good_run bf16 --device cpu --m 257 --n 300 --k 333 --seed 7
expect_in "$work/bf16.out" 'bf16' "default output type named"
good_run fp32 --device cpu --m 257 --n 300 --k 333 --seed 7 --out fp32
expect_in "$work/fp32.out" 'fp32' "--out fp32 named in the report"
good_run fp16 --device cpu --m 257 --n 300 --k 333 --seed 7 --out fp16
expect_in "$work/fp16.out" 'fp16' "--out fp16 named in the report"
good_run e4m3 --device cpu --m 257 --n 300 --k 333 --seed 7 --out e4m3
expect_in "$work/e4m3.out" 'output e4m3' "--out e4m3 named in the report"
expect_in "$work/e4m3.out" 'e4m3 contract .* 0 bytes differ  PASS' "--out e4m3 checks its codes against quantize_1x128(F32 D)"

# The same seed makes the same data, so the same errors (timings may differ).
good_run again --device cpu --m 257 --n 300 --k 333 --seed 7
checks=$((checks + 1))
if ! diff <(grep -i 'error' "$work/bf16.out") <(grep -i 'error' "$work/again.out") >/dev/null; then
    fail "the same seed gave different error lines: $(diff <(grep -i error "$work/bf16.out") <(grep -i error "$work/again.out"))"
fi

# auto picks a device and says which.
checks=$((checks + 1))
if "$cli" run --device auto --m 17 --n 129 --k 130 >"$work/auto.out" 2>"$work/auto.err"; then
    expect_in "$work/auto.out" 'cpu|cuda' "--device auto names the device it used"
else
    fail "fp8block run --device auto exited non-zero: $(cat "$work/auto.err")"
fi

# Bad options: non-zero exit, a message on stderr, no report.
bad_run run TFLOP/s --device cpu --m 0
bad_run run TFLOP/s --device cpu --m abc
bad_run run TFLOP/s --device cpu --n -5
bad_run run TFLOP/s --device cpu --k 12x
bad_run run TFLOP/s --device cpu --m
bad_run run TFLOP/s --device bogus --m 17 --n 17 --k 17
bad_run run TFLOP/s --device cpu --out int8 --m 17 --n 17 --k 17
bad_run run TFLOP/s --device cpu --no-such-flag
bad_run run TFLOP/s --device cpu --m 17 --n 17 --k 17 stray-argument

finish test_run
