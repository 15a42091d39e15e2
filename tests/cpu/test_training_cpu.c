/* The training layouts on the CPU backend (docs/DESIGN.md §1.7):
 *  - quantize_1x128_transpose equals, byte for byte, quantize_1x128 of x and of the
 *    materialised xᵀ (each pair may be skipped), on odd shapes, every input type, both
 *    scale rules, with NaN/inf/zero blocks;
 *  - transpose_128x128 of quantize_128x128(W) equals quantize_128x128(Wᵀ) byte for byte;
 *  - the GEMM with B scaled 1x128 (the weight gradient dW = dYᵀ·X, K = tokens, any K)
 *    against an fp64 reference within the contract's bound, and its in-place accumulation
 *    D += A·Bᵀ bit for bit;
 *  - bad arguments of the two new entry points answer a status and write nothing.
 * Outputs are poisoned first; padding and a guard after each buffer must keep the poison. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_check.h"
#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"
#include "training_data.h"

#define POISON TRAINING_POISON
#define GUARD TRAINING_GUARD

static fp8block_ctx *ctx;
static rng_state rng;

static int64_t padding_written(const unsigned char *buf, int64_t lines, int64_t ld, int64_t owned, size_t elem)
{
    int64_t touched = 0;
    for (int64_t r = 0; r < lines; r++)
        for (size_t b = (size_t)owned * elem; b < (size_t)ld * elem; b++) touched += buf[(size_t)(r * ld) * elem + b] != POISON;
    for (size_t b = 0; b < GUARD; b++) touched += buf[(size_t)(lines * ld) * elem + b] != POISON;
    return touched;
}

static void *transposed(const void *x, size_t elem, int64_t rows, int64_t cols)
{
    unsigned char *t = malloc((size_t)(rows * cols) * elem);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) memcpy(t + (size_t)(j * rows + i) * elem, (const unsigned char *)x + (size_t)(i * cols + j) * elem, elem);
    return t;
}

static void check_quantize_transpose(int64_t rows, int64_t cols, fp8block_dtype t, unsigned flags, int skip)
{
    char what[160];
    snprintf(what, sizeof what, "quantize_1x128_transpose %lldx%lld %s%s%s", (long long)rows, (long long)cols,
             t == FP8BLOCK_F32 ? "F32" : t == FP8BLOCK_BF16 ? "BF16" : "F16", flags ? " pow2" : "",
             skip == 1 ? " (x's pair skipped)" : skip == 2 ? " (xᵀ's pair skipped)" : "");
    size_t elem = t == FP8BLOCK_F32 ? 4 : 2;
    void *x = training_input(&rng, t, rows, cols, rows > 256 && cols > 128);
    void *xt = transposed(x, elem, rows, cols);
    const int64_t ldq = cols + 16, lds = rows + 4, ldqt = rows + 16, ldst = cols + 4;
    const int64_t s_rows = (cols + 127) / 128, st_rows = (rows + 127) / 128;
    uint8_t *q = training_poisoned((size_t)(rows * ldq)), *qt = training_poisoned((size_t)(cols * ldqt));
    float *s = training_poisoned((size_t)(s_rows * lds) * 4), *st = training_poisoned((size_t)(st_rows * ldst) * 4);
    uint8_t *q_ref = training_poisoned((size_t)(rows * ldq)), *qt_ref = training_poisoned((size_t)(cols * ldqt));
    float *s_ref = training_poisoned((size_t)(s_rows * lds) * 4);
    float *st_ref = training_poisoned((size_t)(st_rows * ldst) * 4);
    fp8block_status a = fp8block_quantize_1x128_transpose(ctx, flags, x, t, rows, cols, cols, skip == 1 ? NULL : q,
                                                          ldq, skip == 1 ? NULL : s, lds, skip == 2 ? NULL : qt, ldqt,
                                                          skip == 2 ? NULL : st, ldst, NULL);
    fp8block_status b = fp8block_quantize_ex(ctx, FP8BLOCK_BLOCK_1x128, flags, x, t, rows, cols, cols, q_ref, ldq,
                                             s_ref, lds, NULL);
    fp8block_status c = fp8block_quantize_ex(ctx, FP8BLOCK_BLOCK_1x128, flags, xt, t, cols, rows, rows, qt_ref, ldqt,
                                             st_ref, ldst, NULL);
    CHECK(a == FP8BLOCK_OK && b == FP8BLOCK_OK && c == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(ctx));
    if (skip != 1) {
        CHECK(memcmp(q, q_ref, (size_t)(rows * ldq) + GUARD) == 0, "%s: codes of x differ from quantize_1x128(x)", what);
        CHECK(memcmp(s, s_ref, (size_t)(s_rows * lds) * 4 + GUARD) == 0, "%s: scales of x differ", what);
    } else {
        CHECK(padding_written((unsigned char *)q, rows, ldq, 0, 1) == 0, "%s: skipped q was written", what);
    }
    if (skip != 2) {
        CHECK(memcmp(qt, qt_ref, (size_t)(cols * ldqt) + GUARD) == 0, "%s: codes of xᵀ differ from quantize_1x128(xᵀ)",
              what);
        CHECK(memcmp(st, st_ref, (size_t)(st_rows * ldst) * 4 + GUARD) == 0, "%s: scales of xᵀ differ", what);
        CHECK(padding_written(qt, cols, ldqt, rows, 1) == 0, "%s: padding of qt written", what);
    } else {
        CHECK(padding_written(qt, cols, ldqt, 0, 1) == 0, "%s: skipped qt was written", what);
    }
    free(x), free(xt), free(q), free(qt), free(s), free(st), free(q_ref), free(qt_ref), free(s_ref), free(st_ref);
}

static void check_weight_transpose(int64_t rows, int64_t cols)
{
    char what[96];
    snprintf(what, sizeof what, "transpose_128x128 %lldx%lld", (long long)rows, (long long)cols);
    float *w = training_input(&rng, FP8BLOCK_F32, rows, cols, 0);
    float *wt = transposed(w, 4, rows, cols);
    const int64_t rb = (rows + 127) / 128, cb = (cols + 127) / 128;
    const int64_t ldq = cols + 16, lds = cb + 1, ldqt = rows + 16, ldst = rb + 3;
    uint8_t *q = training_poisoned((size_t)(rows * ldq));
    uint8_t *qt = training_poisoned((size_t)(cols * ldqt));
    uint8_t *qt_ref = training_poisoned((size_t)(cols * ldqt));
    float *s = training_poisoned((size_t)(rb * lds) * 4);
    float *st = training_poisoned((size_t)(cb * ldst) * 4);
    float *st_ref = training_poisoned((size_t)(cb * ldst) * 4);
    fp8block_status a = fp8block_quantize_128x128(ctx, w, FP8BLOCK_F32, rows, cols, cols, q, ldq, s, lds, NULL);
    fp8block_status b = fp8block_transpose_128x128(ctx, q, ldq, s, lds, rows, cols, qt, ldqt, st, ldst, NULL);
    fp8block_status c = fp8block_quantize_128x128(ctx, wt, FP8BLOCK_F32, cols, rows, rows, qt_ref, ldqt, st_ref, ldst,
                                                  NULL);
    CHECK(a == FP8BLOCK_OK && b == FP8BLOCK_OK && c == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(ctx));
    CHECK(memcmp(qt, qt_ref, (size_t)(cols * ldqt) + GUARD) == 0, "%s: codes differ from quantize_128x128(Wᵀ)", what);
    CHECK(memcmp(st, st_ref, (size_t)(cb * ldst) * 4 + GUARD) == 0, "%s: scales differ from quantize_128x128(Wᵀ)",
          what);
    free(w), free(wt), free(q), free(qt), free(qt_ref), free(s), free(st), free(st_ref);
}

/* dW = dYᵀ·X with K = tokens: A = dYᵀ and B = Xᵀ, both quantized 1x128 along the tokens by
 * quantize_1x128_transpose; D against an fp64 reference on the same codes and scales. */
static void check_wgrad(int64_t out, int64_t in, int64_t tokens)
{
    char what[96];
    snprintf(what, sizeof what, "wgrad %lldx%lld, %lld tokens", (long long)out, (long long)in, (long long)tokens);
    float *dy = training_input(&rng, FP8BLOCK_F32, tokens, out, 0), *x = training_input(&rng, FP8BLOCK_F32, tokens, in, 0);
    const int64_t kb = (tokens + 127) / 128, lda = (tokens + 15) / 16 * 16, ldsa = (out + 3) / 4 * 4;
    const int64_t ldsb = (in + 3) / 4 * 4, ldd = (in + 3) / 4 * 4;
    uint8_t *a = training_poisoned((size_t)(out * lda)), *b = training_poisoned((size_t)(in * lda));
    float *sa = training_poisoned((size_t)(kb * ldsa) * 4), *sb = training_poisoned((size_t)(kb * ldsb) * 4);
    fp8block_status st = fp8block_quantize_1x128_transpose(ctx, 0, dy, FP8BLOCK_F32, tokens, out, out, NULL, 0, NULL, 0,
                                                           a, lda, sa, ldsa, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, tokens, in, in, NULL, 0, NULL, 0, b, lda, sb,
                                               ldsb, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: quantizing: %s", what, fp8block_last_error(ctx));
    float *d = training_poisoned((size_t)(out * ldd) * 4);
    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = out, g.n = in, g.k = tokens, g.a = a, g.lda = lda, g.sa = sa, g.ldsa = ldsa;
    g.b = b, g.ldb = lda, g.sb = sb, g.ldsb = ldsb, g.b_scales = FP8BLOCK_B_SCALES_1x128;
    g.d = d, g.d_dtype = FP8BLOCK_F32, g.ldd = ldd;
    if (st == FP8BLOCK_OK) st = fp8block_gemm_ex(ctx, &g, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(ctx));
    double *ref = malloc((size_t)(out * in) * sizeof *ref), *mag = malloc((size_t)(out * in) * sizeof *mag);
    gemm_reference_b1x128(out, in, tokens, a, lda, sa, ldsa, b, lda, sb, ldsb, ref, mag, in);
    gemm_check_result r = gemm_check_against(out, in, ref, mag, in, d, FP8BLOCK_F32, ldd);
    CHECK(gemm_check_passed(&r), "%s: check failed", what);
    gemm_check_print(gemm_check_passed(&r) ? stdout : stderr, what, &r);
    CHECK(padding_written((unsigned char *)d, out, ldd, in, 4) == 0, "%s: padding of D written", what);
    /* Accumulation into the weight gradient: D += A·Bᵀ with C = D, bit for bit. */
    float *before = malloc((size_t)(out * ldd) * 4);
    for (int64_t e = 0; e < out * ldd; e++) before[e] = (float)(e % 7) - 3.0f;
    memcpy(d, before, (size_t)(out * ldd) * 4);
    float *plain = training_poisoned((size_t)(out * ldd) * 4);
    fp8block_gemm_desc acc = g;
    acc.c = d, acc.c_dtype = FP8BLOCK_F32, acc.ldc = ldd;
    g.d = plain;
    st = fp8block_gemm_ex(ctx, &g, NULL);
    if (st == FP8BLOCK_OK) st = fp8block_gemm_ex(ctx, &acc, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: accumulating: %s", what, fp8block_last_error(ctx));
    int64_t differ = 0;
    for (int64_t i = 0; i < out; i++)
        for (int64_t j = 0; j < in; j++) {
            float want = plain[i * ldd + j] + before[i * ldd + j];
            differ += memcmp(&want, &d[i * ldd + j], 4) != 0;
        }
    CHECK(differ == 0, "%s: %lld elements of D += A·Bᵀ differ from D + (A·Bᵀ)", what, (long long)differ);
    free(dy), free(x), free(a), free(b), free(sa), free(sb), free(d), free(ref), free(mag), free(before), free(plain);
}

/* Each bad argument: a status, a message, and no output byte changed. */
static void check_bad_arguments(void)
{
    enum { R = 130, C = 300 };
    float *x = training_input(&rng, FP8BLOCK_F32, R, C, 0);
    uint8_t *q = training_poisoned(R * C), *qt = training_poisoned(C * R);
    float *s = training_poisoned(3 * R * 4), *st = training_poisoned(2 * C * 4);
    unsigned char *pristine = malloc(C * R);
    memcpy(pristine, qt, C * R);
    struct {
        const char *what;
        fp8block_status got, want;
    } cases[] = {
        {"qt without st", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, R, C, C, NULL, 0, NULL, 0, qt, R, NULL, C, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"both pairs NULL", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, R, C, C, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"ldqt < rows", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, R, C, C, NULL, 0, NULL, 0, qt, R - 1, st, C, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"ldst < cols", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, R, C, C, NULL, 0, NULL, 0, qt, R, st, C - 1, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"flags 4", fp8block_quantize_1x128_transpose(ctx, 4, x, FP8BLOCK_F32, R, C, C, NULL, 0, NULL, 0, qt, R, st, C, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"xtype E4M3", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_E4M3, R, C, C, NULL, 0, NULL, 0, qt, R, st, C, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"st misaligned", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, R, C, C, NULL, 0, NULL, 0, qt, R, (float *)((char *)st + 2), C, NULL), FP8BLOCK_ERR_MISALIGNED},
        {"q with lds too small", fp8block_quantize_1x128_transpose(ctx, 0, x, FP8BLOCK_F32, R, C, C, q, C, s, R - 1, qt, R, st, C, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"transpose in place", fp8block_transpose_128x128(ctx, qt, C, s, 3, R, C, qt, R, st, 2, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"transpose ldqt < rows", fp8block_transpose_128x128(ctx, q, C, s, 3, R, C, qt, R - 1, st, 2, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"transpose ldst < ceil(rows/128)", fp8block_transpose_128x128(ctx, q, C, s, 3, R, C, qt, R, st, 1, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"transpose rows 0", fp8block_transpose_128x128(ctx, q, C, s, 3, 0, C, qt, R, st, 2, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
        {"transpose NULL ctx", fp8block_transpose_128x128(NULL, q, C, s, 3, R, C, qt, R, st, 2, NULL), FP8BLOCK_ERR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(cases[i].got == cases[i].want, "%s: %s, want %s", cases[i].what, fp8block_status_string(cases[i].got),
              fp8block_status_string(cases[i].want));
    CHECK(memcmp(pristine, qt, C * R) == 0, "a refused call wrote qt");
    CHECK(fp8block_last_error(NULL)[0] != 0, "a refused call left no message");
    free(x), free(q), free(qt), free(s), free(st), free(pristine);
}

int main(void)
{
    rng_seed(&rng, 1717);
    if (fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    static const int64_t shapes[][2] = {{1, 1}, {1, 17}, {17, 1}, {127, 129}, {129, 300}, {300, 2112}, {2112, 130}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
            check_quantize_transpose(shapes[i][0], shapes[i][1], (fp8block_dtype)t, (i + t) % 2 ? FP8BLOCK_SCALE_POW2 : 0,
                                     (int)((i + t) % 3));
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_weight_transpose(shapes[i][0], shapes[i][1]);
    static const int64_t wgrad[][3] = {{17, 129, 1}, {129, 127, 300}, {256, 130, 2112}, {64, 200, 129}};
    for (size_t i = 0; i < sizeof wgrad / sizeof wgrad[0]; i++) check_wgrad(wgrad[i][0], wgrad[i][1], wgrad[i][2]);
    check_bad_arguments();
    fp8block_destroy(ctx);
    return test_finish("test_training_cpu");
}
