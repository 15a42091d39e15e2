/* The "clean" L2 flush: a kernel that only reads a buffer twice the size of L2, so that
 * afterwards L2 holds clean lines of unrelated data. A memset flush instead leaves L2
 * full of dirty lines, and whichever kernel runs next pays their write-back to HBM
 * (for a 15 MB weight stream that doubles the HBM traffic). Both are offered; see
 * gpu_timing.h. */
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "l2_flush.h"

static __global__ void read_through(const uint4 *p, size_t n, unsigned *sink)
{
    unsigned acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = __ldcg(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    /* The buffer is all zero bytes, so nothing is ever stored; the compiler cannot know it. */
    if (acc == 0xdeadbeefu) *sink = acc;
}

extern "C" cudaError_t l2_flush_read(const void *buffer, size_t bytes, unsigned *sink)
{
    read_through<<<1024, 512>>>((const uint4 *)buffer, bytes / sizeof(uint4), sink);
    return cudaGetLastError();
}
