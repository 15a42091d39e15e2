/* GPU block quantization and dequantization against the CPU reference backend, bit for bit.
 *
 * Every case runs the same call on a CPU context and on the GPU, from the same input,
 * and compares codes and scales exactly (NaN scales and outputs as "both NaN"). GPU
 * outputs are poisoned before each run, twice with different bytes, so an element the
 * kernel forgot to write cannot match by luck; padding past `cols`, past the scale lines
 * and past the buffers must keep the poison. The input's padding columns and a guard row
 * hold NaN: a kernel that reads outside the matrix makes a NaN scale.
 *
 * Cases: fixed awkward shapes (1×1, 1×129, 127×300, ...), production shapes (4096×7168,
 * 2112×7168), and random ones; all three input types, both block shapes, both scale
 * modes; leading dimensions above the minimum, and bases off 16-byte alignment (the
 * kernels' scalar path). Data: mixed magnitudes, zero blocks, huge, tiny, scale
 * underflow, NaN/inf, and e4m3 boundary values. Then dequantize(quantize(x)) is checked
 * against e4m3's rounding bound, and the GPU's encoding of every boundary value (ties,
 * subnormals, ±0, saturation above 448) against the CPU codec, value by value.
 * FP8BLOCK_TEST_SMALL=1 runs the fixed shapes and a few random ones (for compute-sanitizer). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/codec.h"
#include "devmem.h"
#include "rng.h"
#include "testutil.h"

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#define BLOCK 128
#define GUARD_BYTES 256

typedef enum {
    DATA_MIXED,
    DATA_ZERO_BLOCKS,
    DATA_HUGE,
    DATA_TINY,
    DATA_UNDERFLOW,
    DATA_NONFINITE,
    DATA_BOUNDARY,
    DATA_KINDS
} data_kind;
static const char *const DATA_NAMES[DATA_KINDS] = {"mixed", "zero-blocks", "huge", "tiny",
                                                   "underflow", "nonfinite", "boundary"};
static const char *const DTYPE_NAMES[] = {"f32", "bf16", "f16", "e4m3"};

typedef struct {
    fp8block_block block;
    unsigned flags;
    fp8block_dtype xtype, ytype;
    data_kind data;
    int64_t rows, cols, ldx, ldq, lds, ldy;
    int64_t x_offset, q_offset, y_offset; /* elements past a 256-byte aligned base */
} quant_case;

static fp8block_ctx *gpu, *cpu;
static rng_state rng;


static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int same_float(float a, float b) { return bits_of(a) == bits_of(b) || (isnan(a) && isnan(b)); }

static float load_element(const void *base, fp8block_dtype t, int64_t i)
{
    return codec_load_f32(base, t, i);
}

/* Values whose e4m3 encoding is a boundary case, in units of the block scale: every code's
 * value, the ties between neighbours, one fp32 ulp either side of each tie, and the
 * round-to-zero range. All at most 448. */
static int boundary_values(float *out, int capacity)
{
    int n = 0;
    float previous = 0;
    for (int code = 0; code <= 0x7e && n + 4 <= capacity; code++) {
        float v = e4m3_to_f32((uint8_t)code);
        if (code > 0) {
            float tie = (previous + v) / 2; /* exact: one more mantissa bit */
            out[n++] = tie;
            out[n++] = nextafterf(tie, 0);
            out[n++] = nextafterf(tie, INFINITY);
        }
        out[n++] = v;
        previous = v;
    }
    static const float extra[] = {0x1p-10f, 0x1p-11f, 0x1p-20f, 0x1p-40f, 0x1p-140f, 0x1p-149f, 447.99997f};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0] && n < capacity; i++) out[n++] = extra[i];
    return n;
}

static float boundary_table[640];
static int boundary_count;

/* A hash of (row group, column block) that gives blocks their own magnitude. */
static uint32_t block_hash(int64_t r, int64_t c, uint32_t salt)
{
    uint64_t h = (uint64_t)(r / 32) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(c / BLOCK) * 0xc2b2ae3d27d4eb4full ^ salt;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    return (uint32_t)(h >> 32);
}

static float data_value(const quant_case *c, int64_t r, int64_t col, uint32_t salt)
{
    double normal = rng_normal(&rng);
    uint32_t h = block_hash(r, col, salt);
    int f16 = c->xtype == FP8BLOCK_F16;
    switch (c->data) {
    case DATA_MIXED: return (float)ldexp(normal, f16 ? (int)(h % 21) - 10 : (int)(h % 61) - 30);
    case DATA_ZERO_BLOCKS:
        if (h % 3 == 0) return (rng_next(&rng) & 1) ? -0.0f : 0.0f;
        return (float)normal;
    case DATA_HUGE:
        if (f16) return (float)fmax(-65504.0, fmin(65504.0, normal * 30000.0));
        if (rng_next(&rng) % 500 == 0) return normal < 0 ? -0x1.fep127f : 0x1.fep127f; /* bf16's largest */
        return (float)(normal * 1e37);
    case DATA_TINY: return (float)ldexp(normal, f16 ? -(int)(14 + h % 11) : -(int)(118 + h % 31));
    case DATA_UNDERFLOW:
        if (f16) return (float)ldexp(normal, -24);
        return (float)ldexp((double)rng_range(&rng, -900, 900), -149); /* s = amax/448 subnormal or 0 */
    case DATA_NONFINITE: {
        uint64_t pick = rng_next(&rng) % 700;
        if (pick == 0) return NAN;
        if (pick == 1) return -NAN;
        if (pick == 2) return INFINITY;
        if (pick == 3) return -INFINITY;
        return (float)normal;
    }
    case DATA_BOUNDARY: { /* scale 2^k, set by 448·2^k in each block's first column */
        int k = f16 ? (int)(h % 7) - 8 : (int)(h % 41) - 20;
        double v = col % BLOCK == 0 ? 448.0 : boundary_table[rng_next(&rng) % (uint64_t)boundary_count];
        return (float)ldexp((rng_next(&rng) & 1) ? -v : v, k);
    }
    default: return 0;
    }
}

static void store_element(void *base, fp8block_dtype t, int64_t i, float v) { codec_store_f32(base, t, i, v); }

/* Host input: x_offset leading elements, rows+1 rows of ldx (the last a guard row), NaN
 * everywhere outside the matrix. */
static void *make_input(const quant_case *c, size_t *bytes)
{
    int64_t count = c->x_offset + (c->rows + 1) * c->ldx;
    *bytes = (size_t)count * dtype_size(c->xtype);
    void *x = malloc(*bytes);
    uint32_t salt = (uint32_t)rng_next(&rng);
    for (int64_t i = 0; i < c->x_offset; i++) store_element(x, c->xtype, i, NAN);
    void *m = (char *)x + c->x_offset * dtype_size(c->xtype);
    for (int64_t r = 0; r <= c->rows; r++)
        for (int64_t col = 0; col < c->ldx; col++)
            store_element(m, c->xtype, r * c->ldx + col,
                          r < c->rows && col < c->cols ? data_value(c, r, col, salt) : NAN);
    return x;
}

static void describe(char *out, size_t size, const quant_case *c)
{
    snprintf(out, size, "%s%s %s->%s %s %lldx%lld ldx=%lld ldq=%lld lds=%lld ldy=%lld off=%lld/%lld/%lld",
             c->block == FP8BLOCK_BLOCK_1x128 ? "1x128" : "128x128", (c->flags & FP8BLOCK_SCALE_POW2) ? "+pow2" : "",
             DTYPE_NAMES[c->xtype], DTYPE_NAMES[c->ytype], DATA_NAMES[c->data], (long long)c->rows, (long long)c->cols,
             (long long)c->ldx, (long long)c->ldq, (long long)c->lds, (long long)c->ldy, (long long)c->x_offset,
             (long long)c->q_offset, (long long)c->y_offset);
}

static fp8block_status quantize_on(fp8block_ctx *ctx, const quant_case *c, const void *x, uint8_t *q, float *s)
{
    return fp8block_quantize_ex(ctx, c->block, c->flags, (const char *)x + c->x_offset * dtype_size(c->xtype),
                                c->xtype, c->rows, c->cols, c->ldx, q + c->q_offset, c->ldq, s, c->lds, NULL);
}

static fp8block_status dequantize_on(fp8block_ctx *ctx, const quant_case *c, const uint8_t *q, const float *s, void *y)
{
    void *y0 = (char *)y + c->y_offset * dtype_size(c->ytype);
    if (c->block == FP8BLOCK_BLOCK_1x128)
        return fp8block_dequantize_1x128(ctx, q + c->q_offset, c->ldq, s, c->lds, c->rows, c->cols, y0, c->ytype,
                                         c->ldy, NULL);
    return fp8block_dequantize_128x128(ctx, q + c->q_offset, c->ldq, s, c->lds, c->rows, c->cols, y0, c->ytype,
                                       c->ldy, NULL);
}

/* Outputs of one run, on the host, and where the matrix sits in them. */
typedef struct {
    uint8_t *q;
    float *s;
    unsigned char *y;
    size_t q_bytes, s_bytes, y_bytes;
} outputs;

static void outputs_alloc(outputs *o, const quant_case *c)
{
    o->q_bytes = (size_t)(c->q_offset + c->rows * c->ldq) + GUARD_BYTES;
    o->s_bytes = (size_t)(scale_lines(c->block, c->rows, c->cols) * c->lds) * sizeof(float) + GUARD_BYTES;
    o->y_bytes = (size_t)(c->y_offset + c->rows * c->ldy) * dtype_size(c->ytype) + GUARD_BYTES;
    o->q = malloc(o->q_bytes);
    o->s = malloc(o->s_bytes);
    o->y = malloc(o->y_bytes);
}

static void outputs_free(outputs *o)
{
    free(o->q);
    free(o->s);
    free(o->y);
}

/* Codes and scales of `got` against the reference; padding must hold `poison`. */
static void compare_quantized(const char *what, const quant_case *c, const outputs *got, const outputs *want,
                              const void *x, unsigned char poison)
{
    int64_t code_diffs = 0, scale_diffs = 0, touched = 0;
    const void *xm = (const char *)x + c->x_offset * dtype_size(c->xtype);
    for (size_t i = 0; i < got->q_bytes; i++) {
        int64_t j = (int64_t)i - c->q_offset, r = j / c->ldq, col = j % c->ldq;
        int inside = j >= 0 && r < c->rows && col < c->cols;
        if (!inside) {
            touched += got->q[i] != poison;
        } else if (got->q[i] != want->q[i] && code_diffs++ < 3) {
            float xv = load_element(xm, c->xtype, r * c->ldx + col);
            float sv = want->s[scale_index(c->block, c->lds, r, col)];
            CHECK(0, "%s: q[%lld][%lld] = 0x%02x, CPU 0x%02x (x = %a, s = %a, x/s = %a)", what, (long long)r,
                  (long long)col, got->q[i], want->q[i], (double)xv, (double)sv, (double)(xv / sv));
        }
    }
    int64_t line = scale_line_length(c->block, c->rows, c->cols);
    int64_t count = scale_lines(c->block, c->rows, c->cols) * c->lds;
    const unsigned char *sbytes = (const unsigned char *)got->s;
    for (size_t i = 0; i < got->s_bytes / sizeof(float); i++) {
        if ((int64_t)i >= count || (int64_t)i % c->lds >= line) {
            for (size_t b = 0; b < sizeof(float); b++) touched += sbytes[i * sizeof(float) + b] != poison;
        } else if (!same_float(got->s[i], want->s[i]) && scale_diffs++ < 3) {
            CHECK(0, "%s: s[%lld] = %a (0x%08x), CPU %a (0x%08x)", what, (long long)i, (double)got->s[i],
                  bits_of(got->s[i]), (double)want->s[i], bits_of(want->s[i]));
        }
    }
    CHECK(code_diffs == 0, "%s: %lld codes differ from the CPU", what, (long long)code_diffs);
    CHECK(scale_diffs == 0, "%s: %lld scales differ from the CPU", what, (long long)scale_diffs);
    CHECK(touched == 0, "%s: %lld bytes outside the matrix written (poison 0x%02x)", what, (long long)touched, poison);
}

static void compare_dequantized(const char *what, const quant_case *c, const outputs *got, const outputs *want,
                                unsigned char poison)
{
    size_t elem = dtype_size(c->ytype);
    int64_t diffs = 0, touched = 0;
    for (size_t i = 0; i < got->y_bytes / elem; i++) {
        int64_t j = (int64_t)i - c->y_offset, r = j / c->ldy, col = j % c->ldy;
        if (!(j >= 0 && r < c->rows && col < c->cols)) {
            for (size_t b = 0; b < elem; b++) touched += got->y[i * elem + b] != poison;
            continue;
        }
        float have = load_element(got->y, c->ytype, (int64_t)i), ref = load_element(want->y, c->ytype, (int64_t)i);
        if (!same_float(have, ref) && diffs++ < 3)
            CHECK(0, "%s: y[%lld][%lld] = %a, CPU %a (code 0x%02x)", what, (long long)r, (long long)col, (double)have,
                  (double)ref, want->q[c->q_offset + r * c->ldq + col]);
    }
    CHECK(diffs == 0, "%s: %lld dequantized elements differ from the CPU", what, (long long)diffs);
    CHECK(touched == 0, "%s: %lld bytes outside y written (poison 0x%02x)", what, (long long)touched, poison);
}

/* |dequantize(quantize(x)) - x| within e4m3's rounding: 2^-4 relative for normal codes,
 * half the subnormal step (2^-10·s) below, plus fp32 roundings; for a 16-bit y, its own
 * rounding on top (half an ulp, or half its subnormal step). Outside the promise: blocks
 * with a NaN scale or a subnormal one (amax < 448·2^-126: s itself is rounded coarsely
 * and x/s may pass 448), and f16 outputs past f16's range. */
static void check_round_trip(const char *what, const quant_case *c, const void *x, const outputs *got)
{
    const void *xm = (const char *)x + c->x_offset * dtype_size(c->xtype);
    double y_rel = c->ytype == FP8BLOCK_BF16 ? 0x1p-8 : c->ytype == FP8BLOCK_F16 ? 0x1p-11 : 0;
    int64_t violations = 0, checked = 0;
    for (int64_t r = 0; r < c->rows; r++)
        for (int64_t col = 0; col < c->cols; col++) {
            double s = got->s[scale_index(c->block, c->lds, r, col)];
            if (!(s >= 0x1p-126) || isinf(s)) continue;
            double xv = load_element(xm, c->xtype, r * c->ldx + col);
            double yv = load_element(got->y, c->ytype, c->y_offset + r * c->ldy + col);
            double e4m3_bound = fabs(xv) * (0x1p-4 + 0x1p-21) + s * 0x1p-10 * (1 + 0x1p-21);
            if (c->ytype == FP8BLOCK_F16 && fabs(xv) + e4m3_bound >= 65504) continue;
            double y_step = c->ytype == FP8BLOCK_BF16 ? 0x1p-134 : c->ytype == FP8BLOCK_F16 ? 0x1p-25 : 0;
            double bound = e4m3_bound * (1 + y_rel) + fabs(xv) * y_rel + y_step;
            checked++;
            if (!(fabs(yv - xv) <= bound) && violations++ < 3)
                CHECK(0, "%s: round trip of x[%lld][%lld] = %a gives %a (s = %a, bound %.3g)", what, (long long)r,
                      (long long)col, xv, yv, s, bound);
        }
    CHECK(violations == 0, "%s: %lld of %lld elements outside the round-trip bound", what, (long long)violations,
          (long long)checked);
}

/* One case: CPU reference, then the GPU twice with two poisons; dequantization of the
 * GPU's codes on the GPU against the CPU's; the round trip. */
static void run_case(const quant_case *c)
{
    char what[256];
    describe(what, sizeof what, c);
    size_t x_bytes = 0;
    void *x = make_input(c, &x_bytes);

    outputs want, got;
    outputs_alloc(&want, c);
    outputs_alloc(&got, c);
    memset(want.q, 0xa5, want.q_bytes);
    memset(want.s, 0xa5, want.s_bytes);
    memset(want.y, 0xa5, want.y_bytes);
    fp8block_status st = quantize_on(cpu, c, x, want.q, want.s);
    CHECK(st == FP8BLOCK_OK, "%s: CPU quantize: %s", what, fp8block_last_error(cpu));
    st = dequantize_on(cpu, c, want.q, want.s, want.y);
    CHECK(st == FP8BLOCK_OK, "%s: CPU dequantize: %s", what, fp8block_last_error(cpu));

    void *x_dev = devmem_alloc(gpu, x_bytes);
    uint8_t *q_dev = devmem_alloc(gpu, got.q_bytes);
    float *s_dev = devmem_alloc(gpu, got.s_bytes);
    void *y_dev = devmem_alloc(gpu, got.y_bytes);
    CHECK(x_dev && q_dev && s_dev && y_dev, "%s: device allocation failed", what);
    if (!(x_dev && q_dev && s_dev && y_dev)) goto done;
    CHECK(devmem_upload(gpu, x_dev, x, x_bytes) == 0, "%s: upload", what);

    static const unsigned char poisons[] = {0xa5, 0x5a};
    for (int p = 0; p < 2; p++) {
        devmem_fill(gpu, q_dev, poisons[p], got.q_bytes);
        devmem_fill(gpu, s_dev, poisons[p], got.s_bytes);
        devmem_fill(gpu, y_dev, poisons[p], got.y_bytes);
        st = quantize_on(gpu, c, x_dev, q_dev, s_dev);
        CHECK(st == FP8BLOCK_OK, "%s: GPU quantize: %s", what, fp8block_last_error(gpu));
        st = dequantize_on(gpu, c, q_dev, s_dev, y_dev);
        CHECK(st == FP8BLOCK_OK, "%s: GPU dequantize: %s", what, fp8block_last_error(gpu));
        CHECK(devmem_sync(gpu) == 0, "%s: kernels failed", what);
        devmem_download(gpu, got.q, q_dev, got.q_bytes);
        devmem_download(gpu, got.s, s_dev, got.s_bytes);
        devmem_download(gpu, got.y, y_dev, got.y_bytes);
        compare_quantized(what, c, &got, &want, x, poisons[p]);
        compare_dequantized(what, c, &got, &want, poisons[p]);
    }
    if (c->data != DATA_HUGE && c->data != DATA_NONFINITE) check_round_trip(what, c, x, &got);
done:
    devmem_free(gpu, x_dev);
    devmem_free(gpu, q_dev);
    devmem_free(gpu, s_dev);
    devmem_free(gpu, y_dev);
    outputs_free(&want);
    outputs_free(&got);
    free(x);
}

/* A case with the given shape; `layout` 0: tight, 1: leading dimensions above the
 * minimum, 2: that and bases off 16-byte alignment. */
static quant_case make_case(fp8block_block block, unsigned flags, fp8block_dtype xtype, data_kind data, int64_t rows,
                            int64_t cols, int layout)
{
    quant_case c = {block, flags, xtype, (fp8block_dtype)rng_range(&rng, FP8BLOCK_F32, FP8BLOCK_F16), data,
                    rows, cols, cols, cols, scale_line_length(block, rows, cols), cols, 0, 0, 0};
    if (layout >= 1) {
        c.ldx += rng_range(&rng, 1, 40);
        c.ldq += rng_range(&rng, 1, 40);
        c.lds += rng_range(&rng, 1, 7);
        c.ldy += rng_range(&rng, 1, 40);
        if (rng_next(&rng) & 1) { /* padded, yet 16-byte rows: the vector path with room to spare */
            c.ldx = (c.ldx + 15) / 16 * 16, c.ldq = (c.ldq + 15) / 16 * 16, c.ldy = (c.ldy + 15) / 16 * 16;
        }
    }
    if (layout >= 2) c.x_offset = rng_range(&rng, 1, 7), c.q_offset = rng_range(&rng, 1, 15), c.y_offset = rng_range(&rng, 1, 7);
    return c;
}

static void test_fixed_shapes(void)
{
    static const int64_t shapes[][2] = {{1, 1},    {1, 129},  {127, 300}, {129, 1},  {128, 128}, {256, 512},
                                        {17, 1000}, {300, 129}, {385, 33}, {1, 4100}, {8, 256},   {130, 257}};
    int n = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int block = 0; block < 2; block++)
            for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++, n++) {
                quant_case c = make_case((fp8block_block)block, (unsigned)(n % 2), (fp8block_dtype)t,
                                         (data_kind)(n % DATA_KINDS), shapes[i][0], shapes[i][1], n % 3);
                run_case(&c);
            }
}

static void test_random_shapes(int count)
{
    for (int n = 0; n < count; n++) {
        int64_t rows = rng_range(&rng, 1, n % 5 == 0 ? 1100 : 300), cols = rng_range(&rng, 1, n % 7 == 0 ? 3000 : 700);
        quant_case c = make_case((fp8block_block)rng_range(&rng, 0, 1), (unsigned)rng_range(&rng, 0, 1),
                                 (fp8block_dtype)rng_range(&rng, FP8BLOCK_F32, FP8BLOCK_F16),
                                 (data_kind)rng_range(&rng, 0, DATA_KINDS - 1), rows, cols, (int)rng_range(&rng, 0, 2));
        run_case(&c);
    }
}

/* Shapes of real layers, tight and padded, every input type across them; two large enough
 * (over 16 warp tasks per resident warp) for the 1x128 kernel's 8-row tasks, which smaller
 * matrices don't use; and aligned ones with ragged edges. */
static void test_production_shapes(void)
{
    static const struct {
        int64_t rows, cols;
        fp8block_dtype xtype;
        fp8block_block block;
        unsigned flags;
        data_kind data;
        int layout;
    } cases[] = {
        {4096, 7168, FP8BLOCK_BF16, FP8BLOCK_BLOCK_1x128, 0, DATA_MIXED, 0},
        {4096, 7168, FP8BLOCK_BF16, FP8BLOCK_BLOCK_128x128, 0, DATA_ZERO_BLOCKS, 0},
        {4096, 7168, FP8BLOCK_F32, FP8BLOCK_BLOCK_128x128, FP8BLOCK_SCALE_POW2, DATA_NONFINITE, 1},
        {2112, 7168, FP8BLOCK_F16, FP8BLOCK_BLOCK_1x128, FP8BLOCK_SCALE_POW2, DATA_MIXED, 1},
        {2112, 7168, FP8BLOCK_BF16, FP8BLOCK_BLOCK_128x128, 0, DATA_BOUNDARY, 0},
        {2112, 7168, FP8BLOCK_F32, FP8BLOCK_BLOCK_1x128, 0, DATA_TINY, 2},
        {4227, 16380, FP8BLOCK_F32, FP8BLOCK_BLOCK_1x128, 0, DATA_MIXED, 0},
        {16403, 8440, FP8BLOCK_BF16, FP8BLOCK_BLOCK_1x128, FP8BLOCK_SCALE_POW2, DATA_BOUNDARY, 0},
        /* 16-byte rows (the vector path) with edges in both directions in one launch. */
        {4099, 7008, FP8BLOCK_BF16, FP8BLOCK_BLOCK_1x128, 0, DATA_MIXED, 0},
        {4099, 7008, FP8BLOCK_BF16, FP8BLOCK_BLOCK_128x128, 0, DATA_MIXED, 0},
        {4099, 7008, FP8BLOCK_F32, FP8BLOCK_BLOCK_1x128, FP8BLOCK_SCALE_POW2, DATA_ZERO_BLOCKS, 0},
        {4099, 7008, FP8BLOCK_F32, FP8BLOCK_BLOCK_128x128, 0, DATA_NONFINITE, 0},
        /* 16-bit 128x128 runs its tiles whole only where the last wave is over half full (the
         * smaller matrices above take them in halves). On a 132-SM GPU 4099x7008 halves the last
         * 132 of 924 tiles, and 2112x7168 and 2112x7000 (476 tiles) run whole: both types,
         * aligned and not, edges in both directions. */
        {2112, 7000, FP8BLOCK_F16, FP8BLOCK_BLOCK_128x128, FP8BLOCK_SCALE_POW2, DATA_MIXED, 2},
        {2112, 7000, FP8BLOCK_F16, FP8BLOCK_BLOCK_128x128, 0, DATA_BOUNDARY, 0},
        {2112, 7000, FP8BLOCK_BF16, FP8BLOCK_BLOCK_128x128, 0, DATA_MIXED, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        quant_case c = make_case(cases[i].block, cases[i].flags, cases[i].xtype, cases[i].data, cases[i].rows,
                                 cases[i].cols, cases[i].layout);
        run_case(&c);
    }
}

/* Runs one fp32 row through the GPU quantizer, 1x128, blocks of `per_block` values after
 * a leading `amax`, and checks each code against the CPU codec's e4m3(v/s) for the
 * scale s the GPU reports. */
static void check_codec_row(const char *what, float amax, const float *values, int count, int negate)
{
    const int per_block = BLOCK - 1;
    int64_t blocks = (count + per_block - 1) / per_block, cols = blocks * BLOCK;
    float *x = malloc((size_t)cols * sizeof(float));
    for (int64_t b = 0; b < blocks; b++) {
        x[b * BLOCK] = amax;
        for (int i = 0; i < per_block; i++) {
            int64_t k = b * per_block + i;
            float v = k < count ? values[k] : 0.0f;
            x[b * BLOCK + 1 + i] = negate ? -v : v;
        }
    }
    float *x_dev = devmem_alloc(gpu, (size_t)cols * sizeof(float));
    uint8_t *q_dev = devmem_alloc(gpu, (size_t)cols), *q = malloc((size_t)cols);
    float *s_dev = devmem_alloc(gpu, (size_t)blocks * sizeof(float)), *s = malloc((size_t)blocks * sizeof(float));
    devmem_upload(gpu, x_dev, x, (size_t)cols * sizeof(float));
    devmem_fill(gpu, q_dev, 0xa5, (size_t)cols);
    fp8block_status st = fp8block_quantize_1x128(gpu, x_dev, FP8BLOCK_F32, 1, cols, cols, q_dev, cols, s_dev, 1, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(gpu));
    devmem_sync(gpu);
    devmem_download(gpu, q, q_dev, (size_t)cols);
    devmem_download(gpu, s, s_dev, (size_t)blocks * sizeof(float));
    int64_t diffs = 0;
    for (int64_t i = 0; i < cols; i++) {
        float sv = s[i / BLOCK], scaled = x[i] / sv;
        uint8_t want = e4m3_from_f32(scaled);
        if (q[i] != want && diffs++ < 8)
            CHECK(0, "%s: GPU e4m3(%a) = 0x%02x, CPU codec 0x%02x (x = %a, s = %a)", what, (double)scaled, q[i], want,
                  (double)x[i], (double)sv);
    }
    CHECK(diffs == 0, "%s: %lld encodings differ from the CPU codec", what, (long long)diffs);
    devmem_free(gpu, x_dev);
    devmem_free(gpu, q_dev);
    devmem_free(gpu, s_dev);
    free(x);
    free(q);
    free(s);
}

/* The GPU's e4m3 encoding of every boundary value equals the CPU codec's:
 * - scale 2^k (amax 448·2^k), so x/s is the chosen value exactly: codes, ties, one ulp
 *   around each tie, the round-to-zero range, ±0;
 * - scale 2^-149 (amax 671·2^-149 rounds amax/448 down to the smallest subnormal), so x/s
 *   runs over the integers 0..671: saturation above 448, the 464 tie, 480 (e4m3fn's NaN);
 * - a NaN or infinity in a block: scale NaN, every code the NaN code. */
static void test_codec_agreement(void)
{
    static const int shifts[] = {0, -3, 7, -100, 100};
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++)
        for (int negate = 0; negate < 2; negate++) {
            float scaled[sizeof boundary_table / sizeof boundary_table[0]];
            for (int k = 0; k < boundary_count; k++) scaled[k] = ldexpf(boundary_table[k], shifts[i]);
            char what[96];
            snprintf(what, sizeof what, "codec: boundary values, s = 2^%d%s", shifts[i], negate ? ", negative" : "");
            check_codec_row(what, ldexpf(448.0f, shifts[i]), scaled, boundary_count, negate);
        }
    float integers[672];
    for (int j = 0; j < 672; j++) integers[j] = ldexpf((float)j, -149);
    check_codec_row("codec: x/s = 0..671 (saturation), s = 2^-149", ldexpf(671.0f, -149), integers, 672, 0);
    check_codec_row("codec: x/s = -0..-671 (saturation), s = 2^-149", ldexpf(671.0f, -149), integers, 672, 1);
    static const float nonfinite[] = {1.0f, -2.0f, 0.0f, -0.0f, 448.0f, 1e30f, -1e-30f, 0x1p-149f};
    const float specials[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "codec: block holding %g (bits 0x%08x)", (double)specials[i], bits_of(specials[i]));
        check_codec_row(what, specials[i], nonfinite, (int)(sizeof nonfinite / sizeof nonfinite[0]), 0);
    }
}

#if FP8BLOCK_HAVE_CUDA
/* On a stream of the caller's, with a busy stream beside it: the result is there once
 * that stream is synchronized, and the caller's current device is kept. */
static void test_stream(void)
{
    const int64_t rows = 1000, cols = 3000;
    size_t bytes = (size_t)(rows * cols) * 2;
    uint16_t *x = malloc(bytes);
    for (int64_t i = 0; i < rows * cols; i++) x[i] = bf16_from_f32((float)rng_normal(&rng));
    void *x_dev = devmem_alloc(gpu, bytes);
    uint8_t *q_dev = devmem_alloc(gpu, (size_t)(rows * cols)), *q = malloc((size_t)(rows * cols));
    uint8_t *q_ref = malloc((size_t)(rows * cols));
    int64_t nscales = ceil_div(cols, BLOCK) * rows;
    float *s_dev = devmem_alloc(gpu, (size_t)nscales * sizeof(float)), *s_ref = malloc((size_t)nscales * sizeof(float));
    devmem_upload(gpu, x_dev, x, bytes);
    devmem_fill(gpu, q_dev, 0xa5, (size_t)(rows * cols));
    devmem_sync(gpu);
    cudaStream_t stream;
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess, "cudaStreamCreate");
    int before = -1, after = -2;
    cudaGetDevice(&before);
    fp8block_status st = fp8block_quantize_1x128(gpu, x_dev, FP8BLOCK_BF16, rows, cols, cols, q_dev, cols, s_dev, rows,
                                                 (void *)stream);
    cudaGetDevice(&after);
    CHECK(st == FP8BLOCK_OK, "stream: %s", fp8block_last_error(gpu));
    CHECK(before == after, "stream: current device %d became %d", before, after);
    CHECK(cudaStreamSynchronize(stream) == cudaSuccess, "stream: synchronize");
    cudaMemcpy(q, q_dev, (size_t)(rows * cols), cudaMemcpyDeviceToHost);
    fp8block_quantize_1x128(cpu, x, FP8BLOCK_BF16, rows, cols, cols, q_ref, cols, s_ref, rows, NULL);
    CHECK(memcmp(q, q_ref, (size_t)(rows * cols)) == 0, "stream: codes differ from the CPU");
    cudaStreamDestroy(stream);
    devmem_free(gpu, x_dev);
    devmem_free(gpu, q_dev);
    devmem_free(gpu, s_dev);
    free(x);
    free(q);
    free(q_ref);
    free(s_ref);
}
#endif

int main(void)
{
    gpu = test_gpu_ctx_or_skip();
    fp8block_status st = fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        return 1;
    }
    rng_seed(&rng, 20261124);
    boundary_count = boundary_values(boundary_table, (int)(sizeof boundary_table / sizeof boundary_table[0]));
    const int small = getenv("FP8BLOCK_TEST_SMALL") != NULL;
    test_codec_agreement();
    test_fixed_shapes();
    test_random_shapes(small ? 12 : 110);
    if (!small) test_production_shapes();
#if FP8BLOCK_HAVE_CUDA
    test_stream();
#endif
    fp8block_destroy(cpu);
    fp8block_destroy(gpu);
    return test_finish("test_quantize_gpu");
}
