/* The CUDA backend as the API layer sees it. Implemented in src/cuda/ when the build
 * has nvcc, and by src/nocuda/cuda_absent.c (answers UNSUPPORTED) when it has not.
 * Every function receives validated arguments (src/internal.h) and reports its own
 * failures through fp8block_fail. */
#ifndef FP8BLOCK_CUDA_BACKEND_H
#define FP8BLOCK_CUDA_BACKEND_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

fp8block_status cuda_device_open(int ordinal, cuda_device **out);
void cuda_device_close(cuda_device *dev);

typedef enum { POINTER_HOST, POINTER_DEVICE, POINTER_UNKNOWN } pointer_location;
/* Where p lives, as the CUDA driver knows it (POINTER_UNKNOWN without CUDA). */
pointer_location cuda_pointer_location(const void *p);

fp8block_status cuda_quantize(cuda_device *dev, const quantize_args *args, void *stream);
fp8block_status cuda_dequantize(cuda_device *dev, const dequantize_args *args, void *stream);
fp8block_status cuda_gemm(cuda_device *dev, const gemm_args *args, void *stream);
fp8block_status cuda_quantize_transpose(cuda_device *dev, const quantize_transpose_args *args, void *stream);
fp8block_status cuda_transpose_128x128(cuda_device *dev, const transpose_args *args, void *stream);

#ifdef __cplusplus
}
#endif

#endif
