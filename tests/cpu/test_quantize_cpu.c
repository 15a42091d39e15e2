/* Block quantization and dequantization on the CPU context against a naive
 * implementation of docs/DESIGN.md's rules, written here from the contract:
 *
 *   amax over the block's existing elements; a NaN or inf in the block: s = NaN;
 *   amax == 0: s = 1; else s = amax / 448 in fp32, and if that underflows to 0, s = 1;
 *   pow2 mode: the smallest power of two >= amax / 448;  q = e4m3(x / s), IEEE division;
 *   dequantize: y = float(q) * s in fp32, rounded to the output type.
 *
 * Codes and scales must match bit for bit (NaN scales as "both NaN") for F32/BF16/F16
 * inputs over shapes with partial blocks in both dimensions, leading dimensions above the
 * minimum (whose padding, filled with NaN in x, must be neither read nor written), zero
 * blocks, huge and tiny magnitudes, NaN and inf. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"

#define BLOCK 128
#define GUARD_BYTES 64
#define CODE_SENTINEL 0xa5
#define SCALE_SENTINEL_BITS 0xdeadbeefu

typedef enum { DATA_MIXED, DATA_ZERO_BLOCKS, DATA_HUGE, DATA_TINY, DATA_UNDERFLOW, DATA_NONFINITE, DATA_KINDS } data_kind;
static const char *const DATA_NAMES[DATA_KINDS] = {"mixed magnitudes", "zero blocks", "huge", "tiny", "scale underflow", "NaN/inf"};
static const char *const DTYPE_NAMES[] = {"F32", "BF16", "F16", "E4M3"};

typedef struct {
    fp8block_block block;
    unsigned flags;
    fp8block_dtype xtype;
    data_kind data;
    int64_t rows, cols, ldx, ldq, lds;
} quant_case;

static fp8block_ctx *ctx;
static rng_state rng;
static long underflow_blocks; /* blocks whose amax/448 underflowed: the rule's rarest branch */


static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float load_element(const void *base, fp8block_dtype t, int64_t index)
{
    if (t == FP8BLOCK_F32) {
        float v;
        memcpy(&v, (const char *)base + index * 4, 4);
        return v;
    }
    uint16_t h;
    memcpy(&h, (const char *)base + index * 2, 2);
    return (float)(t == FP8BLOCK_BF16 ? ref_bf16_to_f64(h) : ref_f16_to_f64(h));
}

static void store_element(void *base, fp8block_dtype t, int64_t index, float v)
{
    if (t == FP8BLOCK_F32) {
        memcpy((char *)base + index * 4, &v, 4);
        return;
    }
    uint16_t h = t == FP8BLOCK_BF16 ? ref_bf16_from_f32(v) : ref_f16_from_f32(v);
    memcpy((char *)base + index * 2, &h, 2);
}

/* Equal bits, or both NaN. */
static int same_float(float a, float b) { return bits_of(a) == bits_of(b) || (isnan(a) && isnan(b)); }


/* A hash of (row group, column block) that picks per-block magnitudes and zero blocks. */
static uint32_t block_hash(int64_t r, int64_t c, uint32_t salt)
{
    uint64_t h = (uint64_t)(r / 64) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(c / BLOCK) * 0xc2b2ae3d27d4eb4full ^ salt;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h >> 32);
}

static float data_value(const quant_case *c, int64_t r, int64_t col, uint32_t salt)
{
    double normal = rng_normal(&rng);
    uint32_t h = block_hash(r, col, salt);
    switch (c->data) {
    case DATA_MIXED: /* 2^±20 in fp32 and bf16; f16 overflows past 2^16, so 2^±10 there */
        if (c->xtype == FP8BLOCK_F16) return (float)ldexp(normal, (int)(h % 21) - 10);
        return (float)ldexp(normal, (int)(h % 41) - 20);
    case DATA_ZERO_BLOCKS:
        if (h % 3 == 0) return (rng_next(&rng) & 1) ? -0.0f : 0.0f;
        return (float)normal;
    case DATA_HUGE:
        if (c->xtype == FP8BLOCK_F16) return (float)fmax(-65504.0, fmin(65504.0, normal * 20000.0));
        if (rng_next(&rng) % 997 == 0) { /* the type's largest finite value */
            float top = c->xtype == FP8BLOCK_BF16 ? 0x1.fep127f : FLT_MAX;
            return normal < 0 ? -top : top;
        }
        return (float)(normal * 5e37);
    case DATA_TINY:
        if (c->xtype == FP8BLOCK_F16) return (float)ldexp(normal, -(int)(14 + h % 11));
        return (float)ldexp(normal, -(int)(120 + h % 30));
    case DATA_UNDERFLOW:
        /* fp32: amax <= 224·2^-149 rounds amax/448 to 0, so s = 1; up to 447·2^-149 it
         * rounds to 2^-149 instead. Blocks of both kinds. bf16 cannot get there (its
         * smallest subnormal is 2^-133): its subnormals give subnormal scales, whose
         * rounding can push x/s past 448. f16: its own subnormals. */
        if (c->xtype == FP8BLOCK_F16) return (float)ldexp(normal, -24);
        if (c->xtype == FP8BLOCK_BF16) return (float)ldexp(normal, -131);
        return (float)ldexp(rng_range(&rng, -447, 447) % (h % 3 ? 225 : 448), -149);
    case DATA_NONFINITE: {
        uint64_t pick = rng_next(&rng) % 600;
        if (pick == 0) return NAN;
        if (pick == 1) return INFINITY;
        if (pick == 2) return -INFINITY;
        return (float)normal;
    }
    default: return 0;
    }
}

/* x with NaN in the padding columns and in one guard row past the end: a quantizer that
 * reads beyond the matrix makes a NaN scale. */
static void *make_input(const quant_case *c)
{
    void *x = malloc((size_t)((c->rows + 1) * c->ldx) * dtype_size(c->xtype));
    uint32_t salt = (uint32_t)rng_next(&rng);
    for (int64_t r = 0; r <= c->rows; r++)
        for (int64_t col = 0; col < c->ldx; col++) {
            float v = r < c->rows && col < c->cols ? data_value(c, r, col, salt) : NAN;
            store_element(x, c->xtype, r * c->ldx + col, v);
        }
    return x;
}

/* Smallest power of two >= s, by walking up from the smallest fp32 subnormal. */
static float pow2_at_least(float s)
{
    double p = 0x1p-149;
    while (p < s) p *= 2;
    return (float)p;
}

static float reference_scale(const quant_case *c, const void *x, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    float amax = 0;
    int nonfinite = 0;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t col = c0; col < c1; col++) {
            float v = load_element(x, c->xtype, r * c->ldx + col);
            if (!isfinite(v)) nonfinite = 1;
            else if (fabsf(v) > amax) amax = fabsf(v);
        }
    if (nonfinite) return NAN;
    if (amax == 0) return 1.0f;
    float s = amax / 448.0f;
    if (s == 0) {
        underflow_blocks++;
        return 1.0f;
    }
    return (c->flags & FP8BLOCK_SCALE_POW2) ? pow2_at_least(s) : s;
}

static void reference_quantize(const quant_case *c, const void *x, uint8_t *q, float *s)
{
    int64_t block_rows = c->block == FP8BLOCK_BLOCK_1x128 ? 1 : BLOCK;
    for (int64_t r0 = 0; r0 < c->rows; r0 += block_rows)
        for (int64_t c0 = 0; c0 < c->cols; c0 += BLOCK) {
            int64_t r1 = r0 + block_rows < c->rows ? r0 + block_rows : c->rows;
            int64_t c1 = c0 + BLOCK < c->cols ? c0 + BLOCK : c->cols;
            float scale = reference_scale(c, x, r0, r1, c0, c1);
            s[scale_index(c->block, c->lds, r0, c0)] = scale;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t col = c0; col < c1; col++) {
                    float scaled = load_element(x, c->xtype, r * c->ldx + col) / scale;
                    q[r * c->ldq + col] = ref_e4m3_from_f32(scaled);
                }
        }
}

static void describe(char *out, size_t size, const quant_case *c)
{
    snprintf(out, size, "%s%s %s %s rows=%lld cols=%lld ldx=%lld ldq=%lld lds=%lld",
             c->block == FP8BLOCK_BLOCK_1x128 ? "1x128" : "128x128",
             (c->flags & FP8BLOCK_SCALE_POW2) ? " pow2" : "", DTYPE_NAMES[c->xtype], DATA_NAMES[c->data],
             (long long)c->rows, (long long)c->cols, (long long)c->ldx, (long long)c->ldq, (long long)c->lds);
}

static fp8block_status call_quantize(const quant_case *c, int use_ex, const void *x, uint8_t *q, float *s)
{
    if (use_ex || c->flags)
        return fp8block_quantize_ex(ctx, c->block, c->flags, x, c->xtype, c->rows, c->cols, c->ldx, q, c->ldq, s,
                                    c->lds, NULL);
    if (c->block == FP8BLOCK_BLOCK_1x128)
        return fp8block_quantize_1x128(ctx, x, c->xtype, c->rows, c->cols, c->ldx, q, c->ldq, s, c->lds, NULL);
    return fp8block_quantize_128x128(ctx, x, c->xtype, c->rows, c->cols, c->ldx, q, c->ldq, s, c->lds, NULL);
}

/* Runs one case through the library and the reference and compares everything: codes,
 * scales, and that padding and guard bytes kept their sentinels. */
static void check_quantize_case(const quant_case *c, int use_ex)
{
    char what[200];
    describe(what, sizeof what, c);
    void *x = make_input(c);
    int64_t q_bytes = c->rows * c->ldq, s_count = scale_lines(c->block, c->rows, c->cols) * c->lds;
    uint8_t *q = malloc((size_t)q_bytes + GUARD_BYTES), *q_ref = malloc((size_t)q_bytes);
    float *s = malloc((size_t)s_count * sizeof(float) + GUARD_BYTES), *s_ref = malloc((size_t)s_count * sizeof(float));
    memset(q, CODE_SENTINEL, (size_t)q_bytes + GUARD_BYTES);
    uint32_t sentinel = SCALE_SENTINEL_BITS;
    for (int64_t i = 0; i < s_count + GUARD_BYTES / 4; i++) memcpy(&s[i], &sentinel, 4);

    fp8block_status st = call_quantize(c, use_ex, x, q, s);
    CHECK(st == FP8BLOCK_OK, "%s: status %s: %s", what, fp8block_status_string(st), fp8block_last_error(ctx));
    reference_quantize(c, x, q_ref, s_ref);

    int64_t code_mismatches = 0, scale_mismatches = 0, padding_touched = 0;
    for (int64_t r = 0; r < c->rows; r++)
        for (int64_t col = 0; col < c->ldq; col++) {
            int64_t i = r * c->ldq + col;
            if (col >= c->cols) {
                padding_touched += q[i] != CODE_SENTINEL;
            } else if (q[i] != q_ref[i] && code_mismatches++ < 3) {
                float xv = load_element(x, c->xtype, r * c->ldx + col);
                CHECK(0, "%s: q[%lld][%lld] = 0x%02x, want 0x%02x (x = %a, s = %a)", what, (long long)r,
                      (long long)col, q[i], q_ref[i], (double)xv, (double)s_ref[scale_index(c->block, c->lds, r, col)]);
            }
        }
    for (int64_t i = q_bytes; i < q_bytes + GUARD_BYTES; i++) padding_touched += q[i] != CODE_SENTINEL;
    int64_t line_length = scale_line_length(c->block, c->rows, c->cols);
    for (int64_t i = 0; i < s_count + GUARD_BYTES / 4; i++) {
        if (i >= s_count || i % c->lds >= line_length) {
            padding_touched += bits_of(s[i]) != SCALE_SENTINEL_BITS;
        } else if (!same_float(s[i], s_ref[i]) && scale_mismatches++ < 3) {
            CHECK(0, "%s: s[%lld] = %a (0x%08x), want %a (0x%08x)", what, (long long)i, (double)s[i], bits_of(s[i]),
                  (double)s_ref[i], bits_of(s_ref[i]));
        }
    }
    CHECK(code_mismatches == 0, "%s: %lld codes differ", what, (long long)code_mismatches);
    CHECK(scale_mismatches == 0, "%s: %lld scales differ", what, (long long)scale_mismatches);
    CHECK(padding_touched == 0, "%s: %lld padding/guard elements written", what, (long long)padding_touched);
    free(x);
    free(q);
    free(q_ref);
    free(s);
    free(s_ref);
}

static quant_case make_case(fp8block_block block, unsigned flags, fp8block_dtype xtype, data_kind data, int64_t rows,
                            int64_t cols, int padded)
{
    quant_case c = {block, flags, xtype, data, rows, cols, cols, cols, scale_line_length(block, rows, cols)};
    if (padded) {
        c.ldx += rng_range(&rng, 1, 9);
        c.ldq += rng_range(&rng, 1, 40);
        c.lds += rng_range(&rng, 1, 5);
    }
    return c;
}

/* Every pair of awkward sizes, both block shapes, both scale modes, every input type. */
static void test_shapes(void)
{
    static const int64_t sizes[] = {1, 17, 127, 128, 129, 300};
    const int count = sizeof sizes / sizeof sizes[0];
    for (int block = 0; block < 2; block++)
        for (unsigned flags = 0; flags <= FP8BLOCK_SCALE_POW2; flags += FP8BLOCK_SCALE_POW2)
            for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
                for (int i = 0; i < count; i++)
                    for (int j = 0; j < count; j++) {
                        quant_case c = make_case((fp8block_block)block, flags, (fp8block_dtype)t, DATA_MIXED, sizes[i],
                                                 sizes[j], (i + j) % 2);
                        check_quantize_case(&c, 0);
                    }
}

/* The edge data at shapes with partial blocks, every type, both blocks and modes; the
 * _ex entry point with flags 0 too. */
static void test_edge_data(void)
{
    static const int64_t shapes[][2] = {{129, 300}, {300, 129}, {17, 1000}, {256, 256}, {1, 4100}, {385, 33}};
    for (int data = DATA_ZERO_BLOCKS; data < DATA_KINDS; data++)
        for (int block = 0; block < 2; block++)
            for (unsigned flags = 0; flags <= FP8BLOCK_SCALE_POW2; flags += FP8BLOCK_SCALE_POW2)
                for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
                    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                        quant_case c = make_case((fp8block_block)block, flags, (fp8block_dtype)t, (data_kind)data,
                                                 shapes[i][0], shapes[i][1], (int)(i % 2));
                        check_quantize_case(&c, (int)(i % 3 == 0));
                    }
    CHECK(underflow_blocks > 0, "the edge data never reached the scale underflow rule");
}

/* Random shapes, random types, random data kinds. */
static void test_random_cases(void)
{
    for (int n = 0; n < 60; n++) {
        quant_case c = make_case((fp8block_block)rng_range(&rng, 0, 1), (unsigned)rng_range(&rng, 0, 1),
                                 (fp8block_dtype)rng_range(&rng, FP8BLOCK_F32, FP8BLOCK_F16),
                                 (data_kind)rng_range(&rng, 0, DATA_KINDS - 1), rng_range(&rng, 1, 700),
                                 rng_range(&rng, 1, 700), (int)rng_range(&rng, 0, 1));
        check_quantize_case(&c, (int)rng_range(&rng, 0, 1));
    }
}

/* Scales for dequantization: ordinary ones, and the corners (NaN, 1, subnormal, huge
 * enough to overflow f16, bf16 or fp32 when multiplied by codes up to 448). */
static float random_scale(void)
{
    switch (rng_next(&rng) % 10) {
    case 0: return NAN;
    case 1: return 1.0f;
    case 2: return 0x1p-140f;
    case 3: return 1e36f;
    case 4: return 300.0f;
    default: return (float)ldexp(rng_uniform(&rng) + 0.5, (int)rng_range(&rng, -30, 10));
    }
}

static void check_dequantize_case(fp8block_block block, fp8block_dtype ytype, int64_t rows, int64_t cols, int padded)
{
    char what[160];
    snprintf(what, sizeof what, "dequantize %s -> %s rows=%lld cols=%lld%s",
             block == FP8BLOCK_BLOCK_1x128 ? "1x128" : "128x128", DTYPE_NAMES[ytype], (long long)rows, (long long)cols,
             padded ? " padded" : "");
    int64_t ldq = cols + (padded ? rng_range(&rng, 1, 20) : 0), ldy = cols + (padded ? rng_range(&rng, 1, 9) : 0);
    int64_t line_length = scale_line_length(block, rows, cols), lds = line_length + (padded ? 3 : 0);
    int64_t s_count = scale_lines(block, rows, cols) * lds;
    size_t elem = dtype_size(ytype), y_bytes = (size_t)(rows * ldy) * elem;
    uint8_t *q = malloc((size_t)(rows * ldq));
    float *s = malloc((size_t)s_count * sizeof(float));
    unsigned char *y = malloc(y_bytes + GUARD_BYTES);
    for (int64_t i = 0; i < rows * ldq; i++) q[i] = (uint8_t)rng_next(&rng); /* NaN codes too */
    for (int64_t i = 0; i < s_count; i++) s[i] = random_scale();
    memset(y, CODE_SENTINEL, y_bytes + GUARD_BYTES);

    fp8block_status st = block == FP8BLOCK_BLOCK_1x128
                             ? fp8block_dequantize_1x128(ctx, q, ldq, s, lds, rows, cols, y, ytype, ldy, NULL)
                             : fp8block_dequantize_128x128(ctx, q, ldq, s, lds, rows, cols, y, ytype, ldy, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: status %s: %s", what, fp8block_status_string(st), fp8block_last_error(ctx));
    int64_t mismatches = 0, padding_touched = 0;
    unsigned char expected[4];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t col = 0; col < ldy; col++) {
            unsigned char *got = y + (size_t)(r * ldy + col) * elem;
            if (col >= cols) {
                for (size_t b = 0; b < elem; b++) padding_touched += got[b] != CODE_SENTINEL;
                continue;
            }
            uint8_t code = q[r * ldq + col];
            float scale = s[scale_index(block, lds, r, col)];
            float product = (float)ref_e4m3_to_f64(code) * scale;
            store_element(expected, ytype, 0, product);
            float want = load_element(expected, ytype, 0), have = load_element(got, ytype, 0);
            if (!same_float(have, want) && mismatches++ < 3)
                CHECK(0, "%s: y[%lld][%lld] = %a, want %a (code 0x%02x, s = %a)", what, (long long)r, (long long)col,
                      (double)have, (double)want, code, (double)scale);
        }
    for (size_t b = y_bytes; b < y_bytes + GUARD_BYTES; b++) padding_touched += y[b] != CODE_SENTINEL;
    CHECK(mismatches == 0, "%s: %lld elements differ", what, (long long)mismatches);
    CHECK(padding_touched == 0, "%s: %lld padding/guard bytes written", what, (long long)padding_touched);
    free(q);
    free(s);
    free(y);
}

static void test_dequantize(void)
{
    static const int64_t shapes[][2] = {{1, 1}, {17, 129}, {129, 17}, {128, 128}, {300, 257}, {2, 1000}};
    for (int block = 0; block < 2; block++)
        for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
                for (int padded = 0; padded < 2; padded++)
                    check_dequantize_case((fp8block_block)block, (fp8block_dtype)t, shapes[i][0], shapes[i][1], padded);
}

/* dequantize(quantize(x)) is within e4m3's rounding of x: half an ulp of 3 mantissa bits
 * (2^-4 relative) for normal codes, half the subnormal step (2^-10·s) below them, plus
 * the two fp32 roundings of x/s and q·s. */
static void test_round_trip(void)
{
    static const int64_t shapes[][2] = {{129, 300}, {300, 129}, {1, 5000}};
    for (int block = 0; block < 2; block++)
        for (unsigned flags = 0; flags <= FP8BLOCK_SCALE_POW2; flags += FP8BLOCK_SCALE_POW2)
            for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
                for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                    quant_case c = make_case((fp8block_block)block, flags, (fp8block_dtype)t,
                                             t == FP8BLOCK_F16 ? DATA_ZERO_BLOCKS : DATA_MIXED, shapes[i][0],
                                             shapes[i][1], 1);
                    char what[200];
                    describe(what, sizeof what, &c);
                    void *x = make_input(&c);
                    int64_t s_count = scale_lines(c.block, c.rows, c.cols) * c.lds;
                    uint8_t *q = malloc((size_t)(c.rows * c.ldq));
                    float *s = malloc((size_t)s_count * sizeof(float));
                    float *y = malloc((size_t)(c.rows * c.cols) * sizeof(float));
                    fp8block_status st = call_quantize(&c, 1, x, q, s);
                    CHECK(st == FP8BLOCK_OK, "%s: quantize: %s", what, fp8block_last_error(ctx));
                    st = c.block == FP8BLOCK_BLOCK_1x128
                             ? fp8block_dequantize_1x128(ctx, q, c.ldq, s, c.lds, c.rows, c.cols, y, FP8BLOCK_F32, c.cols, NULL)
                             : fp8block_dequantize_128x128(ctx, q, c.ldq, s, c.lds, c.rows, c.cols, y, FP8BLOCK_F32, c.cols, NULL);
                    CHECK(st == FP8BLOCK_OK, "%s: dequantize: %s", what, fp8block_last_error(ctx));
                    int64_t violations = 0;
                    for (int64_t r = 0; r < c.rows; r++)
                        for (int64_t col = 0; col < c.cols; col++) {
                            double xv = load_element(x, c.xtype, r * c.ldx + col), yv = y[r * c.cols + col];
                            double scale = s[scale_index(c.block, c.lds, r, col)];
                            double bound = fabs(xv) * (0x1p-4 + 0x1p-21) + scale * 0x1p-10 * (1 + 0x1p-21);
                            if (!(fabs(yv - xv) <= bound) && violations++ < 3)
                                CHECK(0, "%s: round trip of x[%lld][%lld] = %a gives %a, bound %.3g", what,
                                      (long long)r, (long long)col, xv, yv, bound);
                        }
                    CHECK(violations == 0, "%s: %lld round-trip violations", what, (long long)violations);
                    free(x);
                    free(q);
                    free(s);
                    free(y);
                }
}

int main(void)
{
    rng_seed(&rng, 1234567);
    fp8block_status st = fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        return 1;
    }
    test_shapes();
    test_edge_data();
    test_random_cases();
    test_dequantize();
    test_round_trip();
    fp8block_destroy(ctx);
    return test_finish("test_quantize_cpu");
}
