#define _POSIX_C_SOURCE 200809L
#include "thread_workload.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

typedef struct {
    fp8block_ctx *ctx;
    void *stream;
    workload_outcome *out;
} session;

static int on_gpu(const session *s) { return fp8block_device(s->ctx) >= 0; }

/* Copies go through the caller's stream, so threads with their own streams overlap. */
static int copy(const session *s, void *dst, const void *src, size_t bytes, int to_device)
{
#if FP8BLOCK_HAVE_CUDA
    if (on_gpu(s))
        return cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost,
                               (cudaStream_t)s->stream) == cudaSuccess &&
                       cudaStreamSynchronize((cudaStream_t)s->stream) == cudaSuccess
                   ? 0
                   : -1;
#endif
    (void)to_device;
    return on_gpu(s) ? -1 : (memcpy(dst, src, bytes), 0);
}

static void note(session *s, fp8block_status st, const char *what)
{
    if (st == FP8BLOCK_OK || s->out->status != FP8BLOCK_OK) return;
    s->out->status = st;
    snprintf(s->out->message, sizeof s->out->message, "%s: %s", what, fp8block_last_error(NULL));
}

static void *device_buffer(session *s, size_t bytes)
{
    void *p = devmem_alloc(s->ctx, bytes);
    if (!p) note(s, FP8BLOCK_ERR_OUT_OF_MEMORY, "devmem_alloc");
    return p;
}

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) *h = (*h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
}

/* Downloads `lines` lines at stride `ld` and hashes their first `owned` elements (the
 * padding was never written). */
static void hash_output(session *s, const void *dev, int64_t lines, int64_t ld, int64_t owned, size_t elem)
{
    size_t bytes = (size_t)((lines - 1) * ld + owned) * elem;
    uint8_t *host = malloc(bytes);
    if (!host || copy(s, host, dev, bytes, 0) != 0) note(s, FP8BLOCK_ERR_CUDA, "download");
    else
        for (int64_t l = 0; l < lines; l++) hash_bytes(&s->out->hash, host + (size_t)(l * ld) * elem, (size_t)owned * elem);
    free(host);
}

static void *upload_random_bf16(session *s, rng_state *rng, int64_t count, float scale)
{
    uint16_t *host = malloc((size_t)count * 2);
    void *dev = device_buffer(s, (size_t)count * 2);
    if (host && dev) {
        for (int64_t i = 0; i < count; i++) host[i] = ref_bf16_from_f32((float)rng_normal(rng) * scale);
        if (copy(s, dev, host, (size_t)count * 2, 1) != 0) note(s, FP8BLOCK_ERR_CUDA, "upload");
    }
    free(host);
    return dev;
}


typedef struct {
    int64_t rows, k;
    void *x;
    uint8_t *q;
    float *s;
    int64_t lds;
} operand;

/* x (rows × k, BF16) quantized with `block`; lds padded to a multiple of 4 for GEMM use. */
static operand quantized(session *s, rng_state *rng, int64_t rows, int64_t k, fp8block_block block)
{
    operand o = {rows, k, NULL, NULL, NULL, 0};
    int64_t kb = ceil_div(k, 128), lines = block == FP8BLOCK_BLOCK_1x128 ? kb : ceil_div(rows, 128);
    o.lds = block == FP8BLOCK_BLOCK_1x128 ? (rows + 3) / 4 * 4 : kb;
    o.x = upload_random_bf16(s, rng, rows * k, (float)(1 << rng_range(rng, 0, 8)));
    o.q = device_buffer(s, (size_t)(rows * k));
    o.s = device_buffer(s, (size_t)(lines * o.lds) * 4);
    if (s->out->status != FP8BLOCK_OK) return o;
    note(s, fp8block_quantize_ex(s->ctx, block, 0, o.x, FP8BLOCK_BF16, rows, k, k, o.q, k, o.s, o.lds, s->stream),
         "quantize");
    return o;
}

static void operand_free(session *s, operand *o)
{
    devmem_free(s->ctx, o->x), devmem_free(s->ctx, o->q), devmem_free(s->ctx, o->s);
}

static void dequantize_and_hash(session *s, const operand *o, fp8block_block block)
{
    void *y = device_buffer(s, (size_t)(o->rows * o->k) * 4);
    if (y && s->out->status == FP8BLOCK_OK) {
        fp8block_status st =
            block == FP8BLOCK_BLOCK_1x128
                ? fp8block_dequantize_1x128(s->ctx, o->q, o->k, o->s, o->lds, o->rows, o->k, y, FP8BLOCK_F32, o->k, s->stream)
                : fp8block_dequantize_128x128(s->ctx, o->q, o->k, o->s, o->lds, o->rows, o->k, y, FP8BLOCK_F32, o->k,
                                              s->stream);
        note(s, st, "dequantize");
        if (st == FP8BLOCK_OK) hash_output(s, y, o->rows, o->k, o->k, 4);
    }
    devmem_free(s->ctx, y);
}

static void gemm_and_hash(session *s, rng_state *rng, int64_t m, int64_t n, int64_t k)
{
    operand a = quantized(s, rng, m, k, FP8BLOCK_BLOCK_1x128), b = quantized(s, rng, n, k, FP8BLOCK_BLOCK_128x128);
    int64_t ldd = (n + 7) / 8 * 8;
    void *d = device_buffer(s, (size_t)(m * ldd) * 2);
    if (s->out->status == FP8BLOCK_OK) {
        hash_output(s, a.q, m, k, k, 1), hash_output(s, a.s, ceil_div(k, 128), a.lds, m, 4);
        hash_output(s, b.q, n, k, k, 1), hash_output(s, b.s, ceil_div(n, 128), b.lds, ceil_div(k, 128), 4);
        dequantize_and_hash(s, &a, FP8BLOCK_BLOCK_1x128);
        dequantize_and_hash(s, &b, FP8BLOCK_BLOCK_128x128);
        fp8block_status st = fp8block_gemm(s->ctx, m, n, k, a.q, k, a.s, a.lds, b.q, k, b.s, b.lds, d, FP8BLOCK_BF16,
                                           ldd, s->stream);
        note(s, st, "gemm");
        if (st == FP8BLOCK_OK) hash_output(s, d, m, ldd, n, 2);
    }
    devmem_free(s->ctx, d);
    operand_free(s, &a), operand_free(s, &b);
}

workload_outcome workload_run(fp8block_ctx *ctx, void *stream, int job, int small)
{
    workload_outcome out = {0xcbf29ce484222325ull, FP8BLOCK_OK, ""};
    session s = {ctx, stream, &out};
    rng_state rng;
    rng_seed(&rng, 0x7ead0000u + (uint64_t)job);
    int64_t m = small ? 40 + job % 50 : 64 + (job * 37) % 200;
    int64_t n = small ? 72 + (job * 13) % 60 : 96 + (job * 53) % 240;
    int64_t k = 128 * (1 + job % 4) + 16 * (job % 3);
    gemm_and_hash(&s, &rng, m, n, k);
    gemm_and_hash(&s, &rng, small ? 16 : 64, small ? 64 : 128, small ? 2048 : 8192 + 16 * (job % 5)); /* long K */
    return out;
}

enum { MAX_THREADS = 16, MAX_JOBS = 256 };

typedef struct {
    fp8block_ctx *ctx;
    const workload_concurrency *how;
    int thread, round, jobs;
    workload_outcome *results; /* indexed by job */
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    void *stream = w->how->new_stream ? w->how->new_stream() : NULL;
    for (int i = 0; i < w->how->jobs_per_thread; i++) {
        int job = (w->thread + i * w->how->threads + w->round) % w->jobs;
        if (w->how->new_stream && !stream)
            w->results[job] = (workload_outcome){0, FP8BLOCK_ERR_CUDA, "could not create a stream"};
        else
            w->results[job] = workload_run(w->ctx, stream, job, w->how->small);
    }
    if (stream && w->how->destroy_stream) w->how->destroy_stream(stream);
    return NULL;
}

const char *workload_check_concurrent(fp8block_ctx *ctx, workload_concurrency how)
{
    static char unsupported[300];
    static workload_outcome alone[MAX_JOBS], together[MAX_JOBS];
    int jobs = how.threads * how.jobs_per_thread;
    if (how.threads > MAX_THREADS || jobs > MAX_JOBS) {
        CHECK(0, "workload_check_concurrent: at most %d threads and %d jobs", MAX_THREADS, MAX_JOBS);
        return NULL;
    }
    for (int j = 0; j < jobs; j++) {
        alone[j] = workload_run(ctx, NULL, j, how.small);
        if (alone[j].status == FP8BLOCK_ERR_UNSUPPORTED) {
            snprintf(unsupported, sizeof unsupported, "%s", alone[j].message);
            return unsupported;
        }
        CHECK(alone[j].status == FP8BLOCK_OK, "job %d alone: %s", j, alone[j].message);
    }
    for (int r = 0; r < how.rounds; r++) {
        pthread_t ids[MAX_THREADS];
        worker_arg args[MAX_THREADS];
        for (int t = 0; t < how.threads; t++) {
            args[t] = (worker_arg){ctx, &how, t, r, jobs, together};
            CHECK(pthread_create(&ids[t], NULL, worker, &args[t]) == 0, "pthread_create");
        }
        for (int t = 0; t < how.threads; t++) pthread_join(ids[t], NULL);
        for (int j = 0; j < jobs; j++) {
            CHECK(together[j].status == FP8BLOCK_OK, "round %d job %d: %s", r, j, together[j].message);
            CHECK(together[j].hash == alone[j].hash,
                  "round %d job %d: results differ from the same job run alone (hash %016llx, alone %016llx)", r, j,
                  (unsigned long long)together[j].hash, (unsigned long long)alone[j].hash);
        }
    }
    return NULL;
}
