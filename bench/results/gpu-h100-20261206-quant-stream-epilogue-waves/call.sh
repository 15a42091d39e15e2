#!/bin/bash
# Session 2026-12-06f, the lean call (little device time left after refusals). [A] quantizers:
# main's (5b00c5c) bench-quant beside the streamed kernels of branch quant-stream (eec6dd1,
# FP8BLOCK_QUANT_STREAM=1..3), its quantize test under each. [B] epilogue-waves (d3b3f0e) against
# main: contract test small, ABBA epilogue bench on six shapes, full contract + grouped tests.
set -u
cd "$(dirname "$0")/.."
R=/tmp/r; rm -rf $R; mkdir -p $R/logs
for v in new main qs; do mkdir -p ab/$v; tar xJf ab/$v.tar.xz -C ab/$v; done
export PYTHONPATH=python:bench PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader; } | tee $R/device.txt
Q=$PWD/ab/qs; N=$PWD/ab/new
echo "== [A] quantize tests ($SECONDS s)"
for c in 1 2 3; do { FP8BLOCK_QUANT_STREAM=$c timeout 100 $Q/gpu_test_quantize_gpu > $R/logs/quant_test_$c.txt 2>&1; echo "quantize test stream=$c rc=$? | $(tail -n 1 $R/logs/quant_test_$c.txt)"; } & done; wait
echo "== [A] bench-quant ($SECONDS s)"
for v in main:0 qs:1 qs:2 qs:3; do lib=${v%:*}; c=${v#*:}
  FP8BLOCK_QUANT_STREAM=$c FP8BLOCK_COMMIT=$lib-$c timeout 60 ab/$lib/fp8block bench-quant --device cuda --csv $R/quant_${lib}_$c.csv >> $R/quant_${lib}_$c.txt 2>&1
  echo "-- $lib stream=$c ($SECONDS s)"; grep -E "^(4096x7168|8192x8192|16384x16384) +(copy|quantize) +[0-9x-]+ +(bf16|-)" $R/quant_${lib}_$c.txt | tail -n 9
done
tar czf $OUT/quant.tgz -C $R .
echo "== [B] epilogue-waves ($SECONDS s)"
FP8BLOCK_TEST_SMALL=1 timeout 40 $N/gpu_test_gemm_epilogue_gpu > $R/logs/epilogue_small.txt 2>&1; rc=$?
echo "epilogue small rc=$rc | $(tail -n 1 $R/logs/epilogue_small.txt)" | tee $R/tests.txt
if [ $rc = 0 ]; then
S='4096,32768,512;4096,24576,1536;4096,7168,2048;4096,4096,4096;128,32768,512;128,7168,2048'
for v in new main main new; do echo "== epilogue $v ($SECONDS s)"
  FP8BLOCK_COMMIT=$v FP8BLOCK_LIBRARY=$PWD/ab/$v/libfp8block.so timeout 45 python3 bench/epilogue.py --reps 20 --no-chain --shapes "$S" 2>&1 | tee -a $R/epilogue_ab_$v.log | grep -E "^ +[0-9]+ +[0-9]+ +[0-9]+ \|"
done
tar czf $OUT/bench.tgz -C $R .
if [ $SECONDS -lt 210 ]; then
{ timeout 80 $N/gpu_test_gemm_epilogue_gpu > $R/logs/epilogue_full.txt 2>&1; echo "epilogue full rc=$? | $(tail -n 1 $R/logs/epilogue_full.txt)"; } &
{ timeout 80 $N/gpu_test_grouped_gpu > $R/logs/grouped.txt 2>&1; echo "grouped rc=$? | $(tail -n 1 $R/logs/grouped.txt)"; } &
wait; fi
fi
tar czf $OUT/all.tgz -C $R .; echo "done at $SECONDS s"
