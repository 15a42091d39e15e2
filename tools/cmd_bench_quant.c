/* fp8block bench-quant: do quantization and dequantization run at the speed of memory?
 * Every kernel against a device-to-device copy measured in the same run, in GB/s of bytes
 * read + written (codes and scales included), the way bench/gpu_timing.h times: L2
 * flushed before each call, CUDA events, warm-up, median. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench_quant.h"
#include "bench_run.h"
#include "cli.h"
#include "commands.h"
#include "devmem.h"
#include "rng.h"

#ifdef FP8BLOCK_HAVE_BASELINES
#include "gpu_timing.h"
#endif

enum { REPS_GPU = 30, WARMUP_GPU = 3, REPS_CPU = 3, WARMUP_CPU = 1, PATTERN_ELEMS = 1 << 20 };

typedef struct {
    int64_t rows, cols;
} bench_shape;

static const bench_shape GPU_SHAPES[] = {{8192, 8192}, {16384, 16384}, {4096, 7168}, {128, 7168}};
static const bench_shape CPU_SHAPES[] = {{128, 7168}, {1024, 1024}};

static const fp8block_dtype TYPES[] = {FP8BLOCK_BF16, FP8BLOCK_F16, FP8BLOCK_F32};
static const char *const TYPE_NAMES[] = {"fp32", "bf16", "fp16", "e4m3"};
static const char *const BLOCK_NAMES[] = {"1x128", "128x128"};

/* OP_QUANTIZE_T: fp8block_quantize_1x128_transpose with both outputs, x's and xᵀ's 1x128
 * quantizations (the training step's activations and gradients). */
typedef enum { OP_COPY, OP_QUANTIZE, OP_DEQUANTIZE, OP_QUANTIZE_T } op_kind;
static const char *const OP_NAMES[] = {"copy", "quantize", "dequantize", "quant+T"};

/* One call to time: the operation and its operands. */
typedef struct {
    fp8block_ctx *ctx;
    op_kind op;
    fp8block_block block;
    fp8block_dtype type; /* quantize input, dequantize output, copied elements */
    int64_t rows, cols, lds;
    void *x, *y;
    uint8_t *q, *qt;
    float *s, *st; /* qt, st: xᵀ's codes and scales for OP_QUANTIZE_T */
} bench_call;

static int on_gpu(const fp8block_ctx *ctx) { return fp8block_device(ctx) >= 0; }
static size_t type_size(fp8block_dtype t) { return t == FP8BLOCK_F32 ? 4 : 2; }

static int64_t scale_count(fp8block_block block, int64_t rows, int64_t cols)
{
    return block == FP8BLOCK_BLOCK_1x128 ? cli_ceil_div(cols, 128) * rows
                                         : cli_ceil_div(rows, 128) * cli_ceil_div(cols, 128);
}

static double call_bytes(const bench_call *c)
{
    double elems = (double)c->rows * (double)c->cols;
    if (c->op == OP_COPY) return 2 * elems * (double)type_size(c->type);
    if (c->op == OP_QUANTIZE_T)
        return elems * (2 + (double)type_size(c->type)) +
               4.0 * (double)(scale_count(FP8BLOCK_BLOCK_1x128, c->rows, c->cols) +
                              scale_count(FP8BLOCK_BLOCK_1x128, c->cols, c->rows));
    return elems * (1 + (double)type_size(c->type)) + 4.0 * (double)scale_count(c->block, c->rows, c->cols);
}

static int device_copy(const fp8block_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    if (!on_gpu(ctx)) {
        memcpy(dst, src, bytes);
        return 0;
    }
#ifdef FP8BLOCK_HAVE_BASELINES
    return gpu_copy(dst, src, bytes);
#else
    return -1;
#endif
}

static int run_call(void *arg, char *why, size_t why_size)
{
    const bench_call *c = arg;
    fp8block_status st = FP8BLOCK_OK;
    switch (c->op) {
    case OP_COPY:
        if (device_copy(c->ctx, c->y, c->x, (size_t)(c->rows * c->cols) * type_size(c->type)) != 0) {
            snprintf(why, why_size, "device copy failed");
            return -1;
        }
        return 0;
    case OP_QUANTIZE:
        st = fp8block_quantize_ex(c->ctx, c->block, 0, c->x, c->type, c->rows, c->cols, c->cols, c->q, c->cols, c->s,
                                  c->lds, NULL);
        break;
    case OP_DEQUANTIZE:
        st = c->block == FP8BLOCK_BLOCK_1x128
                 ? fp8block_dequantize_1x128(c->ctx, c->q, c->cols, c->s, c->lds, c->rows, c->cols, c->y, c->type,
                                             c->cols, NULL)
                 : fp8block_dequantize_128x128(c->ctx, c->q, c->cols, c->s, c->lds, c->rows, c->cols, c->y, c->type,
                                               c->cols, NULL);
        break;
    case OP_QUANTIZE_T:
        st = fp8block_quantize_1x128_transpose(c->ctx, 0, c->x, c->type, c->rows, c->cols, c->cols, c->q, c->cols,
                                               c->s, c->rows, c->qt, c->rows, c->st, c->cols, NULL);
        break;
    }
    if (st != FP8BLOCK_OK) {
        snprintf(why, why_size, "%s: %s", fp8block_status_string(st), fp8block_last_error(c->ctx));
        return -1;
    }
    return 0;
}

/* Median seconds of one call: gpu_timing on a GPU, the host clock on the CPU backend. */
static int time_call(void *timing, bench_call *c, double *seconds, char *why, size_t why_size)
{
#ifdef FP8BLOCK_HAVE_BASELINES
    if (on_gpu(c->ctx)) return gpu_timing_median(timing, run_call, c, WARMUP_GPU, REPS_GPU, seconds, why, why_size);
#endif
    (void)timing;
    return bench_host_median(run_call, c, WARMUP_CPU, REPS_CPU, seconds, why, why_size);
}

/* An fp32 value with at most 8 significant bits and exponent in [-14, 7]: exact in bf16 and
 * f16 too, so every input type holds the same numbers. */
static float pattern_value(rng_state *r)
{
    int64_t m = rng_range(r, -255, 255), e = rng_range(r, -14, 0);
    return (float)m * (float)(1.0 / (double)(1LL << -e));
}

static uint16_t exact_bf16_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return (uint16_t)(u >> 16);
}

static uint16_t exact_f16_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if ((u & 0x7fffffffu) == 0) return sign;
    uint32_t exponent = ((u >> 23) & 0xff) - 127 + 15; /* in 1..30 for pattern_value's range */
    return (uint16_t)(sign | exponent << 10 | ((u >> 13) & 0x3ff));
}

/* count random elements of type t at dst: one pattern uploaded, then doubled in place. */
static int fill_random(fp8block_ctx *ctx, void *dst, fp8block_dtype t, int64_t count, uint64_t seed)
{
    size_t elem = type_size(t);
    int64_t n = count < PATTERN_ELEMS ? count : PATTERN_ELEMS;
    unsigned char *pattern = malloc((size_t)n * elem);
    if (!pattern) return -1;
    rng_state r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        float v = pattern_value(&r);
        if (t == FP8BLOCK_F32) memcpy(pattern + i * 4, &v, 4);
        else {
            uint16_t h = t == FP8BLOCK_BF16 ? exact_bf16_bits(v) : exact_f16_bits(v);
            memcpy(pattern + i * 2, &h, 2);
        }
    }
    int rc = devmem_upload(ctx, dst, pattern, (size_t)n * elem);
    free(pattern);
    for (int64_t filled = n; rc == 0 && filled < count;) {
        int64_t more = filled < count - filled ? filled : count - filled;
        rc = device_copy(ctx, (char *)dst + filled * (int64_t)elem, dst, (size_t)more * elem);
        filled += more;
    }
    return rc == 0 ? devmem_sync(ctx) : rc;
}

static void report(const bench_output *out, const bench_call *c, double seconds, double copy_gbps)
{
    double gbps = call_bytes(c) / seconds * 1e-9;
    char shape[48];
    snprintf(shape, sizeof shape, "%" PRId64 "x%" PRId64, c->rows, c->cols);
    fprintf(out->table, "%-12s %-10s %-8s %-5s %10.2f %9.1f %7.1f%%\n", shape, OP_NAMES[c->op],
            c->op == OP_COPY ? "-" : BLOCK_NAMES[c->block], TYPE_NAMES[c->type], seconds * 1e6, gbps,
            100 * gbps / copy_gbps);
    fflush(out->table);
    if (out->csv)
        fprintf(out->csv, "\"%s\",%s,%s,%" PRId64 ",%" PRId64 ",%s,%s,%s,%.0f,%.9f,%.1f,%.1f\n", out->device,
                out->stamp.date, out->stamp.commit, c->rows, c->cols, OP_NAMES[c->op],
                c->op == OP_COPY ? "-" : BLOCK_NAMES[c->block], TYPE_NAMES[c->type], call_bytes(c), seconds, gbps,
                copy_gbps);
}

static int bench_shape_run(fp8block_ctx *ctx, void *timing, const bench_output *out, bench_shape sh)
{
    int64_t elems = sh.rows * sh.cols;
    int64_t scales = scale_count(FP8BLOCK_BLOCK_1x128, sh.rows, sh.cols); /* the larger of the two layouts */
    int64_t scales_t = scale_count(FP8BLOCK_BLOCK_1x128, sh.cols, sh.rows);
    bench_call c = {ctx, OP_COPY, FP8BLOCK_BLOCK_1x128, FP8BLOCK_BF16, sh.rows, sh.cols, 0, NULL, NULL,
                    NULL, NULL, NULL, NULL};
    c.x = devmem_alloc(ctx, (size_t)elems * 4);
    c.y = devmem_alloc(ctx, (size_t)elems * 4);
    c.q = devmem_alloc(ctx, (size_t)elems);
    c.s = devmem_alloc(ctx, (size_t)scales * sizeof(float));
    c.qt = devmem_alloc(ctx, (size_t)elems);
    c.st = devmem_alloc(ctx, (size_t)scales_t * sizeof(float));
    char why[512] = "";
    double seconds = 0, copy_gbps = 0;
    int rc = -1;
    if (!c.x || !c.y || !c.q || !c.s || !c.qt || !c.st) {
        snprintf(why, sizeof why, "out of memory for %" PRId64 "x%" PRId64, sh.rows, sh.cols);
        goto done;
    }
    if (fill_random(ctx, c.x, FP8BLOCK_BF16, elems, 1) != 0) {
        snprintf(why, sizeof why, "filling the input failed");
        goto done;
    }
    if (time_call(timing, &c, &seconds, why, sizeof why) != 0) goto done;
    copy_gbps = call_bytes(&c) / seconds * 1e-9;
    report(out, &c, seconds, copy_gbps);

    c.op = OP_QUANTIZE;
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
        c.type = TYPES[t];
        if (fill_random(ctx, c.x, c.type, elems, 2 + t) != 0) {
            snprintf(why, sizeof why, "filling the input failed");
            goto done;
        }
        for (int b = 0; b < 2; b++) {
            c.block = (fp8block_block)b;
            c.lds = b == FP8BLOCK_BLOCK_1x128 ? sh.rows : cli_ceil_div(sh.cols, 128);
            if (time_call(timing, &c, &seconds, why, sizeof why) != 0) goto done;
            report(out, &c, seconds, copy_gbps);
        }
        c.op = OP_QUANTIZE_T;
        c.block = FP8BLOCK_BLOCK_1x128;
        if (time_call(timing, &c, &seconds, why, sizeof why) != 0) goto done;
        report(out, &c, seconds, copy_gbps);
        c.op = OP_QUANTIZE;
    }
    for (int b = 0; b < 2; b++) {
        c.block = (fp8block_block)b;
        c.lds = b == FP8BLOCK_BLOCK_1x128 ? sh.rows : cli_ceil_div(sh.cols, 128);
        c.op = OP_QUANTIZE; /* codes and scales of this block shape to dequantize */
        if (run_call(&c, why, sizeof why) != 0) goto done;
        fp8block_dtype input = c.type;
        c.op = OP_DEQUANTIZE;
        for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
            c.type = TYPES[t];
            if (time_call(timing, &c, &seconds, why, sizeof why) != 0) goto done;
            report(out, &c, seconds, copy_gbps);
        }
        c.type = input;
    }
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "fp8block bench-quant: %" PRId64 "x%" PRId64 ": %s\n", sh.rows, sh.cols, why);
    devmem_free(ctx, c.x);
    devmem_free(ctx, c.y);
    devmem_free(ctx, c.q);
    devmem_free(ctx, c.s);
    devmem_free(ctx, c.qt);
    devmem_free(ctx, c.st);
    return rc;
}

int bench_quant_run(fp8block_ctx *ctx, FILE *out_table, FILE *csv)
{
    int failed;
    void *timing = bench_timing_open(ctx, "fp8block bench-quant", &failed);
    if (failed) return 1;
    bench_output out;
    bench_output_open(&out, ctx, out_table, csv);

    const bench_shape *shapes = on_gpu(ctx) ? GPU_SHAPES : CPU_SHAPES;
    size_t count = on_gpu(ctx) ? sizeof GPU_SHAPES / sizeof GPU_SHAPES[0] : sizeof CPU_SHAPES / sizeof CPU_SHAPES[0];
    fprintf(out_table, "quantization bandwidth on %s, %s, commit %s\n", out.device, out.stamp.date,
            out.stamp.commit);
    if (on_gpu(ctx))
        fprintf(out_table, "GB/s of bytes read + written (scales included); L2 flushed before each call; CUDA events; "
                           "median of %d after %d warm-up\n", REPS_GPU, WARMUP_GPU);
    else
        fprintf(out_table, "CPU reference backend: small shapes only (the GPU shapes are 8192^2, 16384^2, 4096x7168, "
                           "128x7168); host clock, median of %d\n", REPS_CPU);
    fprintf(out_table, "%-12s %-10s %-8s %-5s %10s %9s %8s\n", "shape", "op", "block", "type", "time_us", "GB/s",
            "vs_copy");
    if (csv) fprintf(csv, "device,date,commit,rows,cols,op,block,type,bytes,seconds,gbps,copy_gbps\n");
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) rc = bench_shape_run(ctx, timing, &out, shapes[i]);
    bench_timing_close(timing);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: fp8block bench-quant [--device auto|cpu|cuda|cuda:N] [--csv FILE]\n"
               "  Quantize (bf16/fp16/fp32 -> e4m3 + fp32 scales) and dequantize bandwidth, 1x128 and 128x128\n"
               "  blocks, and quantize-transpose (x's and x^T's 1x128 quantizations: quant+T), against a\n"
               "  device-to-device copy in the same run, for 8192^2, 16384^2, 4096x7168 and 128x7168 (small\n"
               "  shapes on the CPU backend). Set FP8BLOCK_COMMIT to record the commit.\n");
}

int cmd_bench_quant(int argc, char **argv)
{
    const char *device = "auto", *csv_path = NULL;
    const cli_option options[] = {{"--device", CLI_TEXT, &device, 0}, {"--csv", CLI_TEXT, &csv_path, 0}};
    if (cli_parse_options("bench-quant", argc, argv, options, 2, usage) ||
        cli_check_output("bench-quant", "--csv", csv_path))
        return CLI_EXIT_USAGE;
    fp8block_ctx *ctx = NULL;
    if (cli_open_context(device, &ctx, stderr) != 0) return CLI_EXIT_USAGE;
    FILE *csv = NULL;
    if (csv_path && !(csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "fp8block bench-quant: cannot write %s\n", csv_path);
        fp8block_destroy(ctx);
        return CLI_EXIT_USAGE;
    }
    int rc = bench_quant_run(ctx, stdout, csv);
    if (csv) fclose(csv);
    fp8block_destroy(ctx);
    return rc;
}
