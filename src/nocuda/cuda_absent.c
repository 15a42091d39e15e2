/* A build without nvcc: the CPU backend works, every CUDA request says why it can't. */
#include "cuda_backend.h"

#define NO_CUDA "this build of fp8block has no CUDA backend (nvcc was not found when it was configured)"

fp8block_status cuda_device_open(int ordinal, cuda_device **out)
{
    *out = NULL;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "device %d: %s", ordinal, NO_CUDA);
}

void cuda_device_close(cuda_device *dev) { (void)dev; }

pointer_location cuda_pointer_location(const void *p)
{
    (void)p;
    return POINTER_UNKNOWN;
}

fp8block_status cuda_quantize(cuda_device *dev, const quantize_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, NO_CUDA);
}

fp8block_status cuda_dequantize(cuda_device *dev, const dequantize_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, NO_CUDA);
}

fp8block_status cuda_gemm(cuda_device *dev, const gemm_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, NO_CUDA);
}

fp8block_status cuda_quantize_transpose(cuda_device *dev, const quantize_transpose_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, NO_CUDA);
}

fp8block_status cuda_transpose_128x128(cuda_device *dev, const transpose_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, NO_CUDA);
}
