/* fp8block bench --moe: the grouped GEMMs of a mixture-of-experts layer, timed the way
 * bench/gpu_timing.h times (L2 flushed before each call, CUDA events, warm-up, median).
 * Contiguous (prefill): G experts' rows sorted by expert, group sizes drawn at random and not
 * rounded to a tile, the row offsets in device memory as a router would leave them. Masked
 * (decode): G x max_m rows, counts drawn around max_m / 2, expected_m = max_m / 2. The same
 * cases as bench/grouped.py, which times DeepGEMM beside them; here fp8block alone, from C.
 * TFLOP/s count the rows the groups hold, not the padding of a masked layout. */
#define _POSIX_C_SOURCE 200809L
#include "bench_moe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "cli.h"
#include "devmem.h"
#include "rng.h"

#ifdef FP8BLOCK_HAVE_BASELINES
#include "gpu_timing.h"
#endif

enum { REPS_GPU = 30, WARMUP_GPU = 3, REPS_CPU = 3, WARMUP_CPU = 1, MAX_GROUPS = 32, MAX_CASES = 32 };

/* One expert's weight, N x K; N a multiple of 128, so that the experts' 128x128 scale
 * blocks stack as G blocks of N / 128 rows. */
typedef struct {
    int64_t n, k;
} expert_shape;

static const expert_shape GPU_SHAPES[] = {{4096, 7168}, {7168, 2048}};
static const expert_shape CPU_SHAPES[] = {{256, 384}};

typedef struct {
    fp8block_group_layout layout;
    int groups;
    int64_t max_m;            /* masked: each group's rows in A and D */
    int64_t size_lo, size_hi; /* contiguous: a group's rows, drawn in [size_lo, size_hi] */
} moe_case;

static int build_cases(int gpu, moe_case *out)
{
    int count = 0;
    if (!gpu) {
        out[count++] = (moe_case){FP8BLOCK_GROUPS_CONTIGUOUS, 1, 0, 1, 40};
        out[count++] = (moe_case){FP8BLOCK_GROUPS_CONTIGUOUS, 3, 0, 0, 40}; /* empty groups included */
        out[count++] = (moe_case){FP8BLOCK_GROUPS_MASKED, 2, 16, 0, 0};
        return count;
    }
    static const int contiguous_groups[] = {4, 8, 32};
    for (int i = 0; i < 3; i++) {
        int g = contiguous_groups[i];
        out[count++] = (moe_case){FP8BLOCK_GROUPS_CONTIGUOUS, g, 0, 256, g < 32 ? 8192 : 2048};
    }
    static const int masked_groups[] = {1, 2, 4, 8, 16, 32};
    static const int64_t masked_rows[] = {64, 128, 256};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) out[count++] = (moe_case){FP8BLOCK_GROUPS_MASKED, masked_groups[i], masked_rows[j], 0, 0};
    return count;
}

/* One case's operands, in the context's memory. */
typedef struct {
    fp8block_ctx *ctx;
    fp8block_gemm_desc g;
    int64_t rows; /* the rows the groups hold */
    uint8_t *qa, *qb;
    float *sa, *sb;
    void *d;
    int32_t *group_rows;
} moe_call;

static int run_call(void *arg, char *why, size_t why_size)
{
    moe_call *c = arg;
    fp8block_status st = fp8block_gemm_ex(c->ctx, &c->g, NULL);
    if (st == FP8BLOCK_OK) return 0;
    snprintf(why, why_size, "%s: %s", fp8block_status_string(st), fp8block_last_error(c->ctx));
    return -1;
}

static int time_call(void *timing, moe_call *c, double *seconds, char *why, size_t why_size)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    if (timing) return gpu_timing_median(timing, run_call, c, WARMUP_GPU, REPS_GPU, seconds, why, why_size);
#endif
    (void)timing;
    return bench_host_median(run_call, c, WARMUP_CPU, REPS_CPU, seconds, why, why_size);
}

enum { PATTERN_ROWS = 256 };

/* x (rows x cols bf16, in the context's memory) filled with `pattern` (PATTERN_ROWS x cols of
 * random bf16 in [-1, 1)) repeated down the rows: the times do not depend on the values, and
 * 32 experts of 7168 x 2048 would otherwise take seconds of host random numbers a case. */
static int fill_rows(fp8block_ctx *ctx, void *x, int64_t rows, int64_t cols, const uint16_t *pattern)
{
    for (int64_t r0 = 0; r0 < rows; r0 += PATTERN_ROWS) {
        int64_t n = rows - r0 < PATTERN_ROWS ? rows - r0 : PATTERN_ROWS;
        if (devmem_upload(ctx, (uint16_t *)x + r0 * cols, pattern, (size_t)(n * cols) * 2)) return -1;
    }
    return 0;
}

/* rows x cols of that data, quantized by the context (1x128 or 128x128) into codes (ld cols)
 * and scales (ld lds). */
static int quantized_operand(fp8block_ctx *ctx, const uint16_t *pattern, int64_t rows, int64_t cols,
                             int block_128x128, uint8_t *codes, float *scales, int64_t lds, char *why, size_t why_size)
{
    void *x = devmem_alloc(ctx, (size_t)(rows * cols) * 2);
    int rc = -1;
    if (!x) {
        snprintf(why, why_size, "out of memory for this case");
    } else if (fill_rows(ctx, x, rows, cols, pattern)) {
        snprintf(why, why_size, "uploading the operands failed");
    } else {
        fp8block_status st = block_128x128 ? fp8block_quantize_128x128(ctx, x, FP8BLOCK_BF16, rows, cols, cols, codes,
                                                                       cols, scales, lds, NULL)
                                           : fp8block_quantize_1x128(ctx, x, FP8BLOCK_BF16, rows, cols, cols, codes,
                                                                     cols, scales, lds, NULL);
        if (st == FP8BLOCK_OK && devmem_sync(ctx) == 0) rc = 0;
        else snprintf(why, why_size, "quantizing the operands failed: %s", fp8block_last_error(ctx));
    }
    devmem_free(ctx, x);
    return rc;
}

/* Draws the groups' sizes into rows_of (G+1 offsets, or G counts) and sets c->g's grouped
 * fields and c->rows; returns the rows of A and D (m). */
static int64_t draw_groups(const moe_case *mc, rng_state *rng, int32_t *rows_of, moe_call *c)
{
    int64_t m = 0, held = 0;
    if (mc->layout == FP8BLOCK_GROUPS_CONTIGUOUS) {
        rows_of[0] = 0;
        for (int i = 0; i < mc->groups; i++) {
            int64_t size = rng_range(rng, mc->size_lo, mc->size_hi);
            if (i == mc->groups - 1 && m + size == 0) size = 1; /* at least one row in all */
            m += size;
            rows_of[i + 1] = (int32_t)m;
        }
        held = m;
    } else {
        m = mc->groups * mc->max_m;
        for (int i = 0; i < mc->groups; i++) {
            rows_of[i] = (int32_t)rng_range(rng, mc->max_m / 4, 3 * mc->max_m / 4);
            held += rows_of[i];
        }
        c->g.max_m = mc->max_m;
        c->g.expected_m = mc->max_m / 2;
    }
    c->g.group_layout = mc->layout;
    c->g.groups = mc->groups;
    c->rows = held;
    return m;
}

static int run_case(fp8block_ctx *ctx, void *timing, const bench_output *out, rng_state *rng, const uint16_t *pattern,
                    expert_shape sh, const moe_case *mc)
{
    moe_call c = {.ctx = ctx};
    c.g = (fp8block_gemm_desc)FP8BLOCK_GEMM_DESC_INIT;
    int32_t rows_of[MAX_GROUPS + 1];
    const int64_t m = draw_groups(mc, rng, rows_of, &c), n = sh.n, k = sh.k, kb = cli_ceil_div(k, 128);
    const int64_t ldsa = cli_round_up(m, 4), ldsb = cli_round_up(kb, 4), g = mc->groups;
    const size_t rows_bytes = (size_t)(mc->layout == FP8BLOCK_GROUPS_CONTIGUOUS ? g + 1 : g) * sizeof(int32_t);
    c.qa = devmem_alloc(ctx, (size_t)(m * k)), c.sa = devmem_alloc(ctx, (size_t)(kb * ldsa) * 4);
    c.qb = devmem_alloc(ctx, (size_t)(g * n * k)), c.sb = devmem_alloc(ctx, (size_t)(g * (n / 128) * ldsb) * 4);
    c.d = devmem_alloc(ctx, (size_t)(m * n) * 2), c.group_rows = devmem_alloc(ctx, rows_bytes);
    char why[300] = "";
    int rc = -1;
    if (n % 128) snprintf(why, sizeof why, "N must be a multiple of 128 here (the experts' scale blocks apart)");
    else if (!c.qa || !c.sa || !c.qb || !c.sb || !c.d || !c.group_rows) snprintf(why, sizeof why, "out of memory for this case");
    else if (devmem_upload(ctx, c.group_rows, rows_of, rows_bytes)) snprintf(why, sizeof why, "uploading the groups failed");
    else if (quantized_operand(ctx, pattern, m, k, 0, c.qa, c.sa, ldsa, why, sizeof why) == 0 &&
             quantized_operand(ctx, pattern, g * n, k, 1, c.qb, c.sb, ldsb, why, sizeof why) == 0) {
        c.g.m = m, c.g.n = n, c.g.k = k;
        c.g.a = c.qa, c.g.lda = k, c.g.sa = c.sa, c.g.ldsa = ldsa;
        c.g.b = c.qb, c.g.ldb = k, c.g.sb = c.sb, c.g.ldsb = ldsb;
        c.g.d = c.d, c.g.d_dtype = FP8BLOCK_BF16, c.g.ldd = n;
        c.g.group_rows = c.group_rows;
        c.g.group_stride_b = n * k, c.g.group_stride_sb = (n / 128) * ldsb;
        double seconds = 0;
        rc = time_call(timing, &c, &seconds, why, sizeof why);
        const char *layout = mc->layout == FP8BLOCK_GROUPS_CONTIGUOUS ? "contiguous" : "masked";
        if (rc == 0) {
            double tflops = 2.0 * (double)c.rows * (double)n * (double)k / seconds * 1e-12;
            fprintf(out->table, "%-10s %3d %6" PRId64 " %6" PRId64 " %5" PRId64 " %5" PRId64 " | %10.1f %9.4g\n", layout,
                    mc->groups, mc->max_m, c.rows, n, k, 1e6 * seconds, tflops);
            if (out->csv)
                fprintf(out->csv, "\"%s\",%s,%s,%s,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.9g,%.4g\n",
                        out->device, out->stamp.date, out->stamp.commit, layout, mc->groups, mc->max_m, c.rows, n, k,
                        seconds, tflops);
        }
    }
    if (rc != 0) fprintf(stderr, "fp8block bench --moe: %" PRId64 "x%" PRId64 ", G = %d: %s\n", n, k, mc->groups, why);
    void *bufs[] = {c.qa, c.sa, c.qb, c.sb, c.d, c.group_rows};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) devmem_free(ctx, bufs[i]);
    return rc;
}

int bench_moe_run(fp8block_ctx *ctx, FILE *out_table, FILE *csv, uint64_t seed)
{
    const int gpu = fp8block_device(ctx) >= 0;
    int failed;
    void *timing = bench_timing_open(ctx, "fp8block bench --moe", &failed);
    if (failed) return 1;
    bench_output out;
    bench_output_open(&out, ctx, out_table, csv);
    moe_case cases[MAX_CASES];
    const int case_count = build_cases(gpu, cases);
    const expert_shape *shapes = gpu ? GPU_SHAPES : CPU_SHAPES;
    const size_t shape_count = gpu ? sizeof GPU_SHAPES / sizeof GPU_SHAPES[0] : sizeof CPU_SHAPES / sizeof CPU_SHAPES[0];
    fprintf(out_table, "grouped GEMMs (bf16 D) on %s, %s, commit %s\n", out.device, out.stamp.date,
            out.stamp.commit);
    if (gpu)
        fprintf(out_table, "L2 flushed before each call; CUDA events; median of %d after %d warm-up\n", REPS_GPU,
                WARMUP_GPU);
    else
        fprintf(out_table, "CPU reference backend: one small shape only (the GPU's are 4096x7168 and 7168x2048); "
                           "host clock, median of %d\n", REPS_CPU);
    fprintf(out_table, "%-10s %3s %6s %6s %5s %5s | %10s %9s\n", "layout", "G", "max_m", "rows", "N", "K", "time_us",
            "TFLOP/s");
    if (csv) fprintf(csv, "device,date,commit,layout,groups,max_m,rows,n,k,seconds,tflops\n");
    rng_state rng;
    rng_seed(&rng, seed);
    int rc = 0;
    for (size_t s = 0; s < shape_count; s++) {
        uint16_t *pattern = bench_random_bf16(&rng, PATTERN_ROWS * shapes[s].k);
        if (!pattern) {
            fprintf(stderr, "fp8block bench --moe: out of host memory\n");
            rc = 1;
        }
        for (int i = 0; i < case_count && pattern; i++)
            if (run_case(ctx, timing, &out, &rng, pattern, shapes[s], &cases[i])) rc = 1;
        free(pattern);
    }
    bench_timing_close(timing);
    return rc;
}
