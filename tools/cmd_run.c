/* fp8block run: the whole pipeline on one problem, end to end.
 *
 * Random bf16 A (M×K) and B (N×K) -> quantize A 1x128 and B 128x128 -> GEMM -> check.
 * With --out e4m3 the GEMM writes e4m3 codes and their 1x128 scales, and the run checks the
 * contract on its own data: they equal, byte for byte, quantize_1x128 of the F32 D the same
 * backend computes (the kernel error is then that F32 D's).
 * Two errors are reported, because they answer different questions:
 *   kernel error        D against fp64(dequant(A)·dequant(B)ᵀ): did the GEMM compute what
 *                       the contract says, on these codes and scales? (pass/fail)
 *   quantization error  D against fp64(A·Bᵀ) of the original inputs: what does FP8 block
 *                       quantization cost on this data? (reported, sanity-bounded) */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "devmem.h"
#include "gemm_check.h"
#include "reference_codec.h"
#include "rng.h"

enum { TIMED_REPS_GPU = 20, WARMUP_REPS_GPU = 3, CHECKED_ROWS = 64 };
static const double QUANT_ERROR_SANITY_LIMIT = 0.1; /* e4m3 block scaling lands near 3e-2 */
static const size_t L2_FLUSH_BYTES = 256u << 20;

typedef struct {
    int64_t m, n, k;
    const char *device;
    fp8block_dtype out;
    int64_t seed;
} run_options;

static void usage(FILE *f)
{
    fprintf(f, "usage: fp8block run [--m M] [--n N] [--k K] [--device auto|cpu|cuda[:N]]\n"
               "                    [--out bf16|fp32|fp16|e4m3] [--seed S]\n"
               "Quantizes random A (MxK, 1x128 blocks) and B (NxK, 128x128 blocks), computes\n"
               "D = A*B^T, checks it, and reports time, TFLOP/s, GB/s, errors and memory.\n"
               "Defaults: M = N = K = 4096, --device auto, --out bf16, --seed 1.\n");
}

static int parse_options(int argc, char **argv, run_options *o)
{
    *o = (run_options){4096, 4096, 4096, "auto", FP8BLOCK_BF16, 1};
    const cli_option options[] = {
        {"--m", CLI_INT, &o->m, 1},           {"--n", CLI_INT, &o->n, 1},   {"--k", CLI_INT, &o->k, 1},
        {"--out", CLI_DTYPE, &o->out, 0},      {"--seed", CLI_INT, &o->seed, 0},
        {"--device", CLI_TEXT, &o->device, 0},
    };
    return cli_parse_options("run", argc, argv, options, (int)(sizeof options / sizeof options[0]), usage);
}

static uint16_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static float bf16_value(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t *random_bf16(rng_state *rng, int64_t rows, int64_t cols)
{
    uint16_t *x = malloc((size_t)(rows * cols) * sizeof *x);
    if (x)
        for (int64_t i = 0; i < rows * cols; i++) x[i] = bf16_bits((float)rng_normal(rng));
    return x;
}

typedef struct {
    const fp8block_ctx *ctx;
    void *flush; /* L2 flush buffer: GPU only */
    devmem_timer *timer;
} timing;

/* Median seconds of `reps` calls, each preceded by an L2 flush on the GPU (not timed). */
static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef fp8block_status (*step_fn)(void *arg);

static int time_step(timing *t, step_fn step, void *arg, double *seconds, int *reps_out)
{
    int gpu = fp8block_device(t->ctx) >= 0;
    int reps = gpu ? TIMED_REPS_GPU : 1;
    double samples[TIMED_REPS_GPU];
    for (int w = 0; gpu && w < WARMUP_REPS_GPU; w++)
        if (step(arg) != FP8BLOCK_OK) return -1;
    for (int r = 0; r < reps; r++) {
        if (t->flush) devmem_fill(t->ctx, t->flush, r & 0xff, L2_FLUSH_BYTES);
        devmem_timer_start(t->timer);
        fp8block_status st = step(arg);
        samples[r] = devmem_timer_stop_seconds(t->timer);
        if (st != FP8BLOCK_OK) return -1;
    }
    if (devmem_sync(t->ctx)) {
        fprintf(stderr, "fp8block run: the device failed while timing\n");
        return -1;
    }
    *seconds = median(samples, reps);
    *reps_out = reps;
    return 0;
}

typedef struct {
    fp8block_ctx *ctx;
    run_options o;
    int64_t ldq, ldsa, ldsb, ldd, kb;
    void *xa, *xb, *d;
    uint8_t *qa, *qb;
    float *sa, *sb;
    float *sd; /* e4m3 D's scales (--out e4m3), ld ldsa */
} pipeline;

static fp8block_status quantize_a(void *p)
{
    pipeline *q = p;
    return fp8block_quantize_1x128(q->ctx, q->xa, FP8BLOCK_BF16, q->o.m, q->o.k, q->o.k, q->qa, q->ldq, q->sa,
                                   q->ldsa, NULL);
}

static fp8block_status quantize_b(void *p)
{
    pipeline *q = p;
    return fp8block_quantize_128x128(q->ctx, q->xb, FP8BLOCK_BF16, q->o.n, q->o.k, q->o.k, q->qb, q->ldq, q->sb,
                                     q->ldsb, NULL);
}

static fp8block_gemm_desc gemm_desc(const pipeline *q, void *d, fp8block_dtype dtype, int64_t ldd, float *sd)
{
    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = q->o.m, g.n = q->o.n, g.k = q->o.k;
    g.a = q->qa, g.lda = q->ldq, g.sa = q->sa, g.ldsa = q->ldsa;
    g.b = q->qb, g.ldb = q->ldq, g.sb = q->sb, g.ldsb = q->ldsb;
    g.d = d, g.d_dtype = dtype, g.ldd = ldd, g.sd = sd, g.ldsd = sd ? q->ldsa : 0;
    return g;
}

static fp8block_status gemm(void *p)
{
    pipeline *q = p;
    const fp8block_gemm_desc g = gemm_desc(q, q->d, q->o.out, q->ldd, q->sd);
    return fp8block_gemm_ex(q->ctx, &g, NULL);
}

/* --out e4m3: the F32 D of the same GEMM, quantized 1x128 by the library, must equal the e4m3
 * D and its scales byte for byte. d32 (ld ldd32) receives the F32 D for the kernel check. Returns
 * the number of differing code and scale bytes, or -1 when a call failed. */
static int64_t e4m3_contract(const pipeline *p, float *d32_host, int64_t ldd32, const uint8_t *codes,
                             const float *scales)
{
    const int64_t m = p->o.m, n = p->o.n, nb = cli_ceil_div(n, 128);
    const size_t d32_bytes = (size_t)(m * ldd32) * 4, q_bytes = (size_t)(m * p->ldd), s_bytes = (size_t)(nb * p->ldsa) * 4;
    void *d32 = devmem_alloc(p->ctx, d32_bytes), *q = devmem_alloc(p->ctx, q_bytes), *s = devmem_alloc(p->ctx, s_bytes);
    uint8_t *q_host = malloc(q_bytes);
    float *s_host = malloc(s_bytes);
    int64_t differ = -1;
    const fp8block_gemm_desc g = gemm_desc(p, d32, FP8BLOCK_F32, ldd32, NULL);
    if (d32 && q && s && q_host && s_host && fp8block_gemm_ex(p->ctx, &g, NULL) == FP8BLOCK_OK &&
        fp8block_quantize_1x128(p->ctx, d32, FP8BLOCK_F32, m, n, ldd32, q, p->ldd, s, p->ldsa, NULL) == FP8BLOCK_OK &&
        !devmem_download(p->ctx, d32_host, d32, d32_bytes) && !devmem_download(p->ctx, q_host, q, q_bytes) &&
        !devmem_download(p->ctx, s_host, s, s_bytes)) {
        differ = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) differ += codes[i * p->ldd + j] != q_host[i * p->ldd + j];
        for (int64_t b = 0; b < nb; b++)
            for (int64_t i = 0; i < m; i++) differ += memcmp(&scales[b * p->ldsa + i], &s_host[b * p->ldsa + i], 4) != 0;
    }
    devmem_free(p->ctx, d32), devmem_free(p->ctx, q), devmem_free(p->ctx, s);
    free(q_host), free(s_host);
    return differ;
}

typedef struct {
    double rel_frobenius, max_abs, cosine;
} quant_error;

/* D against the fp64 product of the original (bf16) inputs, on every row_step-th row. */
static quant_error quantization_error(const run_options *o, const uint16_t *a, const uint16_t *b, const void *d,
                                      int64_t ldd, int64_t row_step)
{
    double err2 = 0, ref2 = 0, dot = 0, out2 = 0, max_abs = 0;
    float *brow = malloc((size_t)o->k * sizeof *brow), *arow = malloc((size_t)o->k * sizeof *arow);
    for (int64_t i = 0; arow && brow; i = i + row_step < o->m - 1 ? i + row_step : o->m - 1) {
        for (int64_t kk = 0; kk < o->k; kk++) arow[kk] = bf16_value(a[i * o->k + kk]);
        for (int64_t j = 0; j < o->n; j++) {
            const uint16_t *bj = b + j * o->k;
            double ref = 0;
            for (int64_t kk = 0; kk < o->k; kk++) ref += (double)arow[kk] * bf16_value(bj[kk]);
            double got;
            if (o->out == FP8BLOCK_F32) got = ((const float *)d)[i * ldd + j];
            else if (o->out == FP8BLOCK_BF16) got = bf16_value(((const uint16_t *)d)[i * ldd + j]);
            else got = ref_f16_to_f64(((const uint16_t *)d)[i * ldd + j]);
            double e = got - ref;
            err2 += e * e, ref2 += ref * ref, dot += got * ref, out2 += got * got;
            if (fabs(e) > max_abs || e != e) max_abs = fabs(e);
        }
        if (i == o->m - 1) break;
    }
    free(arow), free(brow);
    return (quant_error){sqrt(err2 / ref2), max_abs, dot / sqrt(ref2 * out2)};
}

int cmd_run(int argc, char **argv)
{
    run_options o;
    if (parse_options(argc, argv, &o)) return CLI_EXIT_USAGE;
    pipeline p = {.o = o};
    if (cli_open_context(o.device, &p.ctx, stdout)) return CLI_EXIT_USAGE;
    const int e4m3 = o.out == FP8BLOCK_E4M3;
    const char *out_name = o.out == FP8BLOCK_BF16 ? "bf16" : o.out == FP8BLOCK_F32 ? "fp32" : e4m3 ? "e4m3" : "fp16";
    printf("fp8block run: M=%" PRId64 " N=%" PRId64 " K=%" PRId64 ", output %s, seed %" PRId64 ", on %s\n", o.m, o.n,
           o.k, out_name, o.seed, cli_context_name(p.ctx));

    size_t out_elem = o.out == FP8BLOCK_F32 ? 4 : e4m3 ? 1 : 2;
    p.kb = cli_ceil_div(o.k, 128);
    p.ldq = cli_round_up(o.k, 16); /* the GEMM's TMA needs 16-byte aligned code rows */
    p.ldsa = cli_round_up(o.m, 4);
    p.ldsb = cli_round_up(p.kb, 4); /* cuBLASLt reads B's scale rows padded to 4: stay interchangeable */
    p.ldd = cli_round_up(o.n, (int64_t)(16 / out_elem));
    int64_t nb = cli_ceil_div(o.n, 128);
    size_t bytes_xa = (size_t)(o.m * o.k) * 2, bytes_xb = (size_t)(o.n * o.k) * 2;
    size_t bytes_sa = (size_t)(p.kb * p.ldsa) * 4, bytes_sb = (size_t)(nb * p.ldsb) * 4;
    size_t bytes_d = (size_t)(o.m * p.ldd) * out_elem;
    const int64_t ldd32 = cli_round_up(o.n, 4); /* --out e4m3: the F32 D the contract and the check read */
    size_t bytes_sd = e4m3 ? (size_t)(nb * p.ldsa) * 4 : 0;

    rng_state rng;
    rng_seed(&rng, o.seed);
    uint16_t *ha = random_bf16(&rng, o.m, o.k), *hb = random_bf16(&rng, o.n, o.k);
    size_t bytes_qa = (size_t)(o.m * p.ldq), bytes_qb = (size_t)(o.n * p.ldq);
    uint8_t *hqa = malloc(bytes_qa), *hqb = malloc(bytes_qb);
    float *hsa = malloc(bytes_sa), *hsb = malloc(bytes_sb);
    void *hd = malloc(bytes_d);
    float *hsd = e4m3 ? malloc(bytes_sd) : NULL, *hd32 = e4m3 ? malloc((size_t)(o.m * ldd32) * 4) : NULL;
    p.sd = e4m3 ? devmem_alloc(p.ctx, bytes_sd) : NULL;
    p.xa = devmem_alloc(p.ctx, bytes_xa), p.xb = devmem_alloc(p.ctx, bytes_xb);
    p.qa = devmem_alloc(p.ctx, bytes_qa), p.qb = devmem_alloc(p.ctx, bytes_qb);
    p.sa = devmem_alloc(p.ctx, bytes_sa), p.sb = devmem_alloc(p.ctx, bytes_sb);
    p.d = devmem_alloc(p.ctx, bytes_d);
    timing t = {p.ctx, fp8block_device(p.ctx) >= 0 ? devmem_alloc(p.ctx, L2_FLUSH_BYTES) : NULL,
                devmem_timer_create(p.ctx)};
    int status = 1;
    if (!ha || !hb || !hqa || !hqb || !hsa || !hsb || !hd || !p.xa || !p.xb || !p.qa || !p.qb || !p.sa || !p.sb ||
        !p.d || !t.timer || (fp8block_device(p.ctx) >= 0 && !t.flush) || (e4m3 && (!hsd || !hd32 || !p.sd))) {
        fprintf(stderr, "fp8block run: out of memory for a %" PRId64 "x%" PRId64 "x%" PRId64 " problem\n", o.m, o.n,
                o.k);
        goto done;
    }
    if (devmem_upload(p.ctx, p.xa, ha, bytes_xa) || devmem_upload(p.ctx, p.xb, hb, bytes_xb) ||
        devmem_fill(p.ctx, p.d, 0xff, bytes_d)) { /* poison D: an unwritten element shows as NaN */
        fprintf(stderr, "fp8block run: copying the inputs to the device failed\n");
        goto done;
    }

    double t_qa, t_qb, t_gemm;
    int reps;
    static const char *names[] = {"quantize A (1x128)", "quantize B (128x128)", "gemm"};
    step_fn steps[] = {quantize_a, quantize_b, gemm};
    double *times[] = {&t_qa, &t_qb, &t_gemm};
    for (int s = 0; s < 3; s++) {
        if (time_step(&t, steps[s], &p, times[s], &reps)) {
            fflush(stdout);
            fprintf(stderr, "fp8block run: %s failed: %s\n", names[s], fp8block_last_error(p.ctx));
            goto done;
        }
    }
    double qa_bytes = (double)bytes_xa + (double)(o.m * o.k) + (double)(p.kb * o.m) * 4;
    double qb_bytes = (double)bytes_xb + (double)(o.n * o.k) + (double)bytes_sb;
    double flops = 2.0 * (double)o.m * (double)o.n * (double)o.k;
    const char *how = reps > 1 ? "median of 20, L2 flushed" : "one run";
    printf("  %-22s %10.3f ms  %8.1f GB/s     (%s)\n", names[0], 1e3 * t_qa, qa_bytes / t_qa * 1e-9, how);
    printf("  %-22s %10.3f ms  %8.1f GB/s     (%s)\n", names[1], 1e3 * t_qb, qb_bytes / t_qb * 1e-9, how);
    printf("  %-22s %10.3f ms  %9.3f TFLOP/s  (%s)\n", names[2], 1e3 * t_gemm, flops / t_gemm * 1e-12, how);

    if (devmem_download(p.ctx, hqa, p.qa, bytes_qa) || devmem_download(p.ctx, hqb, p.qb, bytes_qb) ||
        devmem_download(p.ctx, hsa, p.sa, bytes_sa) || devmem_download(p.ctx, hsb, p.sb, bytes_sb) ||
        devmem_download(p.ctx, hd, p.d, bytes_d) || (e4m3 && devmem_download(p.ctx, hsd, p.sd, bytes_sd))) {
        fprintf(stderr, "fp8block run: copying the results back failed\n");
        goto done;
    }
    int contract_ok = 1;
    if (e4m3) {
        int64_t differ = e4m3_contract(&p, hd32, ldd32, hd, hsd);
        contract_ok = differ == 0;
        if (differ < 0) printf("  e4m3 contract: the F32 GEMM or its quantization failed: %s  FAIL\n", fp8block_last_error(p.ctx));
        else
            printf("  e4m3 contract      codes and scales == quantize_1x128(F32 D of the same GEMM): %" PRId64
                   " bytes differ  %s\n", differ, contract_ok ? "PASS" : "FAIL");
    }
    /* The checks read a float D: the e4m3 run's F32 D (its codes are that, quantized). */
    run_options checked = o;
    const void *check_d = e4m3 ? (const void *)hd32 : hd;
    const int64_t check_ld = e4m3 ? ldd32 : p.ldd;
    if (e4m3) checked.out = FP8BLOCK_F32;
    int64_t row_step = o.m > CHECKED_ROWS ? o.m / CHECKED_ROWS : 1;
    gemm_check_result kernel = gemm_check(o.m, o.n, o.k, hqa, p.ldq, hsa, p.ldsa, hqb, p.ldq, hsb, p.ldsb, check_d,
                                          checked.out, check_ld, row_step);
    quant_error quant = quantization_error(&checked, ha, hb, check_d, check_ld, row_step);
    int kernel_ok = gemm_check_passed(&kernel), quant_ok = quant.rel_frobenius <= QUANT_ERROR_SANITY_LIMIT;
    printf("  kernel error       vs fp64(dequant(A)·dequant(B)^T), %" PRId64 " of %" PRId64
           " rows: rel Frobenius %.2e (limit %.0e), max abs %.3e, %" PRId64 " elements over their bound  %s\n",
           kernel.rows_checked, o.m, kernel.rel_frobenius, kernel.frobenius_limit, kernel.max_abs_error,
           kernel.violations, kernel_ok ? "PASS" : "FAIL");
    if (!kernel_ok) gemm_check_print(stdout, "  kernel check", &kernel);
    printf("  quantization error vs fp64(A·B^T) of the bf16 inputs: rel Frobenius %.2e, max abs %.3e, cosine %.6f  %s\n",
           quant.rel_frobenius, quant.max_abs, quant.cosine, quant_ok ? "PASS" : "FAIL");
    double bf16_mib = (double)(bytes_xa + bytes_xb) / (1 << 20);
    double fp8_mib = (double)((size_t)(o.m * o.k + o.n * o.k) + (size_t)(p.kb * o.m) * 4 + bytes_sb) / (1 << 20);
    printf("  memory: A+B as bf16 %.1f MiB -> fp8 codes + fp32 scales %.1f MiB (%.1f%%, saves %.1f MiB)\n", bf16_mib,
           fp8_mib, 100 * fp8_mib / bf16_mib, bf16_mib - fp8_mib);
    status = kernel_ok && quant_ok && contract_ok ? 0 : 1;
    printf("%s\n", status == 0 ? "PASS" : "FAIL");
done:
    devmem_free(p.ctx, p.xa), devmem_free(p.ctx, p.xb), devmem_free(p.ctx, p.qa), devmem_free(p.ctx, p.qb);
    devmem_free(p.ctx, p.sa), devmem_free(p.ctx, p.sb), devmem_free(p.ctx, p.d), devmem_free(p.ctx, t.flush);
    devmem_free(p.ctx, p.sd), free(hsd), free(hd32);
    devmem_timer_destroy(t.timer);
    free(ha), free(hb), free(hqa), free(hqb), free(hsa), free(hsb), free(hd);
    fp8block_destroy(p.ctx);
    return status;
}
