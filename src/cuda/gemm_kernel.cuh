/* The Hopper block-scaled FP8 GEMM kernel: D = A · Bᵀ with 1x128 scales on A and 128x128 on B.
 *
 * Persistent CTAs, one per SM at most (as few as take the same number of rounds). Warpgroup
 * roles (DeepGEMM's shape, our code):
 *  - the producer warpgroup (the last one) lowers its registers; one thread issues the
 *    TMA loads of A, B and A's scales for each 128-wide K block into a ring of STAGES
 *    shared-memory slots, guarded by full/empty mbarriers (in a CTA pair it loads half of
 *    the tile the pair shares, A or B, and multicasts it to both), and one warp puts B's
 *    scales for the same K block into the slot (so the math loop has no global load);
 *  - math warpgroups raise their registers; each owns one or two 64-row waves of the
 *    BM x BN tile (one warpgroup for BM = 64, two for 128 and 256, three for 192). Per
 *    K block and wave it runs four wgmma m64nBNk32 into a temporary accumulator (a fresh
 *    one every 128 of K: Hopper's fp8 tensor-core accumulation keeps ~14 bits), then
 *    promotes it on the CUDA cores: acc += tmp · (sa[row] · sb[col block]), the product
 *    formed while the wgmma run.
 *  - Epilogue: registers → swizzled shared memory → TMA store, left in flight while the
 *    next tile's main loop runs (the producer is already loading it).
 * Stream-K (gemm_scheduler.cuh) spreads a partial last wave of tiles over every CTA by
 * K blocks, and with fewer tiles than SMs (M ≤ 128) every tile's K is cut evenly: a
 * tile cut between CTAs leaves fp32 partials in a per-device workspace, and the last
 * of its pieces to finish sums them in K order and stores D (streamk_gather). A tile
 * cut in two whose pieces fit as a CTA pair sums them through distributed shared memory
 * instead (ksplit_gather). Either way results are identical from run to
 * run and no second kernel is launched. */
#ifndef FP8BLOCK_GEMM_KERNEL_CUH
#define FP8BLOCK_GEMM_KERNEL_CUH

#include <stdint.h>

#include "gemm_epilogue.cuh"
#include "gemm_gather.cuh"
#include "gemm_layout.cuh"
#include "gemm_mainloop.cuh"
#include "gemm_params.h"
#include "gemm_scheduler.cuh"
#include "launch_order.cuh"
#include "ptx.cuh"
#include "tma.h"

/* B scaled 1x128: columns col .. col+3 of sb's row kb into `slot` by one 16-byte cp.async,
 * zero past N (16-byte aligned: ldsb % 4 == 0, col % 4 == 0, sb 16-byte aligned). */
__device__ __forceinline__ void copy_col_scales(const gemm_params &p, int kb, int col, float *slot)
{
    const int valid = min(max(p.n - col, 0), 4);
    const float *src = valid ? p.sb + (int64_t)kb * p.ldsb + col : p.sb;
    cp_async_16(smem_addr(slot), src, 4u * (uint32_t)valid);
}

/* Grouped: A's scales of rows row0 .. row0 + BM - 1 for K block kb into the stage's slot,
 * lane l copying rows l, l + 32, ... (each copy instruction one 128-byte run), zero past M
 * as TMA's fill. Asynchronous: the warp does not wait for them; cp_async_mbarrier_arrive
 * counts them in on the stage's full barrier. */
template <int BM>
__device__ __forceinline__ void copy_a_scales(const gemm_params &p, int row0, int kb, int lane, float *slot)
{
    const float *src = p.groups.sa + (int64_t)kb * p.groups.ldsa;
#pragma unroll
    for (int i = 0; i < BM / 32; i++) {
        const int r = lane + 32 * i, row = row0 + r;
        const bool inside = row < p.m;
        cp_async_4(smem_addr(slot + r), inside ? src + row : src, inside ? 4u : 0u);
    }
}

/* The TMA loads of K block kb of unit w into `stage` (A's scales unless grouped, A, B; in a CTA
 * pair, this CTA's half of the shared operand, multicast to both), counted in on the stage's
 * full barrier with its byte count. */
template <int BM, int BN, int OUT, bool B_PER_COL, bool GROUPED, int A_SHARERS, int B_SHARERS>
__device__ __forceinline__ void load_stage(const CUtensorMap *tmap_a, const CUtensorMap *tmap_b,
                                           const CUtensorMap *tmap_sa, uint8_t *smem_a, uint8_t *smem_b,
                                           float *smem_sa, uint64_t *full, int stage, const gemm_params &p,
                                           const gemm_unit &w, int kb, uint32_t cta_rank, uint16_t pair_mask)
{
    typedef gemm_layout<BM, BN, OUT, B_PER_COL> L;
    const int m0 = GROUPED ? w.row0 : w.m_tile * BM, n0 = w.n_tile * BN, k0 = kb * GEMM_BLOCK_K;
    /* grouped: A's scales come from the B-scale warp (gemm_groups) */
    mbarrier_arrive_expect_tx(&full[stage], L::stage_bytes - (GROUPED ? L::sa_bytes : 0));
    if (!GROUPED) tma_load_2d(smem_sa + stage * BM, tmap_sa, &full[stage], m0, kb);
    uint8_t *a_slice = smem_a + stage * L::a_bytes, *b_slice = smem_b + stage * L::b_bytes;
    if (A_SHARERS > 1)
        tma_load_2d_multicast(a_slice + cta_rank * (L::a_bytes / A_SHARERS), tmap_a, &full[stage], k0,
                              m0 + cta_rank * (BM / A_SHARERS), pair_mask);
    else
        tma_load_2d(a_slice, tmap_a, &full[stage], k0, m0);
    if (GROUPED)
        tma_load_3d(b_slice, tmap_b, &full[stage], k0, n0, w.group * p.groups.b_step);
    else if (B_SHARERS > 1)
        tma_load_2d_multicast(b_slice + cta_rank * (L::b_bytes / B_SHARERS), tmap_b, &full[stage], k0,
                              n0 + cta_rank * (BN / B_SHARERS), pair_mask);
    else
        tma_load_2d(b_slice, tmap_b, &full[stage], k0, n0);
}

/* B's scale rows of the tile from column n0 (the expert's where grouped): SB_COUNT rows of
 * ⌈K/128⌉, the last repeated past N. */
template <int SB_COUNT>
__device__ __forceinline__ void b_scale_rows(const float *sb, const gemm_params &p, int n0, const float **rows)
{
#pragma unroll
    for (int i = 0; i < SB_COUNT; i++) rows[i] = sb + (int64_t)min(n0 / 128 + i, p.sb_rows - 1) * p.ldsb;
}

/* EARLY kernels: the K blocks of a CTA's first unit that the barriers' thread loads before the
 * CTA syncs (as many as the ring holds). */
template <int STAGES>
__device__ __forceinline__ int early_blocks(const gemm_unit &w)
{
    return min(w.kb_end - w.kb_begin, STAGES);
}

/* The ring position after those blocks, where the producer and the B-scale warp start; returns
 * how many they skip. */
template <int STAGES>
__device__ __forceinline__ int skip_early_blocks(const gemm_unit &w, int &stage, uint32_t &phase)
{
    const int early = early_blocks<STAGES>(w);
    stage = early % STAGES, phase = early / STAGES;
    return early;
}

/* CLUSTER 2 with ROLE CLUSTER_SHARES_B (A): CTA pairs along M (N) each loading half of
 * the B (A) tile and multicasting it to both. CLUSTER_SPLITS_K: the cluster's CTAs split
 * one tile's K and meet in ksplit_gather. GROUPED: a grouped GEMM (docs/DESIGN.md §1.8):
 * the tiles of each group's rows (group_walk_next), each with its expert's B and B
 * scales, and no row stored past its group's end. ADDENDS: what the epilogue may add, and so
 * what code the kernel carries (gemm_addends, gemm_epilogue.cuh). */
template <int BM, int BN, int CLUSTER, int ROLE, int OUT, bool B_PER_COL, bool GROUPED, int ADDENDS>
__global__ void __launch_bounds__(gemm_layout<BM, BN, OUT, B_PER_COL>::threads, 1)
    gemm_fp8_block_kernel(const __grid_constant__ CUtensorMap tmap_a, const __grid_constant__ CUtensorMap tmap_b,
                          const __grid_constant__ CUtensorMap tmap_sa, const __grid_constant__ CUtensorMap tmap_d,
                          const gemm_params p)
{
    typedef gemm_layout<BM, BN, OUT, B_PER_COL> L;
    constexpr int MATH_WGS = L::math_wgs;
    constexpr int WAVES = L::waves;
    static_assert(WAVES <= 2, "the epilogue writes at most two waves");
    constexpr bool KSPLIT = ROLE == CLUSTER_SPLITS_K;
    constexpr bool STREAMK = !GROUPED && ADDENDS == ADDENDS_ANY && streamk_capable(BM, ROLE);
    static_assert(!GROUPED || (!KSPLIT && !B_PER_COL), "grouped tiles are whole, with B scaled 128x128");
    static_assert(!KSPLIT || (WAVES == 1 && L::stages * L::a_bytes >= BM * BN * 4),
                  "a K-split CTA leaves its accumulators in its A ring");
    /* CTAs sharing a tile by multicast: the cluster, unless it splits K. */
    constexpr int PAIR = KSPLIT ? 1 : CLUSTER;
    constexpr int STAGES = L::stages;
    /* setmaxnreg moves registers inside the CTA's launch allocation (threads x the 168 that
     * __launch_bounds__ gives 384 threads: 64512, not the 65536 of the file); a math
     * warpgroup that asks for more than the producer gave up waits forever (085c9d1's 48 +
     * 2 x 232 hung). Grouped, the B-scale warp also walks the groups and issues the A-scale
     * copies, which spilled at 40: two math warpgroups give it 8 of theirs. */
    constexpr int MATH_REGS = GROUPED && MATH_WGS == 2 ? L::math_regs - 8 : L::math_regs;
    constexpr int PRODUCER_REGS = GROUPED && MATH_WGS == 2 ? L::producer_regs + 16 : L::producer_regs;
    static_assert(MATH_WGS * 128 * MATH_REGS + 128 * PRODUCER_REGS <= L::threads * launch_regs(L::threads),
                  "setmaxnreg asks for more registers than the CTA was launched with");
    constexpr bool STRADDLES = 128 % BN != 0;
    constexpr int SB_COUNT = STRADDLES ? (BN > 128 ? 3 : 2) : 1;
    constexpr int SB_SLOT = L::sb_slot_floats;
    static_assert(SB_COUNT <= SB_SLOT, "a stage's B scales must fit its slot");
    /* Two temporary accumulators fit the registers up to BN = 128, next to one wave's
     * accumulator, with at most two math warpgroups; with per-column B scales in single CTAs
     * only (a pair's spilled 168 bytes at 128x128). */
    constexpr bool PIPELINED = BN <= 128 && WAVES == 1 && MATH_WGS <= 2 && (!B_PER_COL || PAIR == 1);
    /* B scaled 1x128: a 128-wide tile's columns take one float4 per lane of the B-scale warp. */
    static_assert(!B_PER_COL || (BN == 128 && WAVES == 1 && !KSPLIT), "per-column B scales: 128-wide one-wave tiles");
    /* With a pair, each CTA loads half of the shared tile and multicasts it to both. */
    constexpr int A_SHARERS = a_sharers(ROLE, CLUSTER), B_SHARERS = b_sharers(ROLE, CLUSTER);
    static_assert(L::a_bytes / A_SHARERS % 1024 == 0 && L::b_bytes / B_SHARERS % 1024 == 0,
                  "a multicast slice must keep the 128-byte swizzle atoms whole");

    /* A single CTA (or a K-split one: it loads alone) issues its first unit's first ring of
     * loads from the thread that set up the barriers, before the CTA synchronises: the
     * producer's own code, met cold, put its first TMA ~1,400 cycles after the sync and
     * the B-scale warp's first arrival ~1,600 (a CTA-0 timeline, bench/NOTES.md "fixed cost
     * per call"). A pair must sync before multicasting into its peer. */
    constexpr bool EARLY = PAIR == 1 && !GROUPED && !B_PER_COL;
    /* The grouped kernels with two waves a warpgroup (256x128 pairs, 3 stages; their units are
     * always whole) walk the ring in turns, every unit from stage 0 (ring_unit_start, ring_step
     * in gemm_mainloop.cuh), so that the math warps' two-wave loop takes each stage as a
     * constant: a continuous ring's stage, carried from unit to unit, ptxas kept in a vector
     * register there, and then built every wgmma descriptor in one and moved it over (32 R2UR,
     * 229 instructions a K block and math warp against 194 in turns; bench/NOTES.md "The grouped
     * kernels' main loop"). That bought 3-16% on the contiguous rows (H100). The plain and
     * weight-gradient kernels never had the R2UR and lost more to the next unit's shorter
     * prefetch lead than they gained (4096x32768x512 16% slower; bench/NOTES.md "Measured: the
     * ring in turns"); in the two-temporary pipeline of the 128-row grouped tiles turns left the
     * R2UR and spilled. So every other kernel keeps the continuous ring. */
    constexpr bool TURNS = GROUPED && WAVES > 1 && STAGES <= 4;
    static_assert(!TURNS || STAGES <= 32, "a phase bit per stage in 32 bits");
    extern __shared__ uint8_t smem_raw[];
    uint8_t *smem = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    uint8_t *smem_a = smem;
    uint8_t *smem_b = smem_a + STAGES * L::a_bytes;
    uint8_t *smem_d = smem_b + STAGES * L::b_bytes;
    float *smem_sa = (float *)(smem_d + L::d_bytes);
    float *smem_sb = smem_sa + STAGES * BM;
    uint64_t *full = (uint64_t *)(smem_sb + STAGES * SB_SLOT);
    uint64_t *empty = full + STAGES;
    int *arrived_flags = (int *)(empty + STAGES); /* one per math warpgroup (stream-K) */
    /* E4M3 D on 64-wide tiles: each pair of CTAs along N is one scale block (epilogue_swap_amax). */
    constexpr bool HALF_BLOCK = L::e4m3_half_block;
    static_assert(!HALF_BLOCK || (BN == 64 && PAIR == 2 && ROLE == CLUSTER_SHARES_A && !GROUPED),
                  "a half-block E4M3 tile needs its pair along N");
    uint64_t *amax_bars = (uint64_t *)(arrived_flags + 4); /* [2][MATH_WGS], then the [2][BM] slots */
    uint32_t *amax_slots = (uint32_t *)(amax_bars + 2 * MATH_WGS);

    /* The warpgroup index, made warp-uniform (as DeepGEMM does) so that everything derived
     * from it (the A descriptor of the warpgroup's rows above all) lives in uniform
     * registers: without it each wgmma paid a VIADD, an IMAD.MOV and two R2UR, and the
     * 256x128 main loop issued 243 instructions per K block and math warp instead of 203. */
    const int wg = __shfl_sync(0xffffffffu, threadIdx.x / 128, 0);
    const uint32_t cta_rank = PAIR > 1 ? cluster_cta_rank() : 0;
    const uint32_t k_rank = KSPLIT ? cluster_cta_rank() : 0;
    const int cluster_id = blockIdx.x / CLUSTER; /* the grid has exactly p.sched.clusters */
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            /* the TMA thread (with the stage's byte count) and the B-scale warp: its lane 0,
             * or with per-column scales its 32 lanes' copies (copy_col_scales); grouped, lane 0
             * and the 32 lanes' A-scale copies (copy_a_scales) */
            mbarrier_init(&full[s], GROUPED ? 34 : B_PER_COL ? 33 : 2);
            /* every local math thread, and one lane per math warp of the peer CTA */
            mbarrier_init(&empty[s], MATH_WGS * 128 + MATH_WGS * 4 * (PAIR - 1));
        }
        if constexpr (HALF_BLOCK)
            for (int i = 0; i < 2 * MATH_WGS; i++) mbarrier_init(&amax_bars[i], AMAX_EXCHANGE_ARRIVALS);
        mbarrier_init_fence();
        if constexpr (EARLY) {
            fence_proxy_async_smem(); /* the initialised barriers, before this thread's TMA completes on them */
            /* The first unit's first min(K blocks, STAGES) stages: A, B and A's scales by TMA,
             * B's scales by cp.async counted in as the stage's second arrival, nothing waited
             * for (the ring is fresh). The producer and the B-scale warp start after them. */
            grid_dependency_wait(); /* before any global read (launch_order.cuh) */
            gemm_walk walk = walk_start<GROUPED>(p, cluster_id, k_rank);
            gemm_unit w;
            if (walk_next<BM, CLUSTER, ROLE, STREAMK, GROUPED>(p, walk, cta_rank, w)) {
                const float *rows[SB_COUNT];
                b_scale_rows<SB_COUNT>(p.sb, p, w.n_tile * BN, rows);
                const int early = early_blocks<STAGES>(w);
                for (int i = 0; i < early; i++) {
                    load_stage<BM, BN, OUT, B_PER_COL, GROUPED, A_SHARERS, B_SHARERS>(
                        &tmap_a, &tmap_b, &tmap_sa, smem_a, smem_b, smem_sa, full, i, p, w, w.kb_begin + i, 0, 1);
#pragma unroll
                    for (int r = 0; r < SB_COUNT; r++)
                        cp_async_4(smem_addr(smem_sb + i * SB_SLOT + r), rows[r] + w.kb_begin + i, 4u);
                    cp_async_mbarrier_arrive(&full[i]);
                }
                /* These copies are in no cp.async group: a cp.async wait added to this thread's
                 * later (math) code would wait for them too. */
            }
        }
    }
    /* The peer's barriers must be initialised before its multicasts and arrivals reach us. */
    if (PAIR > 1) cluster_sync();
    else __syncthreads();
    grid_dependency_wait(); /* A, B and the workspace may still be the previous kernel's */

    const gemm_schedule &sched = p.sched;
    if (wg == MATH_WGS) {
        setmaxnreg_dec<PRODUCER_REGS>();
        const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
        if (warp == 0 && lane == 0) {
            tma_prefetch_descriptor(&tmap_a);
            tma_prefetch_descriptor(&tmap_b);
            tma_prefetch_descriptor(&tmap_sa);
            ring_position at = {0, 0};
            bool first = EARLY; /* its first stages are loaded already */
            gemm_walk walk = walk_start<GROUPED>(p, cluster_id, k_rank);
            const uint16_t pair_mask = (uint16_t)((1u << PAIR) - 1);
            for (gemm_unit w; walk_next<BM, CLUSTER, ROLE, STREAMK, GROUPED>(p, walk, cta_rank, w);) {
                ring_unit_start<TURNS>(at);
                int kb = w.kb_begin;
                if (first) kb += skip_early_blocks<STAGES>(w, at.stage, at.phase), first = false;
                for (; kb < w.kb_end; kb++) {
                    mbarrier_wait(&empty[at.stage], ring_parity<TURNS>(at) ^ 1);
                    load_stage<BM, BN, OUT, B_PER_COL, GROUPED, A_SHARERS, B_SHARERS>(
                        &tmap_a, &tmap_b, &tmap_sa, smem_a, smem_b, smem_sa, full, at.stage, p, w, kb, cta_rank,
                        pair_mask);
                    ring_step<STAGES, TURNS>(at);
                }
            }
        } else if (warp == 1 && B_PER_COL) {
            /* B scaled 1x128: per K block, the tile's 128 column scales sb[kb][n0 ..], lane l
             * copying columns 4l .. 4l+3 (copy_col_scales) straight into the stage's slot. The
             * copies are asynchronous and each lane's lands as one of the stage's arrivals, so
             * the warp runs ahead as far as the ring is free. (It loaded one K block ahead into
             * registers before: each stage then waited out a load's latency, which at ~0.3 us of
             * tensor work a K block held the weight-gradient GEMM near 0.68x DeepGEMM's speed;
             * the grouped A scales gained 19% from the same change, bench/NOTES.md.) Every lane
             * waits for the slot it writes (racecheck, 549a2c1). */
            ring_position at = {0, 0};
            gemm_walk walk = walk_start<GROUPED>(p, cluster_id, k_rank);
            for (gemm_unit w; walk_next<BM, CLUSTER, ROLE, STREAMK, GROUPED>(p, walk, cta_rank, w);) {
                const int col = w.n_tile * BN + 4 * lane;
                ring_unit_start<TURNS>(at);
                for (int kb = w.kb_begin; kb < w.kb_end; kb++) {
                    mbarrier_wait(&empty[at.stage], ring_parity<TURNS>(at) ^ 1);
                    copy_col_scales(p, kb, col, smem_sb + at.stage * SB_SLOT + 4 * lane);
                    cp_async_mbarrier_arrive(&full[at.stage]);
                    ring_step<STAGES, TURNS>(at);
                }
            }
        } else if (warp == 1) {
            /* B's scales, which no TMA can fetch (ldsb need not be a multiple of 4): the
             * warp loads those of 32 K blocks at once, a lane each, and lane 0 puts each
             * into its stage's slot once the ring frees it, then counts as the stage's
             * second arrival. The math warps read them from shared memory with the A
             * scales: no global load in their loop. */
            ring_position at = {0, 0};
            bool first = EARLY; /* its first stages' scales are in already */
            gemm_walk walk = walk_start<GROUPED>(p, cluster_id, k_rank);
            for (gemm_unit w; walk_next<BM, CLUSTER, ROLE, STREAMK, GROUPED>(p, walk, cta_rank, w);) {
                const float *rows[SB_COUNT];
                b_scale_rows<SB_COUNT>(GROUPED ? p.sb + w.group * p.groups.stride_sb : p.sb, p, w.n_tile * BN, rows);
                ring_unit_start<TURNS>(at);
                int kb_first = w.kb_begin;
                if (first) kb_first += skip_early_blocks<STAGES>(w, at.stage, at.phase), first = false;
                for (int kb0 = kb_first; kb0 < w.kb_end; kb0 += 32) {
                    const int kb = kb0 + lane, count = min(32, w.kb_end - kb0);
                    float mine[SB_COUNT];
#pragma unroll
                    for (int i = 0; i < SB_COUNT; i++) mine[i] = kb < w.kb_end ? __ldg(rows[i] + kb) : 0.0f;
                    for (int j = 0; j < count; j++) {
                        float v[SB_COUNT];
#pragma unroll
                        for (int i = 0; i < SB_COUNT; i++) v[i] = __shfl_sync(0xffffffffu, mine[i], j);
                        /* grouped: every lane copies A scales into the slot, so every lane
                         * waits for it (as the per-column scale warp above) */
                        if (GROUPED || lane == 0) mbarrier_wait(&empty[at.stage], ring_parity<TURNS>(at) ^ 1);
                        if constexpr (GROUPED) {
                            /* The stage's A scales too, copied asynchronously: each lane's
                             * copies arrive on the stage when they land, so the warp runs on
                             * to the next free slot instead of waiting out their latency. (The
                             * __syncwarp orders nothing now that every lane waits; without it the
                             * grouped 256-row kernels spill.) */
                            __syncwarp();
                            copy_a_scales<BM>(p, w.row0, kb0 + j, lane, smem_sa + at.stage * BM);
                            cp_async_mbarrier_arrive(&full[at.stage]);
                        }
                        if (lane == 0) {
#pragma unroll
                            for (int i = 0; i < SB_COUNT; i++) st_shared_f32(smem_sb + at.stage * SB_SLOT + i, v[i]);
                            mbarrier_arrive(&full[at.stage]);
                        }
                        ring_step<STAGES, TURNS>(at);
                    }
                }
            }
        }
        /* The K-split gather's barrier (each cluster has one tile, so one arrival). */
        if constexpr (KSPLIT) cluster_sync();
    } else {
        setmaxnreg_inc<MATH_REGS>();
        const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
        const int frag_row = warp * 16 + lane / 4; /* and frag_row + 8 */
        const bool store_leader = threadIdx.x % 128 == 0;
        const uint32_t d_tile = smem_addr(smem_d + wg * (L::d_bytes / MATH_WGS));
        stage_addressing at;
        at.desc_a0 = (uint32_t)wgmma_desc_k128_sw128(smem_addr(smem_a + wg * WAVES * 64 * GEMM_BLOCK_K));
        at.desc_b0 = (uint32_t)wgmma_desc_k128_sw128(smem_addr(smem_b));
        at.sa0 = smem_sa + wg * WAVES * 64 + frag_row;
        at.sb0 = smem_sb;
        /* tmp_next is used only when PIPELINED (otherwise the compiler drops it). */
        float acc_waves[WAVES][BN / 2], tmp[BN / 2], tmp_next[BN / 2];
        float *acc = acc_waves[0]; /* the accumulator when WAVES == 1 */
        kblock_issued<SB_COUNT> issued, issued_next;
#pragma unroll
        for (int i = 0; i < BN / 2; i++) tmp[i] = tmp_next[i] = 0.0f;
        /* The next stage to compute, to give back (TURNS: the two-wave loop's, their phases alone, a
         * bit per stage; the stage is the loop's constant, ring_at). */
        ring_position issue = {0, 0}, release = {0, 0};
        bool store_in_flight = false;
        amax_exchange exchange = {smem_addr(amax_slots), smem_addr(amax_bars), cta_rank ^ 1, 0, wg * 64 + frag_row, wg};

        gemm_walk walk = walk_start<GROUPED>(p, cluster_id, k_rank);
        for (gemm_unit w; walk_next<BM, CLUSTER, ROLE, STREAMK, GROUPED>(p, walk, cta_rank, w);) {
            const int m0 = GROUPED ? w.row0 : w.m_tile * BM, n0 = w.n_tile * BN;
            const int group_end = GROUPED ? w.row_end : 0; /* the ungrouped kernels stop at p.m instead */
            const int first_col_in_block = n0 % 128;
            if constexpr (ADDENDS != ADDENDS_NONE) epilogue_prefetch_bias<BN>(p, n0, wg == 0 ? threadIdx.x % 128 : 128);
#pragma unroll
            for (int v = 0; v < WAVES; v++)
#pragma unroll
                for (int i = 0; i < BN / 2; i++) acc_waves[v][i] = 0.0f;

            /* K blocks a step of the two-wave loop takes: a turn of the ring, or one (ring_at). */
            constexpr int STEP = TURNS ? STAGES : 1;
            if constexpr (WAVES > 1) {
                uint32_t ready = 0; /* the next K block's stage seen full by the last one's probe */
                for (int kb = w.kb_begin; kb < w.kb_end; kb += STEP) {
#pragma unroll
                    for (int s = 0; s < STEP; s++) {
                        if (kb + s < w.kb_end) {
                            ring_position r = ring_at<TURNS>(issue, s);
                            kblock_waves<BM, BN, STAGES, SB_COUNT, SB_SLOT, WAVES, PAIR>(
                                acc_waves, tmp, r, full, empty, at, lane, cta_rank, first_col_in_block, ready,
                                ring_after<STAGES, TURNS>(issue, s));
                            ring_took<TURNS>(issue, r, s);
                        }
                    }
                }
            } else if constexpr (PIPELINED) {
                /* Two temporaries: K block kb+1's wgmma runs on the tensor cores while
                 * kb's result is promoted on the CUDA cores. K blocks go in pairs so
                 * that each temporary has a fixed role (register arrays cannot swap). */
                const int kb_count = w.kb_end - w.kb_begin;
                kblock_start<BM, BN, STAGES, SB_COUNT, SB_SLOT, B_PER_COL>(tmp, issued, issue, full, at);
                int left = kb_count; /* K blocks issued or to issue, not yet promoted */
                for (; left > 2; left -= 2) { /* here tmp holds the oldest K block, in flight */
                    kblock_start<BM, BN, STAGES, SB_COUNT, SB_SLOT, B_PER_COL>(tmp_next, issued_next, issue, full,
                                                                                at);
                    wgmma_wait_all_but_last();
                    kblock_end<BN, STAGES, SB_COUNT, SB_SLOT, PAIR, B_PER_COL>(acc, tmp, issued, release, empty,
                                                                            smem_sb, lane, cta_rank,
                                                                            first_col_in_block);
                    kblock_start<BM, BN, STAGES, SB_COUNT, SB_SLOT, B_PER_COL>(tmp, issued, issue, full, at);
                    wgmma_wait_all_but_last();
                    kblock_end<BN, STAGES, SB_COUNT, SB_SLOT, PAIR, B_PER_COL>(acc, tmp_next, issued_next, release,
                                                                            empty, smem_sb, lane, cta_rank,
                                                                            first_col_in_block);
                }
                if (left == 2) {
                    kblock_start<BM, BN, STAGES, SB_COUNT, SB_SLOT, B_PER_COL>(tmp_next, issued_next, issue, full,
                                                                                at);
                    wgmma_wait_all_but_last();
                    kblock_end<BN, STAGES, SB_COUNT, SB_SLOT, PAIR, B_PER_COL>(acc, tmp, issued, release, empty,
                                                                            smem_sb, lane, cta_rank,
                                                                            first_col_in_block);
                    wgmma_wait_all();
                    kblock_end<BN, STAGES, SB_COUNT, SB_SLOT, PAIR, B_PER_COL>(acc, tmp_next, issued_next, release,
                                                                            empty, smem_sb, lane, cta_rank,
                                                                            first_col_in_block);
                } else {
                    wgmma_wait_all();
                    kblock_end<BN, STAGES, SB_COUNT, SB_SLOT, PAIR, B_PER_COL>(acc, tmp, issued, release, empty,
                                                                            smem_sb, lane, cta_rank,
                                                                            first_col_in_block);
                }
            } else {
                for (int kb = w.kb_begin; kb < w.kb_end; kb++) {
                    kblock_start<BM, BN, STAGES, SB_COUNT, SB_SLOT, B_PER_COL>(tmp, issued, issue, full, at);
                    wgmma_wait_all();
                    kblock_end<BN, STAGES, SB_COUNT, SB_SLOT, PAIR, B_PER_COL>(acc, tmp, issued, release, empty,
                                                                            smem_sb, lane, cta_rank,
                                                                            first_col_in_block);
                }
            }

            if constexpr (KSPLIT) {
                if (!ksplit_gather<BN, MATH_WGS, CLUSTER>(acc, smem_addr(smem_a), k_rank, wg)) continue;
            }
            if constexpr (STREAMK) {
                if (w.sk_tile >= 0) {
                    const gemm_piece piece = schedule_piece(sched, w, cluster_id);
                    if (piece.pieces > 1 && !streamk_gather<BN, MATH_WGS, PAIR>(acc, p, piece, w.sk_tile, cta_rank,
                                                                                   wg, arrived_flags + wg))
                        continue;
                }
            }

            const int row0 = m0 + wg * WAVES * 64; /* the warpgroup's waves go out together */
            /* No row at or past M (grouped: past the tile's group, group_end) is written.
             * epilogue_adds_c_by_tma is asked again at the store rather than kept in a
             * variable across the addends: kept, the weight-gradient kernel spilled 32 bytes. */
            if constexpr (ADDENDS == ADDENDS_ANY) {
                if (!epilogue_adds_c_by_tma<BN, OUT, GROUPED, ADDENDS>(p, n0)) {
                    epilogue_add_addends<BN, GROUPED>(acc_waves[0], p, group_end, row0, n0, warp, lane);
                    if constexpr (WAVES > 1)
                        epilogue_add_addends<BN, GROUPED>(acc_waves[1], p, group_end, row0 + 64, n0, warp, lane);
                }
            } else if constexpr (ADDENDS == ADDENDS_BIAS) {
                epilogue_add_bias_by_type<BN, !GROUPED, BN / 8, WAVES>(acc_waves[0], acc_waves[WAVES - 1], p, n0,
                                                                        lane);
            }
            if constexpr (OUT == FP8BLOCK_E4M3) {
                epilogue_quantize_wave<BM, BN, GROUPED, HALF_BLOCK>(acc_waves[0], p, group_end, row0, n0, warp, lane,
                                                                    exchange);
                if constexpr (WAVES > 1)
                    epilogue_quantize_wave<BM, BN, GROUPED, HALF_BLOCK>(acc_waves[1], p, group_end, row0 + 64, n0,
                                                                        warp, lane, exchange);
                if constexpr (HALF_BLOCK) exchange.unit++;
            }
            /* The previous tile's TMA store must have read the staging tile before it is
             * overwritten; everyone in the warpgroup waits for the leader's word. */
            if (store_leader && store_in_flight) tma_store_wait_read();
            named_barrier_sync(1 + wg, 128);
#pragma unroll
            for (int v = 0; v < WAVES; v++)
                epilogue_stage_fragment<BN, OUT, WAVES>(d_tile, acc_waves[v], v, warp, lane);
            fence_proxy_async_smem();
            named_barrier_sync(1 + wg, 128);
            if constexpr (GROUPED) {
                /* TMA clips rows only at D's end: a warpgroup's rows that run past the group's
                 * end (into the next group's) leave the staged tile by plain 16-byte stores
                 * (COPY_ROWS), or from registers with all of their columns. The E4M3 pairs keep
                 * the latter: at their 168 registers the copy spilled 8 bytes. */
                constexpr bool COPY_ROWS = !(OUT == FP8BLOCK_E4M3 && PAIR > 1);
                const bool whole_rows = row0 + WAVES * 64 <= group_end;
                const int tma_cols = whole_rows || COPY_ROWS ? p.tma_cols : n0;
                if (whole_rows && store_leader && n0 < tma_cols) {
                    epilogue_store_tile<BN, OUT, WAVES>(&tmap_d, smem_d + wg * (L::d_bytes / MATH_WGS), row0, n0,
                                                        tma_cols, false);
                    store_in_flight = true;
                } else if (COPY_ROWS && !whole_rows && row0 < group_end && n0 < tma_cols) {
                    epilogue_copy_rows<BN, OUT, WAVES>(p.d, p.ldd, d_tile, group_end - row0, row0, n0, tma_cols,
                                                       threadIdx.x % 128);
                }
                epilogue_store_tail<BN, OUT>(p.d, p.ldd, acc_waves[0], group_end, p.n, tma_cols, row0, n0, warp, lane);
                if constexpr (WAVES > 1)
                    epilogue_store_tail<BN, OUT>(p.d, p.ldd, acc_waves[1], group_end, p.n, tma_cols, row0 + 64, n0,
                                                 warp, lane);
            } else {
                if (store_leader && row0 < p.m && n0 < p.tma_cols) {
                    epilogue_store_tile<BN, OUT, WAVES>(&tmap_d, smem_d + wg * (L::d_bytes / MATH_WGS), row0, n0,
                                                        p.tma_cols, epilogue_adds_c_by_tma<BN, OUT, GROUPED, ADDENDS>(p, n0));
                    store_in_flight = true;
                }
                /* Written out rather than looped over v: nvcc left that loop rolled and put the
                 * accumulators in local memory. */
                epilogue_store_tail<BN, OUT>(p.d, p.ldd, acc_waves[0], p.m, p.n, p.tma_cols, row0, n0, warp, lane);
                if constexpr (WAVES > 1)
                    epilogue_store_tail<BN, OUT>(p.d, p.ldd, acc_waves[1], p.m, p.n, p.tma_cols, row0 + 64, n0, warp,
                                                 lane);
            }
        }
        /* The last stores need only have read the staging tile before the CTA leaves (its
         * shared memory goes with it); their writes complete with the grid, before anything
         * ordered after it (the stream, a dependent's griddepcontrol.wait) reads D. Waiting for
         * the writes too kept every CTA a write round trip longer: 0.1-0.2 us a call at small M
         * (bench/NOTES.md "fixed cost per call"). */
        if (store_leader && store_in_flight) tma_store_wait_read();
    }
    /* A CTA may not leave while its peer can still multicast into it, arrive on its
     * barriers or (K split) read its shared memory. */
    if (CLUSTER > 1) cluster_sync();
}

#endif
