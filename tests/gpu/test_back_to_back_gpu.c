/* Kernels queued back to back on one stream, with no synchronisation between them, read
 * what the kernel before them wrote and nothing older: every fp8block kernel may start
 * while its predecessor drains (programmatic dependent launch, src/cuda/launch_order.cuh)
 * and must wait for it before it touches memory.
 *
 * Each call of a layer quantizes one of two activations into the same codes and scales,
 * multiplies them with fixed weights into its own D and dequantizes them into its own
 * buffer. So a GEMM or a dequantize that started early would read the other activation's
 * codes (or a mix), and a quantize that started early would overwrite the codes the
 * previous GEMM still reads. Every output must be the bytes of the same call run alone
 * (the two references differ, or the check could not fail). Shapes cover the GEMM's
 * K-split pairs, stream-K at small and large M, and tall tiles. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "rng.h"
#include "testutil.h"

#define CALLS 16
#define POISON 0xff

static fp8block_ctx *ctx;

typedef struct {
    int64_t m, n, k, ldsa, ldsb;
    uint8_t *qa, *qb; /* the codes every call overwrites / the weights */
    float *sa, *sb;
    void *x[2];       /* the two activations (f32) */
    size_t d_bytes, y_bytes;
} layer;

/* One call: quantize activation j, D = A·Bᵀ (bf16), Y = dequantize(A) (f32). */
static fp8block_status run_layer(const layer *l, int j, void *d, void *y)
{
    fp8block_status st = fp8block_quantize_1x128(ctx, l->x[j], FP8BLOCK_F32, l->m, l->k, l->k, l->qa, l->k, l->sa,
                                                 l->ldsa, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_gemm(ctx, l->m, l->n, l->k, l->qa, l->k, l->sa, l->ldsa, l->qb, l->k, l->sb, l->ldsb, d,
                           FP8BLOCK_BF16, l->n, NULL);
    if (st == FP8BLOCK_OK)
        st = fp8block_dequantize_1x128(ctx, l->qa, l->k, l->sa, l->ldsa, l->m, l->k, y, FP8BLOCK_F32, l->k, NULL);
    return st;
}

static void *upload_normal(rng_state *rng, int64_t count)
{
    float *h = malloc((size_t)count * sizeof(float));
    void *d = devmem_alloc(ctx, (size_t)count * sizeof(float));
    if (h && d) {
        for (int64_t i = 0; i < count; i++) h[i] = (float)rng_normal(rng);
        if (devmem_upload(ctx, d, h, (size_t)count * sizeof(float)) != 0) devmem_free(ctx, d), d = NULL;
    }
    free(h);
    return d;
}

static void test_shape(rng_state *rng, int64_t m, int64_t n, int64_t k)
{
    layer l;
    memset(&l, 0, sizeof l);
    l.m = m, l.n = n, l.k = k, l.ldsa = round_up(m, 4), l.ldsb = ceil_div(k, 128);
    l.d_bytes = (size_t)(m * n) * 2, l.y_bytes = (size_t)(m * k) * 4;
    void *xb = upload_normal(rng, n * k);
    l.x[0] = upload_normal(rng, m * k), l.x[1] = upload_normal(rng, m * k);
    l.qa = devmem_alloc(ctx, (size_t)(m * k)), l.qb = devmem_alloc(ctx, (size_t)(n * k));
    l.sa = devmem_alloc(ctx, (size_t)(ceil_div(k, 128) * l.ldsa) * 4);
    l.sb = devmem_alloc(ctx, (size_t)(ceil_div(n, 128) * l.ldsb) * 4);
    uint8_t *d_all = devmem_alloc(ctx, l.d_bytes * CALLS), *y_all = devmem_alloc(ctx, l.y_bytes * CALLS);
    uint8_t *ref_d = malloc(2 * l.d_bytes), *ref_y = malloc(2 * l.y_bytes);
    uint8_t *got_d = malloc(l.d_bytes), *got_y = malloc(l.y_bytes);
    int ready = xb && l.x[0] && l.x[1] && l.qa && l.qb && l.sa && l.sb && d_all && y_all && ref_d && ref_y &&
                got_d && got_y;
    CHECK(ready, "%" PRId64 "x%" PRId64 "x%" PRId64 ": setup failed", m, n, k);

    fp8block_status st = FP8BLOCK_OK;
    if (ready)
        st = fp8block_quantize_128x128(ctx, xb, FP8BLOCK_F32, n, k, k, l.qb, k, l.sb, l.ldsb, NULL);
    /* The references: each activation's call alone, the device idle before and after. */
    for (int j = 0; j < 2 && ready && st == FP8BLOCK_OK; j++) {
        st = devmem_sync(ctx) ? FP8BLOCK_ERR_CUDA : run_layer(&l, j, d_all, y_all);
        if (st == FP8BLOCK_OK && (devmem_download(ctx, ref_d + j * l.d_bytes, d_all, l.d_bytes) != 0 ||
                                  devmem_download(ctx, ref_y + j * l.y_bytes, y_all, l.y_bytes) != 0))
            st = FP8BLOCK_ERR_CUDA;
    }
    CHECK(st == FP8BLOCK_OK, "%" PRId64 "x%" PRId64 "x%" PRId64 ": reference calls: %s (%s)", m, n, k,
          fp8block_status_string(st), fp8block_last_error(ctx));
    ready = ready && st == FP8BLOCK_OK;
    if (ready)
        CHECK(memcmp(ref_d, ref_d + l.d_bytes, l.d_bytes) != 0 && memcmp(ref_y, ref_y + l.y_bytes, l.y_bytes) != 0,
              "%" PRId64 "x%" PRId64 "x%" PRId64 ": the two activations give the same outputs", m, n, k);

    if (ready) {
        ready = devmem_fill(ctx, d_all, POISON, l.d_bytes * CALLS) == 0 &&
                devmem_fill(ctx, y_all, POISON, l.y_bytes * CALLS) == 0 && devmem_sync(ctx) == 0;
        CHECK(ready, "%" PRId64 "x%" PRId64 "x%" PRId64 ": poisoning the outputs failed", m, n, k);
    }
    if (ready) {
        /* All calls queued before anything waits for them. */
        for (int i = 0; i < CALLS && st == FP8BLOCK_OK; i++)
            st = run_layer(&l, i % 2, d_all + i * l.d_bytes, y_all + i * l.y_bytes);
        CHECK(st == FP8BLOCK_OK && devmem_sync(ctx) == 0, "%" PRId64 "x%" PRId64 "x%" PRId64 ": queued calls: %s (%s)",
              m, n, k, fp8block_status_string(st), fp8block_last_error(ctx));
        int d_differ = 0, y_differ = 0;
        for (int i = 0; i < CALLS && st == FP8BLOCK_OK; i++) {
            d_differ += devmem_download(ctx, got_d, d_all + i * l.d_bytes, l.d_bytes) != 0 ||
                        memcmp(got_d, ref_d + (i % 2) * l.d_bytes, l.d_bytes) != 0;
            y_differ += devmem_download(ctx, got_y, y_all + i * l.y_bytes, l.y_bytes) != 0 ||
                        memcmp(got_y, ref_y + (i % 2) * l.y_bytes, l.y_bytes) != 0;
        }
        CHECK(d_differ == 0 && y_differ == 0,
              "%" PRId64 "x%" PRId64 "x%" PRId64 ": %d GEMM and %d dequantize outputs of %d back-to-back calls differ "
              "from the call run alone", m, n, k, d_differ, y_differ, CALLS);
        printf("%" PRId64 "x%" PRId64 "x%" PRId64 ": %d calls queued back to back, %d GEMM / %d dequantize outputs "
               "differ from the call alone\n", m, n, k, CALLS, d_differ, y_differ);
    }

    devmem_free(ctx, xb), devmem_free(ctx, l.x[0]), devmem_free(ctx, l.x[1]);
    devmem_free(ctx, l.qa), devmem_free(ctx, l.qb), devmem_free(ctx, l.sa), devmem_free(ctx, l.sb);
    devmem_free(ctx, d_all), devmem_free(ctx, y_all);
    free(ref_d), free(ref_y), free(got_d), free(got_y);
}

int main(void)
{
    ctx = test_gpu_ctx_or_skip();
    rng_state rng;
    rng_seed(&rng, 0x5eed000b);
    /* 64x2112x7168: 32-wide tiles with K cut in CTA pairs; 64x1024x7168: stream-K at small
     * M; 1024x2112x1024: stream-K over a partial last wave; 2048^3: tall-tile pairs. */
    static const int64_t shapes[][3] = {{64, 2112, 7168}, {64, 1024, 7168}, {1024, 2112, 1024}, {2048, 2048, 2048}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        test_shape(&rng, shapes[i][0], shapes[i][1], shapes[i][2]);
    fp8block_destroy(ctx);
    return test_finish("test_back_to_back_gpu");
}
