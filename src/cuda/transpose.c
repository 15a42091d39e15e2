/* The training layouts on the GPU (quantize-and-transpose in one read, the 128x128 weight
 * transpose): not built yet, issue 17. Until their kernels are measured on a GPU against
 * the CPU reference, a CUDA context answers UNSUPPORTED rather than run unchecked code. */
#include "cuda_backend.h"

#define NOT_YET "is not built for the GPU yet (the CPU backend has it; issue 17)"

fp8block_status cuda_quantize_transpose(cuda_device *dev, const quantize_transpose_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "quantize-transpose %s", NOT_YET);
}

fp8block_status cuda_transpose_128x128(cuda_device *dev, const transpose_args *args, void *stream)
{
    (void)dev, (void)args, (void)stream;
    return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "the 128x128 transpose %s", NOT_YET);
}
