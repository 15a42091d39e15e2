/* What the bench tables share (fp8block bench, bench-quant, bench --moe): the run's stamp,
 * the GPU timing of a context's device, the host clock's median on the CPU backend, and
 * random bf16 operands. */
#ifndef FP8BLOCK_BENCH_RUN_H
#define FP8BLOCK_BENCH_RUN_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "fp8block.h"
#include "rng.h"

/* When the run started (UTC, ISO 8601) and what it measures ($FP8BLOCK_COMMIT or "unknown"). */
typedef struct {
    char date[32];
    const char *commit;
} bench_stamp;

void bench_stamp_now(bench_stamp *s);

/* Where a bench table goes (csv NULL: no CSV) and what each of its rows names: ctx's device and
 * the run's stamp, taken when the table is opened. */
typedef struct {
    FILE *table, *csv;
    const char *device;
    bench_stamp stamp;
} bench_output;

void bench_output_open(bench_output *o, const fp8block_ctx *ctx, FILE *table, FILE *csv);

/* The gpu_timing (bench/gpu_timing.h) of ctx's device, L2 flushed by a write before each call;
 * NULL on a CPU context. On a GPU context it says why on stderr, prefixed by `who`, and sets
 * *failed when it has none (a build without bench/gpu_timing.c, or the device refused). */
void *bench_timing_open(const fp8block_ctx *ctx, const char *who, int *failed);
void bench_timing_close(void *timing);

/* The median of reps host-clock timings of fn after warmup untimed calls (the CPU backend's
 * timing); the first failure's status, its reason in why. */
typedef int (*bench_fn)(void *arg, char *why, size_t why_size);
int bench_host_median(bench_fn fn, void *arg, int warmup, int reps, double *median_s, char *why, size_t why_size);

/* count random bf16 in [-1, 1) (malloc'd; NULL when out of memory): one generator step an
 * element, so the largest shapes (2·16384² elements) take about a second. */
uint16_t *bench_random_bf16(rng_state *r, int64_t count);

#endif
