/* Reference block-scaled GEMM: D = A·Bᵀ (+ C) (+ bias) with the inner sum of each 128-wide K
 * block taken in fp32 and promoted with sa[row]·sb once per block (sb of the column's
 * 128x128 block, or of the column itself with 1x128 B scales), as docs/DESIGN.md defines it. An E4M3 D is, literally, the F32 D quantized 1x128.
 *
 * Work is split into panels of PANEL_M rows × PANEL_N columns; PANEL_N divides 128, so one
 * B scale covers a panel. Each K block of the panel's operands is decoded to fp32 once
 * and reused by every dot product in the panel. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "cpu_backend.h"
#include "parallel.h"

enum { BLOCK_K = 128, PANEL_M = 32, PANEL_N = 64, MICRO_M = 4, MICRO_N = 2, LANES = 4 };

typedef float lanes __attribute__((vector_size(LANES * sizeof(float))));

typedef struct {
    float a[PANEL_M][BLOCK_K];
    float b[PANEL_N][BLOCK_K];
    float acc[PANEL_M][PANEL_N];
} panel_buffers;

static float e4m3_table[256];
static pthread_once_t e4m3_table_once = PTHREAD_ONCE_INIT;

static void fill_e4m3_table(void)
{
    for (int c = 0; c < 256; c++) e4m3_table[c] = e4m3_to_f32((uint8_t)c);
}

static void decode_rows(float (*dst)[BLOCK_K], const uint8_t *src, int64_t ld, int64_t rows, int64_t k0,
                        int64_t klen, int64_t kpad)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *q = src + r * ld + k0;
        for (int64_t k = 0; k < klen; k++) dst[r][k] = e4m3_table[q[k]];
        for (int64_t k = klen; k < kpad; k++) dst[r][k] = 0.0f;
    }
}

static float lane_sum(lanes v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* inner[i][j] = Σ_k a[i][k]·b[j][k] for a MICRO_M × MICRO_N tile, then promoted into acc with
 * sa[i]·sb[j] (sb: the panel's column scales, one value for all with 128x128 B scales). */
static void micro_tile(panel_buffers *p, int64_t i0, int64_t j0, int64_t kpad, const float *row_scale,
                       const float *col_scale)
{
    lanes sum[MICRO_M][MICRO_N];
    memset(sum, 0, sizeof sum);
    for (int64_t k = 0; k < kpad; k += LANES) {
        lanes av[MICRO_M], bv[MICRO_N];
        for (int i = 0; i < MICRO_M; i++) memcpy(&av[i], &p->a[i0 + i][k], sizeof(lanes));
        for (int j = 0; j < MICRO_N; j++) memcpy(&bv[j], &p->b[j0 + j][k], sizeof(lanes));
        for (int i = 0; i < MICRO_M; i++)
            for (int j = 0; j < MICRO_N; j++) sum[i][j] += av[i] * bv[j];
    }
    for (int i = 0; i < MICRO_M; i++)
        for (int j = 0; j < MICRO_N; j++)
            p->acc[i0 + i][j0 + j] += lane_sum(sum[i][j]) * (row_scale[i0 + i] * col_scale[j0 + j]);
}

static void gemm_panels(void *arg, int64_t begin, int64_t end)
{
    const gemm_args *g = arg;
    panel_buffers p; /* 56 KiB of stack: every thread has its own */
    int64_t panels_n = fp8block_ceil_div(g->n, PANEL_N);
    size_t d_elem = fp8block_dtype_size(g->dtype);
    for (int64_t task = begin; task < end; task++) {
        int64_t m0 = (task / panels_n) * PANEL_M, n0 = (task % panels_n) * PANEL_N;
        int64_t rows = g->m - m0 < PANEL_M ? g->m - m0 : PANEL_M;
        int64_t cols = g->n - n0 < PANEL_N ? g->n - n0 : PANEL_N;
        memset(p.acc, 0, sizeof p.acc);
        memset(p.a, 0, sizeof p.a); /* rows past M and columns past N stay zero */
        memset(p.b, 0, sizeof p.b);
        for (int64_t kb = 0; kb * BLOCK_K < g->k; kb++) {
            int64_t k0 = kb * BLOCK_K, klen = g->k - k0 < BLOCK_K ? g->k - k0 : BLOCK_K;
            int64_t kpad = (klen + LANES - 1) / LANES * LANES;
            decode_rows(p.a, g->a + m0 * g->lda, g->lda, rows, k0, klen, kpad);
            decode_rows(p.b, g->b + n0 * g->ldb, g->ldb, cols, k0, klen, kpad);
            float row_scale[PANEL_M] = {0};
            for (int64_t i = 0; i < rows; i++) row_scale[i] = g->sa[kb * g->ldsa + m0 + i];
            float col_scale[PANEL_N] = {0};
            for (int64_t j = 0; j < cols; j++)
                col_scale[j] = g->b_scales == FP8BLOCK_B_SCALES_1x128 ? g->sb[kb * g->ldsb + n0 + j]
                                                                      : g->sb[(n0 / 128) * g->ldsb + kb];
            for (int64_t i = 0; i < rows; i += MICRO_M)
                for (int64_t j = 0; j < cols; j += MICRO_N) micro_tile(&p, i, j, kpad, row_scale, col_scale);
        }
        for (int64_t i = 0; i < rows; i++) {
            void *d = (char *)g->d + (size_t)((m0 + i) * g->ldd) * d_elem;
            const void *c = g->c ? (const char *)g->c + (size_t)((m0 + i) * g->ldc) * fp8block_dtype_size(g->c_dtype)
                                 : NULL;
            for (int64_t j = 0; j < cols; j++) {
                float v = p.acc[i][j];
                if (c) v += codec_load_f32(c, g->c_dtype, n0 + j); /* read before the write: C may be D */
                if (g->bias) v += codec_load_f32(g->bias, g->bias_dtype, n0 + j);
                codec_store_f32(d, g->dtype, n0 + j, v);
            }
        }
    }
}

static void gemm_rows(const gemm_args *args)
{
    int64_t tasks = fp8block_ceil_div(args->m, PANEL_M) * fp8block_ceil_div(args->n, PANEL_N);
    parallel_for(tasks, 2.0 * PANEL_M * PANEL_N * (double)args->k, gemm_panels, (void *)args);
}

/* Rows of an E4M3 D go through an fp32 scratch this large at most (one row at the least). */
#define E4M3_SCRATCH_BYTES ((int64_t)64 << 20)

/* E4M3 D: the F32 D of the same rows, then fp8block_quantize_1x128 of it, a band of rows at
 * a time (the 1x128 blocks lie along a row, so bands quantize independently). */
static fp8block_status gemm_e4m3(const gemm_args *args)
{
    int64_t band = E4M3_SCRATCH_BYTES / (args->n * (int64_t)sizeof(float));
    if (band < 1) band = 1;
    if (band > args->m) band = args->m;
    float *scratch = malloc((size_t)(band * args->n) * sizeof(float));
    if (!scratch)
        return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "no host memory for the fp32 rows of an E4M3 D (%lld bytes)",
                             (long long)(band * args->n * (int64_t)sizeof(float)));
    for (int64_t r0 = 0; r0 < args->m; r0 += band) {
        int64_t rows = args->m - r0 < band ? args->m - r0 : band;
        gemm_args f32 = *args;
        f32.m = rows;
        f32.a = args->a + r0 * args->lda;
        f32.sa = args->sa + r0; /* sa[kb*ldsa + row]: the band's rows start at column r0 */
        f32.d = scratch, f32.dtype = FP8BLOCK_F32, f32.ldd = args->n;
        if (args->c) f32.c = (const char *)args->c + (size_t)(r0 * args->ldc) * fp8block_dtype_size(args->c_dtype);
        gemm_rows(&f32);
        quantize_args q = {FP8BLOCK_BLOCK_1x128, args->d_scale_flags, scratch, FP8BLOCK_F32, rows, args->n, args->n,
                           (uint8_t *)args->d + r0 * args->ldd, args->ldd, args->sd + r0, args->ldsd};
        cpu_quantize(&q);
    }
    free(scratch);
    return FP8BLOCK_OK;
}

static fp8block_status gemm_one(const gemm_args *args)
{
    if (args->dtype == FP8BLOCK_E4M3) return gemm_e4m3(args);
    gemm_rows(args);
    return FP8BLOCK_OK;
}

/* A grouped GEMM is one GEMM per group: the group's rows of A, D (and C, sd), its expert's
 * B and scales. Rows outside every group are not touched. */
static fp8block_status gemm_groups(const gemm_args *args)
{
    const int masked = args->group_layout == FP8BLOCK_GROUPS_MASKED;
    const size_t d_elem = fp8block_dtype_size(args->dtype);
    for (int64_t g = 0; g < args->groups; g++) {
        const int64_t r0 = masked ? g * args->max_m : args->group_rows[g];
        const int64_t rows = masked ? args->group_rows[g] : args->group_rows[g + 1] - r0;
        if (rows == 0) continue;
        gemm_args one = *args;
        one.group_layout = FP8BLOCK_GROUPS_NONE;
        one.m = rows;
        one.a = args->a + r0 * args->lda, one.sa = args->sa + r0;
        one.b = args->b + g * args->group_stride_b, one.sb = args->sb + g * args->group_stride_sb;
        one.d = (char *)args->d + (size_t)(r0 * args->ldd) * d_elem;
        if (args->sd) one.sd = args->sd + r0;
        if (args->c) one.c = (const char *)args->c + (size_t)(r0 * args->ldc) * fp8block_dtype_size(args->c_dtype);
        fp8block_status st = gemm_one(&one);
        if (st != FP8BLOCK_OK) return st;
    }
    return FP8BLOCK_OK;
}

fp8block_status cpu_gemm(const gemm_args *args)
{
    pthread_once(&e4m3_table_once, fill_e4m3_table);
    return args->group_layout == FP8BLOCK_GROUPS_NONE ? gemm_one(args) : gemm_groups(args);
}
