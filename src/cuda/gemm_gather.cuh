/* Where the pieces of a tile whose K was cut between CTAs meet: stream-K pieces through
 * fp32 partials in the workspace (streamk_gather), the two halves of a K-split CTA pair
 * through distributed shared memory (ksplit_gather). Both give the bits of a sum in K order,
 * so they do not depend on which piece finished last. */
#ifndef FP8BLOCK_GEMM_GATHER_CUH
#define FP8BLOCK_GEMM_GATHER_CUH

#include <stdint.h>

#include "gemm_params.h"
#include "gemm_scheduler.cuh"
#include "ptx.cuh"

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

/* A tile's K split inside a cluster meets here. A warpgroup whose rows another CTA finishes
 * leaves its accumulators in its own CTA's A ring (drained: the cluster has this one tile) in
 * fragment order and is done (false); after a cluster barrier the finishing warpgroup adds the
 * others' through distributed shared memory and stores its rows (true). Rank 0 finishes every
 * row, adding the others in rank order, which is K order; but with two CTAs of two math
 * warpgroups (128x64 and 128x32 tiles) each CTA finishes half the rows, warpgroup k_rank's, so
 * that the two read half of what rank 0 alone read, at once, and each stores half the tile
 * (measured 0.1-0.9 us faster, bench/NOTES.md "K-split pairs finishing half the rows"). Rank 1
 * then computes acc1 + acc0, which with two terms is acc0 + acc1 bit for bit (IEEE addition
 * commutes; a NaN is the GPU's one canonical NaN either way). No global round trip, no atomics,
 * and the same bits on every run. */
template <int BN, int MATH_WGS, int CLUSTER>
__device__ __forceinline__ bool ksplit_gather(float *acc, uint32_t scratch, uint32_t k_rank, int wg)
{
    constexpr bool HALVES = CLUSTER == 2 && MATH_WGS == 2;
    const uint32_t finisher = HALVES ? (uint32_t)wg : 0; /* the rank that stores this warpgroup's rows */
    const uint32_t mine = scratch + ((uint32_t)wg * 128 * (BN / 8) + threadIdx.x % 128) * 16;
    /* Every math warpgroup's last wgmma has read the ring before it is overwritten (ids
     * 1..MATH_WGS are the warpgroups' own epilogue barriers). */
    named_barrier_sync(1 + MATH_WGS, MATH_WGS * 128);
    if (k_rank != finisher) {
#pragma unroll
        for (int j = 0; j < BN / 8; j++)
            st_shared_v4_f32(mine + j * 128 * 16, make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]));
    }
    cluster_sync(); /* the producer warpgroup arrives from its side */
    if (k_rank != finisher) return false;
    for (uint32_t r = 0; r < CLUSTER; r++) {
        if (r == k_rank) continue;
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

#endif
