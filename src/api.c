/* The public entry points: validate everything, then hand a checked argument bundle to
 * the backend of the context. Nothing is written before every check has passed. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_backend.h"
#include "cuda_backend.h"
#include "internal.h"

/* ---- errors: per thread, so concurrent callers never see each other's messages ---- */

static _Thread_local char t_message[1024];
static _Thread_local const char *t_function = "fp8block";
static _Thread_local const fp8block_ctx *t_ctx_of_call;
static _Thread_local const fp8block_ctx *t_ctx_of_message;

static void begin_call(const char *function, const fp8block_ctx *ctx)
{
    t_function = function;
    t_ctx_of_call = ctx;
    t_ctx_of_message = ctx;
    t_message[0] = '\0';
}

fp8block_status fp8block_fail(fp8block_status st, const char *fmt, ...)
{
    int n = snprintf(t_message, sizeof t_message, "%s: ", t_function);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof t_message) vsnprintf(t_message + n, sizeof t_message - (size_t)n, fmt, ap);
    va_end(ap);
    t_ctx_of_message = t_ctx_of_call;
    return st;
}

const char *fp8block_last_error(const fp8block_ctx *ctx)
{
    if (ctx != NULL && ctx != t_ctx_of_message) return "";
    return t_message;
}

const char *fp8block_status_string(fp8block_status s)
{
    switch (s) {
    case FP8BLOCK_OK: return "FP8BLOCK_OK";
    case FP8BLOCK_ERR_INVALID_ARGUMENT: return "FP8BLOCK_ERR_INVALID_ARGUMENT";
    case FP8BLOCK_ERR_MISALIGNED: return "FP8BLOCK_ERR_MISALIGNED";
    case FP8BLOCK_ERR_UNSUPPORTED: return "FP8BLOCK_ERR_UNSUPPORTED";
    case FP8BLOCK_ERR_CUDA: return "FP8BLOCK_ERR_CUDA";
    case FP8BLOCK_ERR_OUT_OF_MEMORY: return "FP8BLOCK_ERR_OUT_OF_MEMORY";
    case FP8BLOCK_ERR_INTERNAL: return "FP8BLOCK_ERR_INTERNAL";
    }
    return "unknown fp8block_status";
}

size_t fp8block_dtype_size(fp8block_dtype t)
{
    switch (t) {
    case FP8BLOCK_F32: return 4;
    case FP8BLOCK_BF16:
    case FP8BLOCK_F16: return 2;
    case FP8BLOCK_E4M3: return 1;
    }
    return 0;
}

const char *fp8block_dtype_name(fp8block_dtype t)
{
    switch (t) {
    case FP8BLOCK_F32: return "F32";
    case FP8BLOCK_BF16: return "BF16";
    case FP8BLOCK_F16: return "F16";
    case FP8BLOCK_E4M3: return "E4M3";
    }
    return "unknown";
}

/* ---- live contexts: a destroyed or forged handle is an error, not a crash ---- */

static pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static fp8block_ctx **g_live;
static size_t g_live_count, g_live_capacity;
static size_t g_cuda_contexts;

static int registry_add(fp8block_ctx *ctx)
{
    int ok = 1;
    pthread_mutex_lock(&g_registry_lock);
    if (g_live_count == g_live_capacity) {
        size_t capacity = g_live_capacity ? 2 * g_live_capacity : 16;
        fp8block_ctx **grown = realloc(g_live, capacity * sizeof *grown);
        if (grown) {
            g_live = grown;
            g_live_capacity = capacity;
        } else {
            ok = 0;
        }
    }
    if (ok) {
        g_live[g_live_count++] = ctx;
        if (ctx->device >= 0) g_cuda_contexts++;
    }
    pthread_mutex_unlock(&g_registry_lock);
    return ok;
}

static int registry_remove(const fp8block_ctx *ctx)
{
    int found = 0;
    pthread_mutex_lock(&g_registry_lock);
    for (size_t i = 0; i < g_live_count; i++) {
        if (g_live[i] == ctx) {
            g_live[i] = g_live[--g_live_count];
            if (ctx->device >= 0) g_cuda_contexts--;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_registry_lock);
    return found;
}

static int registry_has(const fp8block_ctx *ctx, size_t *cuda_contexts)
{
    int found = 0;
    pthread_mutex_lock(&g_registry_lock);
    for (size_t i = 0; i < g_live_count && !found; i++) found = g_live[i] == ctx;
    *cuda_contexts = g_cuda_contexts;
    pthread_mutex_unlock(&g_registry_lock);
    return found;
}

fp8block_status fp8block_create(fp8block_ctx **out, int device)
{
    begin_call("fp8block_create", NULL);
    if (!out) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "ctx (the output pointer) is NULL");
    if (device < FP8BLOCK_DEVICE_CPU)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "device = %d; expected FP8BLOCK_DEVICE_CPU (-1) or a CUDA ordinal >= 0", device);
    fp8block_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "out of host memory for the context");
    ctx->device = device;
    if (device >= 0) {
        fp8block_status st = cuda_device_open(device, &ctx->cuda);
        if (st != FP8BLOCK_OK) {
            free(ctx);
            return st;
        }
    }
    if (!registry_add(ctx)) {
        cuda_device_close(ctx->cuda);
        free(ctx);
        return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "out of host memory for the context registry");
    }
    *out = ctx;
    return FP8BLOCK_OK;
}

void fp8block_destroy(fp8block_ctx *ctx)
{
    if (!ctx || !registry_remove(ctx)) return;
    cuda_device_close(ctx->cuda);
    free(ctx);
}

int fp8block_device(const fp8block_ctx *ctx) { return ctx ? ctx->device : -2; }

/* ---- argument checks ---- */

typedef struct {
    fp8block_ctx *ctx;
    int check_host, check_device; /* which pointer kinds are wrong for this context */
} call_env;

static fp8block_status check_ctx(fp8block_ctx *ctx, call_env *env)
{
    size_t cuda_contexts = 0;
    if (!ctx) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!registry_has(ctx, &cuda_contexts))
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "ctx %p is not a live context (destroyed, or never made by fp8block_create)",
                             (void *)ctx);
    env->ctx = ctx;
    env->check_host = ctx->device >= 0;
    /* Asking CUDA about a pointer starts the CUDA runtime: only worth it on a CPU context
     * when the process also uses CUDA through fp8block, the one way to mix them up. */
    env->check_device = ctx->device < 0 && cuda_contexts > 0;
    return FP8BLOCK_OK;
}

static fp8block_status check_pointer(const call_env *env, const char *name, const void *p, size_t align,
                                     const char *why_align)
{
    if (!p) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s is NULL", name);
    if ((uintptr_t)p % align)
        return fp8block_fail(FP8BLOCK_ERR_MISALIGNED, "%s = %p is not %zu-byte aligned (%s)", name, p, align,
                             why_align);
    if (env->check_host || env->check_device) {
        pointer_location where = cuda_pointer_location(p);
        if (env->check_host && where == POINTER_HOST)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "%s = %p is host memory, but the context is CUDA device %d: pass device memory",
                                 name, p, env->ctx->device);
        if (env->check_device && where == POINTER_DEVICE)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "%s = %p is CUDA device memory, but the context is the CPU backend", name, p);
    }
    return FP8BLOCK_OK;
}

static fp8block_status check_dim(const char *name, int64_t v)
{
    if (v <= 0) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %" PRId64 "; must be >= 1", name, v);
    return FP8BLOCK_OK;
}

static fp8block_status check_ld(const char *name, int64_t ld, const char *min_name, int64_t min)
{
    if (ld < min)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %" PRId64 " is smaller than %s = %" PRId64, name,
                             ld, min_name, min);
    return FP8BLOCK_OK;
}

/* A matrix of `rows` rows at stride `ld` elements of `elem` bytes must be addressable:
 * (rows-1)*ld + cols elements, in bytes, without overflowing int64. */
static fp8block_status check_extent(const char *name, int64_t rows, int64_t ld, int64_t cols, size_t elem)
{
    int64_t span, elems, bytes;
    if (__builtin_mul_overflow(rows - 1, ld, &span) || __builtin_add_overflow(span, cols, &elems) ||
        __builtin_mul_overflow(elems, (int64_t)elem, &bytes))
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "%s spans %" PRId64 " rows at leading dimension %" PRId64
                             ": its size in bytes overflows 64 bits",
                             name, rows, ld);
    return FP8BLOCK_OK;
}

static fp8block_status check_float_type(const char *name, fp8block_dtype t)
{
    if (t == FP8BLOCK_F32 || t == FP8BLOCK_BF16 || t == FP8BLOCK_F16) return FP8BLOCK_OK;
    if (t == FP8BLOCK_E4M3)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = FP8BLOCK_E4M3; expected F32, BF16 or F16", name);
    return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %d is not a fp8block_dtype; expected F32, BF16 or F16",
                         name, (int)t);
}

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fp8block_status st_ = (expr);                                                          \
        if (st_ != FP8BLOCK_OK) return st_;                                                    \
    } while (0)

/* Scales: 1x128 is ceil(cols/128) rows of `rows` floats (rows contiguous); 128x128 is
 * ceil(rows/128) rows of ceil(cols/128) floats. */
static fp8block_status check_scales(fp8block_block block, int64_t rows, int64_t cols, int64_t lds)
{
    int64_t col_blocks = fp8block_ceil_div(cols, 128);
    if (block == FP8BLOCK_BLOCK_1x128) {
        TRY(check_ld("lds", lds, "rows", rows));
        return check_extent("s", col_blocks, lds, rows, sizeof(float));
    }
    TRY(check_ld("lds", lds, "ceil(cols/128)", col_blocks));
    return check_extent("s", fp8block_ceil_div(rows, 128), lds, col_blocks, sizeof(float));
}

static fp8block_status check_block(fp8block_block block)
{
    if (block == FP8BLOCK_BLOCK_1x128 || block == FP8BLOCK_BLOCK_128x128) return FP8BLOCK_OK;
    return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                         "block = %d; expected FP8BLOCK_BLOCK_1x128 or FP8BLOCK_BLOCK_128x128", (int)block);
}

static fp8block_status quantize(fp8block_ctx *ctx, fp8block_block block, unsigned flags, const void *x,
                                fp8block_dtype xtype, int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                int64_t ldq, float *s, int64_t lds, void *stream)
{
    call_env env;
    TRY(check_ctx(ctx, &env));
    TRY(check_block(block));
    if (flags & ~(unsigned)FP8BLOCK_SCALE_POW2)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "flags = 0x%x has unknown bits (known: FP8BLOCK_SCALE_POW2)",
                             flags);
    TRY(check_float_type("xtype", xtype));
    TRY(check_dim("rows", rows));
    TRY(check_dim("cols", cols));
    TRY(check_ld("ldx", ldx, "cols", cols));
    TRY(check_ld("ldq", ldq, "cols", cols));
    TRY(check_extent("x", rows, ldx, cols, fp8block_dtype_size(xtype)));
    TRY(check_extent("q", rows, ldq, cols, 1));
    TRY(check_scales(block, rows, cols, lds));
    TRY(check_pointer(&env, "x", x, fp8block_dtype_size(xtype), "elements of xtype must be naturally aligned"));
    TRY(check_pointer(&env, "q", q, 1, ""));
    TRY(check_pointer(&env, "s", s, sizeof(float), "fp32 scales"));
    quantize_args args = {block, flags, x, xtype, rows, cols, ldx, q, ldq, s, lds};
    return ctx->cuda ? cuda_quantize(ctx->cuda, &args, stream) : cpu_quantize(&args);
}

fp8block_status fp8block_quantize_ex(fp8block_ctx *ctx, fp8block_block block, unsigned flags, const void *x,
                                     fp8block_dtype xtype, int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                     int64_t ldq, float *s, int64_t lds, void *stream)
{
    begin_call("fp8block_quantize_ex", ctx);
    return quantize(ctx, block, flags, x, xtype, rows, cols, ldx, q, ldq, s, lds, stream);
}

fp8block_status fp8block_quantize_1x128(fp8block_ctx *ctx, const void *x, fp8block_dtype xtype, int64_t rows,
                                        int64_t cols, int64_t ldx, uint8_t *q, int64_t ldq, float *s, int64_t lds,
                                        void *stream)
{
    begin_call("fp8block_quantize_1x128", ctx);
    return quantize(ctx, FP8BLOCK_BLOCK_1x128, 0, x, xtype, rows, cols, ldx, q, ldq, s, lds, stream);
}

fp8block_status fp8block_quantize_128x128(fp8block_ctx *ctx, const void *x, fp8block_dtype xtype, int64_t rows,
                                          int64_t cols, int64_t ldx, uint8_t *q, int64_t ldq, float *s,
                                          int64_t lds, void *stream)
{
    begin_call("fp8block_quantize_128x128", ctx);
    return quantize(ctx, FP8BLOCK_BLOCK_128x128, 0, x, xtype, rows, cols, ldx, q, ldq, s, lds, stream);
}

static fp8block_status dequantize(fp8block_ctx *ctx, fp8block_block block, const uint8_t *q, int64_t ldq,
                                  const float *s, int64_t lds, int64_t rows, int64_t cols, void *y,
                                  fp8block_dtype ytype, int64_t ldy, void *stream)
{
    call_env env;
    TRY(check_ctx(ctx, &env));
    TRY(check_float_type("ytype", ytype));
    TRY(check_dim("rows", rows));
    TRY(check_dim("cols", cols));
    TRY(check_ld("ldq", ldq, "cols", cols));
    TRY(check_ld("ldy", ldy, "cols", cols));
    TRY(check_extent("q", rows, ldq, cols, 1));
    TRY(check_extent("y", rows, ldy, cols, fp8block_dtype_size(ytype)));
    TRY(check_scales(block, rows, cols, lds));
    TRY(check_pointer(&env, "q", q, 1, ""));
    TRY(check_pointer(&env, "s", s, sizeof(float), "fp32 scales"));
    TRY(check_pointer(&env, "y", y, fp8block_dtype_size(ytype), "elements of ytype must be naturally aligned"));
    dequantize_args args = {block, q, ldq, s, lds, rows, cols, y, ytype, ldy};
    return ctx->cuda ? cuda_dequantize(ctx->cuda, &args, stream) : cpu_dequantize(&args);
}

fp8block_status fp8block_dequantize_1x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq, const float *s,
                                          int64_t lds, int64_t rows, int64_t cols, void *y, fp8block_dtype ytype,
                                          int64_t ldy, void *stream)
{
    begin_call("fp8block_dequantize_1x128", ctx);
    return dequantize(ctx, FP8BLOCK_BLOCK_1x128, q, ldq, s, lds, rows, cols, y, ytype, ldy, stream);
}

fp8block_status fp8block_dequantize_128x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq, const float *s,
                                            int64_t lds, int64_t rows, int64_t cols, void *y, fp8block_dtype ytype,
                                            int64_t ldy, void *stream)
{
    begin_call("fp8block_dequantize_128x128", ctx);
    return dequantize(ctx, FP8BLOCK_BLOCK_128x128, q, ldq, s, lds, rows, cols, y, ytype, ldy, stream);
}

static fp8block_status check_multiple(const char *name, int64_t v, int64_t of, const char *why)
{
    if (v % of)
        return fp8block_fail(FP8BLOCK_ERR_MISALIGNED, "%s = %" PRId64 " is not a multiple of %" PRId64 " (%s)", name,
                             v, of, why);
    return FP8BLOCK_OK;
}

fp8block_status fp8block_gemm(fp8block_ctx *ctx, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                              const float *sa, int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb,
                              int64_t ldsb, void *d, fp8block_dtype dtype, int64_t ldd, void *stream)
{
    begin_call("fp8block_gemm", ctx);
    call_env env;
    TRY(check_ctx(ctx, &env));
    if (dtype == FP8BLOCK_E4M3)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED,
                             "dtype = FP8BLOCK_E4M3: fp8 output needs an output scale and is not supported yet; "
                             "use F32, BF16 or F16");
    TRY(check_float_type("dtype", dtype));
    TRY(check_dim("m", m));
    TRY(check_dim("n", n));
    TRY(check_dim("k", k));
    int64_t k_blocks = fp8block_ceil_div(k, 128);
    size_t d_elem = fp8block_dtype_size(dtype);
    TRY(check_ld("lda", lda, "k", k));
    TRY(check_ld("ldb", ldb, "k", k));
    TRY(check_ld("ldsa", ldsa, "m", m));
    TRY(check_ld("ldsb", ldsb, "ceil(k/128)", k_blocks));
    TRY(check_ld("ldd", ldd, "n", n));
    TRY(check_extent("a", m, lda, k, 1));
    TRY(check_extent("b", n, ldb, k, 1));
    TRY(check_extent("sa", k_blocks, ldsa, m, sizeof(float)));
    TRY(check_extent("sb", fp8block_ceil_div(n, 128), ldsb, k_blocks, sizeof(float)));
    TRY(check_extent("d", m, ldd, n, d_elem));
    TRY(check_multiple("lda", lda, 16, "rows of A must be 16-byte aligned for TMA"));
    TRY(check_multiple("ldb", ldb, 16, "rows of B must be 16-byte aligned for TMA"));
#ifndef FP8BLOCK_PLANT_ACCEPT_INVALID /* test of the tests only: scripts/planted-fuzz removes this check */
    TRY(check_multiple("ldsa", ldsa, 4, "rows of A's scales must be 16-byte aligned for TMA"));
#endif
    TRY(check_multiple("ldd", ldd, (int64_t)(16 / d_elem), "rows of D must be 16-byte aligned for the TMA store"));
    TRY(check_pointer(&env, "a", a, 16, "TMA loads need 16-byte aligned rows"));
    TRY(check_pointer(&env, "sa", sa, 16, "TMA loads need 16-byte aligned rows"));
    TRY(check_pointer(&env, "b", b, 16, "TMA loads need 16-byte aligned rows"));
    TRY(check_pointer(&env, "sb", sb, sizeof(float), "fp32 scales"));
    TRY(check_pointer(&env, "d", d, 16, "the TMA store needs 16-byte aligned rows"));
    gemm_args args = {m, n, k, a, lda, sa, ldsa, b, ldb, sb, ldsb, d, dtype, ldd};
    return ctx->cuda ? cuda_gemm(ctx->cuda, &args, stream) : cpu_gemm(&args);
}
