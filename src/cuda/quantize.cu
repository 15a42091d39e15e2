/* Placeholder until the GPU quantizer lands (issue 3). */
#include "device.h"

fp8block_status cuda_quantize(cuda_device *dev, const quantize_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "GPU quantization is not implemented yet");
}

fp8block_status cuda_dequantize(cuda_device *dev, const dequantize_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "GPU dequantization is not implemented yet");
}
