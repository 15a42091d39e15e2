/* Buffers that live where a context computes: host memory for the CPU backend,
 * device memory for a CUDA context. One code path in the CLI and tests for both. */
#ifndef FP8BLOCK_DEVMEM_H
#define FP8BLOCK_DEVMEM_H

#include <stddef.h>

#include "fp8block.h"

/* 1 if the build has CUDA and at least one device answers; *why says otherwise. */
int devmem_gpu_available(const char **why);

void *devmem_alloc(const fp8block_ctx *ctx, size_t bytes); /* NULL on failure */
void devmem_free(const fp8block_ctx *ctx, void *p);
int devmem_upload(const fp8block_ctx *ctx, void *dst, const void *src, size_t bytes);
int devmem_download(const fp8block_ctx *ctx, void *dst, const void *src, size_t bytes);
/* Sets every byte; done when it returns. (cudaMemset alone runs on the legacy default stream,
 * with which a non-blocking stream does not synchronise: work launched next on such a stream
 * could run before the fill, or under it.) */
int devmem_fill(const fp8block_ctx *ctx, void *p, int byte, size_t bytes);
int devmem_sync(const fp8block_ctx *ctx);

/* Wall-clock seconds around a region, device events on a CUDA context. */
typedef struct devmem_timer devmem_timer;
devmem_timer *devmem_timer_create(const fp8block_ctx *ctx);
void devmem_timer_start(devmem_timer *t);
double devmem_timer_stop_seconds(devmem_timer *t); /* waits for the region to finish */
void devmem_timer_destroy(devmem_timer *t);

double devmem_host_seconds(void);

#endif
