/* Bounds checks for every entry point, on any context: each output lives inside a larger
 * buffer (leading dimension above the minimum, guard lines before and after, an odd
 * offset where the API allows one) filled with a canary byte, and each input inside one
 * filled with 0xff (NaN in every dtype, so a read of padding shows up in the results).
 * After a call every byte outside the elements the call owns must be unchanged, the
 * inputs must be unchanged, and the owned elements must equal the result of the same call
 * on tight buffers of a CPU reference context, bit for bit (NaN payloads aside). A GEMM on
 * a GPU is compared with the same GPU's tight-layout result instead (fp8 tensor-core sums
 * differ from the CPU's in the last bits), and held to gemm_check's per-element bounds.
 * Failures are counted with CHECK (testutil.h). */
#ifndef FP8BLOCK_TEST_CANARY_H
#define FP8BLOCK_TEST_CANARY_H

#include <stdint.h>

#include "fp8block.h"

typedef struct {
    int cases_run;
    int unsupported;         /* calls the context answered FP8BLOCK_ERR_UNSUPPORTED */
    char unsupported_why[256]; /* the first such message */
} canary_summary;

/* Runs `cases` random cases per entry point on ctx; ref is a CPU context. */
canary_summary canary_run(fp8block_ctx *ctx, fp8block_ctx *ref, uint64_t seed, int cases);

#endif
