#define _POSIX_C_SOURCE 200809L
#include "canary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "gemm_check.h"
#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"

enum { BLOCK = 128, INPUT_POISON = 0xff };

static size_t elem_size(fp8block_dtype t) { return t == FP8BLOCK_F32 ? 4 : t == FP8BLOCK_E4M3 ? 1 : 2; }

static void *host_alloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) {
        fprintf(stderr, "canary: out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* ---- a matrix embedded in a larger buffer on ctx's device ---- */

typedef struct {
    const fp8block_ctx *ctx;
    uint8_t *dev;
    uint8_t *image; /* host copy of what was uploaded */
    uint8_t *now;   /* host copy after the call */
    size_t bytes, front;
    int64_t lines, ld, owned, guard;
    size_t elem;
} embedded;

static size_t owned_offset(const embedded *e, int64_t line, int64_t col)
{
    return e->front + (size_t)((e->guard + line) * e->ld + col) * e->elem;
}

static void *embedded_base(const embedded *e) { return e->dev + owned_offset(e, 0, 0); }

/* `guard` whole lines before and after, `front` extra bytes before those; every byte `fill`,
 * then the owned elements from `tight` (lines × owned) when it is given. */
static embedded embedded_make(const fp8block_ctx *ctx, int64_t lines, int64_t ld, int64_t owned, size_t elem,
                              int64_t guard, size_t front, int fill, const void *tight)
{
    embedded e = {ctx, NULL, NULL, NULL, 0, front, lines, ld, owned, guard, elem};
    e.bytes = front + (size_t)((2 * guard + lines) * ld) * elem;
    e.image = host_alloc(e.bytes);
    e.now = host_alloc(e.bytes);
    memset(e.image, fill, e.bytes);
    if (tight)
        for (int64_t r = 0; r < lines; r++)
            memcpy(e.image + owned_offset(&e, r, 0), (const uint8_t *)tight + (size_t)(r * owned) * elem,
                   (size_t)owned * elem);
    e.dev = devmem_alloc(ctx, e.bytes);
    if (!e.dev || devmem_upload(ctx, e.dev, e.image, e.bytes) != 0) {
        fprintf(stderr, "canary: cannot allocate or fill %zu bytes on the context's device\n", e.bytes);
        exit(1);
    }
    return e;
}

static void embedded_free(embedded *e)
{
    devmem_free(e->ctx, e->dev);
    free(e->image);
    free(e->now);
}

static void embedded_fetch(embedded *e)
{
    if (devmem_download(e->ctx, e->now, e->dev, e->bytes) != 0) {
        fprintf(stderr, "canary: download failed\n");
        exit(1);
    }
}

/* Every byte the call does not own still holds what was uploaded. */
static void check_outside_untouched(const embedded *e, const char *name, const char *what)
{
    size_t line_bytes = (size_t)e->ld * e->elem, owned_bytes = (size_t)e->owned * e->elem;
    int64_t bad_line = -2; /* -1: the front bytes */
    size_t at = 0;
    for (at = 0; at < e->front && bad_line == -2; at++)
        if (e->now[at] != e->image[at]) bad_line = -1;
    for (int64_t l = 0; l < 2 * e->guard + e->lines && bad_line == -2; l++) {
        const uint8_t *now = e->now + e->front + (size_t)l * line_bytes, *was = e->image + e->front + (size_t)l * line_bytes;
        size_t from = l >= e->guard && l < e->guard + e->lines ? owned_bytes : 0;
        for (at = from; at < line_bytes; at++)
            if (now[at] != was[at]) {
                bad_line = l;
                break;
            }
    }
    const char *where = bad_line == -1 ? "before the first guard line"
                        : bad_line < e->guard ? "in a guard line before"
                        : bad_line < e->guard + e->lines ? "in the padding of owned line"
                                                          : "in a guard line after";
    CHECK(bad_line == -2, "%s: %s: a byte %s (line %lld of %lld guard + %lld owned + %lld guard, byte %zu; %lld owned "
          "elements of %zu bytes per line, ld %lld) was written",
          what, name, where, (long long)bad_line, (long long)e->guard, (long long)e->lines, (long long)e->guard, at,
          (long long)e->owned, e->elem, (long long)e->ld);
}

static void check_input_unchanged(const embedded *e, const char *name, const char *what)
{
    CHECK(memcmp(e->now, e->image, e->bytes) == 0, "%s: input %s was modified", what, name);
}

/* The owned elements, lines × owned, into `tight`. */
static void embedded_take(const embedded *e, void *tight)
{
    for (int64_t r = 0; r < e->lines; r++)
        memcpy((uint8_t *)tight + (size_t)(r * e->owned) * e->elem, e->now + owned_offset(e, r, 0),
               (size_t)e->owned * e->elem);
}

/* Equal, or both NaN (the contract leaves NaN payloads free). */
static int same_element(fp8block_dtype t, const uint8_t *a, const uint8_t *b)
{
    if (t == FP8BLOCK_E4M3) return *a == *b || ((*a & 0x7f) == 0x7f && (*b & 0x7f) == 0x7f);
    if (t == FP8BLOCK_F32) {
        uint32_t x, y;
        memcpy(&x, a, 4), memcpy(&y, b, 4);
        return x == y || ((x & 0x7fffffffu) > 0x7f800000u && (y & 0x7fffffffu) > 0x7f800000u);
    }
    uint16_t x, y, inf = t == FP8BLOCK_BF16 ? 0x7f80 : 0x7c00;
    memcpy(&x, a, 2), memcpy(&y, b, 2);
    return x == y || ((x & 0x7fff) > inf && (y & 0x7fff) > inf);
}

static void compare_owned(const embedded *e, fp8block_dtype t, const void *want, const char *name, const char *what)
{
    uint8_t *got = host_alloc((size_t)(e->lines * e->owned) * e->elem);
    embedded_take(e, got);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < e->lines * e->owned; i++)
        if (!same_element(t, got + (size_t)i * e->elem, (const uint8_t *)want + (size_t)i * e->elem) && bad++ == 0) first = i;
    CHECK(bad == 0, "%s: %s: %lld of %lld owned elements differ from the reference, first at line %lld element %lld",
          what, name, (long long)bad, (long long)(e->lines * e->owned), (long long)(first < 0 ? 0 : first / e->owned),
          (long long)(first < 0 ? 0 : first % e->owned));
    free(got);
}

/* ---- data and shapes ---- */

static int64_t pick_dim(rng_state *rng, int64_t max)
{
    static const int64_t AWKWARD[] = {1, 2, 3, 16, 17, 127, 128, 129, 255, 256, 257};
    if (rng_range(rng, 0, 2) == 0) return AWKWARD[rng_range(rng, 0, sizeof AWKWARD / sizeof AWKWARD[0] - 1)];
    return rng_range(rng, 1, max);
}

static fp8block_dtype pick_float_type(rng_state *rng)
{
    static const fp8block_dtype TYPES[] = {FP8BLOCK_F32, FP8BLOCK_BF16, FP8BLOCK_F16};
    return TYPES[rng_range(rng, 0, 2)];
}

static void store_as(void *base, fp8block_dtype t, int64_t i, float v)
{
    if (t == FP8BLOCK_F32) {
        memcpy((uint8_t *)base + 4 * i, &v, 4);
        return;
    }
    uint16_t h = t == FP8BLOCK_BF16 ? ref_bf16_from_f32(v) : ref_f16_from_f32(v);
    memcpy((uint8_t *)base + 2 * i, &h, 2);
}

/* Random values over a few binades around 2^[-binades, binades], with a NaN and an inf in
 * one case out of four. */
static void *random_matrix(rng_state *rng, fp8block_dtype t, int64_t rows, int64_t cols, int binades)
{
    void *x = host_alloc((size_t)(rows * cols) * elem_size(t));
    float scale = ldexpf(1.0f, (int)rng_range(rng, -binades, binades));
    for (int64_t i = 0; i < rows * cols; i++)
        store_as(x, t, i, (float)rng_normal(rng) * scale * ldexpf(1.0f, (int)rng_range(rng, -3, 3)));
    if (rng_range(rng, 0, 3) == 0) {
        store_as(x, t, rng_range(rng, 0, rows * cols - 1), NAN);
        store_as(x, t, rng_range(rng, 0, rows * cols - 1), -INFINITY);
    }
    return x;
}

static const char *dtype_name(fp8block_dtype t)
{
    return t == FP8BLOCK_F32 ? "F32" : t == FP8BLOCK_BF16 ? "BF16" : t == FP8BLOCK_F16 ? "F16" : "E4M3";
}

typedef struct {
    fp8block_ctx *ctx, *ref;
    rng_state rng;
    canary_summary summary;
} runner;

/* OK goes on; UNSUPPORTED is remembered (the GPU kernel may not exist yet); anything else fails. */
static int call_ok(runner *run, fp8block_status st, const char *what)
{
    if (st == FP8BLOCK_ERR_UNSUPPORTED) {
        if (!run->summary.unsupported++)
            snprintf(run->summary.unsupported_why, sizeof run->summary.unsupported_why, "%s",
                     fp8block_last_error(NULL));
        return 0;
    }
    CHECK(st == FP8BLOCK_OK, "%s: %s: %s", what, fp8block_status_string(st), fp8block_last_error(NULL));
    if (st == FP8BLOCK_OK) run->summary.cases_run++;
    return st == FP8BLOCK_OK;
}

static void sync_or_die(const fp8block_ctx *ctx)
{
    if (devmem_sync(ctx) != 0) {
        fprintf(stderr, "canary: device synchronization failed (a kernel fault?)\n");
        exit(1);
    }
}

/* ---- quantize: every entry point, both block shapes, with and without pow2 scales ---- */

static void quantize_case(runner *run, int entry)
{
    rng_state *rng = &run->rng;
    static const char *const ENTRY[] = {"quantize_1x128", "quantize_128x128", "quantize_ex"};
    fp8block_block block = entry == 0 ? FP8BLOCK_BLOCK_1x128 : entry == 1 ? FP8BLOCK_BLOCK_128x128
                                                                            : (fp8block_block)rng_range(rng, 0, 1);
    unsigned flags = entry == 2 && rng_range(rng, 0, 1) ? FP8BLOCK_SCALE_POW2 : 0;
    fp8block_dtype xtype = pick_float_type(rng);
    int64_t rows = pick_dim(rng, 300), cols = pick_dim(rng, 700);
    int64_t ldx = cols + rng_range(rng, 0, 9), ldq = cols + rng_range(rng, 0, 40);
    int64_t s_lines = scale_lines(block, rows, cols), s_owned = scale_line_length(block, rows, cols);
    int64_t lds = s_owned + rng_range(rng, 0, 7);
    size_t xe = elem_size(xtype);
    int canary = rng_range(rng, 0, 1) ? 0xa5 : 0x5a;
    char what[256];
    snprintf(what, sizeof what, "%s(%s%s, %s, rows %lld, cols %lld, ldx %lld, ldq %lld, lds %lld)", ENTRY[entry],
             block == FP8BLOCK_BLOCK_1x128 ? "1x128" : "128x128", flags ? " pow2" : "", dtype_name(xtype),
             (long long)rows, (long long)cols, (long long)ldx, (long long)ldq, (long long)lds);

    void *x = random_matrix(rng, xtype, rows, cols, 12);
    uint8_t *q_ref = host_alloc((size_t)(rows * cols));
    float *s_ref = host_alloc((size_t)(s_lines * s_owned) * 4);
    fp8block_status st = fp8block_quantize_ex(run->ref, block, flags, x, xtype, rows, cols, cols, q_ref, cols, s_ref,
                                              s_owned, NULL);
    CHECK(st == FP8BLOCK_OK, "%s on the reference: %s", what, fp8block_last_error(NULL));

    embedded ex = embedded_make(run->ctx, rows, ldx, cols, xe, rng_range(rng, 1, 3), xe * (size_t)rng_range(rng, 0, 3),
                                INPUT_POISON, x);
    embedded eq = embedded_make(run->ctx, rows, ldq, cols, 1, rng_range(rng, 1, 3), (size_t)rng_range(rng, 0, 15), canary,
                                NULL);
    embedded es = embedded_make(run->ctx, s_lines, lds, s_owned, 4, rng_range(rng, 1, 3), 4 * (size_t)rng_range(rng, 0, 3),
                                canary, NULL);
    void *xp = embedded_base(&ex);
    uint8_t *qp = embedded_base(&eq);
    float *sp = embedded_base(&es);
    st = entry == 0   ? fp8block_quantize_1x128(run->ctx, xp, xtype, rows, cols, ldx, qp, ldq, sp, lds, NULL)
         : entry == 1 ? fp8block_quantize_128x128(run->ctx, xp, xtype, rows, cols, ldx, qp, ldq, sp, lds, NULL)
                      : fp8block_quantize_ex(run->ctx, block, flags, xp, xtype, rows, cols, ldx, qp, ldq, sp, lds, NULL);
    if (call_ok(run, st, what)) {
        sync_or_die(run->ctx);
        embedded_fetch(&ex), embedded_fetch(&eq), embedded_fetch(&es);
        check_input_unchanged(&ex, "x", what);
        check_outside_untouched(&eq, "codes q", what);
        check_outside_untouched(&es, "scales s", what);
        compare_owned(&eq, FP8BLOCK_E4M3, q_ref, "codes q", what);
        compare_owned(&es, FP8BLOCK_F32, s_ref, "scales s", what);
    }
    embedded_free(&ex), embedded_free(&eq), embedded_free(&es);
    free(x), free(q_ref), free(s_ref);
}

/* ---- dequantize ---- */

static void dequantize_case(runner *run, fp8block_block block)
{
    rng_state *rng = &run->rng;
    fp8block_dtype xtype = pick_float_type(rng), ytype = pick_float_type(rng);
    int64_t rows = pick_dim(rng, 300), cols = pick_dim(rng, 700);
    int64_t ldq = cols + rng_range(rng, 0, 40), ldy = cols + rng_range(rng, 0, 9);
    int64_t s_lines = scale_lines(block, rows, cols), s_owned = scale_line_length(block, rows, cols);
    int64_t lds = s_owned + rng_range(rng, 0, 7);
    size_t ye = elem_size(ytype);
    int canary = rng_range(rng, 0, 1) ? 0xa5 : 0x5a;
    char what[256];
    snprintf(what, sizeof what, "dequantize_%s(%s, rows %lld, cols %lld, ldq %lld, lds %lld, ldy %lld)",
             block == FP8BLOCK_BLOCK_1x128 ? "1x128" : "128x128", dtype_name(ytype), (long long)rows, (long long)cols,
             (long long)ldq, (long long)lds, (long long)ldy);

    void *x = random_matrix(rng, xtype, rows, cols, 12);
    uint8_t *q = host_alloc((size_t)(rows * cols));
    float *s = host_alloc((size_t)(s_lines * s_owned) * 4);
    void *y_ref = host_alloc((size_t)(rows * cols) * ye);
    fp8block_status st = fp8block_quantize_ex(run->ref, block, 0, x, xtype, rows, cols, cols, q, cols, s, s_owned, NULL);
    if (st == FP8BLOCK_OK)
        st = block == FP8BLOCK_BLOCK_1x128
                 ? fp8block_dequantize_1x128(run->ref, q, cols, s, s_owned, rows, cols, y_ref, ytype, cols, NULL)
                 : fp8block_dequantize_128x128(run->ref, q, cols, s, s_owned, rows, cols, y_ref, ytype, cols, NULL);
    CHECK(st == FP8BLOCK_OK, "%s on the reference: %s", what, fp8block_last_error(NULL));

    embedded eq = embedded_make(run->ctx, rows, ldq, cols, 1, rng_range(rng, 1, 3), (size_t)rng_range(rng, 0, 15),
                                INPUT_POISON, q);
    embedded es = embedded_make(run->ctx, s_lines, lds, s_owned, 4, rng_range(rng, 1, 3), 4 * (size_t)rng_range(rng, 0, 3),
                                INPUT_POISON, s);
    embedded ey = embedded_make(run->ctx, rows, ldy, cols, ye, rng_range(rng, 1, 3), ye * (size_t)rng_range(rng, 0, 3),
                                canary, NULL);
    const uint8_t *qp = embedded_base(&eq);
    const float *sp = embedded_base(&es);
    void *yp = embedded_base(&ey);
    st = block == FP8BLOCK_BLOCK_1x128 ? fp8block_dequantize_1x128(run->ctx, qp, ldq, sp, lds, rows, cols, yp, ytype, ldy, NULL)
                                       : fp8block_dequantize_128x128(run->ctx, qp, ldq, sp, lds, rows, cols, yp, ytype, ldy, NULL);
    if (call_ok(run, st, what)) {
        sync_or_die(run->ctx);
        embedded_fetch(&eq), embedded_fetch(&es), embedded_fetch(&ey);
        check_input_unchanged(&eq, "q", what);
        check_input_unchanged(&es, "s", what);
        check_outside_untouched(&ey, "y", what);
        compare_owned(&ey, ytype, y_ref, "y", what);
    }
    embedded_free(&eq), embedded_free(&es), embedded_free(&ey);
    free(x), free(q), free(s), free(y_ref);
}

/* ---- gemm ---- */

/* A copy of tight (lines × owned) at leading dimension ld, padding zero, 256-byte aligned. */
static void *strided_copy(const void *tight, int64_t lines, int64_t owned, int64_t ld, size_t elem)
{
    uint8_t *p = host_alloc((size_t)(lines * ld) * elem);
    memset(p, 0, (size_t)(lines * ld) * elem);
    for (int64_t r = 0; r < lines; r++)
        memcpy(p + (size_t)(r * ld) * elem, (const uint8_t *)tight + (size_t)(r * owned) * elem, (size_t)owned * elem);
    return p;
}

static void gemm_case(runner *run)
{
    rng_state *rng = &run->rng;
    fp8block_dtype dtype = pick_float_type(rng);
    int64_t m = pick_dim(rng, 300), n = pick_dim(rng, 300), k = pick_dim(rng, 700);
    int64_t kb = ceil_div(k, BLOCK), nb = ceil_div(n, BLOCK);
    size_t de = elem_size(dtype);
    int64_t d_align = 16 / (int64_t)de;
    int64_t lda = round_up(k, 16) + 16 * rng_range(rng, 0, 2), ldb = round_up(k, 16) + 16 * rng_range(rng, 0, 2);
    int64_t ldsa = round_up(m, 4) + 4 * rng_range(rng, 0, 3), ldsb = kb + rng_range(rng, 0, 5);
    int64_t ldd = round_up(n, d_align) + d_align * rng_range(rng, 0, 2);
    int canary = rng_range(rng, 0, 1) ? 0xa5 : 0xff;
    char what[256];
    snprintf(what, sizeof what, "gemm(%s, m %lld, n %lld, k %lld, lda %lld, ldb %lld, ldsa %lld, ldsb %lld, ldd %lld)",
             dtype_name(dtype), (long long)m, (long long)n, (long long)k, (long long)lda, (long long)ldb,
             (long long)ldsa, (long long)ldsb, (long long)ldd);

    /* Operands: random matrices quantized on the reference, tight. */
    /* Magnitudes near 1, so that F16 outputs rarely overflow. */
    void *xa = random_matrix(rng, FP8BLOCK_BF16, m, k, 2), *xb = random_matrix(rng, FP8BLOCK_BF16, n, k, 2);
    uint8_t *a = host_alloc((size_t)(m * k)), *b = host_alloc((size_t)(n * k));
    float *sa = host_alloc((size_t)(kb * m) * 4), *sb = host_alloc((size_t)(nb * kb) * 4);
    fp8block_status st = fp8block_quantize_1x128(run->ref, xa, FP8BLOCK_BF16, m, k, k, a, k, sa, m, NULL);
    if (st == FP8BLOCK_OK) st = fp8block_quantize_128x128(run->ref, xb, FP8BLOCK_BF16, n, k, k, b, k, sb, kb, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: quantizing the operands on the reference: %s", what, fp8block_last_error(NULL));

    /* The reference: the same product at the smallest legal leading dimensions, on the CPU
     * reference context, or on ctx itself when ctx is a GPU (its fp8 tensor-core sums
     * differ from the CPU's in the last bits; its own result must not depend on the layout). */
    int64_t lda_ref = round_up(k, 16), ldsa_ref = round_up(m, 4), ldd_ref = round_up(n, d_align);
    void *a_ref = strided_copy(a, m, k, lda_ref, 1), *b_ref = strided_copy(b, n, k, lda_ref, 1);
    void *sa_ref = strided_copy(sa, kb, m, ldsa_ref, 4);
    void *d_ref = host_alloc((size_t)(m * n) * de);
    int on_cpu = fp8block_device(run->ctx) == FP8BLOCK_DEVICE_CPU;
    embedded ra = embedded_make(run->ctx, m, lda_ref, lda_ref, 1, 0, 0, 0, a_ref);
    embedded rb = embedded_make(run->ctx, n, lda_ref, lda_ref, 1, 0, 0, 0, b_ref);
    embedded rsa = embedded_make(run->ctx, kb, ldsa_ref, ldsa_ref, 4, 0, 0, 0, sa_ref);
    embedded rsb = embedded_make(run->ctx, nb, kb, kb, 4, 0, 0, 0, sb);
    embedded rd = embedded_make(run->ctx, m, ldd_ref, ldd_ref, de, 0, 0, 0, NULL);
    fp8block_ctx *ref_ctx = on_cpu ? run->ref : run->ctx;
    st = fp8block_gemm(ref_ctx, m, n, k, embedded_base(&ra), lda_ref, embedded_base(&rsa), ldsa_ref,
                       embedded_base(&rb), lda_ref, embedded_base(&rsb), kb, embedded_base(&rd), dtype, ldd_ref, NULL);
    int have_ref = st == FP8BLOCK_OK;
    if (st != FP8BLOCK_ERR_UNSUPPORTED) CHECK(have_ref, "%s, tight: %s", what, fp8block_last_error(NULL));
    if (have_ref) {
        sync_or_die(ref_ctx);
        embedded_fetch(&rd);
        for (int64_t r = 0; r < m; r++)
            memcpy((uint8_t *)d_ref + (size_t)(r * n) * de, rd.now + (size_t)(r * ldd_ref) * de, (size_t)n * de);
    }
    embedded_free(&ra), embedded_free(&rb), embedded_free(&rsa), embedded_free(&rsb), embedded_free(&rd);

    embedded ea = embedded_make(run->ctx, m, lda, k, 1, rng_range(rng, 1, 3), 16 * (size_t)rng_range(rng, 0, 1),
                                INPUT_POISON, a);
    embedded eb = embedded_make(run->ctx, n, ldb, k, 1, rng_range(rng, 1, 3), 16 * (size_t)rng_range(rng, 0, 1),
                                INPUT_POISON, b);
    embedded esa = embedded_make(run->ctx, kb, ldsa, m, 4, rng_range(rng, 1, 3), 16 * (size_t)rng_range(rng, 0, 1),
                                 INPUT_POISON, sa);
    embedded esb = embedded_make(run->ctx, nb, ldsb, kb, 4, rng_range(rng, 1, 3), 4 * (size_t)rng_range(rng, 0, 3),
                                 INPUT_POISON, sb);
    embedded ed = embedded_make(run->ctx, m, ldd, n, de, rng_range(rng, 1, 3), 16 * (size_t)rng_range(rng, 0, 1), canary,
                                NULL);
    st = fp8block_gemm(run->ctx, m, n, k, embedded_base(&ea), lda, embedded_base(&esa), ldsa, embedded_base(&eb), ldb,
                       embedded_base(&esb), ldsb, embedded_base(&ed), dtype, ldd, NULL);
    if (call_ok(run, st, what)) {
        sync_or_die(run->ctx);
        embedded_fetch(&ea), embedded_fetch(&eb), embedded_fetch(&esa), embedded_fetch(&esb), embedded_fetch(&ed);
        check_input_unchanged(&ea, "a", what);
        check_input_unchanged(&eb, "b", what);
        check_input_unchanged(&esa, "sa", what);
        check_input_unchanged(&esb, "sb", what);
        check_outside_untouched(&ed, "d", what);
        if (have_ref) compare_owned(&ed, dtype, d_ref, "d", what);
        if (!on_cpu) { /* and the GPU's numbers are within the bounds of every element */
            void *d = host_alloc((size_t)(m * n) * de);
            embedded_take(&ed, d);
            gemm_check_result r = gemm_check(m, n, k, a, k, sa, m, b, k, sb, kb, d, dtype, n, 1);
            CHECK(r.violations == 0, "%s: d has %lld elements outside gemm_check's bounds", what, (long long)r.violations);
            if (r.violations) gemm_check_print(stderr, what, &r);
            free(d);
        }
    }
    embedded_free(&ea), embedded_free(&eb), embedded_free(&esa), embedded_free(&esb), embedded_free(&ed);
    free(xa), free(xb), free(a), free(b), free(sa), free(sb), free(a_ref), free(b_ref), free(sa_ref);
    free(d_ref);
}

canary_summary canary_run(fp8block_ctx *ctx, fp8block_ctx *ref, uint64_t seed, int cases)
{
    runner run = {ctx, ref, {{0}}, {0}};
    rng_seed(&run.rng, seed);
    for (int c = 0; c < cases; c++) {
        for (int entry = 0; entry < 3; entry++) quantize_case(&run, entry);
        dequantize_case(&run, FP8BLOCK_BLOCK_1x128);
        dequantize_case(&run, FP8BLOCK_BLOCK_128x128);
        gemm_case(&run);
    }
    return run.summary;
}
