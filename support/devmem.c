#define _POSIX_C_SOURCE 200809L
#include "devmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static int on_gpu(const fp8block_ctx *ctx) { return fp8block_device(ctx) >= 0; }

double devmem_host_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int devmem_gpu_available(const char **why)
{
#if FP8BLOCK_HAVE_CUDA
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        /* With no driver at all CUDA says "driver version is insufficient"; a driver version
         * of 0 tells that case apart. */
        int driver = 0;
        static char reason[256];
        if (cudaDriverGetVersion(&driver) == cudaSuccess && driver == 0)
            snprintf(reason, sizeof reason, "no NVIDIA driver is installed");
        else
            snprintf(reason, sizeof reason, "no usable CUDA driver or device (cudaGetDeviceCount: %s)",
                     cudaGetErrorString(e));
        if (why) *why = reason;
        return 0;
    }
    if (count == 0) {
        if (why) *why = "no CUDA device";
        return 0;
    }
    if (why) *why = "";
    return 1;
#else
    if (why) *why = "built without CUDA (no nvcc at configure time)";
    return 0;
#endif
}

void *devmem_alloc(const fp8block_ctx *ctx, size_t bytes)
{
    if (bytes == 0) bytes = 1;
#if FP8BLOCK_HAVE_CUDA
    if (on_gpu(ctx)) {
        void *p = NULL;
        if (cudaSetDevice(fp8block_device(ctx)) != cudaSuccess) return NULL;
        return cudaMalloc(&p, bytes) == cudaSuccess ? p : NULL;
    }
#endif
    (void)ctx;
    /* 256-byte alignment, like cudaMalloc, so host and device runs see the same rules. */
    void *p = NULL;
    return posix_memalign(&p, 256, bytes) == 0 ? p : NULL;
}

void devmem_free(const fp8block_ctx *ctx, void *p)
{
    if (!p) return;
#if FP8BLOCK_HAVE_CUDA
    if (on_gpu(ctx)) {
        cudaFree(p);
        return;
    }
#endif
    (void)ctx;
    free(p);
}

int devmem_upload(const fp8block_ctx *ctx, void *dst, const void *src, size_t bytes)
{
#if FP8BLOCK_HAVE_CUDA
    /* From pageable memory cudaMemcpy may return before the DMA lands, and a non-blocking
     * stream does not wait for it: the upload is complete when this returns. */
    if (on_gpu(ctx))
        return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess
                   ? 0 : -1;
#endif
    (void)ctx;
    memcpy(dst, src, bytes);
    return 0;
}

int devmem_download(const fp8block_ctx *ctx, void *dst, const void *src, size_t bytes)
{
#if FP8BLOCK_HAVE_CUDA
    if (on_gpu(ctx)) return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost) == cudaSuccess ? 0 : -1;
#endif
    (void)ctx;
    memcpy(dst, src, bytes);
    return 0;
}

int devmem_fill(const fp8block_ctx *ctx, void *p, int byte, size_t bytes)
{
#if FP8BLOCK_HAVE_CUDA
    if (on_gpu(ctx)) return cudaMemset(p, byte, bytes) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess ? 0 : -1;
#endif
    (void)ctx;
    memset(p, byte, bytes);
    return 0;
}

int devmem_sync(const fp8block_ctx *ctx)
{
#if FP8BLOCK_HAVE_CUDA
    if (on_gpu(ctx)) return cudaDeviceSynchronize() == cudaSuccess ? 0 : -1;
#endif
    (void)ctx;
    return 0;
}

struct devmem_timer {
    int gpu;
    double t0;
#if FP8BLOCK_HAVE_CUDA
    cudaEvent_t start, stop;
#endif
};

devmem_timer *devmem_timer_create(const fp8block_ctx *ctx)
{
    devmem_timer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->gpu = on_gpu(ctx);
#if FP8BLOCK_HAVE_CUDA
    if (t->gpu && (cudaEventCreate(&t->start) != cudaSuccess || cudaEventCreate(&t->stop) != cudaSuccess)) {
        free(t);
        return NULL;
    }
#endif
    return t;
}

void devmem_timer_start(devmem_timer *t)
{
#if FP8BLOCK_HAVE_CUDA
    if (t->gpu) {
        cudaEventRecord(t->start, 0);
        return;
    }
#endif
    t->t0 = devmem_host_seconds();
}

double devmem_timer_stop_seconds(devmem_timer *t)
{
#if FP8BLOCK_HAVE_CUDA
    if (t->gpu) {
        float ms = 0;
        cudaEventRecord(t->stop, 0);
        cudaEventSynchronize(t->stop);
        cudaEventElapsedTime(&ms, t->start, t->stop);
        return 1e-3 * ms;
    }
#endif
    return devmem_host_seconds() - t->t0;
}

void devmem_timer_destroy(devmem_timer *t)
{
    if (!t) return;
#if FP8BLOCK_HAVE_CUDA
    if (t->gpu) {
        cudaEventDestroy(t->start);
        cudaEventDestroy(t->stop);
    }
#endif
    free(t);
}
