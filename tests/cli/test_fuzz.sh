#!/usr/bin/env bash
# The libFuzzer harness over the CPU backend (fuzz/), with AddressSanitizer and
# UndefinedBehaviorSanitizer: replays fuzz/regressions/ then fuzzes for FUZZ_SECONDS
# (default 45) from a fresh corpus in a temporary directory. $1 (the CLI) is not used.
# Skips (77) only where clang with libFuzzer cannot be had; in CI as root it is installed.
# A finding fails (exit 1). FUZZ_CFLAGS is passed on to fuzz/run (scripts/planted-fuzz uses it).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v clang >/dev/null 2>&1 && [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ]; then
    echo "test_fuzz: installing clang"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) >/dev/null 2>&1 ||
        echo "test_fuzz: apt-get install clang failed"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
FUZZ_BUILD="$work/build" FUZZ_ARTIFACTS="$work/artifacts" "$repo/fuzz/run" "${FUZZ_SECONDS:-45}" "$work/corpus" \
    >"$work/log" 2>&1
rc=$?
# 77 is ctest's skip: only fuzz/run's own "SKIP: no clang/libFuzzer" may give it. A finding
# exits 1 (-error_exitcode=1); any other 77 is a failure too, never a skip.
if [ "$rc" -eq 77 ] && ! grep -q '^SKIP: ' "$work/log"; then
    echo "test_fuzz: exit 77 without a SKIP line from fuzz/run: counted as a failure"
    rc=1
fi
grep -E '^(SKIP|fuzz:|fuzz_cpu|stat::|Done|SUMMARY|==[0-9]+==ERROR)|runtime error' "$work/log"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    echo "test_fuzz: the fuzzer found a problem (exit $rc); the end of its log:"
    tail -60 "$work/log"
    for f in "$work"/artifacts/*; do
        [ -e "$f" ] && echo "reproducer (base64): $(base64 -w0 "$f")"
    done
fi
[ "$rc" -eq 0 ] && echo "test_fuzz: 1 passed, 0 failed"
exit "$rc"
