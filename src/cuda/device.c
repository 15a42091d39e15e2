#include "device.h"
#include "gemm_planner.h"

#include <stdlib.h>

fp8block_status cuda_check(cudaError_t err, const char *what)
{
    if (err == cudaSuccess) return FP8BLOCK_OK;
    if (err == cudaErrorMemoryAllocation)
        return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "%s: %s", what, cudaGetErrorString(err));
    return fp8block_fail(FP8BLOCK_ERR_CUDA, "%s: %s (%s)", what, cudaGetErrorString(err),
                         cudaGetErrorName(err));
}

fp8block_status device_scope_enter(const cuda_device *dev, device_scope *scope)
{
    fp8block_status st = cuda_check(cudaGetDevice(&scope->previous), "cudaGetDevice");
    if (st != FP8BLOCK_OK) return st;
    if (scope->previous == dev->ordinal) return FP8BLOCK_OK;
    return cuda_check(cudaSetDevice(dev->ordinal), "cudaSetDevice");
}

void device_scope_leave(const device_scope *scope)
{
    int current = -1;
    if (cudaGetDevice(&current) == cudaSuccess && current != scope->previous) cudaSetDevice(scope->previous);
}

/* Everything a call may need, made here so that no call allocates or sets anything up (a
 * call can be captured in a CUDA graph, docs/DESIGN.md §3.5): the GEMM's stream-K workspace
 * with its counters zeroed, and the events that order the context's streams on it and on
 * the E4M3 scratch. */
static fp8block_status allocate_workspace(cuda_device *dev)
{
    device_scope scope;
    fp8block_status st = device_scope_enter(dev, &scope);
    if (st != FP8BLOCK_OK) return st;
    st = cuda_check(cudaMalloc(&dev->gemm_workspace, STREAMK_COUNTER_BYTES + STREAMK_PARTIAL_BYTES),
                    "cudaMalloc(the GEMM's stream-K workspace)");
    if (st != FP8BLOCK_OK) dev->gemm_workspace = NULL;
    /* Zeroed before any stream, non-blocking ones included, can use it. */
    if (st == FP8BLOCK_OK)
        st = cuda_check(cudaMemset(dev->gemm_workspace, 0, STREAMK_COUNTER_BYTES), "cudaMemset(stream-K counters)");
    if (st == FP8BLOCK_OK) st = cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize(stream-K counters)");
    if (st == FP8BLOCK_OK)
        st = cuda_check(cudaEventCreateWithFlags(&dev->gemm_workspace_idle, cudaEventDisableTiming),
                        "cudaEventCreate(stream-K workspace)");
    if (st == FP8BLOCK_OK)
        st = cuda_check(cudaEventCreateWithFlags(&dev->e4m3_scratch_idle, cudaEventDisableTiming),
                        "cudaEventCreate(E4M3 scratch)");
    device_scope_leave(&scope);
    return st;
}

fp8block_status cuda_device_open(int ordinal, cuda_device **out)
{
    *out = NULL;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    int driver = 0;
    /* With no driver at all CUDA says "driver version is insufficient": a driver version of
     * 0 tells that case apart. */
    if (err != cudaSuccess && cudaDriverGetVersion(&driver) == cudaSuccess && driver == 0)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "device %d: no NVIDIA driver is installed", ordinal);
    if (err != cudaSuccess || count == 0)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "device %d: no CUDA device is usable (%s)", ordinal,
                             err != cudaSuccess ? cudaGetErrorString(err) : "none found");
    if (ordinal >= count)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "device = %d, but there are %d CUDA device(s)",
                             ordinal, count);
    struct cudaDeviceProp prop;
    fp8block_status st = cuda_check(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties");
    if (st != FP8BLOCK_OK) return st;
    if (prop.major != 9 || prop.minor != 0)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED,
                             "device %d (%s) is sm_%d%d; fp8block's kernels need a Hopper GPU (sm_90)", ordinal,
                             prop.name, prop.major, prop.minor);
    cuda_device *dev = calloc(1, sizeof *dev);
    if (!dev) return fp8block_fail(FP8BLOCK_ERR_OUT_OF_MEMORY, "out of host memory for the device state");
    dev->ordinal = ordinal;
    dev->sm_count = prop.multiProcessorCount;
    dev->max_smem_per_block = (int)prop.sharedMemPerBlockOptin;
    dev->l2_bytes = prop.l2CacheSize;
    pthread_mutex_init(&dev->gemm_workspace_lock, NULL);
    pthread_mutex_init(&dev->e4m3_scratch_lock, NULL);
    st = allocate_workspace(dev);
    if (st != FP8BLOCK_OK) {
        cuda_device_close(dev);
        return st;
    }
    *out = dev;
    return FP8BLOCK_OK;
}

void cuda_device_close(cuda_device *dev)
{
    if (!dev) return;
    if (dev->gemm_workspace) cudaFree(dev->gemm_workspace);
    if (dev->gemm_workspace_idle) cudaEventDestroy(dev->gemm_workspace_idle);
    pthread_mutex_destroy(&dev->gemm_workspace_lock);
    if (dev->e4m3_scratch) cudaFree(dev->e4m3_scratch);
    if (dev->e4m3_scratch_idle) cudaEventDestroy(dev->e4m3_scratch_idle);
    pthread_mutex_destroy(&dev->e4m3_scratch_lock);
    free(dev);
}

pointer_location cuda_pointer_location(const void *p)
{
    struct cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
        cudaGetLastError(); /* an unknown pointer is not an error worth keeping */
        return POINTER_UNKNOWN;
    }
    switch (attr.type) {
    case cudaMemoryTypeDevice:
    case cudaMemoryTypeManaged: return POINTER_DEVICE;
    case cudaMemoryTypeHost: return POINTER_HOST;
    default: return POINTER_HOST; /* unregistered host memory */
    }
}
