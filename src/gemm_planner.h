/* The GEMM planner, host-only C: which compiled tile configuration runs a GEMM, whether its
 * K is cut (stream-K or K-split pairs), and how its tiles are laid on the grid. The CUDA
 * launcher (src/cuda/gemm_launch.cu) only executes what it returns; the planner's tests
 * (tests/cpu/test_gemm_planner.c) run without a GPU. */
#ifndef FP8BLOCK_GEMM_PLANNER_H
#define FP8BLOCK_GEMM_PLANNER_H

#include <stdint.h>

#include "fp8block.h"
#include "gemm_configs.h"
#include "gemm_geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tile choice: the shape, the cluster and its role, and whether the last wave (or, with
 * fewer tiles than SMs, every tile) is spread over the grid by K blocks. */
typedef struct {
    int bm, bn;
    int cluster; /* CTAs per cluster */
    int streamk; /* spread the last wave (or all tiles) over every CTA by K blocks */
    int role;    /* cluster_role: what the cluster's CTAs share (B, A) or split (K) */
} gemm_plan;

/* One row of GEMM_CONFIGS. */
typedef struct {
    int bm, bn, cluster, role, outputs;
} gemm_config;

extern const gemm_config gemm_configs[GEMM_CONFIG_COUNT];
extern const gemm_config gemm_grouped_configs[GEMM_GROUPED_CONFIG_COUNT];

/* The GEMM_OUT_* bit of an output type; 0 for a type no kernel writes (E4M3 today). */
int gemm_output_bit(fp8block_dtype dtype);
/* The row of gemm_configs compiled for the plan's tile, cluster and role and for dtype,
 * or -1. */
int gemm_config_find(const gemm_plan *plan, fp8block_dtype dtype);

/* The stream-K workspace: arrival counters, then the partials. The largest need of a
 * chosen plan is ~25 MB (128x128 CTA pairs: < 2 waves of 66 stream-K tiles plus 66
 * clusters, 128 KB per partial id); a plan needing more runs data-parallel. */
#define STREAMK_MAX_COUNTERS 16384
#define STREAMK_COUNTER_BYTES ((size_t)STREAMK_MAX_COUNTERS * sizeof(int))
#define STREAMK_PARTIAL_BYTES ((size_t)32 << 20)

typedef struct {
    int64_t m, n, k;
    fp8block_dtype dtype;
    int b_per_col; /* B scaled 1x128 (the weight gradient): its own kernels (GEMM_OUT_F32_B1x128) */
} gemm_shape;

/* The GEMM_OUT_* bit of the kernels a shape needs: its output type's, or GEMM_OUT_F32_B1x128. */
int gemm_shape_bit(const gemm_shape *g);
/* gemm_config_find for a GEMM_OUT_* bit. */
int gemm_config_find_bit(const gemm_plan *plan, int bit);

/* What the planner needs from the device: its SM count, how many clusters of a
 * configuration fit at once (0: none; a failure of the query is the call's status), and its
 * L2 size (0: unknown, no limit from it). */
typedef fp8block_status (*gemm_max_clusters_fn)(void *user, int config, int *max_clusters);
typedef struct {
    int sm_count;
    gemm_max_clusters_fn max_clusters;
    void *user;
    int64_t l2_bytes;
} gemm_target;

/* Everything a launch needs: the plan as it will run, its configuration's row, and the
 * schedule the kernel walks (gemm_scheduler.cuh). */
typedef struct {
    gemm_plan plan;
    int config;
    int max_clusters;
    gemm_schedule sched;
} gemm_launch_plan;

/* The heuristic's tile choice for a shape on `sms` SMs. Deterministic. */
gemm_plan gemm_choose_plan(const gemm_shape *g, int sms);

/* Completes a plan, the heuristic's or a forced one, into a launch: a K-split plan whose
 * clusters do not all fit, or whose K is too short, falls back to stream-K; then the tiles
 * are split between data-parallel rounds and stream-K. FP8BLOCK_ERR_INTERNAL when no
 * kernel is compiled for the plan or no cluster of it fits. */
fp8block_status gemm_plan_launch(const gemm_shape *g, gemm_plan plan, const gemm_target *target,
                                 gemm_launch_plan *out);

/* The device as the F32, BF16 and E4M3 kernels see it (their clusters fit differently). */
typedef struct {
    gemm_target f32, bf16, e4m3;
} gemm_e4m3_targets;

/* E4M3 D (g->dtype E4M3; `forced`: FP8BLOCK_GEMM_PLAN's plan or NULL) takes the launch plan of
 * an F32 D, schedule included, so that every element is summed as the F32 D's (docs/DESIGN.md
 * §1.6); or where neither cuts K the 16-bit one's (same sums, taller tiles); or where the F32
 * plan's narrow tiles cut no K and 128-wide ones still fill the SMs, those (same sums, wider
 * tiles); and where they would not, the narrow tiles in pairs that each make one scale block.
 * *fused = 0 where the tiles are narrower than a scale block and not so paired (K cut, 32-wide
 * tiles) or its clusters would not fit as E4M3 kernels: the caller then quantizes an F32 D. */
fp8block_status gemm_plan_e4m3_launch(const gemm_shape *g, const gemm_plan *forced, const gemm_e4m3_targets *t,
                                      gemm_launch_plan *lp, int *fused);

/* A grouped GEMM's groups as the host knows them (docs/DESIGN.md §1.8): their number, and
 * the rows a group is expected to have (the sizes themselves are device data: contiguous,
 * m / groups on average; masked, max_m at most, expected_m where the caller says so). */
typedef struct {
    int64_t groups;
    int masked;
    int64_t max_m;      /* masked only: the most rows a group holds */
    int64_t expected_m; /* masked only: the caller's hint of the rows a group holds (0: max_m) */
} gemm_grouping;

/* gemm_config_find over GEMM_GROUPED_CONFIGS. */
int gemm_grouped_config_find(const gemm_plan *plan, int bit);

/* The heuristic's tile for a grouped GEMM, sized for the rows a group is expected to hold.
 * Deterministic. */
gemm_plan gemm_choose_grouped_plan(const gemm_shape *g, const gemm_grouping *groups, int sms);

/* A grouped plan (the heuristic's or a forced one) completed into a launch: whole tiles,
 * data-parallel, as many clusters as fit or as the largest possible number of units needs
 * (gemm_group_walk.h; masked: every group full, whatever expected_m says). target's
 * max_clusters is asked about rows of GEMM_GROUPED_CONFIGS.
 * FP8BLOCK_ERR_INTERNAL when no grouped kernel is compiled for the plan or none fits;
 * FP8BLOCK_ERR_UNSUPPORTED when the units could overflow the kernel's 32-bit count. */
fp8block_status gemm_plan_grouped_launch(const gemm_shape *g, const gemm_grouping *groups, gemm_plan plan,
                                         const gemm_target *target, gemm_launch_plan *out);

/* "bm,bn,cluster,streamk[,role]" (FP8BLOCK_GEMM_PLAN): 1 and *out on success, 0 if the
 * text is not such a plan. Without role, the one the heuristic gives that tile. */
int gemm_plan_parse(const char *text, gemm_plan *out);

/* " sharing A", " splitting K" or "" (for the plan log). */
const char *gemm_role_name(int role);

#ifdef __cplusplus
}
#endif

#endif
