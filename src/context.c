/* Contexts: made, destroyed, and recognised. Live contexts are registered, so a destroyed
 * or forged handle is an error, not a crash. */
#include <pthread.h>
#include <stdlib.h>

#include "checks.h"
#include "cuda_backend.h"
#include "internal.h"

static pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static fp8block_ctx **g_live;
static size_t g_live_count, g_live_capacity;
static size_t g_cuda_contexts;

static int registry_add(fp8block_ctx *ctx)
{
    int ok = 1;
    pthread_mutex_lock(&g_registry_lock);
    if (g_live_count == g_live_capacity) {
        size_t capacity = g_live_capacity ? 2 * g_live_capacity : 16;
        fp8block_ctx **grown = realloc(g_live, capacity * sizeof *grown);
        if (grown) {
            g_live = grown;
            g_live_capacity = capacity;
        } else {
            ok = 0;
        }
    }
    if (ok) {
        g_live[g_live_count++] = ctx;
        if (ctx->device >= 0) g_cuda_contexts++;
    }
    pthread_mutex_unlock(&g_registry_lock);
    return ok;
}

static int registry_remove(const fp8block_ctx *ctx)
{
    int found = 0;
    pthread_mutex_lock(&g_registry_lock);
    for (size_t i = 0; i < g_live_count; i++) {
        if (g_live[i] == ctx) {
            g_live[i] = g_live[--g_live_count];
            if (ctx->device >= 0) g_cuda_contexts--;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_registry_lock);
    return found;
}

static int registry_has(const fp8block_ctx *ctx, size_t *cuda_contexts)
{
    int found = 0;
    pthread_mutex_lock(&g_registry_lock);
    for (size_t i = 0; i < g_live_count && !found; i++) found = g_live[i] == ctx;
    *cuda_contexts = g_cuda_contexts;
    pthread_mutex_unlock(&g_registry_lock);
    return found;
}

fp8block_status fp8block_create(fp8block_ctx **out, int device)
{
    fp8block_begin_call("fp8block_create", NULL);
    if (!out) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "ctx (the output pointer) is NULL");
    if (device < FP8BLOCK_DEVICE_CPU)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "device = %d; expected FP8BLOCK_DEVICE_CPU (-1) or a CUDA ordinal >= 0", device);
    fp8block_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "out of host memory for the context");
    ctx->device = device;
    if (device >= 0) {
        fp8block_status st = cuda_device_open(device, &ctx->cuda);
        if (st != FP8BLOCK_OK) {
            free(ctx);
            return st;
        }
    }
    if (!registry_add(ctx)) {
        cuda_device_close(ctx->cuda);
        free(ctx);
        return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "out of host memory for the context registry");
    }
    *out = ctx;
    return FP8BLOCK_OK;
}

void fp8block_destroy(fp8block_ctx *ctx)
{
    if (!ctx || !registry_remove(ctx)) return;
    cuda_device_close(ctx->cuda);
    free(ctx);
}

int fp8block_device(const fp8block_ctx *ctx) { return ctx ? ctx->device : -2; }

fp8block_status check_ctx(fp8block_ctx *ctx, call_env *env)
{
    size_t cuda_contexts = 0;
    if (!ctx) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!registry_has(ctx, &cuda_contexts))
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "ctx %p is not a live context (destroyed, or never made by fp8block_create)",
                             (void *)ctx);
    env->ctx = ctx;
    env->check_host = ctx->device >= 0;
    /* Asking CUDA about a pointer starts the CUDA runtime: only worth it on a CPU context
     * when the process also uses CUDA through fp8block, the one way to mix them up. */
    env->check_device = ctx->device < 0 && cuda_contexts > 0;
    return FP8BLOCK_OK;
}

