/* Reference training layouts (docs/DESIGN.md §1.7). The 1x128 quantization of xᵀ takes its
 * blocks down x's columns: for each 128-row band and column, the amax of the band's values
 * in that column, the scale rule of scale_rule.h, and x / s rounded to e4m3, written where
 * quantize_1x128 of the materialised xᵀ would put it. Work goes in 128x128 tiles so that a
 * tile's rows are read once, contiguously. */
#include "codec.h"
#include "cpu_backend.h"
#include "parallel.h"
#include "scale_rule.h"

enum { BLOCK = 128 };

static void quantize_transposed_tiles(void *p, int64_t begin, int64_t end)
{
    const quantize_transpose_args *t = p;
    const quantize_args *x = &t->rows;
    const int pow2 = (x->flags & FP8BLOCK_SCALE_POW2) != 0;
    const size_t elem = fp8block_dtype_size(x->xtype);
    const int64_t col_tiles = fp8block_ceil_div(x->cols, BLOCK);
    for (int64_t tile = begin; tile < end; tile++) {
        const int64_t rb = tile / col_tiles, r0 = rb * BLOCK, c0 = (tile % col_tiles) * BLOCK;
        const int64_t r1 = r0 + BLOCK < x->rows ? r0 + BLOCK : x->rows, c1 = c0 + BLOCK < x->cols ? c0 + BLOCK : x->cols;
        uint32_t amax[BLOCK] = {0};
        for (int64_t r = r0; r < r1; r++) {
            const void *row = (const char *)x->x + (size_t)(r * x->ldx) * elem;
            for (int64_t c = c0; c < c1; c++) {
                uint32_t v = fp8block_abs_bits(codec_load_f32(row, x->xtype, c));
                if (v > amax[c - c0]) amax[c - c0] = v;
            }
        }
        float scale[BLOCK];
        for (int64_t c = c0; c < c1; c++) {
            scale[c - c0] = fp8block_block_scale(amax[c - c0], pow2);
            t->st[rb * t->ldst + c] = scale[c - c0];
        }
        for (int64_t r = r0; r < r1; r++) {
            const void *row = (const char *)x->x + (size_t)(r * x->ldx) * elem;
            for (int64_t c = c0; c < c1; c++) t->qt[c * t->ldqt + r] = e4m3_from_f32(codec_load_f32(row, x->xtype, c) / scale[c - c0]);
        }
    }
}

fp8block_status cpu_quantize_transpose(const quantize_transpose_args *args)
{
    if (args->rows.q) cpu_quantize(&args->rows);
    if (args->qt) {
        int64_t tiles = fp8block_ceil_div(args->rows.rows, BLOCK) * fp8block_ceil_div(args->rows.cols, BLOCK);
        parallel_for(tiles, 30.0 * BLOCK * BLOCK, quantize_transposed_tiles, (void *)args);
    }
    return FP8BLOCK_OK;
}

static void transpose_rows(void *p, int64_t begin, int64_t end)
{
    const transpose_args *t = p;
    for (int64_t c = begin; c < end; c++)
        for (int64_t r = 0; r < t->rows; r++) t->qt[c * t->ldqt + r] = t->q[r * t->ldq + c];
}

fp8block_status cpu_transpose_128x128(const transpose_args *args)
{
    parallel_for(args->cols, 2.0 * (double)args->rows, transpose_rows, (void *)args);
    const int64_t row_blocks = fp8block_ceil_div(args->rows, BLOCK), col_blocks = fp8block_ceil_div(args->cols, BLOCK);
    for (int64_t rb = 0; rb < row_blocks; rb++)
        for (int64_t cb = 0; cb < col_blocks; cb++) args->st[cb * args->ldst + rb] = args->s[rb * args->lds + cb];
    return FP8BLOCK_OK;
}
