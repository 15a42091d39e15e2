/* Host time of one fp8block_gemm call on the GPU backend, through the C API: what a decode
 * loop pays per GEMM when the GPU keeps up. For each shape, N calls back to back with no
 * synchronisation, wall time (CLOCK_MONOTONIC) from the first call to the return of the
 * last, divided by N; then the same loop's time up to cudaStreamSynchronize (when the GPU
 * is the bottleneck, that one is the GPU's). Median of 5 such loops after a warm-up.
 *
 *   fp8block_host_overhead [N]      (default 2000 calls per loop)
 *
 * Operands hold arbitrary bytes (codes 0x38 = 1.0, scales 1): only the call is timed. */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cuda_runtime.h>

#include "fp8block.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const int calls = argc > 1 ? atoi(argv[1]) : 2000;
    static const int64_t shapes[][3] = {{64, 7168, 2048}, {64, 2112, 7168}, {1, 4096, 7168}, {128, 24576, 1536},
                                        {4096, 4096, 4096}};
    fp8block_ctx *ctx = NULL;
    if (fp8block_create(&ctx, 0) != FP8BLOCK_OK) {
        printf("SKIP: no CUDA context: %s\n", fp8block_last_error(NULL));
        return 77;
    }
    cudaStream_t stream;
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    printf("host time per fp8block_gemm call, %d calls back to back, median of 5 loops\n", calls);
    printf("%6s %6s %6s | %12s %14s\n", "M", "N", "K", "host us/call", "to sync us/call");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        const int64_t lda = (k + 15) / 16 * 16, ldsa = (m + 3) / 4 * 4, kb = (k + 127) / 128, ldd = (n + 7) / 8 * 8;
        uint8_t *a, *b;
        float *sa, *sb;
        void *d;
        cudaMalloc((void **)&a, (size_t)(m * lda));
        cudaMalloc((void **)&b, (size_t)(n * lda));
        cudaMalloc((void **)&sa, (size_t)(kb * ldsa) * 4);
        cudaMalloc((void **)&sb, (size_t)((n + 127) / 128 * kb) * 4);
        cudaMalloc(&d, (size_t)(m * ldd) * 2);
        cudaMemset(a, 0x38, (size_t)(m * lda));
        cudaMemset(b, 0x38, (size_t)(n * lda));
        cudaMemset(sa, 0, (size_t)(kb * ldsa) * 4);
        cudaMemset(sb, 0, (size_t)((n + 127) / 128 * kb) * 4);
        double host[5], synced[5];
        for (int rep = -1; rep < 5; rep++) {
            double t0 = now_us();
            for (int i = 0; i < calls; i++) {
                fp8block_status st =
                    fp8block_gemm(ctx, m, n, k, a, lda, sa, ldsa, b, lda, sb, kb, d, FP8BLOCK_BF16, ldd, stream);
                if (st != FP8BLOCK_OK) {
                    printf("fp8block_gemm %lldx%lldx%lld: %s\n", (long long)m, (long long)n, (long long)k,
                           fp8block_last_error(ctx));
                    return 1;
                }
            }
            double t1 = now_us();
            cudaStreamSynchronize(stream);
            double t2 = now_us();
            if (rep >= 0) host[rep] = (t1 - t0) / calls, synced[rep] = (t2 - t0) / calls;
        }
        qsort(host, 5, sizeof host[0], cmp);
        qsort(synced, 5, sizeof synced[0], cmp);
        printf("%6lld %6lld %6lld | %12.2f %14.2f\n", (long long)m, (long long)n, (long long)k, host[2], synced[2]);
        cudaFree(a), cudaFree(b), cudaFree(sa), cudaFree(sb), cudaFree(d);
    }
    cudaStreamDestroy(stream);
    fp8block_destroy(ctx);
    return 0;
}
