/* 64-bit index arithmetic on the GPU, checked against the CPU reference:
 *   1. quantize_1x128 and dequantize_1x128 of a (2^31/128 + 1) × 128 BF16 matrix (2^31 + 128
 *      codes), every code, scale and output element compared bit for bit;
 *   2. a GEMM whose A has 2^31 + 2^17 codes (16385 × 131072), and one whose D has
 *      2^31 + 2^15 elements (65537 × 32768), rows on both sides of element 2^31 checked;
 *   3. a GEMM with K = 1,048,576.
 * Needs about 7 GB of GPU memory and 16 GB of host memory; skipped under
 * FP8BLOCK_TEST_SMALL (compute-sanitizer runs). FP8BLOCK_ERR_UNSUPPORTED from any call fails
 * the test (the context exists, so the device is sm_90). Every output is poisoned (0xff, NaN)
 * before the call. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "gemm_check.h"
#include "rng.h"
#include "testutil.h"

static fp8block_ctx *gpu, *cpu;

static void *host(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "test_large_gpu: cannot allocate %zu bytes of host memory\n", bytes);
        exit(1);
    }
    return p;
}

static void *device(size_t bytes)
{
    void *p = devmem_alloc(gpu, bytes);
    if (!p) {
        fprintf(stderr, "test_large_gpu: cannot allocate %zu bytes of GPU memory\n", bytes);
        exit(1);
    }
    return p;
}

static void put(void *dev, const void *src, size_t bytes)
{
    if (devmem_upload(gpu, dev, src, bytes) != 0) exit((fprintf(stderr, "upload failed\n"), 1));
}

/* 0xff bytes: NaN in bf16/f16/f32 and the e4m3 NaN code, so an element never written shows. */
static void poison(void *dev, size_t bytes)
{
    if (devmem_fill(gpu, dev, 0xff, bytes) != 0) exit((fprintf(stderr, "poisoning an output failed\n"), 1));
}

static void get(void *dst, const void *dev, size_t bytes)
{
    if (devmem_download(gpu, dst, dev, bytes) != 0) exit((fprintf(stderr, "download failed (a kernel fault?)\n"), 1));
}

/* OK, or a failure (UNSUPPORTED included: the device is sm_90). */
static int ran(fp8block_status st, const char *what)
{
    CHECK(st == FP8BLOCK_OK, "%s: %s: %s", what, fp8block_status_string(st), fp8block_last_error(NULL));
    return st == FP8BLOCK_OK && devmem_sync(gpu) == 0;
}

/* ---- data, generated on all cores ---- */

typedef struct {
    uint8_t *p;
    size_t begin, end;
    int kind; /* 0: bf16 values, 1: finite e4m3 codes, 2: positive scales */
} fill_job;

static uint32_t hash32(uint64_t i)
{
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) * 40503u;
    h ^= h >> 15, h *= 0x2c1b3c6du, h ^= h >> 12;
    return h;
}

static void *fill_part(void *arg)
{
    fill_job *j = arg;
    for (size_t i = j->begin; i < j->end; i++) {
        uint32_t h = hash32(i);
        if (j->kind == 0) {
            uint16_t v = (uint16_t)((h & 0x807f) | ((120 + ((h >> 8) & 15)) << 7));
            memcpy(j->p + 2 * i, &v, 2);
        } else if (j->kind == 1) {
            j->p[i] = (uint8_t)((h % 0x7e) | ((h >> 8) & 0x80));
        } else {
            float v = 0.0005f + (float)(h % 1000) * 1e-5f;
            memcpy(j->p + 4 * i, &v, 4);
        }
    }
    return NULL;
}

static void *generate(size_t count, int kind)
{
    enum { THREADS = 16 };
    uint8_t *p = host(count * (kind == 0 ? 2 : kind == 1 ? 1 : 4));
    pthread_t ids[THREADS];
    fill_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (fill_job){p, count * t / THREADS, count * (t + 1) / THREADS, kind};
        if (pthread_create(&ids[t], NULL, fill_part, &jobs[t]) != 0) fill_part(&jobs[t]), ids[t] = 0;
    }
    for (int t = 0; t < THREADS; t++)
        if (ids[t]) pthread_join(ids[t], NULL);
    return p;
}

/* ---- 1. tall-skinny quantize and dequantize ---- */

static int64_t first_difference(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    if (memcmp(a, b, bytes) == 0) return -1;
    size_t i = 0;
    while (a[i] == b[i]) i++;
    return (int64_t)i;
}

static void tall_skinny(void)
{
    const int64_t cols = 128, rows = ((int64_t)1 << 31) / cols + 1, n = rows * cols;
    uint16_t *x = generate((size_t)n, 0);
    uint8_t *q_cpu = host((size_t)n), *q_gpu = host((size_t)n);
    float *s_cpu = host((size_t)rows * 4), *s_gpu = host((size_t)rows * 4);
    void *dx = device((size_t)n * 2), *dq = device((size_t)n), *ds = device((size_t)rows * 4);
    put(dx, x, (size_t)n * 2);
    poison(dq, (size_t)n), poison(ds, (size_t)rows * 4);
    fp8block_status st = fp8block_quantize_1x128(cpu, x, FP8BLOCK_BF16, rows, cols, cols, q_cpu, cols, s_cpu, rows, NULL);
    CHECK(st == FP8BLOCK_OK, "CPU quantize: %s", fp8block_last_error(NULL));
    if (ran(fp8block_quantize_1x128(gpu, dx, FP8BLOCK_BF16, rows, cols, cols, dq, cols, ds, rows, NULL),
            "quantize_1x128 of 16777217 x 128")) {
        get(q_gpu, dq, (size_t)n), get(s_gpu, ds, (size_t)rows * 4);
        int64_t dqi = first_difference(q_gpu, q_cpu, (size_t)n), dsi = first_difference((uint8_t *)s_gpu, (uint8_t *)s_cpu, (size_t)rows * 4);
        CHECK(dqi < 0, "tall quantize: first differing code at element %lld (row %lld)", (long long)dqi, (long long)(dqi / cols));
        CHECK(dsi < 0, "tall quantize: first differing scale at row %lld", (long long)(dsi / 4));

        /* dequantize the CPU's codes (known good) into x's memory on both sides */
        put(dq, q_cpu, (size_t)n), put(ds, s_cpu, (size_t)rows * 4);
        poison(dx, (size_t)n * 2);
        st = fp8block_dequantize_1x128(cpu, q_cpu, cols, s_cpu, rows, rows, cols, x, FP8BLOCK_BF16, cols, NULL);
        CHECK(st == FP8BLOCK_OK, "CPU dequantize: %s", fp8block_last_error(NULL));
        if (ran(fp8block_dequantize_1x128(gpu, dq, cols, ds, rows, rows, cols, dx, FP8BLOCK_BF16, cols, NULL),
                "dequantize_1x128 of 16777217 x 128")) {
            int64_t half = n / 2, bad = -1;
            for (int64_t part = 0; part < 2 && bad < 0; part++) { /* in halves: 2 GiB of host memory each */
                int64_t from = part * half, count = part ? n - half : half;
                uint16_t *chunk = host((size_t)count * 2);
                get(chunk, (uint16_t *)dx + from, (size_t)count * 2);
                int64_t d = first_difference((uint8_t *)chunk, (uint8_t *)(x + from), (size_t)count * 2);
                if (d >= 0) bad = from + d / 2;
                free(chunk);
            }
            CHECK(bad < 0, "tall dequantize: first differing element %lld (row %lld)", (long long)bad, (long long)(bad / cols));
            printf("tall-skinny %lld x %lld (%lld codes): quantize and dequantize %s the CPU's, every element\n",
                   (long long)rows, (long long)cols, (long long)n, dqi < 0 && dsi < 0 && bad < 0 ? "equal" : "DIFFER from");
        }
    }
    devmem_free(gpu, dx), devmem_free(gpu, dq), devmem_free(gpu, ds);
    free(x), free(q_cpu), free(q_gpu), free(s_cpu), free(s_gpu);
}

/* ---- 2 and 3: GEMMs with big operands ---- */

static void big_gemm(const char *what, int64_t m, int64_t n, int64_t k, fp8block_dtype dtype, int64_t row_step)
{
    int64_t kb = ceil_div(k, 128), nb = ceil_div(n, 128), ldsa = round_up(m, 4);
    size_t de = dtype == FP8BLOCK_F32 ? 4 : 2;
    int64_t ldd = (n + 7) / 8 * 8;
    uint8_t *a = generate((size_t)(m * k), 1), *b = generate((size_t)(n * k), 1);
    float *sa = generate((size_t)(kb * ldsa), 2), *sb = generate((size_t)(nb * kb), 2);
    void *da = device((size_t)(m * k)), *db = device((size_t)(n * k)), *dsa = device((size_t)(kb * ldsa) * 4);
    void *dsb = device((size_t)(nb * kb) * 4), *dd = device((size_t)(m * ldd) * de);
    put(da, a, (size_t)(m * k)), put(db, b, (size_t)(n * k));
    put(dsa, sa, (size_t)(kb * ldsa) * 4), put(dsb, sb, (size_t)(nb * kb) * 4);
    poison(dd, (size_t)(m * ldd) * de);
    double t0 = devmem_host_seconds();
    if (ran(fp8block_gemm(gpu, m, n, k, da, k, dsa, ldsa, db, k, dsb, kb, dd, dtype, ldd, NULL), what)) {
        double t1 = devmem_host_seconds();
        void *d = host((size_t)(m * ldd) * de);
        get(d, dd, (size_t)(m * ldd) * de);
        gemm_check_result r = gemm_check(m, n, k, a, k, sa, ldsa, b, k, sb, kb, d, dtype, ldd, row_step);
        CHECK(gemm_check_passed(&r), "%s: outside gemm_check's bounds", what);
        gemm_check_print(stdout, what, &r);
        printf("%s: %.3f s on the GPU (with launch)\n", what, t1 - t0);
        free(d);
    }
    devmem_free(gpu, da), devmem_free(gpu, db), devmem_free(gpu, dsa), devmem_free(gpu, dsb), devmem_free(gpu, dd);
    free(a), free(b), free(sa), free(sb);
}

int main(void)
{
    gpu = test_gpu_ctx_or_skip();
    if (getenv("FP8BLOCK_TEST_SMALL")) test_skip("large problems are not run under FP8BLOCK_TEST_SMALL");
    if (fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) return 1;
    tall_skinny();
    /* A: 2^31 + 2^17 codes; rows every 4096 and the last (which starts past element 2^31). */
    big_gemm("gemm 16385 x 256 x 131072 (A has 2^31 + 2^17 codes)", 16385, 256, 131072, FP8BLOCK_BF16, 4096);
    /* D: 2^31 + 2^15 elements. */
    big_gemm("gemm 65537 x 32768 x 128 (D has 2^31 + 2^15 elements)", 65537, 32768, 128, FP8BLOCK_BF16, 4096);
    big_gemm("gemm 256 x 256 x 1048576 (long K)", 256, 256, (int64_t)1 << 20, FP8BLOCK_F32, 85);
    fp8block_destroy(cpu);
    fp8block_destroy(gpu);
    return test_finish("test_large_gpu");
}
