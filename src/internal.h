/* What the API layer and the backends share: validated argument bundles, the
 * context, and the error reporter. Included from C and from CUDA. */
#ifndef FP8BLOCK_INTERNAL_H
#define FP8BLOCK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fp8block.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cuda_device cuda_device; /* src/cuda: per-device state */

struct fp8block_ctx {
    int device;        /* FP8BLOCK_DEVICE_CPU or a CUDA ordinal */
    cuda_device *cuda; /* NULL on the CPU backend */
};

/* Arguments after validation: every pointer non-NULL, every size positive, every
 * leading dimension large enough. Backends trust them. */
typedef struct {
    fp8block_block block;
    unsigned flags;
    const void *x;
    fp8block_dtype xtype;
    int64_t rows, cols, ldx;
    uint8_t *q;
    int64_t ldq;
    float *s;
    int64_t lds;
} quantize_args;

typedef struct {
    fp8block_block block;
    const uint8_t *q;
    int64_t ldq;
    const float *s;
    int64_t lds;
    int64_t rows, cols;
    void *y;
    fp8block_dtype ytype;
    int64_t ldy;
} dequantize_args;

/* quantize_1x128_transpose: `rows` quantizes x itself (its q NULL: skipped); qt and st,
 * when not NULL, take the 1x128 quantization of xᵀ. */
typedef struct {
    quantize_args rows;
    uint8_t *qt;
    int64_t ldqt;
    float *st;
    int64_t ldst;
} quantize_transpose_args;

typedef struct {
    const uint8_t *q;
    int64_t ldq;
    const float *s;
    int64_t lds;
    int64_t rows, cols;
    uint8_t *qt;
    int64_t ldqt;
    float *st;
    int64_t ldst;
} transpose_args;

typedef struct {
    int64_t m, n, k;
    const uint8_t *a;
    int64_t lda;
    const float *sa;
    int64_t ldsa;
    const uint8_t *b;
    int64_t ldb;
    const float *sb;
    int64_t ldsb;
    fp8block_b_scales b_scales;
    void *d;
    fp8block_dtype dtype;
    int64_t ldd;
    float *sd; /* E4M3 D only */
    int64_t ldsd;
    unsigned d_scale_flags;
    const void *c; /* NULL: no C */
    fp8block_dtype c_dtype;
    int64_t ldc;
    const void *bias; /* NULL: no bias */
    fp8block_dtype bias_dtype;
    /* Grouped (docs/DESIGN.md §1.8): FP8BLOCK_GROUPS_NONE, or G groups whose rows come from
     * group_rows (host memory on the CPU backend, device memory on the GPU) */
    fp8block_group_layout group_layout;
    int64_t groups;
    const int32_t *group_rows;
    int64_t max_m;
    int64_t group_stride_b, group_stride_sb;
    int64_t expected_m; /* masked: the caller's planning hint, in [0, max_m] (0: none) */
} gemm_args;

/* Starts an entry point's call: its name prefixes the messages of fp8block_fail, and
 * fp8block_last_error(ctx) reports them for this context. */
void fp8block_begin_call(const char *function, const fp8block_ctx *ctx);

/* The one validation of a GEMM descriptor (src/gemm_api.c): every check of
 * docs/DESIGN.md, then *out for the backend. dtype_name: what the caller calls D's dtype. */
fp8block_status gemm_desc_validate(fp8block_ctx *ctx, const fp8block_gemm_desc *desc, const char *dtype_name,
                                   gemm_args *out);

/* Records a failure for fp8block_last_error (printf-style) and returns st. */
fp8block_status fp8block_fail(fp8block_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

size_t fp8block_dtype_size(fp8block_dtype t);
const char *fp8block_dtype_name(fp8block_dtype t);

/* a, b > 0; no a + b - 1, which overflows for a near INT64_MAX */
static inline int64_t fp8block_ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

#ifdef __cplusplus
}
#endif

#endif
