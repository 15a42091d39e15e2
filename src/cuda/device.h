/* Per-device state of the CUDA backend, made once by fp8block_create. */
#ifndef FP8BLOCK_CUDA_DEVICE_H
#define FP8BLOCK_CUDA_DEVICE_H

#include <cuda_runtime_api.h>
#include <pthread.h>

#include "cuda_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cuda_device {
    int ordinal;
    int sm_count;
    int max_smem_per_block; /* opt-in limit, bytes */
    int l2_bytes;
    /* Stream-K partials and tile counters (src/cuda/gemm_gather.cuh), allocated by
     * cuda_device_open and shared by every stream of the context. gemm_workspace_lock orders the calls that
     * use it (held only while they enqueue); each such call makes its stream wait for
     * gemm_workspace_idle, which the previous user recorded on its own stream after its
     * kernel. So concurrent calls on different streams take turns on the GPU, without
     * a host sync. */
    void *gemm_workspace;
    cudaEvent_t gemm_workspace_idle;
    pthread_mutex_t gemm_workspace_lock;
    /* The fp32 D of an E4M3 GEMM whose plan's tiles are narrower than a scale block
     * (run_e4m3_through_f32): allocated on first need, grown when a call needs more (never
     * while its stream is being captured), and shared by the context's streams as the
     * workspace is (its own lock, taken before the workspace's, and event). */
    void *e4m3_scratch;
    size_t e4m3_scratch_bytes;
    cudaEvent_t e4m3_scratch_idle;
    pthread_mutex_t e4m3_scratch_lock;
};

/* Makes dev current for the calling thread and remembers the caller's device, so an
 * entry point leaves the caller's current device as it found it. */
typedef struct {
    int previous;
} device_scope;
fp8block_status device_scope_enter(const cuda_device *dev, device_scope *scope);
void device_scope_leave(const device_scope *scope);

/* FP8BLOCK_OK, or FP8BLOCK_ERR_CUDA with `what` and CUDA's words in the message. */
fp8block_status cuda_check(cudaError_t err, const char *what);

#ifdef __cplusplus
}
#endif

#endif
