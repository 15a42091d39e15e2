#!/usr/bin/env bash
# fp8block added to another project with add_subdirectory (tests/package/parent): only the
# library is built (FP8BLOCK_BUILD_TESTS/TOOLS/BENCH default off there), none of fp8block's
# definitions reaches the parent's own sources, and the parent's program runs. The CUDA
# backend is left out to keep the build short: which backend is built changes neither rule.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cmake -S "$repo/tests/package/parent" -B "$work/b" -DFP8BLOCK_SOURCE_DIR="$repo" -DFP8BLOCK_ENABLE_CUDA=OFF \
    >"$work/log" 2>&1 || { tail -40 "$work/log"; fail "configuring the parent"; }
targets=$(cmake --build "$work/b" --target help)
for t in fp8block_cli fp8block_support fp8block_testutil cpu_test_codec; do
    if grep -qw "$t" <<<"$targets"; then fail "the parent's build has fp8block's $t"; fi
done
cmake --build "$work/b" -j "$(nproc)" >>"$work/log" 2>&1 || { tail -40 "$work/log"; fail "building the parent"; }
# compile_commands.json lists each source's command just before its "file".
grep -B3 '"file": ".*quickstart.c"' "$work/b/compile_commands.json" | grep '"command"' >"$work/command" ||
    fail "no compile command for the parent's quickstart.c"
if grep -q 'FP8BLOCK_HAVE_CUDA\|/src"\? ' "$work/command"; then cat "$work/command"; fail "fp8block's internals leak into the parent"; fi
"$work/b/quickstart" || fail "the parent's quickstart"
echo "subproject: 1 passed, 0 failed"
