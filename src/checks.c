/* The argument checks every entry point is built from; each one fails with a message
 * naming the argument (fp8block_fail) and writes nothing. */
#include <inttypes.h>

#include "checks.h"
#include "cuda_backend.h"

/* The user address space: no buffer reaches past 2^FP8BLOCK_ADDRESS_BITS, so an extent
 * that would is a wrong size, not a big buffer (x86-64 Linux maps user memory below 2^47
 * unless a program asks for more; arm64's default is 48 bits). */
#if defined(__x86_64__)
#define FP8BLOCK_ADDRESS_BITS 47
#elif defined(__aarch64__)
#define FP8BLOCK_ADDRESS_BITS 48
#elif UINTPTR_MAX > 0xffffffffu
#define FP8BLOCK_ADDRESS_BITS 57
#else
#define FP8BLOCK_ADDRESS_BITS 32
#endif

fp8block_status check_pointer(const call_env *env, const char *name, const void *p, int64_t bytes, size_t align,
                              const char *why_align)
{
    if (!p) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s is NULL", name);
    if ((uintptr_t)p % align)
        return fp8block_fail(FP8BLOCK_ERR_MISALIGNED, "%s = %p is not %zu-byte aligned (%s)", name, p, align,
                             why_align);
    const uint64_t limit = (uint64_t)1 << FP8BLOCK_ADDRESS_BITS;
    if ((uint64_t)bytes > limit || (uint64_t)(uintptr_t)p > limit - (uint64_t)bytes)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "%s = %p with %" PRId64 " bytes reaches past the address space (2^%d): "
                             "a dimension or leading dimension is wrong",
                             name, p, bytes, FP8BLOCK_ADDRESS_BITS);
    if (env->check_host || env->check_device) {
        pointer_location where = cuda_pointer_location(p);
        if (env->check_host && where == POINTER_HOST)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "%s = %p is host memory, but the context is CUDA device %d: pass device memory",
                                 name, p, env->ctx->device);
        if (env->check_device && where == POINTER_DEVICE)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "%s = %p is CUDA device memory, but the context is the CPU backend", name, p);
    }
    return FP8BLOCK_OK;
}

fp8block_status check_dim(const char *name, int64_t v)
{
    if (v <= 0) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %" PRId64 "; must be >= 1", name, v);
    return FP8BLOCK_OK;
}

fp8block_status check_ld(const char *name, int64_t ld, const char *min_name, int64_t min)
{
    if (ld < min)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %" PRId64 " is smaller than %s = %" PRId64, name,
                             ld, min_name, min);
    return FP8BLOCK_OK;
}

/* A matrix of `rows` rows at stride `ld` elements of `elem` bytes must be addressable:
 * (rows-1)*ld + cols elements, in bytes, without overflowing int64. */
fp8block_status check_extent(const char *name, int64_t rows, int64_t ld, int64_t cols, size_t elem, int64_t *bytes)
{
    int64_t span, elems;
    if (__builtin_mul_overflow(rows - 1, ld, &span) || __builtin_add_overflow(span, cols, &elems) ||
        __builtin_mul_overflow(elems, (int64_t)elem, bytes))
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "%s spans %" PRId64 " rows at leading dimension %" PRId64
                             ": its size in bytes overflows 64 bits",
                             name, rows, ld);
    return FP8BLOCK_OK;
}

fp8block_status check_float_type(const char *name, fp8block_dtype t)
{
    if (t == FP8BLOCK_F32 || t == FP8BLOCK_BF16 || t == FP8BLOCK_F16) return FP8BLOCK_OK;
    if (t == FP8BLOCK_E4M3)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = FP8BLOCK_E4M3; expected F32, BF16 or F16", name);
    return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %d is not a fp8block_dtype; expected F32, BF16 or F16",
                         name, (int)t);
}

/* Scales: 1x128 is ceil(cols/128) rows of `rows` floats (rows contiguous); 128x128 is
 * ceil(rows/128) rows of ceil(cols/128) floats. */
fp8block_status check_scales(fp8block_block block, int64_t rows, int64_t cols, int64_t lds, int64_t *bytes)
{
    int64_t col_blocks = fp8block_ceil_div(cols, 128);
    if (block == FP8BLOCK_BLOCK_1x128) {
        TRY(check_ld("lds", lds, "rows", rows));
        return check_extent("s", col_blocks, lds, rows, sizeof(float), bytes);
    }
    TRY(check_ld("lds", lds, "ceil(cols/128)", col_blocks));
    return check_extent("s", fp8block_ceil_div(rows, 128), lds, col_blocks, sizeof(float), bytes);
}

fp8block_status check_block(fp8block_block block)
{
    if (block == FP8BLOCK_BLOCK_1x128 || block == FP8BLOCK_BLOCK_128x128) return FP8BLOCK_OK;
    return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                         "block = %d; expected FP8BLOCK_BLOCK_1x128 or FP8BLOCK_BLOCK_128x128", (int)block);
}

fp8block_status check_scale_flags(unsigned flags)
{
    if (flags & ~(unsigned)FP8BLOCK_SCALE_POW2)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "flags = 0x%x has unknown bits (known: FP8BLOCK_SCALE_POW2)",
                             flags);
    return FP8BLOCK_OK;
}

fp8block_status check_multiple(const char *name, int64_t v, int64_t of, const char *why)
{
    if (v % of)
        return fp8block_fail(FP8BLOCK_ERR_MISALIGNED, "%s = %" PRId64 " is not a multiple of %" PRId64 " (%s)", name,
                             v, of, why);
    return FP8BLOCK_OK;
}


fp8block_status check_disjoint(const char *p_name, const void *p, int64_t p_bytes, const char *q_name, const void *q,
                               int64_t q_bytes)
{
    uintptr_t p0 = (uintptr_t)p, q0 = (uintptr_t)q;
    if (p0 < q0 + (uint64_t)q_bytes && q0 < p0 + (uint64_t)p_bytes)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s (%p, %" PRId64 " bytes) and %s (%p, %" PRId64
                             " bytes) overlap", p_name, p, p_bytes, q_name, q, q_bytes);
    return FP8BLOCK_OK;
}

fp8block_status check_outputs_apart(const buffer_span *outputs, int n_outputs, const buffer_span *inputs,
                                    int n_inputs)
{
    for (int i = 0; i < n_outputs; i++) {
        const buffer_span *o = &outputs[i];
        if (!o->p) continue;
        for (int j = 0; j < n_inputs; j++)
            if (inputs[j].p) TRY(check_disjoint(o->name, o->p, o->bytes, inputs[j].name, inputs[j].p, inputs[j].bytes));
        for (int j = i + 1; j < n_outputs; j++)
            if (outputs[j].p) TRY(check_disjoint(o->name, o->p, o->bytes, outputs[j].name, outputs[j].p, outputs[j].bytes));
    }
    return FP8BLOCK_OK;
}
