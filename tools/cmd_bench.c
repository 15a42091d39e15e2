/* fp8block bench: is block FP8 fast enough? For each GEMM shape, in one process and timed
 * the same way (bench/gpu_timing.h: CUDA events, warm-up, median, L2 flushed before each
 * call), it measures
 *   - fp8block's GEMM against cuBLASLt's block-scaled FP8 (same codes and scales, checked
 *     to agree), per-tensor FP8 and bf16 GEMMs;
 *   - the quantize kernels against a device copy of the same bf16 bytes, at each GEMM's
 *     operand shapes, then bench-quant's sweep of every quantize/dequantize kernel;
 *   - the pipeline a layer runs (quantize A 1x128 + GEMM; B is quantized once, as weights
 *     are) against a bf16 GEMM;
 *   - fp8block's GEMM with e4m3 D (codes and 1x128 scales from the epilogue) beside its bf16 D,
 *     and two layers chained in FP8 (X·W1ᵀ to e4m3, then that · W2ᵀ, W2 a K x N weight) beside
 *     the same chain with a bf16 D1 and a quantize_1x128 between (bench/epilogue.py adds the
 *     chains' error against an fp64 chain);
 *   - the memory of the operands: bf16 against e4m3 codes + fp32 scales.
 * The GEMMs of a shape are timed in turn, call by call, in a shuffled order each round,
 * so that a slow stretch of the device, or the clock one GEMM leaves to the next, falls on
 * all of them alike.
 * With --moe it times the grouped GEMMs of mixture-of-experts layers instead (bench_moe.h).
 * Progress goes to stderr, the table to stdout, the full results to CSV/JSON, and plots
 * through bench/plot.py. A method whose backend is missing (cuBLASLt on the CPU backend, a
 * kernel not built yet) is reported as unavailable, with the reason, and makes the exit
 * status 3 unless --allow-missing (a failed measurement: 1). Every shape a geomean leaves out
 * is listed under it with the reason. fp8block's D is compared with cuBLASLt block-scaled's
 * on every element. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_moe.h"
#include "bench_quant.h"
#include "bench_run.h"
#include "cli.h"
#include "commands.h"
#include "devmem.h"
#include "report.h"
#include "rng.h"

#ifdef FP8BLOCK_HAVE_BASELINES
#include "cublaslt.h"
#include "gpu_timing.h"
#endif

enum { REPS_GPU = 30, WARMUP_GPU = 3, REPS_CPU = 3, WARMUP_CPU = 1 };

typedef enum {
    M_FP8BLOCK,
    M_FP8BLOCK_E4M3,
    M_LT_BLOCK,
    M_LT_TENSOR,
    M_LT_BF16,
    M_QUANT_A,
    M_COPY_A,
    M_QUANT_B,
    M_COPY_B,
    M_PIPELINE,
    M_CHAIN_E4M3,
    M_CHAIN_BF16,
    METHODS
} method;

static const struct {
    const char *name, *what;
} method_info[METHODS] = {
    {"fp8block", "fp8block_gemm: e4m3 A (1x128 scales) x B (128x128 scales), fp32 accumulation, bf16 out"},
    {"fp8block_e4m3", "the same GEMM with e4m3 out: codes and their 1x128 scales (fp8block_gemm_ex)"},
    {"cublaslt_fp8_block", "cuBLASLt e4m3 VEC128_32F x BLK128x128_32F on the same codes and scales, bf16 out"},
    {"cublaslt_fp8_tensor", "cuBLASLt e4m3 with one fp32 scale per operand, bf16 out"},
    {"cublaslt_bf16", "cuBLASLt bf16 x bf16, fp32 accumulation, bf16 out"},
    {"quantize_a_1x128", "fp8block_quantize_1x128 of A (bf16 -> e4m3 + scales); bytes read + written"},
    {"copy_a", "device copy of A's bf16 bytes; bytes read + written"},
    {"quantize_b_128x128", "fp8block_quantize_128x128 of B (bf16 -> e4m3 + scales); bytes read + written"},
    {"copy_b", "device copy of B's bf16 bytes; bytes read + written"},
    {"pipeline", "quantize A 1x128 + fp8block_gemm, B quantized beforehand (weights)"},
    {"chain_e4m3", "two layers: A x W1 (B) to e4m3 D1, then D1 x W2 (K x N) to bf16"},
    {"chain_bf16_quantize", "the same two layers with a bf16 D1 and quantize_1x128 of it between"},
};

/* PENDING until the method has run or been ruled out; never reported. */
typedef enum { RESULT_PENDING, RESULT_OK, RESULT_UNAVAILABLE, RESULT_FAILED } result_status;
static const char *status_names[] = {"pending", "ok", "unavailable", "failed"};

typedef struct {
    result_status status;
    double seconds, flops, bytes;
    char detail[200];
} measurement;

typedef struct {
    int64_t m, n, k;
    char set[64]; /* the sets it belongs to, '+'-separated: "square+deepseek" */
} shape;

typedef struct {
    shape s;
    measurement r[METHODS];
    double agreement; /* rel. Frobenius difference fp8block vs cuBLASLt block-scaled; NaN: unchecked */
    double chain_agreement; /* rel. Frobenius difference of the two chains' outputs; NaN: unchecked */
    double bf16_bytes, fp8_bytes;
} shape_result;

/* --reps and --warmup above this would not fit the timers' int counts (and would run for days) */
#define BENCH_MAX_REPS 1000000

typedef struct {
    const char *device, *shapes, *csv, *json, *plot, *flush;
    int64_t reps, warmup;
    int64_t seed;
    int allow_missing; /* --allow-missing: unavailable methods do not change the exit status */
    int moe;           /* --moe: the grouped GEMMs instead (bench_moe.h) */
} bench_options;

typedef struct {
    fp8block_ctx *ctx, *cpu; /* cpu: quantizes the inputs when the context cannot */
    int gpu, reps, warmup;
#ifdef FP8BLOCK_HAVE_BASELINES
    gpu_timing *timing;
    baseline_lib *lt;
#endif
    char lt_missing[200]; /* why the cuBLASLt columns are unavailable */
    char timing_note[400];
} bench_env;

/* ---- shapes ---------------------------------------------------------------------------- */

typedef struct {
    shape *v;
    size_t count, cap;
} shape_list;

static void add_shape(shape_list *l, int64_t m, int64_t n, int64_t k, const char *set)
{
    for (size_t i = 0; i < l->count; i++) {
        shape *s = &l->v[i];
        if (s->m == m && s->n == n && s->k == k) {
            size_t used = strlen(s->set);
            if (!strstr(s->set, set)) snprintf(s->set + used, sizeof s->set - used, "+%s", set);
            return;
        }
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) {
            fprintf(stderr, "fp8block bench: out of host memory\n");
            exit(1);
        }
    }
    shape *s = &l->v[l->count++];
    *s = (shape){m, n, k, ""};
    snprintf(s->set, sizeof s->set, "%s", set);
}

static void add_squares(shape_list *l, int64_t from, int64_t to)
{
    for (int64_t n = from; n <= to; n *= 2) add_shape(l, n, n, n, "square");
}

/* The DeepSeek-V3 shapes of the GEMM issue: two squares, then M in {4096, 128, 64} (a
 * prefill batch, decode batches) against the model's (N, K) weight shapes. */
static void add_deepseek(shape_list *l)
{
    static const int64_t nk[][2] = {{2112, 7168}, {24576, 1536}, {32768, 512},
                                     {7168, 16384}, {4096, 7168}, {7168, 2048}};
    static const int64_t ms[] = {4096, 128, 64};
    add_shape(l, 4096, 4096, 4096, "deepseek");
    add_shape(l, 8192, 8192, 8192, "deepseek");
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof nk / sizeof nk[0]; j++) add_shape(l, ms[i], nk[j][0], nk[j][1], "deepseek");
}

/* A shape file: one "M N K" a line; '#' starts a comment. */
static int read_shape_file(shape_list *l, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fp8block bench: --shapes: '%s' is neither square, deepseek, all, small nor a readable file\n",
                path);
        return -1;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char set[64];
    snprintf(set, sizeof set, "%.*s", (int)strcspn(base, "."), base); /* "small" for small.txt */
    char line[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        long long m, n, k;
        char extra;
        int got = sscanf(line, "%lld %lld %lld %c", &m, &n, &k, &extra);
        if (got == EOF || (got <= 0 && strspn(line, " \t\r\n") == strlen(line))) continue;
        if (got != 3 || m < 1 || n < 1 || k < 1) {
            fprintf(stderr, "fp8block bench: %s:%d: expected 'M N K' (positive integers)\n", path, lineno);
            rc = -1;
            break;
        }
        add_shape(l, m, n, k, set);
    }
    fclose(f);
    if (rc == 0 && l->count == 0) {
        fprintf(stderr, "fp8block bench: %s holds no shapes\n", path);
        rc = -1;
    }
    return rc;
}

static int build_shapes(shape_list *l, const char *which, int gpu)
{
    if (!which) which = gpu ? "all" : "small";
    if (!strcmp(which, "square") || !strcmp(which, "all")) add_squares(l, 512, 16384);
    if (!strcmp(which, "deepseek") || !strcmp(which, "all")) add_deepseek(l);
    if (!strcmp(which, "small")) add_squares(l, 128, 1024);
    if (l->count) return 0;
    return read_shape_file(l, which);
}

/* ---- options --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fp8block bench [--device auto|cpu|cuda[:N]] [--shapes square|deepseek|all|small|FILE]\n"
            "                      [--reps N] [--warmup N] [--flush memset|read] [--csv F] [--json F]\n"
            "                      [--plot DIR] [--seed S] [--allow-missing]\n"
            "       fp8block bench --moe [--device D] [--csv F] [--seed S]\n"
            "Times fp8block's GEMM against cuBLASLt block-scaled FP8, per-tensor FP8 and bf16; the\n"
            "quantize kernels against a copy; quantize+GEMM against a bf16 GEMM; the operands' memory;\n"
            "the GEMM with e4m3 D (and its scales) against its bf16 D; and two layers chained in FP8\n"
            "(A x W1 to e4m3, then x W2, W2 K x N) against the same with a bf16 D1 and a quantize\n"
            "between. Table on stdout, progress on stderr.\n"
            "  --shapes   square: M=N=K=512..16384; deepseek: the DeepSeek-V3 shapes (4096^3, 8192^3,\n"
            "             M in {64,128,4096} x 6 weight shapes); all: both (default on a GPU);\n"
            "             small: 128..1024 squares (default on the CPU backend); FILE: 'M N K' lines\n"
            "  --reps     timed calls per method, median reported (default %d on a GPU, %d on the CPU)\n"
            "  --flush    how L2 is flushed before each timed call on a GPU: memset (default, leaves\n"
            "             L2 dirty: the timed call pays the write-back) or read (leaves it clean)\n"
            "  --plot     writes DIR/bench.json (unless --json) and PNGs through bench/plot.py\n"
            "  --moe      the grouped GEMMs of mixture-of-experts layers instead: contiguous (G = 4, 8, 32,\n"
            "             random group sizes) and masked (G = 1..32 x max_m = 64..256, counts ~max_m/2) on\n"
            "             N x K = 4096x7168 and 7168x2048, bf16 D (bench/grouped.py adds DeepGEMM beside them)\n"
            "  --allow-missing  exit 0 even when a method is unavailable (cuBLASLt on the CPU backend);\n"
            "             without it that exits %d. A failed measurement exits 1 either way.\n"
            "The JSON records $FP8BLOCK_COMMIT as the commit when it is set.\n",
            REPS_GPU, REPS_CPU, CLI_EXIT_MISSING);
}

static int parse_options(int argc, char **argv, bench_options *o)
{
    *o = (bench_options){.device = "auto", .flush = "memset", .reps = -1, .warmup = -1, .seed = 1};
    const cli_option options[] = {
        {"--device", CLI_TEXT, &o->device, 0}, {"--shapes", CLI_TEXT, &o->shapes, 0}, {"--csv", CLI_TEXT, &o->csv, 0},
        {"--json", CLI_TEXT, &o->json, 0},     {"--plot", CLI_TEXT, &o->plot, 0},     {"--reps", CLI_INT, &o->reps, 1},
        {"--warmup", CLI_INT, &o->warmup, 0},  {"--seed", CLI_INT, &o->seed, 0},   {"--flush", CLI_TEXT, &o->flush, 0},
        {"--allow-missing", CLI_FLAG, &o->allow_missing, 0}, {"--moe", CLI_FLAG, &o->moe, 0},
    };
    int rc = cli_parse_options("bench", argc, argv, options, (int)(sizeof options / sizeof options[0]), usage);
    if (rc == 0 && (o->reps > BENCH_MAX_REPS || o->warmup > BENCH_MAX_REPS)) { /* the timers count in int */
        fprintf(stderr, "fp8block bench: --%s must be at most %d, got %" PRId64 "\n",
                o->reps > BENCH_MAX_REPS ? "reps" : "warmup", BENCH_MAX_REPS,
                o->reps > BENCH_MAX_REPS ? o->reps : o->warmup);
        return -1;
    }
    if (rc == 0 && strcmp(o->flush, "memset") && strcmp(o->flush, "read")) {
        fprintf(stderr, "fp8block bench: --flush must be memset or read, not '%s'\n", o->flush);
        return -1;
    }
    if (rc == 0 && o->moe &&
        (o->shapes || o->json || o->plot || o->reps > 0 || o->warmup >= 0 || strcmp(o->flush, "memset") ||
         o->allow_missing)) {
        fprintf(stderr, "fp8block bench: --moe has its own cases and timing and writes a table and --csv only: "
                        "it takes --device, --csv and --seed\n");
        return -1;
    }
    if (rc == 0 && (cli_check_output("bench", "--csv", o->csv) || cli_check_output("bench", "--json", o->json) ||
                    cli_check_output("bench", "--plot", o->plot)))
        return -1;
    return rc;
}

/* ---- timing ---------------------------------------------------------------------------- */

typedef bench_fn timed_fn;

static int time_median(bench_env *env, timed_fn fn, void *arg, double *median_s, char *why, size_t why_size)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    if (env->gpu) return gpu_timing_median(env->timing, fn, arg, env->warmup, env->reps, median_s, why, why_size);
#endif
    return bench_host_median(fn, arg, env->warmup, env->reps, median_s, why, why_size);
}

/* ---- one shape ------------------------------------------------------------------------- */

typedef struct {
    bench_env *env;
    shape s;
    int64_t ldq, ldsa, ldsb, ldd, kb, nb;
    void *xa, *xb;     /* bf16 inputs */
    uint8_t *qa, *qb;  /* e4m3 codes, ld ldq */
    float *sa, *sb;    /* fp8block's scale layouts: ldsa, and kb */
    void *d;           /* bf16 output of fp8block (ld ldd); the bf16 chain's D1 */
    uint8_t *d8;       /* e4m3 output of fp8block (ld ldq1): the e4m3 chain's D1 */
    float *sd8;        /* its scales, ld ldsa */
    uint8_t *q1, *qw2; /* the bf16 chain's quantized D1 (ld ldq1); W2's codes (K x N, ld ldq1) */
    float *s1, *sw2;   /* their scales: ld ldsa; ld ldsw2 */
    void *d2_e4m3, *d2_bf16; /* the chains' bf16 outputs, M x K, ld ldd2 */
    int64_t ldq1, ldsw2, ldd2;
    void *d_lt_block;  /* of cuBLASLt block-scaled (packed, ld N), compared with d */
    void *d_lt;        /* of cuBLASLt's other GEMMs (packed) */
    void *copy_dst;    /* for the copy baseline */
    float *unit_scale; /* per-tensor FP8: scale 1 for both operands */
    fp8block_status last; /* the last library call's status, to tell unavailable from failed */
#ifdef FP8BLOCK_HAVE_BASELINES
    baseline_gemm *lt[BASELINE_KINDS];
#endif
} operands;

static int library_failed(operands *o, fp8block_status st, char *why, size_t why_size)
{
    o->last = st;
    if (st == FP8BLOCK_OK) return 0;
    snprintf(why, why_size, "%s: %s", fp8block_status_string(st), fp8block_last_error(o->env->ctx));
    return -1;
}

static int run_fp8block(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    fp8block_status st = fp8block_gemm(o->env->ctx, o->s.m, o->s.n, o->s.k, o->qa, o->ldq, o->sa, o->ldsa, o->qb,
                                       o->ldq, o->sb, o->ldsb, o->d, FP8BLOCK_BF16, o->ldd, NULL);
    return library_failed(o, st, why, why_size);
}

/* fp8block's GEMM with e4m3 D and its 1x128 scales, onto d8 / sd8. */
static fp8block_status gemm_e4m3(operands *o)
{
    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = o->s.m, g.n = o->s.n, g.k = o->s.k;
    g.a = o->qa, g.lda = o->ldq, g.sa = o->sa, g.ldsa = o->ldsa;
    g.b = o->qb, g.ldb = o->ldq, g.sb = o->sb, g.ldsb = o->ldsb;
    g.d = o->d8, g.d_dtype = FP8BLOCK_E4M3, g.ldd = o->ldq1, g.sd = o->sd8, g.ldsd = o->ldsa;
    return fp8block_gemm_ex(o->env->ctx, &g, NULL);
}

static int run_fp8block_e4m3(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    return library_failed(o, gemm_e4m3(o), why, why_size);
}

/* Layer 2 of a chain: D1 (M x N, codes q, scales s) · W2ᵀ (W2: K x N) to bf16 M x K. */
static fp8block_status chain_layer2(operands *o, const uint8_t *q, const float *s, void *d2)
{
    return fp8block_gemm(o->env->ctx, o->s.m, o->s.k, o->s.n, q, o->ldq1, s, o->ldsa, o->qw2, o->ldq1, o->sw2,
                         o->ldsw2, d2, FP8BLOCK_BF16, o->ldd2, NULL);
}

static int run_chain_e4m3(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    fp8block_status st = gemm_e4m3(o);
    if (st == FP8BLOCK_OK) st = chain_layer2(o, o->d8, o->sd8, o->d2_e4m3);
    return library_failed(o, st, why, why_size);
}

static int run_chain_bf16(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    if (run_fp8block(arg, why, why_size)) return -1; /* D1 = o->d, bf16 */
    fp8block_status st = fp8block_quantize_1x128(o->env->ctx, o->d, FP8BLOCK_BF16, o->s.m, o->s.n, o->ldd, o->q1,
                                                 o->ldq1, o->s1, o->ldsa, NULL);
    if (st == FP8BLOCK_OK) st = chain_layer2(o, o->q1, o->s1, o->d2_bf16);
    return library_failed(o, st, why, why_size);
}

static int run_quant_a(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    fp8block_status st = fp8block_quantize_1x128(o->env->ctx, o->xa, FP8BLOCK_BF16, o->s.m, o->s.k, o->s.k, o->qa,
                                                 o->ldq, o->sa, o->ldsa, NULL);
    return library_failed(o, st, why, why_size);
}

static int run_quant_b(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    fp8block_status st = fp8block_quantize_128x128(o->env->ctx, o->xb, FP8BLOCK_BF16, o->s.n, o->s.k, o->s.k, o->qb,
                                                   o->ldq, o->sb, o->ldsb, NULL);
    return library_failed(o, st, why, why_size);
}

static int run_pipeline(void *arg, char *why, size_t why_size)
{
    return run_quant_a(arg, why, why_size) || run_fp8block(arg, why, why_size) ? -1 : 0;
}

static int copy_bytes(operands *o, const void *src, size_t bytes, char *why, size_t why_size)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    if (o->env->gpu) {
        if (gpu_copy(o->copy_dst, src, bytes) == 0) return 0;
        snprintf(why, why_size, "device copy failed");
        return -1;
    }
#endif
    (void)why, (void)why_size;
    memcpy(o->copy_dst, src, bytes);
    return 0;
}

static int run_copy_a(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    return copy_bytes(o, o->xa, (size_t)(o->s.m * o->s.k) * 2, why, why_size);
}

static int run_copy_b(void *arg, char *why, size_t why_size)
{
    operands *o = arg;
    return copy_bytes(o, o->xb, (size_t)(o->s.n * o->s.k) * 2, why, why_size);
}

#ifdef FP8BLOCK_HAVE_BASELINES
typedef struct {
    operands *o;
    baseline_kind kind;
} baseline_call;

static int run_baseline(void *arg, char *why, size_t why_size)
{
    baseline_call *c = arg;
    operands *o = c->o;
    switch (c->kind) {
    case BASELINE_BF16: return baseline_gemm_run(o->lt[c->kind], o->xa, NULL, o->xb, NULL, o->d_lt, NULL, why, why_size);
    case BASELINE_FP8_TENSOR:
        return baseline_gemm_run(o->lt[c->kind], o->qa, o->unit_scale, o->qb, o->unit_scale, o->d_lt, NULL, why,
                                 why_size);
    case BASELINE_FP8_BLOCK:
        return baseline_gemm_run(o->lt[c->kind], o->qa, o->sa, o->qb, o->sb, o->d_lt_block, NULL, why, why_size);
    }
    return -1;
}
#endif

static void free_operands(operands *o)
{
    const fp8block_ctx *ctx = o->env->ctx;
    void *bufs[] = {o->xa,     o->xb,     o->qa,       o->qb,          o->sa,   o->sb,   o->d,
                    o->d_lt_block, o->d_lt, o->copy_dst, o->unit_scale, o->d8, o->sd8,  o->q1,
                    o->s1,     o->qw2,    o->sw2,      o->d2_e4m3,     o->d2_bf16};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) devmem_free(ctx, bufs[i]);
#ifdef FP8BLOCK_HAVE_BASELINES
    for (int i = 0; i < BASELINE_KINDS; i++) baseline_gemm_destroy(o->lt[i]);
#endif
}

static void mark(measurement *r, result_status st, const char *fmt, const char *detail)
{
    r->status = st;
    snprintf(r->detail, sizeof r->detail, fmt, detail);
}

/* rows x cols bf16 x (host memory, ld cols) quantized in `block` blocks on the CPU backend, its
 * codes and scales uploaded to q (ld ldq) and s (ld lds) in the context's memory; 0 on success. */
static int quantize_on_cpu(const operands *o, fp8block_block block, const uint16_t *x, int64_t rows, int64_t cols,
                           void *q, int64_t ldq, void *s, int64_t lds)
{
    const int64_t scale_rows = cli_ceil_div(block == FP8BLOCK_BLOCK_1x128 ? cols : rows, 128);
    size_t q_bytes = (size_t)(rows * ldq), s_bytes = (size_t)(scale_rows * lds) * 4;
    uint8_t *hq = malloc(q_bytes);
    float *hs = malloc(s_bytes);
    int rc = -1;
    if (hq && hs) {
        fp8block_status st =
            block == FP8BLOCK_BLOCK_1x128
                ? fp8block_quantize_1x128(o->env->cpu, x, FP8BLOCK_BF16, rows, cols, cols, hq, ldq, hs, lds, NULL)
                : fp8block_quantize_128x128(o->env->cpu, x, FP8BLOCK_BF16, rows, cols, cols, hq, ldq, hs, lds, NULL);
        if (st == FP8BLOCK_OK && devmem_upload(o->env->ctx, q, hq, q_bytes) == 0 &&
            devmem_upload(o->env->ctx, s, hs, s_bytes) == 0)
            rc = 0;
    }
    free(hq), free(hs);
    return rc;
}

/* Codes and scales for the GEMMs. The context quantizes them; a GPU without quantize
 * kernels gets them from the CPU backend (the same bits, by contract), and the quantize
 * columns say why they are unavailable. 0 on success, else -1 with the reason in why. */
static int quantize_inputs(operands *o, shape_result *res, const uint16_t *ha, const uint16_t *hb, char *why,
                           size_t why_size)
{
    o->last = FP8BLOCK_OK;
    if (run_quant_a(o, why, why_size) == 0 && run_quant_b(o, why, why_size) == 0) {
        if (devmem_sync(o->env->ctx) == 0) return 0;
        snprintf(why, why_size, "the device failed while quantizing");
        return -1;
    }
    if (!o->env->gpu || o->last != FP8BLOCK_ERR_UNSUPPORTED) return -1;
    mark(&res->r[M_QUANT_A], RESULT_UNAVAILABLE, "%s", why);
    mark(&res->r[M_QUANT_B], RESULT_UNAVAILABLE, "%s", why);
    mark(&res->r[M_PIPELINE], RESULT_UNAVAILABLE, "quantize: %.185s", why);
    mark(&res->r[M_CHAIN_BF16], RESULT_UNAVAILABLE, "quantize: %.185s", why);
    fprintf(stderr, "  quantizing on the CPU backend instead (%s)\n", why);
    const shape *s = &o->s;
    if (quantize_on_cpu(o, FP8BLOCK_BLOCK_1x128, ha, s->m, s->k, o->qa, o->ldq, o->sa, o->ldsa) == 0 &&
        quantize_on_cpu(o, FP8BLOCK_BLOCK_128x128, hb, s->n, s->k, o->qb, o->ldq, o->sb, o->ldsb) == 0)
        return 0;
    snprintf(why, why_size, "quantizing on the CPU backend and uploading failed");
    return -1;
}

/* The chains' second weight W2 (K x N, random bf16), quantized 128x128 on the CPU backend
 * and uploaded. */
static int prepare_w2(operands *o, rng_state *rng, char *why, size_t why_size)
{
    const shape *s = &o->s;
    uint16_t *w2 = bench_random_bf16(rng, s->k * s->n);
    int rc = -1;
    if (w2 && quantize_on_cpu(o, FP8BLOCK_BLOCK_128x128, w2, s->k, s->n, o->qw2, o->ldq1, o->sw2, o->ldsw2) == 0) rc = 0;
    else snprintf(why, why_size, "preparing the chains' second weight failed");
    free(w2);
    return rc;
}

/* Relative Frobenius difference of two rows x cols bf16 matrices in the context's memory (leading
 * dimensions ld_x and ld_ref), every element; NaN when they cannot be read back. */
static double bf16_rel_diff(const operands *o, const void *x, int64_t ld_x, const void *ref, int64_t ld_ref,
                            int64_t rows, int64_t cols)
{
    size_t x_bytes = (size_t)(rows * ld_x) * 2, ref_bytes = (size_t)(rows * ld_ref) * 2;
    uint16_t *hx = malloc(x_bytes), *href = malloc(ref_bytes);
    double diff2 = NAN, ref2 = 0;
    if (hx && href && devmem_sync(o->env->ctx) == 0 && devmem_download(o->env->ctx, hx, x, x_bytes) == 0 &&
        devmem_download(o->env->ctx, href, ref, ref_bytes) == 0) {
        diff2 = 0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                uint32_t a = (uint32_t)hx[i * ld_x + j] << 16, b = (uint32_t)href[i * ld_ref + j] << 16;
                float u, v;
                memcpy(&u, &a, 4), memcpy(&v, &b, 4);
                diff2 += ((double)u - v) * ((double)u - v);
                ref2 += (double)v * v;
            }
    }
    free(hx), free(href);
    return ref2 > 0 ? sqrt(diff2 / ref2) : diff2 == 0 ? 0 : NAN;
}

/* The two chains' bf16 outputs: both end in the same second layer, so they differ by what D1's
 * two routes to e4m3 do (the same codes where the bf16 rounding of D1 moves none). */
static double compare_chains(operands *o)
{
    return bf16_rel_diff(o, o->d2_e4m3, o->ldd2, o->d2_bf16, o->ldd2, o->s.m, o->s.k);
}

/* A method's timing into its result and the progress log, or why there is none: failed,
 * or unavailable where the library answered "unsupported". */
static void record_timing(shape_result *res, method m, int failed, double seconds, const char *why)
{
    measurement *r = &res->r[m];
    if (failed) {
        int library = m == M_FP8BLOCK || m == M_FP8BLOCK_E4M3 || m == M_QUANT_A || m == M_QUANT_B ||
                      m == M_PIPELINE || m == M_CHAIN_E4M3 || m == M_CHAIN_BF16;
        /* The method's own answer: library_failed leads its reason with the status's name. */
        const char *unsupported = fp8block_status_string(FP8BLOCK_ERR_UNSUPPORTED);
        int said_unsupported = !strncmp(why, unsupported, strlen(unsupported));
        mark(r, library && said_unsupported ? RESULT_UNAVAILABLE : RESULT_FAILED, "%s", why);
        fprintf(stderr, "  %-20s %s: %s\n", method_info[m].name, status_names[r->status], why);
        return;
    }
    r->status = RESULT_OK;
    r->seconds = seconds;
    if (r->flops > 0)
        fprintf(stderr, "  %-20s %10.1f us %9.1f TFLOP/s\n", method_info[m].name, 1e6 * seconds,
                r->flops / seconds * 1e-12);
    else
        fprintf(stderr, "  %-20s %10.1f us %9.1f GB/s\n", method_info[m].name, 1e6 * seconds, r->bytes / seconds * 1e-9);
}

static void time_method(operands *o, shape_result *res, method m, timed_fn fn, void *arg)
{
    char why[200] = "";
    double seconds = 0;
    int failed = time_median(o->env, fn, arg, &seconds, why, sizeof why) != 0;
    record_timing(res, m, failed, seconds, why);
}

typedef struct {
    method m;
    timed_fn fn;
    void *arg;
} timed_method;

/* The GEMMs compared with each other: on a GPU timed in turn, call by call and shuffled
 * each round, so that a slow stretch of the device (measured once on an H100: one
 * method's 30 consecutive calls at a third of their speed) or the clock the previous GEMM
 * leaves falls on all of them alike; on the CPU one after another. */
static void time_gemms(operands *o, shape_result *res, const timed_method *list, int count)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    if (o->env->gpu) {
        gpu_timed_method g[METHODS];
        for (int i = 0; i < count; i++) g[i] = (gpu_timed_method){.fn = list[i].fn, .arg = list[i].arg};
        (void)gpu_timing_medians(o->env->timing, g, count, o->env->warmup, o->env->reps); /* failures are per method */
        for (int i = 0; i < count; i++) record_timing(res, list[i].m, g[i].failed, g[i].median_s, g[i].why);
        return;
    }
#endif
    for (int i = 0; i < count; i++) time_method(o, res, list[i].m, list[i].fn, list[i].arg);
}

#ifdef FP8BLOCK_HAVE_BASELINES
/* fp8block and cuBLASLt round the same fp32 sums to bf16 in different orders: they differ
 * by a few bf16 ulps at most (gemm_check's limit against fp64 is 4e-3 for each). */
static const double AGREEMENT_LIMIT = 1e-2;

/* fp8block's D against cuBLASLt block-scaled's (packed), every element. */
static double compare_outputs(operands *o)
{
    return bf16_rel_diff(o, o->d, o->ldd, o->d_lt_block, o->s.n, o->s.m, o->s.n);
}
#endif

static void bench_shape(bench_env *env, rng_state *rng, shape_result *res)
{
    const shape s = res->s;
    operands o = {.env = env, .s = s};
    o.kb = cli_ceil_div(s.k, 128), o.nb = cli_ceil_div(s.n, 128);
    o.ldq = cli_round_up(s.k, 16), o.ldsa = cli_round_up(s.m, 4), o.ldd = cli_round_up(s.n, 8); /* docs/DESIGN.md's alignment */
    o.ldsb = cli_round_up(o.kb, 4); /* the 16-byte scale rows cuBLASLt reads (bench/cublaslt.h) */
    o.ldq1 = cli_round_up(s.n, 16), o.ldsw2 = cli_round_up(o.nb, 4), o.ldd2 = cli_round_up(s.k, 8);
    double mk = (double)s.m * (double)s.k, nk = (double)s.n * (double)s.k, mn = (double)s.m * (double)s.n;
    double scales = 4.0 * ((double)o.kb * (double)s.m + (double)o.nb * (double)o.kb);
    double flops = 2.0 * mk * (double)s.n;
    res->bf16_bytes = 2 * (mk + nk);
    res->fp8_bytes = mk + nk + scales;
    res->agreement = NAN;
    res->chain_agreement = NAN;
    res->r[M_FP8BLOCK].flops = res->r[M_LT_BLOCK].flops = res->r[M_LT_TENSOR].flops = flops;
    res->r[M_LT_BF16].flops = res->r[M_PIPELINE].flops = res->r[M_FP8BLOCK_E4M3].flops = flops;
    res->r[M_CHAIN_E4M3].flops = res->r[M_CHAIN_BF16].flops = 2 * flops;
    res->r[M_CHAIN_E4M3].bytes = res->r[M_CHAIN_BF16].bytes = NAN; /* two kernels or three: a rate in TFLOP/s only */
    res->r[M_FP8BLOCK_E4M3].bytes = mk + nk + scales + mn + 4.0 * (double)o.nb * (double)s.m;
    res->r[M_FP8BLOCK].bytes = res->r[M_LT_BLOCK].bytes = mk + nk + scales + 2 * mn;
    res->r[M_LT_TENSOR].bytes = mk + nk + 8 + 2 * mn;
    res->r[M_LT_BF16].bytes = 2 * (mk + nk + mn);
    res->r[M_PIPELINE].bytes = 2 * mk + nk + 4.0 * (double)o.nb * (double)o.kb + 2 * mn;
    res->r[M_QUANT_A].bytes = 2 * mk + mk + 4.0 * (double)o.kb * (double)s.m;
    res->r[M_QUANT_B].bytes = 2 * nk + nk + 4.0 * (double)o.nb * (double)o.kb;
    res->r[M_COPY_A].bytes = 4 * mk;
    res->r[M_COPY_B].bytes = 4 * nk;

    const fp8block_ctx *ctx = env->ctx;
    size_t xa_bytes = (size_t)(s.m * s.k) * 2, xb_bytes = (size_t)(s.n * s.k) * 2;
    uint16_t *ha = bench_random_bf16(rng, s.m * s.k), *hb = bench_random_bf16(rng, s.n * s.k);
    o.xa = devmem_alloc(ctx, xa_bytes), o.xb = devmem_alloc(ctx, xb_bytes);
    o.qa = devmem_alloc(ctx, (size_t)(s.m * o.ldq)), o.qb = devmem_alloc(ctx, (size_t)(s.n * o.ldq));
    o.sa = devmem_alloc(ctx, (size_t)(o.kb * o.ldsa) * 4), o.sb = devmem_alloc(ctx, (size_t)(o.nb * o.ldsb) * 4);
    o.d = devmem_alloc(ctx, (size_t)(s.m * o.ldd) * 2);
    o.d_lt_block = devmem_alloc(ctx, (size_t)(s.m * s.n) * 2), o.d_lt = devmem_alloc(ctx, (size_t)(s.m * s.n) * 2);
    o.copy_dst = devmem_alloc(ctx, xa_bytes > xb_bytes ? xa_bytes : xb_bytes);
    o.unit_scale = devmem_alloc(ctx, sizeof(float));
    o.d8 = devmem_alloc(ctx, (size_t)(s.m * o.ldq1)), o.q1 = devmem_alloc(ctx, (size_t)(s.m * o.ldq1));
    o.sd8 = devmem_alloc(ctx, (size_t)(o.nb * o.ldsa) * 4), o.s1 = devmem_alloc(ctx, (size_t)(o.nb * o.ldsa) * 4);
    o.qw2 = devmem_alloc(ctx, (size_t)(s.k * o.ldq1)), o.sw2 = devmem_alloc(ctx, (size_t)(o.kb * o.ldsw2) * 4);
    o.d2_e4m3 = devmem_alloc(ctx, (size_t)(s.m * o.ldd2) * 2), o.d2_bf16 = devmem_alloc(ctx, (size_t)(s.m * o.ldd2) * 2);
    const float one = 1.0f;
    char why[200] = "";
    int ready = 0;
    if (!ha || !hb || !o.xa || !o.xb || !o.qa || !o.qb || !o.sa || !o.sb || !o.d || !o.d_lt_block || !o.d_lt ||
        !o.copy_dst || !o.unit_scale || !o.d8 || !o.q1 || !o.sd8 || !o.s1 || !o.qw2 || !o.sw2 || !o.d2_e4m3 ||
        !o.d2_bf16)
        snprintf(why, sizeof why, "out of memory for this shape");
    else if (devmem_upload(ctx, o.xa, ha, xa_bytes) || devmem_upload(ctx, o.xb, hb, xb_bytes) ||
             devmem_upload(ctx, o.unit_scale, &one, sizeof one))
        snprintf(why, sizeof why, "copying the inputs to the device failed");
    else
        ready = quantize_inputs(&o, res, ha, hb, why, sizeof why) == 0 && prepare_w2(&o, rng, why, sizeof why) == 0;
    if (!ready) {
        for (int m = 0; m < METHODS; m++)
            if (res->r[m].status == RESULT_PENDING) mark(&res->r[m], RESULT_FAILED, "%s", why);
        fprintf(stderr, "  skipped: %s\n", why);
        goto done;
    }

    timed_method gemms[M_LT_BF16 + 1] = {{M_FP8BLOCK, run_fp8block, &o},
                                         {M_FP8BLOCK_E4M3, run_fp8block_e4m3, &o}}; /* the GEMM methods lead the enum */
    int gemm_count = 2;
#ifdef FP8BLOCK_HAVE_BASELINES
    baseline_call calls[BASELINE_KINDS];
    if (env->lt) {
        static const method lt_methods[BASELINE_KINDS] = {M_LT_BF16, M_LT_TENSOR, M_LT_BLOCK};
        /* cuBLASLt takes no leading dimension for scales, and FP8 needs 16-byte rows. */
        int packed = o.ldq == s.k && o.ldsa == s.m;
        for (int kind = BASELINE_FP8_BLOCK; kind >= BASELINE_BF16; kind--) {
            measurement *r = &res->r[lt_methods[kind]];
            char reason[200] = "";
            if (kind != BASELINE_BF16 && !packed) {
                mark(r, RESULT_UNAVAILABLE, "%s", "cuBLASLt FP8 here needs K % 16 == 0 and M % 4 == 0");
                continue;
            }
            o.lt[kind] = baseline_gemm_create(env->lt, (baseline_kind)kind, s.m, s.n, s.k, reason, sizeof reason);
            if (!o.lt[kind]) {
                mark(r, RESULT_UNAVAILABLE, "%s", reason);
                fprintf(stderr, "  %-20s unavailable: %s\n", method_info[lt_methods[kind]].name, reason);
                continue;
            }
            calls[kind] = (baseline_call){&o, (baseline_kind)kind};
            /* A peer is beaten only at its best: the fastest of cuBLASLt's top algorithms. */
            if (baseline_gemm_autotune(o.lt[kind], run_baseline, &calls[kind], reason, sizeof reason)) {
                mark(r, RESULT_FAILED, "%s", reason);
                fprintf(stderr, "  %-20s failed: %s\n", method_info[lt_methods[kind]].name, reason);
                continue;
            }
            int offered, chosen = baseline_gemm_chosen(o.lt[kind], &offered);
            fprintf(stderr, "  %-20s algorithm %d of the heuristic's %d (the fastest)\n",
                    method_info[lt_methods[kind]].name, chosen + 1, offered);
            gemms[gemm_count++] = (timed_method){lt_methods[kind], run_baseline, &calls[kind]};
        }
    } else
#endif
    {
        mark(&res->r[M_LT_BLOCK], RESULT_UNAVAILABLE, "%s", env->lt_missing);
        mark(&res->r[M_LT_TENSOR], RESULT_UNAVAILABLE, "%s", env->lt_missing);
        mark(&res->r[M_LT_BF16], RESULT_UNAVAILABLE, "%s", env->lt_missing);
    }
    time_gemms(&o, res, gemms, gemm_count);
#ifdef FP8BLOCK_HAVE_BASELINES
    if (res->r[M_LT_BLOCK].status == RESULT_OK && res->r[M_FP8BLOCK].status == RESULT_OK) {
        res->agreement = compare_outputs(&o);
        if (!(res->agreement <= AGREEMENT_LIMIT)) {
            mark(&res->r[M_FP8BLOCK], RESULT_FAILED, "%s", "its D disagrees with cuBLASLt block-scaled");
            fprintf(stderr, "  fp8block's D differs from cuBLASLt's by %.3g (limit %.0e): FAILED\n", res->agreement,
                    AGREEMENT_LIMIT);
        }
    }
#endif
    if (res->r[M_QUANT_A].status == RESULT_PENDING) {
        time_method(&o, res, M_QUANT_A, run_quant_a, &o);
        time_method(&o, res, M_QUANT_B, run_quant_b, &o);
    }
    if (res->r[M_PIPELINE].status == RESULT_PENDING) {
        if (res->r[M_FP8BLOCK].status == RESULT_OK) time_method(&o, res, M_PIPELINE, run_pipeline, &o);
        else mark(&res->r[M_PIPELINE], res->r[M_FP8BLOCK].status, "GEMM: %.190s", res->r[M_FP8BLOCK].detail);
    }
    time_method(&o, res, M_COPY_A, run_copy_a, &o);
    time_method(&o, res, M_COPY_B, run_copy_b, &o);
    timed_method chains[2];
    int chain_count = 0;
    if (res->r[M_CHAIN_E4M3].status == RESULT_PENDING) chains[chain_count++] = (timed_method){M_CHAIN_E4M3, run_chain_e4m3, &o};
    if (res->r[M_CHAIN_BF16].status == RESULT_PENDING) chains[chain_count++] = (timed_method){M_CHAIN_BF16, run_chain_bf16, &o};
    time_gemms(&o, res, chains, chain_count);
    if (res->r[M_CHAIN_E4M3].status == RESULT_OK && res->r[M_CHAIN_BF16].status == RESULT_OK)
        res->chain_agreement = compare_chains(&o);
done:
    free(ha), free(hb);
    free_operands(&o);
}

/* ---- reporting ------------------------------------------------------------------------- */

static int ok(const shape_result *r, method m) { return r->r[m].status == RESULT_OK; }

static double tflops(const shape_result *r, method m)
{
    return ok(r, m) ? r->r[m].flops / r->r[m].seconds * 1e-12 : NAN;
}

static double gbytes(const shape_result *r, method m)
{
    return ok(r, m) ? r->r[m].bytes / r->r[m].seconds * 1e-9 : NAN;
}

/* How many times faster `fast` ran than `slow`. */
static double speedup(const shape_result *r, method fast, method slow)
{
    return ok(r, fast) && ok(r, slow) ? r->r[slow].seconds / r->r[fast].seconds : NAN;
}

/* The cell of a table: the value, or what stands in its place. */
static void cell(char *buf, size_t size, const shape_result *r, method m, double v, const char *fmt)
{
    if (isfinite(v)) snprintf(buf, size, fmt, v);
    else snprintf(buf, size, "%s", r->r[m].status == RESULT_FAILED ? "FAIL" : "n/a");
}

static void print_header(void)
{
    printf("%6s %6s %6s | %9s %9s %9s %9s | %9s | %8s %8s %8s | %8s %8s %8s | %8s | %6s | %7s %8s\n", "M", "N", "K",
           "fp8block", "lt-block", "lt-tensor", "lt-bf16", "fp8block", "vs", "vs", "vs", "quant-A", "copy", "quant-B",
           "pipeline", "memory", "e4m3 D", "chain");
    printf("%6s %6s %6s | %9s %9s %9s %9s | %9s | %8s %8s %8s | %8s %8s %8s | %8s | %6s | %7s %8s\n", "", "", "",
           "TFLOP/s", "TFLOP/s", "TFLOP/s", "TFLOP/s", "GB/s", "lt-block", "lt-tens", "lt-bf16", "GB/s", "GB/s", "GB/s",
           "vs bf16", "fp8/16", "/bf16 D", "/bf16+q");
    fflush(stdout);
}

static void print_row(const shape_result *r)
{
    char c[14][24];
    cell(c[0], 24, r, M_FP8BLOCK, tflops(r, M_FP8BLOCK), "%.4g");
    cell(c[1], 24, r, M_LT_BLOCK, tflops(r, M_LT_BLOCK), "%.4g");
    cell(c[2], 24, r, M_LT_TENSOR, tflops(r, M_LT_TENSOR), "%.4g");
    cell(c[3], 24, r, M_LT_BF16, tflops(r, M_LT_BF16), "%.4g");
    cell(c[4], 24, r, M_FP8BLOCK, gbytes(r, M_FP8BLOCK), "%.4g");
    cell(c[5], 24, r, ok(r, M_FP8BLOCK) ? M_LT_BLOCK : M_FP8BLOCK, speedup(r, M_FP8BLOCK, M_LT_BLOCK), "%.2fx");
    cell(c[6], 24, r, ok(r, M_FP8BLOCK) ? M_LT_TENSOR : M_FP8BLOCK, speedup(r, M_FP8BLOCK, M_LT_TENSOR), "%.2fx");
    cell(c[7], 24, r, ok(r, M_FP8BLOCK) ? M_LT_BF16 : M_FP8BLOCK, speedup(r, M_FP8BLOCK, M_LT_BF16), "%.2fx");
    cell(c[8], 24, r, M_QUANT_A, gbytes(r, M_QUANT_A), "%.4g");
    cell(c[9], 24, r, M_COPY_A, gbytes(r, M_COPY_A), "%.4g");
    cell(c[10], 24, r, M_QUANT_B, gbytes(r, M_QUANT_B), "%.4g");
    cell(c[11], 24, r, ok(r, M_PIPELINE) ? M_LT_BF16 : M_PIPELINE, speedup(r, M_PIPELINE, M_LT_BF16), "%.2fx");
    /* Time ratios (the e4m3 D's cost), not speedups: issue 16's bar is e4m3 <= 1.02x bf16 D. */
    cell(c[12], 24, r, ok(r, M_FP8BLOCK) ? M_FP8BLOCK_E4M3 : M_FP8BLOCK, speedup(r, M_FP8BLOCK, M_FP8BLOCK_E4M3),
         "%.3fx");
    cell(c[13], 24, r, ok(r, M_CHAIN_BF16) ? M_CHAIN_E4M3 : M_CHAIN_BF16, speedup(r, M_CHAIN_BF16, M_CHAIN_E4M3),
         "%.3fx");
    printf("%6" PRId64 " %6" PRId64 " %6" PRId64
           " | %9s %9s %9s %9s | %9s | %8s %8s %8s | %8s %8s %8s | %8s | %6.3f | %7s %8s\n",
           r->s.m, r->s.n, r->s.k, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11],
           r->fp8_bytes / r->bf16_bytes, c[12], c[13]);
    fflush(stdout);
}

typedef struct {
    const char *label;
    int64_t m_min, m_max;
    int count, left_out;
    double log_sum, min;
} geomean;

/* Why a shape has no speedup of fast over slow: the first of the two without a time. */
static const char *left_out_because(const shape_result *r, method fast, method slow, char *buf, size_t size)
{
    method m = ok(r, fast) ? slow : fast;
    if (ok(r, fast) && ok(r, slow)) snprintf(buf, size, "no finite ratio (%.3g s / %.3g s)", r->r[slow].seconds,
                                             r->r[fast].seconds);
    else snprintf(buf, size, "%s %s: %s", method_info[m].name, status_names[r->r[m].status], r->r[m].detail);
    return buf;
}

/* The geomean of fast over slow on the group's DeepSeek shapes; with f, every shape of the
 * group that has no ratio is listed there, with why. */
static void summarize(const shape_result *res, size_t count, method fast, method slow, geomean *g, FILE *f)
{
    g->count = 0, g->left_out = 0, g->log_sum = 0, g->min = INFINITY;
    for (size_t i = 0; i < count; i++) {
        if (res[i].s.m < g->m_min || res[i].s.m > g->m_max || !strstr(res[i].s.set, "deepseek")) continue;
        double x = speedup(&res[i], fast, slow);
        if (!isfinite(x) || x <= 0) {
            char why[300];
            g->left_out++;
            if (f)
                fprintf(f, "    left out: %" PRId64 "x%" PRId64 "x%" PRId64 ": %s\n", res[i].s.m, res[i].s.n, res[i].s.k,
                        left_out_because(&res[i], fast, slow, why, sizeof why));
            continue;
        }
        g->count++, g->log_sum += log(x);
        if (x < g->min) g->min = x;
    }
}

/* Issue 4's yardstick: fp8block over cuBLASLt block-scaled on the DeepSeek shapes,
 * M >= 4096 and M <= 128 separately. */
static void print_summary(FILE *f, const shape_result *res, size_t count)
{
    geomean groups[] = {{"M >= 4096", 4096, INT64_MAX, 0, 0, 0, 0}, {"M <= 128", 1, 128, 0, 0, 0, 0}};
    static const method baselines[] = {M_LT_BLOCK, M_LT_TENSOR, M_LT_BF16};
    for (size_t b = 0; b < 3; b++)
        for (size_t g = 0; g < 2; g++) {
            summarize(res, count, M_FP8BLOCK, baselines[b], &groups[g], NULL);
            if (groups[g].count + groups[g].left_out == 0) continue; /* no DeepSeek shape in this group */
            if (groups[g].count == 0)
                fprintf(f, "fp8block vs %-20s DeepSeek shapes %-9s: no geomean, all %d shapes left out\n",
                        method_info[baselines[b]].name, groups[g].label, groups[g].left_out);
            else
                fprintf(f, "fp8block vs %-20s DeepSeek shapes %-9s: geomean %.3fx over %d shapes (lowest %.3fx)%s\n",
                        method_info[baselines[b]].name, groups[g].label, exp(groups[g].log_sum / groups[g].count),
                        groups[g].count, groups[g].min, groups[g].left_out ? ", LEAVING OUT:" : "");
            if (groups[g].left_out) summarize(res, count, M_FP8BLOCK, baselines[b], &groups[g], f);
        }
}

static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputc('"', f);
}

static int write_csv(const char *path, const shape_result *res, size_t count)
{
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "fp8block bench: cannot write %s\n", path), -1;
    fprintf(f, "set,m,n,k,method,status,seconds,tflops,gbytes_per_s,fp8block_speedup,detail\n");
    for (size_t i = 0; i < count; i++)
        for (int m = 0; m < METHODS; m++) {
            const shape_result *r = &res[i];
            double sp = (m == M_LT_BLOCK || m == M_LT_TENSOR || m == M_LT_BF16) ? speedup(r, M_FP8BLOCK, (method)m)
                                                                                : NAN;
            fprintf(f, "%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%s,", r->s.set, r->s.m, r->s.n, r->s.k,
                    method_info[m].name, status_names[r->r[m].status]);
            if (ok(r, m)) fprintf(f, "%.9g", r->r[m].seconds);
            fputc(',', f);
            if (isfinite(tflops(r, m)) && r->r[m].flops > 0) fprintf(f, "%.4g", tflops(r, m));
            fputc(',', f);
            if (isfinite(gbytes(r, m))) fprintf(f, "%.4g", gbytes(r, m));
            fputc(',', f);
            if (isfinite(sp)) fprintf(f, "%.4g", sp);
            fputc(',', f);
            csv_field(f, r->r[m].detail);
            fputc('\n', f);
        }
    return fclose(f) == 0 ? 0 : -1;
}

static int write_json(const char *path, const bench_env *env, const shape_result *res, size_t count)
{
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "fp8block bench: cannot write %s\n", path), -1;
    fprintf(f, "{\n  \"kind\": \"fp8block-bench\",\n  \"date\": ");
    report_json_string(f, report_utc_now());
    fprintf(f, ",\n  \"commit\": ");
    report_json_string(f, report_commit());
    fprintf(f, ",\n  \"device\": ");
    report_json_string(f, cli_context_name(env->ctx));
    fprintf(f, ",\n  \"backend\": \"%s\",\n  \"cublaslt\": ", env->gpu ? "cuda" : "cpu");
#ifdef FP8BLOCK_HAVE_BASELINES
    if (env->lt) report_json_string(f, baseline_lib_version(env->lt));
    else
#endif
        fputs("null", f);
    fprintf(f, ",\n  \"timing\": ");
    report_json_string(f, env->timing_note);
    fprintf(f, ",\n  \"methods\": {");
    for (int m = 0; m < METHODS; m++) {
        fprintf(f, "%s\n    \"%s\": ", m ? "," : "", method_info[m].name);
        report_json_string(f, method_info[m].what);
    }
    fprintf(f, "\n  },\n  \"shapes\": [");
    for (size_t i = 0; i < count; i++) {
        const shape_result *r = &res[i];
        fprintf(f, "%s\n    {\"set\": ", i ? "," : "");
        report_json_string(f, r->s.set);
        fprintf(f, ", \"m\": %" PRId64 ", \"n\": %" PRId64 ", \"k\": %" PRId64 ",\n     \"results\": {", r->s.m, r->s.n,
                r->s.k);
        for (int m = 0; m < METHODS; m++) {
            fprintf(f, "%s\n       \"%s\": {\"status\": \"%s\", \"seconds\": ", m ? "," : "", method_info[m].name,
                    status_names[r->r[m].status]);
            report_json_number(f, ok(r, m) ? r->r[m].seconds : NAN);
            fprintf(f, ", \"tflops\": ");
            report_json_number(f, r->r[m].flops > 0 ? tflops(r, m) : NAN);
            fprintf(f, ", \"gbytes_per_s\": ");
            report_json_number(f, gbytes(r, m));
            fprintf(f, ", \"detail\": ");
            report_json_string(f, r->r[m].detail);
            fputc('}', f);
        }
        fprintf(f, "},\n     \"speedup\": {\"fp8block_vs_cublaslt_fp8_block\": ");
        report_json_number(f, speedup(r, M_FP8BLOCK, M_LT_BLOCK));
        fprintf(f, ", \"fp8block_vs_cublaslt_fp8_tensor\": ");
        report_json_number(f, speedup(r, M_FP8BLOCK, M_LT_TENSOR));
        fprintf(f, ", \"fp8block_vs_cublaslt_bf16\": ");
        report_json_number(f, speedup(r, M_FP8BLOCK, M_LT_BF16));
        fprintf(f, ", \"pipeline_vs_cublaslt_bf16\": ");
        report_json_number(f, speedup(r, M_PIPELINE, M_LT_BF16));
        fprintf(f, "},\n     \"time_ratio\": {\"e4m3_over_bf16_d\": ");
        report_json_number(f, speedup(r, M_FP8BLOCK, M_FP8BLOCK_E4M3));
        fprintf(f, ", \"chain_e4m3_over_bf16_quantize\": ");
        report_json_number(f, speedup(r, M_CHAIN_BF16, M_CHAIN_E4M3));
        fprintf(f, "},\n     \"quantize_bandwidth_vs_copy\": {\"a_1x128\": ");
        report_json_number(f, gbytes(r, M_QUANT_A) / gbytes(r, M_COPY_A));
        fprintf(f, ", \"b_128x128\": ");
        report_json_number(f, gbytes(r, M_QUANT_B) / gbytes(r, M_COPY_B));
        fprintf(f, "},\n     \"memory\": {\"bf16_bytes\": %.0f, \"fp8_bytes\": %.0f},\n", r->bf16_bytes, r->fp8_bytes);
        fprintf(f, "     \"fp8block_vs_cublaslt_block_rel_diff\": ");
        report_json_number(f, r->agreement);
        fprintf(f, ",\n     \"chain_e4m3_vs_bf16_quantize_rel_diff\": ");
        report_json_number(f, r->chain_agreement);
        fputc('}', f);
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- the command ----------------------------------------------------------------------- */

static int open_env(bench_env *env, const bench_options *o)
{
    if (cli_open_context(o->device, &env->ctx, stderr)) return -1;
    env->gpu = fp8block_device(env->ctx) >= 0;
    if (fp8block_create(&env->cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block bench: CPU backend: %s\n", fp8block_last_error(NULL));
        return -1;
    }
    env->reps = o->reps > 0 ? o->reps : env->gpu ? REPS_GPU : REPS_CPU;
    env->warmup = o->warmup >= 0 ? o->warmup : env->gpu ? WARMUP_GPU : WARMUP_CPU;
    snprintf(env->lt_missing, sizeof env->lt_missing, "%s",
             env->gpu ? "built without cuBLASLt" : "the CPU backend has no cuBLASLt");
    snprintf(env->timing_note, sizeof env->timing_note, "wall clock, median of %d after %d warm-up", env->reps,
             env->warmup);
#ifdef FP8BLOCK_HAVE_BASELINES
    if (env->gpu) {
        char why[200] = "";
        int device = fp8block_device(env->ctx);
        env->timing =
            gpu_timing_create(device, strcmp(o->flush, "read") ? GPU_FLUSH_WRITE : GPU_FLUSH_READ, why, sizeof why);
        if (!env->timing) {
            fprintf(stderr, "fp8block bench: %s\n", why);
            return -1;
        }
        env->lt = baseline_lib_open(device, why, sizeof why);
        if (!env->lt) snprintf(env->lt_missing, sizeof env->lt_missing, "%s", why);
        snprintf(env->timing_note, sizeof env->timing_note,
                 "CUDA events around each call, median of %d after %d warm-up, the GEMMs of a shape in turn "
                 "call by call, shuffled each round; before each call a %.0f MB %s (2x L2, not timed) flushes L2; "
                 "cuBLASLt runs the fastest of its heuristic's top 8 algorithms, tuned per shape",
                 env->reps, env->warmup, gpu_timing_flush_bytes(env->timing) / 1e6,
                 gpu_timing_flush_name(env->timing));
    }
#endif
    return 0;
}

static void close_env(bench_env *env)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    baseline_lib_close(env->lt);
    gpu_timing_destroy(env->timing);
#endif
    fp8block_destroy(env->cpu);
    fp8block_destroy(env->ctx);
}

/* fp8block bench --moe. */
static int bench_moe(const bench_options *o)
{
    fp8block_ctx *ctx = NULL;
    if (cli_open_context(o->device, &ctx, stderr)) return CLI_EXIT_USAGE;
    FILE *csv = o->csv ? fopen(o->csv, "w") : NULL;
    int rc = 1;
    if (o->csv && !csv) fprintf(stderr, "fp8block bench: cannot write %s\n", o->csv);
    else rc = bench_moe_run(ctx, stdout, csv, (uint64_t)o->seed) ? 1 : 0;
    if (csv && fclose(csv) != 0) rc = 1;
    fp8block_destroy(ctx);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench_options o;
    if (parse_options(argc, argv, &o)) return CLI_EXIT_USAGE;
    if (o.moe) return bench_moe(&o);
    bench_env env = {0};
    shape_list shapes = {0};
    if (open_env(&env, &o) || build_shapes(&shapes, o.shapes, env.gpu)) {
        close_env(&env);
        return CLI_EXIT_USAGE;
    }
    if (!env.gpu && !o.shapes) fprintf(stderr, "fp8block bench: CPU backend: small squares only (--shapes to change)\n");
    shape_result *res = calloc(shapes.count, sizeof *res);
    if (!res) return fprintf(stderr, "fp8block bench: out of host memory\n"), 1;
    printf("fp8block bench on %s", cli_context_name(env.ctx));
#ifdef FP8BLOCK_HAVE_BASELINES
    if (env.lt) printf(", %s", baseline_lib_version(env.lt));
#endif
    printf("; %s\n", env.timing_note);
    print_header();
    rng_state rng;
    rng_seed(&rng, o.seed);
    int failures = 0, missing = 0;
    char first_missing[300] = "";
    for (size_t i = 0; i < shapes.count; i++) {
        res[i].s = shapes.v[i];
        fprintf(stderr, "[%zu/%zu] %" PRId64 "x%" PRId64 "x%" PRId64 " (%s)\n", i + 1, shapes.count, shapes.v[i].m,
                shapes.v[i].n, shapes.v[i].k, shapes.v[i].set);
        bench_shape(&env, &rng, &res[i]);
        print_row(&res[i]);
        for (int m = 0; m < METHODS; m++) {
            failures += res[i].r[m].status == RESULT_FAILED;
            if (res[i].r[m].status == RESULT_UNAVAILABLE && missing++ == 0)
                snprintf(first_missing, sizeof first_missing, "%s on %" PRId64 "x%" PRId64 "x%" PRId64 ": %.200s",
                         method_info[m].name, shapes.v[i].m, shapes.v[i].n, shapes.v[i].k, res[i].r[m].detail);
        }
    }
    print_summary(stdout, res, shapes.count);
    printf("n/a: unavailable here (see the JSON/CSV detail); FAIL: the call failed. Speedups are fp8block's (time of\n"
           "the other / time of fp8block); memory is fp8 codes + fp32 scales over bf16 operands. e4m3 D: time of the\n"
           "GEMM with e4m3 D and its scales over its time with bf16 D; chain: two layers with an e4m3 D1 over the\n"
           "same with a bf16 D1 and quantize_1x128 between (W2 is K x N).\n");

    int rc = failures ? 1 : 0;
    printf("\nQuantize and dequantize kernels against a device copy, every type (bench-quant's sweep):\n");
    fflush(stdout);
    if (bench_quant_run(env.ctx, stdout, NULL)) rc = 1;
    if (o.csv && write_csv(o.csv, res, shapes.count)) rc = 1;
    char plot_json[4096];
    const char *json = o.json;
    if (!json && o.plot) {
        snprintf(plot_json, sizeof plot_json, "%s/bench.json", o.plot);
        json = plot_json;
    }
    if (o.plot && report_make_dir(o.plot)) rc = 1;
    else if (json && write_json(json, &env, res, shapes.count)) rc = 1;
    else if (o.plot && report_plot("bench", json, o.plot)) rc = 1;
    if (failures) fprintf(stderr, "fp8block bench: %d measurements failed (FAIL in the table)\n", failures);
    if (missing)
        fprintf(stderr, "fp8block bench: %d measurements unavailable (n/a in the table), the first %s%s\n", missing,
                first_missing, o.allow_missing ? " (allowed by --allow-missing)" : "; exit 3 (--allow-missing accepts it)");
    if (missing && !o.allow_missing && rc == 0) rc = CLI_EXIT_MISSING;
    free(res);
    free(shapes.v);
    close_env(&env);
    return rc;
}
