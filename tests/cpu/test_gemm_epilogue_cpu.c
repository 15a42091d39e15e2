/* The GEMM epilogue's contract on the CPU backend (tests/common/gemm_epilogue_contract.h):
 * C, bias and E4M3 output, bit for bit. */
#include <stdio.h>

#include "gemm_epilogue_contract.h"
#include "testutil.h"

static fp8block_status run_on_cpu(void *user, const fp8block_gemm_desc *g, const gemm_buffer_sizes *sizes)
{
    (void)sizes; /* the CPU backend reads the host buffers themselves */
    return fp8block_gemm_ex((fp8block_ctx *)user, g, NULL);
}

int main(void)
{
    fp8block_ctx *ctx;
    fp8block_status st = fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s: %s\n", fp8block_status_string(st), fp8block_last_error(NULL));
        return 1;
    }
    gemm_epilogue_backend cpu = {"cpu", ctx, run_on_cpu, ctx, ctx, 0, 0};
    gemm_epilogue_contract_run(&cpu, 0x16e4u);
    fp8block_destroy(ctx);
    return test_finish("test_gemm_epilogue_cpu");
}
