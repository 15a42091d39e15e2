/* The compiled tile configurations of the Hopper GEMM, as one table: the planner
 * (src/gemm_planner.c) costs and checks plans against it, and the launcher
 * (src/cuda/gemm_launch.cu) instantiates one kernel per row and output type from it, and
 * leaner ones beside it (no C, bias or stream-K code, or a bias's alone: gemm_addends in
 * src/cuda/gemm_epilogue.cuh).
 * Adding a tile is adding a row.
 *
 * GEMM_CONFIGS(X) calls X(bm, bn, cluster, role, outputs) once per configuration:
 *   bm x bn   the output tile of one CTA
 *   cluster   CTAs per cluster (1 or 2)
 *   role      what a cluster's CTAs share or split (enum cluster_role, gemm_geometry.h)
 *   outputs   the output types it is compiled for (GEMM_OUT_* bits)
 * Why each row exists is in bench/NOTES.md (search its tile, e.g. "192x128"); the planner
 * says which rows its heuristic reaches. */
#ifndef FP8BLOCK_GEMM_CONFIGS_H
#define FP8BLOCK_GEMM_CONFIGS_H

#include "gemm_geometry.h"

/* Output types as bits, one per fp8block_dtype the GEMM can write. */
#define GEMM_OUT_F32 (1 << 0)
#define GEMM_OUT_BF16 (1 << 1)
#define GEMM_OUT_F16 (1 << 2)
#define GEMM_OUT_E4M3 (1 << 3)
/* F32 D with B scaled 1x128 (the weight-gradient GEMM): a kernel of its own, its B-scale warp
 * staging a scale per column and K block (docs/DESIGN.md §1.7). */
#define GEMM_OUT_F32_B1x128 (1 << 4)
#define GEMM_OUT_16BIT (GEMM_OUT_BF16 | GEMM_OUT_F16)
#define GEMM_OUT_ALL (GEMM_OUT_F32 | GEMM_OUT_16BIT)
/* E4M3 D runs the plan an F32 D would (its fp32 values are the F32 D's, docs/DESIGN.md
 * §1.6), fused where that plan's tiles are 128 columns wide: one 1x128 scale block a row.
 * Where that plan cuts no K, a 256-row tile sums every element as it does (one CTA, K in
 * order, the same m64n128k32 wgmma and promotion), so E4M3 may take the 16-bit outputs'
 * 256x128 pairs, which F32 D cannot stage. */
#define GEMM_OUT_ALL_E4M3 (GEMM_OUT_ALL | GEMM_OUT_E4M3)

/* K-split pairs (M <= 128, too few tiles for the SMs); tall tiles in pairs sharing A (a
 * 256-row tile's fp32 staging leaves no room for two ring stages, 192 rows keep three; the
 * weight gradient's large shapes take the 192-row pairs, bench/NOTES.md "H100 calls
 * of cd95b11"); 128-row and 64-row tiles alone or in pairs sharing B. 128x176 straddles B's
 * scale blocks: reachable through FP8BLOCK_GEMM_PLAN only. E4M3 D where the F32 plan takes
 * 64-wide tiles alone and cuts no K: the same tiles in pairs along N sharing A, a pair one
 * scale block (the CTAs swap their row amaxes, epilogue_swap_amax in gemm_epilogue.cuh). */
#define GEMM_CONFIGS(X)                                  \
    X(64, 64, 2, CLUSTER_SPLITS_K, GEMM_OUT_ALL)         \
    X(64, 32, 2, CLUSTER_SPLITS_K, GEMM_OUT_ALL)         \
    X(128, 64, 2, CLUSTER_SPLITS_K, GEMM_OUT_ALL)        \
    X(128, 32, 2, CLUSTER_SPLITS_K, GEMM_OUT_ALL)        \
    X(256, 128, 2, CLUSTER_SHARES_A, GEMM_OUT_16BIT | GEMM_OUT_E4M3) \
    X(192, 128, 2, CLUSTER_SHARES_A, GEMM_OUT_ALL_E4M3 | GEMM_OUT_F32_B1x128) \
    X(64, 64, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL)         \
    X(64, 128, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL_E4M3)   \
    X(128, 64, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL)        \
    X(128, 128, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL_E4M3 | GEMM_OUT_F32_B1x128) \
    X(128, 64, 2, CLUSTER_SHARES_B, GEMM_OUT_ALL)        \
    X(128, 128, 2, CLUSTER_SHARES_B, GEMM_OUT_ALL_E4M3 | GEMM_OUT_F32_B1x128) \
    X(128, 176, 2, CLUSTER_SHARES_B, GEMM_OUT_ALL)       \
    X(128, 64, 2, CLUSTER_SHARES_A, GEMM_OUT_E4M3)       \
    X(64, 64, 2, CLUSTER_SHARES_A, GEMM_OUT_E4M3)

/* Grouped GEMMs (docs/DESIGN.md §1.8): whole tiles only, one CTA or pairs along N sharing A
 * (rows of one group; along M the next tile may be another expert's); 128 columns wide for
 * E4M3 D (fused: grouped GEMMs have no scratch path), 64 wide too for the other outputs where
 * the groups leave most SMs idle (decode); 256-row pairs, as the plain GEMM's, for 16-bit and
 * E4M3 D (fp32 staging of 256 rows leaves no room for two stages). gemm_choose_grouped_plan
 * says which it takes. */
#define GEMM_GROUPED_CONFIGS(X)                          \
    X(64, 64, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL)         \
    X(128, 64, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL)        \
    X(64, 128, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL_E4M3)   \
    X(128, 128, 1, CLUSTER_SHARES_B, GEMM_OUT_ALL_E4M3)  \
    X(128, 128, 2, CLUSTER_SHARES_A, GEMM_OUT_ALL_E4M3)  \
    X(256, 128, 2, CLUSTER_SHARES_A, GEMM_OUT_16BIT | GEMM_OUT_E4M3)

#define GEMM_CONFIG_COUNT_ROW(bm, bn, cluster, role, outputs) +1
enum { GEMM_CONFIG_COUNT = 0 GEMM_CONFIGS(GEMM_CONFIG_COUNT_ROW) };
enum { GEMM_GROUPED_CONFIG_COUNT = 0 GEMM_GROUPED_CONFIGS(GEMM_CONFIG_COUNT_ROW) };

#endif
