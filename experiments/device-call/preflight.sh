#!/usr/bin/env bash
# Here, before a device call on a prebuilt pack: checks what the call will need, at no device
# time. ab/bins.tar.xz whole and ab/commit.txt present; with --peers, DeepGEMM where
# call_setup.sh puts it on PYTHONPATH (peers/deepgemm-v1/deep_gemm: `mkdir peers && cp -r
# ../shared/anchors/deepgemm-v1 peers/`; a `cp -r` into a peers/ that did not exist yet puts the
# anchor's contents one level too shallow, which cost a call on 2026-12-07); ab/ and peers/
# ignored; and the tree that travels (tracked and untracked-not-ignored files, plus the carried
# folders) under the device's 64 MiB.
# Usage: experiments/device-call/preflight.sh [--peers]   (from the repository root)
set -uo pipefail
bad=0
fail() { echo "preflight: $*" >&2; bad=1; }
[ -s ab/commit.txt ] || fail "ab/commit.txt missing (run experiments/device-call/prebuild.sh)"
xz -t ab/bins.tar.xz 2>/dev/null || fail "ab/bins.tar.xz missing or damaged"
carried=(ab)
if [ "${1:-}" = --peers ]; then
    [ -f peers/deepgemm-v1/deep_gemm/__init__.py ] || fail "no peers/deepgemm-v1/deep_gemm/__init__.py"
    carried+=(peers)
fi
for d in "${carried[@]}"; do
    git check-ignore -q "$d/" || fail "$d/ is not ignored (add /$d/ to .git/info/exclude)"
done
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
extra=$(find "${carried[@]}" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
total=$((tree + extra))
echo "preflight: $((total >> 20)) MiB travel (tree $((tree >> 20)), carried ${carried[*]} $((extra >> 20))); the limit is 64"
[ $total -lt $((64 << 20)) ] || fail "over the 64 MiB a call carries"
[ $bad -eq 0 ] && echo "preflight: ready (ab built at $(cat ab/commit.txt))"
exit $bad
