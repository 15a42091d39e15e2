/* Tensor-map (TMA descriptor) encoding. cuTensorMapEncodeTiled lives in the driver;
 * the library never links libcuda, so the entry point is fetched at run time through
 * the runtime (cudaGetDriverEntryPointByVersion) on first use. */
#ifndef FP8BLOCK_TMA_H
#define FP8BLOCK_TMA_H

#include <cuda.h> /* types only: CUtensorMap and its enums */
#include <stdint.h>

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A row-major tensor of `rank` (1..5) dimensions, dims[0] the contiguous one.
 * strides_bytes[i] is the distance between consecutive indices of dimension i+1 (a
 * multiple of 16); box[] the tile one TMA operation moves; elements outside the tensor
 * read as zero and are not written. `what` names the tensor in error messages. */
fp8block_status tma_encode(CUtensorMap *map, CUtensorMapDataType type, int rank, const void *base,
                           const uint64_t *dims, const uint64_t *strides_bytes, const uint32_t *box,
                           CUtensorMapSwizzle swizzle, const char *what);

#ifdef __cplusplus
}
#endif

#endif
