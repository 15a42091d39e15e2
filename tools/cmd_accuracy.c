/* fp8block accuracy: is block FP8 accurate enough, and where does coarser scaling fail?
 *
 * On data shaped like real layers (A: activations M×K, B: weights N×K), it computes
 * D = A·Bᵀ four ways and compares each with an fp64 product of the original fp32 inputs:
 *   fp8block     1x128 × 128x128 block scales, through the library (the context given)
 *   per-tensor   e4m3 with one scale per operand (amax/448), fp64 product
 *   per-row      e4m3 with one scale per row of A and per row of B (output channel)
 *   bf16         inputs rounded to bf16, fp64 product
 * and reports the relative Frobenius error, the worst row's relative error (a row that a
 * coarse scale flushed to zero hides in the Frobenius norm of the whole matrix, not here),
 * the max abs error, the cosine similarity, and each operand's quantization SNR.
 * The emulations round with the contract's rules (scale amax/448 in fp32, round to nearest
 * even, saturate at ±448) in this file; fp8block's numbers come from the library itself. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "devmem.h"
#include "report.h"
#include "rng.h"

typedef enum { S_FP8BLOCK, S_PER_TENSOR, S_PER_ROW, S_BF16, SCHEMES } scheme;
static const char *scheme_names[SCHEMES] = {"fp8block", "per-tensor", "per-row", "bf16"};
static const char *scheme_what[SCHEMES] = {
    "e4m3, A 1x128 and B 128x128 block scales (fp8block, through the library)",
    "e4m3, one scale per operand (amax/448)",
    "e4m3, one scale per row of A and per row of B",
    "inputs rounded to bf16",
};

typedef enum { D_NORMAL, D_UNIFORM, D_STUDENT_T, D_OUTLIER_CHANNELS, D_ROW_MAGNITUDES, DISTRIBUTIONS } distribution;
static const char *dist_names[DISTRIBUTIONS] = {"normal", "uniform", "student-t", "outlier-channels",
                                                "row-magnitudes"};
static const char *dist_what[DISTRIBUTIONS] = {
    "A ~ N(0,1); B ~ N(0,0.02^2)",
    "A ~ U(-sqrt3,sqrt3); B ~ 0.02 U(-sqrt3,sqrt3)",
    "A and B/0.02 ~ Student-t with 3 degrees of freedom (heavy tails)",
    "A ~ N(0,1) with 1 channel (column) in 256 scaled 100x, as LLM activations; B ~ N(0,0.02^2)",
    "A ~ N(0,1) times 10^u per row, u ~ U(-3,3) (rows of very different magnitude); B ~ N(0,0.02^2)",
};

enum { STUDENT_T_DOF = 3, OUTLIER_EVERY = 256 };
static const double OUTLIER_GAIN = 100.0, WEIGHT_STD = 0.02, ROW_DECADES = 3.0;

typedef struct {
    int ok;
    char why[200];
    double rel_frobenius, worst_row, max_abs, cosine, snr_a_db, snr_a_worst_row_db, snr_b_db;
} metrics;

typedef struct {
    const char *device, *plot, *json;
    int64_t m, n, k;
    int64_t seed;
} accuracy_options;

static void usage(FILE *f)
{
    fprintf(f, "usage: fp8block accuracy [--m M] [--n N] [--k K] [--seed S] [--device auto|cpu|cuda[:N]]\n"
               "                         [--json F] [--plot DIR]\n"
               "Block FP8 (fp8block) against per-tensor FP8, per-row FP8 and bf16 inputs, on normal,\n"
               "uniform, Student-t, outlier-channel and row-magnitude data: errors of D = A*B^T against\n"
               "an fp64 product of the original inputs, and each operand's quantization SNR.\n"
               "Defaults: M=512 N=512 K=2048, seed 1, --device auto. --plot writes DIR/accuracy.json\n"
               "(unless --json) and DIR/accuracy.png through bench/plot.py.\n");
}

static int parse_options(int argc, char **argv, accuracy_options *o)
{
    *o = (accuracy_options){.device = "auto", .m = 512, .n = 512, .k = 2048, .seed = 1};
    const cli_option options[] = {
        {"--m", CLI_INT, &o->m, 1},          {"--n", CLI_INT, &o->n, 1},           {"--k", CLI_INT, &o->k, 1},
        {"--seed", CLI_INT, &o->seed, 0},     {"--device", CLI_TEXT, &o->device, 0}, {"--plot", CLI_TEXT, &o->plot, 0},
        {"--json", CLI_TEXT, &o->json, 0},
    };
    if (cli_parse_options("accuracy", argc, argv, options, (int)(sizeof options / sizeof options[0]), usage))
        return -1;
    return cli_check_output("accuracy", "--json", o->json) || cli_check_output("accuracy", "--plot", o->plot) ? -1 : 0;
}

/* ---- data ------------------------------------------------------------------------------ */

static double student_t(rng_state *r)
{
    double chi2 = 0;
    for (int i = 0; i < STUDENT_T_DOF; i++) {
        double z = rng_normal(r);
        chi2 += z * z;
    }
    return rng_normal(r) / sqrt(chi2 / STUDENT_T_DOF);
}

static double uniform_unit_variance(rng_state *r) { return (2 * rng_uniform(r) - 1) * sqrt(3.0); }

/* Fills A (m×k) and B (n×k) with distribution d. */
static void generate(distribution d, rng_state *r, float *a, int64_t m, float *b, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < m; i++) {
        double row_gain = d == D_ROW_MAGNITUDES ? pow(10.0, ROW_DECADES * (2 * rng_uniform(r) - 1)) : 1.0;
        for (int64_t j = 0; j < k; j++) {
            double x = d == D_UNIFORM ? uniform_unit_variance(r) : d == D_STUDENT_T ? student_t(r) : rng_normal(r);
            if (d == D_OUTLIER_CHANNELS && j % OUTLIER_EVERY == OUTLIER_EVERY / 2) x *= OUTLIER_GAIN;
            a[i * k + j] = (float)(x * row_gain);
        }
    }
    for (int64_t i = 0; i < n * k; i++) {
        double x = d == D_UNIFORM ? uniform_unit_variance(r) : d == D_STUDENT_T ? student_t(r) : rng_normal(r);
        b[i] = (float)(x * WEIGHT_STD);
    }
}

/* ---- the emulated schemes -------------------------------------------------------------- */

/* v rounded to the nearest e4m3 value, ties to even, saturating at ±448: the grid has 3
 * fraction bits above 2^-6 and a fixed step of 2^-9 below (subnormals). */
static double e4m3_round(double v)
{
    double mag = fabs(v);
    if (mag >= 448.0) return copysign(448.0, v);
    int exponent;
    frexp(mag, &exponent); /* mag = f·2^exponent, f in [0.5, 1) */
    double step = ldexp(1.0, (exponent - 1 < -6 ? -6 : exponent - 1) - 3);
    return copysign(nearbyint(mag / step) * step, v); /* default rounding: to nearest even */
}

static double bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The contract's scale: amax/448 in fp32, 1 for an all-zero group. */
static float group_scale(const float *x, int64_t count)
{
    float amax = 0;
    for (int64_t i = 0; i < count; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    return amax > 0 ? amax / 448.0f : 1.0f;
}

/* y = dequantize(quantize(x)) with one scale per group of `group` consecutive elements. */
static void fp8_roundtrip(const float *x, int64_t count, int64_t group, double *y)
{
    for (int64_t g0 = 0; g0 < count; g0 += group) {
        float s = group_scale(x + g0, group);
        for (int64_t i = g0; i < g0 + group; i++) y[i] = e4m3_round((double)(x[i] / s)) * s;
    }
}

/* ---- fp64 products and metrics --------------------------------------------------------- */

typedef struct {
    const double *a, *bt; /* A m×k, Bᵀ k×n */
    double *d;
    int64_t n, k;
} product_job;

static void *product_rows(void *arg, int64_t row_begin, int64_t row_end)
{
    product_job *j = arg;
    for (int64_t i = row_begin; i < row_end; i++) {
        double *di = j->d + i * j->n;
        memset(di, 0, (size_t)j->n * sizeof *di);
        for (int64_t t = 0; t < j->k; t++) {
            double ait = j->a[i * j->k + t];
            const double *bt = j->bt + t * j->n;
            for (int64_t c = 0; c < j->n; c++) di[c] += ait * bt[c];
        }
    }
    return NULL;
}

typedef struct {
    product_job *job;
    int64_t begin, end;
} product_slice;

static void *product_slice_main(void *arg)
{
    product_slice *s = arg;
    return product_rows(s->job, s->begin, s->end);
}

/* d (m×n) = a (m×k) · b (n×k)ᵀ in fp64, rows split over a few threads. */
static int product(const double *a, const double *b, double *d, int64_t m, int64_t n, int64_t k)
{
    enum { THREADS = 8 };
    double *bt = malloc((size_t)(n * k) * sizeof *bt);
    if (!bt) return -1;
    for (int64_t j = 0; j < n; j++)
        for (int64_t t = 0; t < k; t++) bt[t * n + j] = b[j * k + t];
    product_job job = {a, bt, d, n, k};
    pthread_t threads[THREADS];
    product_slice slices[THREADS];
    int started = 0;
    for (int t = 0; t < THREADS; t++) {
        slices[t] = (product_slice){&job, m * t / THREADS, m * (t + 1) / THREADS};
        if (pthread_create(&threads[t], NULL, product_slice_main, &slices[t]) == 0) started |= 1 << t;
        else product_slice_main(&slices[t]);
    }
    for (int t = 0; t < THREADS; t++)
        if (started & (1 << t)) pthread_join(threads[t], NULL);
    free(bt);
    return 0;
}

static double snr_db(const float *x, const double *y, int64_t count)
{
    double signal = 0, noise = 0;
    for (int64_t i = 0; i < count; i++) {
        double e = y[i] - x[i];
        signal += (double)x[i] * x[i];
        noise += e * e;
    }
    return noise > 0 ? 10 * log10(signal / noise) : INFINITY;
}

/* The lowest SNR of one row of A: a row that a coarse scale flushed to zero scores 0 dB. */
static double worst_row_snr_db(const float *x, const double *y, int64_t rows, int64_t cols)
{
    double worst = INFINITY;
    for (int64_t i = 0; i < rows; i++) {
        double row = snr_db(x + i * cols, y + i * cols, cols);
        if (!(row >= worst)) worst = row;
    }
    return worst;
}

static void compare(const double *d, const double *ref, int64_t m, int64_t n, metrics *out)
{
    double err2 = 0, ref2 = 0, d2 = 0, dot = 0, worst = 0, max_abs = 0;
    for (int64_t i = 0; i < m; i++) {
        double row_err2 = 0, row_ref2 = 0;
        for (int64_t j = 0; j < n; j++) {
            double x = d[i * n + j], r = ref[i * n + j], e = x - r;
            row_err2 += e * e, row_ref2 += r * r;
            d2 += x * x, dot += x * r;
            if (!(fabs(e) <= max_abs)) max_abs = fabs(e); /* NaN sticks */
        }
        err2 += row_err2, ref2 += row_ref2;
        double row = row_ref2 > 0 ? sqrt(row_err2 / row_ref2) : 0;
        if (!(row <= worst)) worst = row;
    }
    out->rel_frobenius = sqrt(err2 / ref2);
    out->worst_row = worst;
    out->max_abs = max_abs;
    out->cosine = d2 > 0 ? dot / sqrt(d2 * ref2) : 0;
}

/* ---- fp8block through the library ------------------------------------------------------ */

typedef struct {
    fp8block_ctx *ctx;
    int64_t m, n, k, kb, nb, ldq, ldsa;
    void *x, *d; /* staging buffers where the context computes */
} library_run;

static int lib_failed(library_run *l, fp8block_status st, const char *what, metrics *out)
{
    if (st == FP8BLOCK_OK) return 0;
    snprintf(out->why, sizeof out->why, "%s: %s: %s", what, fp8block_status_string(st), fp8block_last_error(l->ctx));
    return -1;
}

/* Quantizes x (rows×cols) with the library, and returns the codes and scales where the
 * context keeps them (q at qa, s at sa) and the dequantized values in y (host). */
static int lib_quantize(library_run *l, fp8block_block block, const float *x, int64_t rows, uint8_t *q_dev,
                        float *s_dev, int64_t lds, double *y, metrics *out)
{
    size_t x_bytes = (size_t)(rows * l->k) * 4;
    float *host = malloc(x_bytes);
    int rc = -1;
    if (!host || devmem_upload(l->ctx, l->x, x, x_bytes)) {
        snprintf(out->why, sizeof out->why, "copying the inputs to the device failed");
    } else if (!lib_failed(l, fp8block_quantize_ex(l->ctx, block, 0, l->x, FP8BLOCK_F32, rows, l->k, l->k, q_dev,
                                                   l->ldq, s_dev, lds, NULL),
                           "quantize", out)) {
        fp8block_status st = block == FP8BLOCK_BLOCK_1x128
                                 ? fp8block_dequantize_1x128(l->ctx, q_dev, l->ldq, s_dev, lds, rows, l->k, l->x,
                                                             FP8BLOCK_F32, l->k, NULL)
                                 : fp8block_dequantize_128x128(l->ctx, q_dev, l->ldq, s_dev, lds, rows, l->k, l->x,
                                                               FP8BLOCK_F32, l->k, NULL);
        if (!lib_failed(l, st, "dequantize", out)) {
            if (devmem_download(l->ctx, host, l->x, x_bytes)) {
                snprintf(out->why, sizeof out->why, "copying the results back failed");
            } else {
                for (int64_t i = 0; i < rows * l->k; i++) y[i] = host[i];
                rc = 0;
            }
        }
    }
    free(host);
    return rc;
}

/* fp8block's D (fp32 out, so that only the quantization and the GEMM's own arithmetic
 * count) and the dequantized operands for the SNR. */
static int run_fp8block(fp8block_ctx *ctx, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                        double *ya, double *yb, double *d, metrics *out)
{
    library_run l = {.ctx = ctx, .m = m, .n = n, .k = k, .kb = cli_ceil_div(k, 128), .nb = cli_ceil_div(n, 128),
                     .ldq = (k + 15) / 16 * 16, .ldsa = (m + 3) / 4 * 4};
    int64_t rows = m > n ? m : n;
    uint8_t *qa = devmem_alloc(ctx, (size_t)(m * l.ldq)), *qb = devmem_alloc(ctx, (size_t)(n * l.ldq));
    float *sa = devmem_alloc(ctx, (size_t)(l.kb * l.ldsa) * 4), *sb = devmem_alloc(ctx, (size_t)(l.nb * l.kb) * 4);
    l.x = devmem_alloc(ctx, (size_t)(rows * k) * 4);
    l.d = devmem_alloc(ctx, (size_t)(m * n) * 4);
    float *host_d = malloc((size_t)(m * n) * 4);
    int rc = -1;
    if (!qa || !qb || !sa || !sb || !l.x || !l.d || !host_d) {
        snprintf(out->why, sizeof out->why, "out of memory");
    } else if (lib_quantize(&l, FP8BLOCK_BLOCK_1x128, a, m, qa, sa, l.ldsa, ya, out) == 0 &&
               lib_quantize(&l, FP8BLOCK_BLOCK_128x128, b, n, qb, sb, l.kb, yb, out) == 0 &&
               !lib_failed(&l, fp8block_gemm(ctx, m, n, k, qa, l.ldq, sa, l.ldsa, qb, l.ldq, sb, l.kb, l.d,
                                             FP8BLOCK_F32, n, NULL),
                           "gemm", out)) {
        if (devmem_sync(ctx) || devmem_download(ctx, host_d, l.d, (size_t)(m * n) * 4)) {
            snprintf(out->why, sizeof out->why, "the device failed in the GEMM");
        } else {
            for (int64_t i = 0; i < m * n; i++) d[i] = host_d[i];
            rc = 0;
        }
    }
    devmem_free(ctx, qa), devmem_free(ctx, qb), devmem_free(ctx, sa), devmem_free(ctx, sb);
    devmem_free(ctx, l.x), devmem_free(ctx, l.d);
    free(host_d);
    return rc;
}

/* ---- one distribution ------------------------------------------------------------------ */

static int evaluate(fp8block_ctx *ctx, distribution dist, const accuracy_options *o, rng_state *r,
                    metrics out[SCHEMES])
{
    int64_t m = o->m, n = o->n, k = o->k, mk, nk, mn;
    /* sizes whose element counts overflow (or whose bytes would) are out of memory, not a wrapped malloc */
    const int fits = !__builtin_mul_overflow(m, k, &mk) && !__builtin_mul_overflow(n, k, &nk) &&
                     !__builtin_mul_overflow(m, n, &mn) && mk <= INT64_MAX / 8 && nk <= INT64_MAX / 8 &&
                     mn <= INT64_MAX / 8;
    float *a = fits ? malloc((size_t)mk * 4) : NULL, *b = fits ? malloc((size_t)nk * 4) : NULL;
    double *ya = fits ? malloc((size_t)mk * 8) : NULL, *yb = fits ? malloc((size_t)nk * 8) : NULL;
    double *ref = fits ? malloc((size_t)mn * 8) : NULL, *d = fits ? malloc((size_t)mn * 8) : NULL;
    int rc = -1;
    if (!a || !b || !ya || !yb || !ref || !d) {
        fprintf(stderr, "fp8block accuracy: out of host memory\n");
        goto done;
    }
    generate(dist, r, a, m, b, n, k);
    for (int64_t i = 0; i < m * k; i++) ya[i] = a[i];
    for (int64_t i = 0; i < n * k; i++) yb[i] = b[i];
    if (product(ya, yb, ref, m, n, k)) goto done;

    for (int s = 0; s < SCHEMES; s++) {
        metrics *x = &out[s];
        memset(x, 0, sizeof *x);
        if (s == S_FP8BLOCK) {
            if (run_fp8block(ctx, a, b, m, n, k, ya, yb, d, x)) {
                fprintf(stderr, "  %-10s %s\n", scheme_names[s], x->why);
                continue;
            }
        } else {
            if (s == S_PER_TENSOR) {
                fp8_roundtrip(a, m * k, m * k, ya);
                fp8_roundtrip(b, n * k, n * k, yb);
            } else if (s == S_PER_ROW) {
                fp8_roundtrip(a, m * k, k, ya);
                fp8_roundtrip(b, n * k, k, yb);
            } else {
                for (int64_t i = 0; i < m * k; i++) ya[i] = bf16_round(a[i]);
                for (int64_t i = 0; i < n * k; i++) yb[i] = bf16_round(b[i]);
            }
            if (product(ya, yb, d, m, n, k)) goto done;
        }
        compare(d, ref, m, n, x);
        x->snr_a_db = snr_db(a, ya, m * k);
        x->snr_a_worst_row_db = worst_row_snr_db(a, ya, m, k);
        x->snr_b_db = snr_db(b, yb, n * k);
        x->ok = 1;
    }
    rc = 0;
done:
    free(a), free(b), free(ya), free(yb), free(ref), free(d);
    return rc;
}

/* ---- reporting ------------------------------------------------------------------------- */

static void print_table(const metrics res[DISTRIBUTIONS][SCHEMES])
{
    printf("%-17s %-10s | %10s %10s %10s %10s | %8s %8s %8s\n", "data", "scheme", "rel-Frob", "worst-row", "max-abs",
           "cosine", "SNR-A", "SNR-A", "SNR-B");
    printf("%-17s %-10s | %10s %10s %10s %10s | %8s %8s %8s\n", "", "", "error", "rel-error", "error", "", "dB",
           "worst-row", "dB");
    for (int dd = 0; dd < DISTRIBUTIONS; dd++) {
        for (int s = 0; s < SCHEMES; s++) {
            const metrics *x = &res[dd][s];
            if (!x->ok) {
                printf("%-17s %-10s | unavailable: %s\n", s ? "" : dist_names[dd], scheme_names[s], x->why);
                continue;
            }
            printf("%-17s %-10s | %10.3e %10.3e %10.3e %10.7f | %8.2f %8.2f %8.2f\n", s ? "" : dist_names[dd],
                   scheme_names[s], x->rel_frobenius, x->worst_row, x->max_abs, x->cosine, x->snr_a_db,
                   x->snr_a_worst_row_db, x->snr_b_db);
        }
    }
}

static void json_metric(FILE *f, const char *name, double v, int last)
{
    fprintf(f, "\"%s\": ", name);
    report_json_number(f, v);
    if (!last) fputs(", ", f);
}

static int write_json(const char *path, fp8block_ctx *ctx, const accuracy_options *o,
                      const metrics res[DISTRIBUTIONS][SCHEMES])
{
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "fp8block accuracy: cannot write %s\n", path), -1;
    fprintf(f, "{\n  \"kind\": \"fp8block-accuracy\",\n  \"date\": ");
    report_json_string(f, report_utc_now());
    fprintf(f, ",\n  \"commit\": ");
    report_json_string(f, report_commit());
    fprintf(f, ",\n  \"device\": ");
    report_json_string(f, cli_context_name(ctx));
    fprintf(f, ",\n  \"m\": %" PRId64 ", \"n\": %" PRId64 ", \"k\": %" PRId64 ", \"seed\": %" PRId64 ",\n", o->m, o->n,
            o->k, o->seed);
    fprintf(f, "  \"reference\": \"fp64 product of the original fp32 inputs\",\n  \"schemes\": {");
    for (int s = 0; s < SCHEMES; s++) {
        fprintf(f, "%s\n    ", s ? "," : "");
        report_json_string(f, scheme_names[s]);
        fputs(": ", f);
        report_json_string(f, scheme_what[s]);
    }
    fprintf(f, "\n  },\n  \"distributions\": [");
    for (int dd = 0; dd < DISTRIBUTIONS; dd++) {
        fprintf(f, "%s\n    {\"name\": ", dd ? "," : "");
        report_json_string(f, dist_names[dd]);
        fprintf(f, ", \"what\": ");
        report_json_string(f, dist_what[dd]);
        fprintf(f, ",\n     \"results\": {");
        for (int s = 0; s < SCHEMES; s++) {
            const metrics *x = &res[dd][s];
            fprintf(f, "%s\n       ", s ? "," : "");
            report_json_string(f, scheme_names[s]);
            fputs(": {", f);
            if (!x->ok) {
                fprintf(f, "\"unavailable\": ");
                report_json_string(f, x->why);
            } else {
                json_metric(f, "rel_frobenius", x->rel_frobenius, 0);
                json_metric(f, "worst_row_rel", x->worst_row, 0);
                json_metric(f, "max_abs", x->max_abs, 0);
                json_metric(f, "cosine", x->cosine, 0);
                json_metric(f, "snr_a_db", x->snr_a_db, 0);
                json_metric(f, "snr_a_worst_row_db", x->snr_a_worst_row_db, 0);
                json_metric(f, "snr_b_db", x->snr_b_db, 1);
            }
            fputc('}', f);
        }
        fprintf(f, "}}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

int cmd_accuracy(int argc, char **argv)
{
    accuracy_options o;
    if (parse_options(argc, argv, &o)) return CLI_EXIT_USAGE;
    fp8block_ctx *ctx = NULL;
    if (cli_open_context(o.device, &ctx, stderr)) return CLI_EXIT_USAGE;
    printf("fp8block accuracy: M=%" PRId64 " N=%" PRId64 " K=%" PRId64 ", seed %" PRId64
           ", fp8block on %s; errors of D = A*B^T against fp64(A*B^T) of the fp32 inputs\n",
           o.m, o.n, o.k, o.seed, cli_context_name(ctx));
    static metrics res[DISTRIBUTIONS][SCHEMES];
    rng_state r;
    rng_seed(&r, o.seed);
    int rc = 0;
    for (int dd = 0; dd < DISTRIBUTIONS && rc == 0; dd++) {
        fprintf(stderr, "[%d/%d] %s: %s\n", dd + 1, DISTRIBUTIONS, dist_names[dd], dist_what[dd]);
        if (evaluate(ctx, (distribution)dd, &o, &r, res[dd])) rc = 1;
        if (!res[dd][S_FP8BLOCK].ok) rc = 1;
    }
    print_table((const metrics(*)[SCHEMES])res);
    printf("worst-row rel-error: the largest relative error of one row of D. SNR: 10 log10(|x|^2 / |x - dequant(x)|^2)\n"
           "over all of A or B, and over A's worst row (0 dB: the row was flushed to zero).\n");

    char plot_json[4096];
    const char *json = o.json;
    if (!json && o.plot) {
        snprintf(plot_json, sizeof plot_json, "%s/accuracy.json", o.plot);
        json = plot_json;
    }
    if (o.plot && report_make_dir(o.plot)) rc = 1;
    else if (json && write_json(json, ctx, &o, (const metrics(*)[SCHEMES])res)) rc = 1;
    else if (o.plot && report_plot("accuracy", json, o.plot)) rc = 1;
    fp8block_destroy(ctx);
    return rc;
}
