/* Every entry point with every class of invalid argument (issue 7's table): null pointers,
 * dims <= 0, sizes whose byte extent overflows 64 bits (through a dim, a leading dimension
 * or the element size), leading dimensions too small, negative or misaligned, misaligned
 * base pointers, unknown dtype/block/flags values, a NULL, destroyed or forged context.
 * Each case checks the exact status, a message from fp8block_last_error that names the
 * argument, and output buffers left byte for byte as they were. Each entry point's
 * baseline arguments are checked to succeed first, so every failure below comes from the
 * one argument that was changed; what the contract allows (the smallest leading
 * dimensions, codes at any address) is checked to succeed too. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "testutil.h"

#define ARENA_BYTES (1 << 20)
#define ARENA_FILL 0x5c

static fp8block_ctx *ctx;
static unsigned char *arena, *pristine; /* every output lives in the arena, refilled before each call */
static unsigned char *inputs;
static fp8block_ctx *destroyed; /* made by fp8block_create, then destroyed */
static fp8block_ctx *forged;    /* never made by fp8block_create */
static const int64_t HUGE_LD = INT64_MAX / 2 / 16 * 16; /* a multiple of 16: only the extent is wrong */

/* Carves 64-byte aligned pieces out of a buffer. */
static void *carve(unsigned char **cursor, size_t bytes)
{
    void *p = *cursor;
    *cursor += (bytes + 63) / 64 * 64;
    return p;
}

/* The message names `argument` as a word of its own (not inside a longer identifier). */
static int names_argument(const char *message, const char *argument)
{
    size_t length = strlen(argument);
    for (const char *p = strstr(message, argument); p; p = strstr(p + 1, argument)) {
        int starts = p == message || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int ends = !(isalnum((unsigned char)p[length]) || p[length] == '_');
        if (starts && ends) return 1;
    }
    return 0;
}

static void reset_arena(void) { memset(arena, ARENA_FILL, ARENA_BYTES); }

static void expect_failure(const char *call, const char *what, fp8block_status got, fp8block_status want,
                           const fp8block_ctx *message_ctx, const char *argument)
{
    const char *message = fp8block_last_error(message_ctx);
    CHECK(got == want, "%s with %s: status %s, want %s (%s)", call, what, fp8block_status_string(got),
          fp8block_status_string(want), message);
    CHECK(message && message[0], "%s with %s: fp8block_last_error is empty", call, what);
    if (message && argument)
        CHECK(names_argument(message, argument), "%s with %s: message \"%s\" does not name %s", call, what, message,
              argument);
    CHECK(memcmp(arena, pristine, ARENA_BYTES) == 0, "%s with %s: an output buffer was written", call, what);
    printf("%s with %s: %s: %s\n", call, what, fp8block_status_string(got), message ? message : "(null)");
}

/* One failing call per line: `change` edits c, a copy of the baseline call `base`, and
 * names the case in the report. */
#define FAILS(call_type, change, expect_call)                                                  \
    do {                                                                                       \
        call_type c = base;                                                                    \
        change;                                                                                \
        expect_call;                                                                           \
    } while (0)

/* ---- quantize ---- */

typedef struct {
    fp8block_ctx *ctx;
    fp8block_block block;
    unsigned flags;
    const void *x;
    fp8block_dtype xtype;
    int64_t rows, cols, ldx;
    uint8_t *q;
    int64_t ldq;
    float *s;
    int64_t lds;
} quantize_call;

typedef enum { QUANTIZE_1x128, QUANTIZE_128x128, QUANTIZE_EX } quantize_entry;
static const char *const QUANTIZE_NAMES[] = {"fp8block_quantize_1x128", "fp8block_quantize_128x128", "fp8block_quantize_ex"};

static fp8block_status quantize(quantize_entry entry, const quantize_call *c)
{
    switch (entry) {
    case QUANTIZE_1x128:
        return fp8block_quantize_1x128(c->ctx, c->x, c->xtype, c->rows, c->cols, c->ldx, c->q, c->ldq, c->s, c->lds, NULL);
    case QUANTIZE_128x128:
        return fp8block_quantize_128x128(c->ctx, c->x, c->xtype, c->rows, c->cols, c->ldx, c->q, c->ldq, c->s, c->lds,
                                         NULL);
    default:
        return fp8block_quantize_ex(c->ctx, c->block, c->flags, c->x, c->xtype, c->rows, c->cols, c->ldx, c->q, c->ldq,
                                    c->s, c->lds, NULL);
    }
}

static void expect_quantize(quantize_entry entry, const quantize_call *c, const char *what, fp8block_status want,
                            const char *argument)
{
    reset_arena();
    expect_failure(QUANTIZE_NAMES[entry], what, quantize(entry, c), want, c->ctx, argument);
}

#define QUANTIZE_FAILS(change, status, argument)                                                \
    FAILS(quantize_call, change, expect_quantize(entry, &c, #change, FP8BLOCK_ERR_##status, argument))

static void test_quantize_errors(void)
{
    unsigned char *in = inputs, *out = arena;
    const int64_t rows = 130, cols = 300;
    float *x = carve(&in, (size_t)(rows * cols) * 4);
    for (int64_t i = 0; i < rows * cols; i++) x[i] = (float)(i % 97) - 48.0f;
    uint8_t *q = carve(&out, (size_t)(rows * 304));
    float *s = carve(&out, (size_t)(3 * 132) * 4);

    for (int entry = QUANTIZE_1x128; entry <= QUANTIZE_EX; entry++) {
        fp8block_block block = entry == QUANTIZE_128x128 ? FP8BLOCK_BLOCK_128x128 : FP8BLOCK_BLOCK_1x128;
        int64_t min_lds = block == FP8BLOCK_BLOCK_1x128 ? rows : 3;
        const quantize_call base = {ctx, block, 0, x, FP8BLOCK_F32, rows, cols, cols, q, 304, s, min_lds + 2};
        fp8block_status st = quantize((quantize_entry)entry, &base);
        CHECK(st == FP8BLOCK_OK, "%s baseline: %s", QUANTIZE_NAMES[entry], fp8block_last_error(ctx));
        /* allowed: the smallest leading dimensions, codes at an odd address, BF16 at an even one */
        quantize_call ok = base;
        ok.ldq = cols, ok.lds = min_lds, ok.q = q + 1, ok.xtype = FP8BLOCK_BF16, ok.x = (const char *)x + 2;
        st = quantize((quantize_entry)entry, &ok);
        CHECK(st == FP8BLOCK_OK, "%s with minimal lds and q at an odd address: %s", QUANTIZE_NAMES[entry],
              fp8block_last_error(ctx));

        QUANTIZE_FAILS(c.ctx = NULL, INVALID_ARGUMENT, "ctx");
        QUANTIZE_FAILS(c.x = NULL, INVALID_ARGUMENT, "x");
        QUANTIZE_FAILS(c.q = NULL, INVALID_ARGUMENT, "q");
        QUANTIZE_FAILS(c.s = NULL, INVALID_ARGUMENT, "s");
        QUANTIZE_FAILS(c.rows = 0, INVALID_ARGUMENT, "rows");
        QUANTIZE_FAILS(c.rows = -3, INVALID_ARGUMENT, "rows");
        QUANTIZE_FAILS(c.cols = 0, INVALID_ARGUMENT, "cols");
        QUANTIZE_FAILS(c.cols = -1, INVALID_ARGUMENT, "cols");
        QUANTIZE_FAILS(c.ldx = cols - 1, INVALID_ARGUMENT, "ldx");
        QUANTIZE_FAILS(c.ldq = cols - 1, INVALID_ARGUMENT, "ldq");
        QUANTIZE_FAILS(c.lds = min_lds - 1, INVALID_ARGUMENT, "lds");
        QUANTIZE_FAILS(c.xtype = FP8BLOCK_E4M3, INVALID_ARGUMENT, "xtype");
        QUANTIZE_FAILS(c.xtype = (fp8block_dtype)99, INVALID_ARGUMENT, "xtype");
        QUANTIZE_FAILS(c.xtype = (fp8block_dtype)-1, INVALID_ARGUMENT, "xtype");
        QUANTIZE_FAILS(c.x = (const char *)x + 1, MISALIGNED, "x");
        QUANTIZE_FAILS(c.xtype = FP8BLOCK_BF16; c.x = (const char *)x + 1, MISALIGNED, "x");
        QUANTIZE_FAILS(c.s = (float *)((char *)s + 2), MISALIGNED, "s");
        QUANTIZE_FAILS(c.ctx = destroyed, INVALID_ARGUMENT, "ctx");
        QUANTIZE_FAILS(c.ctx = forged, INVALID_ARGUMENT, "ctx");
        QUANTIZE_FAILS(c.ldx = -cols, INVALID_ARGUMENT, "ldx");
        QUANTIZE_FAILS(c.ldq = INT64_MIN, INVALID_ARGUMENT, "ldq");
        QUANTIZE_FAILS(c.lds = -1, INVALID_ARGUMENT, "lds");
        QUANTIZE_FAILS(c.rows = INT64_MAX / 2; c.ldx = cols, INVALID_ARGUMENT, "x");
        QUANTIZE_FAILS(c.ldx = HUGE_LD, INVALID_ARGUMENT, "x");
        QUANTIZE_FAILS(c.ldq = HUGE_LD, INVALID_ARGUMENT, "q");
        QUANTIZE_FAILS(c.lds = HUGE_LD, INVALID_ARGUMENT, "s");
        QUANTIZE_FAILS(c.rows = 1; c.cols = c.ldx = c.ldq = INT64_MAX / 3, INVALID_ARGUMENT, "x"); /* ×4 bytes */
        if (entry == QUANTIZE_EX) {
            QUANTIZE_FAILS(c.block = (fp8block_block)7, INVALID_ARGUMENT, "block");
            QUANTIZE_FAILS(c.block = (fp8block_block)-1, INVALID_ARGUMENT, "block");
            QUANTIZE_FAILS(c.flags = 1u << 1, INVALID_ARGUMENT, "flags");
            QUANTIZE_FAILS(c.flags = FP8BLOCK_SCALE_POW2 | 0x80000000u, INVALID_ARGUMENT, "flags");
        }
    }
}

/* ---- dequantize ---- */

typedef struct {
    fp8block_ctx *ctx;
    const uint8_t *q;
    int64_t ldq;
    const float *s;
    int64_t lds, rows, cols;
    void *y;
    fp8block_dtype ytype;
    int64_t ldy;
} dequantize_call;

static const char *const DEQUANTIZE_NAMES[] = {"fp8block_dequantize_1x128", "fp8block_dequantize_128x128"};

static fp8block_status dequantize(fp8block_block block, const dequantize_call *c)
{
    if (block == FP8BLOCK_BLOCK_1x128)
        return fp8block_dequantize_1x128(c->ctx, c->q, c->ldq, c->s, c->lds, c->rows, c->cols, c->y, c->ytype, c->ldy,
                                         NULL);
    return fp8block_dequantize_128x128(c->ctx, c->q, c->ldq, c->s, c->lds, c->rows, c->cols, c->y, c->ytype, c->ldy,
                                       NULL);
}

static void expect_dequantize(fp8block_block block, const dequantize_call *c, const char *what, fp8block_status want,
                              const char *argument)
{
    reset_arena();
    expect_failure(DEQUANTIZE_NAMES[block], what, dequantize(block, c), want, c->ctx, argument);
}

#define DEQUANTIZE_FAILS(change, status, argument)                                              \
    FAILS(dequantize_call, change, expect_dequantize(block, &c, #change, FP8BLOCK_ERR_##status, argument))

static void test_dequantize_errors(void)
{
    unsigned char *in = inputs, *out = arena;
    const int64_t rows = 130, cols = 300;
    uint8_t *q = carve(&in, (size_t)(rows * cols));
    float *s = carve(&in, (size_t)(3 * rows) * 4);
    memset(q, 0x38, (size_t)(rows * cols)); /* 1.0 */
    for (int i = 0; i < 3 * rows; i++) s[i] = 0.5f;
    float *y = carve(&out, (size_t)(rows * cols) * 4);

    for (int block = FP8BLOCK_BLOCK_1x128; block <= FP8BLOCK_BLOCK_128x128; block++) {
        int64_t min_lds = block == FP8BLOCK_BLOCK_1x128 ? rows : 3;
        const dequantize_call base = {ctx, q, cols, s, min_lds, rows, cols, y, FP8BLOCK_F32, cols};
        fp8block_status st = dequantize((fp8block_block)block, &base);
        CHECK(st == FP8BLOCK_OK, "%s baseline: %s", DEQUANTIZE_NAMES[block], fp8block_last_error(ctx));
        dequantize_call ok = base; /* allowed: codes at an odd address, F16 output at an even one */
        ok.q = q + 1, ok.ytype = FP8BLOCK_F16, ok.y = (char *)y + 2;
        st = dequantize((fp8block_block)block, &ok);
        CHECK(st == FP8BLOCK_OK, "%s with q at an odd address: %s", DEQUANTIZE_NAMES[block], fp8block_last_error(ctx));

        DEQUANTIZE_FAILS(c.ctx = NULL, INVALID_ARGUMENT, "ctx");
        DEQUANTIZE_FAILS(c.q = NULL, INVALID_ARGUMENT, "q");
        DEQUANTIZE_FAILS(c.s = NULL, INVALID_ARGUMENT, "s");
        DEQUANTIZE_FAILS(c.y = NULL, INVALID_ARGUMENT, "y");
        DEQUANTIZE_FAILS(c.rows = 0, INVALID_ARGUMENT, "rows");
        DEQUANTIZE_FAILS(c.cols = -7, INVALID_ARGUMENT, "cols");
        DEQUANTIZE_FAILS(c.ldq = cols - 1, INVALID_ARGUMENT, "ldq");
        DEQUANTIZE_FAILS(c.ldy = cols - 1, INVALID_ARGUMENT, "ldy");
        DEQUANTIZE_FAILS(c.lds = min_lds - 1, INVALID_ARGUMENT, "lds");
        DEQUANTIZE_FAILS(c.ytype = FP8BLOCK_E4M3, INVALID_ARGUMENT, "ytype");
        DEQUANTIZE_FAILS(c.ytype = (fp8block_dtype)99, INVALID_ARGUMENT, "ytype");
        DEQUANTIZE_FAILS(c.y = (char *)y + 1, MISALIGNED, "y");
        DEQUANTIZE_FAILS(c.y = (char *)y + 1; c.ytype = FP8BLOCK_F16, MISALIGNED, "y");
        DEQUANTIZE_FAILS(c.s = (const float *)((const char *)s + 1), MISALIGNED, "s");
        DEQUANTIZE_FAILS(c.ctx = destroyed, INVALID_ARGUMENT, "ctx");
        DEQUANTIZE_FAILS(c.ctx = forged, INVALID_ARGUMENT, "ctx");
        DEQUANTIZE_FAILS(c.rows = -1, INVALID_ARGUMENT, "rows");
        DEQUANTIZE_FAILS(c.cols = 0, INVALID_ARGUMENT, "cols");
        DEQUANTIZE_FAILS(c.ytype = (fp8block_dtype)-1, INVALID_ARGUMENT, "ytype");
        DEQUANTIZE_FAILS(c.ldq = INT64_MIN, INVALID_ARGUMENT, "ldq");
        DEQUANTIZE_FAILS(c.ldy = -cols, INVALID_ARGUMENT, "ldy");
        DEQUANTIZE_FAILS(c.lds = -5, INVALID_ARGUMENT, "lds");
        DEQUANTIZE_FAILS(c.ldq = HUGE_LD, INVALID_ARGUMENT, "q");
        DEQUANTIZE_FAILS(c.ldy = HUGE_LD, INVALID_ARGUMENT, "y");
        DEQUANTIZE_FAILS(c.lds = HUGE_LD, INVALID_ARGUMENT, "s");
        DEQUANTIZE_FAILS(c.rows = INT64_MAX / 2, INVALID_ARGUMENT, "q");
        DEQUANTIZE_FAILS(c.rows = 1; c.cols = c.ldq = c.ldy = INT64_MAX / 3, INVALID_ARGUMENT, "y"); /* ×4 bytes */
    }
}

/* ---- gemm ---- */

typedef struct {
    fp8block_ctx *ctx;
    int64_t m, n, k;
    const uint8_t *a;
    int64_t lda;
    const float *sa;
    int64_t ldsa;
    const uint8_t *b;
    int64_t ldb;
    const float *sb;
    int64_t ldsb;
    void *d;
    fp8block_dtype dtype;
    int64_t ldd;
} gemm_call;

static fp8block_status gemm(const gemm_call *c)
{
    return fp8block_gemm(c->ctx, c->m, c->n, c->k, c->a, c->lda, c->sa, c->ldsa, c->b, c->ldb, c->sb, c->ldsb, c->d,
                         c->dtype, c->ldd, NULL);
}

static void expect_gemm(const gemm_call *c, const char *what, fp8block_status want, const char *argument)
{
    reset_arena();
    expect_failure("fp8block_gemm", what, gemm(c), want, c->ctx, argument);
}

#define GEMM_FAILS(change, status, argument)                                                    \
    FAILS(gemm_call, change, expect_gemm(&c, #change, FP8BLOCK_ERR_##status, argument))

static void test_gemm_errors(void)
{
    unsigned char *in = inputs, *out = arena;
    const int64_t m = 130, n = 130, k = 300, lda = 304, ldb = 304, ldsa = 132, ldsb = 3;
    uint8_t *a = carve(&in, (size_t)(m * lda)), *b = carve(&in, (size_t)(n * ldb));
    float *sa = carve(&in, (size_t)(3 * ldsa) * 4), *sb = carve(&in, (size_t)(2 * ldsb) * 4);
    memset(a, 0x38, (size_t)(m * lda));
    memset(b, 0xb8, (size_t)(n * ldb));
    for (int i = 0; i < 3 * ldsa; i++) sa[i] = 0.25f;
    for (int i = 0; i < 2 * ldsb; i++) sb[i] = 2.0f;
    void *d = carve(&out, (size_t)(m * 136) * 4);

    const gemm_call base = {ctx, m, n, k, a, lda, sa, ldsa, b, ldb, sb, ldsb, d, FP8BLOCK_BF16, 136};
    fp8block_status st = gemm(&base);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm baseline: %s", fp8block_last_error(ctx));
    gemm_call f32 = base;
    f32.dtype = FP8BLOCK_F32;
    st = gemm(&f32);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm F32 baseline: %s", fp8block_last_error(ctx));

    GEMM_FAILS(c.ctx = NULL, INVALID_ARGUMENT, "ctx");
    GEMM_FAILS(c.a = NULL, INVALID_ARGUMENT, "a");
    GEMM_FAILS(c.sa = NULL, INVALID_ARGUMENT, "sa");
    GEMM_FAILS(c.b = NULL, INVALID_ARGUMENT, "b");
    GEMM_FAILS(c.sb = NULL, INVALID_ARGUMENT, "sb");
    GEMM_FAILS(c.d = NULL, INVALID_ARGUMENT, "d");
    GEMM_FAILS(c.m = 0, INVALID_ARGUMENT, "m");
    GEMM_FAILS(c.n = -1, INVALID_ARGUMENT, "n");
    GEMM_FAILS(c.k = 0, INVALID_ARGUMENT, "k");
    GEMM_FAILS(c.k = INT64_MIN, INVALID_ARGUMENT, "k");
    GEMM_FAILS(c.lda = 288, INVALID_ARGUMENT, "lda");
    GEMM_FAILS(c.ldb = 288, INVALID_ARGUMENT, "ldb");
    GEMM_FAILS(c.ldsa = 128, INVALID_ARGUMENT, "ldsa");
    GEMM_FAILS(c.ldsb = 2, INVALID_ARGUMENT, "ldsb");
    GEMM_FAILS(c.ldd = 128, INVALID_ARGUMENT, "ldd");
    GEMM_FAILS(c.lda = 305, MISALIGNED, "lda");
    GEMM_FAILS(c.ldb = 312, MISALIGNED, "ldb");
    GEMM_FAILS(c.ldsa = 133, MISALIGNED, "ldsa");
    GEMM_FAILS(c.ldd = 137, MISALIGNED, "ldd");
    GEMM_FAILS(c.ldd = 134; c.dtype = FP8BLOCK_F32, MISALIGNED, "ldd");
    GEMM_FAILS(c.a = a + 8, MISALIGNED, "a");
    GEMM_FAILS(c.b = b + 1, MISALIGNED, "b");
    GEMM_FAILS(c.d = (char *)d + 8, MISALIGNED, "d");
    GEMM_FAILS(c.sa = (const float *)((const char *)sa + 1), MISALIGNED, "sa");
    GEMM_FAILS(c.sb = (const float *)((const char *)sb + 2), MISALIGNED, "sb");
    GEMM_FAILS(c.dtype = FP8BLOCK_E4M3, INVALID_ARGUMENT, "dtype"); /* its scales need fp8block_gemm_ex */
    GEMM_FAILS(c.dtype = (fp8block_dtype)99, INVALID_ARGUMENT, "dtype");
    GEMM_FAILS(c.m = INT64_MAX / 4; c.ldsa = INT64_MAX / 4 / 4 * 4 + 4, INVALID_ARGUMENT, NULL);
    GEMM_FAILS(c.ctx = destroyed, INVALID_ARGUMENT, "ctx");
    GEMM_FAILS(c.ctx = forged, INVALID_ARGUMENT, "ctx");
    GEMM_FAILS(c.m = -5, INVALID_ARGUMENT, "m");
    GEMM_FAILS(c.n = 0, INVALID_ARGUMENT, "n");
    GEMM_FAILS(c.k = -128, INVALID_ARGUMENT, "k");
    GEMM_FAILS(c.dtype = (fp8block_dtype)-1, INVALID_ARGUMENT, "dtype");
    GEMM_FAILS(c.lda = INT64_MIN, INVALID_ARGUMENT, "lda");
    GEMM_FAILS(c.ldd = -136, INVALID_ARGUMENT, "ldd");
    GEMM_FAILS(c.lda = HUGE_LD, INVALID_ARGUMENT, "a");
    GEMM_FAILS(c.ldb = HUGE_LD, INVALID_ARGUMENT, "b");
    GEMM_FAILS(c.ldsa = HUGE_LD, INVALID_ARGUMENT, "sa");
    GEMM_FAILS(c.ldsb = HUGE_LD, INVALID_ARGUMENT, "sb");
    GEMM_FAILS(c.ldd = HUGE_LD, INVALID_ARGUMENT, "d");
    /* D alone overflows: 304·(m-1) bytes of A fit, 4·136·(m-1) bytes of F32 D do not */
    GEMM_FAILS(c.m = INT64_MAX / 400; c.ldsa = INT64_MAX / 400 / 4 * 4 + 4; c.dtype = FP8BLOCK_F32, INVALID_ARGUMENT, "d");
    GEMM_FAILS(c.k = c.lda = c.ldb = INT64_MAX / 16 * 16; c.ldsb = INT64_MAX / 16 * 16 / 128 + 1, INVALID_ARGUMENT,
               "a"); /* A's extent overflows */
    /* ceil(k/128) must not wrap: with k = 2^63 - 16 an int64 (k + 127) / 128 goes negative, and a
     * too-small ldsb (and a negative extent of sa and sb) would then pass. Last: if it
     * does pass, the backend reads A far beyond any buffer. */
    GEMM_FAILS(c.m = c.n = 1; c.k = c.lda = c.ldb = INT64_MAX / 16 * 16; c.ldsa = 4; c.ldsb = 1; c.ldd = 8,
               INVALID_ARGUMENT, "ldsb");
    gemm_call ok = base; /* allowed: the smallest leading dimensions the alignment rules leave */
    ok.lda = ok.ldb = 304, ok.ldsa = 132, ok.ldsb = 3, ok.ldd = 136;
    st = gemm(&ok);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm with minimal leading dimensions: %s", fp8block_last_error(ctx));
}

/* ---- the GEMM descriptor (fp8block_gemm_ex) ---- */

static void expect_desc(const fp8block_gemm_desc *g, const char *what, fp8block_status want, const char *argument)
{
    reset_arena();
    expect_failure("fp8block_gemm_ex", what, fp8block_gemm_ex(ctx, g, NULL), want, ctx, argument);
}

#define DESC_FAILS(change, status, argument)                                                    \
    FAILS(fp8block_gemm_desc, change, expect_desc(&c, #change, FP8BLOCK_ERR_##status, argument))

/* A descriptor followed by fields a newer header might have added. */
typedef struct {
    fp8block_gemm_desc desc;
    uint64_t newer[4];
} newer_desc;

static void test_gemm_desc(void)
{
    unsigned char *in = inputs + (ARENA_BYTES / 2), *out = arena;
    const int64_t m = 130, n = 130, k = 300, lda = 304, ldb = 304, ldsa = 132, ldsb = 3, ldd = 136;
    uint8_t *a = carve(&in, (size_t)(m * lda)), *b = carve(&in, (size_t)(n * ldb));
    float *sa = carve(&in, (size_t)(3 * ldsa) * 4), *sb = carve(&in, (size_t)(2 * ldsb) * 4);
    for (int64_t i = 0; i < m * lda; i++) a[i] = (uint8_t)(i * 37 % 251 & 0x7e); /* no NaN codes */
    for (int64_t i = 0; i < n * ldb; i++) b[i] = (uint8_t)(i * 53 % 241 & 0xfe);
    for (int i = 0; i < 3 * ldsa; i++) sa[i] = 0.25f + i % 7;
    for (int i = 0; i < 2 * ldsb; i++) sb[i] = 2.0f + i;
    void *d = carve(&out, (size_t)(m * ldd) * 4);
    unsigned char *d_old = malloc((size_t)(m * ldd) * 4);

    /* The old entry point is the descriptor with the same fields: the same bytes of D. */
    fp8block_gemm_desc base = FP8BLOCK_GEMM_DESC_INIT;
    base.m = m, base.n = n, base.k = k;
    base.a = a, base.lda = lda, base.sa = sa, base.ldsa = ldsa;
    base.b = b, base.ldb = ldb, base.sb = sb, base.ldsb = ldsb;
    base.d = d, base.d_dtype = FP8BLOCK_BF16, base.ldd = ldd;
    reset_arena();
    fp8block_status st = fp8block_gemm(ctx, m, n, k, a, lda, sa, ldsa, b, ldb, sb, ldsb, d, FP8BLOCK_BF16, ldd, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm: %s", fp8block_last_error(ctx));
    memcpy(d_old, d, (size_t)(m * ldd) * 4);
    reset_arena();
    st = fp8block_gemm_ex(ctx, &base, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex baseline: %s", fp8block_last_error(ctx));
    CHECK(memcmp(d, d_old, (size_t)(m * ldd) * 2) == 0, "fp8block_gemm_ex and fp8block_gemm wrote different D");
    CHECK(memcmp(d_old, pristine, (size_t)(m * ldd) * 2) != 0, "the baseline GEMM wrote nothing");
    /* Zero means default: F32 output. */
    fp8block_gemm_desc f32 = base;
    f32.d_dtype = 0;
    st = fp8block_gemm_ex(ctx, &f32, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex with d_dtype 0 (F32): %s", fp8block_last_error(ctx));
    /* A caller built against a newer header that leaves the newer fields zero runs. */
    newer_desc newer;
    memset(&newer, 0, sizeof newer);
    newer.desc = base;
    newer.desc.struct_size = sizeof newer;
    st = fp8block_gemm_ex(ctx, &newer.desc, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex with zero newer fields: %s", fp8block_last_error(ctx));
    newer.newer[3] = 1;
    reset_arena();
    expect_failure("fp8block_gemm_ex", "a newer field set", fp8block_gemm_ex(ctx, &newer.desc, NULL),
                   FP8BLOCK_ERR_UNSUPPORTED, ctx, "struct_size");
    /* A caller built against the first version's header (0.1.0, before expected_m): its
     * struct_size ends where expected_m begins, and what follows in its memory is not the
     * descriptor's (0xff bytes here; read as expected_m they would be refused). It runs as
     * it always did: the same bytes of D. */
    {
        const size_t first_size = offsetof(fp8block_gemm_desc, expected_m), bytes = sizeof(fp8block_gemm_desc) + 64;
        unsigned char *older = malloc(bytes);
        memset(older, 0xff, bytes);
        fp8block_gemm_desc first = base;
        first.struct_size = first_size;
        memcpy(older, &first, first_size);
        reset_arena();
        st = fp8block_gemm_ex(ctx, (const fp8block_gemm_desc *)older, NULL);
        CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex from a 0.1.0 caller: %s", fp8block_last_error(ctx));
        CHECK(memcmp(d, d_old, (size_t)(m * ldd) * 2) == 0,
              "fp8block_gemm_ex from a 0.1.0 caller wrote other bytes of D");
        free(older);
    }

    reset_arena();
    expect_failure("fp8block_gemm_ex", "desc = NULL", fp8block_gemm_ex(ctx, NULL, NULL),
                   FP8BLOCK_ERR_INVALID_ARGUMENT, ctx, "desc");
    DESC_FAILS(c.struct_size = 0, INVALID_ARGUMENT, "struct_size");
    DESC_FAILS(c.struct_size = offsetof(fp8block_gemm_desc, expected_m) - 8, INVALID_ARGUMENT,
               "struct_size"); /* short of the first version */
    DESC_FAILS(c.struct_size = offsetof(fp8block_gemm_desc, expected_m) + 4, INVALID_ARGUMENT,
               "struct_size"); /* between versions: half of expected_m */
    DESC_FAILS(c.struct_size = (size_t)1 << 40, INVALID_ARGUMENT, "struct_size");
    float scales[4];
    DESC_FAILS(c.b_scales = (fp8block_b_scales)7, INVALID_ARGUMENT, "b_scales");
    DESC_FAILS(c.b_scales = FP8BLOCK_B_SCALES_1x128, INVALID_ARGUMENT, "ldsb"); /* ldsb 3: 128x128's */
    {   /* B scaled 1x128: sb is ceil(k/128) rows of n, as A's scales */
        float *sb1 = carve(&in, (size_t)(3 * 132) * 4);
        for (int i = 0; i < 3 * 132; i++) sb1[i] = 0.5f + (float)(i % 5);
        fp8block_gemm_desc wgrad = base;
        wgrad.b_scales = FP8BLOCK_B_SCALES_1x128, wgrad.sb = sb1, wgrad.ldsb = 132;
        reset_arena();
        st = fp8block_gemm_ex(ctx, &wgrad, NULL);
        CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex with B scaled 1x128: %s", fp8block_last_error(ctx));
        fp8block_gemm_desc keep = base;
        base = wgrad;
        DESC_FAILS(c.ldsb = 128, INVALID_ARGUMENT, "ldsb");
        DESC_FAILS(c.ldsb = 134, MISALIGNED, "ldsb");
        DESC_FAILS(c.sb = sb1 + 1, MISALIGNED, "sb");
        DESC_FAILS(c.ldsb = HUGE_LD, INVALID_ARGUMENT, "sb");
        base = keep;
    }
    /* Group fields without a group layout, and a layout without its groups (tests/cpu/test_grouped_cpu.c
     * has the grouped GEMM's own rules). */
    DESC_FAILS(c.group_layout = FP8BLOCK_GROUPS_CONTIGUOUS, INVALID_ARGUMENT, "groups");
    DESC_FAILS(c.group_layout = (fp8block_group_layout)9; c.groups = 1, INVALID_ARGUMENT, "group_layout");
    DESC_FAILS(c.groups = 4, INVALID_ARGUMENT, "groups");
    DESC_FAILS(c.group_rows = (const int32_t *)scales, INVALID_ARGUMENT, "group_rows");
    DESC_FAILS(c.max_m = 64, INVALID_ARGUMENT, "max_m");
    DESC_FAILS(c.group_stride_b = 1 << 20, INVALID_ARGUMENT, "group_stride_b");
    DESC_FAILS(c.group_stride_sb = 1 << 10, INVALID_ARGUMENT, "group_stride_sb");
    DESC_FAILS(c.expected_m = 64, INVALID_ARGUMENT, "expected_m");
    {   /* expected_m, the masked layout's planning hint: in [0, max_m], on the masked layout only,
         * and never a byte of D different (the CPU backend plans nothing; the GPU picks a tile) */
        int32_t *counts = carve(&in, 2 * sizeof *counts), *offsets = carve(&in, 3 * sizeof *offsets);
        counts[0] = 65, counts[1] = 30;
        offsets[0] = 0, offsets[1] = 60, offsets[2] = 130;
        fp8block_gemm_desc masked = base, contiguous = base;
        masked.group_layout = FP8BLOCK_GROUPS_MASKED, masked.groups = 2, masked.group_rows = counts, masked.max_m = 65;
        contiguous.group_layout = FP8BLOCK_GROUPS_CONTIGUOUS, contiguous.groups = 2, contiguous.group_rows = offsets;
        reset_arena();
        st = fp8block_gemm_ex(ctx, &masked, NULL);
        CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex masked: %s", fp8block_last_error(ctx));
        memcpy(d_old, d, (size_t)(m * ldd) * 2);
        static const int64_t hints[] = {1, 32, 65};
        for (int i = 0; i < 3; i++) {
            fp8block_gemm_desc hinted = masked;
            hinted.expected_m = hints[i];
            reset_arena();
            st = fp8block_gemm_ex(ctx, &hinted, NULL);
            CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex masked, expected_m = %lld: %s", (long long)hints[i],
                  fp8block_last_error(ctx));
            CHECK(memcmp(d, d_old, (size_t)(m * ldd) * 2) == 0, "masked, expected_m = %lld: other bytes of D",
                  (long long)hints[i]);
        }
        reset_arena();
        st = fp8block_gemm_ex(ctx, &contiguous, NULL);
        CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex contiguous: %s", fp8block_last_error(ctx));
        fp8block_gemm_desc keep = base;
        base = masked;
        DESC_FAILS(c.expected_m = -1, INVALID_ARGUMENT, "expected_m");
        DESC_FAILS(c.expected_m = INT64_MIN, INVALID_ARGUMENT, "expected_m");
        DESC_FAILS(c.expected_m = 66, INVALID_ARGUMENT, "expected_m"); /* above max_m */
        base = contiguous;
        DESC_FAILS(c.expected_m = 32, INVALID_ARGUMENT, "expected_m");
        base = keep;
    }
    DESC_FAILS(c.d_dtype = (fp8block_dtype)7, INVALID_ARGUMENT, "d_dtype");
    /* The same rules as fp8block_gemm, through the one validation. */
    DESC_FAILS(c.a = NULL, INVALID_ARGUMENT, "a");
    DESC_FAILS(c.ldsa = 128, INVALID_ARGUMENT, "ldsa");
    DESC_FAILS(c.ldd = 137, MISALIGNED, "ldd");
    DESC_FAILS(c.ldb = HUGE_LD, INVALID_ARGUMENT, "b");
    free(d_old);
}

/* E4M3 D with its scales, C and bias: a valid call of each, then every rule broken once. */
static void test_gemm_epilogue_fields(void)
{
    unsigned char *in = inputs + (ARENA_BYTES / 2), *out = arena;
    const int64_t m = 130, n = 130, k = 300, lda = 304, ldb = 304, ldsa = 132, ldsb = 3, ldd = 144, ldsd = 132;
    uint8_t *a = carve(&in, (size_t)(m * lda)), *b = carve(&in, (size_t)(n * ldb));
    float *sa = carve(&in, (size_t)(3 * ldsa) * 4), *sb = carve(&in, (size_t)(2 * ldsb) * 4);
    float *c_f32 = carve(&in, (size_t)(m * ldd) * 4), *bias = carve(&in, (size_t)n * 4);
    for (int64_t i = 0; i < m * lda; i++) a[i] = (uint8_t)(i * 37 % 251 & 0x7e);
    for (int64_t i = 0; i < n * ldb; i++) b[i] = (uint8_t)(i * 53 % 241 & 0xfe);
    for (int i = 0; i < 3 * ldsa; i++) sa[i] = 0.25f + i % 7;
    for (int i = 0; i < 2 * ldsb; i++) sb[i] = 2.0f + i;
    for (int64_t i = 0; i < m * ldd; i++) c_f32[i] = (float)(i % 13) - 6.0f;
    for (int64_t i = 0; i < n; i++) bias[i] = 0.5f * (float)(i % 5);
    void *d = carve(&out, (size_t)(m * ldd) * 4);
    float *sd = carve(&out, (size_t)(2 * ldsd) * 4);

    fp8block_gemm_desc e4m3 = FP8BLOCK_GEMM_DESC_INIT;
    e4m3.m = m, e4m3.n = n, e4m3.k = k;
    e4m3.a = a, e4m3.lda = lda, e4m3.sa = sa, e4m3.ldsa = ldsa;
    e4m3.b = b, e4m3.ldb = ldb, e4m3.sb = sb, e4m3.ldsb = ldsb;
    e4m3.d = d, e4m3.d_dtype = FP8BLOCK_E4M3, e4m3.ldd = ldd, e4m3.sd = sd, e4m3.ldsd = ldsd;
    fp8block_gemm_desc plus = e4m3; /* F32 D = A·Bᵀ + C + bias */
    plus.d_dtype = FP8BLOCK_F32, plus.sd = NULL, plus.ldsd = 0;
    plus.c = c_f32, plus.c_dtype = FP8BLOCK_F32, plus.ldc = ldd, plus.bias = bias, plus.bias_dtype = FP8BLOCK_F32;
    fp8block_status st = fp8block_gemm_ex(ctx, &e4m3, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex E4M3 baseline: %s", fp8block_last_error(ctx));
    st = fp8block_gemm_ex(ctx, &plus, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex with C and bias: %s", fp8block_last_error(ctx));
    fp8block_gemm_desc in_place = plus; /* C is D itself */
    in_place.c = d;
    st = fp8block_gemm_ex(ctx, &in_place, NULL);
    CHECK(st == FP8BLOCK_OK, "fp8block_gemm_ex with C = D: %s", fp8block_last_error(ctx));

    fp8block_gemm_desc base = e4m3;
    DESC_FAILS(c.sd = NULL, INVALID_ARGUMENT, "sd");
    DESC_FAILS(c.ldd = 136, MISALIGNED, "ldd");
    DESC_FAILS(c.ldd = 128, INVALID_ARGUMENT, "ldd");
    DESC_FAILS(c.ldsd = 128, INVALID_ARGUMENT, "ldsd");
    DESC_FAILS(c.ldsd = 134, MISALIGNED, "ldsd");
    DESC_FAILS(c.ldsd = HUGE_LD, INVALID_ARGUMENT, "sd");
    DESC_FAILS(c.sd = (float *)((char *)sd + 4), MISALIGNED, "sd");
    DESC_FAILS(c.sd = (float *)((char *)d + 256), INVALID_ARGUMENT, "sd"); /* inside D */
    DESC_FAILS(c.d_scale_flags = 2, INVALID_ARGUMENT, "d_scale_flags");
    DESC_FAILS(c.c = d; c.ldc = ldd, INVALID_ARGUMENT, "c"); /* E4M3 D cannot be its own C */
    base = plus;
    DESC_FAILS(c.sd = sd, INVALID_ARGUMENT, "sd"); /* scales of a D that has none */
    DESC_FAILS(c.ldsd = ldsd, INVALID_ARGUMENT, "ldsd");
    DESC_FAILS(c.d_scale_flags = FP8BLOCK_SCALE_POW2, INVALID_ARGUMENT, "d_scale_flags");
    DESC_FAILS(c.c_dtype = FP8BLOCK_E4M3, INVALID_ARGUMENT, "c_dtype");
    DESC_FAILS(c.c_dtype = (fp8block_dtype)9, INVALID_ARGUMENT, "c_dtype");
    DESC_FAILS(c.ldc = 128, INVALID_ARGUMENT, "ldc");
    DESC_FAILS(c.ldc = 138, MISALIGNED, "ldc");
    DESC_FAILS(c.ldc = HUGE_LD, INVALID_ARGUMENT, "c");
    DESC_FAILS(c.c = (char *)c_f32 + 4, MISALIGNED, "c");
    DESC_FAILS(c.c = NULL; c.ldc = 0; c.c_dtype = FP8BLOCK_BF16, INVALID_ARGUMENT, "c_dtype");
    DESC_FAILS(c.c = NULL, INVALID_ARGUMENT, "ldc"); /* c_dtype F32 is 0: ldc is what is left set */
    DESC_FAILS(c.c = (char *)d + 1024, INVALID_ARGUMENT, "c"); /* overlaps D without being D */
    DESC_FAILS(c.c = d; c.c_dtype = FP8BLOCK_BF16; c.ldc = 144, INVALID_ARGUMENT, "c");
    DESC_FAILS(c.c = d; c.ldc = 160, INVALID_ARGUMENT, "c");
    DESC_FAILS(c.bias_dtype = FP8BLOCK_E4M3, INVALID_ARGUMENT, "bias_dtype");
    DESC_FAILS(c.bias = (char *)bias + 2, MISALIGNED, "bias");
    DESC_FAILS(c.bias = NULL; c.bias_dtype = FP8BLOCK_BF16, INVALID_ARGUMENT, "bias_dtype");
    DESC_FAILS(c.bias = (char *)d + 512, INVALID_ARGUMENT, "bias"); /* inside D, which the GEMM writes */
    base = e4m3;
    base.c = c_f32, base.c_dtype = FP8BLOCK_F32, base.ldc = ldd;
    DESC_FAILS(c.bias = sd, INVALID_ARGUMENT, "bias"); /* the scales are written too */
    DESC_FAILS(c.sd = (float *)c_f32 + 64, INVALID_ARGUMENT, "sd");
}

/* Outputs that share bytes with an input or with another output (docs/DESIGN.md §3.2): each
 * call reads its inputs while it writes its outputs, so every such overlap is refused, naming
 * the output, before a byte is written. Here the outputs lie in the inputs' buffer; that buffer
 * is compared with its copy after each call, as the arena is for the other cases. An aliased
 * group_rows inside D once passed the checks and made the CPU backend write past D. */
static void expect_apart(const char *call, const char *what, fp8block_status got, const char *argument,
                         const unsigned char *inputs_before)
{
    reset_arena();
    expect_failure(call, what, got, FP8BLOCK_ERR_INVALID_ARGUMENT, ctx, argument);
    CHECK(memcmp(inputs, inputs_before, ARENA_BYTES) == 0, "%s with %s: an input was written", call, what);
}

static void test_outputs_apart(void)
{
    unsigned char *in = inputs, *out = arena;
    const int64_t rows = 130, cols = 300, ld = 304, kb = 3;
    float *x = carve(&in, (size_t)(rows * cols) * 4);
    uint8_t *q_in = carve(&in, (size_t)(rows * ld));
    float *s_in = carve(&in, (size_t)(kb * 132) * 4);
    int32_t *counts = carve(&in, 64);
    for (int64_t i = 0; i < rows * cols; i++) x[i] = (float)(i % 17) - 8.0f;
    for (int64_t i = 0; i < rows * ld; i++) q_in[i] = (uint8_t)(i * 37 % 251 & 0x7e);
    for (int64_t i = 0; i < kb * 132; i++) s_in[i] = 0.5f + (float)(i % 3);
    counts[0] = 2, counts[1] = 2;
    uint8_t *q = carve(&out, (size_t)(rows * ld));
    float *s = carve(&out, (size_t)(kb * 132) * 4);
    unsigned char *before = malloc(ARENA_BYTES);
    memcpy(before, inputs, ARENA_BYTES);

    expect_apart("fp8block_quantize_1x128", "q inside x",
                 fp8block_quantize_1x128(ctx, x, FP8BLOCK_F32, rows, cols, cols, (uint8_t *)x + 64, ld, s, 132, NULL),
                 "q", before);
    expect_apart("fp8block_quantize_1x128", "s inside q",
                 fp8block_quantize_1x128(ctx, x, FP8BLOCK_F32, rows, cols, cols, q, ld, (float *)(q + 64), 132, NULL),
                 "q", before);
    expect_apart("fp8block_dequantize_1x128", "y over q",
                 fp8block_dequantize_1x128(ctx, q_in, ld, s_in, 132, rows, cols, q_in, FP8BLOCK_BF16, cols, NULL),
                 "y", before);
    expect_apart("fp8block_quantize_1x128_transpose", "qt = q",
                 fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, rows, cols, cols, q, ld, s, 132, q, 144,
                                                   s + 3 * 132, cols, NULL),
                 "q", before);
    expect_apart("fp8block_transpose_128x128", "qt over s",
                 fp8block_transpose_128x128(ctx, q_in, ld, s_in, kb, rows, cols, (uint8_t *)s_in, 144, s, 4, NULL),
                 "qt", before);

    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = 4, g.n = 16, g.k = cols;
    g.a = q_in, g.lda = ld, g.sa = s_in, g.ldsa = 4, g.b = q_in, g.ldb = ld, g.sb = s_in, g.ldsb = kb;
    g.d = q, g.d_dtype = FP8BLOCK_F32, g.ldd = 16;
    fp8block_gemm_desc c = g;
    c.d = q_in + ld;
    expect_apart("fp8block_gemm_ex", "d over a", fp8block_gemm_ex(ctx, &c, NULL), "d", before);
    c = g, c.d_dtype = FP8BLOCK_E4M3, c.sd = s_in, c.ldsd = 4;
    expect_apart("fp8block_gemm_ex", "sd = sa", fp8block_gemm_ex(ctx, &c, NULL), "sd", before);
    c = g, c.group_layout = FP8BLOCK_GROUPS_MASKED, c.groups = 2, c.max_m = 2, c.group_rows = counts;
    c.d = counts - 4;
    expect_apart("fp8block_gemm_ex", "masked counts inside d", fp8block_gemm_ex(ctx, &c, NULL), "d", before);
    free(before);
}

/* Issue 15's reproducers: sizes whose byte extents fit in 64 bits but not in any address
 * space passed every check and crashed the CPU backend. Buffers of 4 KiB, as there. */
static void test_address_space(void)
{
    unsigned char *in = inputs;
    uint8_t *a = carve(&in, 4096), *b = carve(&in, 4096);
    float *sa = carve(&in, 4096), *sb = carve(&in, 4096);
    void *d = arena;
    const int64_t k62 = (int64_t)1 << 62, k48 = (int64_t)1 << 48;
    reset_arena();
    expect_failure("fp8block_gemm", "k = lda = ldb = 2^62", fp8block_gemm(ctx, 1, 1, k62, a, k62, sa, 4, b, k62, sb,
                                                                         (int64_t)1 << 55, d, FP8BLOCK_BF16, 8, NULL),
                   FP8BLOCK_ERR_INVALID_ARGUMENT, ctx, "a");
    reset_arena();
    expect_failure("fp8block_gemm", "k = lda = ldb = 2^48", fp8block_gemm(ctx, 1, 1, k48, a, k48, sa, 4, b, k48, sb,
                                                                         (int64_t)1 << 41, d, FP8BLOCK_BF16, 8, NULL),
                   FP8BLOCK_ERR_INVALID_ARGUMENT, ctx, "a");
#if defined(__x86_64__)
    /* A buffer whose end runs past the address space from a high base (x86-64: 2^47). */
    reset_arena();
    const float *high = (const float *)(uintptr_t)(((uint64_t)1 << 47) - 64);
    expect_failure("fp8block_quantize_1x128", "x near the top of the address space",
                   fp8block_quantize_1x128(ctx, high, FP8BLOCK_F32, 1, 128, 128, arena + 64, 128, (float *)arena, 1,
                                           NULL),
                   FP8BLOCK_ERR_INVALID_ARGUMENT, ctx, "x");
#endif
}

/* ---- contexts and strings ---- */

static void test_contexts_and_strings(void)
{
    fp8block_status all[] = {FP8BLOCK_OK, FP8BLOCK_ERR_INVALID_ARGUMENT, FP8BLOCK_ERR_MISALIGNED,
                             FP8BLOCK_ERR_UNSUPPORTED, FP8BLOCK_ERR_CUDA, FP8BLOCK_ERR_OUT_OF_MEMORY,
                             FP8BLOCK_ERR_INTERNAL};
    const int count = sizeof all / sizeof all[0];
    for (int i = 0; i < count; i++) {
        const char *text = fp8block_status_string(all[i]);
        CHECK(text && text[0], "fp8block_status_string(%d) is empty", (int)all[i]);
        for (int j = 0; j < i && text; j++)
            CHECK(strcmp(text, fp8block_status_string(all[j])) != 0, "statuses %d and %d share the string \"%s\"",
                  (int)all[i], (int)all[j], text);
    }
    const char *unknown = fp8block_status_string((fp8block_status)1234);
    CHECK(unknown && unknown[0], "fp8block_status_string of an unknown status is empty");

    reset_arena();
    expect_failure("fp8block_create", "ctx NULL", fp8block_create(NULL, FP8BLOCK_DEVICE_CPU),
                   FP8BLOCK_ERR_INVALID_ARGUMENT, NULL, "ctx");
    fp8block_ctx *made = (fp8block_ctx *)(uintptr_t)0x1234;
    expect_failure("fp8block_create", "device -7", fp8block_create(&made, -7), FP8BLOCK_ERR_INVALID_ARGUMENT, NULL,
                   "device");
    CHECK(made == (fp8block_ctx *)(uintptr_t)0x1234, "fp8block_create wrote *ctx on failure");

    const char *why = NULL;
    fp8block_ctx *gpu = NULL;
    fp8block_status st = fp8block_create(&gpu, 0);
    if (!devmem_gpu_available(&why)) {
        const char *message = fp8block_last_error(NULL);
        CHECK(st != FP8BLOCK_OK, "fp8block_create(0) succeeded on a machine without a GPU (%s)", why);
        CHECK(message && message[0], "fp8block_create(0) without a GPU gave no message");
    }
    if (st == FP8BLOCK_OK) fp8block_destroy(gpu);

    CHECK(fp8block_device(NULL) == -2, "fp8block_device(NULL) = %d", fp8block_device(NULL));
    CHECK(fp8block_device(ctx) == FP8BLOCK_DEVICE_CPU, "fp8block_device(cpu) = %d", fp8block_device(ctx));
    fp8block_destroy(NULL); /* a no-op, like free(NULL) */

    /* A destroyed context is rejected, not used. */
    fp8block_ctx *gone = NULL;
    st = fp8block_create(&gone, FP8BLOCK_DEVICE_CPU);
    CHECK(st == FP8BLOCK_OK, "fp8block_create(CPU): %s", fp8block_last_error(NULL));
    fp8block_destroy(gone);
    float x[128] = {0};
    float *s = (float *)arena;
    uint8_t *q = arena + 64;
    reset_arena();
    expect_failure("fp8block_quantize_1x128", "a destroyed ctx",
                   fp8block_quantize_1x128(gone, x, FP8BLOCK_F32, 1, 128, 128, q, 128, s, 1, NULL),
                   FP8BLOCK_ERR_INVALID_ARGUMENT, NULL, "ctx");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* should a case crash, the log ends at the case before it */
    fp8block_status st = fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        return 1;
    }
    if (fp8block_create(&destroyed, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) return 1;
    fp8block_destroy(destroyed);
    static uint64_t forged_storage[16] = {0};
    forged = (fp8block_ctx *)forged_storage;
    arena = aligned_alloc(64, ARENA_BYTES);
    pristine = malloc(ARENA_BYTES);
    memset(pristine, ARENA_FILL, ARENA_BYTES);
    inputs = aligned_alloc(64, ARENA_BYTES);
    test_quantize_errors();
    test_dequantize_errors();
    test_gemm_errors();
    test_gemm_desc();
    test_gemm_epilogue_fields();
    test_outputs_apart();
    test_address_space();
    test_contexts_and_strings();
    fp8block_destroy(ctx);
    free(arena);
    free(pristine);
    free(inputs);
    return test_finish("test_api_errors");
}
