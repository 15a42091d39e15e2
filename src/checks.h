/* The argument checks shared by the entry points (src/quantize_api.c, src/gemm_api.c). */
#ifndef FP8BLOCK_CHECKS_H
#define FP8BLOCK_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef struct {
    fp8block_ctx *ctx;
    int check_host, check_device; /* which pointer kinds are wrong for this context */
} call_env;

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fp8block_status st_ = (expr);                                                          \
        if (st_ != FP8BLOCK_OK) return st_;                                                    \
    } while (0)

/* ctx is a live context; fills env with the pointer kinds that are wrong for it. */
fp8block_status check_ctx(fp8block_ctx *ctx, call_env *env);
/* p non-NULL, aligned, of the context's kind (host or device), and its `bytes` inside the
 * address space (see FP8BLOCK_ADDRESS_BITS). */
fp8block_status check_pointer(const call_env *env, const char *name, const void *p, int64_t bytes, size_t align,
                              const char *why_align);
fp8block_status check_dim(const char *name, int64_t v);
fp8block_status check_ld(const char *name, int64_t ld, const char *min_name, int64_t min);
/* *bytes = ((rows-1)*ld + cols) * elem, failing where that overflows 64 bits. */
fp8block_status check_extent(const char *name, int64_t rows, int64_t ld, int64_t cols, size_t elem, int64_t *bytes);
fp8block_status check_float_type(const char *name, fp8block_dtype t);
fp8block_status check_scales(fp8block_block block, int64_t rows, int64_t cols, int64_t lds, int64_t *bytes);
fp8block_status check_block(fp8block_block block);
/* Quantization flags: FP8BLOCK_SCALE_POW2 or 0. */
fp8block_status check_scale_flags(unsigned flags);
fp8block_status check_multiple(const char *name, int64_t v, int64_t of, const char *why);
/* [p, p + p_bytes) and [q, q + q_bytes) share no byte. */
fp8block_status check_disjoint(const char *p_name, const void *p, int64_t p_bytes, const char *q_name, const void *q,
                               int64_t q_bytes);

/* A buffer of a call: its name, start and extent in bytes (NULL: not passed, ignored). */
typedef struct {
    const char *name;
    const void *p;
    int64_t bytes;
} buffer_span;

/* Every output shares no byte with any input or with another output (docs/DESIGN.md §3.2):
 * the calls write outputs while they read inputs, in parallel, so an overlap is garbage. */
fp8block_status check_outputs_apart(const buffer_span *outputs, int n_outputs, const buffer_span *inputs,
                                    int n_inputs);

#endif
