/* The GEMM epilogue's contract on the GPU (tests/common/gemm_epilogue_contract.h): C and bias
 * in the kernel's epilogue against the same kernel's plain F32 D, in place included. Every
 * buffer is copied to the device with its guard bytes and the outputs come back whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "gemm_epilogue_contract.h"
#include "testutil.h"

typedef struct {
    const void *host;
    size_t bytes;
    void *dev;
} mirrored;

static fp8block_status run_on_gpu(void *user, const fp8block_gemm_desc *g, const gemm_buffer_sizes *sizes)
{
    fp8block_ctx *ctx = user;
    mirrored bufs[8] = {{g->a, sizes->a, NULL},   {g->sa, sizes->sa, NULL}, {g->b, sizes->b, NULL},
                        {g->sb, sizes->sb, NULL}, {g->d, sizes->d, NULL},   {g->sd, sizes->sd, NULL},
                        {g->c, sizes->c, NULL},   {g->bias, sizes->bias, NULL}};
    fp8block_status st = FP8BLOCK_OK;
    for (int i = 0; i < 8 && st == FP8BLOCK_OK; i++) {
        if (!bufs[i].host || (i == 6 && g->c == g->d)) continue;
        size_t bytes = bufs[i].bytes + GEMM_EPILOGUE_GUARD;
        bufs[i].dev = devmem_alloc(ctx, bytes);
        if (!bufs[i].dev || devmem_upload(ctx, bufs[i].dev, bufs[i].host, bytes)) st = FP8BLOCK_ERR_CUDA;
    }
    fp8block_gemm_desc dg = *g;
    dg.a = bufs[0].dev, dg.sa = bufs[1].dev, dg.b = bufs[2].dev, dg.sb = bufs[3].dev, dg.d = bufs[4].dev;
    dg.sd = bufs[5].dev, dg.c = g->c == g->d ? bufs[4].dev : bufs[6].dev, dg.bias = bufs[7].dev;
    CHECK(st == FP8BLOCK_OK, "copying the operands to the device");
    if (st == FP8BLOCK_OK) st = fp8block_gemm_ex(ctx, &dg, NULL);
    if (st == FP8BLOCK_OK && devmem_sync(ctx)) st = FP8BLOCK_ERR_CUDA;
    for (int i = 4; i <= 5 && st == FP8BLOCK_OK; i++)
        if (bufs[i].dev && devmem_download(ctx, (void *)bufs[i].host, bufs[i].dev, bufs[i].bytes + GEMM_EPILOGUE_GUARD))
            st = FP8BLOCK_ERR_CUDA;
    /* The inputs the epilogue reads must come back as they went (C unless it is D, bias). */
    for (int i = 6; i <= 7 && st == FP8BLOCK_OK; i++) {
        if (!bufs[i].dev) continue;
        unsigned char *back = malloc(bufs[i].bytes + GEMM_EPILOGUE_GUARD);
        int same = back && !devmem_download(ctx, back, bufs[i].dev, bufs[i].bytes + GEMM_EPILOGUE_GUARD) &&
                   !memcmp(back, bufs[i].host, bufs[i].bytes + GEMM_EPILOGUE_GUARD);
        CHECK(same, "the GEMM changed its input %s", i == 6 ? "c" : "bias");
        free(back);
    }
    for (int i = 0; i < 8; i++) devmem_free(ctx, bufs[i].dev);
    return st;
}

int main(void)
{
    fp8block_ctx *gpu = test_gpu_ctx_or_skip(), *cpu;
    if (fp8block_create(&cpu, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    /* 16-bit outputs: the plain F32 D and a BF16/F16 D may come from plans that sum K in a
     * different order (256-row tiles, K splits), so one unit in the last place is allowed
     * there; F32 with C or bias runs the plain F32 call's plan and must match it exactly. */
    gemm_epilogue_backend be = {"gpu", gpu, run_on_gpu, gpu, cpu, 1, 0};
    gemm_epilogue_contract_run(&be, 0x16e4u);
    fp8block_destroy(cpu);
    fp8block_destroy(gpu);
    return test_finish("test_gemm_epilogue_gpu");
}
