#!/usr/bin/env bash
# What every subcommand shares: getopt_long options (--name=value, --name value), --version,
# line-buffered output into a pipe, output paths checked before any work, and one exit
# status per kind of failure (tools/cli.h: 1 failed, 2 usage/setup, 3 missing).
set -uo pipefail
cli=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

# status WANT COMMAND...: the command exits with WANT.
status() {
    local want=$1
    shift
    checks=$((checks + 1))
    "$@" >"$work/out" 2>"$work/err"
    local got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want: $(tail -2 "$work/err")"
}

version=$(sed -n 's/^#define FP8BLOCK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$(dirname "$0")/../../include/fp8block.h" | paste -sd.)
check grep -q "^fp8block $version (library $version, " <("$cli" --version) "--version names the header's version"

status 0 "$cli" run --m=16 --n=16 --k=128 --device=cpu
check grep -q "M=16 N=16 K=128" "$work/out" "--m=16 is the same as --m 16"
status 0 "$cli" run --m 16 --n=24 --k 200 --device cpu
check grep -q "M=16 N=24 K=200" "$work/out" "--name value and --name=value mix"

for sub in run bench accuracy bench-quant; do
    status 2 "$cli" "$sub" --no-such-option
    status 2 "$cli" "$sub" --device cuda:x
    status 2 "$cli" "$sub" --device cuda:4294967295 # past int: wrapped to -1 it ran on the CPU
    status 2 "$cli" "$sub" stray-argument
done
status 2 "$cli" run --m
status 2 "$cli" bench --device cpu --reps 4294967296 # past the timers' int: wrapped to 0, it read t[-1]
status 2 "$cli" bench --device cpu --warmup 1000001
status 1 "$cli" accuracy --device cpu --m 4611686018427387904 # m*k overflowed to a 0-byte malloc
check grep -q "out of host memory" "$work/err" "accuracy: an overflowing size is out of memory"
status 2 "$cli" no-such-command

# Output paths are refused before any work: no report line, the path named.
for args in "bench --csv $work/no/dir/x.csv" "bench --json $work/no/dir/x.json" "bench --plot $work/no/dir/plots" \
            "accuracy --json $work/no/dir/a.json" "bench-quant --csv $work/no/dir/q.csv"; do
    # shellcheck disable=SC2086 # the words of $args are the arguments
    status 2 "$cli" $args --device cpu
    check grep -q "no/dir" "$work/err" "fp8block $args names the bad path"
    check test ! -s "$work/out" "fp8block $args printed a report before refusing"
done

# Into a pipe, the first line arrives while the command still works (line buffering): a
# run of ~2 s on the CPU whose header line must come at least a second before its end.
"$cli" run --m 2048 --n 2048 --k 4096 --device cpu | {
    IFS= read -r _
    date +%s.%N >"$work/first_at"
    cat >/dev/null
    date +%s.%N >"$work/end_at"
}
check awk -v a="$(cat "$work/first_at")" -v b="$(cat "$work/end_at")" 'BEGIN { exit !(b - a > 1) }' \
    "the first line of run came through a pipe before the run ended"

finish test_options
