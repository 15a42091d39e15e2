/* Assertions that count instead of abort, so one run reports every failure. */
#ifndef FP8BLOCK_TESTUTIL_H
#define FP8BLOCK_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fp8block.h"

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
/* Bytes of an element of the floating-point types F32, BF16, F16. */
static inline size_t dtype_size(fp8block_dtype t) { return t == FP8BLOCK_F32 ? 4 : 2; }

/* docs/DESIGN.md's scale layout: 1x128 has ceil(cols/128) lines of `rows` scales (M-contiguous),
 * 128x128 ceil(rows/128) lines of ceil(cols/128); lines are lds floats apart. */
static inline int64_t scale_lines(fp8block_block b, int64_t rows, int64_t cols)
{
    return b == FP8BLOCK_BLOCK_1x128 ? ceil_div(cols, 128) : ceil_div(rows, 128);
}
static inline int64_t scale_line_length(fp8block_block b, int64_t rows, int64_t cols)
{
    return b == FP8BLOCK_BLOCK_1x128 ? rows : ceil_div(cols, 128);
}
/* Index of the scale of element (r, c). */
static inline int64_t scale_index(fp8block_block b, int64_t lds, int64_t r, int64_t c)
{
    return b == FP8BLOCK_BLOCK_1x128 ? (c / 128) * lds + r : (r / 128) * lds + c / 128;
}

extern long test_checks;
extern long test_failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        test_checks++;                                                                         \
        if (!(cond)) {                                                                         \
            if (++test_failures <= 50) {                                                       \
                fprintf(stderr, "FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond);               \
                fprintf(stderr, __VA_ARGS__);                                                  \
                fputc('\n', stderr);                                                           \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* Prints "<name>: N checks, F failed" and returns the process exit code. */
int test_finish(const char *name);

/* Prints "SKIP: <why>" and exits 77, which ctest reports as skipped. */
void test_skip(const char *why);

/* A CUDA context on device 0, or a clean skip saying why there is none: a build without CUDA,
 * no device, or a device that is not sm_90. On an sm_90 device any failure to create the
 * context (FP8BLOCK_ERR_UNSUPPORTED and FP8BLOCK_ERR_INTERNAL included) exits 1: from there
 * on, UNSUPPORTED from a call on the context is a failure of the test, never a skip. */
fp8block_ctx *test_gpu_ctx_or_skip(void);

#endif
