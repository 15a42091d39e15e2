/* The kernel's one by-value argument besides its tensor maps: what the host planned and
 * where the operands the tensor maps do not cover are. Included from C and from CUDA. */
#ifndef FP8BLOCK_GEMM_PARAMS_H
#define FP8BLOCK_GEMM_PARAMS_H

#include <stdint.h>

#include "gemm_geometry.h"
#include "gemm_group_walk.h"

typedef struct {
    int m, n;
    const float *sb;
    int64_t ldsb;
    int sb_rows; /* ceil(N / 128) */
    int tma_cols; /* columns [0, tma_cols) leave by TMA store, the rest by plain stores */
    void *d;      /* for the plain stores */
    int64_t ldd;
    /* Optional addends (docs/DESIGN.md §1.6): D = (acc + C) + bias before rounding. NULL: none. */
    const void *c;
    int64_t ldc;
    int c_dtype; /* fp8block_dtype */
    const void *bias;
    int bias_dtype;
    int c_is_d_alone; /* C is D (fp32, in place) and there is no bias: see epilogue_adds_c_by_tma */
    /* E4M3 D only: its 1x128 scales (sd[(col/128)*ldsd + row]) and their rule */
    float *sd;
    int64_t ldsd;
    int sd_pow2;
    gemm_schedule sched;
    /* stream-K only: per (partial id, CTA rank, math warpgroup) the warpgroup's 64 x BN
     * fp32 partial; one arrival counter per (stream-K tile, CTA rank, math
     * warpgroup), zero between calls */
    float *partials;
    int *sk_counters;
    /* Grouped GEMMs only (docs/DESIGN.md §1.8): the plain kernels never read it, so it comes
     * last and leaves their parameter offsets as they were. */
    gemm_groups groups;
} gemm_params;

#endif
