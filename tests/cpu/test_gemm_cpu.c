/* fp8block_gemm on the CPU context against gemm_check's fp64 product of the dequantized
 * operands: awkward shapes (M, N, K from 1, 17, 127, 128, 129, 2112 and K that is not a
 * multiple of 128), every output type, leading dimensions above the minimum, outputs
 * poisoned with 0xff bytes before each call, and NaN scales that must reach the output.
 * The checker itself is tested here too (no GPU needed): the row corruption that
 * FP8BLOCK_TEST_PLANT_ROWS=1 plants in test_gemm_gpu (rows 100..109 of every 128-row tile
 * ×1.5) must fail both gemm_check and gemm_check_against, which the GPU test uses; with the
 * variable set, every case of this test is planted too (and the test must then fail). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_check.h"
#include "rng.h"
#include "testutil.h"

#define BLOCK 128
#define GUARD_BYTES 64
#define POISON 0xff

static const char *const DTYPE_NAMES[] = {"F32", "BF16", "F16"};

static fp8block_ctx *ctx;
static rng_state rng;


/* 64-byte aligned, room for a guard after `bytes`. */
static void *alloc_aligned(size_t bytes) { return aligned_alloc(64, (size_t)round_up((int64_t)bytes + GUARD_BYTES, 64)); }

typedef struct {
    int64_t m, n, k;
    int64_t lda, ldsa, ldb, ldsb, ldd;
    fp8block_dtype dtype;
    int64_t row_step;
} gemm_case;

/* Quantized operands, made by the library's own quantizers from random normal data
 * whose magnitude changes from block to block by up to 2^±3. */
typedef struct {
    uint8_t *a, *b;
    float *sa, *sb;
} operands;

static float *random_matrix(int64_t rows, int64_t cols)
{
    float *x = malloc((size_t)(rows * cols) * sizeof(float));
    int exponents[64];
    for (int i = 0; i < 64; i++) exponents[i] = (int)rng_range(&rng, -3, 3);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            x[r * cols + c] = (float)ldexp(rng_normal(&rng), exponents[(r / 32 * 7 + c / BLOCK) % 64]);
    return x;
}

static int make_operands(const gemm_case *c, int nan_in_a, operands *ops)
{
    int64_t k_blocks = ceil_div(c->k, BLOCK);
    ops->a = alloc_aligned((size_t)(c->m * c->lda));
    ops->b = alloc_aligned((size_t)(c->n * c->ldb));
    ops->sa = alloc_aligned((size_t)(k_blocks * c->ldsa) * sizeof(float));
    ops->sb = alloc_aligned((size_t)(ceil_div(c->n, BLOCK) * c->ldsb) * sizeof(float));
    float *x = random_matrix(c->m, c->k), *w = random_matrix(c->n, c->k);
    if (nan_in_a) x[0] = NAN; /* A's first block gets a NaN scale and NaN codes */
    fp8block_status sa_st = fp8block_quantize_1x128(ctx, x, FP8BLOCK_F32, c->m, c->k, c->k, ops->a, c->lda, ops->sa,
                                                    c->ldsa, NULL);
    fp8block_status sb_st = fp8block_quantize_128x128(ctx, w, FP8BLOCK_F32, c->n, c->k, c->k, ops->b, c->ldb,
                                                      ops->sb, c->ldsb, NULL);
    free(x);
    free(w);
    CHECK(sa_st == FP8BLOCK_OK && sb_st == FP8BLOCK_OK, "quantizing the operands: %s", fp8block_last_error(ctx));
    return sa_st == FP8BLOCK_OK && sb_st == FP8BLOCK_OK;
}

static void free_operands(operands *ops)
{
    free(ops->a);
    free(ops->b);
    free(ops->sa);
    free(ops->sb);
}

static void describe(char *out, size_t size, const gemm_case *c, const char *note)
{
    snprintf(out, size, "gemm %s m=%lld n=%lld k=%lld lda=%lld ldsa=%lld ldb=%lld ldsb=%lld ldd=%lld%s",
             DTYPE_NAMES[c->dtype], (long long)c->m, (long long)c->n, (long long)c->k, (long long)c->lda,
             (long long)c->ldsa, (long long)c->ldb, (long long)c->ldsb, (long long)c->ldd, note);
}

/* Runs the GEMM into a poisoned D and returns it (NULL on a failed call); padding
 * columns and the guard after D must keep the poison. */
static unsigned char *run_gemm(const gemm_case *c, const operands *ops, const char *what)
{
    size_t elem = dtype_size(c->dtype), d_bytes = (size_t)(c->m * c->ldd) * elem;
    unsigned char *d = alloc_aligned(d_bytes);
    memset(d, POISON, d_bytes + GUARD_BYTES);
    fp8block_status st = fp8block_gemm(ctx, c->m, c->n, c->k, ops->a, c->lda, ops->sa, c->ldsa, ops->b, c->ldb,
                                       ops->sb, c->ldsb, d, c->dtype, c->ldd, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: status %s: %s", what, fp8block_status_string(st), fp8block_last_error(ctx));
    if (st != FP8BLOCK_OK) {
        free(d);
        return NULL;
    }
    int64_t touched = 0;
    for (int64_t r = 0; r < c->m; r++)
        for (size_t byte = (size_t)c->n * elem; byte < (size_t)c->ldd * elem; byte++)
            touched += d[(size_t)r * (size_t)c->ldd * elem + byte] != POISON;
    for (size_t byte = d_bytes; byte < d_bytes + GUARD_BYTES; byte++) touched += d[byte] != POISON;
    CHECK(touched == 0, "%s: %lld padding/guard bytes of D written", what, (long long)touched);
    return d;
}

static gemm_case make_case(int64_t m, int64_t n, int64_t k, fp8block_dtype dtype, int padded)
{
    int64_t d_align = 16 / (int64_t)dtype_size(dtype); /* D rows 16-byte aligned */
    gemm_case c = {m, n, k, round_up(k, 16), round_up(m, 4), round_up(k, 16), ceil_div(k, BLOCK), round_up(n, d_align),
                   dtype, 1};
    if (padded) {
        c.lda += 16 * rng_range(&rng, 1, 3);
        c.ldb += 16 * rng_range(&rng, 1, 3);
        c.ldsa += 4 * rng_range(&rng, 1, 3);
        c.ldsb += rng_range(&rng, 1, 3);
        c.ldd += d_align * rng_range(&rng, 1, 3);
    }
    /* Keep the fp64 reference near 2e8 multiply-adds per case. */
    int64_t work = m * n * k;
    if (work > 200000000) c.row_step = ceil_div(work, 200000000);
    return c;
}

static void check_case(const gemm_case *c, int verbose)
{
    char what[240];
    describe(what, sizeof what, c, "");
    operands ops;
    if (!make_operands(c, 0, &ops)) return;
    unsigned char *d = run_gemm(c, &ops, what);
    if (d && gemm_plant_rows_requested()) gemm_plant_row_corruption(c->m, c->n, d, c->dtype, c->ldd);
    if (d) {
        gemm_check_result r = gemm_check(c->m, c->n, c->k, ops.a, c->lda, ops.sa, c->ldsa, ops.b, c->ldb, ops.sb,
                                         c->ldsb, d, c->dtype, c->ldd, c->row_step);
        CHECK(gemm_check_passed(&r), "%s: check failed", what);
        if (!gemm_check_passed(&r)) gemm_check_print(stderr, what, &r);
        else if (verbose) gemm_check_print(stdout, what, &r);
        free(d);
    }
    free_operands(&ops);
}

/* Every combination of the small awkward sizes, every output type. */
static void test_small_shapes(void)
{
    static const int64_t sizes[] = {1, 17, 127, 128, 129};
    for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                for (int l = 0; l < 5; l++) {
                    gemm_case c = make_case(sizes[i], sizes[j], sizes[l], (fp8block_dtype)t, (i + j + l + t) % 2);
                    check_case(&c, 0);
                }
}

/* 2112 in one or two dimensions, K off the 128 grid, a long K; output types rotate. */
static void test_large_shapes(void)
{
    static const int64_t shapes[][3] = {
        {2112, 17, 129},  {17, 2112, 300},  {129, 127, 2112}, {2112, 2112, 17}, {1, 2112, 2112},
        {2112, 1, 2112},  {128, 2112, 333}, {257, 300, 1000}, {2112, 129, 129}, {3, 130, 100003},
        {300, 257, 4097}, {64, 64, 4096},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        gemm_case c = make_case(shapes[i][0], shapes[i][1], shapes[i][2], (fp8block_dtype)(i % 3), (int)(i % 2));
        check_case(&c, 1);
    }
}

static int64_t count_nan_row(const unsigned char *d, const gemm_case *c, int64_t i, int64_t *finite)
{
    int64_t nans = 0;
    for (int64_t j = 0; j < c->n; j++) {
        double v;
        size_t at = (size_t)(i * c->ldd + j) * dtype_size(c->dtype);
        if (c->dtype == FP8BLOCK_F32) {
            float f;
            memcpy(&f, d + at, 4);
            v = f;
        } else {
            uint16_t h;
            memcpy(&h, d + at, 2);
            int exponent_all_ones = c->dtype == FP8BLOCK_BF16 ? (h & 0x7f80) == 0x7f80 : (h & 0x7c00) == 0x7c00;
            int mantissa = c->dtype == FP8BLOCK_BF16 ? (h & 0x7f) != 0 : (h & 0x3ff) != 0;
            v = exponent_all_ones && mantissa ? NAN : 0.0;
        }
        if (isnan(v)) nans++;
        else (*finite)++;
    }
    return nans;
}

/* A NaN scale in A's row i makes D's row i NaN; one in B's block (nb, kb) makes the
 * columns of block nb NaN; a NaN in A's input reaches D through the quantizer. Every other
 * element still checks against the reference (gemm_check demands NaN exactly where the
 * reference is NaN). */
static void test_nan_scales(void)
{
    for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++) {
        gemm_case c = make_case(200, 300, 333, (fp8block_dtype)t, 1);
        char what[240];
        describe(what, sizeof what, &c, " with NaN scales");
        operands ops;
        if (!make_operands(&c, 0, &ops)) return;
        int64_t nan_row = 131, nan_col_block = 1;
        ops.sa[2 * c.ldsa + nan_row] = NAN;
        ops.sb[nan_col_block * c.ldsb + 0] = NAN;
        unsigned char *d = run_gemm(&c, &ops, what);
        if (d) {
            gemm_check_result r = gemm_check(c.m, c.n, c.k, ops.a, c.lda, ops.sa, c.ldsa, ops.b, c.ldb, ops.sb, c.ldsb,
                                             d, c.dtype, c.ldd, 1);
            CHECK(gemm_check_passed(&r), "%s: check failed", what);
            if (!gemm_check_passed(&r)) gemm_check_print(stderr, what, &r);
            int64_t finite = 0;
            CHECK(count_nan_row(d, &c, nan_row, &finite) == c.n, "%s: row %lld is not all NaN", what, (long long)nan_row);
            finite = 0;
            int64_t nans = count_nan_row(d, &c, 0, &finite);
            CHECK(nans == BLOCK && finite == c.n - BLOCK, "%s: row 0 has %lld NaN, want the %d of column block %lld",
                  what, (long long)nans, BLOCK, (long long)nan_col_block);
            free(d);
        }
        free_operands(&ops);

        describe(what, sizeof what, &c, " with a NaN in A's input");
        if (!make_operands(&c, 1, &ops)) return;
        d = run_gemm(&c, &ops, what);
        if (d) {
            int64_t finite = 0;
            CHECK(count_nan_row(d, &c, 0, &finite) == c.n, "%s: row 0 is not all NaN", what);
            finite = 0;
            CHECK(count_nan_row(d, &c, 1, &finite) == 0, "%s: row 1 has NaN", what);
            free(d);
        }
        free_operands(&ops);
    }
}

/* The checkers against the planted row corruption, on CPU-backend outputs: gemm_check (all
 * rows) and gemm_check_against with gemm_reference pass on the clean D and agree; after
 * gemm_plant_row_corruption both fail, on (nearly) every planted element. Shapes with one,
 * two and three 128-row tiles, the last one ragged; the three output types. */
static void test_checker_planted_rows(void)
{
    static const int64_t shapes[][3] = {{128, 64, 128}, {300, 257, 333}, {239, 130, 1000}};
    for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
        for (int s = 0; s < 3; s++) {
            gemm_case c = make_case(shapes[s][0], shapes[s][1], shapes[s][2], (fp8block_dtype)t, s % 2);
            char what[240];
            describe(what, sizeof what, &c, " planted rows");
            operands ops;
            if (!make_operands(&c, 0, &ops)) return;
            unsigned char *d = run_gemm(&c, &ops, what);
            size_t elements = (size_t)(c.m * c.n);
            double *ref = malloc(elements * sizeof *ref), *magnitude = malloc(elements * sizeof *magnitude);
            if (d && ref && magnitude) {
                CHECK(gemm_reference(c.m, c.n, c.k, ops.a, c.lda, ops.sa, c.ldsa, ops.b, c.ldb, ops.sb, c.ldsb, ref,
                                     magnitude, c.n) == 0, "%s: gemm_reference failed", what);
                gemm_check_result clean = gemm_check(c.m, c.n, c.k, ops.a, c.lda, ops.sa, c.ldsa, ops.b, c.ldb,
                                                     ops.sb, c.ldsb, d, c.dtype, c.ldd, 1);
                gemm_check_result clean_against = gemm_check_against(c.m, c.n, ref, magnitude, c.n, d, c.dtype, c.ldd);
                CHECK(gemm_check_passed(&clean) && gemm_check_passed(&clean_against), "%s: the clean D fails", what);
                CHECK(clean.elements_checked == c.m * c.n && clean_against.elements_checked == c.m * c.n &&
                          clean.max_error_ratio == clean_against.max_error_ratio &&
                          clean.rel_frobenius == clean_against.rel_frobenius,
                      "%s: gemm_check and gemm_check_against disagree on the clean D", what);

                int64_t tiles = ceil_div(c.m, BLOCK), planted_rows = 0;
                for (int64_t i = 0; i < c.m; i++) planted_rows += i % BLOCK >= 100 && i % BLOCK <= 109;
                int64_t planted = gemm_plant_row_corruption(c.m, c.n, d, c.dtype, c.ldd);
                CHECK(planted == planted_rows * c.n && planted > 0, "%s: %lld elements planted, want %lld", what,
                      (long long)planted, (long long)(planted_rows * c.n));
                gemm_check_result r = gemm_check(c.m, c.n, c.k, ops.a, c.lda, ops.sa, c.ldsa, ops.b, c.ldb, ops.sb,
                                                 c.ldsb, d, c.dtype, c.ldd, 1);
                gemm_check_result ra = gemm_check_against(c.m, c.n, ref, magnitude, c.n, d, c.dtype, c.ldd);
                /* ×1.5 of a value is off by half of it: only values within ~2 bounds of 0 can pass. */
                CHECK(!gemm_check_passed(&r) && !gemm_check_passed(&ra) && r.violations == ra.violations &&
                          r.violations >= planted * 9 / 10 && r.violations <= planted,
                      "%s: the planted corruption gave %lld / %lld violations of %lld planted", what,
                      (long long)r.violations, (long long)ra.violations, (long long)planted);
                CHECK(r.first_bad_row == 100, "%s: the first violation is in row %lld, want 100", what,
                      (long long)r.first_bad_row);
                printf("%s (%lld tile%s): %lld of %lld planted elements caught by gemm_check, %lld by "
                       "gemm_check_against\n", what, (long long)tiles, tiles > 1 ? "s" : "", (long long)r.violations,
                       (long long)planted, (long long)ra.violations);
            }
            free(ref), free(magnitude), free(d);
            free_operands(&ops);
        }
}

/* The GEMM reads its operands and must leave them as they were. */
static void test_inputs_unchanged(void)
{
    gemm_case c = make_case(129, 130, 300, FP8BLOCK_BF16, 1);
    operands ops;
    if (!make_operands(&c, 0, &ops)) return;
    size_t a_bytes = (size_t)(c.m * c.lda), b_bytes = (size_t)(c.n * c.ldb);
    size_t sa_bytes = (size_t)(ceil_div(c.k, BLOCK) * c.ldsa) * 4, sb_bytes = (size_t)(ceil_div(c.n, BLOCK) * c.ldsb) * 4;
    unsigned char *copy = malloc(a_bytes + b_bytes + sa_bytes + sb_bytes);
    memcpy(copy, ops.a, a_bytes);
    memcpy(copy + a_bytes, ops.b, b_bytes);
    memcpy(copy + a_bytes + b_bytes, ops.sa, sa_bytes);
    memcpy(copy + a_bytes + b_bytes + sa_bytes, ops.sb, sb_bytes);
    unsigned char *d = run_gemm(&c, &ops, "gemm inputs unchanged");
    CHECK(memcmp(copy, ops.a, a_bytes) == 0 && memcmp(copy + a_bytes, ops.b, b_bytes) == 0 &&
              memcmp(copy + a_bytes + b_bytes, ops.sa, sa_bytes) == 0 &&
              memcmp(copy + a_bytes + b_bytes + sa_bytes, ops.sb, sb_bytes) == 0,
          "the GEMM modified its inputs");
    free(d);
    free(copy);
    free_operands(&ops);
}

int main(void)
{
    rng_seed(&rng, 977);
    fp8block_status st = fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        return 1;
    }
    test_small_shapes();
    test_large_shapes();
    test_nan_scales();
    test_inputs_unchanged();
    test_checker_planted_rows();
    fp8block_destroy(ctx);
    return test_finish("test_gemm_cpu");
}
