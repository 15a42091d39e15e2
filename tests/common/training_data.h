/* Test data for the training layouts (quantize-transpose, the weight-gradient GEMM), shared by
 * the CPU and GPU tests. */
#ifndef FP8BLOCK_TRAINING_DATA_H
#define FP8BLOCK_TRAINING_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "fp8block.h"
#include "rng.h"

#define TRAINING_POISON 0xff
#define TRAINING_GUARD 64 /* bytes after every poisoned buffer that must keep the poison */

/* rows×cols of type t (F32, BF16 or F16; ld = cols): normal values at a magnitude that changes
 * from 128-block to 128-block, and, when `specials`, a NaN at (3, 5), an inf at the last
 * element and an all-zero block (rows 128..255, columns < 128). malloc'ed. */
void *training_input(rng_state *rng, fp8block_dtype t, int64_t rows, int64_t cols, int specials);

/* bytes + TRAINING_GUARD bytes of TRAINING_POISON, 64-byte aligned; aborts without memory. */
void *training_poisoned(size_t bytes);

#endif
