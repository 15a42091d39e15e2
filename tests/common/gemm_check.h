/* Checks a GEMM output against an fp64 product of the dequantized operands, with the
 * tests' own e4m3/bf16/f16 decoders (reference_codec.h), so the check never leans on the
 * code it checks.
 *
 * Operands are host memory in the layouts of docs/DESIGN.md: a codes M×K (lda), sa[kb*ldsa + i],
 * b codes N×K (ldb), sb[nb*ldsb + kb]; d is M×N of dtype F32/BF16/F16 (ldd).
 *
 * Per element: |d - ref| <= 2^-10 · Σ_k |a_k·b_k| + |ref|·u + floor, u the output's unit
 * roundoff (bf16 2^-8, f16 2^-11, f32 2^-22), floor 1e-30, or 2^-25 for f16 (half its
 * subnormal step, where rounding is absolute); and over all checked elements
 * ||d - ref||_F / ||ref||_F <= 4e-3 (bf16) or 1e-3 (f16, f32).
 * A NaN reference (a NaN scale) requires a NaN in d; a finite reference requires a
 * finite d, except ±inf of the right sign where |ref| exceeds the output's range. */
#ifndef FP8BLOCK_GEMM_CHECK_H
#define FP8BLOCK_GEMM_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "fp8block.h"

typedef struct {
    int64_t rows_checked;
    int64_t elements_checked;
    int64_t violations;      /* elements outside their bound, NaN mismatches included */
    double max_abs_error;    /* over elements with a finite reference */
    double max_error_ratio;  /* max of |d - ref| / bound */
    double rel_frobenius;    /* ||d - ref|| / ||ref|| over elements with a finite reference */
    double frobenius_limit;  /* the limit rel_frobenius is held to */
    int64_t first_bad_row, first_bad_col; /* -1 when there is no violation */
    double first_bad_value, first_bad_ref, first_bad_bound;
} gemm_check_result;

/* Checks rows 0, row_step, 2·row_step, ... and always the last row (row_step <= 1: all),
 * every column. Runs on all cores (FP8BLOCK_NUM_THREADS, if set, or the online ones); the
 * result does not depend on the number of threads. */
gemm_check_result gemm_check(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                             const float *sa, int64_t ldsa, const uint8_t *b, int64_t ldb,
                             const float *sb, int64_t ldsb, const void *d, fp8block_dtype dtype,
                             int64_t ldd, int64_t row_step);

/* The reference alone, every element, on all cores: ref[i·ldr + j] the fp64 product and
 * magnitude[i·ldr + j] = Σ_k |a_k·b_k| (scales included), summed in k order within each
 * 128-block, block sums scaled and added in block order, no fused multiply-add; a GPU
 * reference that sums the same way gives the same bits. 0 on success. */
int gemm_reference(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                   int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb,
                   double *ref, double *magnitude, int64_t ldr);

/* gemm_reference with B scaled 1x128 (sb[kb*ldsb + j], the weight-gradient GEMM): the same
 * sums with sa[kb][i]·sb[kb][j] per block, single-threaded. 0 on success. */
int gemm_reference_b1x128(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                          int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb, double *ref,
                          double *magnitude, int64_t ldr);

/* gemm_check against a reference computed elsewhere (gemm_reference, or the tests' GPU
 * one): every element of the m×n output, the same bounds, on all cores. */
gemm_check_result gemm_check_against(int64_t m, int64_t n, const double *ref, const double *magnitude,
                                     int64_t ldr, const void *d, fp8block_dtype dtype, int64_t ldd);

/* The planted defect that proves a checker: rows 100..109 of every 128-row tile of D
 * multiplied by 1.5 (rounded to the output type). Tests apply it when
 * gemm_plant_rows_requested() (FP8BLOCK_TEST_PLANT_ROWS=1), and the checker must then fail.
 * Returns the number of elements whose bits changed (x1.5 leaves 0, inf and NaN as they were). */
int64_t gemm_plant_row_corruption(int64_t m, int64_t n, void *d, fp8block_dtype dtype, int64_t ldd);
int gemm_plant_rows_requested(void);

/* 1 when there is no violation and the Frobenius error is within its limit. */
int gemm_check_passed(const gemm_check_result *r);

/* One line: the counts, the errors, and the first violation if any. */
void gemm_check_print(FILE *f, const char *label, const gemm_check_result *r);

#endif
