/* The cuBLASLt GEMMs that `fp8block bench` measures fp8block against, through cuBLASLt's
 * C API: bf16, FP8 e4m3 with one scale per tensor, and FP8 e4m3 block-scaled
 * (1x128 activations × 128x128 weights, cuBLAS >= 12.9, Hopper) on fp8block's own layouts.
 *
 * Every GEMM is fp8block's row-major problem D (M×N) = A (M×K) · Bᵀ (B is N×K), with
 * packed operands (lda = ldb = K, ldd = N), D in bf16 and fp32 accumulation. Block scales
 * use docs/DESIGN.md's layouts with the leading dimensions cuBLASLt assumes (it takes none):
 *   sa[kb*M + i]          M contiguous, M % 4 == 0
 *   sb[nb*ldsb + kb]      ldsb = baseline_block_scale_ld(K): ceil(K/128) rounded up to 4,
 *                         i.e. 16-byte rows (measured on an H100 with cuBLASLt 13.1: with
 *                         ldsb = ceil(K/128) = 5 every 128-row block of B but the first
 *                         got the wrong scales)
 * fp8block accepts both (ldsb >= ceil(K/128)), so the same buffers serve both libraries.
 * Per-tensor scales are device pointers to one float each.
 *
 * Only the bench links this (CUDA::cublasLt, dynamically); the library never does. */
#ifndef FP8BLOCK_BENCH_CUBLASLT_H
#define FP8BLOCK_BENCH_CUBLASLT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BASELINE_BF16,       /* bf16 × bf16 */
    BASELINE_FP8_TENSOR, /* e4m3 × e4m3, one fp32 scale per operand */
    BASELINE_FP8_BLOCK   /* e4m3 × e4m3, VEC128_32F (A) × BLK128x128_32F (B) */
} baseline_kind;

enum { BASELINE_KINDS = 3 };

const char *baseline_kind_name(baseline_kind kind); /* "cublaslt_bf16", ... */

/* The leading dimension of B's 128x128 scales that cuBLASLt reads: ceil(K/128) rounded up
 * to a multiple of 4. */
int64_t baseline_block_scale_ld(int64_t k);

/* One cuBLASLt handle and its workspace on a device. NULL on failure, with the reason in
 * why (a buffer of why_size bytes). */
typedef struct baseline_lib baseline_lib;
baseline_lib *baseline_lib_open(int device, char *why, size_t why_size);
void baseline_lib_close(baseline_lib *lib);
/* "cuBLASLt 13.0.2" */
const char *baseline_lib_version(const baseline_lib *lib);

/* A GEMM of one kind and shape with cuBLASLt's first heuristic algorithm (baseline_gemm_autotune
 * picks the fastest of its top ones). NULL when
 * cuBLASLt has no algorithm for it (or on an error), with the reason in why. */
typedef struct baseline_gemm baseline_gemm;
baseline_gemm *baseline_gemm_create(baseline_lib *lib, baseline_kind kind, int64_t m, int64_t n,
                                    int64_t k, char *why, size_t why_size);
void baseline_gemm_destroy(baseline_gemm *g);

/* Enqueues D = A·Bᵀ on stream (a cudaStream_t; NULL: the default stream). a, b: bf16 or
 * e4m3 codes as the kind says; sa, sb: the scales as the kind says (ignored for bf16).
 * Returns 0, or -1 with the reason in why. */
int baseline_gemm_run(baseline_gemm *g, const void *a, const float *sa, const void *b,
                      const float *sb, void *d, void *stream, char *why, size_t why_size);

/* Runs the GEMM once with its current algorithm: 0, or -1 with the reason in why. */
typedef int (*baseline_run_fn)(void *arg, char *why, size_t why_size);

/* cuBLASLt at its best, as an autotuner would have it: times each of the heuristic's top
 * algorithms (up to 8; median of 5 runs after 2, events on the default stream, no L2 flush)
 * through run(arg) and keeps the fastest. 0, or -1 with the reason in why when none ran. */
int baseline_gemm_autotune(baseline_gemm *g, baseline_run_fn run, void *arg, char *why, size_t why_size);

/* The index of the algorithm in use in the heuristic's order (0: its first choice), and
 * how many it offered. */
int baseline_gemm_chosen(const baseline_gemm *g, int *candidates);

#endif
