/* Where everything of a GEMM CTA lives in shared memory, and how the register file is split
 * between its warpgroups, for one tile shape and output type. */
#ifndef FP8BLOCK_GEMM_LAYOUT_CUH
#define FP8BLOCK_GEMM_LAYOUT_CUH

#include "gemm_epilogue.cuh"
#include "gemm_geometry.h"

#define GEMM_MAX_STAGES 10
#define GEMM_SMEM_LIMIT (227 * 1024)

/* Registers per thread a CTA of `threads` is launched with (__launch_bounds__(threads, 1)):
 * the 64K file shared out in multiples of 8. setmaxnreg redistributes exactly these. */
__host__ __device__ constexpr int launch_regs(int threads)
{
    return 65536 / threads / 8 * 8 > 255 ? 255 : 65536 / threads / 8 * 8;
}

/* Shared memory: STAGES x A tile, STAGES x B tile, the epilogue tile, STAGES x A scales,
 * STAGES x B scales, then the barriers (and a half-block E4M3 tile's amax exchange). A and B
 * tiles and each warpgroup's staging tile are 1024-byte aligned (128-byte swizzle atoms).
 * B_PER_COL: B scaled 1x128, a scale per column of the tile and K block in each stage's
 * B-scale slot. */
template <int BM, int BN, int OUT, bool B_PER_COL = false>
struct gemm_layout {
    static constexpr int a_bytes = BM * GEMM_BLOCK_K;
    static constexpr int b_bytes = BN * GEMM_BLOCK_K;
    static constexpr int sa_bytes = BM * 4;
    static constexpr int d_bytes = BM * BN * out_traits<OUT>::bytes;
    static constexpr int math_wgs = math_warpgroups(BM);
    static constexpr int waves = BM / 64 / math_wgs;
    static constexpr int threads = (math_wgs + 1) * 128;
    /* setmaxnreg shares the 64K registers: three math warpgroups get 160 each (a wave's
     * accumulator and one temporary) with the producer at the minimum of 24. */
    static constexpr int producer_regs = math_wgs == 3 ? 24 : 40;
    static constexpr int math_regs = math_wgs == 3 ? 160 : 232;
    static_assert(math_wgs * 128 * math_regs + 128 * producer_regs <= threads * launch_regs(threads), "register file");
    static constexpr int stage_bytes = a_bytes + b_bytes + sa_bytes; /* what TMA brings per stage */
    static constexpr int sb_slot_floats = B_PER_COL ? BN : 4;           /* B scales of a stage (<= 3, or BN) */
    /* E4M3 D on a 64-wide tile: half a scale block, its pair the other half. Its shared memory
     * holds the peer's row amaxes, two slots of BM words, and their mbarriers (amax_exchange in
     * gemm_epilogue.cuh). */
    static constexpr bool e4m3_half_block = OUT == FP8BLOCK_E4M3 && BN < 128;
    static constexpr int amax_exchange_bytes = e4m3_half_block ? 2 * BM * 4 + 2 * math_wgs * 8 : 0;
    static constexpr int fixed_bytes = d_bytes + 1024 /* alignment slack */ +
                                       GEMM_MAX_STAGES * (sb_slot_floats * 4 + 2 * 8) + 16 + amax_exchange_bytes;
    static constexpr int stages_fit = (GEMM_SMEM_LIMIT - fixed_bytes) / stage_bytes;
    static constexpr int stages = stages_fit < GEMM_MAX_STAGES ? stages_fit : GEMM_MAX_STAGES;
    static constexpr int smem_bytes = fixed_bytes + stages * stage_bytes;
    static_assert(stages >= 2, "tile too large for shared memory");
    static_assert((a_bytes + b_bytes) % 1024 == 0 && d_bytes / math_wgs % 1024 == 0,
                  "the epilogue's swizzled staging needs 1024-byte alignment after the ring");
    static_assert(BN % 16 == 0 && BN <= 256, "wgmma N and the epilogue chunks need BN % 16 == 0");
};

#endif
