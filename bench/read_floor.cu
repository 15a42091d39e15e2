/* The floor under a small-M GEMM: how fast can the H100 stream a weight matrix out of HBM
 * at all, timed as `fp8block bench` times a GEMM (bench/gpu_timing.h: a memset of twice
 * L2 before each call, CUDA events around it, the median of 30)?
 *
 *   fp8block_read_floor        B = 7168 x 16384 fp8 (117 MB: 128x7168x16384's weights)
 *
 * Four readers of the same bytes, each a single thread per CTA that keeps a ring of
 * shared-memory stages in flight and only waits for them to land:
 *  - gemm-b: the GEMM's B stream, one TMA box of 64 rows x 128 bytes per K block, each
 *    of 112 CTAs its 64 rows (16 boxes in flight);
 *  - gemm-b-4kb: a 4D box of 64 rows (8 groups of 8) x 4 K blocks, so that each row's
 *    512 bytes are requested together (the page-locality alternative);
 *  - bulk-112 / bulk-132: contiguous 32 KB bulk copies over 112 and 132 CTAs (4 in flight);
 *  - empty: the same launch with nothing to read (what any call costs between the events).
 * bench/NOTES.md uses these numbers as the memory floor of the M <= 128 shapes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>

#include "gpu_timing.h"
#include "ptx.cuh"
#include "tma.h"

#define ROWS 64                     /* B rows per CTA in the GEMM-like readers */
#define N_ROWS 7168
#define K_BYTES 16384
#define RING_BYTES (128 * 1024)     /* in flight per CTA */
#define BULK_BYTES (32 * 1024)
#define REPEATS 30
#define WARMUPS 3

enum reader { GEMM_B, GEMM_B_4KB, BULK, EMPTY };

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
                     smem_addr(dst)),
                 "l"((uint64_t)src), "r"(bytes), "r"(smem_addr(bar))
                 : "memory");
}

/* CTA c issues `loads` loads of stage_bytes each, keeping RING_BYTES in flight. */
static __global__ void read_kernel(const __grid_constant__ CUtensorMap map, int reader, const uint8_t *base,
                                   int loads, int stage_bytes)
{
    extern __shared__ uint8_t smem_raw[];
    __shared__ uint64_t landed[RING_BYTES / (8 * 1024)];
    uint8_t *ring = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    if (threadIdx.x != 0) return;
    const int stages = RING_BYTES / stage_bytes;
    for (int s = 0; s < stages; s++) mbarrier_init(&landed[s], 1);
    mbarrier_init_fence();
    for (int i = 0; i < loads + stages; i++) {
        const int s = i % stages;
        if (i >= stages) mbarrier_wait(&landed[s], (uint32_t)(i / stages - 1) & 1);
        if (i >= loads) continue;
        uint8_t *dst = ring + s * stage_bytes;
        mbarrier_arrive_expect_tx(&landed[s], stage_bytes);
        if (reader == GEMM_B) tma_load_2d(dst, &map, &landed[s], i * 128, blockIdx.x * ROWS);
        else if (reader == GEMM_B_4KB) tma_load_4d(dst, &map, &landed[s], 0, 0, 4 * i, blockIdx.x * ROWS / 8);
        else bulk_load(dst, base + ((size_t)blockIdx.x * loads + i) * stage_bytes, stage_bytes, &landed[s]);
    }
}

static void check(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return;
    fprintf(stderr, "fp8block_read_floor: %s: %s\n", what, cudaGetErrorString(e));
    exit(1);
}

typedef struct {
    const char *name;
    const CUtensorMap *map;
    int reader, grid, loads, stage_bytes;
    const uint8_t *b;
} read_run;

static int launch_reader(void *arg, char *why, size_t why_size)
{
    const read_run *r = (const read_run *)arg;
    read_kernel<<<r->grid, 32, RING_BYTES + 1024>>>(*r->map, r->reader, r->b, r->loads, r->stage_bytes);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    snprintf(why, why_size, "read_kernel launch: %s", cudaGetErrorString(e));
    return -1;
}

static CUtensorMap b_map(const uint8_t *b, int four_k_blocks)
{
    CUtensorMap map;
    fp8block_status st;
    if (four_k_blocks) { /* (128 bytes, 8 rows, K blocks, row groups of 8) */
        const uint64_t dims[4] = {128, 8, K_BYTES / 128, N_ROWS / 8};
        const uint64_t strides[3] = {K_BYTES, 128, 8 * (uint64_t)K_BYTES};
        const uint32_t box[4] = {128, 8, 4, ROWS / 8};
        st = tma_encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, b, dims, strides, box, CU_TENSOR_MAP_SWIZZLE_128B, "B");
    } else {
        const uint64_t dims[2] = {K_BYTES, N_ROWS};
        const uint64_t strides[1] = {K_BYTES};
        const uint32_t box[2] = {128, ROWS};
        st = tma_encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, b, dims, strides, box, CU_TENSOR_MAP_SWIZZLE_128B, "B");
    }
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_read_floor: %s\n", fp8block_last_error(NULL));
        exit(1);
    }
    return map;
}

int main(void)
{
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fprintf(stderr, "fp8block_read_floor: no CUDA device\n");
        return 77;
    }
    const size_t bytes = (size_t)N_ROWS * K_BYTES;
    char why[200] = "";
    gpu_timing *timing = gpu_timing_create(0, GPU_FLUSH_WRITE, why, sizeof why);
    if (!timing) {
        fprintf(stderr, "fp8block_read_floor: %s\n", why);
        return 1;
    }
    uint8_t *b;
    check(cudaMalloc(&b, bytes), "cudaMalloc B");
    check(cudaMemset(b, 0x3c, bytes), "cudaMemset B");
    check(cudaFuncSetAttribute(read_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, RING_BYTES + 1024),
          "cudaFuncSetAttribute");
    const CUtensorMap box_2d = b_map(b, 0), box_4d = b_map(b, 1);
    /* read_kernel's ring has one barrier per 8 KB and takes whole stages */
    static_assert(RING_BYTES % BULK_BYTES == 0 && RING_BYTES % (4 * ROWS * 128) == 0 && ROWS * 128 == 8 * 1024,
                  "every reader's stage must divide the ring and be at least 8 KB");
    const int kb = K_BYTES / 128, chunks = (int)(bytes / BULK_BYTES);
    read_run runs[] = {
        {"gemm-b", &box_2d, GEMM_B, N_ROWS / ROWS, kb, ROWS * 128, b},
        {"gemm-b-4kb", &box_4d, GEMM_B_4KB, N_ROWS / ROWS, kb / 4, 4 * ROWS * 128, b},
        {"bulk-112", &box_2d, BULK, 112, chunks / 112, BULK_BYTES, b},
        {"bulk-132", &box_2d, BULK, 132, chunks / 132, BULK_BYTES, b},
        {"empty", &box_2d, EMPTY, 132, 0, BULK_BYTES, b},
    };
    printf("HBM read floor: %d x %d bytes, %.0f MB memset flush before each call, median of %d\n", N_ROWS, K_BYTES,
           gpu_timing_flush_bytes(timing) / 1e6, REPEATS);
    printf("reader        CTAs  in flight      time      read\n");
    int rc = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double seconds = 0;
        if (gpu_timing_median(timing, launch_reader, &runs[i], WARMUPS, REPEATS, &seconds, why, sizeof why) != 0) {
            fprintf(stderr, "fp8block_read_floor: %s: %s\n", runs[i].name, why);
            rc = 1;
            break;
        }
        double moved = (double)runs[i].grid * runs[i].loads * runs[i].stage_bytes;
        printf("%-12s %5d %7d KB %8.2f us %6.0f GB/s\n", runs[i].name, runs[i].grid, RING_BYTES / 1024, 1e6 * seconds,
               moved / seconds * 1e-9);
    }
    cudaFree(b);
    gpu_timing_destroy(timing);
    return rc;
}
