/* Which output tile, and which of its K blocks, a persistent CTA works on next.
 *
 * A cluster's CTAs work on neighbouring tiles that share an operand, loaded once for all
 * by TMA multicast: CTAs along M share the B tile (CLUSTER_SHARES_B), CTAs along N the A
 * tile (CLUSTER_SHARES_A). A scheduling unit (below: a "tile") is such a group, (m
 * group, n group). Units are ordered in bands of `group_n` n groups, M fastest inside a
 * band: the CTAs running at one moment then share a few B panels and a band of A, which
 * stay in L2.
 *
 * With P clusters in the grid:
 *  - the first dp_tiles tiles are data-parallel (a multiple of P when stream-K tiles
 *    follow): cluster c computes tiles c, c + P, ... whole;
 *  - the sk_tiles after them are stream-K: their K blocks, laid end to end tile after
 *    tile, are cut into P equal ranges, cluster c taking range c. So a last partial
 *    wave of tiles (or a grid with fewer tiles than SMs) still keeps every SM busy to
 *    the end. A tile cut between clusters first..last is summed from the fp32 partials
 *    of its pieces (the kernel's streamk_gather); piece j of it belongs to cluster
 *    first + j and keeps its partial under the id first + j + sk_tile, unique because
 *    both numbers only grow along the ranges.
 * Split along K inside a cluster instead (ksplit > 1, M <= 128 with fewer tiles than
 * SMs): cluster c computes tile c, its CTA of rank r the r-th of ksplit equal K ranges,
 * and the kernel sums the ranks' accumulators through distributed shared memory.
 * Every CTA of a cluster, the producer and the math warpgroups walk the same sequence
 * without talking to each other. */
#ifndef FP8BLOCK_GEMM_SCHEDULER_CUH
#define FP8BLOCK_GEMM_SCHEDULER_CUH

#include <stdint.h>

#include "gemm_geometry.h"
#include "gemm_group_walk.h"
#include "gemm_params.h"

typedef struct {
    int m_tile, n_tile;
    int kb_begin, kb_end;
    int sk_tile; /* -1: a data-parallel tile */
    /* grouped GEMMs only: the tile's first row, its group's end, the group */
    int row0, row_end, group;
} gemm_unit;

/* Where a stream-K tile's pieces are; only needed once its K blocks are done (kept out
 * of the main loop's registers). */
typedef struct {
    int pieces; /* 1: the whole tile is here */
    int piece, first_partial;
} gemm_piece;

typedef struct {
    int next_dp, sk_pos, sk_end; /* sk_blocks < 2^31, checked by the host */
    int k_rank;                  /* the CTA's K range when ksplit > 1 */
} gemm_cursor;

/* The cluster whose stream-K range holds K block x (ranges start at c * S / P). */
__device__ __forceinline__ int sk_cluster_of(const gemm_schedule &s, int x)
{
    return (int)(((int64_t)(x + 1) * s.clusters + s.sk_blocks - 1) / s.sk_blocks - 1);
}

__device__ __forceinline__ gemm_cursor schedule_start(const gemm_schedule &s, int cluster_id, int k_rank)
{
    gemm_cursor c;
    c.k_rank = k_rank;
    c.next_dp = cluster_id;
    /* Without stream-K, no 64-bit division (a call to a subroutine at the kernel's end, on
     * every role's path to its first tile). */
    c.sk_pos = s.sk_blocks ? (int)((int64_t)cluster_id * s.sk_blocks / s.clusters) : 0;
    c.sk_end = s.sk_blocks ? (int)((int64_t)(cluster_id + 1) * s.sk_blocks / s.clusters) : 0;
    return c;
}

/* STREAMK false: the kernel is never given stream-K tiles; ROLE: its cluster's (each kept
 * out of the code of the kernels that do not need it). */
template <bool STREAMK, int ROLE>
__device__ __forceinline__ bool schedule_next(const gemm_schedule &s, gemm_cursor &c, int cta_rank, gemm_unit &w)
{
    int t;
    if (c.next_dp < s.dp_tiles) {
        t = c.next_dp;
        c.next_dp += s.clusters;
        w.kb_begin = 0, w.kb_end = s.kb_total, w.sk_tile = -1;
        if (ROLE == CLUSTER_SPLITS_K)
            w.kb_begin = c.k_rank * s.kb_total / s.ksplit, w.kb_end = (c.k_rank + 1) * s.kb_total / s.ksplit;
    } else if (STREAMK && c.sk_pos < c.sk_end) {
        w.sk_tile = c.sk_pos / s.kb_total;
        const int tile_begin = w.sk_tile * s.kb_total;
        w.kb_begin = c.sk_pos - tile_begin;
        w.kb_end = min(c.sk_end - tile_begin, s.kb_total);
        c.sk_pos = tile_begin + w.kb_end;
        t = s.dp_tiles + w.sk_tile;
    } else {
        return false;
    }
    const int band_span = s.group_n * s.m_groups;
    const int band = t / band_span;
    const int in_band = t - band * band_span;
    const int band_width = min(s.group_n, s.n_groups - band * s.group_n);
    const int n_group = band * s.group_n + in_band % band_width, m_group = in_band / band_width;
    /* Either may be one past the last tile: then that CTA only loads its share. */
    w.m_tile = ROLE == CLUSTER_SHARES_B ? m_group * s.cluster + cta_rank : m_group;
    w.n_tile = ROLE == CLUSTER_SHARES_A ? n_group * s.cluster + cta_rank : n_group;
    return true;
}

__device__ __forceinline__ gemm_piece schedule_piece(const gemm_schedule &s, const gemm_unit &w, int cluster_id)
{
    gemm_piece q = {1, 0, 0};
    if (w.sk_tile < 0) return q;
    const int tile_begin = w.sk_tile * s.kb_total;
    const int first = sk_cluster_of(s, tile_begin), last = sk_cluster_of(s, tile_begin + s.kb_total - 1);
    q.pieces = last - first + 1, q.piece = cluster_id - first, q.first_partial = first + w.sk_tile;
    return q;
}

/* ---- What each role of the kernel walks: the plain schedule's tiles, or a grouped GEMM's
 * units (gemm_group_walk.h, shared with the host's test). */
typedef struct {
    gemm_cursor tiles;
    gemm_group_cursor groups;
} gemm_walk;

template <bool GROUPED>
__device__ __forceinline__ gemm_walk walk_start(const gemm_params &p, int cluster_id, int k_rank)
{
    gemm_walk x;
    if constexpr (GROUPED) x.groups = group_walk_start(cluster_id);
    else x.tiles = schedule_start(p.sched, cluster_id, k_rank);
    return x;
}

template <int BM, int CLUSTER, int ROLE, bool STREAMK, bool GROUPED>
__device__ __forceinline__ bool walk_next(const gemm_params &p, gemm_walk &x, int cta_rank, gemm_unit &w)
{
    if constexpr (GROUPED) {
        static_assert(ROLE == CLUSTER_SHARES_A || (ROLE == CLUSTER_SHARES_B && CLUSTER == 1),
                      "a grouped tile's cluster shares A along N, or is one CTA");
        gemm_group_tile t;
        if (!group_walk_next(&p.groups, p.m, &p.sched, BM, ROLE, &x.groups, cta_rank, &t)) return false;
        w.row0 = t.row0, w.row_end = t.row_end, w.group = t.group, w.n_tile = t.n_tile;
        w.m_tile = 0, w.kb_begin = 0, w.kb_end = p.sched.kb_total, w.sk_tile = -1;
        return true;
    } else {
        return schedule_next<STREAMK, ROLE>(p.sched, x.tiles, cta_rank, w);
    }
}

#endif
