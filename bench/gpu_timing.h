/* Timing on a CUDA device, done the same way for every method so that ratios mean
 * something:
 *   - before each timed call an L2 flush over a buffer twice the size of L2 (not timed),
 *     so operands come from HBM as they would in a model, not from a warm L2. Two kinds:
 *     GPU_FLUSH_WRITE, a memset (PERFORMANCE.md's reference points were taken so), leaves
 *     L2 full of dirty lines whose write-back the timed call pays; GPU_FLUSH_READ, a
 *     read-only kernel, leaves clean lines, as a model's previous layer mostly does
 *     (weights are read, not written);
 *   - every call bracketed by CUDA events, all of them queued before one wait, so the
 *     host's launch cost hides behind the flush instead of being timed;
 *   - warm-up calls first, then the median of the timed ones; methods compared with each
 *     other can be timed in turn, call by call, in a new shuffled order each round
 *     (gpu_timing_medians).
 * Work is enqueued on the default stream. */
#ifndef FP8BLOCK_BENCH_GPU_TIMING_H
#define FP8BLOCK_BENCH_GPU_TIMING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpu_timing gpu_timing;

typedef enum { GPU_FLUSH_WRITE, GPU_FLUSH_READ } gpu_flush;

/* NULL on failure, with the reason in why. */
gpu_timing *gpu_timing_create(int device, gpu_flush flush, char *why, size_t why_size);
void gpu_timing_destroy(gpu_timing *t);

/* Bytes of the L2 flush buffer (twice the device's L2). */
size_t gpu_timing_flush_bytes(const gpu_timing *t);

/* How L2 is flushed, for reports: "memset" or "read-only pass". */
const char *gpu_timing_flush_name(const gpu_timing *t);

/* Enqueues the work to time on the default stream; 0 on success. On failure it writes
 * the reason into why and returns non-zero. */
typedef int (*gpu_timed_fn)(void *arg, char *why, size_t why_size);

/* Runs fn `warmup` times, then `reps` timed times; *median_s gets the median seconds.
 * Returns 0, or -1 with the reason (fn's own or a CUDA error) in why. */
int gpu_timing_median(gpu_timing *t, gpu_timed_fn fn, void *arg, int warmup, int reps, double *median_s,
                      char *why, size_t why_size);

/* Methods compared against each other, timed in turn call by call (flush, one method,
 * flush, the next, ..., round after round): a slow stretch of the device, which a run of
 * one method's calls would absorb alone, falls on all of them alike. */
typedef struct {
    gpu_timed_fn fn;
    void *arg;
    double median_s; /* out */
    int failed;      /* out: non-zero when the method failed; the reason is in why */
    char why[200];   /* out */
} gpu_timed_method;

/* Each method's warm-up calls first (a method that fails there is left out of the timed
 * rounds), then `reps` rounds, each calling every method once in a shuffled order (the
 * same orders on every run). At most 64 methods. Returns 0, or -1 when the batch failed
 * as a whole (a CUDA error in the timed work or the events, no host memory, too many
 * methods): then every method not failed before is marked failed with that reason. */
int gpu_timing_medians(gpu_timing *t, gpu_timed_method *methods, int count, int warmup, int reps);

/* Enqueues a device-to-device copy on the default stream: the bandwidth baseline for
 * the quantize kernels. 0 on success. */
int gpu_copy(void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
