/* The cuBLASLt baselines compute what fp8block computes. On the same codes and scales,
 * cuBLASLt's block-scaled GEMM must match the fp64 product of the dequantized operands
 * (tests/common/gemm_check) and fp8block's CPU reference backend: that proves the
 * operand order of bench/cublaslt.c and that fp8block's scale layouts are cuBLASLt's
 * (VEC128_32F for A, BLK128x128_32F for B), so the bench compares like with like. The
 * per-tensor and bf16 baselines are checked the same way. Skips without a GPU. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublaslt.h"
#include "devmem.h"
#include "gemm_check.h"
#include "reference_codec.h"
#include "rng.h"
#include "testutil.h"

typedef struct {
    int64_t m, n, k;
} shape;


/* Random values whose magnitude changes from row to row and block to block, so that a
 * scale applied to the wrong block or row shows. */
static float *random_matrix(rng_state *r, int64_t rows, int64_t cols)
{
    float *x = malloc((size_t)(rows * cols) * sizeof *x);
    for (int64_t i = 0; i < rows; i++) {
        double row_scale = ldexp(1.0, (int)rng_range(r, -6, 6));
        for (int64_t j = 0; j < cols; j++) {
            double block_scale = ((j / 128 + i / 128) % 3 == 0) ? 8.0 : 1.0;
            x[i * cols + j] = (float)(rng_normal(r) * row_scale * block_scale);
        }
    }
    return x;
}

typedef struct {
    fp8block_ctx *gpu;
    baseline_lib *lib;
    void *a, *b, *d;
    float *sa, *sb;
} device_state;

static void free_device(device_state *s)
{
    devmem_free(s->gpu, s->a);
    devmem_free(s->gpu, s->b);
    devmem_free(s->gpu, s->d);
    devmem_free(s->gpu, s->sa);
    devmem_free(s->gpu, s->sb);
    s->a = s->b = s->d = NULL;
    s->sa = s->sb = NULL;
}

/* Runs one baseline on host operands and returns D (bf16, M×N) on the host, or NULL. */
static uint16_t *run_baseline(device_state *s, baseline_kind kind, shape sh, const void *a, size_t a_bytes,
                              const float *sa, size_t sa_bytes, const void *b, size_t b_bytes, const float *sb,
                              size_t sb_bytes)
{
    char why[256] = "";
    size_t d_bytes = (size_t)(sh.m * sh.n) * 2;
    s->a = devmem_alloc(s->gpu, a_bytes);
    s->b = devmem_alloc(s->gpu, b_bytes);
    s->d = devmem_alloc(s->gpu, d_bytes);
    if (sa) s->sa = devmem_alloc(s->gpu, sa_bytes);
    if (sb) s->sb = devmem_alloc(s->gpu, sb_bytes);
    uint16_t *d = malloc(d_bytes);
    int ok = s->a && s->b && s->d && (!sa || s->sa) && (!sb || s->sb) && d;
    ok = ok && devmem_upload(s->gpu, s->a, a, a_bytes) == 0 && devmem_upload(s->gpu, s->b, b, b_bytes) == 0;
    ok = ok && (!sa || devmem_upload(s->gpu, s->sa, sa, sa_bytes) == 0);
    ok = ok && (!sb || devmem_upload(s->gpu, s->sb, sb, sb_bytes) == 0);
    ok = ok && devmem_fill(s->gpu, s->d, 0xff, d_bytes) == 0; /* NaN everywhere: unwritten shows */
    CHECK(ok, "%s %lldx%lldx%lld: device buffers", baseline_kind_name(kind), (long long)sh.m, (long long)sh.n,
          (long long)sh.k);
    baseline_gemm *g = ok ? baseline_gemm_create(s->lib, kind, sh.m, sh.n, sh.k, why, sizeof why) : NULL;
    CHECK(!ok || g, "%s %lldx%lldx%lld: %s", baseline_kind_name(kind), (long long)sh.m, (long long)sh.n,
          (long long)sh.k, why);
    int ran = g && baseline_gemm_run(g, s->a, s->sa, s->b, s->sb, s->d, NULL, why, sizeof why) == 0;
    CHECK(!g || ran, "%s run: %s", baseline_kind_name(kind), why);
    ran = ran && devmem_sync(s->gpu) == 0 && devmem_download(s->gpu, d, s->d, d_bytes) == 0;
    baseline_gemm_destroy(g);
    free_device(s);
    if (!ran) {
        free(d);
        return NULL;
    }
    return d;
}

static double bf16_value(const uint16_t *d, int64_t i) { return ref_bf16_to_f64(d[i]); }

/* ||x - y|| / ||y|| over two bf16 matrices. */
static double rel_frobenius_bf16(const uint16_t *x, const uint16_t *y, int64_t count)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < count; i++) {
        double e = bf16_value(x, i) - bf16_value(y, i);
        num += e * e;
        den += bf16_value(y, i) * bf16_value(y, i);
    }
    return sqrt(num / den);
}

static void check_block_scaled(device_state *s, fp8block_ctx *cpu, shape sh, rng_state *r)
{
    int64_t kb = ceil_div(sh.k, 128), nb = ceil_div(sh.n, 128), ldsb = baseline_block_scale_ld(sh.k);
    float *x = random_matrix(r, sh.m, sh.k), *w = random_matrix(r, sh.n, sh.k);
    uint8_t *a = malloc((size_t)(sh.m * sh.k)), *b = malloc((size_t)(sh.n * sh.k));
    float *sa = malloc((size_t)(kb * sh.m) * 4), *sb = malloc((size_t)(nb * ldsb) * 4);
    uint16_t *d_cpu = malloc((size_t)(sh.m * sh.n) * 2);
    for (int64_t i = 0; i < nb * ldsb; i++) sb[i] = NAN; /* the padding: read, it would show */
    fp8block_status st = fp8block_quantize_1x128(cpu, x, FP8BLOCK_F32, sh.m, sh.k, sh.k, a, sh.k, sa, sh.m, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_quantize_128x128(cpu, w, FP8BLOCK_F32, sh.n, sh.k, sh.k, b, sh.k, sb, ldsb, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_gemm(cpu, sh.m, sh.n, sh.k, a, sh.k, sa, sh.m, b, sh.k, sb, ldsb, d_cpu, FP8BLOCK_BF16, sh.n,
                           NULL);
    CHECK(st == FP8BLOCK_OK, "CPU reference: %s", fp8block_last_error(cpu));

    uint16_t *d = run_baseline(s, BASELINE_FP8_BLOCK, sh, a, (size_t)(sh.m * sh.k), sa, (size_t)(kb * sh.m) * 4, b,
                               (size_t)(sh.n * sh.k), sb, (size_t)(nb * ldsb) * 4);
    if (d && st == FP8BLOCK_OK) {
        char label[96];
        snprintf(label, sizeof label, "cublaslt_fp8_block %lldx%lldx%lld", (long long)sh.m, (long long)sh.n,
                 (long long)sh.k);
        gemm_check_result res = gemm_check(sh.m, sh.n, sh.k, a, sh.k, sa, sh.m, b, sh.k, sb, ldsb, d, FP8BLOCK_BF16,
                                           sh.n, sh.m > 512 ? 7 : 1);
        gemm_check_print(stdout, label, &res);
        CHECK(gemm_check_passed(&res), "%s against the fp64 product of the dequantized operands", label);
        double vs_cpu = rel_frobenius_bf16(d, d_cpu, sh.m * sh.n);
        printf("%s: relative Frobenius difference to fp8block's CPU backend %.3g\n", label, vs_cpu);
        CHECK(vs_cpu <= 4e-3, "%s differs from fp8block's CPU backend by %.3g", label, vs_cpu);
    }
    free(d);
    free(d_cpu);
    free(x), free(w), free(a), free(b), free(sa), free(sb);
}

/* Per-tensor FP8: the same check with every block scale equal to the operand's scalar. */
static void check_per_tensor(device_state *s, shape sh, rng_state *r)
{
    int64_t kb = ceil_div(sh.k, 128), nb = ceil_div(sh.n, 128);
    uint8_t *a = malloc((size_t)(sh.m * sh.k)), *b = malloc((size_t)(sh.n * sh.k));
    for (int64_t i = 0; i < sh.m * sh.k; i++) a[i] = ref_e4m3_from_f32((float)(rng_normal(r) * 64));
    for (int64_t i = 0; i < sh.n * sh.k; i++) b[i] = ref_e4m3_from_f32((float)(rng_normal(r) * 64));
    const float scale_a = 0.375f, scale_b = 0.0625f; /* different, so a swap shows nowhere but in the order */
    float *sa = malloc((size_t)(kb * sh.m) * 4), *sb = malloc((size_t)(nb * kb) * 4);
    for (int64_t i = 0; i < kb * sh.m; i++) sa[i] = scale_a;
    for (int64_t i = 0; i < nb * kb; i++) sb[i] = scale_b;
    uint16_t *d = run_baseline(s, BASELINE_FP8_TENSOR, sh, a, (size_t)(sh.m * sh.k), &scale_a, 4, b,
                               (size_t)(sh.n * sh.k), &scale_b, 4);
    if (d) {
        char label[96];
        snprintf(label, sizeof label, "cublaslt_fp8_tensor %lldx%lldx%lld", (long long)sh.m, (long long)sh.n,
                 (long long)sh.k);
        gemm_check_result res = gemm_check(sh.m, sh.n, sh.k, a, sh.k, sa, sh.m, b, sh.k, sb, kb, d, FP8BLOCK_BF16,
                                           sh.n, sh.m > 512 ? 7 : 1);
        gemm_check_print(stdout, label, &res);
        CHECK(gemm_check_passed(&res), "%s against the fp64 product", label);
    }
    free(d);
    free(a), free(b), free(sa), free(sb);
}

/* bf16: every element against an fp64 product of the bf16 inputs, within bf16 rounding of
 * the output plus fp32 accumulation. */
static void check_bf16(device_state *s, shape sh, rng_state *r)
{
    uint16_t *a = malloc((size_t)(sh.m * sh.k) * 2), *b = malloc((size_t)(sh.n * sh.k) * 2);
    for (int64_t i = 0; i < sh.m * sh.k; i++) a[i] = ref_bf16_from_f32((float)rng_normal(r));
    for (int64_t i = 0; i < sh.n * sh.k; i++) b[i] = ref_bf16_from_f32((float)(rng_normal(r) * 3));
    uint16_t *d = run_baseline(s, BASELINE_BF16, sh, a, (size_t)(sh.m * sh.k) * 2, NULL, 0, b,
                               (size_t)(sh.n * sh.k) * 2, NULL, 0);
    if (d) {
        int64_t bad = 0;
        for (int64_t i = 0; i < sh.m; i++) {
            for (int64_t j = 0; j < sh.n; j++) {
                double ref = 0, mag = 0;
                for (int64_t t = 0; t < sh.k; t++) {
                    double p = bf16_value(a, i * sh.k + t) * bf16_value(b, j * sh.k + t);
                    ref += p;
                    mag += fabs(p);
                }
                double got = bf16_value(d, i * sh.n + j);
                if (!(fabs(got - ref) <= 0x1p-8 * fabs(ref) + 0x1p-16 * mag) && bad++ < 3)
                    fprintf(stderr, "bf16 D[%lld][%lld] = %g, fp64 %g\n", (long long)i, (long long)j, got, ref);
            }
        }
        printf("cublaslt_bf16 %lldx%lldx%lld: %lld of %lld elements outside the bound\n", (long long)sh.m,
               (long long)sh.n, (long long)sh.k, (long long)bad, (long long)(sh.m * sh.n));
        CHECK(bad == 0, "cublaslt_bf16: %lld elements outside the bound", (long long)bad);
    }
    free(d);
    free(a), free(b);
}

int main(void)
{
    device_state s = {0};
    s.gpu = test_gpu_ctx_or_skip();
    fp8block_ctx *cpu = NULL;
    if (fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "CPU context: %s\n", fp8block_last_error(NULL));
        return 1;
    }
    char why[256] = "";
    s.lib = baseline_lib_open(fp8block_device(s.gpu), why, sizeof why);
    if (!s.lib) {
        fprintf(stderr, "cuBLASLt: %s\n", why);
        return 1;
    }
    printf("%s\n", baseline_lib_version(s.lib));
    rng_state r;
    rng_seed(&r, 20261124);
    /* Full tiles; partial M, N and K blocks; ceil(K/128) = 5, where B's scale rows are
     * padded to 8 (baseline_block_scale_ld); the bench's small-M DeepSeek shape. */
    const shape shapes[] = {{128, 128, 128}, {256, 384, 640}, {100, 264, 400}, {200, 264, 656}, {64, 2112, 7168}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_block_scaled(&s, cpu, shapes[i], &r);
        check_per_tensor(&s, shapes[i], &r);
        if (shapes[i].k <= 1024) check_bf16(&s, shapes[i], &r);
    }
    baseline_lib_close(s.lib);
    fp8block_destroy(cpu);
    fp8block_destroy(s.gpu);
    return test_finish("test_cublaslt");
}
