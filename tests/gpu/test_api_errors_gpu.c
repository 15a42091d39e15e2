/* Pointers on the wrong side: host memory passed to a CUDA context, and CUDA device memory
 * passed to a CPU context (detectable while the process has a CUDA context), for every
 * pointer of every entry point: FP8BLOCK_ERR_INVALID_ARGUMENT, a message naming the
 * pointer, and no byte of any output changed on either side. Also a few argument classes
 * of tests/cpu/test_api_errors.c on the CUDA context: the same statuses on both backends. */
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "testutil.h"

enum { ROWS = 130, COLS = 300, LD = 304, SCALE_LINES = 3, LDS = 132, FILL = 0x5c, POINTERS = 5 };
enum { BUFFER_BYTES = ROWS * LD * 4 };

typedef enum { QUANTIZE_1x128, QUANTIZE_128x128, DEQUANTIZE_1x128, DEQUANTIZE_128x128, GEMM, ENTRIES } entry;
static const char *const ENTRY_NAMES[ENTRIES] = {"fp8block_quantize_1x128", "fp8block_quantize_128x128",
                                                 "fp8block_dequantize_1x128", "fp8block_dequantize_128x128",
                                                 "fp8block_gemm"};
/* The pointer arguments of each entry point, in order; outputs marked. */
static const char *const POINTER_NAMES[ENTRIES][POINTERS] = {
    {"x", "q", "s"}, {"x", "q", "s"}, {"q", "s", "y"}, {"q", "s", "y"}, {"a", "sa", "b", "sb", "d"}};
static const int IS_OUTPUT[ENTRIES][POINTERS] = {{0, 1, 1}, {0, 1, 1}, {0, 0, 1}, {0, 0, 1}, {0, 0, 0, 0, 1}};
static const int POINTER_COUNT[ENTRIES] = {3, 3, 3, 3, 5};

typedef struct {
    int64_t rows, cols, ld, lds;
} shape;

/* Valid arguments with the given pointers (the buffers are large enough for every entry). */
static fp8block_status call(fp8block_ctx *ctx, entry e, void *const p[POINTERS], shape sh)
{
    switch (e) {
    case QUANTIZE_1x128:
        return fp8block_quantize_1x128(ctx, p[0], FP8BLOCK_F32, sh.rows, sh.cols, sh.ld, p[1], sh.ld, p[2], sh.lds, NULL);
    case QUANTIZE_128x128:
        return fp8block_quantize_128x128(ctx, p[0], FP8BLOCK_F32, sh.rows, sh.cols, sh.ld, p[1], sh.ld, p[2], SCALE_LINES,
                                         NULL);
    case DEQUANTIZE_1x128:
        return fp8block_dequantize_1x128(ctx, p[0], sh.ld, p[1], sh.lds, sh.rows, sh.cols, p[2], FP8BLOCK_F32, sh.ld, NULL);
    case DEQUANTIZE_128x128:
        return fp8block_dequantize_128x128(ctx, p[0], sh.ld, p[1], SCALE_LINES, sh.rows, sh.cols, p[2], FP8BLOCK_F32, sh.ld,
                                           NULL);
    default:
        return fp8block_gemm(ctx, sh.rows, sh.rows, sh.cols, p[0], sh.ld, p[1], sh.lds, p[2], sh.ld, p[3], SCALE_LINES,
                             p[4], FP8BLOCK_BF16, sh.ld, NULL);
    }
}

static fp8block_ctx *gpu, *cpu;
static void *device_buf[POINTERS], *host_buf[POINTERS];
static unsigned char *pristine, *seen, *staging;

static int is_device(const void *p)
{
    for (int i = 0; i < POINTERS; i++)
        if (p == device_buf[i]) return 1;
    return 0;
}

/* Outputs (both sides) get the fill byte; the inputs the call will read get valid data
 * (x small integers, codes 1.0, scales 0.5) wherever they live. */
static void prepare(entry e, void *const p[POINTERS])
{
    for (int i = 0; i < POINTERS; i++) {
        memset(host_buf[i], FILL, BUFFER_BYTES);
        if (devmem_fill(gpu, device_buf[i], FILL, BUFFER_BYTES) != 0) exit((fprintf(stderr, "cudaMemset failed\n"), 1));
    }
    for (int i = 0; i < POINTER_COUNT[e]; i++) {
        if (IS_OUTPUT[e][i]) continue;
        char kind = POINTER_NAMES[e][i][0];
        for (int j = 0; j < BUFFER_BYTES / 4; j++) {
            float v = kind == 's' ? 0.5f : (float)(j % 13) - 6.0f;
            if (kind == 'x' || kind == 's') memcpy(staging + 4 * j, &v, 4);
            else memset(staging + 4 * j, 0x38, 4);
        }
        if (devmem_upload(is_device(p[i]) ? gpu : cpu, p[i], staging, BUFFER_BYTES) != 0)
            exit((fprintf(stderr, "upload failed\n"), 1));
    }
}

/* Every output buffer of e, on the device and on the host, still holds the fill byte. */
static int outputs_untouched(entry e)
{
    devmem_sync(gpu);
    for (int i = 0; i < POINTER_COUNT[e]; i++) {
        if (!IS_OUTPUT[e][i]) continue;
        if (devmem_download(gpu, seen, device_buf[i], BUFFER_BYTES) != 0 || memcmp(seen, pristine, BUFFER_BYTES)) return 0;
        if (memcmp(host_buf[i], pristine, BUFFER_BYTES)) return 0;
    }
    return 1;
}

static const char *context_name(const fp8block_ctx *ctx) { return ctx == gpu ? "CUDA" : "CPU"; }

/* Each pointer in turn from `wrong`, the others from `right`. */
static void wrong_side(entry e, fp8block_ctx *ctx, void *const right[POINTERS], void *const wrong[POINTERS],
                       const char *wrong_kind)
{
    const shape sh = {ROWS, COLS, LD, LDS};
    for (int i = 0; i < POINTER_COUNT[e]; i++) {
        void *p[POINTERS];
        memcpy(p, right, sizeof p);
        p[i] = wrong[i];
        prepare(e, p);
        fp8block_status st = call(ctx, e, p, sh);
        const char *message = fp8block_last_error(NULL);
        CHECK(st == FP8BLOCK_ERR_INVALID_ARGUMENT, "%s on a %s context with %s in %s memory: %s (%s)", ENTRY_NAMES[e],
              context_name(ctx), POINTER_NAMES[e][i], wrong_kind, fp8block_status_string(st), message);
        CHECK(strstr(message, POINTER_NAMES[e][i]) != NULL, "%s: message \"%s\" does not name %s", ENTRY_NAMES[e],
              message, POINTER_NAMES[e][i]);
        CHECK(outputs_untouched(e), "%s with %s in %s memory: an output was written", ENTRY_NAMES[e],
              POINTER_NAMES[e][i], wrong_kind);
        printf("%s on a %s context, %s in %s memory: %s: %s\n", ENTRY_NAMES[e], context_name(ctx), POINTER_NAMES[e][i],
               wrong_kind, fp8block_status_string(st), message);
    }
}

/* Argument classes whose status must not depend on the backend. */
static void same_status_on_the_gpu(entry e)
{
    static const struct {
        const char *what;
        shape sh;
        fp8block_status want;
    } CASES[] = {
        {"rows = 0", {0, COLS, LD, LDS}, FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"cols = -1", {ROWS, -1, LD, LDS}, FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"ld < cols", {ROWS, COLS, COLS - 1, LDS}, FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"lds < rows", {ROWS, COLS, LD, ROWS - 1}, FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"ld overflowing", {ROWS, COLS, INT64_MAX / 2 / 16 * 16, LDS}, FP8BLOCK_ERR_INVALID_ARGUMENT},
    };
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        if (CASES[c].sh.lds != LDS && (e == QUANTIZE_128x128 || e == DEQUANTIZE_128x128)) continue; /* lds unused */
        fp8block_status on[2];
        fp8block_ctx *ctxs[2] = {cpu, gpu};
        void *const *bufs[2] = {host_buf, device_buf};
        for (int side = 0; side < 2; side++) {
            prepare(e, bufs[side]);
            on[side] = call(ctxs[side], e, bufs[side], CASES[c].sh);
            CHECK(on[side] == CASES[c].want, "%s on a %s context with %s: %s, want %s (%s)", ENTRY_NAMES[e],
                  context_name(ctxs[side]), CASES[c].what, fp8block_status_string(on[side]),
                  fp8block_status_string(CASES[c].want), fp8block_last_error(NULL));
            CHECK(outputs_untouched(e), "%s on a %s context with %s: an output was written", ENTRY_NAMES[e],
                  context_name(ctxs[side]), CASES[c].what);
        }
    }
}

int main(void)
{
    gpu = test_gpu_ctx_or_skip();
    if (fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) return 1;
    pristine = malloc(BUFFER_BYTES), seen = malloc(BUFFER_BYTES), staging = malloc(BUFFER_BYTES);
    memset(pristine, FILL, BUFFER_BYTES);
    for (int i = 0; i < POINTERS; i++) {
        device_buf[i] = devmem_alloc(gpu, BUFFER_BYTES);
        host_buf[i] = devmem_alloc(cpu, BUFFER_BYTES);
        if (!device_buf[i] || !host_buf[i] || !pristine || !seen || !staging) {
            fprintf(stderr, "test_api_errors_gpu: out of memory\n");
            return 1;
        }
    }
    char unsupported[512] = "";
    for (int e = 0; e < ENTRIES; e++) {
        const shape sh = {ROWS, COLS, LD, LDS};
        prepare((entry)e, device_buf);
        fp8block_status st = call(gpu, (entry)e, device_buf, sh);
        if (st == FP8BLOCK_ERR_UNSUPPORTED) { /* a failure on sm_90; the checks need a working baseline */
            size_t used = strlen(unsupported);
            snprintf(unsupported + used, sizeof unsupported - used, "%s%s", used ? "; " : "", fp8block_last_error(NULL));
            CHECK(0, "%s baseline answered UNSUPPORTED on an sm_90 device: %s", ENTRY_NAMES[e], fp8block_last_error(NULL));
            continue;
        }
        CHECK(st == FP8BLOCK_OK && devmem_sync(gpu) == 0, "%s baseline on the CUDA context: %s", ENTRY_NAMES[e],
              fp8block_last_error(NULL));
        wrong_side((entry)e, gpu, device_buf, host_buf, "host");
        wrong_side((entry)e, cpu, host_buf, device_buf, "CUDA device");
        same_status_on_the_gpu((entry)e);
    }
    for (int i = 0; i < POINTERS; i++) devmem_free(gpu, device_buf[i]), devmem_free(cpu, host_buf[i]);
    free(pristine), free(seen), free(staging);
    fp8block_destroy(cpu);
    fp8block_destroy(gpu);
    if (unsupported[0]) fprintf(stderr, "test_api_errors_gpu: UNSUPPORTED on an sm_90 device: %s\n", unsupported);
    return test_finish("test_api_errors_gpu");
}
