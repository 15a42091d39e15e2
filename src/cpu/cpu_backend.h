/* The reference backend: the numeric definition of docs/DESIGN.md, multi-threaded. */
#ifndef FP8BLOCK_CPU_BACKEND_H
#define FP8BLOCK_CPU_BACKEND_H

#include "internal.h"

fp8block_status cpu_quantize(const quantize_args *args);
fp8block_status cpu_dequantize(const dequantize_args *args);
fp8block_status cpu_gemm(const gemm_args *args);
fp8block_status cpu_quantize_transpose(const quantize_transpose_args *args);
fp8block_status cpu_transpose_128x128(const transpose_args *args);

#endif
