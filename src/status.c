/* Statuses, the per-thread error record behind fp8block_last_error, and the dtype helpers:
 * what every layer (entry points, validation, backends) reports through, so no backend
 * calls back into the entry points. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

/* Per thread, so concurrent callers never see each other's messages. */
static _Thread_local char t_message[1024];
static _Thread_local const char *t_function = "fp8block";
static _Thread_local const fp8block_ctx *t_ctx_of_call;
static _Thread_local const fp8block_ctx *t_ctx_of_message;

void fp8block_begin_call(const char *function, const fp8block_ctx *ctx)
{
    t_function = function;
    t_ctx_of_call = ctx;
    t_ctx_of_message = ctx;
    t_message[0] = '\0';
}

fp8block_status fp8block_fail(fp8block_status st, const char *fmt, ...)
{
    int n = snprintf(t_message, sizeof t_message, "%s: ", t_function);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof t_message) vsnprintf(t_message + n, sizeof t_message - (size_t)n, fmt, ap);
    va_end(ap);
    t_ctx_of_message = t_ctx_of_call;
    return st;
}

const char *fp8block_last_error(const fp8block_ctx *ctx)
{
    if (ctx != NULL && ctx != t_ctx_of_message) return "";
    return t_message;
}

const char *fp8block_status_string(fp8block_status s)
{
    switch (s) {
    case FP8BLOCK_OK: return "FP8BLOCK_OK";
    case FP8BLOCK_ERR_INVALID_ARGUMENT: return "FP8BLOCK_ERR_INVALID_ARGUMENT";
    case FP8BLOCK_ERR_MISALIGNED: return "FP8BLOCK_ERR_MISALIGNED";
    case FP8BLOCK_ERR_UNSUPPORTED: return "FP8BLOCK_ERR_UNSUPPORTED";
    case FP8BLOCK_ERR_CUDA: return "FP8BLOCK_ERR_CUDA";
    case FP8BLOCK_ERR_OUT_OF_MEMORY: return "FP8BLOCK_ERR_OUT_OF_MEMORY";
    case FP8BLOCK_ERR_INTERNAL: return "FP8BLOCK_ERR_INTERNAL";
    }
    return "unknown fp8block_status";
}

size_t fp8block_dtype_size(fp8block_dtype t)
{
    switch (t) {
    case FP8BLOCK_F32: return 4;
    case FP8BLOCK_BF16:
    case FP8BLOCK_F16: return 2;
    case FP8BLOCK_E4M3: return 1;
    }
    return 0;
}

const char *fp8block_dtype_name(fp8block_dtype t)
{
    switch (t) {
    case FP8BLOCK_F32: return "F32";
    case FP8BLOCK_BF16: return "BF16";
    case FP8BLOCK_F16: return "F16";
    case FP8BLOCK_E4M3: return "E4M3";
    }
    return "unknown";
}

