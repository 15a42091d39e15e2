/* Programmatic dependent launch: every fp8block kernel is launched with it allowed, so that
 * it may start while the kernel before it in the stream drains (a layer's quantize of A,
 * then its GEMM): its launch and prologue (shared-memory barriers, cluster sync) overlap
 * the completion and memory flush that follow the previous kernel's last block (no
 * fp8block kernel signals its dependents earlier). The price is the rule below: a kernel
 * touches no global memory before grid_dependency_wait, which returns once the previous
 * grid has finished and its writes are visible (at once when the launch was an ordinary
 * one: after an event, a copy, a host call). Measured: a quantize of A and the GEMM after
 * it take 0.8-1.9 us less (bench/NOTES.md, "programmatic dependent launch"); tests/gpu/test_back_to_back_gpu.c checks
 * the rule. */
#ifndef FP8BLOCK_LAUNCH_ORDER_CUH
#define FP8BLOCK_LAUNCH_ORDER_CUH

#include <cuda_runtime_api.h>

__device__ __forceinline__ void grid_dependency_wait(void) { asm volatile("griddepcontrol.wait;" ::: "memory"); }

/* The launch attribute that allows it. */
static inline cudaLaunchAttribute early_launch_attribute(void)
{
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    return attribute;
}

#endif
