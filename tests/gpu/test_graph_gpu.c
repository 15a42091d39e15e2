/* Calls captured in a CUDA graph (docs/DESIGN.md §3.5): quantize the activations and run the
 * GEMM (K-split pairs, stream-K, data-parallel plans; bf16 and e4m3 D) inside
 * cudaStreamBeginCapture, replay the graph on new activations, and compare D's elements byte
 * for byte with the same calls made eagerly on those activations (D's padding columns, which
 * the GEMM does not write, must keep the poison the replay ran on). Each shape runs once eagerly before
 * the capture (the E4M3 scratch grows outside it). */
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "rng.h"
#include "testutil.h"

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>

typedef struct {
    fp8block_ctx *ctx;
    int64_t m, n, k, ldq, ldsa, ldsb, ldd;
    fp8block_dtype out;
    void *x, *qa, *sa, *qb, *sb, *d, *sd;
} layer;

static fp8block_status forward(const layer *l, cudaStream_t stream)
{
    fp8block_status st = fp8block_quantize_1x128(l->ctx, l->x, FP8BLOCK_BF16, l->m, l->k, l->k, l->qa, l->ldq, l->sa,
                                                 l->ldsa, stream);
    if (st != FP8BLOCK_OK) return st;
    fp8block_gemm_desc g = FP8BLOCK_GEMM_DESC_INIT;
    g.m = l->m, g.n = l->n, g.k = l->k, g.a = l->qa, g.lda = l->ldq, g.sa = l->sa, g.ldsa = l->ldsa;
    g.b = l->qb, g.ldb = l->ldq, g.sb = l->sb, g.ldsb = l->ldsb, g.d = l->d, g.d_dtype = l->out, g.ldd = l->ldd;
    if (l->out == FP8BLOCK_E4M3) g.sd = l->sd, g.ldsd = l->ldsa;
    return fp8block_gemm_ex(l->ctx, &g, stream);
}

static size_t d_element_bytes(const layer *l) { return l->out == FP8BLOCK_E4M3 ? 1 : 2; }

/* D's m x n elements (and, for E4M3, its m x ceil(n/128) scales) of two downloads: the
 * padding between n and ldd is not the GEMM's to write, so it is not compared here. */
static int same_elements(const layer *l, const unsigned char *a, const unsigned char *b)
{
    const size_t es = d_element_bytes(l), d_bytes = (size_t)(l->m * l->ldd) * es;
    for (int64_t r = 0; r < l->m; r++)
        if (memcmp(a + (size_t)(r * l->ldd) * es, b + (size_t)(r * l->ldd) * es, (size_t)l->n * es)) return 0;
    if (l->out != FP8BLOCK_E4M3) return 1;
    for (int64_t c = 0; c < (l->n + 127) / 128; c++)
        if (memcmp(a + d_bytes + (size_t)(c * l->ldsa) * 4, b + d_bytes + (size_t)(c * l->ldsa) * 4, (size_t)l->m * 4))
            return 0;
    return 1;
}

/* The replay ran on a D poisoned with 0xff: its padding columns must still hold the poison. */
static int padding_untouched(const layer *l, const unsigned char *d)
{
    const size_t es = d_element_bytes(l);
    for (int64_t r = 0; r < l->m; r++)
        for (size_t i = (size_t)l->n * es; i < (size_t)l->ldd * es; i++)
            if (d[(size_t)(r * l->ldd) * es + i] != 0xff) return 0;
    return 1;
}

static void *random_bf16(rng_state *rng, int64_t count)
{
    uint16_t *h = malloc((size_t)count * 2);
    for (int64_t i = 0; i < count; i++) {
        float f = (float)rng_normal(rng);
        uint32_t u;
        memcpy(&u, &f, 4);
        h[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
    }
    return h;
}

static void check_graph(fp8block_ctx *ctx, rng_state *rng, int64_t m, int64_t n, int64_t k, fp8block_dtype out)
{
    char what[96];
    snprintf(what, sizeof what, "graph %lldx%lldx%lld %s", (long long)m, (long long)n, (long long)k,
             out == FP8BLOCK_E4M3 ? "E4M3" : "BF16");
    layer l;
    memset(&l, 0, sizeof l);
    l.ctx = ctx, l.m = m, l.n = n, l.k = k, l.out = out;
    l.ldq = (k + 15) / 16 * 16, l.ldsa = (m + 3) / 4 * 4, l.ldsb = ((k + 127) / 128 + 3) / 4 * 4;
    l.ldd = out == FP8BLOCK_E4M3 ? (n + 15) / 16 * 16 : (n + 7) / 8 * 8;
    const size_t d_bytes = (size_t)(m * l.ldd) * (out == FP8BLOCK_E4M3 ? 1 : 2);
    const size_t sd_bytes = (size_t)(((n + 127) / 128) * l.ldsa) * 4, x_bytes = (size_t)(m * k) * 2;
    l.x = devmem_alloc(ctx, x_bytes), l.qa = devmem_alloc(ctx, (size_t)(m * l.ldq));
    l.sa = devmem_alloc(ctx, (size_t)(((k + 127) / 128) * l.ldsa) * 4), l.qb = devmem_alloc(ctx, (size_t)(n * l.ldq));
    l.sb = devmem_alloc(ctx, (size_t)(((n + 127) / 128) * l.ldsb) * 4), l.d = devmem_alloc(ctx, d_bytes);
    l.sd = devmem_alloc(ctx, sd_bytes);
    void *w = random_bf16(rng, n * k), *x1 = random_bf16(rng, m * k), *x2 = random_bf16(rng, m * k);
    void *wd = devmem_alloc(ctx, (size_t)(n * k) * 2);
    unsigned char *eager = malloc(d_bytes + sd_bytes), *replayed = malloc(d_bytes + sd_bytes);
    cudaStream_t stream = NULL;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    int ok = l.x && l.qa && l.sa && l.qb && l.sb && l.d && l.sd && wd && eager && replayed &&
             cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess;
    ok = ok && !devmem_upload(ctx, wd, w, (size_t)(n * k) * 2) &&
         fp8block_quantize_128x128(ctx, wd, FP8BLOCK_BF16, n, k, k, l.qb, l.ldq, l.sb, l.ldsb, NULL) == FP8BLOCK_OK;
    /* once eagerly on x1, then captured */
    ok = ok && !devmem_upload(ctx, l.x, x1, x_bytes) && forward(&l, stream) == FP8BLOCK_OK &&
         cudaStreamSynchronize(stream) == cudaSuccess;
    CHECK(ok, "%s: setting up: %s", what, fp8block_last_error(ctx));
    if (ok) {
        cudaError_t begun = cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal);
        fp8block_status st = begun == cudaSuccess ? forward(&l, stream) : FP8BLOCK_ERR_CUDA;
        cudaError_t ended = begun == cudaSuccess ? cudaStreamEndCapture(stream, &graph) : begun;
        CHECK(st == FP8BLOCK_OK && ended == cudaSuccess, "%s: capture: %s / %s", what, fp8block_last_error(ctx),
              cudaGetErrorString(ended));
        ok = st == FP8BLOCK_OK && ended == cudaSuccess && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
        CHECK(ok, "%s: instantiating the graph", what);
    }
    if (ok) {
        /* eager on x2, then the graph on x2: the same bytes */
        ok = !devmem_upload(ctx, l.x, x2, x_bytes) && forward(&l, stream) == FP8BLOCK_OK &&
             cudaStreamSynchronize(stream) == cudaSuccess && !devmem_download(ctx, eager, l.d, d_bytes) &&
             !devmem_download(ctx, eager + d_bytes, l.sd, sd_bytes) &&
             /* everything the graph writes, poisoned: a step it dropped cannot pass on the eager bytes */
             !devmem_fill(ctx, l.d, 0xff, d_bytes) && !devmem_fill(ctx, l.sd, 0xff, sd_bytes) &&
             !devmem_fill(ctx, l.qa, 0xff, (size_t)(m * l.ldq)) &&
             !devmem_fill(ctx, l.sa, 0xff, (size_t)(((k + 127) / 128) * l.ldsa) * 4) &&
             cudaGraphLaunch(exec, stream) == cudaSuccess && cudaStreamSynchronize(stream) == cudaSuccess &&
             !devmem_download(ctx, replayed, l.d, d_bytes) && !devmem_download(ctx, replayed + d_bytes, l.sd, sd_bytes);
        CHECK(ok, "%s: replaying: %s", what, cudaGetErrorString(cudaGetLastError()));
        const int same = ok && same_elements(&l, eager, replayed);
        CHECK(!ok || same, "%s: the replayed graph's D differs from the eager calls'", what);
        const int padding_kept = !ok || padding_untouched(&l, replayed);
        CHECK(padding_kept, "%s: the replayed graph wrote D's padding (columns n..ldd)", what);
        if (same && padding_kept) printf("%s: replay equals eager\n", what);
    }
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (stream) cudaStreamDestroy(stream);
    void *bufs[] = {l.x, l.qa, l.sa, l.qb, l.sb, l.d, l.sd, wd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) devmem_free(ctx, bufs[i]);
    free(w), free(x1), free(x2), free(eager), free(replayed);
}
#endif

int main(void)
{
    fp8block_ctx *ctx = test_gpu_ctx_or_skip();
#if FP8BLOCK_HAVE_CUDA
    rng_state rng;
    rng_seed(&rng, 2020);
    check_graph(ctx, &rng, 128, 2112, 7168, FP8BLOCK_BF16); /* K-split pairs */
    check_graph(ctx, &rng, 128, 4096, 7168, FP8BLOCK_BF16); /* small-M stream-K or pairs */
    check_graph(ctx, &rng, 2101, 2100, 640, FP8BLOCK_BF16); /* stream-K over the last wave */
    check_graph(ctx, &rng, 1024, 1024, 1024, FP8BLOCK_BF16); /* data-parallel */
    check_graph(ctx, &rng, 64, 2112, 7168, FP8BLOCK_E4M3);  /* E4M3 through the scratch */
    check_graph(ctx, &rng, 2048, 1856, 512, FP8BLOCK_E4M3); /* E4M3 in the epilogue */
#endif
    fp8block_destroy(ctx);
    return test_finish("test_graph_gpu");
}
