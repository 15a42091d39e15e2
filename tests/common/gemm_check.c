#define _POSIX_C_SOURCE 200809L /* sysconf */
#include "gemm_check.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "reference_codec.h"

#define GEMM_CHECK_BLOCK 128

static double output_element(const void *d, fp8block_dtype dtype, int64_t ldd, int64_t i, int64_t j)
{
    int64_t at = i * ldd + j;
    switch (dtype) {
    case FP8BLOCK_F32: {
        float v;
        memcpy(&v, (const char *)d + at * 4, sizeof v);
        return v;
    }
    case FP8BLOCK_BF16: {
        uint16_t h;
        memcpy(&h, (const char *)d + at * 2, sizeof h);
        return ref_bf16_to_f64(h);
    }
    case FP8BLOCK_F16: {
        uint16_t h;
        memcpy(&h, (const char *)d + at * 2, sizeof h);
        return ref_f16_to_f64(h);
    }
    default: return NAN;
    }
}

static double unit_roundoff(fp8block_dtype dtype)
{
    return dtype == FP8BLOCK_BF16 ? 0x1p-8 : dtype == FP8BLOCK_F16 ? 0x1p-11 : 0x1p-22;
}

/* Largest finite value of the output type: above it, ±inf is the right rounding. */
static double max_finite(fp8block_dtype dtype)
{
    return dtype == FP8BLOCK_BF16 ? 0x1.fep127 : dtype == FP8BLOCK_F16 ? 65504.0 : 0x1.fffffep127;
}

/* What one output row gave; rows are merged in order, so the result does not depend on
 * how rows were spread over threads. */
typedef struct {
    int64_t violations, bad_col;
    double max_abs_error, max_error_ratio, error_sq, ref_sq;
    double bad_value, bad_ref, bad_bound;
} row_result;

typedef struct {
    int64_t m, n, k;
    const uint8_t *a, *b;
    const float *sa, *sb;
    int64_t lda, ldsa, ldb, ldsb;
    const double *code_value;
} operands;

/* Row i of the reference: ref[j] and magnitude[j] for every column. a_row: k doubles. */
static void reference_row(const operands *o, int64_t i, double *a_row, double *ref_row, double *magnitude_row)
{
    int64_t k = o->k, k_blocks = (k + GEMM_CHECK_BLOCK - 1) / GEMM_CHECK_BLOCK;
    /* Row i of A dequantized exactly: an e4m3 value times an fp32 scale fits a double. */
    for (int64_t kk = 0; kk < k; kk++)
        a_row[kk] = o->code_value[o->a[i * o->lda + kk]] * (double)o->sa[(kk / GEMM_CHECK_BLOCK) * o->ldsa + i];
    for (int64_t j = 0; j < o->n; j++) {
        const uint8_t *b_row = o->b + j * o->ldb;
        const float *b_scales = o->sb + (j / GEMM_CHECK_BLOCK) * o->ldsb;
        double ref = 0, magnitude = 0;
        for (int64_t kb = 0; kb < k_blocks; kb++) {
            int64_t k0 = kb * GEMM_CHECK_BLOCK;
            int64_t k1 = k0 + GEMM_CHECK_BLOCK < k ? k0 + GEMM_CHECK_BLOCK : k;
            double block_sum = 0, block_magnitude = 0;
            for (int64_t kk = k0; kk < k1; kk++) {
                double p = a_row[kk] * o->code_value[b_row[kk]];
                block_sum += p;
                block_magnitude += fabs(p);
            }
            ref += block_sum * b_scales[kb];
            magnitude += block_magnitude * fabs((double)b_scales[kb]);
        }
        ref_row[j] = ref;
        magnitude_row[j] = magnitude;
    }
}

/* Row i of D against its reference. */
static void compare_row(int64_t n, const double *ref_row, const double *magnitude_row, const void *d,
                        fp8block_dtype dtype, int64_t ldd, int64_t i, row_result *r)
{
    memset(r, 0, sizeof *r);
    r->bad_col = -1;
    double u = unit_roundoff(dtype), top = max_finite(dtype);
    /* f16 subnormals are 2^-24 apart: rounding there is absolute, up to 2^-25. */
    double absolute_floor = dtype == FP8BLOCK_F16 ? 0x1p-25 : 1e-30;
    for (int64_t j = 0; j < n; j++) {
        double ref = ref_row[j];
        double value = output_element(d, dtype, ldd, i, j);
        double bound = 0x1p-10 * magnitude_row[j] + fabs(ref) * u + absolute_floor;
        int bad = 0;
        if (isnan(ref)) {
            bad = !isnan(value);
        } else if (isinf(value) && fabs(ref) > top && (value > 0) == (ref > 0)) {
            continue;
        } else {
            double error = isfinite(value) ? fabs(value - ref) : INFINITY;
            bad = !(error <= bound);
            if (error > r->max_abs_error) r->max_abs_error = error;
            if (error / bound > r->max_error_ratio) r->max_error_ratio = error / bound;
            r->error_sq += error * error;
            r->ref_sq += ref * ref;
        }
        if (bad && r->violations++ == 0) {
            r->bad_col = j;
            r->bad_value = value;
            r->bad_ref = ref;
            r->bad_bound = bound;
        }
    }
}

/* ---- a fork-join over rows on all cores (the checker's own: it does not lean on the
 * library's threading either) ---- */

typedef struct {
    const operands *o;      /* NULL: the reference comes in ref_in */
    const int64_t *rows;    /* the rows to visit */
    int64_t count;
    const double *ref_in, *magnitude_in; /* compare against these (ldr apart) */
    double *ref_out, *magnitude_out;     /* or write the reference here (no compare) */
    int64_t ldr, n_cols;                 /* with ref_in: the columns of D */
    const void *d;
    fp8block_dtype dtype;
    int64_t ldd;
    row_result *results;   /* one per visited row */
    atomic_llong next;     /* the next chunk of rows to take */
    atomic_int failed;     /* a thread could not get its scratch memory */
} row_job;

enum { ROWS_PER_TAKE = 4 };

static void *row_worker(void *arg)
{
    row_job *job = arg;
    const operands *o = job->o;
    double *a_row = NULL, *ref_row = NULL, *magnitude_row = NULL;
    if (o && !job->ref_out) {
        a_row = malloc((size_t)(o->k > 0 ? o->k : 1) * sizeof *a_row);
        ref_row = malloc((size_t)o->n * sizeof *ref_row);
        magnitude_row = malloc((size_t)o->n * sizeof *magnitude_row);
    } else if (o) {
        a_row = malloc((size_t)(o->k > 0 ? o->k : 1) * sizeof *a_row);
    }
    if (o && (!a_row || (!job->ref_out && (!ref_row || !magnitude_row)))) {
        atomic_store(&job->failed, 1);
    } else {
        for (;;) {
            int64_t begin = (int64_t)atomic_fetch_add(&job->next, ROWS_PER_TAKE);
            if (begin >= job->count) break;
            int64_t end = begin + ROWS_PER_TAKE < job->count ? begin + ROWS_PER_TAKE : job->count;
            for (int64_t at = begin; at < end; at++) {
                int64_t i = job->rows ? job->rows[at] : at;
                if (job->ref_out) {
                    reference_row(o, i, a_row, job->ref_out + i * job->ldr, job->magnitude_out + i * job->ldr);
                } else if (o) {
                    reference_row(o, i, a_row, ref_row, magnitude_row);
                    compare_row(o->n, ref_row, magnitude_row, job->d, job->dtype, job->ldd, i, &job->results[at]);
                } else {
                    compare_row(job->n_cols, job->ref_in + i * job->ldr, job->magnitude_in + i * job->ldr,
                                job->d, job->dtype, job->ldd, i, &job->results[at]);
                }
            }
        }
    }
    free(a_row);
    free(ref_row);
    free(magnitude_row);
    return NULL;
}

static int thread_count(int64_t rows)
{
    long threads = 0;
    const char *env = getenv("FP8BLOCK_NUM_THREADS");
    if (env && *env) threads = strtol(env, NULL, 10);
    if (threads < 1) threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    if (threads > rows) threads = rows > 0 ? (long)rows : 1;
    return (int)threads;
}

/* Runs the job on all cores; 0 when every thread had its memory. */
static int run_rows(row_job *job)
{
    atomic_init(&job->next, 0);
    atomic_init(&job->failed, 0);
    int threads = thread_count(job->count);
    pthread_t ids[256];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&ids[started], NULL, row_worker, job) != 0) break;
        started++;
    }
    row_worker(job);
    for (int t = 0; t < started; t++) pthread_join(ids[t], NULL);
    return atomic_load(&job->failed) ? -1 : 0;
}

static void code_values(double table[256])
{
    for (int c = 0; c < 256; c++) table[c] = ref_e4m3_to_f64((uint8_t)c);
}

static gemm_check_result failed_result(void)
{
    gemm_check_result r;
    memset(&r, 0, sizeof r);
    r.first_bad_row = r.first_bad_col = -1;
    r.violations = 1;
    r.rel_frobenius = INFINITY;
    return r;
}

/* Merges the per-row results in row order. */
static gemm_check_result merge(const row_job *job, int64_t n, fp8block_dtype dtype)
{
    gemm_check_result r;
    memset(&r, 0, sizeof r);
    r.first_bad_row = r.first_bad_col = -1;
    r.frobenius_limit = dtype == FP8BLOCK_BF16 ? 4e-3 : 1e-3;
    double error_sq = 0, ref_sq = 0;
    for (int64_t at = 0; at < job->count; at++) {
        const row_result *x = &job->results[at];
        if (x->violations && r.violations == 0) {
            r.first_bad_row = job->rows ? job->rows[at] : at;
            r.first_bad_col = x->bad_col;
            r.first_bad_value = x->bad_value;
            r.first_bad_ref = x->bad_ref;
            r.first_bad_bound = x->bad_bound;
        }
        r.violations += x->violations;
        if (x->max_abs_error > r.max_abs_error) r.max_abs_error = x->max_abs_error;
        if (x->max_error_ratio > r.max_error_ratio) r.max_error_ratio = x->max_error_ratio;
        error_sq += x->error_sq;
        ref_sq += x->ref_sq;
    }
    r.rows_checked = job->count;
    r.elements_checked = job->count * n;
    if (ref_sq > 0) r.rel_frobenius = sqrt(error_sq / ref_sq);
    else r.rel_frobenius = error_sq == 0 ? 0 : INFINITY;
    return r;
}

gemm_check_result gemm_check(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                             const float *sa, int64_t ldsa, const uint8_t *b, int64_t ldb,
                             const float *sb, int64_t ldsb, const void *d, fp8block_dtype dtype,
                             int64_t ldd, int64_t row_step)
{
    if (row_step < 1) row_step = 1;
    double code_value[256];
    code_values(code_value);
    operands o = {m, n, k, a, b, sa, sb, lda, ldsa, ldb, ldsb, code_value};
    /* Rows 0, row_step, ... and the last one. */
    int64_t count = m > 0 ? (m - 1) / row_step + 1 : 0;
    if (m > 0 && (m - 1) % row_step != 0) count++;
    int64_t *rows = malloc((size_t)(count > 0 ? count : 1) * sizeof *rows);
    row_result *results = calloc((size_t)(count > 0 ? count : 1), sizeof *results);
    if (!rows || !results) {
        free(rows), free(results);
        return failed_result();
    }
    for (int64_t at = 0, i = 0; at < count; at++, i += row_step) rows[at] = i < m ? i : m - 1;
    if (count > 0) rows[count - 1] = m - 1;
    row_job job;
    memset(&job, 0, sizeof job);
    job.o = &o, job.rows = rows, job.count = count, job.d = d, job.dtype = dtype, job.ldd = ldd;
    job.results = results;
    gemm_check_result r = run_rows(&job) == 0 ? merge(&job, n, dtype) : failed_result();
    free(rows);
    free(results);
    return r;
}

int gemm_reference(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                   int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb,
                   double *ref, double *magnitude, int64_t ldr)
{
    double code_value[256];
    code_values(code_value);
    operands o = {m, n, k, a, b, sa, sb, lda, ldsa, ldb, ldsb, code_value};
    row_job job;
    memset(&job, 0, sizeof job);
    job.o = &o, job.count = m, job.ref_out = ref, job.magnitude_out = magnitude, job.ldr = ldr;
    return run_rows(&job);
}

gemm_check_result gemm_check_against(int64_t m, int64_t n, const double *ref, const double *magnitude,
                                     int64_t ldr, const void *d, fp8block_dtype dtype, int64_t ldd)
{
    row_result *results = calloc((size_t)(m > 0 ? m : 1), sizeof *results);
    if (!results || ldr < n) {
        free(results);
        return failed_result();
    }
    row_job job;
    memset(&job, 0, sizeof job);
    job.count = m, job.ref_in = ref, job.magnitude_in = magnitude, job.ldr = ldr;
    job.d = d, job.dtype = dtype, job.ldd = ldd, job.results = results;
    job.n_cols = n;
    gemm_check_result r = run_rows(&job) == 0 ? merge(&job, n, dtype) : failed_result();
    free(results);
    return r;
}

int64_t gemm_plant_row_corruption(int64_t m, int64_t n, void *d, fp8block_dtype dtype, int64_t ldd)
{
    int64_t changed = 0;
    for (int64_t i = 0; i < m; i++) {
        if (i % GEMM_CHECK_BLOCK < 100 || i % GEMM_CHECK_BLOCK > 109) continue;
        for (int64_t j = 0; j < n; j++) {
            int64_t at = i * ldd + j;
            if (dtype == FP8BLOCK_F32) {
                float v, w;
                memcpy(&v, (char *)d + at * 4, 4);
                w = v * 1.5f;
                memcpy((char *)d + at * 4, &w, 4);
                changed += memcmp(&v, &w, 4) != 0;
            } else {
                uint16_t h, planted;
                memcpy(&h, (char *)d + at * 2, 2);
                double v = dtype == FP8BLOCK_BF16 ? ref_bf16_to_f64(h) : ref_f16_to_f64(h);
                float x = (float)(v * 1.5); /* exact: 1.5 × a 16-bit value fits a float */
                planted = dtype == FP8BLOCK_BF16 ? ref_bf16_from_f32(x) : ref_f16_from_f32(x);
                memcpy((char *)d + at * 2, &planted, 2);
                changed += planted != h;
            }
        }
    }
    return changed;
}

int gemm_plant_rows_requested(void)
{
    const char *env = getenv("FP8BLOCK_TEST_PLANT_ROWS");
    return env && env[0] == '1' && env[1] == '\0';
}

int gemm_check_passed(const gemm_check_result *r)
{
    return r->elements_checked > 0 && r->violations == 0 && r->rel_frobenius <= r->frobenius_limit;
}

void gemm_check_print(FILE *f, const char *label, const gemm_check_result *r)
{
    fprintf(f,
            "%s: %s, %lld rows / %lld elements checked, %lld violations, max abs error %.3e, "
            "max error/bound %.3f, rel Frobenius %.3e (limit %.0e)",
            label, gemm_check_passed(r) ? "ok" : "FAILED", (long long)r->rows_checked,
            (long long)r->elements_checked, (long long)r->violations, r->max_abs_error,
            r->max_error_ratio, r->rel_frobenius, r->frobenius_limit);
    if (r->violations)
        fprintf(f, "; first violation D[%lld][%lld] = %.9g, reference %.9g, bound %.3e",
                (long long)r->first_bad_row, (long long)r->first_bad_col, r->first_bad_value,
                r->first_bad_ref, r->first_bad_bound);
    fputc('\n', f);
}

int gemm_reference_b1x128(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                          int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb, double *ref,
                          double *magnitude, int64_t ldr)
{
    const int64_t kb_total = (k + 127) / 128;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double r = 0, mag = 0;
            for (int64_t kb = 0; kb < kb_total; kb++) {
                double inner = 0, inner_abs = 0;
                for (int64_t t = kb * 128; t < k && t < kb * 128 + 128; t++) {
                    double p = ref_e4m3_to_f64(a[i * lda + t]) * ref_e4m3_to_f64(b[j * ldb + t]);
                    inner += p, inner_abs += fabs(p);
                }
                double scale = (double)sa[kb * ldsa + i] * (double)sb[kb * ldsb + j];
                r += inner * scale, mag += inner_abs * fabs(scale);
            }
            ref[i * ldr + j] = r, magnitude[i * ldr + j] = mag;
        }
    return 0;
}
