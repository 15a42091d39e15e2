/* The B-stream probe behind bench/NOTES.md v18 (run 2's version; not built: compile with
 * nvcc -gencode=arch=compute_90a,code=sm_90a -Isrc -Isrc/cuda -Ibench against the library and
 * bench/ static libraries). Does requesting G K blocks of each B row together (a 4D TMA
 * box) speed up the small-M GEMMs' B streams, per plan pattern? One thread per CTA keeps
 * 128 KB in flight and waits only for landing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cuda_runtime.h>
#include "gpu_timing.h"
#include "ptx.cuh"
#include "tma.h"

#define RING_BYTES (128 * 1024)
static __device__ __forceinline__ void tma_load_4d(void *dst, const void *tmap, uint64_t *bar, int32_t c0, int32_t c1,
                                                   int32_t c2, int32_t c3)
{
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%3, %4, %5, %6}], [%2];" ::"r"(smem_addr(dst)),
                 "l"((uint64_t)tmap), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
                 : "memory");
}
static __device__ __forceinline__ void bulk_load(void *dst, const void *src, uint32_t bytes, uint64_t *bar)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     smem_addr(dst)), "l"((uint64_t)src), "r"(bytes), "r"(smem_addr(bar)) : "memory");
}

struct pattern { const char *name; int n, k, rows, cuts, g; int bulk; int kb_major; int ring; };

static __global__ void probe_kernel(const __grid_constant__ CUtensorMap map, pattern p, const uint8_t *base)
{
    extern __shared__ uint8_t smem_raw[];
    __shared__ uint64_t landed[64];
    uint8_t *ring = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    if (threadIdx.x != 0) return;
    const int kbs = p.k / 128 / p.cuts;
    const int tile = blockIdx.x / p.cuts, cut = blockIdx.x % p.cuts;
    const int stage_bytes = p.bulk ? 32768 : 128 * p.g * p.rows;
    const int stages = p.ring / stage_bytes;
    const int loads = p.bulk ? (int)((size_t)p.n * p.k / gridDim.x / 32768) : kbs / p.g;
    for (int s = 0; s < stages; s++) mbarrier_init(&landed[s], 1);
    mbarrier_init_fence();
    for (int i = 0; i < loads + stages; i++) {
        const int s = i % stages;
        if (i >= stages) mbarrier_wait(&landed[s], (uint32_t)(i / stages - 1) & 1);
        if (i >= loads) continue;
        uint8_t *dst = ring + s * stage_bytes;
        mbarrier_arrive_expect_tx(&landed[s], stage_bytes);
        const int kb = cut * kbs + i * p.g;
        if (p.bulk) bulk_load(dst, base + ((size_t)blockIdx.x * loads + i) * 32768, 32768, &landed[s]);
        else if (p.g == 1) tma_load_2d(dst, &map, &landed[s], kb * 128, tile * p.rows);
        else if (p.kb_major) tma_load_4d(dst, &map, &landed[s], 0, 0, tile * p.rows / 8, kb);
        else tma_load_4d(dst, &map, &landed[s], 0, 0, kb, tile * p.rows / 8);
    }
}

typedef struct { const CUtensorMap *map; pattern p; const uint8_t *b; int grid; } run_arg;
static int launch(void *arg, char *why, size_t n)
{
    run_arg *r = (run_arg *)arg;
    probe_kernel<<<r->grid, 32, RING_BYTES + 1024>>>(*r->map, r->p, r->b);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    snprintf(why, n, "%s", cudaGetErrorString(e));
    return -1;
}

int main(void)
{
    char why[200] = "";
    gpu_timing *timing = gpu_timing_create(0, GPU_FLUSH_WRITE, why, sizeof why);
    if (!timing) { fprintf(stderr, "%s\n", why); return 1; }
    cudaFuncSetAttribute(probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, RING_BYTES + 1024);
    const pattern pats[] = {
        {"2112x7168 BN32 cut2", 2112, 7168, 32, 2, 1, 0, 0, 40960}, {"2112x7168 BN32 cut2", 2112, 7168, 32, 2, 4, 0, 0, 32768},
        {"2112x7168 BN32 cut2", 2112, 7168, 32, 2, 4, 0, 1, 32768}, {"2112x7168 BN32 cut2", 2112, 7168, 32, 2, 2, 0, 0, 40960},
        {"2112x7168 BN32 cut2", 2112, 7168, 32, 2, 2, 0, 1, 40960},
        {"4096x7168 BN64 cut2", 4096, 7168, 64, 2, 1, 0, 0, 65536}, {"4096x7168 BN64 cut2", 4096, 7168, 64, 2, 4, 0, 0, 65536},
        {"4096x7168 BN64 cut2", 4096, 7168, 64, 2, 4, 0, 1, 65536}, {"4096x7168 BN64 cut2", 4096, 7168, 64, 2, 2, 0, 0, 65536},
        {"7168x16384 BN64", 7168, 16384, 64, 1, 1, 0, 0, 65536}, {"7168x16384 BN64", 7168, 16384, 64, 1, 4, 0, 0, 65536},
        {"7168x16384 BN64", 7168, 16384, 64, 1, 4, 0, 1, 65536}, {"7168x16384 BN64", 7168, 16384, 64, 1, 2, 0, 0, 65536},
        {"7168x16384 BN64 r128", 7168, 16384, 64, 1, 1, 0, 0, 131072}, {"7168x16384 BN64 r128", 7168, 16384, 64, 1, 4, 0, 0, 131072},
        {"7168x16384 BN64 r128", 7168, 16384, 64, 1, 4, 0, 1, 131072},
        {"7168x2048 BN64", 7168, 2048, 64, 1, 1, 0, 0, 65536}, {"7168x2048 BN64", 7168, 2048, 64, 1, 4, 0, 0, 65536},
        {"7168x2048 BN64", 7168, 2048, 64, 1, 4, 0, 1, 65536},
        {"2112x7168 bulk", 2112, 7168, 32, 2, 0, 1, 0, 131072}, {"7168x16384 bulk", 7168, 16384, 64, 1, 0, 1, 0, 131072},
    };
    const int count = sizeof pats / sizeof pats[0];
    uint8_t *b;
    cudaMalloc(&b, (size_t)7168 * 16384);
    cudaMemset(b, 0x3c, (size_t)7168 * 16384);
    static CUtensorMap maps[32];
    static run_arg args[32];
    gpu_timed_method methods[32];
    for (int i = 0; i < count; i++) {
        pattern p = pats[i];
        fp8block_status st;
        if (p.g <= 1) {
            const uint64_t dims[2] = {(uint64_t)p.k, (uint64_t)p.n}, strides[1] = {(uint64_t)p.k};
            const uint32_t box[2] = {128, (uint32_t)p.rows};
            st = tma_encode(&maps[i], CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, b, dims, strides, box, CU_TENSOR_MAP_SWIZZLE_128B, "B");
        } else {
            const uint64_t dims_i[4] = {128, 8, (uint64_t)p.k / 128, (uint64_t)p.n / 8};
            const uint64_t strides_i[3] = {(uint64_t)p.k, 128, 8 * (uint64_t)p.k};
            const uint32_t box_i[4] = {128, 8, (uint32_t)p.g, (uint32_t)p.rows / 8};
            const uint64_t dims_k[4] = {128, 8, (uint64_t)p.n / 8, (uint64_t)p.k / 128};
            const uint64_t strides_k[3] = {(uint64_t)p.k, 8 * (uint64_t)p.k, 128};
            const uint32_t box_k[4] = {128, 8, (uint32_t)p.rows / 8, (uint32_t)p.g};
            const uint64_t *dims = p.kb_major ? dims_k : dims_i, *strides = p.kb_major ? strides_k : strides_i;
            const uint32_t *box = p.kb_major ? box_k : box_i;
            st = tma_encode(&maps[i], CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, b, dims, strides, box, CU_TENSOR_MAP_SWIZZLE_128B, "B");
        }
        if (st != FP8BLOCK_OK) { fprintf(stderr, "encode %d failed\n", i); return 1; }
        int grid = p.n / p.rows * p.cuts;
        args[i] = (run_arg){&maps[i], p, b, grid};
        methods[i] = (gpu_timed_method){launch, &args[i]};
    }
    /* each pattern group timed in turn with its own variants */
    if (gpu_timing_medians(timing, methods, count, 3, 30) != 0) fprintf(stderr, "batch failed\n");
    printf("pattern               G order ring  CTAs     time      read\n");
    for (int i = 0; i < count; i++) {
        double bytes = pats[i].bulk ? (double)args[i].grid * (int)((size_t)pats[i].n * pats[i].k / args[i].grid / 32768) * 32768
                                    : (double)pats[i].n * pats[i].k;
        if (methods[i].failed) { printf("%-20s %2d FAIL %s\n", pats[i].name, pats[i].g, methods[i].why); continue; }
        printf("%-20s %2d %5s %3dK %5d %8.2f us %6.0f GB/s\n", pats[i].name, pats[i].g, pats[i].g < 2 ? "-" : pats[i].kb_major ? "kb" : "row", pats[i].ring / 1024, args[i].grid, methods[i].median_s * 1e6,
               bytes / methods[i].median_s * 1e-9);
    }
    return 0;
}
