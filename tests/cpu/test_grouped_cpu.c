/* The grouped (mixture-of-experts) GEMM on the CPU backend (docs/DESIGN.md §1.8): each group's
 * rows of D equal, byte for byte, a plain GEMM of that group's rows of A with its expert's B;
 * rows outside every group (past the last offset, past a masked group's count) keep their
 * poison. Contiguous and masked layouts, G in {1, 4, 8, 32, 256}, group sizes 0, 1, 17, 127,
 * 128, 129 and uneven, every output type (E4M3 with its scales), with C and bias on some. Bad
 * group data answers INVALID_ARGUMENT and writes nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "testutil.h"

#define POISON 0xff

static fp8block_ctx *ctx;
static rng_state rng;

typedef struct {
    int64_t groups, n, k, ldb, ldsb, stride_b, stride_sb;
    uint8_t *b;
    float *sb;
} experts;

static float *random_values(int64_t count)
{
    float *v = malloc((size_t)count * sizeof *v);
    for (int64_t i = 0; i < count; i++) v[i] = (float)ldexp(rng_normal(&rng), (int)(i / 128 % 5) - 2);
    return v;
}

static experts make_experts(int64_t groups, int64_t n, int64_t k)
{
    experts e = {groups, n, k, (k + 15) / 16 * 16, (k + 127) / 128 + 1, 0, 0, NULL, NULL};
    e.stride_b = n * e.ldb + 32, e.stride_sb = ((n + 127) / 128) * e.ldsb + 3;
    e.b = aligned_alloc(64, (size_t)(groups * e.stride_b + 64) / 64 * 64 + 64);
    e.sb = malloc((size_t)(groups * e.stride_sb) * sizeof(float));
    for (int64_t g = 0; g < groups; g++) {
        float *w = random_values(n * k);
        fp8block_status st = fp8block_quantize_128x128(ctx, w, FP8BLOCK_F32, n, k, k, e.b + g * e.stride_b, e.ldb,
                                                       e.sb + g * e.stride_sb, e.ldsb, NULL);
        CHECK(st == FP8BLOCK_OK, "quantizing expert %lld: %s", (long long)g, fp8block_last_error(ctx));
        free(w);
    }
    return e;
}

static size_t elem_size(fp8block_dtype t) { return t == FP8BLOCK_F32 ? 4 : t == FP8BLOCK_E4M3 ? 1 : 2; }

/* One grouped call against per-group plain calls. rows: A's and D's rows (m); group_rows
 * as the layout wants it. */
static void check_grouped(fp8block_group_layout layout, const experts *e, int64_t m, const int32_t *group_rows,
                          int64_t max_m, fp8block_dtype dtype, int with_c_bias, const char *what)
{
    const int64_t k = e->k, n = e->n, lda = e->ldb, ldsa = (m + 3) / 4 * 4 + 4;
    const int64_t ldd = (n + 15) / 16 * 16 + 16, ldsd = ldsa, kb = (k + 127) / 128, nb = (n + 127) / 128;
    float *x = random_values(m * k);
    uint8_t *a = aligned_alloc(64, (size_t)(m * lda + 64) / 64 * 64 + 64);
    float *sa = aligned_alloc(64, (size_t)(kb * ldsa * 4 + 64) / 64 * 64);
    fp8block_status st = fp8block_quantize_1x128(ctx, x, FP8BLOCK_F32, m, k, k, a, lda, sa, ldsa, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: quantizing A: %s", what, fp8block_last_error(ctx));
    const size_t d_bytes = (size_t)(m * ldd) * elem_size(dtype), sd_bytes = (size_t)(nb * ldsd) * 4;
    unsigned char *d = aligned_alloc(64, (d_bytes + 63) / 64 * 64), *want = aligned_alloc(64, (d_bytes + 63) / 64 * 64);
    float *sd = aligned_alloc(64, (sd_bytes + 63) / 64 * 64), *want_sd = aligned_alloc(64, (sd_bytes + 63) / 64 * 64);
    memset(d, POISON, d_bytes), memset(want, POISON, d_bytes), memset(sd, POISON, sd_bytes), memset(want_sd, POISON, sd_bytes);
    float *c = with_c_bias ? aligned_alloc(64, (size_t)(m * ldd * 4 + 63) / 64 * 64) : NULL;
    float *bias = with_c_bias ? aligned_alloc(64, (size_t)(n * 4 + 63) / 64 * 64) : NULL;
    for (int64_t i = 0; c && i < m * ldd; i++) c[i] = (float)(i % 11) - 5.0f;
    for (int64_t j = 0; bias && j < n; j++) bias[j] = 0.25f * (float)(j % 7);

    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.sa = sa, g.ldsa = ldsa;
    g.b = e->b, g.ldb = e->ldb, g.sb = e->sb, g.ldsb = e->ldsb;
    g.d = d, g.d_dtype = dtype, g.ldd = ldd;
    if (dtype == FP8BLOCK_E4M3) g.sd = sd, g.ldsd = ldsd;
    if (c) g.c = c, g.c_dtype = FP8BLOCK_F32, g.ldc = ldd, g.bias = bias, g.bias_dtype = FP8BLOCK_F32;
    g.group_layout = layout, g.groups = e->groups, g.group_rows = group_rows, g.max_m = max_m;
    g.group_stride_b = e->stride_b, g.group_stride_sb = e->stride_sb;
    st = fp8block_gemm_ex(ctx, &g, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(ctx));

    int64_t rows_in_groups = 0;
    for (int64_t gi = 0; gi < e->groups; gi++) {
        const int64_t r0 = layout == FP8BLOCK_GROUPS_MASKED ? gi * max_m : group_rows[gi];
        const int64_t rows = layout == FP8BLOCK_GROUPS_MASKED ? group_rows[gi] : group_rows[gi + 1] - r0;
        rows_in_groups += rows;
        if (!rows) continue;
        fp8block_gemm_desc one = g;
        one.group_layout = FP8BLOCK_GROUPS_NONE, one.groups = 0, one.group_rows = NULL, one.max_m = 0;
        one.group_stride_b = one.group_stride_sb = 0;
        /* the group's A scales, copied: sa + r0 is not 16-byte aligned for every r0 */
        const int64_t ldsg = (rows + 3) / 4 * 4;
        float *sa_group = aligned_alloc(64, (size_t)(kb * ldsg * 4 + 63) / 64 * 64);
        for (int64_t b = 0; b < kb; b++) memcpy(sa_group + b * ldsg, sa + b * ldsa + r0, (size_t)rows * 4);
        one.m = rows, one.a = a + r0 * lda, one.sa = sa_group, one.ldsa = ldsg;
        one.b = e->b + gi * e->stride_b, one.sb = e->sb + gi * e->stride_sb;
        one.d = want + (size_t)(r0 * ldd) * elem_size(dtype);
        float *sd_group = aligned_alloc(64, (size_t)(nb * ldsg * 4 + 63) / 64 * 64); /* as sa_group */
        if (dtype == FP8BLOCK_E4M3) one.sd = sd_group, one.ldsd = ldsg;
        if (c) one.c = c + r0 * ldd;
        st = fp8block_gemm_ex(ctx, &one, NULL);
        CHECK(st == FP8BLOCK_OK, "%s: group %lld alone: %s", what, (long long)gi, fp8block_last_error(ctx));
        for (int64_t b = 0; st == FP8BLOCK_OK && dtype == FP8BLOCK_E4M3 && b < nb; b++)
            memcpy(want_sd + b * ldsd + r0, sd_group + b * ldsg, (size_t)rows * 4);
        free(sa_group), free(sd_group);
    }
    const int same = memcmp(d, want, d_bytes) == 0 && memcmp(sd, want_sd, sd_bytes) == 0;
    CHECK(same, "%s: D or sd differs from the per-group GEMMs' (or a row outside the groups was written)", what);
    printf("%s: %lld groups, %lld of %lld rows in groups: %s\n", what, (long long)e->groups,
           (long long)rows_in_groups, (long long)m, same ? "ok" : "DIFFERENT");
    free(x), free(a), free(sa), free(d), free(want), free(sd), free(want_sd), free(c), free(bias);
}

static int64_t random_size(void)
{
    static const int64_t sizes[] = {0, 1, 17, 127, 128, 129};
    return rng_range(&rng, 0, 3) ? sizes[rng_range(&rng, 0, 5)] : rng_range(&rng, 2, 300);
}

static void check_bad_group_data(const experts *e)
{
    const int64_t m = 64, k = e->k, n = e->n, lda = e->ldb, ldd = (n + 7) / 8 * 8;
    uint8_t *a = aligned_alloc(64, (size_t)(m * lda + 63) / 64 * 64);
    float *sa = aligned_alloc(64, (size_t)(((k + 127) / 128) * m * 4 + 63) / 64 * 64);
    memset(a, 0x38, (size_t)(m * lda)); /* 1.0 */
    for (int64_t i = 0; i < ((k + 127) / 128) * m; i++) sa[i] = 1.0f;
    unsigned char *d = aligned_alloc(64, (size_t)(m * ldd * 2 + 63) / 64 * 64);
    memset(d, POISON, (size_t)(m * ldd * 2));
    const int32_t backwards[] = {0, 40, 30, 64, 64}, past_m[] = {0, 10, 20, 30, 65}, negative[] = {-1, 10, 20, 30, 40};
    const int32_t counts_over[] = {16, 17, 0, 16}, counts_negative[] = {16, -1, 0, 16};
    const int32_t fine[] = {0, 10, 20, 30, 40};
    struct {
        const char *what;
        fp8block_group_layout layout;
        const int32_t *rows;
        int64_t m, max_m, stride_b;
    } cases[] = {
        {"offsets going back", FP8BLOCK_GROUPS_CONTIGUOUS, backwards, m, 0, e->stride_b},
        {"last offset past m", FP8BLOCK_GROUPS_CONTIGUOUS, past_m, m, 0, e->stride_b},
        {"negative offset", FP8BLOCK_GROUPS_CONTIGUOUS, negative, m, 0, e->stride_b},
        {"max_m with the contiguous layout", FP8BLOCK_GROUPS_CONTIGUOUS, past_m, m, 16, e->stride_b},
        {"a count above max_m", FP8BLOCK_GROUPS_MASKED, counts_over, m, 16, e->stride_b},
        {"a negative count", FP8BLOCK_GROUPS_MASKED, counts_negative, m, 16, e->stride_b},
        {"m != groups*max_m", FP8BLOCK_GROUPS_MASKED, counts_over, m, 15, e->stride_b},
        {"negative group_stride_b", FP8BLOCK_GROUPS_CONTIGUOUS, backwards, m, 0, -1},
        /* the GPU's rule on every backend (§1.8): expert 1's B starting inside expert 0's */
        {"experts' B overlapping", FP8BLOCK_GROUPS_CONTIGUOUS, fine, m, 0, 16},
        {"group_rows NULL", FP8BLOCK_GROUPS_MASKED, NULL, m, 16, e->stride_b},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
        g.m = cases[i].m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.sa = sa, g.ldsa = m;
        g.b = e->b, g.ldb = e->ldb, g.sb = e->sb, g.ldsb = e->ldsb, g.d = d, g.d_dtype = FP8BLOCK_BF16, g.ldd = ldd;
        g.group_layout = cases[i].layout, g.groups = 4, g.group_rows = cases[i].rows, g.max_m = cases[i].max_m;
        g.group_stride_b = cases[i].stride_b, g.group_stride_sb = e->stride_sb;
        fp8block_status st = fp8block_gemm_ex(ctx, &g, NULL);
        CHECK(st == FP8BLOCK_ERR_INVALID_ARGUMENT, "%s: %s (%s)", cases[i].what, fp8block_status_string(st),
              fp8block_last_error(ctx));
        printf("bad group data, %s: %s\n", cases[i].what, fp8block_last_error(ctx));
    }
    {   /* a stride TMA cannot load from, on every backend: MISALIGNED */
        fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
        g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.sa = sa, g.ldsa = m;
        g.b = e->b, g.ldb = e->ldb, g.sb = e->sb, g.ldsb = e->ldsb, g.d = d, g.d_dtype = FP8BLOCK_BF16, g.ldd = ldd;
        g.group_layout = FP8BLOCK_GROUPS_CONTIGUOUS, g.groups = 4, g.group_rows = fine;
        g.group_stride_b = e->stride_b + 8, g.group_stride_sb = e->stride_sb;
        fp8block_status st = fp8block_gemm_ex(ctx, &g, NULL);
        CHECK(st == FP8BLOCK_ERR_MISALIGNED && strstr(fp8block_last_error(ctx), "group_stride_b"),
              "group_stride_b not a multiple of 16: %s (%s)", fp8block_status_string(st), fp8block_last_error(ctx));
    }
    int64_t written = 0;
    for (int64_t i = 0; i < m * ldd * 2; i++) written += d[i] != POISON;
    CHECK(written == 0, "a refused grouped call wrote %lld bytes of D", (long long)written);
    free(a), free(sa), free(d);
}

int main(void)
{
    rng_seed(&rng, 1818);
    if (fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) return 1;
    static const int64_t group_counts[] = {1, 4, 8, 32, 256};
    static const fp8block_dtype dtypes[] = {FP8BLOCK_BF16, FP8BLOCK_F32, FP8BLOCK_E4M3, FP8BLOCK_F16, FP8BLOCK_BF16};
    for (size_t t = 0; t < sizeof group_counts / sizeof group_counts[0]; t++) {
        const int64_t groups = group_counts[t], n = groups >= 32 ? 72 : 257, k = groups >= 32 ? 129 : 300;
        experts e = make_experts(groups, n, k);
        char what[128];
        /* contiguous: random sizes, then 5 rows past the last group that no group owns */
        int32_t *offsets = malloc((size_t)(groups + 1) * sizeof *offsets);
        offsets[0] = 0;
        for (int64_t g = 0; g < groups; g++) offsets[g + 1] = offsets[g] + (int32_t)(groups >= 32 ? random_size() % 40 : random_size());
        const int64_t m = offsets[groups] + 5;
        snprintf(what, sizeof what, "contiguous G=%lld", (long long)groups);
        check_grouped(FP8BLOCK_GROUPS_CONTIGUOUS, &e, m, offsets, 0, dtypes[t], t % 2, what);
        /* masked: G blocks of max_m rows, counts up to max_m */
        const int64_t max_m = groups >= 32 ? 24 : 130;
        int32_t *counts = malloc((size_t)groups * sizeof *counts);
        for (int64_t g = 0; g < groups; g++) counts[g] = (int32_t)rng_range(&rng, 0, max_m);
        if (groups > 1) counts[0] = 0, counts[1] = (int32_t)max_m;
        snprintf(what, sizeof what, "masked G=%lld", (long long)groups);
        check_grouped(FP8BLOCK_GROUPS_MASKED, &e, groups * max_m, counts, max_m, dtypes[(t + 2) % 5], (t + 1) % 2, what);
        if (groups == 4) check_bad_group_data(&e);
        free(offsets), free(counts), free(e.b), free(e.sb);
    }
    fp8block_destroy(ctx);
    return test_finish("test_grouped_cpu");
}
