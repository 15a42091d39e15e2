#include "testutil.h"

#include <stdlib.h>

#include "devmem.h"

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

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
    /* Line by line, so that a test stopped at its time limit shows how far it came. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *why = NULL;
    if (!devmem_gpu_available(&why)) test_skip(why);
#if FP8BLOCK_HAVE_CUDA
    /* Only a device that is not sm_90 may answer UNSUPPORTED: the library's target. */
    struct cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, 0);
    if (e != cudaSuccess) {
        fprintf(stderr, "cudaGetDeviceProperties(0): %s\n", cudaGetErrorString(e));
        exit(1);
    }
    if (prop.major != 9 || prop.minor != 0) {
        char reason[400];
        snprintf(reason, sizeof reason, "device 0 (%.200s) is sm_%d%d; the CUDA backend is for sm_90", prop.name,
                 prop.major, prop.minor);
        test_skip(reason);
    }
#endif
    fp8block_ctx *ctx = NULL;
    fp8block_status st = fp8block_create(&ctx, 0);
    if (st != FP8BLOCK_OK) { /* UNSUPPORTED and INTERNAL included: this is an sm_90 device */
        fprintf(stderr, "fp8block_create(0): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        exit(1);
    }
    return ctx;
}
