/* bench_run.h: what the bench tables share. */
#define _POSIX_C_SOURCE 200809L
#include "bench_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "devmem.h"

#ifdef FP8BLOCK_HAVE_BASELINES
#include "gpu_timing.h"
#endif

void bench_stamp_now(bench_stamp *s)
{
    time_t now = time(NULL);
    strftime(s->date, sizeof s->date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const char *commit = getenv("FP8BLOCK_COMMIT");
    s->commit = commit && *commit ? commit : "unknown";
}

void bench_output_open(bench_output *o, const fp8block_ctx *ctx, FILE *table, FILE *csv)
{
    o->table = table, o->csv = csv, o->device = cli_context_name(ctx);
    bench_stamp_now(&o->stamp);
}

void *bench_timing_open(const fp8block_ctx *ctx, const char *who, int *failed)
{
    *failed = 0;
    if (fp8block_device(ctx) < 0) return NULL;
#ifdef FP8BLOCK_HAVE_BASELINES
    char why[256] = "";
    gpu_timing *timing = gpu_timing_create(fp8block_device(ctx), GPU_FLUSH_WRITE, why, sizeof why);
    if (timing) return timing;
    fprintf(stderr, "%s: %s\n", who, why);
#else
    fprintf(stderr, "%s: this build has no GPU timing (bench/gpu_timing.c)\n", who);
#endif
    *failed = 1;
    return NULL;
}

void bench_timing_close(void *timing)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    gpu_timing_destroy(timing);
#else
    (void)timing;
#endif
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_host_median(bench_fn fn, void *arg, int warmup, int reps, double *median_s, char *why, size_t why_size)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) return snprintf(why, why_size, "out of host memory"), -1;
    int rc = 0;
    for (int i = 0; i < warmup && rc == 0; i++) rc = fn(arg, why, why_size);
    for (int i = 0; i < reps && rc == 0; i++) {
        double t0 = devmem_host_seconds();
        rc = fn(arg, why, why_size);
        t[i] = devmem_host_seconds() - t0;
    }
    if (rc == 0) {
        qsort(t, (size_t)reps, sizeof *t, compare_double);
        *median_s = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    }
    free(t);
    return rc;
}

uint16_t *bench_random_bf16(rng_state *r, int64_t count)
{
    uint16_t *x = malloc((size_t)count * sizeof *x);
    if (!x) return NULL;
    for (int64_t i = 0; i < count; i++) {
        float f = (float)((double)(rng_next(r) >> 40) * 0x1p-23 - 1.0);
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
        x[i] = (uint16_t)(u >> 16);
    }
    return x;
}
