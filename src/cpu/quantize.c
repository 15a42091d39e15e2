/* Reference block quantization: per block, pass one takes amax, pass two divides and
 * rounds. Rows of a block are widened to fp32 once per pass (exact for every input type). */
#include <stdlib.h>

#include "codec.h"
#include "cpu_backend.h"
#include "parallel.h"
#include "scale_rule.h"

enum { BLOCK = 128 };

static const void *input_row(const quantize_args *a, int64_t r)
{
    return (const char *)a->x + (size_t)(r * a->ldx) * fp8block_dtype_size(a->xtype);
}

static uint32_t amax_bits_of(const quantize_args *a, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    uint32_t amax = 0;
    for (int64_t r = r0; r < r1; r++) {
        const void *row = input_row(a, r);
        for (int64_t c = c0; c < c1; c++) {
            uint32_t v = fp8block_abs_bits(codec_load_f32(row, a->xtype, c));
            if (v > amax) amax = v;
        }
    }
    return amax;
}

static void encode_block(const quantize_args *a, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float s)
{
    for (int64_t r = r0; r < r1; r++) {
        const void *row = input_row(a, r);
        uint8_t *q = a->q + r * a->ldq;
        for (int64_t c = c0; c < c1; c++) q[c] = e4m3_from_f32(codec_load_f32(row, a->xtype, c) / s);
    }
}

static void quantize_rows_1x128(void *p, int64_t begin, int64_t end)
{
    const quantize_args *a = p;
    int pow2 = (a->flags & FP8BLOCK_SCALE_POW2) != 0;
    for (int64_t r = begin; r < end; r++) {
        for (int64_t c0 = 0, cb = 0; c0 < a->cols; c0 += BLOCK, cb++) {
            int64_t c1 = c0 + BLOCK < a->cols ? c0 + BLOCK : a->cols;
            float s = fp8block_block_scale(amax_bits_of(a, r, r + 1, c0, c1), pow2);
            encode_block(a, r, r + 1, c0, c1, s);
            a->s[cb * a->lds + r] = s;
        }
    }
}

static void quantize_row_blocks_128x128(void *p, int64_t begin, int64_t end)
{
    const quantize_args *a = p;
    int pow2 = (a->flags & FP8BLOCK_SCALE_POW2) != 0;
    for (int64_t rb = begin; rb < end; rb++) {
        int64_t r0 = rb * BLOCK, r1 = r0 + BLOCK < a->rows ? r0 + BLOCK : a->rows;
        for (int64_t c0 = 0, cb = 0; c0 < a->cols; c0 += BLOCK, cb++) {
            int64_t c1 = c0 + BLOCK < a->cols ? c0 + BLOCK : a->cols;
            float s = fp8block_block_scale(amax_bits_of(a, r0, r1, c0, c1), pow2);
            encode_block(a, r0, r1, c0, c1, s);
            a->s[rb * a->lds + cb] = s;
        }
    }
}

fp8block_status cpu_quantize(const quantize_args *args)
{
    if (args->block == FP8BLOCK_BLOCK_1x128)
        parallel_for(args->rows, 20.0 * (double)args->cols, quantize_rows_1x128, (void *)args);
    else
        parallel_for(fp8block_ceil_div(args->rows, BLOCK), 20.0 * BLOCK * (double)args->cols,
                     quantize_row_blocks_128x128, (void *)args);
    return FP8BLOCK_OK;
}

static float scale_of(const dequantize_args *a, int64_t r, int64_t c)
{
    if (a->block == FP8BLOCK_BLOCK_1x128) return a->s[(c / BLOCK) * a->lds + r];
    return a->s[(r / BLOCK) * a->lds + c / BLOCK];
}

static void dequantize_rows(void *p, int64_t begin, int64_t end)
{
    const dequantize_args *a = p;
    size_t elem = fp8block_dtype_size(a->ytype);
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *q = a->q + r * a->ldq;
        void *y = (char *)a->y + (size_t)(r * a->ldy) * elem;
        for (int64_t c = 0; c < a->cols; c++) codec_store_f32(y, a->ytype, c, e4m3_to_f32(q[c]) * scale_of(a, r, c));
    }
}

fp8block_status cpu_dequantize(const dequantize_args *args)
{
    parallel_for(args->rows, 10.0 * (double)args->cols, dequantize_rows, (void *)args);
    return FP8BLOCK_OK;
}
