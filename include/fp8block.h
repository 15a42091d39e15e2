/* fp8block — FP8 (e4m3) GEMM with 2D dynamic block quantization.
 *
 * One header, C11, no CUDA needed to include it. The numeric contract and the
 * layouts are those of docs/DESIGN.md:
 *
 *   A codes   M×K e4m3, row-major, lda >= K, lda % 16 == 0, base 16-byte aligned
 *   A scales  ceil(K/128) × M fp32, M contiguous: sa[kb*ldsa + i], ldsa >= M, ldsa % 4 == 0
 *   B codes   N×K e4m3, row-major, ldb >= K, ldb % 16 == 0, base 16-byte aligned
 *   B scales  ceil(N/128) × ceil(K/128) fp32, row-major: sb[nb*ldsb + kb], ldsb >= ceil(K/128)
 *   D         M×N, row-major, ldd >= N, rows 16-byte aligned (ldd*elem % 16 == 0, base too)
 *
 * which is what cuBLASLt (VEC128_32F × BLK128x128_32F), torch._scaled_mm's block-wise
 * path and DeepGEMM use, so tensors move between them without copies.
 *
 * Errors: every entry point checks all of its arguments before touching memory. On
 * error it returns a status, writes nothing, and fp8block_last_error() says what was
 * wrong. The same rules hold on every backend, so a program that runs on the CPU
 * context runs unchanged on a CUDA context.
 *
 * Threads: a context may be used from several threads at once (on a CUDA context, give
 * each thread its own stream). fp8block_last_error() reports the calling thread's last
 * failure. Create and destroy are not concurrent with other calls on the same context.
 */
#ifndef FP8BLOCK_H
#define FP8BLOCK_H

#include <stddef.h>
#include <stdint.h>

/* The version of this header; fp8block_version() is the library's. The ABI rule
 * (docs/DESIGN.md §3.6): the SONAME changes with MAJOR, and with MINOR while MAJOR is 0. */
#define FP8BLOCK_VERSION_MAJOR 0
#define FP8BLOCK_VERSION_MINOR 1
#define FP8BLOCK_VERSION_PATCH 1
#define FP8BLOCK_VERSION (FP8BLOCK_VERSION_MAJOR * 10000 + FP8BLOCK_VERSION_MINOR * 100 + FP8BLOCK_VERSION_PATCH)

/* The library is built with hidden visibility: only what is marked FP8BLOCK_API is exported
 * from libfp8block.so, so its internals can never clash with a program's own symbols. */
#if defined(__GNUC__)
#define FP8BLOCK_API __attribute__((visibility("default")))
#else
#define FP8BLOCK_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp8block_ctx fp8block_ctx; /* opaque */

typedef enum {
    FP8BLOCK_OK = 0,
    FP8BLOCK_ERR_INVALID_ARGUMENT,
    FP8BLOCK_ERR_MISALIGNED,
    FP8BLOCK_ERR_UNSUPPORTED,
    FP8BLOCK_ERR_CUDA,
    FP8BLOCK_ERR_OUT_OF_MEMORY,
    /* A failure of the library itself (a plan with no compiled kernel, say): a bug to report,
     * never an answer about the request; UNSUPPORTED is only for valid requests this build or
     * device cannot run. */
    FP8BLOCK_ERR_INTERNAL
} fp8block_status;

typedef enum { FP8BLOCK_F32, FP8BLOCK_BF16, FP8BLOCK_F16, FP8BLOCK_E4M3 } fp8block_dtype;

enum { FP8BLOCK_DEVICE_CPU = -1 }; /* device >= 0: a CUDA device ordinal */

/* Quantization block shapes and flags, for fp8block_quantize_ex. */
typedef enum { FP8BLOCK_BLOCK_1x128 = 0, FP8BLOCK_BLOCK_128x128 = 1 } fp8block_block;
enum {
    /* s = the smallest power of two >= the fp32 quotient amax/448 (docs/DESIGN.md §1.2),
     * instead of that quotient: exact scale products, one fewer rounding on dequantization, at
     * most one binade of range given up. */
    FP8BLOCK_SCALE_POW2 = 1u << 0
};

/* device: FP8BLOCK_DEVICE_CPU for the reference backend, or a CUDA device ordinal
 * (an sm_90 GPU; others answer FP8BLOCK_ERR_UNSUPPORTED). */
FP8BLOCK_API fp8block_status fp8block_create(fp8block_ctx **ctx, int device);
FP8BLOCK_API void fp8block_destroy(fp8block_ctx *ctx);
FP8BLOCK_API const char *fp8block_status_string(fp8block_status s);
/* The calling thread's last failure on ctx (or on any context, if ctx is NULL), in words;
 * "" when there was none. The string lives until the thread's next call. */
FP8BLOCK_API const char *fp8block_last_error(const fp8block_ctx *ctx);
/* Device ordinal of a context (FP8BLOCK_DEVICE_CPU for the CPU backend), or -2 for NULL. */
FP8BLOCK_API int fp8block_device(const fp8block_ctx *ctx);
/* FP8BLOCK_VERSION of the library that runs: a program built against a newer minor
 * version may compare it with the header's FP8BLOCK_VERSION before using newer calls. */
FP8BLOCK_API int fp8block_version(void);

/* x: rows×cols of xtype (F32, BF16 or F16), row-major, leading dimension ldx >= cols.
 * q: e4m3 codes, ldq >= cols.
 * 1x128:   s[cb*lds + r], ceil(cols/128) × rows, rows contiguous, lds >= rows.
 * 128x128: s[rb*lds + cb], ceil(rows/128) × ceil(cols/128), row-major, lds >= ceil(cols/128).
 * stream: a cudaStream_t on a CUDA context (NULL: the default stream); ignored on the CPU. */
FP8BLOCK_API fp8block_status fp8block_quantize_1x128(fp8block_ctx *ctx, const void *x, fp8block_dtype xtype,
                                                     int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                                     int64_t ldq, float *s, int64_t lds, void *stream);
FP8BLOCK_API fp8block_status fp8block_quantize_128x128(fp8block_ctx *ctx, const void *x, fp8block_dtype xtype,
                                                       int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                                       int64_t ldq, float *s, int64_t lds, void *stream);
/* Either block shape, with flags (FP8BLOCK_SCALE_POW2 or 0). */
FP8BLOCK_API fp8block_status fp8block_quantize_ex(fp8block_ctx *ctx, fp8block_block block, unsigned flags,
                                                  const void *x, fp8block_dtype xtype, int64_t rows,
                                                  int64_t cols, int64_t ldx, uint8_t *q, int64_t ldq, float *s,
                                                  int64_t lds, void *stream);

/* The two 1x128 quantizations a training step needs of one matrix, x (rows×cols): of x
 * (q, s: exactly fp8block_quantize_ex(1x128, flags) of x), and of xᵀ (qt, st: exactly
 * fp8block_quantize_ex(1x128, flags) of the materialised cols×rows xᵀ, so its blocks run
 * along x's rows): qt[j*ldqt + i], ldqt >= rows; st[(i/128)*ldst + j], ceil(rows/128) × cols,
 * ldst >= cols. Either pair may be NULL (both of it), not both pairs. */
FP8BLOCK_API fp8block_status fp8block_quantize_1x128_transpose(fp8block_ctx *ctx, unsigned flags,
                                                               const void *x, fp8block_dtype xtype,
                                                               int64_t rows, int64_t cols, int64_t ldx,
                                                               uint8_t *q, int64_t ldq, float *s,
                                                               int64_t lds, uint8_t *qt, int64_t ldqt,
                                                               float *st, int64_t ldst, void *stream);

/* Wᵀ from a 128x128-quantized W (rows×cols), exactly: the codes transposed, qt[j*ldqt + i] =
 * q[i*ldq + j] (ldqt >= rows), and the scale grid transposed, st[cb*ldst + rb] = s[rb*lds + cb]
 * (ldst >= ceil(rows/128)). A 128x128 block of Wᵀ is a block of W transposed, same scale: no
 * requantization. (The dgrad GEMM's B operand.) */
FP8BLOCK_API fp8block_status fp8block_transpose_128x128(fp8block_ctx *ctx, const uint8_t *q,
                                                        int64_t ldq, const float *s, int64_t lds,
                                                        int64_t rows, int64_t cols, uint8_t *qt,
                                                        int64_t ldqt, float *st, int64_t ldst,
                                                        void *stream);

/* y = float(q) * s, rounded to ytype (F32, BF16 or F16) to nearest even. */
FP8BLOCK_API fp8block_status fp8block_dequantize_1x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq,
                                                       const float *s, int64_t lds, int64_t rows, int64_t cols,
                                                       void *y, fp8block_dtype ytype, int64_t ldy, void *stream);
FP8BLOCK_API fp8block_status fp8block_dequantize_128x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq,
                                                         const float *s, int64_t lds, int64_t rows,
                                                         int64_t cols, void *y, fp8block_dtype ytype,
                                                         int64_t ldy, void *stream);

/* ---- GEMM ---------------------------------------------------------------------------- */

/* How B's scales are blocked: 128x128 (weights; the default), or 1x128 as A's (the
 * weight-gradient GEMM, whose B is an activation gradient): sb[kb*ldsb + j], ceil(K/128) × N,
 * N contiguous, ldsb >= N, ldsb % 4 == 0. */
typedef enum { FP8BLOCK_B_SCALES_128x128 = 0, FP8BLOCK_B_SCALES_1x128 = 1 } fp8block_b_scales;

/* How a grouped (mixture-of-experts) GEMM lays out its groups (docs/DESIGN.md §1.8). */
typedef enum {
    FP8BLOCK_GROUPS_NONE = 0,
    FP8BLOCK_GROUPS_CONTIGUOUS = 1, /* A's rows sorted by group; group_rows: G+1 row offsets */
    FP8BLOCK_GROUPS_MASKED = 2      /* A is [G][max_m][K]; group_rows: G valid counts */
} fp8block_group_layout;

/* One GEMM, described by a plain struct: D = A · Bᵀ with the layouts above.
 *
 * Zero-initialised means default; struct_size (first) says which version of this struct
 * the caller compiled, so the struct can grow at its end without breaking binaries:
 *
 *     fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
 *     g.m = m, g.n = n, g.k = k; g.a = a, g.lda = k; ...; g.d_dtype = FP8BLOCK_BF16;
 *     fp8block_gemm_ex(ctx, &g, stream);
 *
 * E4M3 output: D holds e4m3 codes and sd their 1x128 scales, in A's scale layout, so D
 * feeds the next GEMM as its A. C and bias are added in fp32 before D is rounded or
 * quantized. A grouped GEMM (group_layout) runs G experts' B over groups of A's rows.
 * docs/DESIGN.md is the contract for every field; a field set wrongly answers a status
 * with a message naming it. */
typedef struct fp8block_gemm_desc {
    size_t struct_size; /* sizeof(fp8block_gemm_desc) as compiled by the caller */
    int64_t m, n, k;
    const uint8_t *a; /* M×K e4m3 codes */
    int64_t lda;
    const float *sa; /* A's 1x128 scales */
    int64_t ldsa;
    const uint8_t *b; /* N×K e4m3 codes */
    int64_t ldb;
    const float *sb; /* B's scales, blocked as b_scales says */
    int64_t ldsb;
    fp8block_b_scales b_scales; /* FP8BLOCK_B_SCALES_128x128 (0, the default) or _1x128 */
    void *d;                /* M×N */
    fp8block_dtype d_dtype; /* F32 (0, the default), BF16, F16 or E4M3 (then sd too) */
    int64_t ldd;            /* >= N; E4M3: a multiple of 16 */
    float *sd;              /* E4M3 D only: its scales, sd[(j/128)*ldsd + i], ceil(N/128) x ldsd */
    int64_t ldsd;           /* >= M, a multiple of 4 */
    unsigned d_scale_flags; /* E4M3 D only: FP8BLOCK_SCALE_POW2 or 0, as fp8block_quantize_ex */
    const void *c;          /* optional: D = A·Bᵀ + C; may be D itself (same dtype and ld, not E4M3) */
    fp8block_dtype c_dtype; /* F32, BF16 or F16 */
    int64_t ldc;            /* >= N */
    const void *bias;       /* optional: N values added to every row */
    fp8block_dtype bias_dtype; /* F32, BF16 or F16 */
    fp8block_group_layout group_layout; /* FP8BLOCK_GROUPS_NONE (0, the default) or a layout */
    int64_t groups;                     /* G */
    const int32_t *group_rows; /* context memory: G+1 row offsets (contiguous) or G counts (masked) */
    int64_t max_m;             /* masked: rows of each group in A and D; m = groups·max_m */
    int64_t group_stride_b;    /* bytes between two groups' B codes (0: one B for all) */
    int64_t group_stride_sb;   /* floats between two groups' B scales */
    /* Added in 0.1.1 (an older caller's struct_size ends before it: it counts as zero). */
    int64_t expected_m; /* masked: rows a group is expected to hold, a planning hint only (0: max_m) */
} fp8block_gemm_desc;

#define FP8BLOCK_GEMM_DESC_INIT {.struct_size = sizeof(fp8block_gemm_desc)}

/* Runs the GEMM desc describes on ctx (stream: a cudaStream_t on a CUDA context). */
FP8BLOCK_API fp8block_status fp8block_gemm_ex(fp8block_ctx *ctx, const fp8block_gemm_desc *desc, void *stream);

/* D = A · Bᵀ with the layouts above; dtype F32, BF16 or F16. The same as
 * fp8block_gemm_ex with these fields and the rest zero. */
FP8BLOCK_API fp8block_status fp8block_gemm(fp8block_ctx *ctx, int64_t m, int64_t n, int64_t k,
                                           const uint8_t *a, int64_t lda, const float *sa, int64_t ldsa,
                                           const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb,
                                           void *d, fp8block_dtype dtype, int64_t ldd, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* FP8BLOCK_H */
