#!/usr/bin/env bash
# On the GPU machine: where in the K loop a variant's math warps wait longer than DeepGEMM's
# (bench/NOTES.md "Measured: the 128-row tile's loop in turns"): Nsight Compute's warp-state
# samples per SASS instruction (SourceCounters) on one contiguous call (G = 4, 12800 rows,
# N x K = 4096 x 7168) of each, printed as the source page in SASS. Needs ab/bins.tar.xz with
# the variant and peers/deepgemm-v1; carry ab and peers.
# Usage: [NCU_OUT=DIR] experiments/grouped-wide-tiles/ncu_source_call.sh [VARIANT]   (default wide160h;
# results under DIR, default $OUT)
set -u
cd "$(dirname "$0")/../.."
[ -d ab/bins ] || tar xJf ab/bins.tar.xz -C ab || exit 1
export PYTHONPATH=python:bench:peers/deepgemm-v1 DG_JIT_CACHE_DIR=$PWD/.dg-cache PYTHONUNBUFFERED=1
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
v=${1:-wide160h}
O=${NCU_OUT:-$OUT} # where the pages go
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; "$ncu" --version | tail -1; } >"$O/ncu-device.txt"
FP8BLOCK_LIBRARY=$PWD/ab/bins/$v/libfp8block.so timeout 300 "$ncu" --section SourceCounters \
    --section WarpStateStats --section SpeedOfLight --kernel-name regex:'gemm_fp8_block|fp8_gemm' \
    -o "$O/src-$v" python3 bench/grouped.py --once --layouts contiguous --shapes 4096,7168 --groups 4 \
    >"$O/ncu-run.txt" 2>&1
echo "profile: rc $?"
"$ncu" -i "$O/src-$v.ncu-rep" --page source --csv --print-source sass >"$O/source-$v.csv" 2>"$O/source.err"
echo "source page: rc $?, $(grep -c '' "$O/source-$v.csv") lines"
if [ ! -s "$O/source-$v.csv" ]; then # older ncu: one kernel at a time, or SASS alone
    for k in 0 1; do
        "$ncu" -i "$O/src-$v.ncu-rep" --page source --csv --launch-skip "$k" --launch-count 1 \
            >"$O/source-$v-$k.csv" 2>>"$O/source.err"
        echo "source page $k: rc $?, $(grep -c '' "$O/source-$v-$k.csv") lines"
    done
fi
[ -s "$O/source-$v.csv" ] || [ -s "$O/source-$v-0.csv" ] && rm -f "$O/src-$v.ncu-rep" # the pages are what comes back
gzip -f "$O"/source-*.csv
ls -la "$O"
