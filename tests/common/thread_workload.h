/* A fixed piece of work for thread-safety tests: one job quantizes two random matrices
 * (1x128 and 128x128), dequantizes them, and multiplies them twice (a square-ish GEMM and
 * a long-K one, which on the GPU takes the split-K path), on a given context and stream.
 * Every output is downloaded and hashed, so runs of the same job from different threads
 * can be compared bit for bit. Safe to call from several threads at once: it reports
 * instead of asserting. */
#ifndef FP8BLOCK_TEST_THREAD_WORKLOAD_H
#define FP8BLOCK_TEST_THREAD_WORKLOAD_H

#include <stdint.h>

#include "fp8block.h"

typedef struct {
    uint64_t hash;            /* FNV-1a over every output byte */
    fp8block_status status;   /* the first call that did not answer OK, or FP8BLOCK_OK */
    char message[256];        /* its fp8block_last_error, read on the calling thread */
} workload_outcome;

/* job selects the shapes and the data; small: shapes for compute-sanitizer runs.
 * stream: a cudaStream_t on a CUDA context (NULL: the default stream), ignored on the CPU. */
workload_outcome workload_run(fp8block_ctx *ctx, void *stream, int job, int small);

/* Runs jobs 0 .. threads·jobs_per_thread-1 alone on the calling thread, then `rounds` times
 * from `threads` threads at once (a different mix of jobs per thread each round), and
 * CHECKs (testutil.h) that every concurrent run gave the bytes of its run alone. Each
 * thread works on the stream new_stream() gives it (NULL functions: the default stream).
 * Returns the message of a call answered FP8BLOCK_ERR_UNSUPPORTED (checks stop there), or NULL. */
typedef struct {
    int threads, jobs_per_thread, rounds, small;
    void *(*new_stream)(void);
    void (*destroy_stream)(void *stream);
} workload_concurrency;
const char *workload_check_concurrent(fp8block_ctx *ctx, workload_concurrency how);

#endif
