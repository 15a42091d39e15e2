#include "gpu_timing.h"

#include <stdint.h>
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

const char *gpu_timing_flush_name(const gpu_timing *t)
{
    return t->kind == GPU_FLUSH_READ ? "read-only pass" : "memset";
}

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

#define MAX_METHODS 64

/* A fresh shuffle of the methods for each round (Fisher-Yates on a xorshift stream): in
 * one fixed order each method would always follow the same other one, and at the largest
 * shapes a GEMM's time depends on the clock the previous one leaves behind. */
static void round_order(int *order, int count, uint32_t *state)
{
    for (int j = 0; j < count; j++) order[j] = j;
    for (int j = count - 1; j > 0; j--) {
        uint32_t x = *state;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        *state = x;
        int pick = (int)(x % (uint32_t)(j + 1)), kept = order[j];
        order[j] = order[pick], order[pick] = kept;
    }
}

int gpu_timing_medians(gpu_timing *t, gpu_timed_method *m, int count, int warmup, int reps)
{
    if (reps < 1) reps = 1;
    if (count < 1) return 0;
    if (count > MAX_METHODS) {
        for (int j = 0; j < count; j++) {
            m[j].median_s = 0, m[j].failed = 1;
            why_printf(m[j].why, sizeof m[j].why, "at most %d methods are timed in turn", MAX_METHODS);
        }
        return -1;
    }
    for (int j = 0; j < count; j++) {
        m[j].median_s = 0, m[j].failed = 0, m[j].why[0] = '\0';
        for (int i = 0; i < warmup && !m[j].failed; i++)
            m[j].failed = m[j].fn(m[j].arg, m[j].why, sizeof m[j].why) != 0;
        /* A launch refused by the runtime leaves its error behind: it is this method's
         * (in its why), not the batch's. */
        if (m[j].failed) (void)cudaGetLastError();
    }
    size_t slots = (size_t)reps * (size_t)count; /* slot i * count + j: round i, method j */
    cudaEvent_t *events = calloc(2 * slots, sizeof *events);
    double *seconds = calloc(slots, sizeof *seconds);
    size_t created = 0;
    int rc = -1;
    char batch_why[200] = "";
    if (!events || !seconds) {
        why_printf(batch_why, sizeof batch_why, "out of host memory");
        goto done;
    }
    for (; created < 2 * slots; created++) {
        cudaError_t e = cudaEventCreate(&events[created]);
        if (e != cudaSuccess) {
            why_printf(batch_why, sizeof batch_why, "cudaEventCreate: %s", cudaGetErrorString(e));
            goto done;
        }
    }
    int order[MAX_METHODS];
    uint32_t shuffle_state = 0x9e3779b9u; /* fixed: the same orders on every run */
    for (int i = 0; i < reps; i++) {
        round_order(order, count, &shuffle_state);
        for (int turn = 0; turn < count; turn++) {
            const int j = order[turn];
            if (m[j].failed) continue;
            size_t slot = (size_t)i * (size_t)count + (size_t)j;
            cudaError_t flushed = flush_l2(t);
            if (flushed != cudaSuccess) {
                why_printf(batch_why, sizeof batch_why, "L2 flush: %s", cudaGetErrorString(flushed));
                goto done;
            }
            cudaError_t started = cudaEventRecord(events[2 * slot], 0);
            m[j].failed = m[j].fn(m[j].arg, m[j].why, sizeof m[j].why) != 0;
            if (m[j].failed) (void)cudaGetLastError();
            cudaError_t ended = cudaEventRecord(events[2 * slot + 1], 0);
            if (started != cudaSuccess || ended != cudaSuccess) {
                why_printf(batch_why, sizeof batch_why, "cudaEventRecord: %s",
                           cudaGetErrorString(started != cudaSuccess ? started : ended));
                goto done;
            }
        }
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess) {
        why_printf(batch_why, sizeof batch_why, "CUDA error in the timed work: %s", cudaGetErrorString(e));
        goto done;
    }
    for (int j = 0; j < count; j++) {
        if (m[j].failed) continue;
        double *mine = seconds + (size_t)j * (size_t)reps;
        for (int i = 0; i < reps; i++) {
            size_t slot = (size_t)i * (size_t)count + (size_t)j;
            float ms = 0;
            cudaError_t timed = cudaEventElapsedTime(&ms, events[2 * slot], events[2 * slot + 1]);
            if (timed != cudaSuccess) {
                why_printf(batch_why, sizeof batch_why, "cudaEventElapsedTime: %s", cudaGetErrorString(timed));
                goto done;
            }
            mine[i] = 1e-3 * ms;
        }
        qsort(mine, (size_t)reps, sizeof *mine, compare_double);
        m[j].median_s = reps % 2 ? mine[reps / 2] : 0.5 * (mine[reps / 2 - 1] + mine[reps / 2]);
    }
    rc = 0;
done:
    if (rc != 0) {
        cudaDeviceSynchronize(); /* leave nothing in flight behind a failure */
        for (int j = 0; j < count; j++)
            if (!m[j].failed) m[j].failed = 1, why_printf(m[j].why, sizeof m[j].why, "%s", batch_why);
    }
    for (size_t i = 0; i < created; i++) cudaEventDestroy(events[i]);
    free(events);
    free(seconds);
    return rc;
}

int gpu_timing_median(gpu_timing *t, gpu_timed_fn fn, void *arg, int warmup, int reps, double *median_s, char *why,
                      size_t why_size)
{
    gpu_timed_method m = {.fn = fn, .arg = arg};
    int rc = gpu_timing_medians(t, &m, 1, warmup, reps);
    if (rc != 0 || m.failed) {
        why_printf(why, why_size, "%s", m.why);
        return -1;
    }
    *median_s = m.median_s;
    return 0;
}

int gpu_copy(void *dst, const void *src, size_t bytes)
{
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0) == cudaSuccess ? 0 : -1;
}
