/* The training layouts' entry points (docs/DESIGN.md §1.7): quantize-and-transpose and the
 * 128x128 weight transpose. Validate everything, then hand a checked bundle to the backend;
 * nothing is written before every check has passed. */
#include "checks.h"
#include "cpu/cpu_backend.h"
#include "cuda_backend.h"
#include "internal.h"

/* Two outputs that go together: both set or both NULL. */
static fp8block_status check_pair(const char *a_name, const void *a, const char *b_name, const void *b)
{
    if (!a != !b)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s is %s but %s is %s: codes and scales go together",
                             a_name, a ? "set" : "NULL", b_name, b ? "set" : "NULL");
    return FP8BLOCK_OK;
}

fp8block_status fp8block_quantize_1x128_transpose(fp8block_ctx *ctx, unsigned flags, const void *x,
                                                  fp8block_dtype xtype, int64_t rows, int64_t cols, int64_t ldx,
                                                  uint8_t *q, int64_t ldq, float *s, int64_t lds, uint8_t *qt,
                                                  int64_t ldqt, float *st, int64_t ldst, void *stream)
{
    fp8block_begin_call("fp8block_quantize_1x128_transpose", ctx);
    call_env env;
    TRY(check_ctx(ctx, &env));
    TRY(check_scale_flags(flags));
    TRY(check_float_type("xtype", xtype));
    TRY(check_dim("rows", rows));
    TRY(check_dim("cols", cols));
    TRY(check_pair("q", q, "s", s));
    TRY(check_pair("qt", qt, "st", st));
    if (!q && !qt) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "q and qt are both NULL: nothing to write");
    TRY(check_ld("ldx", ldx, "cols", cols));
    int64_t x_bytes;
    TRY(check_extent("x", rows, ldx, cols, fp8block_dtype_size(xtype), &x_bytes));
    TRY(check_pointer(&env, "x", x, x_bytes, fp8block_dtype_size(xtype), "elements of xtype must be naturally aligned"));
    int64_t q_bytes = 0, s_bytes = 0, qt_bytes = 0, st_bytes = 0;
    if (q) {
        TRY(check_ld("ldq", ldq, "cols", cols));
        TRY(check_extent("q", rows, ldq, cols, 1, &q_bytes));
        TRY(check_scales(FP8BLOCK_BLOCK_1x128, rows, cols, lds, &s_bytes));
        TRY(check_pointer(&env, "q", q, q_bytes, 1, ""));
        TRY(check_pointer(&env, "s", s, s_bytes, sizeof(float), "fp32 scales"));
    }
    if (qt) {
        TRY(check_ld("ldqt", ldqt, "rows", rows));
        TRY(check_ld("ldst", ldst, "cols", cols));
        TRY(check_extent("qt", cols, ldqt, rows, 1, &qt_bytes));
        TRY(check_extent("st", fp8block_ceil_div(rows, 128), ldst, cols, sizeof(float), &st_bytes));
        TRY(check_pointer(&env, "qt", qt, qt_bytes, 1, ""));
        TRY(check_pointer(&env, "st", st, st_bytes, sizeof(float), "fp32 scales"));
    }
    const buffer_span outputs[] = {{"q", q, q_bytes}, {"s", s, s_bytes}, {"qt", qt, qt_bytes}, {"st", st, st_bytes}};
    const buffer_span inputs[] = {{"x", x, x_bytes}};
    TRY(check_outputs_apart(outputs, 4, inputs, 1));
    const quantize_transpose_args args = {{FP8BLOCK_BLOCK_1x128, flags, x, xtype, rows, cols, ldx, q, ldq, s, lds},
                                          qt, ldqt, st, ldst};
    return ctx->cuda ? cuda_quantize_transpose(ctx->cuda, &args, stream) : cpu_quantize_transpose(&args);
}

fp8block_status fp8block_transpose_128x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq, const float *s,
                                           int64_t lds, int64_t rows, int64_t cols, uint8_t *qt, int64_t ldqt,
                                           float *st, int64_t ldst, void *stream)
{
    fp8block_begin_call("fp8block_transpose_128x128", ctx);
    call_env env;
    TRY(check_ctx(ctx, &env));
    TRY(check_dim("rows", rows));
    TRY(check_dim("cols", cols));
    TRY(check_ld("ldq", ldq, "cols", cols));
    TRY(check_ld("ldqt", ldqt, "rows", rows));
    TRY(check_ld("ldst", ldst, "ceil(rows/128)", fp8block_ceil_div(rows, 128)));
    int64_t q_bytes, s_bytes, qt_bytes, st_bytes;
    TRY(check_extent("q", rows, ldq, cols, 1, &q_bytes));
    TRY(check_scales(FP8BLOCK_BLOCK_128x128, rows, cols, lds, &s_bytes));
    TRY(check_extent("qt", cols, ldqt, rows, 1, &qt_bytes));
    TRY(check_extent("st", fp8block_ceil_div(cols, 128), ldst, fp8block_ceil_div(rows, 128), sizeof(float),
                     &st_bytes));
    TRY(check_pointer(&env, "q", q, q_bytes, 1, ""));
    TRY(check_pointer(&env, "s", s, s_bytes, sizeof(float), "fp32 scales"));
    TRY(check_pointer(&env, "qt", qt, qt_bytes, 1, ""));
    TRY(check_pointer(&env, "st", st, st_bytes, sizeof(float), "fp32 scales"));
    /* not in place either: a transpose moves every byte */
    const buffer_span outputs[] = {{"qt", qt, qt_bytes}, {"st", st, st_bytes}};
    const buffer_span inputs[] = {{"q", q, q_bytes}, {"s", s, s_bytes}};
    TRY(check_outputs_apart(outputs, 2, inputs, 2));
    const transpose_args args = {q, ldq, s, lds, rows, cols, qt, ldqt, st, ldst};
    return ctx->cuda ? cuda_transpose_128x128(ctx->cuda, &args, stream) : cpu_transpose_128x128(&args);
}
