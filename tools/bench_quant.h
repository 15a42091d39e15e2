/* The quantization benchmark: quantize and dequantize bandwidth against a device copy,
 * for `fp8block bench-quant` and the quantization section of `fp8block bench`. */
#ifndef FP8BLOCK_BENCH_QUANT_H
#define FP8BLOCK_BENCH_QUANT_H

#include <stdio.h>

#include "fp8block.h"

/* Measures, in this one run on ctx's device, a device-to-device copy and every quantize
 * (bf16/f16/f32 in) and dequantize (bf16/f16/f32 out) kernel, both block shapes, and
 * quantize-transpose (both outputs of fp8block_quantize_1x128_transpose), in GB/s
 * of bytes read + written (scales included), for 8192², 16384², 4096×7168 and 128×7168
 * (on a CPU context: small shapes only, and it says so). CUDA timing: L2 flushed before
 * each call, CUDA events, warm-up, median (bench/gpu_timing.h). The table goes to
 * out_table; csv, when not NULL, gets a header line and one row per measurement.
 * Returns 0, or non-zero after saying why on stderr. */
int bench_quant_run(fp8block_ctx *ctx, FILE *out_table, FILE *csv);

#endif
