/* See gemm_epilogue_contract.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_epilogue_contract.h"
#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"

#define POISON 0xff /* NaN in every output type: an element left unwritten cannot pass */
#define GUARD GEMM_EPILOGUE_GUARD

typedef struct {
    int64_t m, n, k;
} shape;

/* From {2101, 2100, 200} on the shapes plan to 128-wide tiles on the GPU, where E4M3 is
 * quantized in the kernel's epilogue: 128x128 pairs with stream-K, 192x128 pairs sharing A,
 * 256x128 pairs (the 16-bit plan, which E4M3 takes where the F32 plan, 128x128, cuts no K),
 * then 128x128 and 64x128 single CTAs where the F32 plan's 64-wide tiles cut no K (E4M3 widens
 * them), with ragged edges (N % 16 and N % 128 not 0, M not a multiple of the tile, K not of
 * 128). {100, 7200, 640} and {40, 12000, 200} take 128x64 and 64x64 pairs along N sharing A,
 * each pair one scale block (a 57th pair half past N; 94 pairs on 47 clusters, two units
 * each). The others plan to narrower tiles. */
static const shape SHAPES[] = {
    {1, 17, 127},      {17, 129, 300},   {127, 1, 129},     {128, 128, 128},  {129, 255, 2112},
    {64, 2112, 333},   {2112, 130, 17},  {3, 300, 1000},    {257, 384, 256},  {100, 7200, 640},
    {40, 12000, 200},  {2101, 2100, 200}, {2100, 1030, 256}, {2048, 1856, 129}, {100, 17000, 300},
    {40, 17000, 200},
};

typedef struct {
    fp8block_dtype d;
    int has_c;
    fp8block_dtype c;
    int has_bias;
    fp8block_dtype bias;
    unsigned flags; /* E4M3 D: d_scale_flags */
    int in_place;   /* C is D */
} variant;

static const variant VARIANTS[] = {
    {FP8BLOCK_E4M3, 0, 0, 0, 0, 0, 0},
    {FP8BLOCK_E4M3, 0, 0, 0, 0, FP8BLOCK_SCALE_POW2, 0},
    {FP8BLOCK_E4M3, 1, FP8BLOCK_BF16, 1, FP8BLOCK_F32, 0, 0},
    {FP8BLOCK_E4M3, 1, FP8BLOCK_F32, 0, 0, FP8BLOCK_SCALE_POW2, 0},
    {FP8BLOCK_E4M3, 0, 0, 1, FP8BLOCK_BF16, 0, 0},
    {FP8BLOCK_F32, 1, FP8BLOCK_F32, 1, FP8BLOCK_F16, 0, 1},
    {FP8BLOCK_F32, 1, FP8BLOCK_F16, 0, 0, 0, 0},
    {FP8BLOCK_BF16, 1, FP8BLOCK_F16, 1, FP8BLOCK_BF16, 0, 0},
    {FP8BLOCK_BF16, 1, FP8BLOCK_BF16, 0, 0, 0, 1},
    {FP8BLOCK_F16, 1, FP8BLOCK_BF16, 1, FP8BLOCK_F32, 0, 0},
    {FP8BLOCK_F16, 0, 0, 1, FP8BLOCK_F16, 0, 0},
    /* a bias alone in the other two types (the GPU's bias kernels load fp32 pairs 8 bytes wide) */
    {FP8BLOCK_BF16, 0, 0, 1, FP8BLOCK_F32, 0, 0},
    {FP8BLOCK_F32, 0, 0, 1, FP8BLOCK_BF16, 0, 0},
};

static const char *dtype_name(fp8block_dtype t)
{
    static const char *const names[] = {"F32", "BF16", "F16", "E4M3"};
    return (unsigned)t < 4 ? names[t] : "?";
}

static size_t elem_size(fp8block_dtype t) { return t == FP8BLOCK_F32 ? 4 : t == FP8BLOCK_E4M3 ? 1 : 2; }

/* The smallest ld >= n whose rows are 16-byte aligned, plus one more 16 bytes of padding. */
static int64_t padded_ld(int64_t n, fp8block_dtype t)
{
    int64_t unit = 16 / (int64_t)elem_size(t);
    return (n + unit - 1) / unit * unit + unit;
}

static void *alloc_poisoned(size_t bytes)
{
    unsigned char *p = aligned_alloc(64, (bytes + GUARD + 63) / 64 * 64);
    if (p) memset(p, POISON, bytes + GUARD);
    return p;
}

static float load(const void *row, fp8block_dtype t, int64_t j)
{
    if (t == FP8BLOCK_F32) return ((const float *)row)[j];
    uint16_t h = ((const uint16_t *)row)[j];
    return (float)(t == FP8BLOCK_BF16 ? ref_bf16_to_f64(h) : ref_f16_to_f64(h));
}

static void store(void *row, fp8block_dtype t, int64_t j, float v)
{
    if (t == FP8BLOCK_F32) ((float *)row)[j] = v;
    else ((uint16_t *)row)[j] = t == FP8BLOCK_BF16 ? ref_bf16_from_f32(v) : ref_f16_from_f32(v);
}

/* v rounded to t and back: what a C of dtype t holds. */
static float as_dtype(float v, fp8block_dtype t)
{
    uint16_t h;
    if (t == FP8BLOCK_F32) return v;
    store(&h, t, 0, v);
    return load(&h, t, 0);
}

/* Distance in representable 16-bit values (sign-magnitude order); 0 for equal bits. */
static int64_t ulp_distance16(uint16_t x, uint16_t y)
{
    int64_t a = x & 0x8000 ? -(int64_t)(x & 0x7fff) : (int64_t)x;
    int64_t b = y & 0x8000 ? -(int64_t)(y & 0x7fff) : (int64_t)y;
    return a > b ? a - b : b - a;
}

static float *random_values(rng_state *rng, int64_t count, double scale)
{
    float *v = malloc((size_t)count * sizeof *v);
    for (int64_t i = 0; i < count; i++) v[i] = (float)(scale * rng_normal(rng) * ldexp(1.0, (int)(i / 128 % 7) - 3));
    return v;
}

typedef struct {
    int64_t m, n, k, lda, ldsa, ldb, ldsb;
    uint8_t *a, *b;
    float *sa, *sb;
    float *c_values, *bias_values; /* fp32 sources, rounded to each variant's dtype */
    float *plain;                  /* the backend's F32 D without C or bias, ld ldp */
    int64_t ldp;                   /* n rounded up to 4 (16-byte rows) */
} problem;

/* Buffers outside the problem are freed by the caller. */
static fp8block_status run_desc(const gemm_epilogue_backend *be, const fp8block_gemm_desc *g,
                                const problem *p, size_t c_bytes, size_t bias_bytes)
{
    gemm_buffer_sizes sizes = {(size_t)(p->m * p->lda), (size_t)(((p->k + 127) / 128) * p->ldsa) * 4,
                               (size_t)(p->n * p->ldb), (size_t)(((p->n + 127) / 128) * p->ldsb) * 4,
                               (size_t)(p->m * g->ldd) * elem_size(g->d_dtype),
                               g->sd ? (size_t)(((p->n + 127) / 128) * g->ldsd) * 4 : 0, c_bytes, bias_bytes};
    return be->run(be->user, g, &sizes);
}

static fp8block_gemm_desc base_desc(const problem *p)
{
    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = p->m, g.n = p->n, g.k = p->k;
    g.a = p->a, g.lda = p->lda, g.sa = p->sa, g.ldsa = p->ldsa;
    g.b = p->b, g.ldb = p->ldb, g.sb = p->sb, g.ldsb = p->ldsb;
    return g;
}

/* Bytes past each row's n elements, and the guard after the buffer, still poisoned. */
static int64_t padding_written(const unsigned char *buf, int64_t rows, int64_t ld, int64_t n, size_t elem)
{
    int64_t touched = 0;
    for (int64_t r = 0; r < rows; r++)
        for (size_t byte = (size_t)n * elem; byte < (size_t)ld * elem; byte++)
            touched += buf[(size_t)(r * ld) * elem + byte] != POISON;
    for (size_t byte = (size_t)(rows * ld) * elem; byte < (size_t)(rows * ld) * elem + GUARD; byte++)
        touched += buf[byte] != POISON;
    return touched;
}

static void run_variant(const gemm_epilogue_backend *be, const problem *p, const variant *v, const char *label)
{
    const int64_t m = p->m, n = p->n;
    fp8block_gemm_desc g = base_desc(p);
    g.d_dtype = v->d, g.ldd = padded_ld(n, v->d);
    const size_t d_elem = elem_size(v->d), d_bytes = (size_t)(m * g.ldd) * d_elem;
    unsigned char *d = alloc_poisoned(d_bytes), *c = NULL, *bias = NULL, *sd = NULL;
    g.d = d;
    size_t c_bytes = 0, bias_bytes = 0;
    if (v->has_c) {
        g.c_dtype = v->c, g.ldc = v->in_place ? g.ldd : padded_ld(n, v->c) + 16 / (int64_t)elem_size(v->c);
        c_bytes = (size_t)(m * g.ldc) * elem_size(v->c);
        c = v->in_place ? d : alloc_poisoned(c_bytes);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) store(c + (size_t)(i * g.ldc) * elem_size(v->c), v->c, j, p->c_values[i * n + j]);
        g.c = c;
    }
    if (v->has_bias) {
        bias_bytes = (size_t)n * elem_size(v->bias);
        bias = alloc_poisoned(bias_bytes);
        for (int64_t j = 0; j < n; j++) store(bias, v->bias, j, p->bias_values[j]);
        g.bias = bias, g.bias_dtype = v->bias;
    }
    const int64_t sd_rows = (n + 127) / 128, ldsd = (m + 3) / 4 * 4 + 4;
    if (v->d == FP8BLOCK_E4M3) {
        sd = alloc_poisoned((size_t)(sd_rows * ldsd) * 4);
        g.sd = (float *)sd, g.ldsd = ldsd, g.d_scale_flags = v->flags;
    }
    fp8block_status st = run_desc(be, &g, p, c_bytes, bias_bytes);
    CHECK(st == FP8BLOCK_OK, "%s: status %s: %s", label, fp8block_status_string(st), fp8block_last_error(be->ctx));
    if (st != FP8BLOCK_OK) goto done;
    int64_t touched = padding_written(d, m, g.ldd, n, d_elem);
    CHECK(touched == 0, "%s: %lld padding or guard bytes of D written", label, (long long)touched);

    int64_t differ = 0, worst = 0, first_i = -1, first_j = -1;
    if (v->d != FP8BLOCK_E4M3) {
        /* round(fl(fl(acc + C) + bias)), acc = the plain F32 D; C read before D was written. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float want = p->plain[i * p->ldp + j];
                if (v->has_c) want += as_dtype(p->c_values[i * n + j], v->c);
                if (v->has_bias) want += load(bias, v->bias, j);
                const unsigned char *row = d + (size_t)(i * g.ldd) * d_elem;
                int64_t dist;
                if (v->d == FP8BLOCK_F32) {
                    float got = ((const float *)row)[j];
                    dist = memcmp(&got, &want, 4) != 0 ? INT64_MAX : 0;
                } else {
                    uint16_t got = ((const uint16_t *)row)[j], w = 0;
                    store(&w, v->d, 0, want);
                    dist = ulp_distance16(got, w);
                    if (dist > be->ulps) dist = INT64_MAX;
                }
                if (dist) {
                    if (!differ++) first_i = i, first_j = j;
                    if (dist > worst) worst = dist;
                }
            }
        CHECK(worst != INT64_MAX, "%s: %lld elements differ from round((acc + C) + bias), first at [%lld][%lld]", label,
              (long long)differ, (long long)first_i, (long long)first_j);
    } else {
        /* The literal contract: the backend's F32 D of the same descriptor, quantized 1x128. */
        fp8block_gemm_desc f32 = g;
        f32.d_dtype = FP8BLOCK_F32, f32.ldd = p->ldp, f32.sd = NULL, f32.ldsd = 0, f32.d_scale_flags = 0;
        float *ref = alloc_poisoned((size_t)(m * p->ldp) * 4);
        uint8_t *q = alloc_poisoned((size_t)(m * g.ldd));
        float *s = alloc_poisoned((size_t)(sd_rows * ldsd) * 4);
        f32.d = ref;
        st = run_desc(be, &f32, p, c_bytes, bias_bytes);
        CHECK(st == FP8BLOCK_OK, "%s: F32 reference: %s", label, fp8block_last_error(be->ctx));
        if (st == FP8BLOCK_OK)
            st = fp8block_quantize_ex(be->host_ctx, FP8BLOCK_BLOCK_1x128, v->flags, ref, FP8BLOCK_F32, m, n, p->ldp, q,
                                      g.ldd, s, ldsd, NULL);
        CHECK(st == FP8BLOCK_OK, "%s: quantizing the F32 reference: %s", label, fp8block_last_error(be->host_ctx));
        if (st == FP8BLOCK_OK) {
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++)
                    if (d[i * g.ldd + j] != q[i * g.ldd + j] && !differ++) first_i = i, first_j = j;
            CHECK(differ == 0, "%s: %lld codes differ from quantize_1x128(F32 D), first at [%lld][%lld]: %02x vs %02x",
                  label, (long long)differ, (long long)first_i, (long long)first_j,
                  differ ? d[first_i * g.ldd + first_j] : 0, differ ? q[first_i * g.ldd + first_j] : 0);
            int64_t scales_differ = 0;
            for (int64_t b = 0; b < sd_rows; b++)
                scales_differ += memcmp((float *)sd + b * ldsd, s + b * ldsd, (size_t)m * 4) != 0;
            CHECK(scales_differ == 0, "%s: %lld scale rows differ from quantize_1x128(F32 D)", label,
                  (long long)scales_differ);
            int64_t sd_touched = padding_written(sd, sd_rows, ldsd, m, 4);
            CHECK(sd_touched == 0, "%s: %lld padding or guard bytes of sd written", label, (long long)sd_touched);
        }
        free(ref), free(q), free(s);
    }
done:
    free(d);
    if (!v->in_place) free(c);
    free(bias), free(sd);
}

/* The backend's F32 D of p without C or bias, into p->plain; 1 on success. */
static int run_plain(const gemm_epilogue_backend *be, problem *p)
{
    fp8block_gemm_desc g = base_desc(p);
    g.d = p->plain, g.d_dtype = FP8BLOCK_F32, g.ldd = p->ldp;
    fp8block_status st = run_desc(be, &g, p, 0, 0);
    CHECK(st == FP8BLOCK_OK, "%lldx%lldx%lld plain F32: %s", (long long)p->m, (long long)p->n, (long long)p->k,
          fp8block_last_error(be->ctx));
    return st == FP8BLOCK_OK;
}

static int make_problem(const gemm_epilogue_backend *be, rng_state *rng, shape sh, problem *p)
{
    memset(p, 0, sizeof *p);
    p->m = sh.m, p->n = sh.n, p->k = sh.k;
    p->lda = (sh.k + 15) / 16 * 16 + 16, p->ldb = (sh.k + 15) / 16 * 16;
    p->ldsa = (sh.m + 3) / 4 * 4 + 4, p->ldsb = (sh.k + 127) / 128 + 1;
    const int64_t kb = (sh.k + 127) / 128, nb = (sh.n + 127) / 128;
    p->a = alloc_poisoned((size_t)(sh.m * p->lda)), p->b = alloc_poisoned((size_t)(sh.n * p->ldb));
    p->sa = alloc_poisoned((size_t)(kb * p->ldsa) * 4), p->sb = alloc_poisoned((size_t)(nb * p->ldsb) * 4);
    float *x = random_values(rng, sh.m * sh.k, 1.0), *w = random_values(rng, sh.n * sh.k, 1.0);
    fp8block_status st = fp8block_quantize_1x128(be->host_ctx, x, FP8BLOCK_F32, sh.m, sh.k, sh.k, p->a, p->lda,
                                                 p->sa, p->ldsa, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_quantize_128x128(be->host_ctx, w, FP8BLOCK_F32, sh.n, sh.k, sh.k, p->b, p->ldb, p->sb, p->ldsb,
                                       NULL);
    free(x), free(w);
    CHECK(st == FP8BLOCK_OK, "quantizing the operands: %s", fp8block_last_error(be->host_ctx));
    if (st != FP8BLOCK_OK) return 0;
    p->c_values = random_values(rng, sh.m * sh.n, 8.0);
    p->bias_values = random_values(rng, sh.n, 4.0);
    p->ldp = (sh.n + 3) / 4 * 4;
    p->plain = alloc_poisoned((size_t)(sh.m * p->ldp) * 4);
    return run_plain(be, p);
}

static void free_problem(problem *p)
{
    free(p->a), free(p->b), free(p->sa), free(p->sb), free(p->c_values), free(p->bias_values), free(p->plain);
}

/* Non-finite D (docs/DESIGN.md §1.6: a scale block holding NaN or Inf has a NaN scale): A's row
 * 3 holds a NaN code and row 7's scale of K block 1 is +Inf, so those rows of D are NaN or +-Inf
 * in every column (B is random and nonzero). Only E4M3 D is compared (bit for bit against
 * quantize_1x128 of the backend's F32 D, NaN scales included): a NaN's payload in 16-bit or F32
 * D is the hardware's, not the contract's. 130 rows by 300 columns: two tiles of rows, a partial
 * last scale block. */
static void run_nonfinite(const gemm_epilogue_backend *be, rng_state *rng)
{
    const shape sh = {130, 300, 256};
    problem p;
    if (!make_problem(be, rng, sh, &p)) {
        free_problem(&p);
        return;
    }
    p.a[3 * p.lda + 5] = 0x7f;           /* e4m3 NaN */
    p.sa[1 * p.ldsa + 7] = INFINITY;     /* row 7, K block 1 */
    const int ran = run_plain(be, &p);
    int64_t finite = 0;
    for (int64_t j = 0; j < p.n; j++) finite += isfinite(p.plain[3 * p.ldp + j]) + isfinite(p.plain[7 * p.ldp + j]);
    CHECK(ran && finite == 0, "non-finite rows of D: %lld finite elements", (long long)finite);
    int checked = 0;
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0] && !be->skip_e4m3; i++) {
        const variant *v = &VARIANTS[i];
        if (v->d != FP8BLOCK_E4M3) continue;
        char label[200];
        snprintf(label, sizeof label, "%s %lldx%lldx%lld non-finite rows, D E4M3%s%s%s", be->name, (long long)p.m,
                 (long long)p.n, (long long)p.k, v->flags ? " pow2" : "", v->has_c ? " + C" : "",
                 v->has_bias ? " + bias" : "");
        run_variant(be, &p, v, label);
        checked++;
    }
    printf("%s %lldx%lldx%lld with NaN and Inf rows: %d E4M3 variants checked\n", be->name, (long long)p.m,
           (long long)p.n, (long long)p.k, checked);
    free_problem(&p);
}

/* FP8BLOCK_TEST_SMALL=1 (compute-sanitizer runs): the shapes before the large ones. */
enum { SMALL_SHAPES = 11 };

void gemm_epilogue_contract_run(const gemm_epilogue_backend *be, unsigned long long seed)
{
    rng_state rng;
    rng_seed(&rng, seed);
    const char *small = getenv("FP8BLOCK_TEST_SMALL");
    const size_t shapes = small && small[0] == '1' ? SMALL_SHAPES : sizeof SHAPES / sizeof SHAPES[0];
    for (size_t s = 0; s < shapes; s++) {
        problem p;
        if (make_problem(be, &rng, SHAPES[s], &p)) {
            int skipped = 0;
            for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++) {
                const variant *v = &VARIANTS[i];
                if (be->skip_e4m3 && v->d == FP8BLOCK_E4M3) {
                    skipped++;
                    continue;
                }
                char label[200];
                snprintf(label, sizeof label, "%s %lldx%lldx%lld D %s%s%s%s%s%s%s", be->name, (long long)p.m,
                         (long long)p.n, (long long)p.k, dtype_name(v->d), v->flags ? " pow2" : "",
                         v->has_c ? " + C " : "", v->has_c ? dtype_name(v->c) : "", v->in_place ? " (in place)" : "",
                         v->has_bias ? " + bias " : "", v->has_bias ? dtype_name(v->bias) : "");
                run_variant(be, &p, v, label);
            }
            printf("%s %lldx%lldx%lld: %zu epilogue variants checked%s\n", be->name, (long long)p.m, (long long)p.n,
                   (long long)p.k, sizeof VARIANTS / sizeof VARIANTS[0] - (size_t)skipped,
                   skipped ? " (E4M3 output not run: not built on this backend)" : "");
        }
        free_problem(&p);
    }
    run_nonfinite(be, &rng);
}
