/* 64-bit index arithmetic on the CPU backend.
 *
 * 1. Tall-skinny: quantize_1x128 and dequantize_1x128 of a (2^31/128 + 1) × 128 BF16
 *    matrix, 2^31 + 128 codes (about 6.1 GB in all). Every row's data differs, so an index
 *    that wraps at 2^31 or 2^32 writes one row's codes over another's; sampled rows at the
 *    start, around element 2^31 and at the end must equal the same row quantized alone.
 * 2. Far strides: every entry point with leading dimensions of 2^31 + 16 elements (offsets
 *    past 2^32 elements, 16 GiB of bytes), on mappings whose untouched pages cost nothing;
 *    results equal the tight-layout call bit for bit.
 * 3. Long K: a GEMM with K = 1,048,576 (8192 K blocks) on a 33 × 65 output, checked
 *    against the fp64 reference of gemm_check.
 * A part whose memory the machine cannot give is skipped with a message; the test fails
 * only on a wrong result. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devmem.h"
#include "gemm_check.h"
#include "rng.h"
#include "testutil.h"

static fp8block_ctx *ctx;

/* A finite BF16 value, magnitudes over 16 binades. Rows r and r + 2^k differ for every
 * k < 32 (an odd multiplier is a bijection mod 2^32), so a wrapped index shows. */
static uint16_t element_bf16(int64_t r, int64_t c)
{
    uint32_t h = (uint32_t)r * 2654435761u + (uint32_t)c * 40503u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return (uint16_t)((h & 0x807f) | ((120 + ((h >> 8) & 15)) << 7));
}

/* Anonymous memory whose untouched pages cost nothing; NULL if the mapping is refused. */
static void *map_lazy(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static long long available_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib < 0 ? -1 : kib / 1024;
}

/* ---- 1. tall-skinny ---- */

enum { TALL_COLS = 128, FILL_THREADS = 4 };
static const int64_t TALL_ROWS = ((int64_t)1 << 31) / TALL_COLS + 1;

typedef struct {
    uint16_t *x;
    int64_t begin, end;
} fill_job;

static void *fill_rows(void *p)
{
    fill_job *j = p;
    for (int64_t r = j->begin; r < j->end; r++)
        for (int64_t c = 0; c < TALL_COLS; c++) j->x[r * TALL_COLS + c] = element_bf16(r, c);
    return NULL;
}

static void fill_tall(uint16_t *x)
{
    pthread_t ids[FILL_THREADS];
    fill_job jobs[FILL_THREADS];
    for (int t = 0; t < FILL_THREADS; t++) {
        jobs[t] = (fill_job){x, TALL_ROWS * t / FILL_THREADS, TALL_ROWS * (t + 1) / FILL_THREADS};
        if (pthread_create(&ids[t], NULL, fill_rows, &jobs[t]) != 0) fill_rows(&jobs[t]), ids[t] = 0;
    }
    for (int t = 0; t < FILL_THREADS; t++)
        if (ids[t]) pthread_join(ids[t], NULL);
}

/* The rows worth looking at: both ends, both sides of element 2^31 (row 2^24), and random. */
static int64_t sample_row(rng_state *rng, int i)
{
    static const int64_t FIXED[] = {0, 1, 2, 127, 128, ((int64_t)1 << 23), ((int64_t)1 << 24) - 1, (int64_t)1 << 24};
    enum { N_FIXED = sizeof FIXED / sizeof FIXED[0] };
    if (i < N_FIXED) return FIXED[i];
    if (i == N_FIXED) return TALL_ROWS - 1;
    return rng_range(rng, 0, TALL_ROWS - 1);
}

static void tall_skinny(void)
{
    size_t x_bytes = (size_t)TALL_ROWS * TALL_COLS * 2, q_bytes = (size_t)TALL_ROWS * TALL_COLS;
    size_t s_bytes = (size_t)TALL_ROWS * 4;
    long long need_mib = (long long)((x_bytes + q_bytes + s_bytes) >> 20) + 256, have_mib = available_mib();
    if (have_mib >= 0 && have_mib < need_mib) {
        printf("tall-skinny part skipped: needs %lld MiB, %lld MiB available\n", need_mib, have_mib);
        return;
    }
    uint16_t *x = malloc(x_bytes);
    uint8_t *q = malloc(q_bytes);
    float *s = malloc(s_bytes);
    if (!x || !q || !s) {
        printf("tall-skinny part skipped: cannot allocate %lld MiB\n", need_mib);
        free(x), free(q), free(s);
        return;
    }
    double t0 = devmem_host_seconds();
    fill_tall(x);
    double t1 = devmem_host_seconds();
    fp8block_status st = fp8block_quantize_1x128(ctx, x, FP8BLOCK_BF16, TALL_ROWS, TALL_COLS, TALL_COLS, q, TALL_COLS,
                                                 s, TALL_ROWS, NULL);
    double t2 = devmem_host_seconds();
    CHECK(st == FP8BLOCK_OK, "quantize_1x128 of %lld x %d: %s", (long long)TALL_ROWS, TALL_COLS, fp8block_last_error(NULL));

    enum { SAMPLES = 4096 };
    rng_state rng;
    rng_seed(&rng, 31);
    int64_t rows[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) rows[i] = sample_row(&rng, i);
    long bad = 0;
    for (int i = 0; i < SAMPLES; i++) {
        int64_t r = rows[i];
        uint8_t q1[TALL_COLS];
        float s1;
        st = fp8block_quantize_1x128(ctx, x + r * TALL_COLS, FP8BLOCK_BF16, 1, TALL_COLS, TALL_COLS, q1, TALL_COLS, &s1, 1,
                                     NULL);
        int same = st == FP8BLOCK_OK && memcmp(q1, q + r * TALL_COLS, TALL_COLS) == 0 && memcmp(&s1, &s[r], 4) == 0;
        if (!same && bad++ < 5)
            CHECK(same, "tall quantize: row %lld (elements from %lld) differs from the row quantized alone", (long long)r,
                  (long long)(r * TALL_COLS));
    }
    CHECK(bad == 0, "tall quantize: %ld of %d sampled rows differ", bad, SAMPLES);

    /* Dequantize into x's memory: the input is no longer needed, and 4 GiB less is asked for. */
    uint16_t *y = x;
    st = fp8block_dequantize_1x128(ctx, q, TALL_COLS, s, TALL_ROWS, TALL_ROWS, TALL_COLS, y, FP8BLOCK_BF16, TALL_COLS, NULL);
    double t3 = devmem_host_seconds();
    CHECK(st == FP8BLOCK_OK, "dequantize_1x128 of %lld x %d: %s", (long long)TALL_ROWS, TALL_COLS, fp8block_last_error(NULL));
    bad = 0;
    for (int i = 0; i < SAMPLES; i++) {
        int64_t r = rows[i];
        uint16_t y1[TALL_COLS];
        st = fp8block_dequantize_1x128(ctx, q + r * TALL_COLS, TALL_COLS, &s[r], 1, 1, TALL_COLS, y1, FP8BLOCK_BF16,
                                       TALL_COLS, NULL);
        int same = st == FP8BLOCK_OK && memcmp(y1, y + r * TALL_COLS, sizeof y1) == 0;
        if (!same && bad++ < 5)
            CHECK(same, "tall dequantize: row %lld differs from the row dequantized alone", (long long)r);
    }
    CHECK(bad == 0, "tall dequantize: %ld of %d sampled rows differ", bad, SAMPLES);
    printf("tall-skinny %lld x %d (%lld codes): fill %.1f s, quantize %.1f s, dequantize %.1f s\n", (long long)TALL_ROWS,
           TALL_COLS, (long long)(TALL_ROWS * TALL_COLS), t1 - t0, t2 - t1, t3 - t2);
    free(x), free(q), free(s);
}

/* ---- 2. far strides ---- */

static const int64_t FAR = ((int64_t)1 << 31) + 16; /* elements; a multiple of 16 */
static const int64_t MID = ((int64_t)1 << 23) + 16; /* with 257 lines: offsets past 2^31 */

/* `lines` lines of `owned` elements at stride ld in lazily mapped memory. */
typedef struct {
    uint8_t *p;
    size_t bytes, elem;
    int64_t lines, ld, owned;
} strided;

static int strided_map(strided *s, int64_t lines, int64_t ld, int64_t owned, size_t elem)
{
    *s = (strided){NULL, (size_t)((lines - 1) * ld + owned) * elem, elem, lines, ld, owned};
    s->p = map_lazy(s->bytes);
    return s->p != NULL;
}

static void strided_unmap(strided *s)
{
    if (s->p) munmap(s->p, s->bytes);
}

static uint8_t *line_of(const strided *s, int64_t l) { return s->p + (size_t)(l * s->ld) * s->elem; }

static void strided_put(strided *s, const void *tight)
{
    for (int64_t l = 0; l < s->lines; l++)
        memcpy(line_of(s, l), (const uint8_t *)tight + (size_t)(l * s->owned) * s->elem, (size_t)s->owned * s->elem);
}

/* -1 when every line equals tight, else the first line that does not. */
static int64_t strided_first_difference(const strided *s, const void *tight)
{
    for (int64_t l = 0; l < s->lines; l++)
        if (memcmp(line_of(s, l), (const uint8_t *)tight + (size_t)(l * s->owned) * s->elem, (size_t)s->owned * s->elem))
            return l;
    return -1;
}

static void *random_bytes(rng_state *rng, size_t bytes, int kind) /* kind: 0 bf16 data, 1 e4m3 codes, 2 fp32 scales */
{
    uint8_t *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test_large: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < bytes; i += kind == 2 ? 4 : kind == 0 ? 2 : 1) {
        uint64_t h = rng_next(rng);
        if (kind == 0) {
            uint16_t v = element_bf16((int64_t)h, (int64_t)i);
            memcpy(p + i, &v, 2);
        } else if (kind == 1) {
            p[i] = (uint8_t)(h % 0x7e) | (uint8_t)(h >> 8 & 0x80); /* finite codes */
        } else {
            float v = 0.001f + (float)(h % 1000) * 0.001f;
            memcpy(p + i, &v, 4);
        }
    }
    return p;
}

static const char *const BLOCK_NAMES[] = {"1x128", "128x128"};

typedef struct {
    fp8block_block block;
    int64_t rows, cols, ldx, ldq, lds;
} quantize_far;

static void far_quantize(rng_state *rng, quantize_far c)
{
    int64_t s_lines = scale_lines(c.block, c.rows, c.cols), s_owned = scale_line_length(c.block, c.rows, c.cols);
    strided x, q, s;
    int mapped = strided_map(&x, c.rows, c.ldx, c.cols, 2) & strided_map(&q, c.rows, c.ldq, c.cols, 1) &
                 strided_map(&s, s_lines, c.lds, s_owned, 4);
    if (!mapped) {
        printf("far quantize_%s skipped: the address space for it was refused\n", BLOCK_NAMES[c.block]);
    } else {
        uint16_t *xt = random_bytes(rng, (size_t)(c.rows * c.cols) * 2, 0);
        uint8_t *qt = malloc((size_t)(c.rows * c.cols));
        float *st_ = malloc((size_t)(s_lines * s_owned) * 4);
        fp8block_status st = fp8block_quantize_ex(ctx, c.block, 0, xt, FP8BLOCK_BF16, c.rows, c.cols, c.cols, qt, c.cols,
                                                  st_, s_owned, NULL);
        CHECK(st == FP8BLOCK_OK, "tight quantize_%s: %s", BLOCK_NAMES[c.block], fp8block_last_error(NULL));
        strided_put(&x, xt);
        st = fp8block_quantize_ex(ctx, c.block, 0, x.p, FP8BLOCK_BF16, c.rows, c.cols, c.ldx, q.p, c.ldq, (float *)s.p,
                                  c.lds, NULL);
        CHECK(st == FP8BLOCK_OK, "far quantize_%s: %s", BLOCK_NAMES[c.block], fp8block_last_error(NULL));
        int64_t dq = strided_first_difference(&q, qt), ds = strided_first_difference(&s, st_);
        CHECK(dq < 0, "far quantize_%s (rows %lld, ldx %lld, ldq %lld): codes of row %lld differ from the tight call",
              BLOCK_NAMES[c.block], (long long)c.rows, (long long)c.ldx, (long long)c.ldq, (long long)dq);
        CHECK(ds < 0, "far quantize_%s (lds %lld): scale line %lld differs from the tight call", BLOCK_NAMES[c.block],
              (long long)c.lds, (long long)ds);
        free(xt), free(qt), free(st_);
    }
    strided_unmap(&x), strided_unmap(&q), strided_unmap(&s);
}

typedef struct {
    fp8block_block block;
    fp8block_dtype ytype;
    int64_t rows, cols, ldq, lds, ldy;
} dequantize_far;

static void far_dequantize(rng_state *rng, dequantize_far c)
{
    int is_1x128 = c.block == FP8BLOCK_BLOCK_1x128;
    int64_t s_lines = scale_lines(c.block, c.rows, c.cols), s_owned = scale_line_length(c.block, c.rows, c.cols);
    size_t ye = c.ytype == FP8BLOCK_F32 ? 4 : 2;
    strided q, s, y;
    int mapped = strided_map(&q, c.rows, c.ldq, c.cols, 1) & strided_map(&s, s_lines, c.lds, s_owned, 4) &
                 strided_map(&y, c.rows, c.ldy, c.cols, ye);
    if (!mapped) {
        printf("far dequantize_%s skipped: the address space for it was refused\n", BLOCK_NAMES[c.block]);
    } else {
        uint8_t *qt = random_bytes(rng, (size_t)(c.rows * c.cols), 1);
        float *st_ = random_bytes(rng, (size_t)(s_lines * s_owned) * 4, 2);
        void *yt = malloc((size_t)(c.rows * c.cols) * ye);
        fp8block_status st =
            is_1x128 ? fp8block_dequantize_1x128(ctx, qt, c.cols, st_, s_owned, c.rows, c.cols, yt, c.ytype, c.cols, NULL)
                     : fp8block_dequantize_128x128(ctx, qt, c.cols, st_, s_owned, c.rows, c.cols, yt, c.ytype, c.cols, NULL);
        CHECK(st == FP8BLOCK_OK, "tight dequantize_%s: %s", BLOCK_NAMES[c.block], fp8block_last_error(NULL));
        strided_put(&q, qt), strided_put(&s, st_);
        st = is_1x128 ? fp8block_dequantize_1x128(ctx, q.p, c.ldq, (float *)s.p, c.lds, c.rows, c.cols, y.p, c.ytype,
                                                  c.ldy, NULL)
                      : fp8block_dequantize_128x128(ctx, q.p, c.ldq, (float *)s.p, c.lds, c.rows, c.cols, y.p, c.ytype,
                                                    c.ldy, NULL);
        CHECK(st == FP8BLOCK_OK, "far dequantize_%s: %s", BLOCK_NAMES[c.block], fp8block_last_error(NULL));
        int64_t dy = strided_first_difference(&y, yt);
        CHECK(dy < 0, "far dequantize_%s (rows %lld, ldq %lld, lds %lld, ldy %lld): row %lld differs from the tight call",
              BLOCK_NAMES[c.block], (long long)c.rows, (long long)c.ldq, (long long)c.lds, (long long)c.ldy, (long long)dy);
        free(qt), free(st_), free(yt);
    }
    strided_unmap(&q), strided_unmap(&s), strided_unmap(&y);
}

typedef struct {
    int64_t m, n, k, lda, ldb, ldsa, ldsb, ldd;
} gemm_far;

static void far_gemm(rng_state *rng, gemm_far c)
{
    int64_t kb = ceil_div(c.k, 128), nb = ceil_div(c.n, 128);
    int64_t lda_t = (c.k + 15) / 16 * 16, ldsa_t = (c.m + 3) / 4 * 4, ldd_t = (c.n + 3) / 4 * 4;
    strided a, b, sa, sb, d;
    int mapped = strided_map(&a, c.m, c.lda, c.k, 1) & strided_map(&b, c.n, c.ldb, c.k, 1) &
                 strided_map(&sa, kb, c.ldsa, c.m, 4) & strided_map(&sb, nb, c.ldsb, kb, 4) &
                 strided_map(&d, c.m, c.ldd, c.n, 4);
    strided at, bt, sat, dt; /* tight enough for the alignment rules */
    mapped = mapped & strided_map(&at, c.m, lda_t, c.k, 1) & strided_map(&bt, c.n, lda_t, c.k, 1) &
             strided_map(&sat, kb, ldsa_t, c.m, 4) & strided_map(&dt, c.m, ldd_t, c.n, 4);
    if (!mapped) {
        printf("far gemm skipped: the address space for it was refused\n");
    } else {
        uint8_t *ac = random_bytes(rng, (size_t)(c.m * c.k), 1), *bc = random_bytes(rng, (size_t)(c.n * c.k), 1);
        float *sac = random_bytes(rng, (size_t)(kb * c.m) * 4, 2), *sbc = random_bytes(rng, (size_t)(nb * kb) * 4, 2);
        float *dc = malloc((size_t)(c.m * c.n) * 4);
        strided_put(&at, ac), strided_put(&bt, bc), strided_put(&sat, sac);
        fp8block_status st = fp8block_gemm(ctx, c.m, c.n, c.k, at.p, lda_t, (float *)sat.p, ldsa_t, bt.p, lda_t, sbc, kb,
                                           dt.p, FP8BLOCK_F32, ldd_t, NULL);
        CHECK(st == FP8BLOCK_OK, "tight gemm: %s", fp8block_last_error(NULL));
        for (int64_t r = 0; r < c.m; r++) memcpy(dc + r * c.n, line_of(&dt, r), (size_t)c.n * 4);
        strided_put(&a, ac), strided_put(&b, bc), strided_put(&sa, sac), strided_put(&sb, sbc);
        st = fp8block_gemm(ctx, c.m, c.n, c.k, a.p, c.lda, (float *)sa.p, c.ldsa, b.p, c.ldb, (float *)sb.p, c.ldsb, d.p,
                           FP8BLOCK_F32, c.ldd, NULL);
        CHECK(st == FP8BLOCK_OK, "far gemm: %s", fp8block_last_error(NULL));
        int64_t dd = strided_first_difference(&d, dc);
        CHECK(dd < 0,
              "far gemm (m %lld, n %lld, k %lld, lda %lld, ldb %lld, ldsa %lld, ldsb %lld, ldd %lld): row %lld of D "
              "differs from the tight call",
              (long long)c.m, (long long)c.n, (long long)c.k, (long long)c.lda, (long long)c.ldb, (long long)c.ldsa,
              (long long)c.ldsb, (long long)c.ldd, (long long)dd);
        free(ac), free(bc), free(sac), free(sbc), free(dc);
    }
    strided_unmap(&a), strided_unmap(&b), strided_unmap(&sa), strided_unmap(&sb), strided_unmap(&d);
    strided_unmap(&at), strided_unmap(&bt), strided_unmap(&sat), strided_unmap(&dt);
}

static void far_strides(void)
{
    rng_state rng;
    rng_seed(&rng, 2);
    far_quantize(&rng, (quantize_far){FP8BLOCK_BLOCK_1x128, 3, 200, FAR, FAR, FAR});
    far_quantize(&rng, (quantize_far){FP8BLOCK_BLOCK_128x128, 257, 200, 200, MID, FAR});
    far_dequantize(&rng, (dequantize_far){FP8BLOCK_BLOCK_1x128, FP8BLOCK_F32, 3, 300, FAR, FAR, FAR});
    far_dequantize(&rng, (dequantize_far){FP8BLOCK_BLOCK_128x128, FP8BLOCK_F16, 257, 300, MID, FAR, MID});
    far_gemm(&rng, (gemm_far){3, 257, 300, FAR, 304, FAR, FAR, FAR});
    far_gemm(&rng, (gemm_far){257, 3, 300, 304, FAR, 260, 3, FAR});
}

/* ---- 3. long K ---- */

static void long_k(void)
{
    enum { M = 33, N = 65 };
    const int64_t K = (int64_t)1 << 20, KB = K / 128;
    uint16_t *xa = malloc((size_t)(M * K) * 2), *xb = malloc((size_t)(N * K) * 2);
    uint8_t *a = malloc((size_t)(M * K)), *b = malloc((size_t)(N * K));
    enum { LDSA = 36, LDD = 68 }; /* multiples of 4: 16-byte rows */
    float *sa = malloc((size_t)(KB * LDSA) * 4), *sb = malloc((size_t)KB * 4), *d = malloc((size_t)(M * LDD) * 4);
    if (!xa || !xb || !a || !b || !sa || !sb || !d) {
        printf("long-K part skipped: out of memory\n");
    } else {
        for (int64_t i = 0; i < M * K; i++) xa[i] = element_bf16(i / K, i % K);
        for (int64_t i = 0; i < N * K; i++) xb[i] = element_bf16(i / K + M, i % K);
        double t0 = devmem_host_seconds();
        fp8block_status st = fp8block_quantize_1x128(ctx, xa, FP8BLOCK_BF16, M, K, K, a, K, sa, LDSA, NULL);
        CHECK(st == FP8BLOCK_OK, "long K: quantize A: %s", fp8block_last_error(NULL));
        st = fp8block_quantize_128x128(ctx, xb, FP8BLOCK_BF16, N, K, K, b, K, sb, KB, NULL);
        CHECK(st == FP8BLOCK_OK, "long K: quantize B: %s", fp8block_last_error(NULL));
        double t1 = devmem_host_seconds();
        st = fp8block_gemm(ctx, M, N, K, a, K, sa, LDSA, b, K, sb, KB, d, FP8BLOCK_F32, LDD, NULL);
        double t2 = devmem_host_seconds();
        CHECK(st == FP8BLOCK_OK, "long K: gemm: %s", fp8block_last_error(NULL));
        gemm_check_result r = gemm_check(M, N, K, a, K, sa, LDSA, b, K, sb, KB, d, FP8BLOCK_F32, LDD, 8);
        CHECK(gemm_check_passed(&r), "gemm with K = %lld is outside gemm_check's bounds", (long long)K);
        gemm_check_print(stdout, "long K (33 x 65 x 1048576, F32)", &r);
        printf("long K: quantize %.1f s, gemm %.1f s, check %.1f s\n", t1 - t0, t2 - t1, devmem_host_seconds() - t2);
    }
    free(xa), free(xb), free(a), free(b), free(sa), free(sb), free(d);
}

int main(void)
{
    if (fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    far_strides();
    long_k();
    tall_skinny();
    fp8block_destroy(ctx);
    return test_finish("test_large");
}
