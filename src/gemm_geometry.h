/* The GEMM's geometry rules that the host planner (C, src/gemm_planner.c) and the kernels
 * (CUDA, src/cuda/gemm_kernel.cuh) must agree on: the K block, what the CTAs of a cluster
 * share, how many math warpgroups a tile has, which kernels take stream-K tiles, and the
 * schedule the host hands each launch. Included from C and from CUDA, where each rule is
 * a constant expression the kernels' template arguments are computed from. */
#ifndef FP8BLOCK_GEMM_GEOMETRY_H
#define FP8BLOCK_GEMM_GEOMETRY_H

#include <stdint.h>

#ifdef __CUDACC__
#define GEMM_RULE __host__ __device__ constexpr
#else
#define GEMM_RULE static inline
#endif

#define GEMM_BLOCK_K 128 /* = the scale block: one promotion per pipeline stage */

/* What the CTAs of a cluster have in common. */
enum cluster_role {
    CLUSTER_SHARES_B = 0, /* CTAs along M (or a cluster of one) */
    CLUSTER_SPLITS_K = 1, /* one tile, a K range per CTA */
    CLUSTER_SHARES_A = 2  /* CTAs along N */
};

/* How many CTAs of a cluster load each A (B) tile together, each a slice multicast to
 * all (1: alone). */
GEMM_RULE int a_sharers(int role, int cluster) { return role == CLUSTER_SHARES_A ? cluster : 1; }
GEMM_RULE int b_sharers(int role, int cluster) { return role == CLUSTER_SHARES_B ? cluster : 1; }

typedef struct {
    int m_tiles, n_tiles;
    int cluster;   /* CTAs sharing an operand (1 or 2; 1 when the cluster splits K) */
    int m_groups;  /* ceil(m_tiles / cluster) when they share B, else m_tiles */
    int n_groups;  /* ceil(n_tiles / cluster) when they share A, else n_tiles */
    int kb_total;  /* ceil(K / 128) */
    int group_n;   /* n groups per band */
    int clusters;  /* P: clusters in the grid */
    int dp_tiles;  /* tiles computed whole */
    int sk_tiles;  /* tiles spread over all clusters by K blocks */
    int64_t sk_blocks; /* sk_tiles * kb_total: >= clusters when sk_tiles > 0, < 2^31 */
    int ksplit;        /* CTAs of a cluster along K (then cluster == 1 and every tile is whole) */
} gemm_schedule;

/* Whether a kernel takes stream-K tiles: one-wave tiles (with two accumulators the
 * gather's registers would spill in the main loop) whose cluster shares B (a K-split
 * cluster sums its tile in shared memory instead; the A-sharing tiles have 192 or 256 rows).
 * The host schedules by the same rule, or the tiles would be left unwritten. */
GEMM_RULE int streamk_capable(int bm, int role) { return bm <= 128 && role == CLUSTER_SHARES_B; }

/* Math warpgroups of a BM-row tile: one per 64-row wave up to three (192 rows); a
 * 256-row tile gives each of two warpgroups two waves. The host sizes per-warpgroup
 * bookkeeping (stream-K counters) by the same rule. */
GEMM_RULE int math_warpgroups(int bm) { return bm == 192 ? 3 : bm / 64 < 2 ? bm / 64 : 2; }

/* E4M3 D on tiles narrower than its 128-column scale blocks (docs/DESIGN.md §1.6). 64-wide
 * CTA pairs along N sharing A are one block each and swap their row amaxes in distributed
 * shared memory (epilogue_swap_amax). Any other narrow tile gathers: each tile's warpgroup
 * leaves its fp32 rows and their amaxes in the stream-K workspace and counts itself in at its
 * block, and the last of the block's tiles to arrive quantizes and stores all of them
 * (gather_block_arrive, gemm_gather.cuh), so no CTA waits for another. */
GEMM_RULE int e4m3_half_block_pair(int bn, int cluster, int role)
{
    return bn == 64 && cluster == 2 && role == CLUSTER_SHARES_A;
}
GEMM_RULE int e4m3_gathers_blocks(int bn, int cluster, int role)
{
    return bn < 128 && !e4m3_half_block_pair(bn, cluster, role);
}
/* A gathering warpgroup's record in the workspace, in floats: its 64 x bn fragment, then
 * its 64 rows' amaxes. */
GEMM_RULE int64_t gather_record_floats(int bn) { return 64 * (int64_t)bn + 64; }
/* What a gathering E4M3 launch needs of the workspace: a record per tile and warpgroup, a
 * counter per row tile, scale block and warpgroup. */
GEMM_RULE int64_t gather_bytes(int64_t m, int64_t n, int bm, int bn)
{
    return (m + bm - 1) / bm * ((n + bn - 1) / bn) * math_warpgroups(bm) * gather_record_floats(bn) * 4;
}
GEMM_RULE int64_t gather_counters(int64_t m, int64_t n, int bm)
{
    return (m + bm - 1) / bm * ((n + 127) / 128) * math_warpgroups(bm);
}

#endif
