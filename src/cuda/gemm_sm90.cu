/* Placeholder until the Hopper GEMM lands (issue 4). */
#include "device.h"

fp8block_status cuda_gemm(cuda_device *dev, const gemm_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "the GPU GEMM is not implemented yet");
}
