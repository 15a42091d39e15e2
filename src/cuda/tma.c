#include "tma.h"

#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>
#include <pthread.h>

static PFN_cuTensorMapEncodeTiled_v12000 encode_tiled;
static cudaError_t lookup_error = cudaSuccess;
static enum cudaDriverEntryPointQueryResult lookup_result = cudaDriverEntryPointSuccess;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void lookup_encode_tiled(void)
{
    void *fn = NULL;
    lookup_error = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                                    &lookup_result);
    if (lookup_error == cudaSuccess && lookup_result == cudaDriverEntryPointSuccess)
        encode_tiled = (PFN_cuTensorMapEncodeTiled_v12000)fn;
}

fp8block_status tma_encode(CUtensorMap *map, CUtensorMapDataType type, int rank, const void *base,
                           const uint64_t *dims, const uint64_t *strides_bytes, const uint32_t *box,
                           CUtensorMapSwizzle swizzle, const char *what)
{
    pthread_once(&lookup_once, lookup_encode_tiled);
    if (!encode_tiled)
        return fp8block_fail(FP8BLOCK_ERR_CUDA,
                             "the driver has no cuTensorMapEncodeTiled (runtime: %s, lookup result %d); "
                             "a CUDA 12.0+ driver is needed",
                             cudaGetErrorString(lookup_error), (int)lookup_result);
    cuuint32_t element_strides[5] = {1, 1, 1, 1, 1};
    CUresult r = encode_tiled(map, type, (cuuint32_t)rank, (void *)base, (const cuuint64_t *)dims,
                              (const cuuint64_t *)strides_bytes, (const cuuint32_t *)box, element_strides,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                              CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return fp8block_fail(FP8BLOCK_ERR_CUDA,
                             "cuTensorMapEncodeTiled(%s) failed with CUresult %d (rank %d, dims %llu x %llu, "
                             "base %p)",
                             what, (int)r, rank, (unsigned long long)dims[0],
                             (unsigned long long)(rank > 1 ? dims[1] : 1), base);
    return FP8BLOCK_OK;
}
