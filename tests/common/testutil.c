#include "testutil.h"

#include <stdlib.h>

#include "devmem.h"

long test_checks;
long test_failures;

int test_finish(const char *name)
{
    printf("%s: %ld checks, %ld failed\n", name, test_checks, test_failures);
    return test_failures == 0 && test_checks > 0 ? 0 : 1;
}

void test_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

fp8block_ctx *test_gpu_ctx_or_skip(void)
{
    const char *why = NULL;
    if (!devmem_gpu_available(&why)) test_skip(why);
    fp8block_ctx *ctx = NULL;
    fp8block_status st = fp8block_create(&ctx, 0);
    if (st == FP8BLOCK_ERR_UNSUPPORTED) test_skip(fp8block_last_error(NULL));
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(0): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        exit(1);
    }
    return ctx;
}
