/* A fork-join loop over [0, n) on all cores: the reference backend's only threading. */
#ifndef FP8BLOCK_CPU_PARALLEL_H
#define FP8BLOCK_CPU_PARALLEL_H

#include <stdint.h>

typedef void (*parallel_body)(void *arg, int64_t begin, int64_t end);

/* Runs body over [0, n) split into contiguous chunks, one per thread; `work_per_item` (any
 * unit, ~element operations) keeps small problems on the calling thread. Threads:
 * FP8BLOCK_NUM_THREADS if set, else the online cores. */
void parallel_for(int64_t n, double work_per_item, parallel_body body, void *arg);


#endif
