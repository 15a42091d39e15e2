// The measurement program of bench/results/gemm-v17-h100-20261125/run18-clock-power.txt (experiment code kept with its result, not built
// by the project): nvcc -O2 -arch=sm_90a run18-loop.cu -I include libfp8block.a -lcuda -lpthread
// Steady-load loop for clock/power sampling: one GEMM shape called back to back for ~SECONDS.
// Usage: loop M N K SECONDS   (plan from FP8BLOCK_GEMM_PLAN)
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "fp8block.h"
int main(int argc, char **argv) {
    int64_t m = atoll(argv[1]), n = atoll(argv[2]), k = atoll(argv[3]);
    double secs = atof(argv[4]);
    fp8block_ctx *ctx; if (fp8block_create(&ctx, 0) != FP8BLOCK_OK) return 1;
    int64_t kb = (k + 127) / 128, ldsb = (kb + 3) / 4 * 4, ldsa = (m + 3) / 4 * 4;
    uint8_t *a, *b; float *sa, *sb; void *d;
    cudaMalloc(&a, m * k); cudaMalloc(&b, n * k); cudaMalloc(&sa, ldsa * kb * 4); cudaMalloc(&sb, ((n + 127) / 128) * ldsb * 4);
    cudaMalloc(&d, m * n * 2);
    {   // random finite e4m3 codes: power depends on the data's bit activity
        size_t big = (size_t)(m > n ? m : n) * k; uint8_t *h = (uint8_t *)malloc(big); uint64_t x = 88172645463325252ull;
        for (size_t i = 0; i < big; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; h[i] = (uint8_t)(x >> 24) & 0xF7; }
        cudaMemcpy(a, h, m * k, cudaMemcpyHostToDevice); cudaMemcpy(b, h, n * k, cudaMemcpyHostToDevice); free(h); }
    float one = 1.0f; float *hs = (float *)malloc(ldsa * kb * 4 > ((n + 127) / 128) * ldsb * 4 ? ldsa * kb * 4 : ((n + 127) / 128) * ldsb * 4);
    for (int64_t i = 0; i < ldsa * kb; i++) hs[i] = one; cudaMemcpy(sa, hs, ldsa * kb * 4, cudaMemcpyHostToDevice);
    for (int64_t i = 0; i < ((n + 127) / 128) * ldsb; i++) hs[i] = one; cudaMemcpy(sb, hs, ((n + 127) / 128) * ldsb * 4, cudaMemcpyHostToDevice);
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    long calls = 0; double elapsed = 0;
    cudaEventRecord(e0);
    while (elapsed < secs) {
        for (int i = 0; i < 50; i++, calls++)
            if (fp8block_gemm(ctx, m, n, k, a, k, sa, ldsa, b, k, sb, ldsb, d, FP8BLOCK_BF16, n, NULL) != FP8BLOCK_OK) { printf("err %s\n", fp8block_last_error(ctx)); return 1; }
        cudaDeviceSynchronize();
        clock_gettime(CLOCK_MONOTONIC, &t1); elapsed = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    }
    cudaEventRecord(e1); cudaEventSynchronize(e1); float ms; cudaEventElapsedTime(&ms, e0, e1);
    printf("loop %lldx%lldx%lld: %ld calls, %.2f us/call, %.1f TFLOP/s\n", (long long)m, (long long)n, (long long)k, calls, 1e3 * ms / calls, 2.0 * m * n * k * calls / (ms * 1e-3) * 1e-12);
    return 0;
}
