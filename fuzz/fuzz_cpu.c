/* libFuzzer harness over the public API on the CPU backend.
 *
 * The input chooses an entry point, its arguments (dims, leading dimensions, dtypes, block
 * shape, flags, context, null and misaligned pointers, hostile values such as 0, -1,
 * 2^31, INT64_MAX) and the bytes of the data (NaN, inf, denormals and everything else).
 *
 * The harness keeps its own model of the contract (docs/DESIGN.md, include/fp8block.h): it
 * computes whether the call is valid and how many bytes each buffer spans, allocates
 * exactly that much (AddressSanitizer then catches a read or write one byte past the end),
 * and fills every buffer with a canary first. It aborts when
 *   - the library answers OK to a call the model calls invalid, or an error to a valid one;
 *   - a failed call has no message, or changed any byte of any buffer;
 *   - a successful call wrote into the gaps between rows (ld > cols) of an output;
 *   - quantization broke the scale rule's invariants (s NaN exactly when the block holds
 *     NaN/inf, else s finite and > 0; codes NaN exactly when s is NaN).
 * Valid calls whose buffers would exceed MAX_BUFFER_BYTES are not made. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign, under -std=c11 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8block.h"

enum { MAX_BUFFER_BYTES = 1 << 21, MAX_GEMM_WORK = 1 << 22, CANARY = 0xa5, DUMMY_BYTES = 64 };

/* ---- reading the input ---- */

typedef struct {
    const uint8_t *p;
    size_t left;
} input;

static uint8_t take_u8(input *in)
{
    if (!in->left) return 0;
    in->left--;
    return *in->p++;
}

static uint64_t take_u64(input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = v << 8 | take_u8(in);
    return v;
}

static const int64_t HOSTILE[] = {0,           -1,           INT64_MIN,         INT64_MAX,          INT32_MAX,
                                  (int64_t)1 << 31, (int64_t)1 << 32, ((int64_t)1 << 32) + 1, (int64_t)1 << 62,
                                  -((int64_t)1 << 31), INT64_MAX / 2, INT64_MAX / 128 + 1, (int64_t)1 << 40, 127,
                                  128,         129};

static int64_t take_hostile(input *in) { return HOSTILE[take_u8(in) % (sizeof HOSTILE / sizeof HOSTILE[0])]; }

/* Mostly small positive sizes around block boundaries, sometimes hostile ones. */
static int64_t take_dim(input *in)
{
    uint8_t mode = take_u8(in);
    if (mode < 176) return 1 + (int64_t)(take_u64(in, 2) % 300);
    if (mode < 208) return 1 + (int64_t)(take_u64(in, 1) % 8);
    if (mode < 232) return take_hostile(in);
    if (mode < 248) return (int64_t)take_u64(in, 2);
    return (int64_t)take_u64(in, 8);
}

/* A leading dimension: the minimum, a bit more, a multiple of `multiple` above it, a bit
 * less, or hostile. */
static int64_t take_ld(input *in, int64_t min, int64_t multiple)
{
    uint8_t mode = take_u8(in);
    int64_t ld;
    if (mode < 96) return min;
    if (mode < 160) return __builtin_add_overflow(min, (int64_t)(take_u8(in) % 40), &ld) ? min : ld;
    if (mode < 208) {
        int64_t up = min > 0 && min <= INT64_MAX - multiple ? (min + multiple - 1) / multiple * multiple : min;
        return __builtin_add_overflow(up, multiple * (int64_t)(take_u8(in) % 4), &ld) ? up : ld;
    }
    if (mode < 232) return __builtin_sub_overflow(min, 1 + (int64_t)(take_u8(in) % 3), &ld) ? min : ld;
    if (mode < 248) return take_hostile(in);
    return (int64_t)take_u64(in, 8);
}

static fp8block_dtype take_dtype(input *in)
{
    static const int DTYPES[] = {FP8BLOCK_F32, FP8BLOCK_BF16, FP8BLOCK_F16, FP8BLOCK_F32, FP8BLOCK_BF16,
                                 FP8BLOCK_F16, FP8BLOCK_E4M3, -1,           4,            1000};
    return (fp8block_dtype)DTYPES[take_u8(in) % (sizeof DTYPES / sizeof DTYPES[0])];
}

static size_t float_type_size(fp8block_dtype t)
{
    return t == FP8BLOCK_F32 ? 4 : (t == FP8BLOCK_BF16 || t == FP8BLOCK_F16) ? 2 : 0;
}

/* ---- buffers: exact size, canary filled, optionally NULL or misaligned ---- */

typedef struct {
    uint8_t *block;  /* what posix_memalign gave */
    uint8_t *base;   /* what the call sees: block + front, or NULL */
    size_t bytes;    /* from base */
    uint8_t *before; /* copy after filling, to find changed bytes */
} buffer;

/* Pointer mode: 0 aligned, 1 NULL, 2.. misaligned by 1, 2, 4 or 8 bytes. */
static size_t take_pointer_mode(input *in)
{
    uint8_t m = take_u8(in);
    return m < 224 ? 0 : m < 232 ? 1 : (size_t)(2 + m % 4);
}

static buffer buffer_make(size_t bytes, size_t pointer_mode)
{
    static const size_t FRONT[] = {0, 0, 1, 2, 4, 8};
    buffer b = {0};
    size_t front = FRONT[pointer_mode];
    if (posix_memalign((void **)&b.block, 64, front + bytes + 1) != 0) abort();
    b.bytes = bytes;
    b.base = pointer_mode == 1 ? NULL : b.block + front;
    memset(b.block, CANARY, front + bytes);
    return b;
}

static void buffer_snapshot(buffer *b)
{
    if (!b->base) return;
    b->before = malloc(b->bytes + 1);
    if (!b->before) abort();
    memcpy(b->before, b->base, b->bytes);
}

static void buffer_free(buffer *b)
{
    free(b->block);
    free(b->before);
}

static void fail(const char *what, const char *function, fp8block_status st)
{
    fprintf(stderr, "fuzz_cpu: %s: %s answered %s: \"%s\"\n", what, function, fp8block_status_string(st),
            fp8block_last_error(NULL));
    abort();
}

static void check_unchanged(const buffer *b, const char *name, const char *function, fp8block_status st)
{
    if (b->base && memcmp(b->before, b->base, b->bytes) != 0) {
        fprintf(stderr, "fuzz_cpu: buffer %s changed by a failed call\n", name);
        fail("a failed call wrote to a buffer", function, st);
    }
}

/* The padding of every row but the last (ld > cols) must still hold the data it had. */
static void check_gaps(const buffer *b, const char *name, int64_t lines, int64_t ld, int64_t owned, size_t elem,
                       const char *function)
{
    for (int64_t r = 0; r + 1 < lines; r++) {
        size_t from = (size_t)(r * ld + owned) * elem, to = (size_t)((r + 1) * ld) * elem;
        if (memcmp(b->base + from, b->before + from, to - from) != 0) {
            fprintf(stderr, "fuzz_cpu: %s: padding of line %lld (elements %lld..%lld) was written\n", name,
                    (long long)r, (long long)owned, (long long)ld - 1);
            fail("a call wrote outside the elements it owns", function, FP8BLOCK_OK);
        }
    }
}

/* ---- the data ---- */

static const uint32_t SPECIAL_F32[16] = {0x7fc00000u, 0xffc00001u, 0x7f800000u, 0xff800000u, 0x00000001u,
                                         0x80000001u, 0x007fffffu, 0x00000000u, 0x80000000u, 0x7f7fffffu,
                                         0x43e00000u, 0x43e00001u, 0x43e80000u, 0x3f800000u, 0x00800000u,
                                         0x39000000u};

/* Mode 0: the input's bytes as they are (cycled). Mode 1: each byte picks a special value
 * or an ordinary one. Mode 2: normal-ish values with a block-wide magnitude from the input. */
static void fill_data(buffer *b, fp8block_dtype type, input *in)
{
    if (!b->base || !b->bytes) return;
    uint8_t mode = take_u8(in) % 3;
    size_t elem = type == FP8BLOCK_E4M3 ? 1 : float_type_size(type);
    if (mode == 0 || elem <= 1) {
        if (!in->left) return;
        for (size_t i = 0; i < b->bytes; i++) b->base[i] = in->p[i % in->left];
        return;
    }
    uint64_t state = take_u64(in, 8) | 1;
    int exponent = (int)(take_u8(in) % 64) - 32;
    for (size_t i = 0; i + elem <= b->bytes; i += elem) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        float v;
        if (mode == 1 && (state >> 60) < 6) {
            uint32_t u = SPECIAL_F32[(state >> 32) % 16];
            memcpy(&v, &u, 4);
        } else {
            v = ldexpf((float)((int64_t)(state >> 40) - (1 << 23)) / (float)(1 << 23), exponent);
        }
        uint32_t u;
        memcpy(&u, &v, 4);
        if (elem == 4) {
            memcpy(b->base + i, &u, 4);
        } else {
            uint16_t h = type == FP8BLOCK_BF16 ? (uint16_t)(u >> 16) : (uint16_t)((u >> 16 & 0x8000) | ((u >> 13) & 0x7fff));
            memcpy(b->base + i, &h, 2);
        }
    }
}

/* ---- the model of the contract ---- */

/* Bytes spanned by `lines` lines of `owned` elements at stride ld: ((lines-1)*ld + owned)*elem.
 * 0 when that overflows int64 (the library must then refuse the call). */
static int extent_bytes(int64_t lines, int64_t ld, int64_t owned, size_t elem, int64_t *bytes)
{
    int64_t span, elems;
    return !__builtin_mul_overflow(lines - 1, ld, &span) && !__builtin_add_overflow(span, owned, &elems) &&
           !__builtin_mul_overflow(elems, (int64_t)elem, bytes);
}

static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

typedef struct {
    int valid;
    int fits;
} verdict;

/* Bytes a buffer of `lines` lines spans, or DUMMY_BYTES when that is not representable or
 * not positive (a negative ld; the call is then invalid); a span above MAX_BUFFER_BYTES makes the call too big to make. */
static int64_t span(int dims_ok, int64_t lines, int64_t ld, int64_t owned, size_t elem, verdict *v)
{
    int64_t bytes;
    if (!dims_ok || lines <= 0 || elem == 0 || !extent_bytes(lines, ld, owned, elem, &bytes) || bytes <= 0) {
        v->valid = 0;
        return DUMMY_BYTES;
    }
    if (bytes > MAX_BUFFER_BYTES) v->fits = 0;
    return bytes;
}

static int aligned(const buffer *b, size_t align) { return b->base && (uintptr_t)b->base % align == 0; }

/* ---- what was exercised, printed at exit for the run's statistics ---- */

enum {
    ENTRY_Q1x128,
    ENTRY_Q128x128,
    ENTRY_QEX,
    ENTRY_D1x128,
    ENTRY_D128x128,
    ENTRY_GEMM,
    ENTRY_QTRANSPOSE,
    ENTRY_T128x128,
    ENTRY_CONTEXT,
    ENTRIES
};
static const char *const ENTRY_NAMES[ENTRIES] = {"quantize_1x128",      "quantize_128x128", "quantize_ex",
                                                 "dequantize_1x128",    "dequantize_128x128", "gemm",
                                                 "quantize_transpose", "transpose_128x128", "create/destroy"};
static long g_ok[ENTRIES], g_refused[ENTRIES], g_too_big[ENTRIES];

static void count(int entry, fp8block_status st)
{
    if (st == FP8BLOCK_OK) g_ok[entry]++;
    else g_refused[entry]++;
}

static void print_counts(void)
{
    fprintf(stderr, "fuzz_cpu calls: entry point, succeeded, refused (invalid arguments), skipped (valid but too big)\n");
    for (int e = 0; e < ENTRIES; e++)
        fprintf(stderr, "fuzz_cpu calls: %-20s %10ld %10ld %10ld\n", ENTRY_NAMES[e], g_ok[e], g_refused[e], g_too_big[e]);
}

/* ---- the context: the live one, NULL, a destroyed one, or a forged one ---- */

static fp8block_ctx *g_ctx;

static fp8block_ctx *take_ctx(input *in, int *live)
{
    uint8_t m = take_u8(in);
    *live = 0;
    if (m < 236) {
        *live = 1;
        return g_ctx;
    }
    if (m < 242) return NULL;
    if (m < 250) {
        fp8block_ctx *dead = NULL;
        if (fp8block_create(&dead, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) abort();
        fp8block_destroy(dead);
        fp8block_destroy(dead); /* twice: the second must be a no-op */
        return dead;
    }
    static uint64_t forged[8];
    return (fp8block_ctx *)forged;
}

/* ---- quantize ---- */

static void check_quantize_invariants(int block_128x128, fp8block_dtype xtype, const buffer *x, int64_t ldx,
                                      const buffer *q, int64_t ldq, const buffer *s, int64_t lds, int64_t rows,
                                      int64_t cols)
{
    size_t elem = float_type_size(xtype);
    for (int64_t rb = 0; rb < (block_128x128 ? ceil_div(rows, 128) : rows); rb++) {
        int64_t r0 = block_128x128 ? rb * 128 : rb, r1 = block_128x128 ? (r0 + 128 < rows ? r0 + 128 : rows) : rb + 1;
        for (int64_t cb = 0; cb < ceil_div(cols, 128); cb++) {
            int64_t c0 = cb * 128, c1 = c0 + 128 < cols ? c0 + 128 : cols;
            int nonfinite = 0;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) {
                    const uint8_t *e = x->base + (size_t)(r * ldx + c) * elem;
                    uint32_t u = 0;
                    uint16_t h;
                    if (elem == 4) memcpy(&u, e, 4);
                    else memcpy(&h, e, 2);
                    if (elem == 4) nonfinite |= (u & 0x7f800000u) == 0x7f800000u;
                    else if (xtype == FP8BLOCK_BF16) nonfinite |= (h & 0x7f80u) == 0x7f80u;
                    else nonfinite |= (h & 0x7c00u) == 0x7c00u;
                }
            float sv;
            memcpy(&sv, s->base + 4 * (size_t)(block_128x128 ? rb * lds + cb : cb * lds + rb), 4);
            if (nonfinite != (isnan(sv) != 0) || (!nonfinite && !(sv > 0.0f && isfinite(sv)))) {
                fprintf(stderr, "fuzz_cpu: block (%lld, %lld): nonfinite input %d, scale %a\n", (long long)rb,
                        (long long)cb, nonfinite, (double)sv);
                fail("the scale rule is broken", "quantize", FP8BLOCK_OK);
            }
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) {
                    uint8_t code = q->base[(size_t)(r * ldq + c)];
                    if (((code & 0x7f) == 0x7f) != nonfinite) {
                        fprintf(stderr, "fuzz_cpu: q[%lld][%lld] = 0x%02x with scale %a\n", (long long)r, (long long)c,
                                code, (double)sv);
                        fail("codes are NaN exactly when the scale is", "quantize", FP8BLOCK_OK);
                    }
                }
        }
    }
}

static void fuzz_quantize(input *in, int entry)
{
    int live;
    fp8block_ctx *ctx = take_ctx(in, &live);
    static const int BLOCKS[] = {FP8BLOCK_BLOCK_1x128, FP8BLOCK_BLOCK_128x128, 2, -1};
    static const unsigned FLAGS[] = {0, FP8BLOCK_SCALE_POW2, 2, 0x80000000u, 3};
    int block = entry == 0 ? FP8BLOCK_BLOCK_1x128 : entry == 1 ? FP8BLOCK_BLOCK_128x128 : BLOCKS[take_u8(in) % 4];
    unsigned flags = entry == 2 ? FLAGS[take_u8(in) % 5] : 0;
    fp8block_dtype xtype = take_dtype(in);
    int64_t rows = take_dim(in), cols = take_dim(in);
    int64_t ldx = take_ld(in, cols, 8), ldq = take_ld(in, cols, 16);
    int is_128 = block == FP8BLOCK_BLOCK_128x128;
    int64_t col_blocks = cols > 0 ? ceil_div(cols, 128) : 0, row_blocks = rows > 0 ? ceil_div(rows, 128) : 0;
    int64_t s_lines = is_128 ? row_blocks : col_blocks, s_owned = is_128 ? col_blocks : rows;
    int64_t lds = take_ld(in, s_owned, 4);
    size_t x_mode = take_pointer_mode(in), q_mode = take_pointer_mode(in), s_mode = take_pointer_mode(in);

    size_t elem = float_type_size(xtype);
    verdict v = {live && (block == 0 || block == 1) && (flags & ~1u) == 0 && elem && rows > 0 && cols > 0 &&
                     ldx >= cols && ldq >= cols && lds >= s_owned,
                 1};
    int dims_ok = rows > 0 && cols > 0;
    int64_t bx = span(dims_ok, rows, ldx, cols, elem, &v), bq = span(dims_ok, rows, ldq, cols, 1, &v);
    int64_t bs = span(dims_ok, s_lines, lds, s_owned, 4, &v);
    if (!v.fits) {
        if (v.valid) { /* a valid call too big to make */
            g_too_big[entry]++;
            return;
        }
        bx = bq = bs = DUMMY_BYTES;
    }
    buffer x = buffer_make((size_t)bx, x_mode), q = buffer_make((size_t)bq, q_mode), s = buffer_make((size_t)bs, s_mode);
    v.valid = v.valid && aligned(&x, elem ? elem : 1) && q.base && aligned(&s, 4);
    fill_data(&x, xtype, in);
    buffer_snapshot(&x), buffer_snapshot(&q), buffer_snapshot(&s);

    static const char *const NAMES[] = {"fp8block_quantize_1x128", "fp8block_quantize_128x128", "fp8block_quantize_ex"};
    fp8block_status st =
        entry == 0   ? fp8block_quantize_1x128(ctx, x.base, xtype, rows, cols, ldx, q.base, ldq, (float *)s.base, lds, NULL)
        : entry == 1 ? fp8block_quantize_128x128(ctx, x.base, xtype, rows, cols, ldx, q.base, ldq, (float *)s.base, lds,
                                                 NULL)
                     : fp8block_quantize_ex(ctx, (fp8block_block)block, flags, x.base, xtype, rows, cols, ldx, q.base,
                                            ldq, (float *)s.base, lds, NULL);
    count(entry, st);
    check_unchanged(&x, "x (an input)", NAMES[entry], st);
    if (v.valid != (st == FP8BLOCK_OK)) fail(v.valid ? "a valid call was refused" : "an invalid call was accepted", NAMES[entry], st);
    if (st != FP8BLOCK_OK) {
        if (!fp8block_last_error(NULL)[0] || strncmp(fp8block_last_error(NULL), NAMES[entry], strlen(NAMES[entry])))
            fail("the message does not start with the function's name", NAMES[entry], st);
        check_unchanged(&q, "q", NAMES[entry], st);
        check_unchanged(&s, "s", NAMES[entry], st);
    } else {
        check_gaps(&q, "q", rows, ldq, cols, 1, NAMES[entry]);
        check_gaps(&s, "s", s_lines, lds, s_owned, 4, NAMES[entry]);
        check_quantize_invariants(is_128, xtype, &x, ldx, &q, ldq, &s, lds, rows, cols);
    }
    buffer_free(&x), buffer_free(&q), buffer_free(&s);
}

/* ---- dequantize ---- */

static void fuzz_dequantize(input *in, int is_128)
{
    int live;
    fp8block_ctx *ctx = take_ctx(in, &live);
    fp8block_dtype ytype = take_dtype(in);
    int64_t rows = take_dim(in), cols = take_dim(in);
    int64_t ldq = take_ld(in, cols, 16), ldy = take_ld(in, cols, 8);
    int64_t col_blocks = cols > 0 ? ceil_div(cols, 128) : 0, row_blocks = rows > 0 ? ceil_div(rows, 128) : 0;
    int64_t s_lines = is_128 ? row_blocks : col_blocks, s_owned = is_128 ? col_blocks : rows;
    int64_t lds = take_ld(in, s_owned, 4);
    size_t q_mode = take_pointer_mode(in), s_mode = take_pointer_mode(in), y_mode = take_pointer_mode(in);

    size_t elem = float_type_size(ytype);
    verdict v = {live && elem && rows > 0 && cols > 0 && ldq >= cols && ldy >= cols && lds >= s_owned, 1};
    int dims_ok = rows > 0 && cols > 0;
    int64_t bq = span(dims_ok, rows, ldq, cols, 1, &v), bs = span(dims_ok, s_lines, lds, s_owned, 4, &v);
    int64_t by = span(dims_ok, rows, ldy, cols, elem, &v);
    if (!v.fits) {
        if (v.valid) {
            g_too_big[ENTRY_D1x128 + is_128]++;
            return;
        }
        bq = bs = by = DUMMY_BYTES;
    }
    buffer q = buffer_make((size_t)bq, q_mode), s = buffer_make((size_t)bs, s_mode), y = buffer_make((size_t)by, y_mode);
    v.valid = v.valid && q.base && aligned(&s, 4) && aligned(&y, elem ? elem : 1);
    fill_data(&q, FP8BLOCK_E4M3, in);
    fill_data(&s, FP8BLOCK_F32, in);
    buffer_snapshot(&q), buffer_snapshot(&s), buffer_snapshot(&y);

    const char *name = is_128 ? "fp8block_dequantize_128x128" : "fp8block_dequantize_1x128";
    fp8block_status st = is_128 ? fp8block_dequantize_128x128(ctx, q.base, ldq, (float *)s.base, lds, rows, cols, y.base,
                                                              ytype, ldy, NULL)
                                : fp8block_dequantize_1x128(ctx, q.base, ldq, (float *)s.base, lds, rows, cols, y.base,
                                                            ytype, ldy, NULL);
    count(ENTRY_D1x128 + is_128, st);
    check_unchanged(&q, "q (an input)", name, st);
    check_unchanged(&s, "s (an input)", name, st);
    if (v.valid != (st == FP8BLOCK_OK)) fail(v.valid ? "a valid call was refused" : "an invalid call was accepted", name, st);
    if (st != FP8BLOCK_OK) check_unchanged(&y, "y", name, st);
    else check_gaps(&y, "y", rows, ldy, cols, elem, name);
    buffer_free(&q), buffer_free(&s), buffer_free(&y);
}

/* ---- gemm ---- */

/* The descriptor's epilogue fields (E4M3 D's scales, C, bias), each drawn or not, with what
 * validity they leave; buffers of their own, so never overlapping D. */
typedef struct {
    int has_sd, has_c, has_bias;
    int64_t ldsd, ldc;
    fp8block_dtype c_dtype, bias_dtype;
    unsigned flags;
    size_t sd_mode, c_mode, bias_mode;
} epilogue_draw;

static epilogue_draw take_epilogue(input *in, int64_t m, int64_t n)
{
    epilogue_draw e;
    memset(&e, 0, sizeof e);
    unsigned what = take_u8(in);
    e.has_sd = what & 1, e.has_c = (what >> 1) & 1, e.has_bias = (what >> 2) & 1;
    e.flags = (what & 8 ? FP8BLOCK_SCALE_POW2 : 0) | (what & 16 ? 2u : 0);
    if (e.has_sd) e.ldsd = take_ld(in, m, 4), e.sd_mode = take_pointer_mode(in);
    if (e.has_c) e.c_dtype = take_dtype(in), e.ldc = take_ld(in, n, 8), e.c_mode = take_pointer_mode(in);
    if (e.has_bias) e.bias_dtype = take_dtype(in), e.bias_mode = take_pointer_mode(in);
    return e;
}

static void fuzz_gemm(input *in)
{
    int live;
    fp8block_ctx *ctx = take_ctx(in, &live);
    /* Bit 0: through the descriptor (fp8block_gemm_ex); bits 1-3 there: a defect of the
     * descriptor itself; bit 4: the epilogue fields (E4M3 D with sd, C, bias). */
    const unsigned entry = take_u8(in);
    const int ex = entry & 1, epilogue = ex && (entry & 0x10);
    fp8block_dtype dtype = take_dtype(in);
    int64_t m = take_dim(in), n = take_dim(in), k = take_dim(in);
    int64_t k_blocks = k > 0 ? ceil_div(k, 128) : 0, n_blocks = n > 0 ? ceil_div(n, 128) : 0;
    int64_t lda = take_ld(in, k, 16), ldb = take_ld(in, k, 16), ldsa = take_ld(in, m, 4);
    const int e4m3 = dtype == FP8BLOCK_E4M3;
    int64_t ldsb = take_ld(in, k_blocks, 1), ldd = take_ld(in, n, e4m3 ? 16 : 8);
    size_t a_mode = take_pointer_mode(in), sa_mode = take_pointer_mode(in), b_mode = take_pointer_mode(in);
    size_t sb_mode = take_pointer_mode(in), d_mode = take_pointer_mode(in);
    epilogue_draw e = epilogue ? take_epilogue(in, m, n) : (epilogue_draw){0};

    size_t elem = e4m3 ? 1 : float_type_size(dtype);
    size_t c_elem = float_type_size(e.c_dtype), bias_elem = float_type_size(e.bias_dtype);
    verdict v = {live && elem && m > 0 && n > 0 && k > 0 && lda >= k && ldb >= k && ldsa >= m && ldsb >= k_blocks &&
                     ldd >= n && lda % 16 == 0 && ldb % 16 == 0 && ldsa % 4 == 0 && elem && ldd % (int64_t)(16 / elem) == 0,
                 1};
    int dims_ok = m > 0 && n > 0 && k > 0;
    int64_t ba = span(dims_ok, m, lda, k, 1, &v), bb = span(dims_ok, n, ldb, k, 1, &v);
    int64_t bsa = span(dims_ok, k_blocks, ldsa, m, 4, &v), bsb = span(dims_ok, n_blocks, ldsb, k_blocks, 4, &v);
    int64_t bd = span(dims_ok, m, ldd, n, elem ? elem : 1, &v);
    int64_t bsd = e.has_sd ? span(dims_ok, n_blocks, e.ldsd, m, 4, &v) : 0;
    int64_t bc = e.has_c ? span(dims_ok, m, e.ldc, n, c_elem ? c_elem : 1, &v) : 0;
    int64_t bbias = e.has_bias ? span(dims_ok, 1, n, n, bias_elem ? bias_elem : 1, &v) : 0;
    /* E4M3 D: only through the descriptor, with sd (ldsd >= m, a multiple of 4) and flags of
     * POW2 at most; any other D: no sd, ldsd or flags. C: F32/BF16/F16, ldc >= n and whole
     * 16-byte rows; bias: F32/BF16/F16. */
    if (e4m3) v.valid = v.valid && ex && e.has_sd && e.sd_mode != 1 && e.ldsd >= m && e.ldsd % 4 == 0 && !(e.flags & 2);
    else v.valid = v.valid && !e.has_sd && !e.flags;
    if (e.has_c && e.c_mode != 1)
        v.valid = v.valid && c_elem && e.ldc >= n && e.ldc % (int64_t)(16 / (c_elem ? c_elem : 1)) == 0;
    else if (e.has_c)
        v.valid = v.valid && !e.c_dtype && !e.ldc; /* c NULL: "no C" only if the rest is unset */
    if (e.has_bias && e.bias_mode != 1) v.valid = v.valid && bias_elem;
    else if (e.has_bias) v.valid = v.valid && !e.bias_dtype;
    if (dims_ok && (m > MAX_GEMM_WORK || n > MAX_GEMM_WORK || k > MAX_GEMM_WORK ||
                    (double)m * (double)n * (double)k > MAX_GEMM_WORK))
        v.fits = 0;
    if (!v.fits) {
        if (v.valid) {
            g_too_big[ENTRY_GEMM]++;
            return;
        }
        ba = bb = bsa = bsb = bd = DUMMY_BYTES;
        bsd = e.has_sd ? DUMMY_BYTES : 0, bc = e.has_c ? DUMMY_BYTES : 0, bbias = e.has_bias ? DUMMY_BYTES : 0;
    }
    buffer a = buffer_make((size_t)ba, a_mode), sa = buffer_make((size_t)bsa, sa_mode), b = buffer_make((size_t)bb, b_mode);
    buffer sb = buffer_make((size_t)bsb, sb_mode), d = buffer_make((size_t)bd, d_mode);
    buffer sd = buffer_make((size_t)bsd, e.has_sd ? e.sd_mode : 1), c = buffer_make((size_t)bc, e.has_c ? e.c_mode : 1);
    buffer bias = buffer_make((size_t)bbias, e.has_bias ? e.bias_mode : 1);
    v.valid = v.valid && aligned(&a, 16) && aligned(&sa, 16) && aligned(&b, 16) && aligned(&sb, 4) && aligned(&d, 16);
    if (sd.base) v.valid = v.valid && aligned(&sd, 16);
    if (c.base) v.valid = v.valid && aligned(&c, 16);
    if (bias.base) v.valid = v.valid && aligned(&bias, 16);
    fill_data(&a, FP8BLOCK_E4M3, in);
    fill_data(&b, FP8BLOCK_E4M3, in);
    fill_data(&sa, FP8BLOCK_F32, in);
    fill_data(&sb, FP8BLOCK_F32, in);
    fill_data(&c, c_elem ? e.c_dtype : FP8BLOCK_F32, in);
    fill_data(&bias, bias_elem ? e.bias_dtype : FP8BLOCK_F32, in);
    buffer_snapshot(&a), buffer_snapshot(&sa), buffer_snapshot(&b), buffer_snapshot(&sb), buffer_snapshot(&d);
    buffer_snapshot(&sd), buffer_snapshot(&c), buffer_snapshot(&bias);

    const char *name = ex ? "fp8block_gemm_ex" : "fp8block_gemm";
    fp8block_status st;
    if (ex) {
        fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
        g.m = m, g.n = n, g.k = k, g.a = a.base, g.lda = lda, g.sa = (float *)sa.base, g.ldsa = ldsa;
        g.b = b.base, g.ldb = ldb, g.sb = (float *)sb.base, g.ldsb = ldsb, g.d = d.base, g.d_dtype = dtype, g.ldd = ldd;
        g.sd = (float *)sd.base, g.ldsd = e.ldsd, g.d_scale_flags = e.flags;
        g.c = c.base, g.c_dtype = e.c_dtype, g.ldc = e.ldc, g.bias = bias.base, g.bias_dtype = e.bias_dtype;
        switch (entry >> 1 & 7) {
        case 1: g.max_m = 8, v.valid = 0; break;
        case 2: g.b_scales = (fp8block_b_scales)7, v.valid = 0; break;
        case 3: g.groups = 2, v.valid = 0; break;
        case 4: g.struct_size = offsetof(fp8block_gemm_desc, expected_m) - 8, v.valid = 0; break; /* < 0.1.0's */
        case 5: g.struct_size = offsetof(fp8block_gemm_desc, expected_m); break; /* a 0.1.0 caller: still valid */
        case 6: g.expected_m = 8, v.valid = 0; break; /* a masked-layout hint on a plain GEMM */
        default: break;
        }
        st = fp8block_gemm_ex(ctx, &g, NULL);
    } else {
        st = fp8block_gemm(ctx, m, n, k, a.base, lda, (float *)sa.base, ldsa, b.base, ldb, (float *)sb.base, ldsb,
                           d.base, dtype, ldd, NULL);
    }
    count(ENTRY_GEMM, st);
    check_unchanged(&a, "a (an input)", name, st);
    check_unchanged(&sa, "sa (an input)", name, st);
    check_unchanged(&b, "b (an input)", name, st);
    check_unchanged(&sb, "sb (an input)", name, st);
    check_unchanged(&c, "c (an input)", name, st);
    check_unchanged(&bias, "bias (an input)", name, st);
    if (v.valid != (st == FP8BLOCK_OK)) fail(v.valid ? "a valid call was refused" : "an invalid call was accepted", name, st);
    if (st != FP8BLOCK_OK) {
        check_unchanged(&d, "d", name, st);
        check_unchanged(&sd, "sd", name, st);
    } else {
        check_gaps(&d, "d", m, ldd, n, elem, name);
        if (sd.base) check_gaps(&sd, "sd", n_blocks, e.ldsd, m, 4, name);
    }
    buffer_free(&a), buffer_free(&sa), buffer_free(&b), buffer_free(&sb), buffer_free(&d);
    buffer_free(&sd), buffer_free(&c), buffer_free(&bias);
}

/* ---- the training layouts ---- */

/* quantize_1x128_transpose: each pair (x's q, s; xᵀ's qt, st) drawn present or absent, and
 * present pointers NULL or misaligned at times. */
static void fuzz_quantize_transpose(input *in)
{
    int live;
    fp8block_ctx *ctx = take_ctx(in, &live);
    static const unsigned FLAGS[] = {0, FP8BLOCK_SCALE_POW2, 2, 0x80000000u};
    const unsigned flags = FLAGS[take_u8(in) % 4], pairs = take_u8(in);
    const int want_rows = pairs & 1, want_cols = (pairs >> 1) & 1;
    fp8block_dtype xtype = take_dtype(in);
    int64_t rows = take_dim(in), cols = take_dim(in);
    int64_t ldx = take_ld(in, cols, 8), ldq = take_ld(in, cols, 16), lds = take_ld(in, rows, 4);
    int64_t ldqt = take_ld(in, rows, 16), ldst = take_ld(in, cols, 4);
    size_t x_mode = take_pointer_mode(in), q_mode = take_pointer_mode(in), s_mode = take_pointer_mode(in);
    size_t qt_mode = take_pointer_mode(in), st_mode = take_pointer_mode(in);
    int64_t col_blocks = cols > 0 ? ceil_div(cols, 128) : 0, row_blocks = rows > 0 ? ceil_div(rows, 128) : 0;

    size_t elem = float_type_size(xtype);
    int dims_ok = rows > 0 && cols > 0;
    verdict v = {live && (flags & ~1u) == 0 && elem && dims_ok && ldx >= cols && (want_rows || want_cols), 1};
    int64_t bx = span(dims_ok, rows, ldx, cols, elem ? elem : 1, &v);
    int64_t bq = 0, bs = 0, bqt = 0, bst = 0;
    /* A pair's leading dimensions and extents matter only when both its pointers are there: a
     * pair drawn but passed as NULL, NULL is skipped by the library, whatever its ld. */
    const int rows_given = want_rows && q_mode != 1 && s_mode != 1, cols_given = want_cols && qt_mode != 1 && st_mode != 1;
    if (want_rows) {
        verdict pair = {ldq >= cols && lds >= rows, 1};
        bq = span(dims_ok, rows, ldq, cols, 1, &pair), bs = span(dims_ok, col_blocks, lds, rows, 4, &pair);
        if (rows_given) v.valid = v.valid && pair.valid, v.fits = v.fits && pair.fits;
        else if (!pair.fits) bq = bs = DUMMY_BYTES; /* a NULL or a refused pair: its size is not read */
    }
    if (want_cols) {
        verdict pair = {ldqt >= rows && ldst >= cols, 1};
        bqt = span(dims_ok, cols, ldqt, rows, 1, &pair), bst = span(dims_ok, row_blocks, ldst, cols, 4, &pair);
        if (cols_given) v.valid = v.valid && pair.valid, v.fits = v.fits && pair.fits;
        else if (!pair.fits) bqt = bst = DUMMY_BYTES;
    }
    if (!v.fits) {
        if (v.valid) {
            g_too_big[ENTRY_QTRANSPOSE]++;
            return;
        }
        bx = DUMMY_BYTES, bq = bq ? DUMMY_BYTES : 0, bs = bs ? DUMMY_BYTES : 0;
        bqt = bqt ? DUMMY_BYTES : 0, bst = bst ? DUMMY_BYTES : 0;
    }
    buffer x = buffer_make((size_t)bx, x_mode);
    buffer q = buffer_make((size_t)bq, want_rows ? q_mode : 1), s = buffer_make((size_t)bs, want_rows ? s_mode : 1);
    buffer qt = buffer_make((size_t)bqt, want_cols ? qt_mode : 1), st = buffer_make((size_t)bst, want_cols ? st_mode : 1);
    /* a pair with one pointer NULL is refused; both NULL counts as skipped */
    const int rows_set = q.base && s.base, cols_set = qt.base && st.base;
    v.valid = v.valid && aligned(&x, elem ? elem : 1) && !q.base == !s.base && !qt.base == !st.base &&
              (rows_set || cols_set) && (!s.base || aligned(&s, 4)) && (!st.base || aligned(&st, 4));
    fill_data(&x, xtype, in);
    buffer_snapshot(&x), buffer_snapshot(&q), buffer_snapshot(&s), buffer_snapshot(&qt), buffer_snapshot(&st);

    const char *name = "fp8block_quantize_1x128_transpose";
    fp8block_status status = fp8block_quantize_1x128_transpose(ctx, flags, x.base, xtype, rows, cols, ldx, q.base, ldq,
                                                               (float *)s.base, lds, qt.base, ldqt, (float *)st.base,
                                                               ldst, NULL);
    count(ENTRY_QTRANSPOSE, status);
    check_unchanged(&x, "x (an input)", name, status);
    if (v.valid != (status == FP8BLOCK_OK))
        fail(v.valid ? "a valid call was refused" : "an invalid call was accepted", name, status);
    if (status != FP8BLOCK_OK) {
        check_unchanged(&q, "q", name, status), check_unchanged(&s, "s", name, status);
        check_unchanged(&qt, "qt", name, status), check_unchanged(&st, "st", name, status);
    } else {
        if (rows_set) check_gaps(&q, "q", rows, ldq, cols, 1, name), check_gaps(&s, "s", col_blocks, lds, rows, 4, name);
        if (cols_set)
            check_gaps(&qt, "qt", cols, ldqt, rows, 1, name), check_gaps(&st, "st", row_blocks, ldst, cols, 4, name);
    }
    buffer_free(&x), buffer_free(&q), buffer_free(&s), buffer_free(&qt), buffer_free(&st);
}

static void fuzz_transpose_128x128(input *in)
{
    int live;
    fp8block_ctx *ctx = take_ctx(in, &live);
    int64_t rows = take_dim(in), cols = take_dim(in);
    int64_t col_blocks = cols > 0 ? ceil_div(cols, 128) : 0, row_blocks = rows > 0 ? ceil_div(rows, 128) : 0;
    int64_t ldq = take_ld(in, cols, 16), lds = take_ld(in, col_blocks, 1);
    int64_t ldqt = take_ld(in, rows, 16), ldst = take_ld(in, row_blocks, 1);
    size_t q_mode = take_pointer_mode(in), s_mode = take_pointer_mode(in), qt_mode = take_pointer_mode(in);
    size_t st_mode = take_pointer_mode(in);
    int dims_ok = rows > 0 && cols > 0;
    verdict v = {live && dims_ok && ldq >= cols && lds >= col_blocks && ldqt >= rows && ldst >= row_blocks, 1};
    int64_t bq = span(dims_ok, rows, ldq, cols, 1, &v), bs = span(dims_ok, row_blocks, lds, col_blocks, 4, &v);
    int64_t bqt = span(dims_ok, cols, ldqt, rows, 1, &v), bst = span(dims_ok, col_blocks, ldst, row_blocks, 4, &v);
    if (!v.fits) {
        if (v.valid) {
            g_too_big[ENTRY_T128x128]++;
            return;
        }
        bq = bs = bqt = bst = DUMMY_BYTES;
    }
    buffer q = buffer_make((size_t)bq, q_mode), s = buffer_make((size_t)bs, s_mode);
    buffer qt = buffer_make((size_t)bqt, qt_mode), st = buffer_make((size_t)bst, st_mode);
    v.valid = v.valid && q.base && aligned(&s, 4) && qt.base && aligned(&st, 4);
    fill_data(&q, FP8BLOCK_E4M3, in);
    fill_data(&s, FP8BLOCK_F32, in);
    buffer_snapshot(&q), buffer_snapshot(&s), buffer_snapshot(&qt), buffer_snapshot(&st);
    const char *name = "fp8block_transpose_128x128";
    fp8block_status status = fp8block_transpose_128x128(ctx, q.base, ldq, (float *)s.base, lds, rows, cols, qt.base,
                                                        ldqt, (float *)st.base, ldst, NULL);
    count(ENTRY_T128x128, status);
    check_unchanged(&q, "q (an input)", name, status), check_unchanged(&s, "s (an input)", name, status);
    if (v.valid != (status == FP8BLOCK_OK))
        fail(v.valid ? "a valid call was refused" : "an invalid call was accepted", name, status);
    if (status != FP8BLOCK_OK) check_unchanged(&qt, "qt", name, status), check_unchanged(&st, "st", name, status);
    else check_gaps(&qt, "qt", cols, ldqt, rows, 1, name), check_gaps(&st, "st", col_blocks, ldst, row_blocks, 4, name);
    buffer_free(&q), buffer_free(&s), buffer_free(&qt), buffer_free(&st);
}

/* ---- contexts and strings ---- */

static void fuzz_misc(input *in)
{
    int device = (int)(int8_t)take_u8(in);
    fp8block_ctx *ctx = NULL;
    fp8block_status st = fp8block_create(take_u8(in) < 16 ? NULL : &ctx, device);
    count(ENTRY_CONTEXT, st);
    int expect_ok = device == FP8BLOCK_DEVICE_CPU; /* this build has no CUDA backend */
    if ((st == FP8BLOCK_OK) != (expect_ok && ctx)) fail("fp8block_create", "fp8block_create", st);
    if (st != FP8BLOCK_OK && !fp8block_last_error(NULL)[0]) fail("no message", "fp8block_create", st);
    if (st == FP8BLOCK_OK && fp8block_device(ctx) != FP8BLOCK_DEVICE_CPU) fail("device", "fp8block_device", st);
    fp8block_destroy(ctx);
    if (!fp8block_status_string((fp8block_status)(int32_t)take_u64(in, 4))) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (fp8block_create(&g_ctx, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) abort();
    atexit(print_counts);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    uint8_t entry = take_u8(&in) % ENTRIES;
    if (entry <= ENTRY_QEX) fuzz_quantize(&in, entry);
    else if (entry <= ENTRY_D128x128) fuzz_dequantize(&in, entry == ENTRY_D128x128);
    else if (entry == ENTRY_GEMM) fuzz_gemm(&in);
    else if (entry == ENTRY_QTRANSPOSE) fuzz_quantize_transpose(&in);
    else if (entry == ENTRY_T128x128) fuzz_transpose_128x128(&in);
    else fuzz_misc(&in);
    return 0;
}
