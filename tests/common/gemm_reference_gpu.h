/* gemm_check's fp64 reference computed on the CUDA device, for outputs too big for the CPU
 * reference in a test's time (every element of every GEMM test case).
 *
 * The same sums as gemm_reference (gemm_check.h): e4m3 values from the tests' own decoder
 * (reference_codec.h, a 256-entry table), A dequantized exactly, products summed in k order
 * within each 128-block, block sums scaled by B's scale and added in block order, all in
 * fp64 with no fused multiply-add, so it gives the CPU's bits (test_gemm_gpu checks that on
 * small shapes). Naive on purpose: a shared-memory tiled loop, nothing from the library.
 *
 * Operands are host memory in gemm_check's layouts; for a band of rows pass a + row0·lda,
 * sa + row0 and m = rows of the band. ref and magnitude (host, m rows ldr apart) receive
 * the reference and Σ_k |a_k·b_k|. Uses the current CUDA device; 0 on success, else -1
 * with the reason on stderr. */
#ifndef FP8BLOCK_GEMM_REFERENCE_GPU_H
#define FP8BLOCK_GEMM_REFERENCE_GPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int gemm_reference_gpu(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                       int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb,
                       double *ref, double *magnitude, int64_t ldr);

/* The same with B scaled 1x128 (gemm_reference_b1x128's sums: sb[kb·ldsb + j] per column). */
int gemm_reference_gpu_b1x128(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                              int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb,
                              double *ref, double *magnitude, int64_t ldr);

#ifdef __cplusplus
}
#endif

#endif
