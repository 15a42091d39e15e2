/* See training_data.h. */
#include "training_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference_codec.h"

void *training_input(rng_state *rng, fp8block_dtype t, int64_t rows, int64_t cols, int specials)
{
    const size_t elem = t == FP8BLOCK_F32 ? 4 : 2;
    unsigned char *x = malloc((size_t)(rows * cols) * elem);
    if (!x) abort();
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            float v = (float)ldexp(rng_normal(rng), (int)((i / 128 * 3 + j / 128) % 9) - 4);
            if (specials && i == 3 && j == 5) v = NAN;
            if (specials && i == rows - 1 && j == cols - 1) v = INFINITY;
            if (specials && i >= 128 && i < 256 && j < 128) v = 0.0f;
            if (t == FP8BLOCK_F32) memcpy(x + (size_t)(i * cols + j) * 4, &v, 4);
            else {
                uint16_t h = t == FP8BLOCK_BF16 ? ref_bf16_from_f32(v) : ref_f16_from_f32(v);
                memcpy(x + (size_t)(i * cols + j) * 2, &h, 2);
            }
        }
    return x;
}

void *training_poisoned(size_t bytes)
{
    unsigned char *p = aligned_alloc(64, (bytes + TRAINING_GUARD + 63) / 64 * 64);
    if (!p) abort();
    memset(p, TRAINING_POISON, bytes + TRAINING_GUARD);
    return p;
}
