#!/usr/bin/env bash
# libfp8block.so exports exactly the functions include/fp8block.h declares: nothing internal
# (codec, planner, CUDA runtime) that could clash with a program's own symbols, and no
# declaration that lacks FP8BLOCK_API and so would fail to link.
# usage: test_exports.sh LIBFP8BLOCK.SO
set -euo pipefail
lib=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The preprocessed header has no comments nor macros left, so every fp8block_name( in it
# is a function declaration.
${CC:-cc} -E -P -I"$repo/include" -x c "$repo/include/fp8block.h" | grep -o '\bfp8block_[a-z0-9_]*[[:space:]]*(' |
    tr -d '( \t' | sort -u >"$work/declared"
nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$work/exported"
[ -s "$work/declared" ] || { echo "FAIL: found no declaration in the header"; exit 1; }
failed=0
if grep -v '^fp8block_' "$work/exported" >"$work/foreign"; then
    echo "FAIL: exported without the fp8block_ prefix:"; sed 's/^/  /' "$work/foreign"; failed=1
fi
if comm -23 "$work/exported" "$work/declared" | grep '^fp8block_' >"$work/internal"; then
    echo "FAIL: exported but not declared in include/fp8block.h (internal; hidden visibility?):"
    sed 's/^/  /' "$work/internal"; failed=1
fi
if comm -13 "$work/exported" "$work/declared" >"$work/missing" && [ -s "$work/missing" ]; then
    echo "FAIL: declared in include/fp8block.h but not exported (missing FP8BLOCK_API?):"
    sed 's/^/  /' "$work/missing"; failed=1
fi
echo "exports: $(wc -l <"$work/exported") symbols, $(wc -l <"$work/declared") declared"
[ $failed = 0 ] && echo "exports: 1 passed, 0 failed" || { echo "exports: 0 passed, 1 failed"; exit 1; }
