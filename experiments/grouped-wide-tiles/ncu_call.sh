#!/usr/bin/env bash
# On the GPU machine: why our 128-row grouped tile runs 1.19x slower per FLOP than our 256x128 one
# while DeepGEMM's 128x160 matches it (bench/NOTES.md "Measured: 128x176 pairs and half units
# dealt"). Nsight Compute's full set on one call of each on bench/grouped.py's contiguous row at
# G = 4 (12800 rows, N x K = 4096 x 7168): ours on 256x128 pairs (main) and on each variant's
# tiles (wide: 128x176 pairs sharing A, wide160: 128x160 pairs sharing A, wide160b: 128x160
# pairs along M sharing B, DeepGEMM's configuration), and DeepGEMM's 128x160 (profiled in every
# run). Compare tensor-pipe activity, L2 and DRAM throughput and the math warps' stall reasons.
# Needs ab/bins.tar.xz from `experiments/device-call/prebuild.sh
# experiments/grouped-wide-tiles/wide160.patch experiments/grouped-wide-tiles/wide160b.patch` and
# peers/deepgemm-v1; carry ab and peers. Results under $OUT: the details page as CSV
# (ncu_compare.py tabulates it), or with NCU_PAGE=raw every metric, the warps' stall reasons among
# them. Usage: [NCU_PAGE=raw] experiments/grouped-wide-tiles/ncu_call.sh [VARIANT...]
# (default: main wide160 wide160b)
set -u
cd "$(dirname "$0")/../.."
tar xJf ab/bins.tar.xz -C ab || exit 1
export PYTHONPATH=python:bench:peers/deepgemm-v1 DG_JIT_CACHE_DIR=$PWD/.dg-cache PYTHONUNBUFFERED=1
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >"$OUT/device.txt"
variants=("$@")
[ $# -gt 0 ] || variants=(main wide160 wide160b)
for v in "${variants[@]}"; do
    [ -d "ab/bins/$v" ] || { echo "$v: not in ab/bins"; continue; }
    FP8BLOCK_LIBRARY=$PWD/ab/bins/$v/libfp8block.so timeout 240 "$ncu" --set full \
        --kernel-name regex:'gemm_fp8_block|fp8_gemm' --csv --page "${NCU_PAGE:-details}" \
        python3 bench/grouped.py --once --layouts contiguous --shapes 4096,7168 --groups 4 \
        >"$OUT/ncu-$v.csv" 2>"$OUT/ncu-$v.err"
    echo "$v: rc $?, $(grep -c '' "$OUT/ncu-$v.csv") lines"
done
