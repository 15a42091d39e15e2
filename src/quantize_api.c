/* The quantize and dequantize entry points: validate everything, then hand a checked
 * argument bundle to the backend of the context. Nothing is written before every check
 * has passed. */
#include "checks.h"
#include "cpu/cpu_backend.h"
#include "cuda_backend.h"
#include "internal.h"

static fp8block_status quantize(fp8block_ctx *ctx, fp8block_block block, unsigned flags, const void *x,
                                fp8block_dtype xtype, int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                int64_t ldq, float *s, int64_t lds, void *stream)
{
    call_env env;
    TRY(check_ctx(ctx, &env));
    TRY(check_block(block));
    TRY(check_scale_flags(flags));
    TRY(check_float_type("xtype", xtype));
    TRY(check_dim("rows", rows));
    TRY(check_dim("cols", cols));
    TRY(check_ld("ldx", ldx, "cols", cols));
    TRY(check_ld("ldq", ldq, "cols", cols));
    int64_t x_bytes, q_bytes, s_bytes;
    TRY(check_extent("x", rows, ldx, cols, fp8block_dtype_size(xtype), &x_bytes));
    TRY(check_extent("q", rows, ldq, cols, 1, &q_bytes));
    TRY(check_scales(block, rows, cols, lds, &s_bytes));
    TRY(check_pointer(&env, "x", x, x_bytes, fp8block_dtype_size(xtype), "elements of xtype must be naturally aligned"));
    TRY(check_pointer(&env, "q", q, q_bytes, 1, ""));
    TRY(check_pointer(&env, "s", s, s_bytes, sizeof(float), "fp32 scales"));
    const buffer_span outputs[] = {{"q", q, q_bytes}, {"s", s, s_bytes}}, inputs[] = {{"x", x, x_bytes}};
    TRY(check_outputs_apart(outputs, 2, inputs, 1));
    quantize_args args = {block, flags, x, xtype, rows, cols, ldx, q, ldq, s, lds};
    return ctx->cuda ? cuda_quantize(ctx->cuda, &args, stream) : cpu_quantize(&args);
}

fp8block_status fp8block_quantize_ex(fp8block_ctx *ctx, fp8block_block block, unsigned flags, const void *x,
                                     fp8block_dtype xtype, int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                     int64_t ldq, float *s, int64_t lds, void *stream)
{
    fp8block_begin_call("fp8block_quantize_ex", ctx);
    return quantize(ctx, block, flags, x, xtype, rows, cols, ldx, q, ldq, s, lds, stream);
}

fp8block_status fp8block_quantize_1x128(fp8block_ctx *ctx, const void *x, fp8block_dtype xtype, int64_t rows,
                                        int64_t cols, int64_t ldx, uint8_t *q, int64_t ldq, float *s, int64_t lds,
                                        void *stream)
{
    fp8block_begin_call("fp8block_quantize_1x128", ctx);
    return quantize(ctx, FP8BLOCK_BLOCK_1x128, 0, x, xtype, rows, cols, ldx, q, ldq, s, lds, stream);
}

fp8block_status fp8block_quantize_128x128(fp8block_ctx *ctx, const void *x, fp8block_dtype xtype, int64_t rows,
                                          int64_t cols, int64_t ldx, uint8_t *q, int64_t ldq, float *s,
                                          int64_t lds, void *stream)
{
    fp8block_begin_call("fp8block_quantize_128x128", ctx);
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
    int64_t q_bytes, y_bytes, s_bytes;
    TRY(check_extent("q", rows, ldq, cols, 1, &q_bytes));
    TRY(check_extent("y", rows, ldy, cols, fp8block_dtype_size(ytype), &y_bytes));
    TRY(check_scales(block, rows, cols, lds, &s_bytes));
    TRY(check_pointer(&env, "q", q, q_bytes, 1, ""));
    TRY(check_pointer(&env, "s", s, s_bytes, sizeof(float), "fp32 scales"));
    TRY(check_pointer(&env, "y", y, y_bytes, fp8block_dtype_size(ytype), "elements of ytype must be naturally aligned"));
    const buffer_span outputs[] = {{"y", y, y_bytes}}, inputs[] = {{"q", q, q_bytes}, {"s", s, s_bytes}};
    TRY(check_outputs_apart(outputs, 1, inputs, 2));
    dequantize_args args = {block, q, ldq, s, lds, rows, cols, y, ytype, ldy};
    return ctx->cuda ? cuda_dequantize(ctx->cuda, &args, stream) : cpu_dequantize(&args);
}

fp8block_status fp8block_dequantize_1x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq, const float *s,
                                          int64_t lds, int64_t rows, int64_t cols, void *y, fp8block_dtype ytype,
                                          int64_t ldy, void *stream)
{
    fp8block_begin_call("fp8block_dequantize_1x128", ctx);
    return dequantize(ctx, FP8BLOCK_BLOCK_1x128, q, ldq, s, lds, rows, cols, y, ytype, ldy, stream);
}

fp8block_status fp8block_dequantize_128x128(fp8block_ctx *ctx, const uint8_t *q, int64_t ldq, const float *s,
                                            int64_t lds, int64_t rows, int64_t cols, void *y, fp8block_dtype ytype,
                                            int64_t ldy, void *stream)
{
    fp8block_begin_call("fp8block_dequantize_128x128", ctx);
    return dequantize(ctx, FP8BLOCK_BLOCK_128x128, q, ldq, s, lds, rows, cols, y, ytype, ldy, stream);
}

