/* One CUDA context used from several threads at once, each thread on its own stream
 * (created with the CUDA runtime, non-blocking): every job (quantize, dequantize, a GEMM
 * and a long-K split-K GEMM; tests/common/thread_workload.h) gives the same bytes as when
 * run alone. FP8BLOCK_TEST_SMALL=1 shrinks the shapes (for compute-sanitizer). UNSUPPORTED from
 * any job fails the test (the device is sm_90). */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "thread_workload.h"

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>

static void *new_stream(void)
{
    cudaStream_t s;
    return cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess ? (void *)s : NULL;
}

static void destroy_stream(void *s) { cudaStreamDestroy((cudaStream_t)s); }
#endif

int main(void)
{
    fp8block_ctx *gpu = test_gpu_ctx_or_skip();
    workload_concurrency how = {4, 3, 2, getenv("FP8BLOCK_TEST_SMALL") != NULL, NULL, NULL};
#if FP8BLOCK_HAVE_CUDA
    how.new_stream = new_stream, how.destroy_stream = destroy_stream;
#endif
    const char *unsupported = workload_check_concurrent(gpu, how);
    fp8block_destroy(gpu);
    CHECK(unsupported == NULL, "UNSUPPORTED on an sm_90 device: %s", unsupported ? unsupported : "");
    return test_finish("test_threads_gpu");
}
