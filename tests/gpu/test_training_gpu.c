/* The training layouts on the GPU against the CPU reference, byte for byte (docs/DESIGN.md
 * §1.7): fp8block_quantize_1x128_transpose (both pairs, each pair alone, every input type,
 * both scale rules, NaN/inf/zero blocks) and fp8block_transpose_128x128, on shapes with
 * 1, 17, 127, 129 and 2112; outputs poisoned, padding and guards compared too. And the
 * weight-gradient GEMM (B scaled 1x128, K = tokens) against an fp64 reference within the
 * contract's bound, with its in-place accumulation D += A·Bᵀ bit for bit (subnormal C too). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "gemm_check.h"
#if FP8BLOCK_HAVE_CUDA
#include "gemm_reference_gpu.h"
#endif
#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"
#include "training_data.h"

#define POISON TRAINING_POISON
#define GUARD TRAINING_GUARD

static fp8block_ctx *gpu, *cpu;
static rng_state rng;

typedef struct {
    void *host, *dev;
    size_t bytes;
} mirror;

static mirror mirror_make(size_t bytes, const void *init)
{
    mirror m = {malloc(bytes + GUARD), devmem_alloc(gpu, bytes + GUARD), bytes};
    if (!m.host || !m.dev) {
        CHECK(0, "no memory for %zu bytes", bytes);
        return m;
    }
    if (init) memcpy(m.host, init, bytes), memset((char *)m.host + bytes, POISON, GUARD);
    else memset(m.host, POISON, bytes + GUARD);
    CHECK(devmem_upload(gpu, m.dev, m.host, bytes + GUARD) == 0, "upload");
    return m;
}

/* The device copy, downloaded, equals `want` (host, same size, guard included). */
static int mirror_equals(const mirror *m, const void *want)
{
    unsigned char *got = malloc(m->bytes + GUARD);
    int same = got && devmem_download(gpu, got, m->dev, m->bytes + GUARD) == 0 &&
               memcmp(got, want, m->bytes + GUARD) == 0;
    free(got);
    return same;
}

static void mirror_free(mirror *m)
{
    free(m->host);
    devmem_free(gpu, m->dev);
}

static void check_quantize_transpose(int64_t rows, int64_t cols, fp8block_dtype t, unsigned flags, int skip)
{
    char what[160];
    snprintf(what, sizeof what, "quantize_1x128_transpose %lldx%lld %s%s%s", (long long)rows, (long long)cols,
             t == FP8BLOCK_F32 ? "F32" : t == FP8BLOCK_BF16 ? "BF16" : "F16", flags ? " pow2" : "",
             skip == 1 ? " (x's pair skipped)" : skip == 2 ? " (xᵀ's pair skipped)" : "");
    const size_t elem = t == FP8BLOCK_F32 ? 4 : 2;
    const int64_t ldq = cols + 16, lds = rows + 4, ldqt = rows + 16, ldst = cols + 4;
    const size_t q_bytes = (size_t)(rows * ldq), s_bytes = (size_t)(((cols + 127) / 128) * lds) * 4;
    const size_t qt_bytes = (size_t)(cols * ldqt), st_bytes = (size_t)(((rows + 127) / 128) * ldst) * 4;
    void *x = training_input(&rng, t, rows, cols, rows > 256);
    unsigned char *q = training_poisoned(q_bytes);
    unsigned char *s = training_poisoned(s_bytes);
    unsigned char *qt = training_poisoned(qt_bytes);
    unsigned char *st = training_poisoned(st_bytes);
    fp8block_status want = fp8block_quantize_1x128_transpose(
        cpu, flags, x, t, rows, cols, cols, skip == 1 ? NULL : q, ldq, skip == 1 ? NULL : (float *)s, lds,
        skip == 2 ? NULL : qt, ldqt, skip == 2 ? NULL : (float *)st, ldst, NULL);
    mirror dx = mirror_make((size_t)(rows * cols) * elem, x), dq = mirror_make(q_bytes, NULL),
           ds = mirror_make(s_bytes, NULL), dqt = mirror_make(qt_bytes, NULL), dst = mirror_make(st_bytes, NULL);
    fp8block_status got = fp8block_quantize_1x128_transpose(
        gpu, flags, dx.dev, t, rows, cols, cols, skip == 1 ? NULL : dq.dev, ldq, skip == 1 ? NULL : ds.dev, lds,
        skip == 2 ? NULL : dqt.dev, ldqt, skip == 2 ? NULL : dst.dev, ldst, NULL);
    CHECK(want == FP8BLOCK_OK && got == FP8BLOCK_OK, "%s: cpu %s, gpu %s: %s", what, fp8block_status_string(want),
          fp8block_status_string(got), fp8block_last_error(gpu));
    CHECK(devmem_sync(gpu) == 0, "%s: the device failed", what);
    CHECK(mirror_equals(&dq, q) && mirror_equals(&ds, s), "%s: x's codes or scales differ from the CPU's", what);
    CHECK(mirror_equals(&dqt, qt) && mirror_equals(&dst, st), "%s: xᵀ's codes or scales differ from the CPU's", what);
    printf("%s: checked\n", what);
    mirror_free(&dx), mirror_free(&dq), mirror_free(&ds), mirror_free(&dqt), mirror_free(&dst);
    free(x), free(q), free(s), free(qt), free(st);
}

static void check_weight_transpose(int64_t rows, int64_t cols)
{
    char what[96];
    snprintf(what, sizeof what, "transpose_128x128 %lldx%lld", (long long)rows, (long long)cols);
    const int64_t rb = (rows + 127) / 128, cb = (cols + 127) / 128;
    const int64_t ldq = cols + 16, lds = cb + 1, ldqt = rows + 16, ldst = rb + 3;
    float *w = training_input(&rng, FP8BLOCK_F32, rows, cols, rows > 256);
    uint8_t *q = training_poisoned((size_t)(rows * ldq));
    float *s = training_poisoned((size_t)(rb * lds) * 4);
    unsigned char *qt = training_poisoned((size_t)(cols * ldqt)), *st = training_poisoned((size_t)(cb * ldst) * 4);
    fp8block_status want = fp8block_quantize_128x128(cpu, w, FP8BLOCK_F32, rows, cols, cols, q, ldq, s, lds, NULL);
    if (want == FP8BLOCK_OK)
        want = fp8block_transpose_128x128(cpu, q, ldq, s, lds, rows, cols, qt, ldqt, (float *)st, ldst, NULL);
    mirror dq = mirror_make((size_t)(rows * ldq), q), ds = mirror_make((size_t)(rb * lds) * 4, s);
    mirror dqt = mirror_make((size_t)(cols * ldqt), NULL), dst = mirror_make((size_t)(cb * ldst) * 4, NULL);
    fp8block_status got =
        fp8block_transpose_128x128(gpu, dq.dev, ldq, ds.dev, lds, rows, cols, dqt.dev, ldqt, dst.dev, ldst, NULL);
    CHECK(want == FP8BLOCK_OK && got == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(gpu));
    CHECK(devmem_sync(gpu) == 0, "%s: the device failed", what);
    CHECK(mirror_equals(&dqt, qt) && mirror_equals(&dst, st), "%s: differs from the CPU's", what);
    printf("%s: checked\n", what);
    mirror_free(&dq), mirror_free(&ds), mirror_free(&dqt), mirror_free(&dst);
    free(w), free(q), free(s), free(qt), free(st);
}

static void check_wgrad(int64_t out, int64_t in, int64_t tokens)
{
    char what[96];
    snprintf(what, sizeof what, "wgrad %lldx%lld, %lld tokens", (long long)out, (long long)in, (long long)tokens);
    float *dy = training_input(&rng, FP8BLOCK_F32, tokens, out, tokens > 256);
    float *x = training_input(&rng, FP8BLOCK_F32, tokens, in, tokens > 256);
    /* dY's column 0 (A's row 0) zero: that row of A·Bᵀ is exactly 0, so the in-place sum
     * there is C itself, subnormal values included (below) */
    for (int64_t t = 0; t < tokens; t++) dy[t * out] = 0.0f;
    const int64_t kb = (tokens + 127) / 128, lda = (tokens + 15) / 16 * 16, ldsa = (out + 3) / 4 * 4;
    const int64_t ldsb = (in + 3) / 4 * 4, ldd = (in + 3) / 4 * 4;
    const size_t a_bytes = (size_t)(out * lda), b_bytes = (size_t)(in * lda), d_bytes = (size_t)(out * ldd) * 4;
    uint8_t *a = training_poisoned(a_bytes), *b = training_poisoned(b_bytes);
    float *sa = training_poisoned((size_t)(kb * ldsa) * 4), *sb = training_poisoned((size_t)(kb * ldsb) * 4);
    fp8block_status st = fp8block_quantize_1x128_transpose(cpu, 0, dy, FP8BLOCK_F32, tokens, out, out, NULL, 0, NULL, 0,
                                                           a, lda, sa, ldsa, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_quantize_1x128_transpose(cpu, 0, x, FP8BLOCK_F32, tokens, in, in, NULL, 0, NULL, 0, b, lda, sb,
                                               ldsb, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: quantizing: %s", what, fp8block_last_error(cpu));
    mirror da = mirror_make(a_bytes, a), db = mirror_make(b_bytes, b), dsa = mirror_make((size_t)(kb * ldsa) * 4, sa);
    mirror dsb = mirror_make((size_t)(kb * ldsb) * 4, sb), dd = mirror_make(d_bytes, NULL);
    float *before = malloc(d_bytes), *d = malloc(d_bytes + GUARD), *acc = malloc(d_bytes + GUARD);
    for (int64_t e = 0; e < out * ldd; e++) before[e] = (float)(e % 7) - 3.0f;
    /* subnormal C in row 0: an adder that flushes them (the TMA unit's reduce-add might,
     * epilogue_adds_c_by_tma) would leave zeros where C's values belong */
    for (int64_t j = 0; j < in; j += 2) before[j] = j % 4 ? 1e-40f : -3e-39f;
    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = out, g.n = in, g.k = tokens, g.a = da.dev, g.lda = lda, g.sa = dsa.dev, g.ldsa = ldsa;
    g.b = db.dev, g.ldb = lda, g.sb = dsb.dev, g.ldsb = ldsb, g.b_scales = FP8BLOCK_B_SCALES_1x128;
    g.d = dd.dev, g.d_dtype = FP8BLOCK_F32, g.ldd = ldd;
    st = fp8block_gemm_ex(gpu, &g, NULL);
    CHECK(st == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(gpu));
    CHECK(devmem_sync(gpu) == 0 && devmem_download(gpu, d, dd.dev, d_bytes + GUARD) == 0, "%s: download", what);
    /* accumulate: D = before, then D += A·Bᵀ in place */
    fp8block_gemm_desc in_place = g;
    in_place.c = dd.dev, in_place.c_dtype = FP8BLOCK_F32, in_place.ldc = ldd;
    CHECK(devmem_upload(gpu, dd.dev, before, d_bytes) == 0, "%s: upload", what);
    if (st == FP8BLOCK_OK) st = fp8block_gemm_ex(gpu, &in_place, NULL);
    CHECK(st == FP8BLOCK_OK && devmem_sync(gpu) == 0 && devmem_download(gpu, acc, dd.dev, d_bytes + GUARD) == 0,
          "%s: accumulating: %s", what, fp8block_last_error(gpu));
    /* the fp64 reference on the GPU (the CPU's took most of a call at 1024x770x2049), checked
     * against the CPU's bit for bit where that is quick */
    double *ref = malloc((size_t)(out * in) * sizeof *ref), *mag = malloc((size_t)(out * in) * sizeof *mag);
#if FP8BLOCK_HAVE_CUDA
    CHECK(gemm_reference_gpu_b1x128(out, in, tokens, a, lda, sa, ldsa, b, lda, sb, ldsb, ref, mag, in) == 0,
          "%s: the GPU reference failed", what);
#else
    gemm_reference_b1x128(out, in, tokens, a, lda, sa, ldsa, b, lda, sb, ldsb, ref, mag, in);
#endif
    if (out * in * tokens <= 20000000) {
        double *cpu_ref = malloc((size_t)(out * in) * sizeof *ref), *cpu_mag = malloc((size_t)(out * in) * sizeof *mag);
        gemm_reference_b1x128(out, in, tokens, a, lda, sa, ldsa, b, lda, sb, ldsb, cpu_ref, cpu_mag, in);
        CHECK(!memcmp(cpu_ref, ref, (size_t)(out * in) * sizeof *ref) &&
                  !memcmp(cpu_mag, mag, (size_t)(out * in) * sizeof *mag),
              "%s: the GPU reference differs from the CPU's", what);
        free(cpu_ref), free(cpu_mag);
    }
    gemm_check_result r = gemm_check_against(out, in, ref, mag, in, d, FP8BLOCK_F32, ldd);
    CHECK(gemm_check_passed(&r), "%s: check failed", what);
    gemm_check_print(gemm_check_passed(&r) ? stdout : stderr, what, &r);
    int64_t differ = 0, padding = 0;
    for (int64_t i = 0; i < out; i++)
        for (int64_t j = 0; j < ldd; j++) {
            float want = d[i * ldd + j] + before[i * ldd + j];
            if (j < in) differ += memcmp(&want, &acc[i * ldd + j], 4) != 0 && !(isnan(want) && isnan(acc[i * ldd + j]));
            else padding += memcmp(&d[i * ldd + j], (unsigned char[4]){POISON, POISON, POISON, POISON}, 4) != 0;
        }
    CHECK(differ == 0, "%s: %lld elements of D += A·Bᵀ differ from D + (A·Bᵀ)", what, (long long)differ);
    CHECK(padding == 0, "%s: %lld padding elements of D written", what, (long long)padding);
    mirror_free(&da), mirror_free(&db), mirror_free(&dsa), mirror_free(&dsb), mirror_free(&dd);
    free(dy), free(x), free(a), free(b), free(sa), free(sb), free(before), free(d), free(acc), free(ref), free(mag);
}

int main(void)
{
    gpu = test_gpu_ctx_or_skip();
    if (fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) return 1;
    rng_seed(&rng, 1718);
    /* The last two give x, q and qt 16-byte aligned rows (check_quantize_transpose's leading
     * dimensions are cols + 16 and rows + 16): the vector path, with a 16-row last tile and
     * a part-filled last column tile in 144x272, NaN/inf/zero blocks in 384x2112. */
    static const int64_t shapes[][2] = {{1, 1},      {1, 17},     {17, 1},    {127, 129}, {129, 300},
                                        {300, 2112}, {2112, 130}, {144, 272}, {384, 2112}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = FP8BLOCK_F32; t <= FP8BLOCK_F16; t++)
            for (int skip = 0; skip < 3; skip++)
                check_quantize_transpose(shapes[i][0], shapes[i][1], (fp8block_dtype)t,
                                         (i + t + skip) % 2 ? FP8BLOCK_SCALE_POW2 : 0, skip);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_weight_transpose(shapes[i][0], shapes[i][1]);
    /* 2048x2112x384: 272 CTAs of 128x128 tiles, a partial last wave, so stream-K; N = 131 leaves
     * three columns in the last lane's float4 of column scales. */
    static const int64_t wgrad[][3] = {{17, 129, 1},     {129, 130, 300},  {256, 384, 1000},
                                       {1024, 770, 2049}, {2048, 2112, 384}, {256, 131, 300}};
    for (size_t i = 0; i < sizeof wgrad / sizeof wgrad[0]; i++) check_wgrad(wgrad[i][0], wgrad[i][1], wgrad[i][2]);
    fp8block_destroy(cpu);
    fp8block_destroy(gpu);
    return test_finish("test_training_gpu");
}
