#ifndef FP8BLOCK_BENCH_L2_FLUSH_H
#define FP8BLOCK_BENCH_L2_FLUSH_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Enqueues, on the default stream, a kernel that reads `bytes` (a multiple of 16) of a
 * zero-filled device buffer and writes nothing; the launch's error. */
cudaError_t l2_flush_read(const void *buffer, size_t bytes, unsigned *sink);

#ifdef __cplusplus
}
#endif

#endif
