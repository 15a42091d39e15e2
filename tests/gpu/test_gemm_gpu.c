/* fp8block_gemm on a CUDA context against gemm_check's fp64 product of the dequantized
 * operands.
 *
 * Random shapes with M, N, K drawn from {1, 17, 64, 127, 128, 129, 255, 2112, 4096, 7168}
 * or uniformly in between, every output dtype, leading dimensions above the minimum
 * whose padding holds NaN codes and NaN scales (a kernel that reads them poisons its
 * output), outputs poisoned with 0xff bytes (NaN in every dtype) before each call. Each
 * case runs twice and must give identical bits (no races, deterministic stream-K); the
 * padding columns of D must still hold the poison. Every element of every case is checked
 * against gemm_check's bounds (gemm_check_against), the fp64 reference computed on the GPU
 * by the tests' own naive kernel (gemm_reference_gpu.h); on every case of at most
 * CROSS_CHECK_MACS multiply-adds that reference must equal the CPU's (gemm_reference) bit for
 * bit. 16 fixed shapes × 3 dtypes, then RANDOM_CASES random ones.
 *
 *   test_gemm_gpu                      the test (seed from FP8BLOCK_TEST_SEED or fixed)
 *   test_gemm_gpu quick N              the first N cases only (for the sanitizers)
 *   test_gemm_gpu shape M N K          that shape alone, in the three dtypes (a sanitizer
 *                                      run on a chosen plan's ring wrap and tile changes)
 *   test_gemm_gpu concurrent           the two-stream stream-K check only
 *   test_gemm_gpu bench M N K [dtype]  times one shape: L2 flushed, median of 30
 * FP8BLOCK_TEST_16BIT_OUT=1 draws bf16 where f32 would be (for a forced 256-row plan).
 * FP8BLOCK_TEST_PLANT_ROWS=1 multiplies rows 100..109 of every 128-row tile of each D by 1.5
 * before the check (a test of the test: it must then fail on every case with M > 100).
 *
 * Then two threads run stream-K (K-cut) shapes at once, each on its own stream, several calls in
 * flight without a sync between them: the stream-K workspace is shared by the context's
 * streams, so each result must still be the bytes of the same call run alone. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "devmem.h"
#include "gemm_check.h"
#if FP8BLOCK_HAVE_CUDA
#include "gemm_reference_gpu.h"
#endif
#include "rng.h"
#include "testutil.h"

#define BLOCK 128
#define POISON 0xff
#define RANDOM_CASES 204
#define CROSS_CHECK_MACS 50000000.0 /* GPU reference == CPU reference on cases up to this size */

static const int64_t SPECIAL[] = {1, 17, 64, 127, 128, 129, 255, 2112, 4096, 7168};
static const char *const DTYPE_NAMES[] = {"F32", "BF16", "F16"};

static fp8block_ctx *ctx;
static rng_state rng;
static int planting;                                   /* FP8BLOCK_TEST_PLANT_ROWS=1 */
static int planted_cases, planted_caught;              /* cases with planted rows, and those failed */
static int cross_checked, cross_differ;                /* GPU reference against the CPU one */
static int64_t elements_checked;


typedef struct {
    int64_t m, n, k;
    int64_t lda, ldsa, ldb, ldsb, ldd;
    fp8block_dtype dtype;
    int nan_scale; /* one A scale and one B scale are NaN: the output must show it */
} gemm_case;

typedef struct {
    uint8_t *a, *b;
    float *sa, *sb;
    size_t a_bytes, b_bytes, sa_bytes, sb_bytes, d_bytes;
} host_operands;

typedef struct {
    uint8_t *a, *b;
    float *sa, *sb;
    void *d;
} device_operands;

/* Codes of quantized data: the e4m3 code (truncated mantissa) of a value uniform in
 * (-448, 448), which is what quantizing a block of uniform data gives. Padding is NaN,
 * so that reading it shows.
 * Why not uniformly random bytes: their magnitudes span 2^-9..2^8, so one or two products
 * dominate each 128-long dot product, and Hopper's fp8 tensor-core accumulation, which
 * truncates the smaller terms to the exponent of the largest, then misses the contract's
 * 2^-10·Σ|a·b| bound by up to ~20% on a few fp32 outputs in a million (seen on an H100,
 * bench/NOTES.md). Real quantized data has no such spread. */
static uint8_t code_of_uniform(uint32_t bits)
{
    float x;
    uint32_t f = 0x3f800000u | (bits >> 9); /* [1, 2) */
    memcpy(&x, &f, 4);
    x = (x - 1.0f) * 448.0f;
    memcpy(&f, &x, 4);
    int exponent = (int)(f >> 23) - 127;
    uint8_t code = exponent < -6 ? 0 : (uint8_t)(((exponent + 7) << 3) | ((f >> 20) & 7));
    return code | (uint8_t)((bits & 1) << 7);
}

static void random_codes(uint8_t *q, int64_t rows, int64_t cols, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = q + r * ld;
        int64_t c = 0;
        for (; c + 2 <= cols; c += 2) {
            uint64_t bits = rng_next(&rng);
            row[c] = code_of_uniform((uint32_t)bits);
            row[c + 1] = code_of_uniform((uint32_t)(bits >> 32));
        }
        for (; c < cols; c++) row[c] = code_of_uniform((uint32_t)rng_next(&rng));
        memset(row + cols, 0x7f, (size_t)(ld - cols));
    }
}

/* Scales 2^[-9, -3) with random mantissas: products of random codes then stay inside
 * f16's range for K up to 7168. Padding is NaN. */
static void random_scales(float *s, int64_t rows, int64_t cols, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < ld; c++)
            s[r * ld + c] = c < cols ? (float)ldexp(1.0 + rng_uniform(&rng), (int)rng_range(&rng, -10, -4)) : NAN;
}

static int64_t draw_dim(void)
{
    if (rng_uniform(&rng) < 0.65) return SPECIAL[rng_range(&rng, 0, 9)];
    return rng_range(&rng, 1, 7168);
}

static gemm_case draw_case(int index)
{
    gemm_case c;
    memset(&c, 0, sizeof c);
    c.m = draw_dim(), c.n = draw_dim(), c.k = draw_dim();
    c.dtype = (fp8block_dtype[]){FP8BLOCK_BF16, FP8BLOCK_F32, FP8BLOCK_F16}[index % 3];
    /* A forced plan (FP8BLOCK_GEMM_PLAN) may exist for 16-bit outputs only. */
    const char *only_16bit = getenv("FP8BLOCK_TEST_16BIT_OUT");
    if (only_16bit && *only_16bit == '1' && c.dtype == FP8BLOCK_F32) c.dtype = FP8BLOCK_BF16;
    int pad = rng_uniform(&rng) < 0.4;
    int64_t d_align = 16 / (int64_t)dtype_size(c.dtype);
    c.lda = round_up(c.k, 16) + (pad ? 16 * rng_range(&rng, 1, 3) : 0);
    c.ldb = round_up(c.k, 16) + (pad ? 16 : 0);
    c.ldsa = round_up(c.m, 4) + (pad ? 4 : 0);
    c.ldsb = ceil_div(c.k, BLOCK) + (pad ? 3 : 0);
    c.ldd = round_up(c.n, d_align) + (pad ? d_align : 0);
    c.nan_scale = index % 17 == 5;
    return c;
}

static void free_host(host_operands *h)
{
    free(h->a);
    free(h->b);
    free(h->sa);
    free(h->sb);
}

static void free_device(device_operands *d)
{
    devmem_free(ctx, d->a);
    devmem_free(ctx, d->b);
    devmem_free(ctx, d->sa);
    devmem_free(ctx, d->sb);
    devmem_free(ctx, d->d);
}

static int make_operands(const gemm_case *c, host_operands *h, device_operands *d)
{
    int64_t kb = ceil_div(c->k, BLOCK), nb = ceil_div(c->n, BLOCK);
    h->a_bytes = (size_t)(c->m * c->lda);
    h->b_bytes = (size_t)(c->n * c->ldb);
    h->sa_bytes = (size_t)(kb * c->ldsa) * sizeof(float);
    h->sb_bytes = (size_t)(nb * c->ldsb) * sizeof(float);
    h->d_bytes = (size_t)(c->m * c->ldd) * dtype_size(c->dtype);
    h->a = malloc(h->a_bytes), h->b = malloc(h->b_bytes);
    h->sa = malloc(h->sa_bytes), h->sb = malloc(h->sb_bytes);
    d->a = devmem_alloc(ctx, h->a_bytes), d->b = devmem_alloc(ctx, h->b_bytes);
    d->sa = devmem_alloc(ctx, h->sa_bytes), d->sb = devmem_alloc(ctx, h->sb_bytes);
    d->d = devmem_alloc(ctx, h->d_bytes);
    if (!h->a || !h->b || !h->sa || !h->sb || !d->a || !d->b || !d->sa || !d->sb || !d->d) {
        CHECK(0, "out of memory for %" PRId64 "x%" PRId64 "x%" PRId64, c->m, c->n, c->k);
        return 0;
    }
    random_codes(h->a, c->m, c->k, c->lda);
    random_codes(h->b, c->n, c->k, c->ldb);
    random_scales(h->sa, kb, c->m, c->ldsa);
    random_scales(h->sb, nb, kb, c->ldsb);
    if (c->nan_scale) {
        h->sa[(kb - 1) * c->ldsa + c->m / 2] = NAN;
        h->sb[(nb - 1) * c->ldsb] = NAN;
    }
    int bad = devmem_upload(ctx, d->a, h->a, h->a_bytes) || devmem_upload(ctx, d->b, h->b, h->b_bytes) ||
              devmem_upload(ctx, d->sa, h->sa, h->sa_bytes) || devmem_upload(ctx, d->sb, h->sb, h->sb_bytes);
    CHECK(!bad, "upload failed");
    return !bad;
}

static fp8block_status call_gemm_into(const gemm_case *c, const device_operands *d, void *out, void *stream)
{
    return fp8block_gemm(ctx, c->m, c->n, c->k, d->a, c->lda, d->sa, c->ldsa, d->b, c->ldb, d->sb, c->ldsb, out,
                         c->dtype, c->ldd, stream);
}

static fp8block_status call_gemm(const gemm_case *c, const device_operands *d)
{
    return call_gemm_into(c, d, d->d, NULL);
}

/* Poisons D, runs the GEMM, downloads D into `out`. */
static int run_once(const gemm_case *c, const device_operands *d, void *out, size_t bytes)
{
    if (devmem_fill(ctx, d->d, POISON, bytes)) {
        CHECK(0, "poisoning D failed");
        return 0;
    }
    fp8block_status st = call_gemm(c, d);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm: %s: %s", fp8block_status_string(st), fp8block_last_error(ctx));
    if (st != FP8BLOCK_OK) return 0;
    int bad = devmem_sync(ctx) || devmem_download(ctx, out, d->d, bytes);
    CHECK(!bad, "sync/download failed (a kernel fault?)");
    return !bad;
}

static int is_nan_output(const uint8_t *p, fp8block_dtype t)
{
    if (t == FP8BLOCK_F32) {
        float v;
        memcpy(&v, p, 4);
        return isnan(v);
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t == FP8BLOCK_BF16 ? (h & 0x7fff) > 0x7f80 : (h & 0x7fff) > 0x7c00;
}

/* The same bits, or both NaN (a GPU's NaN is canonical; the CPU's keeps the scale's payload). */
static int same_double(double x, double y) { return memcmp(&x, &y, sizeof x) == 0 || (isnan(x) && isnan(y)); }

/* Every element of D (host copy, planted first under FP8BLOCK_TEST_PLANT_ROWS) against the
 * GPU reference; on small cases that reference must equal the CPU's bit for bit. */
static gemm_check_result check_all(const gemm_case *c, const host_operands *h, void *d, const char *label)
{
    gemm_check_result failed;
    memset(&failed, 0, sizeof failed);
    failed.violations = 1, failed.rel_frobenius = INFINITY, failed.first_bad_row = failed.first_bad_col = -1;
    size_t elements = (size_t)(c->m * c->n);
    double *ref = malloc(elements * sizeof *ref), *magnitude = malloc(elements * sizeof *magnitude);
    if (!ref || !magnitude) {
        CHECK(0, "%s: no host memory for the reference", label);
        free(ref), free(magnitude);
        return failed;
    }
#if FP8BLOCK_HAVE_CUDA
    int bad = gemm_reference_gpu(c->m, c->n, c->k, h->a, c->lda, h->sa, c->ldsa, h->b, c->ldb, h->sb, c->ldsb, ref,
                                 magnitude, c->n);
#else
    int bad = gemm_reference(c->m, c->n, c->k, h->a, c->lda, h->sa, c->ldsa, h->b, c->ldb, h->sb, c->ldsb, ref,
                             magnitude, c->n);
#endif
    CHECK(!bad, "%s: the GPU reference failed", label);
    if (!bad && (double)c->m * (double)c->n * (double)c->k <= CROSS_CHECK_MACS) {
        double *cpu_ref = malloc(elements * sizeof *cpu_ref), *cpu_magnitude = malloc(elements * sizeof *cpu_magnitude);
        int cpu_bad = !cpu_ref || !cpu_magnitude ||
                      gemm_reference(c->m, c->n, c->k, h->a, c->lda, h->sa, c->ldsa, h->b, c->ldb, h->sb, c->ldsb,
                                     cpu_ref, cpu_magnitude, c->n) != 0;
        int same = !cpu_bad;
        for (size_t e = 0; same && e < elements; e++) same = same_double(ref[e], cpu_ref[e]) &&
                                                           same_double(magnitude[e], cpu_magnitude[e]);
        CHECK(same, "%s: the GPU reference differs from the CPU reference", label);
        cross_checked++;
        cross_differ += !same;
        free(cpu_ref), free(cpu_magnitude);
    }
    int64_t planted = planting ? gemm_plant_row_corruption(c->m, c->n, d, c->dtype, c->ldd) : 0;
    gemm_check_result r = bad ? failed : gemm_check_against(c->m, c->n, ref, magnitude, c->n, d, c->dtype, c->ldd);
    if (planted) {
        planted_cases++;
        planted_caught += !gemm_check_passed(&r);
        if (gemm_check_passed(&r)) printf("MISSED %s: %lld planted elements passed the checker\n", label, (long long)planted);
        CHECK(gemm_check_passed(&r), "%s: planted: %lld elements of rows 100..109 (mod 128) x1.5", label,
              (long long)planted);
    }
    free(ref), free(magnitude);
    return r;
}

static void test_case(int index, const gemm_case *c)
{
    char label[160];
    snprintf(label, sizeof label, "case %3d %5" PRId64 " x %5" PRId64 " x %5" PRId64 " %-4s ld(%" PRId64 ",%" PRId64
                                  ",%" PRId64 ",%" PRId64 ",%" PRId64 ")%s",
             index, c->m, c->n, c->k, DTYPE_NAMES[c->dtype], c->lda, c->ldsa, c->ldb, c->ldsb, c->ldd,
             c->nan_scale ? " nan-scale" : "");
    host_operands h;
    device_operands d;
    memset(&h, 0, sizeof h);
    memset(&d, 0, sizeof d);
    if (make_operands(c, &h, &d)) {
        uint8_t *first = malloc(h.d_bytes), *second = malloc(h.d_bytes);
        if (first && second && run_once(c, &d, first, h.d_bytes) && run_once(c, &d, second, h.d_bytes)) {
            size_t es = dtype_size(c->dtype);
            int64_t unwritten = 0, padding_touched = 0;
            for (int64_t i = 0; i < c->m; i++) {
                const uint8_t *row = first + (size_t)(i * c->ldd) * es;
                if (!c->nan_scale)
                    for (int64_t j = 0; j < c->n; j++) unwritten += is_nan_output(row + j * es, c->dtype);
                for (size_t b = (size_t)c->n * es; b < (size_t)c->ldd * es; b++) padding_touched += row[b] != POISON;
            }
            CHECK(unwritten == 0, "%s: %" PRId64 " elements NaN (never written?)", label, unwritten);
            CHECK(padding_touched == 0, "%s: %" PRId64 " padding bytes of D overwritten", label, padding_touched);
            CHECK(memcmp(first, second, h.d_bytes) == 0, "%s: two runs differ (a race?)", label);
            gemm_check_result r = check_all(c, &h, first, label);
            CHECK(planting || gemm_check_passed(&r), "%s: outside the contract's bound", label);
            elements_checked += r.elements_checked;
            gemm_check_print(stdout, label, &r);
        }
        free(first);
        free(second);
    }
    free_host(&h);
    free_device(&d);
}

static int bench(int argc, char **argv)
{
    gemm_case c;
    memset(&c, 0, sizeof c);
    c.m = atoll(argv[2]), c.n = atoll(argv[3]), c.k = atoll(argv[4]);
    c.dtype = FP8BLOCK_BF16;
    if (argc > 5) c.dtype = !strcmp(argv[5], "F32") ? FP8BLOCK_F32 : !strcmp(argv[5], "F16") ? FP8BLOCK_F16 : c.dtype;
    c.lda = c.ldb = round_up(c.k, 16);
    c.ldsa = round_up(c.m, 4);
    c.ldsb = ceil_div(c.k, BLOCK);
    c.ldd = round_up(c.n, 16 / (int64_t)dtype_size(c.dtype));
    host_operands h;
    device_operands d;
    if (!make_operands(&c, &h, &d)) return 1;
    size_t flush_bytes = (size_t)256 << 20;
    void *flush = devmem_alloc(ctx, flush_bytes);
    devmem_timer *t = devmem_timer_create(ctx);
    enum { REPS = 30 };
    double times[REPS];
    for (int w = 0; w < 3; w++) call_gemm(&c, &d);
    for (int r = 0; r < REPS; r++) {
        devmem_fill(ctx, flush, r & 0xff, flush_bytes); /* evicts L2; the GEMM queues behind it */
        devmem_timer_start(t);
        fp8block_status st = call_gemm(&c, &d);
        times[r] = devmem_timer_stop_seconds(t);
        if (st != FP8BLOCK_OK) return fprintf(stderr, "gemm: %s\n", fp8block_last_error(ctx)), 1;
    }
    for (int i = 0; i < REPS; i++) /* insertion sort: the median */
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double x = times[j];
            times[j] = times[j - 1], times[j - 1] = x;
        }
    double s = times[REPS / 2];
    double bytes = (double)(c.m * c.k + c.n * c.k) + (double)(c.m * c.n) * (double)dtype_size(c.dtype);
    printf("bench %6" PRId64 " x %6" PRId64 " x %6" PRId64 " %-4s %9.2f us %8.1f TFLOP/s %7.0f GB/s (min %.2f us)\n",
           c.m, c.n, c.k, DTYPE_NAMES[c.dtype], s * 1e6, 2.0 * c.m * c.n * c.k / s * 1e-12, bytes / s * 1e-9,
           times[0] * 1e6);
    devmem_timer_destroy(t);
    devmem_free(ctx, flush);
    free_host(&h);
    free_device(&d);
    return 0;
}

#if FP8BLOCK_HAVE_CUDA
#define CONCURRENT_CALLS 12

typedef struct {
    gemm_case c;
    device_operands d;
    size_t d_bytes;
    void *outs[CONCURRENT_CALLS];
    cudaStream_t stream;
    atomic_int *started; /* both threads start enqueueing together */
    fp8block_status status;
    cudaError_t cuda;
} concurrent_job;

/* Poisons and computes CONCURRENT_CALLS outputs back to back on the job's stream. */
static void *concurrent_worker(void *arg)
{
    concurrent_job *j = arg;
    j->status = FP8BLOCK_OK;
    j->cuda = cudaSuccess;
    atomic_fetch_add(j->started, 1);
    while (atomic_load(j->started) < 2) {
    }
    for (int i = 0; i < CONCURRENT_CALLS && j->status == FP8BLOCK_OK; i++) {
        cudaError_t e = cudaMemsetAsync(j->outs[i], POISON, j->d_bytes, j->stream);
        if (e != cudaSuccess) j->cuda = e;
        j->status = call_gemm_into(&j->c, &j->d, j->outs[i], j->stream);
    }
    cudaError_t e = cudaStreamSynchronize(j->stream);
    if (e != cudaSuccess) j->cuda = e;
    return NULL;
}

static void test_concurrent_streamk(void)
{
    /* Both use the stream-K workspace: 16 tiles cut 8 ways in K, and a partial last wave
     * (68 pairs of 128-row tiles on 66 clusters; 4096 rows would take 192-row tiles,
     * which have no stream-K). */
    static const int64_t shapes[2][3] = {{64, 1024, 7168}, {1024, 2112, 1024}};
    concurrent_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    host_operands h[2];
    memset(h, 0, sizeof h);
    uint8_t *alone[2] = {NULL, NULL}, *got = NULL;
    atomic_int started = 0;
    int ready = 1;
    for (int t = 0; t < 2; t++) {
        gemm_case *c = &jobs[t].c;
        c->m = shapes[t][0], c->n = shapes[t][1], c->k = shapes[t][2];
        c->dtype = t ? FP8BLOCK_F32 : FP8BLOCK_BF16;
        c->lda = c->ldb = round_up(c->k, 16), c->ldsa = round_up(c->m, 4), c->ldsb = ceil_div(c->k, BLOCK);
        c->ldd = round_up(c->n, 16 / (int64_t)dtype_size(c->dtype));
        ready = ready && make_operands(c, &h[t], &jobs[t].d);
        jobs[t].d_bytes = h[t].d_bytes;
        jobs[t].started = &started;
        alone[t] = malloc(h[t].d_bytes);
        ready = ready && alone[t] && run_once(c, &jobs[t].d, alone[t], h[t].d_bytes);
        for (int i = 0; i < CONCURRENT_CALLS && ready; i++) ready = (jobs[t].outs[i] = devmem_alloc(ctx, h[t].d_bytes)) != NULL;
        ready = ready && cudaStreamCreateWithFlags(&jobs[t].stream, cudaStreamNonBlocking) == cudaSuccess;
    }
    CHECK(ready, "concurrent stream-K: setup failed");
    if (ready) {
        gemm_check_result r = gemm_check(jobs[0].c.m, jobs[0].c.n, jobs[0].c.k, h[0].a, jobs[0].c.lda, h[0].sa,
                                         jobs[0].c.ldsa, h[0].b, jobs[0].c.ldb, h[0].sb, jobs[0].c.ldsb, alone[0],
                                         jobs[0].c.dtype, jobs[0].c.ldd, 1);
        CHECK(gemm_check_passed(&r), "concurrent stream-K: the lone run is outside the contract's bound");
        pthread_t ids[2];
        for (int t = 0; t < 2; t++) CHECK(pthread_create(&ids[t], NULL, concurrent_worker, &jobs[t]) == 0, "pthread_create");
        for (int t = 0; t < 2; t++) pthread_join(ids[t], NULL);
        for (int t = 0; t < 2; t++) {
            const gemm_case *c = &jobs[t].c;
            CHECK(jobs[t].status == FP8BLOCK_OK && jobs[t].cuda == cudaSuccess, "concurrent stream-K %" PRId64 "x%" PRId64
                  "x%" PRId64 ": %s / %s", c->m, c->n, c->k, fp8block_status_string(jobs[t].status),
                  cudaGetErrorString(jobs[t].cuda));
            got = realloc(got, h[t].d_bytes);
            int differ = 0;
            for (int i = 0; i < CONCURRENT_CALLS && got; i++)
                differ += devmem_download(ctx, got, jobs[t].outs[i], h[t].d_bytes) != 0 ||
                          memcmp(got, alone[t], h[t].d_bytes) != 0;
            CHECK(got && differ == 0, "concurrent stream-K %" PRId64 "x%" PRId64 "x%" PRId64 ": %d of %d calls differ "
                  "from the call run alone", c->m, c->n, c->k, differ, CONCURRENT_CALLS);
            printf("concurrent stream-K %" PRId64 "x%" PRId64 "x%" PRId64 " %s: %d calls on each of 2 streams, %d differ\n",
                   c->m, c->n, c->k, DTYPE_NAMES[c->dtype], CONCURRENT_CALLS, differ);
        }
    }
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < CONCURRENT_CALLS; i++) devmem_free(ctx, jobs[t].outs[i]);
        if (jobs[t].stream) cudaStreamDestroy(jobs[t].stream);
        free(alone[t]);
        free_host(&h[t]);
        free_device(&jobs[t].d);
    }
    free(got);
}
#endif

int main(int argc, char **argv)
{
    ctx = test_gpu_ctx_or_skip();
    const char *seed_env = getenv("FP8BLOCK_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed0004;
    rng_seed(&rng, seed);
    if (argc >= 5 && !strcmp(argv[1], "bench")) {
        int rc = bench(argc, argv);
        fp8block_destroy(ctx);
        return rc;
    }
    planting = gemm_plant_rows_requested();
    if (planting) printf("FP8BLOCK_TEST_PLANT_ROWS=1: rows 100..109 of every 128-row tile of D x1.5 before the check\n");
    int cases = 0; /* set below from the fixed shapes */
    if (argc >= 3 && !strcmp(argv[1], "quick")) cases = atoi(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "concurrent")) cases = 0;
    int64_t only[3] = {0, 0, 0};
    if (argc >= 2 && !strcmp(argv[1], "shape")) {
        if (argc < 5 || (only[0] = atoll(argv[2])) < 1 || (only[1] = atoll(argv[3])) < 1 ||
            (only[2] = atoll(argv[4])) < 1) {
            fprintf(stderr, "usage: test_gemm_gpu shape M N K (each >= 1)\n");
            fp8block_destroy(ctx);
            return 2;
        }
        cases = 3;
    }
    printf("seed 0x%" PRIx64 "\n", seed);
    /* The shapes the heuristics treat specially come first, then random ones: 64x2112x7168
     * and 128x2048x7168 are 32-wide tiles with K cut in CTA pairs, 128x4096x7168 64-wide
     * ones, 64x1024x7168 is stream-K at small M, 1024x2112x2000 at large M, 4096^3 runs
     * 256-row pairs sharing A, 2048x1856x1000 such pairs over an odd number of N tiles
     * (the last pair's second tile lies past N) and a ragged last K block, 4096x2112x7168
     * and 2112x7168x64 192-row pairs (three math warpgroups; 4096 rows end in a third of
     * a tile), 64x7168x2048 and 127x6990x520 112 and 110 64-wide tiles on up to 132 SMs
     * (the second ends mid-tile, N neither a multiple of 8 nor of 16 bytes in 16 bits). */
    static const int64_t fixed[][3] = {{128, 128, 128},   {1, 1, 1},          {17, 17, 17},       {129, 2112, 255},
                                       {64, 2112, 7168},  {128, 4096, 7168},  {4096, 2112, 7168}, {255, 4096, 129},
                                       {4096, 4096, 4096}, {2112, 7168, 64},  {128, 2048, 7168},  {64, 1024, 7168},
                                       {2048, 1856, 1000}, {1024, 2112, 2000}, {64, 7168, 2048},  {127, 6990, 520}};
    int n_fixed = (int)(sizeof fixed / sizeof fixed[0]);
    if (cases == 0 && !(argc >= 2 && (!strcmp(argv[1], "concurrent") || !strcmp(argv[1], "quick") ||
                                      !strcmp(argv[1], "shape"))))
        cases = 3 * n_fixed + RANDOM_CASES;
    for (int i = 0; i < cases; i++) {
        gemm_case c = draw_case(i);
        if (i < 3 * n_fixed || only[0]) { /* each fixed shape (or the one asked for) in the three dtypes */
            const int64_t *f = only[0] ? only : fixed[i / 3];
            c = draw_case(i);
            c.m = f[0], c.n = f[1], c.k = f[2];
            c.lda = round_up(c.k, 16), c.ldb = c.lda, c.ldsa = round_up(c.m, 4), c.ldsb = ceil_div(c.k, BLOCK);
            c.ldd = round_up(c.n, 16 / (int64_t)dtype_size(c.dtype));
            c.nan_scale = 0;
        }
        test_case(i, &c);
        fflush(stdout);
    }
#if FP8BLOCK_HAVE_CUDA
    if (argc < 3 && !planting) test_concurrent_streamk();
#endif
    printf("%d cases (%d fixed, %d random), %lld output elements checked, every one; GPU reference equal to the "
           "CPU's on %d of %d cross-checked cases\n",
           cases, cases < 3 * n_fixed ? cases : 3 * n_fixed, cases > 3 * n_fixed ? cases - 3 * n_fixed : 0,
           (long long)elements_checked, cross_checked - cross_differ, cross_checked);
    /* the count the full set reaches (a quick run of the fixed shapes cross-checks ~9) */
    if (cases >= 3 * n_fixed + RANDOM_CASES)
        CHECK(cross_checked >= 20, "only %d cases cross-checked against the CPU reference", cross_checked);
    if (planting)
        printf("planted row corruption: the checker failed %d of the %d cases that had rows 100..109%s\n", planted_caught,
               planted_cases, planted_caught == planted_cases ? "" : " (MISSED SOME)");
    fp8block_destroy(ctx);
    return test_finish("test_gemm_gpu");
}
