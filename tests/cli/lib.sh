# Helpers for the CLI tests (sourced; not a test itself): counted checks that report every
# failure, and the bad-option check every subcommand must pass.
# The sourcing script sets `cli` (the fp8block binary) and `work` (a scratch folder).
failures=0
checks=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# check COMMAND... WHAT: the command must succeed.
check() {
    checks=$((checks + 1))
    local what=${*: -1}
    "${@:1:$#-1}" || fail "$what"
}

# bad_run SUBCOMMAND MARKER ARGS...: a non-zero exit, a message on stderr, and no report
# (no stdout line matching MARKER, a regex of what a real report prints).
bad_run() {
    local sub=$1 marker=$2
    shift 2
    checks=$((checks + 1))
    "$cli" "$sub" "$@" >"$work/bad.out" 2>"$work/bad.err"
    local status=$?
    if [ "$status" -eq 0 ]; then
        fail "fp8block $sub $* exited 0"
    elif [ ! -s "$work/bad.err" ]; then
        fail "fp8block $sub $* exited $status with nothing on stderr"
    elif grep -Eq -- "$marker" "$work/bad.out"; then
        fail "fp8block $sub $* ran anyway"
    fi
}

# finish NAME: the summary line and the exit status.
finish() {
    echo "$1: $checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}
