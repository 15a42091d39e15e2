/* The GEMM epilogue's contract (docs/DESIGN.md, "C, bias and E4M3 output"), tested the
 * same way on every backend:
 *  - with C and bias, each element of D is round(fl(fl(acc + C) + bias)), acc being the
 *    F32 D of the same call without them: bit for bit (on a backend whose plans for
 *    different output types sum K in different orders, within `ulps` of the output type);
 *  - C may be D itself (F32, BF16 or F16, same ld);
 *  - an E4M3 D and its scales are, byte for byte, fp8block_quantize_1x128 (same flags) of
 *    the F32 D the backend writes for the same descriptor;
 *  - outputs are poisoned before each call; D's padding columns, sd's padding rows and a
 *    guard after each buffer keep the poison.
 * Shapes include 1, 17, 127, 129, 2112 and N not a multiple of 128 (a partial last scale
 * block, whose amax is over the real columns only). FP8BLOCK_TEST_SMALL=1 keeps the small
 * shapes only (compute-sanitizer runs force a 128-wide plan to reach the fused E4M3 path). */
#ifndef FP8BLOCK_GEMM_EPILOGUE_CONTRACT_H
#define FP8BLOCK_GEMM_EPILOGUE_CONTRACT_H

#include <stddef.h>

#include "fp8block.h"

/* Bytes after every host buffer that must keep their poison; a backend that copies buffers
 * copies these too, so that a write past an output shows. */
#define GEMM_EPILOGUE_GUARD 64

/* Byte sizes of the buffers a descriptor points at, for a backend that copies them. */
typedef struct {
    size_t a, sa, b, sb, d, sd, c, bias;
} gemm_buffer_sizes;

typedef struct {
    const char *name;
    fp8block_ctx *ctx; /* the backend's context, for its messages */
    /* Runs g, whose pointers are host buffers of the given sizes, on the backend under test;
     * d (and sd) come back into their host buffers. c == d means in place. */
    fp8block_status (*run)(void *user, const fp8block_gemm_desc *g, const gemm_buffer_sizes *sizes);
    void *user;
    fp8block_ctx *host_ctx; /* a CPU context: quantizes operands and the E4M3 reference */
    int ulps;               /* tolerance of 16-bit outputs with C or bias (0: bit for bit) */
    int skip_e4m3;          /* the backend has no E4M3 output yet: those variants are listed, not run */
} gemm_epilogue_backend;

/* Runs every case, CHECKing each rule; prints one line per shape. */
void gemm_epilogue_contract_run(const gemm_epilogue_backend *backend, unsigned long long seed);

#endif
