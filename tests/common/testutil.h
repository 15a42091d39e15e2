/* Assertions that count instead of abort, so one run reports every failure. */
#ifndef FP8BLOCK_TESTUTIL_H
#define FP8BLOCK_TESTUTIL_H

#include <stdio.h>

#include "fp8block.h"

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

/* A CUDA context on device 0, or a clean skip saying why there is none. */
fp8block_ctx *test_gpu_ctx_or_skip(void);

#endif
