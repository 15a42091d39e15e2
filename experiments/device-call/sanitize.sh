# Sourced by the device-call runners that run compute-sanitizer (suite_prebuilt.sh,
# grouped-wide-tiles/wait_call.sh): `sanitize LOG SECONDS TOOL PROGRAM [VAR=VALUE...]` runs PROGRAM
# under TOOL with the given environment, its report into LOG, cut to the first 300 lines and the
# summary where the hazards or errors are many.
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
sanitize() { # LOG SECONDS TOOL PROGRAM [VAR=VALUE...]
    env "${@:5}" timeout "$2" "$sanitizer" --tool "$3" "$4" >"$1" 2>&1
    sed -i '301,${/SUMMARY/!d}' "$1"
}
