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

#endif
