/* A small, fast, seedable generator (xoshiro256**) for test and benchmark data:
 * the same seed gives the same matrices on every machine. */
#ifndef FP8BLOCK_RNG_H
#define FP8BLOCK_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng_state;

void rng_seed(rng_state *r, uint64_t seed);
uint64_t rng_next(rng_state *r);
double rng_uniform(rng_state *r);                 /* [0, 1) */
double rng_normal(rng_state *r);                  /* standard normal */
int64_t rng_range(rng_state *r, int64_t lo, int64_t hi); /* [lo, hi] */

#endif
