/* The grouped (mixture-of-experts) GEMM on the GPU (docs/DESIGN.md §1.8): one grouped call
 * against a plain GEMM of each group's rows with its expert's B, both on the GPU, byte for
 * byte. Under one forced tile (FP8BLOCK_GEMM_PLAN, read once per process; this test takes
 * 128,128,2,0 when it is unset and ctest runs it again on the one-CTA tiles) the grouped
 * kernel and the plain one sum every element alike (whole tiles, K in order, the same
 * wgmma and promotion), so D and E4M3's scales must be identical; rows no group owns (past
 * the last offset, past a masked group's count) must keep their poison. Contiguous and
 * masked layouts, G in {1, 4, 8, 32, 256}, group sizes 0, 1, 17, 127, 128, 129 and uneven,
 * every output type, C and bias on some, and a wider and deeper contiguous case (N = K = 1000).
 * Then group sizes that break the rules, which the kernel must clamp without reading or
 * writing outside A, B and D (compute-sanitizer's memcheck, scripts/gpu-sanitize, watches
 * that). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "rng.h"
#include "testutil.h"

#define POISON 0xff

static fp8block_ctx *gpu, *cpu;
static rng_state rng;
/* FP8BLOCK_GEMM_PLAN forces 256-row tiles, which have no F32 kernel (gemm_configs.h): the
 * plain reference GEMM could not run F32 under it, so F32 cases are not run (and say so). */
static int tall_tile_forced;

static size_t elem_size(fp8block_dtype t) { return t == FP8BLOCK_F32 ? 4 : t == FP8BLOCK_E4M3 ? 1 : 2; }
static const char *dtype_name(fp8block_dtype t)
{
    return t == FP8BLOCK_F32 ? "f32" : t == FP8BLOCK_BF16 ? "bf16" : t == FP8BLOCK_F16 ? "f16" : "e4m3";
}

/* A device copy of `bytes` host bytes (NULL host: poisoned). */
static void *on_gpu(const void *host, size_t bytes)
{
    void *dev = devmem_alloc(gpu, bytes);
    CHECK(dev != NULL, "cudaMalloc of %zu bytes", bytes);
    if (!dev) return NULL;
    const int failed = host ? devmem_upload(gpu, dev, host, bytes) : devmem_fill(gpu, dev, POISON, bytes);
    CHECK(!failed, "copying %zu bytes to the device", bytes);
    return dev;
}

static unsigned char *from_gpu(const void *dev, size_t bytes)
{
    unsigned char *host = malloc(bytes);
    CHECK(host && !devmem_download(gpu, host, dev, bytes), "copying %zu bytes back", bytes);
    return host;
}

static float *random_values(int64_t count)
{
    float *v = malloc((size_t)count * sizeof *v);
    for (int64_t i = 0; i < count; i++) v[i] = (float)ldexp(rng_normal(&rng), (int)(i / 128 % 5) - 2);
    return v;
}

typedef struct {
    int64_t groups, n, k, ldb, ldsb, stride_b, stride_sb;
    uint8_t *b; /* device */
    float *sb;  /* device */
} experts;

/* G experts' weights quantized 128x128 on the CPU, apart by strides that are not their size
 * (B: 32 bytes more, 16-byte aligned as TMA needs; scales: 3 floats more). */
static experts make_experts(int64_t groups, int64_t n, int64_t k)
{
    experts e = {groups, n, k, round_up(k, 16), ceil_div(k, 128) + 1, 0, 0, NULL, NULL};
    e.stride_b = n * e.ldb + 32, e.stride_sb = ceil_div(n, 128) * e.ldsb + 3;
    uint8_t *b = calloc((size_t)(groups * e.stride_b), 1);
    float *sb = calloc((size_t)(groups * e.stride_sb), sizeof(float));
    for (int64_t g = 0; g < groups; g++) {
        float *w = random_values(n * k);
        fp8block_status st = fp8block_quantize_128x128(cpu, w, FP8BLOCK_F32, n, k, k, b + g * e.stride_b, e.ldb,
                                                       sb + g * e.stride_sb, e.ldsb, NULL);
        CHECK(st == FP8BLOCK_OK, "quantizing expert %lld: %s", (long long)g, fp8block_last_error(cpu));
        free(w);
    }
    e.b = on_gpu(b, (size_t)(groups * e.stride_b));
    e.sb = on_gpu(sb, (size_t)(groups * e.stride_sb) * sizeof(float));
    free(b), free(sb);
    return e;
}

/* Group g's rows [r0, r0 + rows) in the layout's terms. */
static void group_extent(fp8block_group_layout layout, const int32_t *group_rows, int64_t max_m, int64_t g,
                         int64_t *r0, int64_t *rows)
{
    *r0 = layout == FP8BLOCK_GROUPS_MASKED ? g * max_m : group_rows[g];
    *rows = layout == FP8BLOCK_GROUPS_MASKED ? group_rows[g] : group_rows[g + 1] - *r0;
}

static void check_grouped(fp8block_group_layout layout, const experts *e, int64_t m, const int32_t *group_rows,
                          int64_t max_m, int64_t expected_m, fp8block_dtype dtype, int with_c_bias, const char *what)
{
    if (dtype == FP8BLOCK_F32 && tall_tile_forced) {
        printf("%s f32: not run under FP8BLOCK_GEMM_PLAN=%s (256-row tiles have no F32 kernel)\n", what,
               getenv("FP8BLOCK_GEMM_PLAN"));
        return;
    }
    const int64_t k = e->k, n = e->n, lda = e->ldb, ldsa = round_up(m, 4) + 4;
    const int64_t ldd = round_up(n, 16) + 16, ldsd = ldsa, kb = ceil_div(k, 128), nb = ceil_div(n, 128);
    float *x = random_values(m * k);
    uint8_t *a = calloc((size_t)(m * lda), 1);
    float *sa = calloc((size_t)(kb * ldsa), sizeof(float));
    fp8block_status st = fp8block_quantize_1x128(cpu, x, FP8BLOCK_F32, m, k, k, a, lda, sa, ldsa, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: quantizing A: %s", what, fp8block_last_error(cpu));
    const size_t d_bytes = (size_t)(m * ldd) * elem_size(dtype), sd_bytes = (size_t)(nb * ldsd) * 4;
    const int64_t entries = layout == FP8BLOCK_GROUPS_MASKED ? e->groups : e->groups + 1;
    float *c = NULL, *bias = NULL;
    if (with_c_bias) {
        c = malloc((size_t)(m * ldd) * sizeof *c), bias = malloc((size_t)n * sizeof *bias);
        for (int64_t i = 0; i < m * ldd; i++) c[i] = (float)(i % 11) - 5.0f;
        for (int64_t j = 0; j < n; j++) bias[j] = 0.25f * (float)(j % 7);
    }
    uint8_t *a_dev = on_gpu(a, (size_t)(m * lda));
    float *sa_dev = on_gpu(sa, (size_t)(kb * ldsa) * sizeof(float));
    int32_t *rows_dev = on_gpu(group_rows, (size_t)entries * sizeof(int32_t));
    float *c_dev = c ? on_gpu(c, (size_t)(m * ldd) * sizeof(float)) : NULL;
    float *bias_dev = bias ? on_gpu(bias, (size_t)n * sizeof(float)) : NULL;
    unsigned char *d_dev = on_gpu(NULL, d_bytes), *want_dev = on_gpu(NULL, d_bytes);
    float *sd_dev = on_gpu(NULL, sd_bytes);
    unsigned char *want_sd = malloc(sd_bytes);
    memset(want_sd, POISON, sd_bytes);

    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = m, g.n = n, g.k = k, g.a = a_dev, g.lda = lda, g.sa = sa_dev, g.ldsa = ldsa;
    g.b = e->b, g.ldb = e->ldb, g.sb = e->sb, g.ldsb = e->ldsb;
    g.d = d_dev, g.d_dtype = dtype, g.ldd = ldd;
    if (dtype == FP8BLOCK_E4M3) g.sd = sd_dev, g.ldsd = ldsd;
    if (c) g.c = c_dev, g.c_dtype = FP8BLOCK_F32, g.ldc = ldd, g.bias = bias_dev, g.bias_dtype = FP8BLOCK_F32;
    g.group_layout = layout, g.groups = e->groups, g.group_rows = rows_dev, g.max_m = max_m;
    g.group_stride_b = e->stride_b, g.group_stride_sb = e->stride_sb, g.expected_m = expected_m;
    st = fp8block_gemm_ex(gpu, &g, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(gpu));

    int64_t rows_in_groups = 0;
    for (int64_t gi = 0; gi < e->groups && st == FP8BLOCK_OK; gi++) {
        int64_t r0, rows;
        group_extent(layout, group_rows, max_m, gi, &r0, &rows);
        rows_in_groups += rows;
        if (!rows) continue;
        /* the group's A scales, copied: sa + r0 is not 16-byte aligned for every r0 */
        const int64_t ldsg = round_up(rows, 4);
        float *sa_group = malloc((size_t)(kb * ldsg) * sizeof(float));
        for (int64_t b = 0; b < kb; b++) memcpy(sa_group + b * ldsg, sa + b * ldsa + r0, (size_t)rows * 4);
        float *sa_group_dev = on_gpu(sa_group, (size_t)(kb * ldsg) * sizeof(float));
        float *sd_group_dev = on_gpu(NULL, (size_t)(nb * ldsg) * sizeof(float));
        fp8block_gemm_desc one = FP8BLOCK_GEMM_DESC_INIT;
        one.m = rows, one.n = n, one.k = k, one.a = a_dev + r0 * lda, one.lda = lda, one.sa = sa_group_dev,
        one.ldsa = ldsg;
        one.b = e->b + gi * e->stride_b, one.ldb = e->ldb, one.sb = e->sb + gi * e->stride_sb, one.ldsb = e->ldsb;
        one.d = want_dev + (size_t)(r0 * ldd) * elem_size(dtype), one.d_dtype = dtype, one.ldd = ldd;
        if (dtype == FP8BLOCK_E4M3) one.sd = sd_group_dev, one.ldsd = ldsg;
        if (c) one.c = c_dev + r0 * ldd, one.c_dtype = FP8BLOCK_F32, one.ldc = ldd, one.bias = bias_dev,
               one.bias_dtype = FP8BLOCK_F32;
        st = fp8block_gemm_ex(gpu, &one, NULL);
        CHECK(st == FP8BLOCK_OK, "%s: group %lld alone: %s", what, (long long)gi, fp8block_last_error(gpu));
        if (st == FP8BLOCK_OK && dtype == FP8BLOCK_E4M3) {
            unsigned char *sd_group = from_gpu(sd_group_dev, (size_t)(nb * ldsg) * sizeof(float));
            for (int64_t b = 0; sd_group && b < nb; b++)
                memcpy(want_sd + (size_t)(b * ldsd + r0) * 4, sd_group + (size_t)(b * ldsg) * 4, (size_t)rows * 4);
            free(sd_group);
        }
        devmem_free(gpu, sa_group_dev), devmem_free(gpu, sd_group_dev);
        free(sa_group);
    }
    CHECK(!devmem_sync(gpu), "%s: the device failed", what);
    unsigned char *d = from_gpu(d_dev, d_bytes), *want = from_gpu(want_dev, d_bytes), *sd = from_gpu(sd_dev, sd_bytes);
    int64_t rows_differing = 0, first = -1, poison_lost = 0;
    const size_t row_bytes = (size_t)ldd * elem_size(dtype);
    for (int64_t r = 0; d && want && r < m; r++) {
        if (memcmp(d + r * row_bytes, want + r * row_bytes, row_bytes)) {
            rows_differing++;
            if (first < 0) first = r;
        }
        /* a row the reference left poisoned is owned by no group: the grouped call must not touch it */
        int poisoned = 1;
        for (size_t i = 0; i < row_bytes && poisoned; i++) poisoned = want[r * row_bytes + i] == POISON;
        if (poisoned && memcmp(d + r * row_bytes, want + r * row_bytes, row_bytes)) poison_lost++;
    }
    const int same_sd = sd && memcmp(sd, want_sd, sd_bytes) == 0;
    CHECK(rows_differing == 0, "%s: %lld of %lld rows of D differ from the per-group GEMMs' (first: row %lld)", what,
          (long long)rows_differing, (long long)m, (long long)first);
    CHECK(poison_lost == 0, "%s: %lld rows that no group owns were written", what, (long long)poison_lost);
    CHECK(same_sd, "%s: D's scales differ from the per-group GEMMs'", what);
    printf("%s (%s out%s): %lld groups, %lld of %lld rows in groups: %s\n", what, dtype_name(dtype),
           c ? ", C + bias" : "", (long long)e->groups, (long long)rows_in_groups, (long long)m,
           rows_differing == 0 && poison_lost == 0 && same_sd ? "identical" : "DIFFERENT");
    free(d), free(want), free(sd), free(want_sd), free(x), free(a), free(sa), free(c), free(bias);
    devmem_free(gpu, a_dev), devmem_free(gpu, sa_dev), devmem_free(gpu, rows_dev), devmem_free(gpu, c_dev);
    devmem_free(gpu, bias_dev), devmem_free(gpu, d_dev), devmem_free(gpu, want_dev), devmem_free(gpu, sd_dev);
}

static int64_t random_size(void)
{
    static const int64_t sizes[] = {0, 1, 17, 127, 128, 129};
    return rng_range(&rng, 0, 3) ? sizes[rng_range(&rng, 0, 5)] : rng_range(&rng, 2, 300);
}

/* Sizes against the rules, which the host cannot see (device memory): the kernel clamps
 * them (§1.8), so the call succeeds and stays inside its buffers; which rows it computes is
 * undefined, so nothing is compared here but the status and that the device is still fine. */
static void run_bad_group_data(const experts *e)
{
    const int64_t m = 64, k = e->k, n = e->n, lda = e->ldb, ldd = round_up(n, 8);
    const int32_t offsets[][5] = {{0, 40, 30, 64, 64}, {0, 10, 20, 30, 1000}, {-7, 10, 20, 30, 40},
                                  {64, 0, 0, 0, 0}};
    const int32_t counts[][4] = {{16, 17, 0, 16}, {16, -1, 0, 1 << 30}};
    uint8_t *a = on_gpu(NULL, (size_t)(m * lda));
    float *sa = on_gpu(NULL, (size_t)(ceil_div(k, 128) * m) * sizeof(float));
    uint16_t *d = on_gpu(NULL, (size_t)(m * ldd) * 2);
    for (int masked = 0; masked <= 1; masked++) {
        const int cases = masked ? 2 : 4;
        for (int i = 0; i < cases; i++) {
            int32_t *rows = masked ? on_gpu(counts[i], sizeof counts[i]) : on_gpu(offsets[i], sizeof offsets[i]);
            fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
            g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.sa = sa, g.ldsa = m;
            g.b = e->b, g.ldb = e->ldb, g.sb = e->sb, g.ldsb = e->ldsb, g.d = d, g.d_dtype = FP8BLOCK_BF16, g.ldd = ldd;
            g.group_layout = masked ? FP8BLOCK_GROUPS_MASKED : FP8BLOCK_GROUPS_CONTIGUOUS, g.groups = 4;
            g.group_rows = rows, g.max_m = masked ? 16 : 0;
            g.group_stride_b = e->stride_b, g.group_stride_sb = e->stride_sb;
            fp8block_status st = fp8block_gemm_ex(gpu, &g, NULL);
            CHECK(st == FP8BLOCK_OK && !devmem_sync(gpu), "bad %s case %d: %s", masked ? "counts" : "offsets", i,
                  fp8block_last_error(gpu));
            devmem_free(gpu, rows);
        }
    }
    printf("bad group data: 6 calls clamped, device fine\n");
    devmem_free(gpu, a), devmem_free(gpu, sa), devmem_free(gpu, d);
}

int main(void)
{
    /* before the first GEMM: the knob is read once (see the comment at the top) */
    /* unset or empty (the library ignores an empty plan): the 128-row pairs */
    const char *plan = getenv("FP8BLOCK_GEMM_PLAN");
    if (!plan || !*plan)
        setenv("FP8BLOCK_GEMM_PLAN", "128,128,2,0", 1);
    printf("tile: FP8BLOCK_GEMM_PLAN=%s\n", getenv("FP8BLOCK_GEMM_PLAN"));
    tall_tile_forced = atoi(getenv("FP8BLOCK_GEMM_PLAN")) == 256;
    setvbuf(stdout, NULL, _IOLBF, 0);
    gpu = test_gpu_ctx_or_skip();
    if (fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    rng_seed(&rng, 1818);
    static const int64_t group_counts[] = {1, 4, 8, 32, 256};
    static const fp8block_dtype dtypes[] = {FP8BLOCK_BF16, FP8BLOCK_F32, FP8BLOCK_E4M3, FP8BLOCK_F16, FP8BLOCK_BF16};
    for (size_t t = 0; t < sizeof group_counts / sizeof group_counts[0]; t++) {
        const int64_t groups = group_counts[t], n = groups >= 32 ? 72 : 257, k = groups >= 32 ? 129 : 300;
        experts e = make_experts(groups, n, k);
        char what[128];
        /* contiguous: random sizes, then 5 rows past the last group that no group owns */
        int32_t *offsets = malloc((size_t)(groups + 1) * sizeof *offsets);
        offsets[0] = 0;
        for (int64_t g = 0; g < groups; g++)
            offsets[g + 1] = offsets[g] + (int32_t)(groups >= 32 ? random_size() % 40 : random_size());
        snprintf(what, sizeof what, "contiguous G=%lld", (long long)groups);
        for (size_t d = 0; d < 2; d++)
            check_grouped(FP8BLOCK_GROUPS_CONTIGUOUS, &e, offsets[groups] + 5, offsets, 0, 0, dtypes[(t + 2 * d) % 5],
                          (int)((t + d) % 2), what);
        /* masked: G blocks of max_m rows, counts up to max_m, the first empty and the second full;
         * the second call told that groups hold a quarter of max_m (expected_m, a planning hint:
         * at G = 8 it takes 64-row tiles instead of 128-row ones, and full groups must still come out) */
        const int64_t max_m = groups >= 32 ? 24 : 130;
        int32_t *counts = malloc((size_t)groups * sizeof *counts);
        for (int64_t g = 0; g < groups; g++) counts[g] = (int32_t)rng_range(&rng, 0, max_m);
        if (groups > 1) counts[0] = 0, counts[1] = (int32_t)max_m;
        for (size_t d = 0; d < 2; d++) {
            snprintf(what, sizeof what, "masked G=%lld, expected_m %lld", (long long)groups,
                     (long long)(d ? max_m / 4 : 0));
            check_grouped(FP8BLOCK_GROUPS_MASKED, &e, groups * max_m, counts, max_m, d ? max_m / 4 : 0,
                          dtypes[(t + 1 + 2 * d) % 5], (int)((t + d + 1) % 2), what);
        }
        if (groups == 4) run_bad_group_data(&e);
        free(offsets), free(counts);
        devmem_free(gpu, e.b), devmem_free(gpu, e.sb);
    }
    /* Wider and deeper than the shapes above: N = 1000 is 8 B-scale blocks (and, for 160-wide
     * tiles, bench/NOTES.md "The 128-row tile's loop", a tile starting at each of its four places
     * in a block: 0, 32, 64, 96, each its own promotion loop), K = 1000 is 8 K blocks, more than
     * a turn of any ring (a unit's K blocks from stage 0 in the grouped kernels' turns).
     * Contiguous, 16-bit D. */
    {
        experts e = make_experts(4, 1000, 1000);
        int32_t offsets[5] = {0};
        for (int g = 0; g < 4; g++) offsets[g + 1] = offsets[g] + (int32_t)random_size();
        check_grouped(FP8BLOCK_GROUPS_CONTIGUOUS, &e, offsets[4] + 5, offsets, 0, 0, FP8BLOCK_BF16, 0,
                      "contiguous G=4, N = K = 1000");
        check_grouped(FP8BLOCK_GROUPS_CONTIGUOUS, &e, offsets[4] + 5, offsets, 0, 0, FP8BLOCK_F16, 1,
                      "contiguous G=4, N = K = 1000");
        devmem_free(gpu, e.b), devmem_free(gpu, e.sb);
    }
    fp8block_destroy(cpu);
    fp8block_destroy(gpu);
    return test_finish("test_grouped_gpu");
}
