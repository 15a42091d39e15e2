#!/usr/bin/env bash
# `fp8block accuracy` on the CPU backend, small sizes: every data set and scheme in the
# table and the JSON, errors in the range each format allows, the point the report exists
# to make (per-tensor scaling loses the small rows of row-magnitude data, block scaling
# keeps them), the same numbers for the same seed, a PNG with matplotlib, and a non-zero
# exit with a message for bad options.
# Usage: test_accuracy.sh path/to/fp8block
set -u

cli=${1:?usage: test_accuracy.sh path/to/fp8block}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

size=(--m 64 --n 96 --k 640)
checks=$((checks + 1))
if ! "$cli" accuracy --device cpu "${size[@]}" --seed 3 --json "$work/a.json" >"$work/a.out" 2>"$work/a.err"; then
    fail "fp8block accuracy exited non-zero: $(tail -5 "$work/a.err")"
fi
for dist in normal uniform student-t outlier-channels row-magnitudes; do
    check grep -qE "^$dist +fp8block +\| +[0-9]" "$work/a.out" "a table row for $dist"
done
check test "$(grep -cE '^ +(per-tensor|per-row|bf16) +\| +[0-9]' "$work/a.out")" -eq 15 \
    "per-tensor, per-row and bf16 rows for all five data sets"

checks=$((checks + 1))
"$cli" accuracy --device cpu "${size[@]}" --seed 3 >"$work/again.out" 2>/dev/null
diff -q "$work/a.out" "$work/again.out" >/dev/null || fail "the same seed gave different numbers"

if command -v python3 >/dev/null; then
    checks=$((checks + 1))
    python3 - "$work/a.json" <<'PY' || fail "JSON content"
import json, sys
data = json.load(open(sys.argv[1]))
assert data["kind"] == "fp8block-accuracy" and (data["m"], data["n"], data["k"]) == (64, 96, 640)
dists = {d["name"]: d["results"] for d in data["distributions"]}
assert len(dists) == 5, list(dists)
for name, r in dists.items():
    assert set(r) == {"fp8block", "per-tensor", "per-row", "bf16"}, (name, list(r))
    for scheme, m in r.items():
        assert 0.99 < m["cosine"] <= 1.0000001, (name, scheme, m)
    # e4m3 keeps 3 fraction bits (~2-4% error on a product), bf16 keeps 8.
    assert 0.01 < r["fp8block"]["rel_frobenius"] < 0.06, (name, r["fp8block"])
    assert r["bf16"]["rel_frobenius"] < 0.005, (name, r["bf16"])
    assert r["fp8block"]["worst_row_rel"] < 0.1, (name, r["fp8block"])
    # block scales are never coarser than one scale per tensor
    assert r["fp8block"]["snr_a_db"] >= r["per-tensor"]["snr_a_db"] - 0.5, (name, r)
rows = dists["row-magnitudes"]
# The rows 10^-3 of the largest lose everything to one scale per tensor, not to blocks.
assert rows["per-tensor"]["worst_row_rel"] > 0.5, rows["per-tensor"]
assert rows["per-tensor"]["snr_a_worst_row_db"] < 5, rows["per-tensor"]
assert rows["fp8block"]["snr_a_worst_row_db"] > 25, rows["fp8block"]
# Outlier channels: a 1x128 block confines an outlier's coarse scale to its block.
out = dists["outlier-channels"]
assert out["fp8block"]["snr_a_db"] > out["per-row"]["snr_a_db"] + 5, out
PY
fi

if command -v python3 >/dev/null && python3 -c 'import matplotlib' 2>/dev/null; then
    checks=$((checks + 1))
    if "$cli" accuracy --device cpu "${size[@]}" --plot "$work/plots" >/dev/null 2>"$work/p.err"; then
        check test -s "$work/plots/accuracy.png" "--plot wrote accuracy.png"
        check test -s "$work/plots/accuracy.json" "--plot keeps the JSON it plotted"
    else
        fail "fp8block accuracy --plot exited non-zero: $(tail -5 "$work/p.err")"
    fi
else
    echo "test_accuracy: no matplotlib, --plot not tested"
fi

# Bad options: non-zero exit, a message on stderr, no table.
bad_run accuracy 'rel-Frob' --device cpu --m 0
bad_run accuracy 'rel-Frob' --device cpu --k -3
bad_run accuracy 'rel-Frob' --device cpu --n x
bad_run accuracy 'rel-Frob' --device cpu --seed
bad_run accuracy 'rel-Frob' --device bogus
bad_run accuracy 'rel-Frob' --device cpu --no-such-flag

finish test_accuracy
