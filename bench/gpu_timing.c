#include "gpu_timing.h"

#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>

#include "l2_flush.h"
#include "why.h"

struct gpu_timing {
    void *flush;
    size_t flush_bytes;
    gpu_flush kind;
    unsigned *sink; /* the read flush's never-written output */
};

gpu_timing *gpu_timing_create(int device, gpu_flush flush, char *why, size_t why_size)
{
    int l2 = 0;
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device);
    gpu_timing *t = calloc(1, sizeof *t);
    if (e != cudaSuccess || !t) {
        why_printf(why, why_size, "GPU timing on device %d: %s", device, e != cudaSuccess ? cudaGetErrorString(e) : "out of host memory");
        free(t);
        return NULL;
    }
    t->kind = flush;
    t->flush_bytes = 2 * (size_t)(l2 > 0 ? l2 : 64 << 20);
    e = cudaMalloc(&t->flush, t->flush_bytes + 16);
    if (e == cudaSuccess) e = cudaMemset(t->flush, 0, t->flush_bytes + 16);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        why_printf(why, why_size, "L2 flush buffer of %zu bytes: %s", t->flush_bytes, cudaGetErrorString(e));
        cudaFree(t->flush);
        free(t);
        return NULL;
    }
    t->sink = (unsigned *)((char *)t->flush + t->flush_bytes);
    return t;
}

void gpu_timing_destroy(gpu_timing *t)
{
    if (!t) return;
    cudaFree(t->flush);
    free(t);
}

size_t gpu_timing_flush_bytes(const gpu_timing *t) { return t->flush_bytes; }

const char *gpu_timing_flush_name(const gpu_timing *t) { return t->kind == GPU_FLUSH_READ ? "read-only pass" : "memset"; }

static cudaError_t flush_l2(gpu_timing *t)
{
    if (t->kind == GPU_FLUSH_READ) return l2_flush_read(t->flush, t->flush_bytes, t->sink);
    return cudaMemsetAsync(t->flush, 0, t->flush_bytes, 0);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int gpu_timing_median(gpu_timing *t, gpu_timed_fn fn, void *arg, int warmup, int reps, double *median_s, char *why,
                      size_t why_size)
{
    if (reps < 1) reps = 1;
    cudaEvent_t *events = calloc(2 * (size_t)reps, sizeof *events);
    double *seconds = calloc((size_t)reps, sizeof *seconds);
    int created = 0, rc = -1;
    if (!events || !seconds) {
        why_printf(why, why_size, "out of host memory");
        goto done;
    }
    for (; created < 2 * reps; created++) {
        cudaError_t e = cudaEventCreate(&events[created]);
        if (e != cudaSuccess) {
            why_printf(why, why_size, "cudaEventCreate: %s", cudaGetErrorString(e));
            goto done;
        }
    }
    for (int i = 0; i < warmup; i++)
        if (fn(arg, why, why_size) != 0) goto done;
    for (int i = 0; i < reps; i++) {
        cudaError_t flushed = flush_l2(t);
        if (flushed != cudaSuccess) {
            why_printf(why, why_size, "L2 flush: %s", cudaGetErrorString(flushed));
            goto done;
        }
        cudaEventRecord(events[2 * i], 0);
        if (fn(arg, why, why_size) != 0) goto done;
        cudaEventRecord(events[2 * i + 1], 0);
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess) {
        why_printf(why, why_size, "CUDA error in the timed work: %s", cudaGetErrorString(e));
        goto done;
    }
    for (int i = 0; i < reps; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]);
        seconds[i] = 1e-3 * ms;
    }
    qsort(seconds, (size_t)reps, sizeof *seconds, compare_double);
    *median_s = reps % 2 ? seconds[reps / 2] : 0.5 * (seconds[reps / 2 - 1] + seconds[reps / 2]);
    rc = 0;
done:
    if (rc != 0) cudaDeviceSynchronize(); /* leave nothing in flight behind a failure */
    for (int i = 0; i < created; i++) cudaEventDestroy(events[i]);
    free(events);
    free(seconds);
    return rc;
}

int gpu_copy(void *dst, const void *src, size_t bytes)
{
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0) == cudaSuccess ? 0 : -1;
}
