/* The grouped-GEMM benchmark of `fp8block bench --moe`: mixture-of-experts layers through
 * fp8block_gemm_ex's grouped layouts, bf16 D. */
#ifndef FP8BLOCK_BENCH_MOE_H
#define FP8BLOCK_BENCH_MOE_H

#include <stdint.h>
#include <stdio.h>

#include "fp8block.h"

/* Times, on ctx's device, the contiguous layout (G experts, rows sorted by expert, group sizes
 * drawn at random and not rounded to a tile) and the masked one (G x max_m rows, counts drawn
 * around max_m / 2, expected_m = max_m / 2) on DeepSeek-V3 expert shapes (N x K = 4096 x 7168
 * and 7168 x 2048; on a CPU context one small shape, and it says so). CUDA timing as
 * bench/gpu_timing.h does it (L2 flushed, events, warm-up, median); the host clock on the CPU.
 * The table goes to out_table; csv, when not NULL, gets a header and one row a case. seed
 * draws the group sizes and the data. Returns 0, or non-zero after saying why on stderr. */
int bench_moe_run(fp8block_ctx *ctx, FILE *out_table, FILE *csv, uint64_t seed);

#endif
