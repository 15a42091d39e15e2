/* The math warpgroups' main loop, one 128-wide K block at a time: wait for the ring stage
 * the producer filled, form the stage's scale products, run a wave's four wgmma into a
 * temporary accumulator, give the stage back, and promote the temporary into the
 * accumulator on the CUDA cores (acc += tmp · sa · sb). Hopper's fp8 tensor-core
 * accumulation keeps ~14 bits, hence a fresh temporary every 128 of K. */
#ifndef FP8BLOCK_GEMM_MAINLOOP_CUH
#define FP8BLOCK_GEMM_MAINLOOP_CUH

#include <stdint.h>

#include "gemm_geometry.h"
#include "ptx.cuh"
#include "wgmma_fp8.cuh"

/* The scales of one K block for the thread's two fragment rows, already multiplied
 * (sa[row] · sb[block] for each 128-row block of B the tile touches), so the promotion
 * is one FFMA per accumulator element. */
template <int SB_COUNT>
struct kblock_scales {
    float top[SB_COUNT], bottom[SB_COUNT];
};

/* Promotion: acc += tmp · scale. A tile whose N range straddles B scale blocks (BN does
 * not divide 128) picks per 8-column group among up to three products; with the tile's
 * first column in its scale block a constant, each pick is made by the compiler. */
template <int BN, int SB_COUNT, int FIRST_COL_IN_BLOCK>
__device__ __forceinline__ void promote_from(float *acc, const float *tmp, const kblock_scales<SB_COUNT> &s)
{
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        const int block = (FIRST_COL_IN_BLOCK + 8 * j) >> 7;
        const float top = s.top[block < SB_COUNT ? block : SB_COUNT - 1];
        const float bottom = s.bottom[block < SB_COUNT ? block : SB_COUNT - 1];
        acc[4 * j + 0] = fmaf(tmp[4 * j + 0], top, acc[4 * j + 0]);
        acc[4 * j + 1] = fmaf(tmp[4 * j + 1], top, acc[4 * j + 1]);
        acc[4 * j + 2] = fmaf(tmp[4 * j + 2], bottom, acc[4 * j + 2]);
        acc[4 * j + 3] = fmaf(tmp[4 * j + 3], bottom, acc[4 * j + 3]);
    }
}

/* The tile's first column in its scale block (a multiple of 16: BN is) chooses one of
 * eight unrolled promotions. Picking per group at run time cost a 176-wide tile ~190
 * instructions per K block (compares, shifts, selects) next to its 88 FFMA: the math
 * warps ran out of issue slots (bench/NOTES.md, "128x176")). */
template <int BN, int SB_COUNT>
__device__ __forceinline__ void promote(float *acc, const float *tmp, const kblock_scales<SB_COUNT> &s,
                                        int first_col_in_block)
{
    static_assert(BN % 16 == 0, "the tile's first column in its scale block must be a multiple of 16");
    if constexpr (SB_COUNT == 1) {
        promote_from<BN, 1, 0>(acc, tmp, s);
    } else {
        switch (first_col_in_block >> 4) {
        case 0: promote_from<BN, SB_COUNT, 0>(acc, tmp, s); break;
        case 1: promote_from<BN, SB_COUNT, 16>(acc, tmp, s); break;
        case 2: promote_from<BN, SB_COUNT, 32>(acc, tmp, s); break;
        case 3: promote_from<BN, SB_COUNT, 48>(acc, tmp, s); break;
        case 4: promote_from<BN, SB_COUNT, 64>(acc, tmp, s); break;
        case 5: promote_from<BN, SB_COUNT, 80>(acc, tmp, s); break;
        case 6: promote_from<BN, SB_COUNT, 96>(acc, tmp, s); break;
        default: promote_from<BN, SB_COUNT, 112>(acc, tmp, s); break;
        }
    }
}

typedef struct {
    int stage;
    uint32_t phase;
} ring_position;

template <int STAGES>
__device__ __forceinline__ void ring_advance(ring_position &r)
{
    if (++r.stage == STAGES) r.stage = 0, r.phase ^= 1;
}

/* A role's place in the stage ring, walked one of two ways (the same in every role of a kernel;
 * skip_early_blocks knows only the continuous one, and kernels with early loads never walk in
 * turns):
 * continuous (TURNS false): stages in order across units, one phase for the ring, flipped as it
 * wraps (ring_advance); in turns (TURNS true): every unit from stage 0, `phase` holding one bit
 * per stage (a short last turn leaves the unit's later stages unused, and their barriers' phases
 * stay where they were). In turns the math warps' loop can take each stage as a compile-time
 * constant (gemm_kernel.cuh, TURNS). */
template <bool TURNS>
__device__ __forceinline__ uint32_t ring_parity(const ring_position &r)
{
    return TURNS ? (r.phase >> r.stage) & 1u : r.phase;
}

template <int STAGES, bool TURNS>
__device__ __forceinline__ void ring_step(ring_position &r)
{
    if constexpr (TURNS) r.phase ^= 1u << r.stage, r.stage = r.stage + 1 == STAGES ? 0 : r.stage + 1;
    else ring_advance<STAGES>(r);
}

template <bool TURNS>
__device__ __forceinline__ void ring_unit_start(ring_position &r)
{
    if constexpr (TURNS) r.stage = 0;
}

/* The math warps' two-wave loop takes K blocks a turn at a time (TURNS: STAGES of them, K block s of
 * a turn in stage s, a constant) or one at a time (the continuous ring). ring_at is where K block s of the
 * step goes; ring_took records it once used (`used` as the kblock function left it, advanced). */
template <bool TURNS>
__device__ __forceinline__ ring_position ring_at(const ring_position &r, int s)
{
    if constexpr (TURNS) return ring_position{s, (r.phase >> s) & 1u};
    else return r;
}

/* Where the K block after step s's goes (kblock_waves probes it): the turn's next stage, or
 * the continuous ring's. */
template <int STAGES, bool TURNS>
__device__ __forceinline__ ring_position ring_after(const ring_position &r, int s)
{
    ring_position next = ring_at<TURNS>(r, TURNS ? (s + 1) % STAGES : s);
    if constexpr (!TURNS) ring_advance<STAGES>(next);
    return next;
}

template <bool TURNS>
__device__ __forceinline__ void ring_took(ring_position &r, const ring_position &used, int s)
{
    if constexpr (TURNS) r.phase ^= 1u << s;
    else r = used;
}

/* The upper half of every operand descriptor (stride 1024 bytes, 128-byte swizzle; see
 * wgmma_desc_k128_sw128): only the start address, in the lower half, changes, and a
 * K step of 32 bytes never carries out of its 14-bit field in a 1024-aligned tile. */
__device__ __forceinline__ uint64_t desc_with_start(uint32_t lower) { return ((uint64_t)0x40000040u << 32) | lower; }

/* What a math warpgroup needs to address a stage: the lower descriptor halves of its A
 * rows and of the B tile in stage 0, and where its scales are. */
typedef struct {
    uint32_t desc_a0, desc_b0;
    const float *sa0; /* the warpgroup's thread's top fragment row in stage 0's A scales */
    const float *sb0; /* stage 0's B scales */
} stage_addressing;

/* The scale products of a stage for the thread's fragment rows of the 64-row wave whose
 * A scales start at sa (sa[row] · sb[block] for each B scale block of the tile). */
template <int SB_COUNT>
__device__ __forceinline__ void stage_scales(kblock_scales<SB_COUNT> &scales, const float *sa, const float *sb)
{
    float sa_top = ld_shared_f32(sa), sa_bottom = ld_shared_f32(sa + 8);
#pragma unroll
    for (int i = 0; i < SB_COUNT; i++) {
        float sbi = ld_shared_f32(sb + i);
        scales.top[i] = sa_top * sbi, scales.bottom[i] = sa_bottom * sbi;
    }
}

/* Starts a wave's four wgmma over one K block (lower descriptor halves of its A rows
 * and of the B tile), a fresh accumulation in tmp. */
template <int BN>
__device__ __forceinline__ void issue_wave(float *tmp, uint32_t desc_a, uint32_t desc_b)
{
#pragma unroll
    for (int i = 0; i < BN / 2; i++) fence_registers(tmp[i]);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < GEMM_BLOCK_K / 32; ks++)
        wgmma_m64k32_e4m3<BN>(tmp, desc_with_start(desc_a + 2 * ks), desc_with_start(desc_b + 2 * ks), ks > 0);
    wgmma_commit();
}

/* Waits for the next stage (K block kb), reads its scales and starts its four wgmma, a
 * fresh accumulation in tmp. The scale products are ready before the wgmma finish. */
template <int BM, int BN, int STAGES, int SB_COUNT, int SB_SLOT>
__device__ __forceinline__ void kblock_issue(float *tmp, kblock_scales<SB_COUNT> &scales, ring_position &issue,
                                             uint64_t *full, const stage_addressing &at)
{
    mbarrier_wait(&full[issue.stage], issue.phase);
    stage_scales<SB_COUNT>(scales, at.sa0 + issue.stage * BM, at.sb0 + issue.stage * SB_SLOT);
    issue_wave<BN>(tmp, at.desc_a0 + issue.stage * (BM * GEMM_BLOCK_K >> 4),
                   at.desc_b0 + issue.stage * (BN * GEMM_BLOCK_K >> 4));
    ring_advance<STAGES>(issue);
}

/* Tells the producers that this thread is done with a stage: its wgmma have read the
 * tiles and it has read the scales. Every thread arrives on its own CTA's barrier (the
 * B-scale slot is rewritten by an ordinary store, so each reader's release counts);
 * one lane per warp also arrives at the peer CTA, whose multicast writes our A or B tile. */
template <int CLUSTER>
__device__ __forceinline__ void give_back_stage(uint64_t *empty, int stage, int lane, uint32_t cta_rank)
{
    mbarrier_arrive(&empty[stage]);
    if (CLUSTER > 1) {
        __syncwarp();
        if (lane == 0) mbarrier_arrive_cluster(&empty[stage], cta_rank ^ 1);
    }
}

/* After the wait for tmp's wgmma: gives its stage back to the producer(s) and promotes
 * tmp into acc. */
template <int BN, int STAGES, int SB_COUNT, int CLUSTER>
__device__ __forceinline__ void kblock_finish(float *acc, float *tmp, const kblock_scales<SB_COUNT> &scales,
                                              ring_position &release, uint64_t *empty, int lane, uint32_t cta_rank,
                                              int first_col_in_block)
{
#pragma unroll
    for (int i = 0; i < BN / 2; i++) fence_registers(tmp[i]);
    give_back_stage<CLUSTER>(empty, release.stage, lane, cta_rank);
    ring_advance<STAGES>(release);
    promote<BN, SB_COUNT>(acc, tmp, scales, first_col_in_block);
}

/* B scaled 1x128 (the weight-gradient GEMM): each column has its own scale per K block, in
 * the stage's B-scale slot. Issue as kblock_issue, keeping the rows' A scales alone. */
template <int BM, int BN, int STAGES, int SB_SLOT>
__device__ __forceinline__ void kblock_issue_per_col(float *tmp, float2 &row_scales, ring_position &issue,
                                                     uint64_t *full, const stage_addressing &at)
{
    mbarrier_wait(&full[issue.stage], issue.phase);
    row_scales = make_float2(ld_shared_f32(at.sa0 + issue.stage * BM), ld_shared_f32(at.sa0 + issue.stage * BM + 8));
    issue_wave<BN>(tmp, at.desc_a0 + issue.stage * (BM * GEMM_BLOCK_K >> 4),
                   at.desc_b0 + issue.stage * (BN * GEMM_BLOCK_K >> 4));
    ring_advance<STAGES>(issue);
}

/* After the wait for tmp's wgmma: reads the thread's column scales (columns 8j + 2(lane % 4)
 * and +1) before the stage goes back, then promotes as (tmp·sa[row])·sb[col]: the row's
 * product needs no column scale, so the 64 FMUL run while the column scales' shared-memory
 * loads are in flight (with sa·sb first every FMUL waited on them: Nsight Compute put a
 * quarter of the pipelined loop's stall samples there, short scoreboard; bench/NOTES.md
 * "wgrad: the row's scale first"). The rounding differs from sa·sb first (the CPU reference's, and
 * DeepGEMM's) by about an ulp of a K block's term, inside the bound of docs/DESIGN.md §1.5. */
template <int BN, int STAGES, int SB_SLOT, int CLUSTER>
__device__ __forceinline__ void kblock_finish_per_col(float *acc, float *tmp, float2 row_scales, ring_position &release,
                                                      uint64_t *empty, const float *sb0, int lane, uint32_t cta_rank)
{
#pragma unroll
    for (int i = 0; i < BN / 2; i++) fence_registers(tmp[i]);
    const float *cols = sb0 + release.stage * SB_SLOT + 2 * (lane % 4);
    float2 col_scales[BN / 8];
#pragma unroll
    for (int j = 0; j < BN / 8; j++) col_scales[j] = ld_shared_v2_f32(cols + 8 * j);
    give_back_stage<CLUSTER>(empty, release.stage, lane, cta_rank);
    ring_advance<STAGES>(release);
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        acc[4 * j + 0] = fmaf(tmp[4 * j + 0] * row_scales.x, col_scales[j].x, acc[4 * j + 0]);
        acc[4 * j + 1] = fmaf(tmp[4 * j + 1] * row_scales.x, col_scales[j].y, acc[4 * j + 1]);
        acc[4 * j + 2] = fmaf(tmp[4 * j + 2] * row_scales.y, col_scales[j].x, acc[4 * j + 2]);
        acc[4 * j + 3] = fmaf(tmp[4 * j + 3] * row_scales.y, col_scales[j].y, acc[4 * j + 3]);
    }
}

/* What a K block's promotion keeps from its stage once its wgmma are issued: with B scaled
 * 128x128 the scale products (kblock_scales); with B scaled 1x128 the rows' A scales (the
 * column scales are read at the promotion). The member a kernel does not use is dropped. */
template <int SB_COUNT>
struct kblock_issued {
    kblock_scales<SB_COUNT> scales;
    float2 row_scales;
};

/* kblock_issue or kblock_issue_per_col, as B is scaled. */
template <int BM, int BN, int STAGES, int SB_COUNT, int SB_SLOT, bool B_PER_COL>
__device__ __forceinline__ void kblock_start(float *tmp, kblock_issued<SB_COUNT> &k, ring_position &issue,
                                             uint64_t *full, const stage_addressing &at)
{
    if constexpr (B_PER_COL) kblock_issue_per_col<BM, BN, STAGES, SB_SLOT>(tmp, k.row_scales, issue, full, at);
    else kblock_issue<BM, BN, STAGES, SB_COUNT, SB_SLOT>(tmp, k.scales, issue, full, at);
}

/* kblock_finish or kblock_finish_per_col, as B is scaled. */
template <int BN, int STAGES, int SB_COUNT, int SB_SLOT, int CLUSTER, bool B_PER_COL>
__device__ __forceinline__ void kblock_end(float *acc, float *tmp, const kblock_issued<SB_COUNT> &k,
                                           ring_position &release, uint64_t *empty, const float *sb0, int lane,
                                           uint32_t cta_rank, int first_col_in_block)
{
    if constexpr (B_PER_COL)
        kblock_finish_per_col<BN, STAGES, SB_SLOT, CLUSTER>(acc, tmp, k.row_scales, release, empty, sb0, lane,
                                                            cta_rank);
    else
        kblock_finish<BN, STAGES, SB_COUNT, CLUSTER>(acc, tmp, k.scales, release, empty, lane, cta_rank,
                                                     first_col_in_block);
}

/* One K block of a warpgroup that owns WAVES 64-row waves of the tile: each wave's four
 * wgmma go into the one temporary (two would not fit the registers next to WAVES
 * accumulators), which is promoted before the next wave starts. The other math
 * warpgroup keeps the tensor cores busy meanwhile. The stage goes back to the
 * producer(s) as soon as the last wave's wgmma have read it. Then the next K block's stage
 * (`next`) is probed, not waited on: ptxas issues the probe among the last promotion's FFMA,
 * where a wait would come after all of them and the loop's bound, and the next K block waits
 * only where the probe saw its stage not yet full (`ready`). Plain M >= 4096 GEMMs 0.1-1.0%
 * faster on all 8 bench shapes (bench/NOTES.md "Measured: the early wait"). */
template <int BM, int BN, int STAGES, int SB_COUNT, int SB_SLOT, int WAVES, int CLUSTER>
__device__ __forceinline__ void kblock_waves(float (*acc)[BN / 2], float *tmp, ring_position &ring, uint64_t *full,
                                             uint64_t *empty, const stage_addressing &at, int lane,
                                             uint32_t cta_rank, int first_col_in_block, uint32_t &ready,
                                             ring_position next)
{
    if (!ready) mbarrier_wait(&full[ring.stage], ring.phase);
    kblock_scales<SB_COUNT> scales[WAVES];
#pragma unroll
    for (int v = 0; v < WAVES; v++)
        stage_scales<SB_COUNT>(scales[v], at.sa0 + ring.stage * BM + v * 64, at.sb0 + ring.stage * SB_SLOT);
    const uint32_t desc_a = at.desc_a0 + ring.stage * (BM * GEMM_BLOCK_K >> 4);
    const uint32_t desc_b = at.desc_b0 + ring.stage * (BN * GEMM_BLOCK_K >> 4);
#pragma unroll
    for (int v = 0; v < WAVES; v++) {
        issue_wave<BN>(tmp, desc_a + v * (64 * GEMM_BLOCK_K >> 4), desc_b);
        wgmma_wait_all();
#pragma unroll
        for (int i = 0; i < BN / 2; i++) fence_registers(tmp[i]);
        if (v == WAVES - 1) {
            give_back_stage<CLUSTER>(empty, ring.stage, lane, cta_rank);
            ready = mbarrier_test_wait(smem_addr(&full[next.stage]), next.phase);
        }
        promote<BN, SB_COUNT>(acc[v], tmp, scales[v], first_col_in_block);
    }
    ring_advance<STAGES>(ring);
}

#endif
