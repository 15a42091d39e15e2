#!/usr/bin/env bash
# `fp8block bench` on the CPU backend, small shapes: a table with a row per shape, the
# cuBLASLt columns marked unavailable (not a crash), the e4m3-D and two-layer chain ratios,
# CSV and JSON that hold every shape and method with the right statuses (the chains' outputs
# close to each other), the --moe mode's grouped GEMMs, PNG plots when matplotlib is there, and a non-zero exit
# with a message for bad options and bad shape files. The cuBLASLt methods are unavailable
# here: without --allow-missing that exits 3 and says so; DeepSeek shapes (a file named
# deepseek.txt) left out of a geomean are listed with the reason.
# Usage: test_bench.sh path/to/fp8block
set -u

cli=${1:?usage: test_bench.sh path/to/fp8block}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

shapes="$repo/bench/shapes/small.txt"
methods=12
nshapes=$(grep -cE '^[[:space:]]*[0-9]' "$shapes")

# A good run.
checks=$((checks + 1))
if ! "$cli" bench --device cpu --shapes "$shapes" --reps 2 --warmup 0 --csv "$work/b.csv" --json "$work/b.json" \
    --allow-missing >"$work/b.out" 2>"$work/b.err"; then
    fail "fp8block bench exited non-zero: $(tail -5 "$work/b.err")"
fi
check grep -q 'TFLOP/s' "$work/b.out" "the table names its units"
check test "$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9]+ \|' "$work/b.out")" -eq "$nshapes" "one table row per shape"
check grep -qE '^ +100 +264 +400 \| +[0-9.e-]+ +n/a +n/a +n/a' "$work/b.out" \
    "fp8block measured, cuBLASLt columns n/a on the CPU backend"
check grep -q '\[3/3\] 100x264x400' "$work/b.err" "progress on stderr"
check grep -qE '^ +100 +264 +400 \|.*\| +[0-9.]+x +[0-9.]+x$' "$work/b.out" \
    "the e4m3 D and chain time ratios end the row"
check grep -q 'measurements unavailable.*cublaslt.*allowed by --allow-missing' "$work/b.err" \
    "--allow-missing: the unavailable methods are still named"

# --moe: the grouped GEMMs, a table row and a CSV row per case; its own cases only.
checks=$((checks + 1))
"$cli" bench --moe --device cpu --seed 3 --csv "$work/moe.csv" >"$work/moe.out" 2>"$work/moe.err" ||
    fail "fp8block bench --moe exited non-zero: $(tail -3 "$work/moe.err")"
check test "$(grep -cE '^(contiguous|masked) +[0-9]+ ' "$work/moe.out")" -eq 3 "--moe: a table row per CPU case"
check test "$(wc -l <"$work/moe.csv")" -eq 4 "--moe CSV: a header and a row per case"
check grep -qE '^"cpu[^"]*",[^,]+,[^,]+,masked,2,16,[0-9]+,256,384,[0-9.e-]+,[0-9.e-]+$' "$work/moe.csv" \
    "--moe CSV: the masked case, timed"
checks=$((checks + 1))
"$cli" bench --moe --device cpu --shapes small >"$work/moe-bad.out" 2>"$work/moe-bad.err"
status=$?
[ "$status" -eq 2 ] || fail "bench --moe --shapes exited $status, want 2"
check grep -q -- '--moe has its own cases' "$work/moe-bad.err" "--moe with --shapes says why it is refused"

# Without --allow-missing a missing method is exit 3, named on stderr, the table still printed.
checks=$((checks + 1))
"$cli" bench --device cpu --shapes "$shapes" --reps 1 --warmup 0 >"$work/m.out" 2>"$work/m.err"
status=$?
[ "$status" -eq 3 ] || fail "bench with cuBLASLt unavailable and no --allow-missing exited $status, want 3"
check grep -q 'measurements unavailable.*the first cublaslt_fp8_block on 64x128x256: the CPU backend has no cuBLASLt; exit 3' \
    "$work/m.err" "the exit-3 message names the first missing method, shape and reason"
check test "$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9]+ \|' "$work/m.out")" -eq "$nshapes" "the table is printed all the same"

# Every DeepSeek shape left out of a geomean is listed with why.
mkdir -p "$work/ds"
printf '64 128 256\n4096 128 128\n' >"$work/ds/deepseek.txt"
"$cli" bench --device cpu --shapes "$work/ds/deepseek.txt" --reps 1 --warmup 0 --allow-missing >"$work/g.out" 2>"$work/g.err" ||
    fail "bench on deepseek.txt exited non-zero: $(tail -3 "$work/g.err")"
check test "$(grep -c 'no geomean, all 1 shapes left out' "$work/g.out")" -eq 6 "3 baselines x 2 M groups, no geomean"
check grep -q '^    left out: 64x128x256: cublaslt_fp8_block unavailable: the CPU backend has no cuBLASLt' "$work/g.out" \
    "the small-M shape is listed as left out, with why"
check grep -q '^    left out: 4096x128x128: cublaslt_bf16 unavailable: the CPU backend has no cuBLASLt' "$work/g.out" \
    "the large-M shape is listed as left out, with why"
check grep -q "bench-quant's sweep" "$work/b.out" "the quantize/dequantize sweep follows the GEMM table"
check test "$(wc -l <"$work/b.csv")" -eq $((1 + nshapes * methods)) "CSV: a header and a line per shape and method"
check grep -q '^small,100,264,400,fp8block,ok,[0-9]' "$work/b.csv" "CSV: fp8block's time"
for m in fp8block_e4m3 chain_e4m3 chain_bf16_quantize; do
    check grep -q "^small,100,264,400,$m,ok,[0-9]" "$work/b.csv" "CSV: $m's time"
done
check grep -q '^small,100,264,400,cublaslt_fp8_block,unavailable,,,,,"the CPU backend has no cuBLASLt"' "$work/b.csv" \
    "CSV: cuBLASLt unavailable, with the reason"

if command -v python3 >/dev/null; then
    checks=$((checks + 1))
    python3 - "$work/b.json" "$nshapes" <<'PY' || fail "JSON content"
import json, sys
data = json.load(open(sys.argv[1]))
assert data["kind"] == "fp8block-bench" and data["backend"] == "cpu", data.get("backend")
assert len(data["shapes"]) == int(sys.argv[2]), len(data["shapes"])
for s in data["shapes"]:
    r = s["results"]
    assert r["fp8block"]["status"] == "ok" and r["fp8block"]["tflops"] > 0, r["fp8block"]
    assert r["quantize_a_1x128"]["gbytes_per_s"] > 0 and r["copy_a"]["gbytes_per_s"] > 0
    for lt in ("cublaslt_fp8_block", "cublaslt_fp8_tensor", "cublaslt_bf16"):
        assert r[lt]["status"] == "unavailable" and r[lt]["seconds"] is None, r[lt]
    assert s["speedup"]["fp8block_vs_cublaslt_bf16"] is None
    for m in ("fp8block_e4m3", "chain_e4m3", "chain_bf16_quantize"):
        assert r[m]["status"] == "ok" and r[m]["tflops"] > 0, (m, r[m])
    assert s["time_ratio"]["e4m3_over_bf16_d"] > 0 and s["time_ratio"]["chain_e4m3_over_bf16_quantize"] > 0
    # The chains share their inputs and second layer; D1's two routes to e4m3 (fp32 quantized in
    # the epilogue, or rounded to bf16 then quantized) differ in a few codes: ~1.3e-2 here. A chain
    # that read the wrong D1 or W2 would differ by ~1.
    assert 0 < s["chain_e4m3_vs_bf16_quantize_rel_diff"] < 0.05, s["chain_e4m3_vs_bf16_quantize_rel_diff"]
    mem = s["memory"]
    assert 0.5 <= mem["fp8_bytes"] / mem["bf16_bytes"] < 0.52, mem  # 1 byte + scales vs 2 bytes
PY
fi

# Plots, where matplotlib is installed (scripts/ensure-python-deps installs it).
if command -v python3 >/dev/null && python3 -c 'import matplotlib' 2>/dev/null; then
    checks=$((checks + 1))
    if "$cli" bench --device cpu --shapes "$shapes" --reps 1 --plot "$work/plots" --allow-missing >/dev/null 2>"$work/p.err"; then
        for png in bench-tflops bench-speedup bench-quant; do
            check test -s "$work/plots/$png.png" "--plot wrote $png.png"
        done
        check test -s "$work/plots/bench.json" "--plot keeps the JSON it plotted"
    else
        fail "fp8block bench --plot exited non-zero: $(tail -5 "$work/p.err")"
    fi
else
    echo "test_bench: no matplotlib, --plot not tested"
fi

# Bad options and shape files: non-zero exit, a message on stderr, no table.
printf '64 64\n' >"$work/short.txt"
printf '64 64 0\n' >"$work/zero.txt"
printf '# nothing but a comment\n\n' >"$work/empty.txt"
bad_run bench 'TFLOP/s' --device cpu --shapes "$work/no-such-file.txt"
bad_run bench 'TFLOP/s' --device cpu --shapes "$work/short.txt"
bad_run bench 'TFLOP/s' --device cpu --shapes "$work/zero.txt"
bad_run bench 'TFLOP/s' --device cpu --shapes "$work/empty.txt"
bad_run bench 'TFLOP/s' --device cpu --shapes "$shapes" --reps 0
bad_run bench 'TFLOP/s' --device cpu --shapes "$shapes" --reps
bad_run bench 'TFLOP/s' --device bogus --shapes "$shapes"
bad_run bench 'TFLOP/s' --device cpu --no-such-flag

finish test_bench
