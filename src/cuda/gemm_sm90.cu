/* The Hopper block-scaled FP8 GEMM: D = A · Bᵀ with 1x128 scales on A and 128x128 on B.
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
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "gemm_epilogue.cuh"
#include "gemm_scheduler.cuh"
#include "launch_order.cuh"
#include "ptx.cuh"
#include "tma.h"
#include "wgmma_fp8.cuh"

#define GEMM_BLOCK_K 128 /* = the scale block: one promotion per pipeline stage */
#define GEMM_MAX_STAGES 10
#define GEMM_SMEM_LIMIT (227 * 1024)

typedef struct {
    int m, n;
    const float *sb;
    int64_t ldsb;
    int sb_rows; /* ceil(N / 128) */
    int tma_cols; /* columns [0, tma_cols) leave by TMA store, the rest by plain stores */
    void *d;      /* for the plain stores */
    int64_t ldd;
    gemm_schedule sched;
    /* stream-K only: per (partial id, CTA rank, math warpgroup) the warpgroup's 64 x BN
     * fp32 partial; one arrival counter per (stream-K tile, CTA rank, math
     * warpgroup), zero between calls */
    float *partials;
    int *sk_counters;
} gemm_params;

/* Math warpgroups of a BM-row tile: one per 64-row wave up to three (192 rows); a
 * 256-row tile gives each of two warpgroups two waves. The host sizes per-warpgroup
 * bookkeeping (stream-K counters) by the same rule. */
__host__ __device__ constexpr int math_warpgroups(int bm) { return bm == 192 ? 3 : bm / 64 < 2 ? bm / 64 : 2; }

/* Shared memory: STAGES x A tile, STAGES x B tile, the epilogue tile, STAGES x A scales,
 * STAGES x B scales, then the barriers. A and B tiles and each warpgroup's staging tile
 * are 1024-byte aligned (128-byte swizzle atoms). */
template <int BM, int BN, int OUT>
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
    static_assert(math_wgs * 128 * math_regs + 128 * producer_regs <= 65536, "register file");
    static constexpr int stage_bytes = a_bytes + b_bytes + sa_bytes; /* what TMA brings per stage */
    static constexpr int sb_slot_floats = 4;                           /* B scales of a stage (<= 3) */
    static constexpr int fixed_bytes = d_bytes + 1024 /* alignment slack */ +
                                       GEMM_MAX_STAGES * (sb_slot_floats * 4 + 2 * 8) + 16;
    static constexpr int stages_fit = (GEMM_SMEM_LIMIT - fixed_bytes) / stage_bytes;
    static constexpr int stages = stages_fit < GEMM_MAX_STAGES ? stages_fit : GEMM_MAX_STAGES;
    static constexpr int smem_bytes = fixed_bytes + stages * stage_bytes;
    static_assert(stages >= 2, "tile too large for shared memory");
    static_assert((a_bytes + b_bytes) % 1024 == 0 && d_bytes / math_wgs % 1024 == 0,
                  "the epilogue's swizzled staging needs 1024-byte alignment after the ring");
    static_assert(BN % 16 == 0 && BN <= 256, "wgmma N and the epilogue chunks need BN % 16 == 0");
};

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
 * warps ran out of issue slots (bench/NOTES.md v16). */
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

/* One K block of a warpgroup that owns WAVES 64-row waves of the tile: each wave's four
 * wgmma go into the one temporary (two would not fit the registers next to WAVES
 * accumulators), which is promoted before the next wave starts. The other math
 * warpgroup keeps the tensor cores busy meanwhile. The stage goes back to the
 * producer(s) as soon as the last wave's wgmma have read it. */
template <int BM, int BN, int STAGES, int SB_COUNT, int SB_SLOT, int WAVES, int CLUSTER>
__device__ __forceinline__ void kblock_waves(float (*acc)[BN / 2], float *tmp, ring_position &ring, uint64_t *full,
                                             uint64_t *empty, const stage_addressing &at, int lane,
                                             uint32_t cta_rank, int first_col_in_block)
{
    mbarrier_wait(&full[ring.stage], ring.phase);
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
        if (v == WAVES - 1) give_back_stage<CLUSTER>(empty, ring.stage, lane, cta_rank);
        promote<BN, SB_COUNT>(acc[v], tmp, scales[v], first_col_in_block);
    }
    ring_advance<STAGES>(ring);
}

/* Thread t's first float4 of a warpgroup's partial (see streamk_gather). */
template <int BN, int MATH_WGS, int CLUSTER>
__device__ __forceinline__ float4 *partial_of(const gemm_params &p, int piece_id, int cta_rank, int wg)
{
    return (float4 *)p.partials + (((int64_t)piece_id * CLUSTER + cta_rank) * MATH_WGS + wg) * (16 * BN) +
           threadIdx.x % 128;
}

/* A stream-K tile's pieces meet here. Each math warpgroup writes its fp32 partial in
 * fragment order (thread t's j-th float4 at [j][t]: every access of the warpgroup is
 * one coalesced 2 KB run), fences, and counts itself in at the tile's counter. Only the
 * warpgroup that counts last goes on: it sums all pieces' partials in K order, so the
 * bits do not depend on which piece finished last, and re-arms the counter for the
 * next call (calls that share the workspace are stream-ordered). */
template <int BN, int MATH_WGS, int CLUSTER>
__device__ __forceinline__ bool streamk_gather(float *acc, const gemm_params &p, const gemm_piece &w, int sk_tile,
                                               int cta_rank, int wg, int *arrived_flag)
{
    const int t = threadIdx.x % 128;
    float4 *mine = partial_of<BN, MATH_WGS, CLUSTER>(p, w.first_partial + w.piece, cta_rank, wg);
#pragma unroll
    for (int j = 0; j < BN / 8; j++)
        __stcg(mine + j * 128, make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]));
    __threadfence();
    named_barrier_sync(1 + wg, 128);
    if (t == 0) {
        int *counter = p.sk_counters + ((int64_t)sk_tile * CLUSTER + cta_rank) * MATH_WGS + wg;
        int arrived = atomicAdd(counter, 1);
        if (arrived == w.pieces - 1) *counter = 0;
        *(volatile int *)arrived_flag = arrived;
    }
    named_barrier_sync(1 + wg, 128);
    if (*(volatile int *)arrived_flag != w.pieces - 1) return false;
    __threadfence();
    /* Sum in piece (= K) order, BATCH partials read at once: the last piece waits for
     * their latency, not their bytes. */
    constexpr int BATCH = BN <= 64 ? 3 : 1; /* as many as fit the registers without spills */
    for (int s0 = 0; s0 < w.pieces; s0 += BATCH) {
        float4 v[BATCH][BN / 8];
#pragma unroll
        for (int b = 0; b < BATCH; b++) {
            const float4 *part = partial_of<BN, MATH_WGS, CLUSTER>(p, w.first_partial + s0 + b, cta_rank, wg);
            if (s0 + b < w.pieces)
#pragma unroll
                for (int j = 0; j < BN / 8; j++) v[b][j] = __ldcg(part + j * 128);
        }
#pragma unroll
        for (int b = 0; b < BATCH; b++) {
            const int s = s0 + b;
            if (s >= w.pieces) break;
#pragma unroll
            for (int j = 0; j < BN / 8; j++) {
                acc[4 * j + 0] = s ? acc[4 * j + 0] + v[b][j].x : v[b][j].x;
                acc[4 * j + 1] = s ? acc[4 * j + 1] + v[b][j].y : v[b][j].y;
                acc[4 * j + 2] = s ? acc[4 * j + 2] + v[b][j].z : v[b][j].z;
                acc[4 * j + 3] = s ? acc[4 * j + 3] + v[b][j].w : v[b][j].w;
            }
        }
    }
    return true;
}

/* A tile's K split inside a cluster meets here. Every CTA of the cluster but rank 0
 * leaves its math warpgroups' accumulators in its own A ring (drained: the cluster has
 * this one tile) in fragment order; after a cluster barrier rank 0 adds them to its own
 * through distributed shared memory in rank order, which is K order, and stores the tile
 * (true); the other ranks are done (false). No global round trip, no atomics, and the
 * same bits on every run. */
template <int BN, int MATH_WGS, int CLUSTER>
__device__ __forceinline__ bool ksplit_gather(float *acc, uint32_t scratch, uint32_t k_rank, int wg)
{
    const uint32_t mine = scratch + ((uint32_t)wg * 128 * (BN / 8) + threadIdx.x % 128) * 16;
    /* Every math warpgroup's last wgmma has read the ring before it is overwritten (ids
     * 1..MATH_WGS are the warpgroups' own epilogue barriers). */
    named_barrier_sync(1 + MATH_WGS, MATH_WGS * 128);
    if (k_rank != 0) {
#pragma unroll
        for (int j = 0; j < BN / 8; j++)
            st_shared_v4_f32(mine + j * 128 * 16, make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]));
    }
    cluster_sync(); /* the producer warpgroup arrives from its side */
    if (k_rank != 0) return false;
    for (uint32_t r = 1; r < CLUSTER; r++) {
        const uint32_t remote = cluster_map_shared(mine, r);
        float4 v[BN / 8];
#pragma unroll
        for (int j = 0; j < BN / 8; j++) v[j] = ld_cluster_v4_f32(remote + j * 128 * 16);
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            acc[4 * j + 0] += v[j].x;
            acc[4 * j + 1] += v[j].y;
            acc[4 * j + 2] += v[j].z;
            acc[4 * j + 3] += v[j].w;
        }
    }
    return true;
}

/* CLUSTER 2 with ROLE CLUSTER_SHARES_B (A): CTA pairs along M (N) each loading half of
 * the B (A) tile and multicasting it to both. CLUSTER_SPLITS_K: the cluster's CTAs split
 * one tile's K and meet in ksplit_gather. */
template <int BM, int BN, int CLUSTER, int ROLE, int OUT>
__global__ void __launch_bounds__(gemm_layout<BM, BN, OUT>::threads, 1)
    gemm_fp8_block_kernel(const __grid_constant__ CUtensorMap tmap_a, const __grid_constant__ CUtensorMap tmap_b,
                          const __grid_constant__ CUtensorMap tmap_sa, const __grid_constant__ CUtensorMap tmap_d,
                          const gemm_params p)
{
    typedef gemm_layout<BM, BN, OUT> L;
    constexpr int MATH_WGS = L::math_wgs;
    constexpr int WAVES = L::waves;
    static_assert(WAVES <= 2, "the epilogue writes at most two waves");
    constexpr bool KSPLIT = ROLE == CLUSTER_SPLITS_K;
    constexpr bool STREAMK = streamk_capable(BM, ROLE);
    static_assert(!KSPLIT || (WAVES == 1 && L::stages * L::a_bytes >= BM * BN * 4),
                  "a K-split CTA leaves its accumulators in its A ring");
    /* CTAs sharing a tile by multicast: the cluster, unless it splits K. */
    constexpr int PAIR = KSPLIT ? 1 : CLUSTER;
    constexpr int STAGES = L::stages;
    constexpr bool STRADDLES = 128 % BN != 0;
    constexpr int SB_COUNT = STRADDLES ? (BN > 128 ? 3 : 2) : 1;
    constexpr int SB_SLOT = L::sb_slot_floats;
    static_assert(SB_COUNT <= SB_SLOT, "a stage's B scales must fit its slot");
    /* Two temporary accumulators fit the registers up to BN = 128, next to one wave's
     * accumulator, with at most two math warpgroups. */
    constexpr bool PIPELINED = BN <= 128 && WAVES == 1 && MATH_WGS <= 2;
    /* With a pair, each CTA loads half of the shared tile and multicasts it to both. */
    constexpr int A_SHARERS = a_sharers(ROLE, CLUSTER), B_SHARERS = b_sharers(ROLE, CLUSTER);
    static_assert(L::a_bytes / A_SHARERS % 1024 == 0 && L::b_bytes / B_SHARERS % 1024 == 0,
                  "a multicast slice must keep the 128-byte swizzle atoms whole");

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

    const int wg = threadIdx.x / 128;
    const uint32_t cta_rank = PAIR > 1 ? cluster_cta_rank() : 0;
    const uint32_t k_rank = KSPLIT ? cluster_cta_rank() : 0;
    const int cluster_id = blockIdx.x / CLUSTER; /* the grid has exactly p.sched.clusters */
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            /* the TMA thread (with the stage's byte count) and the B-scale warp */
            mbarrier_init(&full[s], 2);
            /* every local math thread, and one lane per math warp of the peer CTA */
            mbarrier_init(&empty[s], MATH_WGS * 128 + MATH_WGS * 4 * (PAIR - 1));
        }
        mbarrier_init_fence();
    }
    /* The peer's barriers must be initialised before its multicasts and arrivals reach us. */
    if (PAIR > 1) cluster_sync();
    else __syncthreads();
    grid_dependency_wait(); /* A, B and the workspace may still be the previous kernel's */

    const gemm_schedule &sched = p.sched;
    if (wg == MATH_WGS) {
        setmaxnreg_dec<L::producer_regs>();
        const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
        if (warp == 0 && lane == 0) {
            tma_prefetch_descriptor(&tmap_a);
            tma_prefetch_descriptor(&tmap_b);
            tma_prefetch_descriptor(&tmap_sa);
            int stage = 0;
            uint32_t phase = 0;
            gemm_cursor cursor = schedule_start(sched, cluster_id, k_rank);
            const uint16_t pair_mask = (uint16_t)((1u << PAIR) - 1);
            for (gemm_unit w; schedule_next<STREAMK, ROLE>(sched, cursor, cta_rank, w);) {
                int m0 = w.m_tile * BM, n0 = w.n_tile * BN;
                for (int kb = w.kb_begin; kb < w.kb_end; kb++) {
                    mbarrier_wait(&empty[stage], phase ^ 1);
                    mbarrier_arrive_expect_tx(&full[stage], L::stage_bytes);
                    int k0 = kb * GEMM_BLOCK_K;
                    tma_load_2d(smem_sa + stage * BM, &tmap_sa, &full[stage], m0, kb);
                    uint8_t *a_slice = smem_a + stage * L::a_bytes, *b_slice = smem_b + stage * L::b_bytes;
                    if (A_SHARERS > 1)
                        tma_load_2d_multicast(a_slice + cta_rank * (L::a_bytes / A_SHARERS), &tmap_a, &full[stage],
                                              k0, m0 + cta_rank * (BM / A_SHARERS), pair_mask);
                    else
                        tma_load_2d(a_slice, &tmap_a, &full[stage], k0, m0);
                    if (B_SHARERS > 1)
                        tma_load_2d_multicast(b_slice + cta_rank * (L::b_bytes / B_SHARERS), &tmap_b, &full[stage],
                                              k0, n0 + cta_rank * (BN / B_SHARERS), pair_mask);
                    else
                        tma_load_2d(b_slice, &tmap_b, &full[stage], k0, n0);
                    if (++stage == STAGES) stage = 0, phase ^= 1;
                }
            }
        } else if (warp == 1) {
            /* B's scales, which no TMA can fetch (ldsb need not be a multiple of 4): the
             * warp loads those of 32 K blocks at once, a lane each, and lane 0 puts each
             * into its stage's slot once the ring frees it, then counts as the stage's
             * second arrival. The math warps read them from shared memory with the A
             * scales: no global load in their loop. */
            int stage = 0;
            uint32_t phase = 0;
            gemm_cursor cursor = schedule_start(sched, cluster_id, k_rank);
            for (gemm_unit w; schedule_next<STREAMK, ROLE>(sched, cursor, cta_rank, w);) {
                const int n0 = w.n_tile * BN;
                const float *rows[SB_COUNT];
#pragma unroll
                for (int i = 0; i < SB_COUNT; i++) rows[i] = p.sb + (int64_t)min(n0 / 128 + i, p.sb_rows - 1) * p.ldsb;
                for (int kb0 = w.kb_begin; kb0 < w.kb_end; kb0 += 32) {
                    const int kb = kb0 + lane, count = min(32, w.kb_end - kb0);
                    float mine[SB_COUNT];
#pragma unroll
                    for (int i = 0; i < SB_COUNT; i++) mine[i] = kb < w.kb_end ? __ldg(rows[i] + kb) : 0.0f;
                    for (int j = 0; j < count; j++) {
                        float v[SB_COUNT];
#pragma unroll
                        for (int i = 0; i < SB_COUNT; i++) v[i] = __shfl_sync(0xffffffffu, mine[i], j);
                        if (lane == 0) {
                            mbarrier_wait(&empty[stage], phase ^ 1);
#pragma unroll
                            for (int i = 0; i < SB_COUNT; i++) st_shared_f32(smem_sb + stage * SB_SLOT + i, v[i]);
                            mbarrier_arrive(&full[stage]);
                        }
                        if (++stage == STAGES) stage = 0, phase ^= 1;
                    }
                }
            }
        }
        /* The K-split gather's barrier (each cluster has one tile, so one arrival). */
        if constexpr (KSPLIT) cluster_sync();
    } else {
        setmaxnreg_inc<L::math_regs>();
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
        kblock_scales<SB_COUNT> scales, scales_next;
#pragma unroll
        for (int i = 0; i < BN / 2; i++) tmp[i] = tmp_next[i] = 0.0f;
        ring_position issue = {0, 0}, release = {0, 0}; /* the next stage to compute, to give back */
        bool store_in_flight = false;

        gemm_cursor cursor = schedule_start(sched, cluster_id, k_rank);
        for (gemm_unit w; schedule_next<STREAMK, ROLE>(sched, cursor, cta_rank, w);) {
            const int m0 = w.m_tile * BM, n0 = w.n_tile * BN;
            const int first_col_in_block = n0 % 128;
#pragma unroll
            for (int v = 0; v < WAVES; v++)
#pragma unroll
                for (int i = 0; i < BN / 2; i++) acc_waves[v][i] = 0.0f;

            if constexpr (WAVES > 1) {
                for (int kb = w.kb_begin; kb < w.kb_end; kb++)
                    kblock_waves<BM, BN, STAGES, SB_COUNT, SB_SLOT, WAVES, PAIR>(
                        acc_waves, tmp, issue, full, empty, at, lane, cta_rank, first_col_in_block);
            } else if constexpr (PIPELINED) {
                /* Two temporaries: K block kb+1's wgmma runs on the tensor cores while
                 * kb's result is promoted on the CUDA cores. K blocks go in pairs so
                 * that each temporary has a fixed role (register arrays cannot swap). */
                const int kb_count = w.kb_end - w.kb_begin;
                kblock_issue<BM, BN, STAGES, SB_COUNT, SB_SLOT>(tmp, scales, issue, full, at);
                int left = kb_count; /* K blocks issued or to issue, not yet promoted */
                for (; left > 2; left -= 2) { /* here tmp holds the oldest K block, in flight */
                    kblock_issue<BM, BN, STAGES, SB_COUNT, SB_SLOT>(tmp_next, scales_next, issue, full, at);
                    wgmma_wait_all_but_last();
                    kblock_finish<BN, STAGES, SB_COUNT, PAIR>(acc, tmp, scales, release, empty, lane, cta_rank,
                                                                first_col_in_block);
                    kblock_issue<BM, BN, STAGES, SB_COUNT, SB_SLOT>(tmp, scales, issue, full, at);
                    wgmma_wait_all_but_last();
                    kblock_finish<BN, STAGES, SB_COUNT, PAIR>(acc, tmp_next, scales_next, release, empty, lane,
                                                                cta_rank, first_col_in_block);
                }
                if (left == 2) {
                    kblock_issue<BM, BN, STAGES, SB_COUNT, SB_SLOT>(tmp_next, scales_next, issue, full, at);
                    wgmma_wait_all_but_last();
                    kblock_finish<BN, STAGES, SB_COUNT, PAIR>(acc, tmp, scales, release, empty, lane, cta_rank,
                                                                first_col_in_block);
                    wgmma_wait_all();
                    kblock_finish<BN, STAGES, SB_COUNT, PAIR>(acc, tmp_next, scales_next, release, empty, lane,
                                                                cta_rank, first_col_in_block);
                } else {
                    wgmma_wait_all();
                    kblock_finish<BN, STAGES, SB_COUNT, PAIR>(acc, tmp, scales, release, empty, lane, cta_rank,
                                                                first_col_in_block);
                }
            } else {
                for (int kb = w.kb_begin; kb < w.kb_end; kb++) {
                    kblock_issue<BM, BN, STAGES, SB_COUNT, SB_SLOT>(tmp, scales, issue, full, at);
                    wgmma_wait_all();
                    kblock_finish<BN, STAGES, SB_COUNT, PAIR>(acc, tmp, scales, release, empty, lane, cta_rank,
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

            /* The previous tile's TMA store must have read the staging tile before it is
             * overwritten; everyone in the warpgroup waits for the leader's word. */
            if (store_leader && store_in_flight) tma_store_wait_read();
            named_barrier_sync(1 + wg, 128);
#pragma unroll
            for (int v = 0; v < WAVES; v++)
                epilogue_stage_fragment<BN, OUT, WAVES>(d_tile, acc_waves[v], v, warp, lane);
            fence_proxy_async_smem();
            named_barrier_sync(1 + wg, 128);
            const int row0 = m0 + wg * WAVES * 64; /* the warpgroup's waves go out together */
            if (store_leader && row0 < p.m && n0 < p.tma_cols) {
                epilogue_store_tile<BN, OUT, WAVES>(&tmap_d, smem_d + wg * (L::d_bytes / MATH_WGS), row0, n0,
                                                    p.tma_cols);
                store_in_flight = true;
            }
            /* Written out rather than looped over v: nvcc left that loop rolled and put the
             * accumulators in local memory. */
            epilogue_store_tail<BN, OUT>(p.d, p.ldd, acc_waves[0], p.m, p.n, p.tma_cols, row0, n0, warp, lane);
            if constexpr (WAVES > 1)
                epilogue_store_tail<BN, OUT>(p.d, p.ldd, acc_waves[1], p.m, p.n, p.tma_cols, row0 + 64, n0, warp, lane);
        }
        if (store_leader && store_in_flight) tma_store_wait_all();
    }
    /* A CTA may not leave while its peer can still multicast into it, arrive on its
     * barriers or (K split) read its shared memory. */
    if (CLUSTER > 1) cluster_sync();
}

/* ---- host side -------------------------------------------------------------------- */

typedef struct {
    int bm, bn;
    int cluster;  /* CTAs per cluster */
    int streamk;  /* spread the last wave (or all tiles) over every CTA by K blocks */
    int role;     /* cluster_role: what the cluster's CTAs share (B, A) or split (K) */
} gemm_plan;

/* The stream-K workspace: arrival counters, then the partials. */
#define STREAMK_MAX_COUNTERS 16384
#define STREAMK_COUNTER_BYTES ((size_t)STREAMK_MAX_COUNTERS * sizeof(int))
/* The largest need of a chosen plan is ~25 MB (128x128 CTA pairs: < 2 waves of 66 stream-K
 * tiles plus 66 clusters, 128 KB per partial id); a plan needing more runs data-parallel. */
#define STREAMK_PARTIAL_BYTES ((size_t)32 << 20)

static const char *role_name(int role)
{
    return role == CLUSTER_SPLITS_K ? " splitting K" : role == CLUSTER_SHARES_A ? " sharing A" : "";
}

/* What a CTA pair of a bm-row tile shares: a tall tile's A block (32 KB per K block at
 * 256 rows, twice its B block; measured 3-4% faster than sharing B, bench/NOTES.md v14),
 * else B. */
static int pair_role(int bm) { return bm >= 192 ? CLUSTER_SHARES_A : CLUSTER_SHARES_B; }


typedef void (*gemm_kernel_fn)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const CUtensorMap,
                               const gemm_params);

/* One compiled tile configuration. */
typedef struct {
    gemm_kernel_fn fn;
    int threads, smem_bytes, stages, cluster;
    int waves; /* 64-row waves per math warpgroup: the rows of one D store */
    int *max_clusters; /* per device ordinal (see kernel_max_clusters) */
} gemm_kernel;

template <int BM, int BN, int CLUSTER, int ROLE, int OUT>
static gemm_kernel kernel_for(void)
{
    typedef gemm_layout<BM, BN, OUT> L;
    static int max_clusters[64];
    gemm_kernel k = {gemm_fp8_block_kernel<BM, BN, CLUSTER, ROLE, OUT>,
                     L::threads, L::smem_bytes, L::stages, CLUSTER, L::waves, max_clusters};
    return k;
}

template <int OUT>
static int find_kernel(const gemm_plan *plan, gemm_kernel *k)
{
    int bm = plan->bm, bn = plan->bn, cluster = plan->cluster;
    if (plan->role == CLUSTER_SPLITS_K) {
        if (bm == 64 && bn == 64 && cluster == 2) *k = kernel_for<64, 64, 2, CLUSTER_SPLITS_K, OUT>();
        else if (bm == 64 && bn == 32 && cluster == 2) *k = kernel_for<64, 32, 2, CLUSTER_SPLITS_K, OUT>();
        else if (bm == 128 && bn == 64 && cluster == 2) *k = kernel_for<128, 64, 2, CLUSTER_SPLITS_K, OUT>();
        else if (bm == 128 && bn == 32 && cluster == 2) *k = kernel_for<128, 32, 2, CLUSTER_SPLITS_K, OUT>();
        else return 0;
        return 1;
    }
    if (plan->role == CLUSTER_SHARES_A) {
        /* (a 256-row tile's fp32 staging leaves no room for two stages; 192 rows keep three) */
        if constexpr (OUT != FP8BLOCK_F32) {
            if (bm == 256 && bn == 128 && cluster == 2) return *k = kernel_for<256, 128, 2, CLUSTER_SHARES_A, OUT>(), 1;
        }
        if (bm == 192 && bn == 128 && cluster == 2) return *k = kernel_for<192, 128, 2, CLUSTER_SHARES_A, OUT>(), 1;
        return 0;
    }
    if (plan->role != CLUSTER_SHARES_B) return 0;
    if (bm == 64 && bn == 64 && cluster == 1) *k = kernel_for<64, 64, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 64 && bn == 128 && cluster == 1) *k = kernel_for<64, 128, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 64 && cluster == 1) *k = kernel_for<128, 64, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 128 && cluster == 1) *k = kernel_for<128, 128, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 64 && cluster == 2) *k = kernel_for<128, 64, 2, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 128 && cluster == 2) *k = kernel_for<128, 128, 2, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 176 && cluster == 2) *k = kernel_for<128, 176, 2, CLUSTER_SHARES_B, OUT>();
    else return 0;
    return 1;
}

static int find_kernel_for_dtype(fp8block_dtype dtype, const gemm_plan *plan, gemm_kernel *k)
{
    switch (dtype) {
    case FP8BLOCK_F32: return find_kernel<FP8BLOCK_F32>(plan, k);
    case FP8BLOCK_BF16: return find_kernel<FP8BLOCK_BF16>(plan, k);
    default: return find_kernel<FP8BLOCK_F16>(plan, k);
    }
}

/* fitted: 256x128 vs 128x128 at equal waves (v7 sweep in bench/NOTES.md); 192x128 measured
 * within 1% of 256x128 per FLOP where both fill their rounds alike (v17) */
#define TALL_TILE_FACTOR 0.88
#define STREAMK_TILE_COST 0.1 /* guessed: the partials' round trip, in tiles */
#define STREAMK_BELOW_FILL 0.9

/* Into how many K ranges each of `tiles` tiles is cut so that they fill `ctas` CTAs
 * (1: no cut), at most one per K block. */
static int64_t k_cuts(int64_t tiles, int64_t ctas, int64_t kb_total)
{
    int64_t cuts = tiles < ctas ? ctas / tiles : 1;
    return cuts < kb_total ? cuts : kb_total;
}

/* Tiles over the grid's last wave: 1 when every wave is full. */
static double wave_fill(int64_t tiles, int64_t ctas)
{
    return (double)tiles / (double)(fp8block_ceil_div(tiles, ctas) * ctas);
}

/* Deterministic tile choice.
 * M ≤ 128: the time is reading B once from HBM, so what matters is that every SM
 * streams: BN = 64 tiles (or 32, below), K cut when there are too few of them.
 * Larger M: CTA pairs (tall tiles share A, 128-row ones B), and the tile shape whose
 * waves cost least, counting a wider tile's lower per-FLOP overhead (the +104: measured,
 * a 128x64 tile costs 1.45x a 128x128 one per FLOP on 4096^3) and a partial last wave
 * (stream-K spreads it over all SMs for a small overhead). */
static gemm_plan choose_plan(const gemm_args *g, int sms)
{
    gemm_plan plan = {g->m <= 64 ? 64 : 128, 128, 1, 0, CLUSTER_SHARES_B};
    if (g->m <= 128) {
        plan.bn = 64;
        int64_t n_tiles = fp8block_ceil_div(g->n, plan.bn);
        plan.streamk = n_tiles < sms; /* more tiles: stream-K measured slower */
        /* Where each tile's K is cut in two, the pieces meet in a CTA pair's shared memory
         * instead (run_gemm falls back when the pairs do not all fit). Where 64-wide tiles
         * need more cuts, 32-wide ones cut in two do the same: measured 5-11% faster than
         * 64-wide tiles cut 4 ways by stream-K at N = 2048-2112 (bench/NOTES.md v15; 4-CTA
         * clusters for that cut do not all fit on an H100). */
        int64_t kb_total = fp8block_ceil_div(g->k, GEMM_BLOCK_K), cuts = k_cuts(n_tiles, sms, kb_total);
        if (cuts > 2 && k_cuts(fp8block_ceil_div(g->n, 32), sms, kb_total) == 2) plan.bn = 32, cuts = 2;
        if (cuts == 2) plan.cluster = 2, plan.streamk = 0, plan.role = CLUSTER_SPLITS_K;
        return plan;
    }
    /* BN = 176 (straddles B scale blocks) measured 19% slower per FLOP than 256x128 pairs
     * even with v16's compile-time scale picks (bench/NOTES.md): it stays reachable through
     * FP8BLOCK_GEMM_PLAN only. Tall tiles (256 rows: two waves per math warpgroup; 192:
     * three math warpgroups) ingest less per FLOP (bench/NOTES.md v6/v7) and run at the
     * same rate per FLOP (v17; 192 rows with fp32 output too), costed at TALL_TILE_FACTOR
     * of 128-row tiles; the choice between them is how their rounds fill the grid (4096
     * rows are 16 of 256 but 21.3 of 192; N = 2112 puts 144 pairs of 256-row tiles on 66
     * clusters, 198 of 192-row tiles). Both are left out up to M = 256 (one tile of mostly
     * padding; not measured there), and a shape is costed only where a kernel exists for
     * it and the output dtype (256 rows: 16-bit only). Waves count the CTAs a plan
     * occupies: a pair along N (tall tiles) or M (128 rows) whose second tile lies past
     * the edge still holds two SMs. */
    static const struct {
        int bm, bn;
    } shapes[] = {{128, 128}, {128, 64}, {256, 128}, {192, 128}};
    double best = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int bm = shapes[i].bm, bn = shapes[i].bn;
        const gemm_plan pair = {bm, bn, 2, 0, pair_role(bm)};
        gemm_kernel compiled;
        if ((bm > 128 && g->m <= 256) || !find_kernel_for_dtype(g->dtype, &pair, &compiled)) continue;
        int64_t m_groups = fp8block_ceil_div(fp8block_ceil_div(g->m, bm), b_sharers(pair.role, pair.cluster));
        int64_t n_groups = fp8block_ceil_div(fp8block_ceil_div(g->n, bn), a_sharers(pair.role, pair.cluster));
        int64_t ctas = pair.cluster * m_groups * n_groups;
        /* Stream-K for a partial last wave after full ones; below one wave, cutting K into
         * short ranges (512^3: one K block each) measured 1.6x slower than idle SMs. */
        int streamk = streamk_capable(bm, pair.role) && ctas >= sms && wave_fill(ctas, sms) < STREAMK_BELOW_FILL;
        double waves = streamk ? (double)ctas / sms + STREAMK_TILE_COST : (double)fp8block_ceil_div(ctas, sms);
        double cost = waves * (bm / 128.0) * (bn + 104) * (bm > 128 ? TALL_TILE_FACTOR : 1.0);
        if (i == 0 || cost < best) best = cost, plan = pair, plan.streamk = streamk;
    }
    return plan;
}

/* Splits the tiles between the data-parallel rounds and stream-K (gemm_scheduler.cuh)
 * for a grid of at most max_clusters clusters:
 *  - fewer tiles than clusters (M <= 128): every tile's K is cut into the same number of
 *    ranges, as many as fill the grid (none when that is one: a tile's pieces cost a
 *    partial round trip and a later start of its gather, measured to outweigh the idle
 *    SMs at 112 tiles on 132, bench/NOTES.md v9);
 *  - otherwise the last partial wave and one full wave before it are spread over all
 *    clusters, so that each cluster's range is over a tile long and cuts few tiles.
 * Falls back to data-parallel when there is too little K to spread or the workspace is
 * too small. */
static void schedule_tiles(gemm_schedule *s, const gemm_plan *plan, int max_clusters)
{
    int64_t tiles = (int64_t)s->m_groups * s->n_groups;
    /* The fewest clusters that take as many rounds: idle SMs draw no power, which the
     * busy ones get as clock. */
    s->clusters = (int)fp8block_ceil_div(tiles, fp8block_ceil_div(tiles, max_clusters));
    s->dp_tiles = (int)tiles, s->sk_tiles = 0, s->sk_blocks = 0;
    if (!plan->streamk || !streamk_capable(plan->bm, plan->role) || tiles % max_clusters == 0) return;
    int64_t clusters = max_clusters, dp = 0;
    if (tiles < max_clusters) {
        int64_t cuts = k_cuts(tiles, max_clusters, s->kb_total);
        if (cuts < 2) return;
        clusters = tiles * cuts;
    } else {
        dp = (tiles / max_clusters - 1) * max_clusters;
    }
    int64_t sk = tiles - dp;
    int64_t partial_ids = sk + clusters; /* bound, see gemm_scheduler.cuh */
    int64_t partial_bytes = partial_ids * plan->cluster * plan->bm * plan->bn * (int64_t)sizeof(float);
    int64_t counters = sk * plan->cluster * math_warpgroups(plan->bm);
    if (sk * s->kb_total < clusters || sk * s->kb_total > INT32_MAX ||
        partial_bytes > (int64_t)STREAMK_PARTIAL_BYTES || counters > STREAMK_MAX_COUNTERS)
        return;
    s->clusters = (int)clusters;
    s->dp_tiles = (int)dp, s->sk_tiles = (int)sk, s->sk_blocks = sk * s->kb_total;
}

typedef struct {
    CUtensorMap a, b, sa, d;
} gemm_maps;

/* Development knobs, read once: FP8BLOCK_GEMM_LOG=1 prints each call's plan to stderr;
 * FP8BLOCK_GEMM_PLAN="bm,bn,cluster,streamk[,role]" forces a plan (for tuning the heuristic; role
 * as cluster_role: 0 the cluster shares B, 1 splits K, 2 shares A; without it, what the
 * heuristic gives that tile: A for 192 or 256 rows, else B). */
static int plan_log_enabled;
static gemm_plan plan_override;
static pthread_once_t knobs_once = PTHREAD_ONCE_INIT;

static void read_knobs(void)
{
    const char *log = getenv("FP8BLOCK_GEMM_LOG");
    plan_log_enabled = log && *log && *log != '0';
    const char *forced = getenv("FP8BLOCK_GEMM_PLAN");
    if (!forced) return;
    int fields = sscanf(forced, "%d,%d,%d,%d,%d", &plan_override.bm, &plan_override.bn, &plan_override.cluster,
                        &plan_override.streamk, &plan_override.role);
    if (fields == 4) plan_override.role = pair_role(plan_override.bm);
    if (fields < 4 || plan_override.role < CLUSTER_SHARES_B || plan_override.role > CLUSTER_SHARES_A) {
        fprintf(stderr, "fp8block: FP8BLOCK_GEMM_PLAN='%s' ignored (want bm,bn,cluster,streamk[,role], role 0-2)\n",
                forced);
        memset(&plan_override, 0, sizeof plan_override);
    }
}

/* A launch of `clusters` clusters of kernel k on `stream`; attributes[0] holds the cluster
 * shape the configuration points at (the caller may add more after it). */
static cudaLaunchConfig_t launch_config(const gemm_kernel *k, int clusters, cudaStream_t stream,
                                        cudaLaunchAttribute *attributes)
{
    cudaLaunchConfig_t config;
    memset(&config, 0, sizeof config);
    attributes[0].id = cudaLaunchAttributeClusterDimension;
    attributes[0].val.clusterDim.x = k->cluster, attributes[0].val.clusterDim.y = 1, attributes[0].val.clusterDim.z = 1;
    config.gridDim = dim3(clusters * k->cluster, 1, 1);
    config.blockDim = dim3(k->threads, 1, 1);
    config.dynamicSmemBytes = k->smem_bytes;
    config.stream = stream;
    config.attrs = attributes;
    config.numAttrs = 1;
    return config;
}

/* Per kernel and device, once: the shared-memory opt-in, and how many clusters fit at
 * once (an SM count not divisible by the cluster size, or GPCs with an odd number of
 * SMs, leave some SMs out); *out = 0 when none does (the caller decides what then). */
static fp8block_status kernel_max_clusters(const cuda_device *dev, const gemm_kernel *k, int *out)
{
    int ordinal = dev->ordinal < 64 ? dev->ordinal : 63;
    int known = __atomic_load_n(&k->max_clusters[ordinal], __ATOMIC_RELAXED); /* 0: not asked yet, -1: none */
    if (known) {
        *out = known > 0 ? known : 0;
        return FP8BLOCK_OK;
    }
    fp8block_status st =
        cuda_check(cudaFuncSetAttribute(k->fn, cudaFuncAttributeMaxDynamicSharedMemorySize, k->smem_bytes),
                   "cudaFuncSetAttribute(gemm shared memory)");
    if (st != FP8BLOCK_OK) return st;
    int clusters = dev->sm_count / k->cluster;
    if (k->cluster > 1) {
        cudaLaunchAttribute attribute;
        cudaLaunchConfig_t config = launch_config(k, clusters, 0, &attribute);
        /* An error here (a cluster size the device refuses) counts as "none fits". */
        if (cudaOccupancyMaxActiveClusters(&clusters, k->fn, &config) != cudaSuccess) {
            (void)cudaGetLastError();
            clusters = 0;
        }
    }
    __atomic_store_n(&k->max_clusters[ordinal], clusters > 0 ? clusters : -1, __ATOMIC_RELAXED);
    *out = clusters > 0 ? clusters : 0;
    return FP8BLOCK_OK;
}

/* The compiled kernel of a plan, and how many of its clusters fit at once. */
static fp8block_status plan_kernel(const cuda_device *dev, fp8block_dtype dtype, const gemm_plan *plan,
                                   gemm_kernel *kernel, int *max_clusters)
{
    if (!find_kernel_for_dtype(dtype, plan, kernel))
        return fp8block_fail(FP8BLOCK_ERR_INTERNAL,
                             "internal: no GEMM kernel for tile %dx%d, cluster %d (role %d%s), %s out", plan->bm,
                             plan->bn, plan->cluster, plan->role, role_name(plan->role), fp8block_dtype_name(dtype));
    return kernel_max_clusters(dev, kernel, max_clusters);
}

static fp8block_status launch_kernel(const gemm_kernel *k, const gemm_maps *maps, const gemm_params *params,
                                     cudaStream_t stream)
{
    cudaLaunchAttribute attributes[2];
    cudaLaunchConfig_t config = launch_config(k, params->sched.clusters, stream, attributes);
    attributes[config.numAttrs++] = early_launch_attribute();
    return cuda_check(cudaLaunchKernelEx(&config, k->fn, maps->a, maps->b, maps->sa, maps->d, *params),
                      "gemm kernel launch");
}

static CUtensorMapDataType out_map_type(fp8block_dtype t)
{
    return t == FP8BLOCK_F32 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32
           : t == FP8BLOCK_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
}

/* Called with dev->gemm_workspace_lock held. A new workspace's counters are zeroed on
 * `stream`, ahead of the kernel that first uses them. */
static fp8block_status ensure_workspace(cuda_device *dev, cudaStream_t stream)
{
    if (!dev->gemm_workspace_idle) {
        fp8block_status st = cuda_check(cudaEventCreateWithFlags(&dev->gemm_workspace_idle, cudaEventDisableTiming),
                                        "cudaEventCreate(stream-K workspace)");
        if (st != FP8BLOCK_OK) {
            dev->gemm_workspace_idle = NULL;
            return st;
        }
    }
    if (dev->gemm_workspace) return FP8BLOCK_OK;
    fp8block_status st = cuda_check(cudaMalloc(&dev->gemm_workspace, STREAMK_COUNTER_BYTES + STREAMK_PARTIAL_BYTES),
                                    "cudaMalloc(stream-K workspace)");
    if (st == FP8BLOCK_OK)
        st = cuda_check(cudaMemsetAsync(dev->gemm_workspace, 0, STREAMK_COUNTER_BYTES, stream),
                        "cudaMemsetAsync(stream-K counters)");
    if (st != FP8BLOCK_OK) {
        cudaFree(dev->gemm_workspace);
        dev->gemm_workspace = NULL;
    }
    return st;
}

static fp8block_status encode_maps(const gemm_args *g, const gemm_plan *plan, const gemm_kernel *kernel,
                                   int64_t tma_cols, gemm_maps *maps)
{
    uint64_t kb_total = (uint64_t)fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    uint64_t a_dims[2] = {(uint64_t)g->k, (uint64_t)g->m}, a_strides[1] = {(uint64_t)g->lda};
    uint32_t a_box[2] = {GEMM_BLOCK_K, (uint32_t)(plan->bm / a_sharers(plan->role, plan->cluster))};
    fp8block_status st = tma_encode(&maps->a, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, g->a, a_dims, a_strides, a_box,
                                    CU_TENSOR_MAP_SWIZZLE_128B, "A");
    if (st != FP8BLOCK_OK) return st;
    uint64_t b_dims[2] = {(uint64_t)g->k, (uint64_t)g->n}, b_strides[1] = {(uint64_t)g->ldb};
    uint32_t b_box[2] = {GEMM_BLOCK_K, (uint32_t)(plan->bn / b_sharers(plan->role, plan->cluster))};
    st = tma_encode(&maps->b, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, g->b, b_dims, b_strides, b_box,
                    CU_TENSOR_MAP_SWIZZLE_128B, "B");
    if (st != FP8BLOCK_OK) return st;
    uint64_t sa_dims[2] = {(uint64_t)g->m, kb_total}, sa_strides[1] = {(uint64_t)g->ldsa * 4};
    uint32_t sa_box[2] = {(uint32_t)plan->bm, 1};
    st = tma_encode(&maps->sa, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, g->sa, sa_dims, sa_strides, sa_box,
                    CU_TENSOR_MAP_SWIZZLE_NONE, "A scales");
    if (st != FP8BLOCK_OK) return st;
    uint64_t esize = fp8block_dtype_size(g->dtype);
    uint64_t d_dims[2] = {(uint64_t)tma_cols, (uint64_t)g->m}, d_strides[1] = {(uint64_t)g->ldd * esize};
    int chunk = epilogue_chunk_bytes(plan->bn, (int)esize);
    uint32_t d_box[2] = {(uint32_t)(chunk / esize), (uint32_t)(EPILOGUE_ROWS * kernel->waves)};
    return tma_encode(&maps->d, out_map_type(g->dtype), 2, g->d, d_dims, d_strides, d_box,
                      chunk == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_32B, "D");
}

static fp8block_status run_gemm(cuda_device *dev, const gemm_args *g, cudaStream_t stream)
{
    pthread_once(&knobs_once, read_knobs);
    if (g->dtype != FP8BLOCK_F32 && g->dtype != FP8BLOCK_BF16 && g->dtype != FP8BLOCK_F16)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "GEMM output dtype %s is not supported on the GPU",
                             fp8block_dtype_name(g->dtype));
    /* api.c enforces DESIGN.md's alignment rules; these are the ones TMA cannot live without. */
    size_t esize = fp8block_dtype_size(g->dtype);
    if (((uintptr_t)g->a | (uintptr_t)g->b | (uintptr_t)g->sa | (uintptr_t)g->d) % 16 != 0 || g->lda % 16 != 0 ||
        g->ldb % 16 != 0 || g->ldsa % 4 != 0 || (g->ldd * esize) % 16 != 0)
        return fp8block_fail(FP8BLOCK_ERR_MISALIGNED,
                             "GEMM on the GPU needs 16-byte aligned A, B, sa and D, lda and ldb multiples of "
                             "16, ldsa a multiple of 4 and D rows a multiple of 16 bytes");

    const int64_t kb_total = fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    gemm_plan plan = plan_override.bm ? plan_override : choose_plan(g, dev->sm_count);
    gemm_kernel kernel;
    int max_clusters = 0;
    fp8block_status st = plan_kernel(dev, g->dtype, &plan, &kernel, &max_clusters);
    if (st != FP8BLOCK_OK) return st;
    int64_t tiles = fp8block_ceil_div(g->m, plan.bm) * fp8block_ceil_div(g->n, plan.bn);
    if (plan.role == CLUSTER_SPLITS_K && (tiles > max_clusters || plan.cluster > kb_total)) {
        /* A K-split cluster must hold its one tile with every K range non-empty, and all
         * of them must fit at once; otherwise the K cut goes through the workspace (with
         * 64-wide tiles: the narrower ones exist only for K-split pairs). */
        plan.cluster = 1, plan.streamk = 1, plan.role = CLUSTER_SHARES_B;
        if (plan.bn < 64) plan.bn = 64;
        st = plan_kernel(dev, g->dtype, &plan, &kernel, &max_clusters);
        if (st != FP8BLOCK_OK) return st;
    }
    if (max_clusters < 1)
        return fp8block_fail(FP8BLOCK_ERR_INTERNAL, "internal: no GEMM cluster of %d CTAs (tile %dx%d, %d bytes of shared "
                             "memory each) fits on the device", kernel.cluster, plan.bm, plan.bn, kernel.smem_bytes);

    gemm_params params;
    params.m = (int)g->m, params.n = (int)g->n;
    params.sb = g->sb, params.ldsb = g->ldsb;
    params.sb_rows = (int)fp8block_ceil_div(g->n, 128);
    gemm_schedule *s = &params.sched;
    s->m_tiles = (int)fp8block_ceil_div(g->m, plan.bm);
    s->n_tiles = (int)fp8block_ceil_div(g->n, plan.bn);
    const int ksplit = plan.role == CLUSTER_SPLITS_K;
    s->cluster = ksplit ? 1 : plan.cluster;
    s->ksplit = ksplit ? plan.cluster : 1;
    s->m_groups = (int)fp8block_ceil_div(s->m_tiles, b_sharers(plan.role, plan.cluster));
    s->n_groups = (int)fp8block_ceil_div(s->n_tiles, a_sharers(plan.role, plan.cluster));
    s->kb_total = (int)kb_total;
    s->group_n = 8;
    schedule_tiles(s, &plan, max_clusters);

    if (plan_log_enabled)
        fprintf(stderr,
                "fp8block gemm %lldx%lldx%lld: tile %dx%d cluster %d%s, %d stages, %d bytes shared; grid %d clusters "
                "(max %d): %d tiles whole, %d by stream-K\n",
                (long long)g->m, (long long)g->n, (long long)g->k, plan.bm, plan.bn, plan.cluster,
                role_name(plan.role), kernel.stages, kernel.smem_bytes, s->clusters, max_clusters,
                s->dp_tiles, s->sk_tiles);
    /* TMA stores whole 16-byte pieces of a row (see epilogue_store_tail). */
    int64_t per_16_bytes = 16 / (int64_t)esize;
    params.tma_cols = (int)(g->n / per_16_bytes * per_16_bytes);
    params.d = g->d, params.ldd = g->ldd;
    params.partials = NULL, params.sk_counters = NULL;
    gemm_maps maps;
    st = encode_maps(g, &plan, &kernel, params.tma_cols ? params.tma_cols : g->n, &maps);
    if (st != FP8BLOCK_OK) return st;
    if (s->sk_tiles == 0) return launch_kernel(&kernel, &maps, &params, stream);

    /* The workspace is the context's, shared by all its streams: this stream waits until
     * the previous user's kernel is done with it, and the next user waits for ours. */
    pthread_mutex_lock(&dev->gemm_workspace_lock);
    st = ensure_workspace(dev, stream);
    if (st == FP8BLOCK_OK)
        st = cuda_check(cudaStreamWaitEvent(stream, dev->gemm_workspace_idle, 0),
                        "cudaStreamWaitEvent(stream-K workspace)");
    if (st == FP8BLOCK_OK) {
        params.sk_counters = (int *)dev->gemm_workspace;
        params.partials = (float *)((uint8_t *)dev->gemm_workspace + STREAMK_COUNTER_BYTES);
        st = launch_kernel(&kernel, &maps, &params, stream);
        fp8block_status recorded = cuda_check(cudaEventRecord(dev->gemm_workspace_idle, stream),
                                              "cudaEventRecord(stream-K workspace)");
        if (st == FP8BLOCK_OK) st = recorded;
    }
    pthread_mutex_unlock(&dev->gemm_workspace_lock);
    return st;
}

extern "C" fp8block_status cuda_gemm(cuda_device *dev, const gemm_args *args, void *stream)
{
    if (args->m > INT32_MAX || args->n > INT32_MAX || args->k > INT32_MAX)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "GEMM dimensions above 2^31-1 are not supported on the GPU");
    device_scope scope;
    fp8block_status st = device_scope_enter(dev, &scope);
    if (st != FP8BLOCK_OK) return st;
    st = run_gemm(dev, args, (cudaStream_t)stream);
    device_scope_leave(&scope);
    return st;
}
