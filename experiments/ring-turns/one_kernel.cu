/* The grouped and the plain 256x128 lean bf16 GEMM kernels alone, for reading their SASS in
 * seconds instead of building the library (sass_loop.sh). */
#include "gemm_configs.h"
#include "gemm_kernel.cuh"

template __global__ void gemm_fp8_block_kernel<256, 128, 2, CLUSTER_SHARES_A, FP8BLOCK_BF16, false, true, ADDENDS_NONE>(
    const __grid_constant__ CUtensorMap, const __grid_constant__ CUtensorMap, const __grid_constant__ CUtensorMap,
    const __grid_constant__ CUtensorMap, const gemm_params);
template __global__ void gemm_fp8_block_kernel<256, 128, 2, CLUSTER_SHARES_A, FP8BLOCK_BF16, false, false, ADDENDS_NONE>(
    const __grid_constant__ CUtensorMap, const __grid_constant__ CUtensorMap, const __grid_constant__ CUtensorMap,
    const __grid_constant__ CUtensorMap, const gemm_params);
