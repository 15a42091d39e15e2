/* The grouped GEMM's schedule (docs/DESIGN.md §1.8), in C that the kernel
 * (src/cuda/gemm_scheduler.cuh) runs on the device and the planner's test
 * (tests/cpu/test_gemm_planner.c) runs on the host over random group sizes.
 *
 * The units of group 0, then of group 1, and so on. Group g's rows [row_begin, row_end) are
 * cut into ceil(rows / bm) tiles from row_begin (a group starts on any row, not on a
 * multiple of bm), laid out with the n groups in bands as the plain schedule lays its tiles
 * (gemm_scheduler.cuh). A tile never spans two groups: its rows past row_end are computed
 * (A's rows there are the next group's, or TMA's zeros) but never stored. How many units
 * there are is data on the device, so the host launches as many clusters as its bound
 * allows and every cluster walks the groups, reading each group's size once, until its
 * next unit lies past the last group. Data-parallel only: no stream-K or K split, and pairs
 * only along N (sharing A), since the next tile along M may be another expert's. */
#ifndef FP8BLOCK_GEMM_GROUP_WALK_H
#define FP8BLOCK_GEMM_GROUP_WALK_H

#include <stdint.h>

#include "gemm_geometry.h"

#ifdef __CUDACC__
#define GROUP_WALK_FN __host__ __device__ __forceinline__
#else
#define GROUP_WALK_FN static inline
#endif

/* The groups as the kernel sees them. Expert g's B is box (., ., g * b_step) of the 3-D B
 * map (step 0: one B for all groups), its scales start at sb + g * stride_sb. A's scales are
 * read from sa (ldsa floats a K block) rather than by TMA: a group's tile starts on any row,
 * and TMA cannot load a box of fp32 scales that starts off a 16-byte boundary (H200: an
 * illegal-instruction fault). */
typedef struct {
    const int *rows; /* device memory: G + 1 row offsets, or (masked) G counts */
    int count;       /* G */
    int masked;
    int max_m;
    int b_step;
    int64_t stride_sb;
    const float *sa;
    int64_t ldsa;
} gemm_groups;

typedef struct {
    int next;                     /* the cluster's next unit, counted over all groups */
    int group;                    /* the group the walk is at (-1 before the first) */
    int group_first, group_units; /* the index of its first unit, and its units */
    int row_begin, row_end;       /* its rows (row_end: 0 before the first) */
} gemm_group_cursor;

/* A unit as one CTA's tile: its group, its first row, the group's end, its n tile. */
typedef struct {
    int group, row0, row_end, n_tile;
} gemm_group_tile;

GROUP_WALK_FN int group_walk_min(int a, int b) { return a < b ? a : b; }
GROUP_WALK_FN int group_walk_max(int a, int b) { return a > b ? a : b; }

/* Entry i of the group sizes, read where it lives (the read-only path on the device: the
 * router's kernel wrote it before this kernel started). */
GROUP_WALK_FN int group_rows_entry(const int *rows, int i)
{
#ifdef __CUDA_ARCH__
    return __ldg(rows + i);
#else
    return rows[i];
#endif
}

/* Group g's rows of the m-row A and D, given where group g - 1 ended (0 for the first),
 * clamped as §1.8 promises so that bad sizes never lead outside A and D nor make two groups
 * share a row: a contiguous group starts no earlier than the previous one ended and ends
 * within [its start, m] (a decreasing offset gives an empty group); a count is clamped to
 * [0, max_m]. Valid sizes are unchanged by the clamps. */
GROUP_WALK_FN void group_rows_of(const gemm_groups *gs, int m, int g, int previous_end, int *begin, int *end)
{
    if (gs->masked) {
        *begin = g * gs->max_m;
        *end = *begin + group_walk_min(group_walk_max(group_rows_entry(gs->rows, g), 0), gs->max_m);
    } else {
        *begin = group_walk_min(group_walk_max(group_rows_entry(gs->rows, g), previous_end), m);
        *end = group_walk_max(*begin, group_walk_min(group_rows_entry(gs->rows, g + 1), m));
    }
}

GROUP_WALK_FN gemm_group_cursor group_walk_start(int cluster_id)
{
    gemm_group_cursor c = {cluster_id, -1, 0, 0, 0, 0};
    return c;
}

/* The cluster's next unit, as the tile of its CTA of rank cta_rank (pairs share A: rank r
 * takes the r-th n tile of the unit's n group); 0 once past the last group. bm and role are
 * the kernel's compile-time tile and cluster role. */
GROUP_WALK_FN int group_walk_next(const gemm_groups *gs, int m, const gemm_schedule *s, int bm, int role,
                                  gemm_group_cursor *c, int cta_rank, gemm_group_tile *t)
{
    while (c->next - c->group_first >= c->group_units) {
        if (c->group + 1 >= gs->count) return 0;
        c->group_first += c->group_units;
        c->group++;
        group_rows_of(gs, m, c->group, c->row_end, &c->row_begin, &c->row_end);
        c->group_units = (c->row_end - c->row_begin + bm - 1) / bm * s->n_groups;
    }
    const int u = c->next - c->group_first;
    c->next += s->clusters;
    const int m_groups = c->group_units / s->n_groups;
    const int band_span = s->group_n * m_groups;
    const int band = u / band_span;
    const int in_band = u - band * band_span;
    const int band_width = group_walk_min(s->group_n, s->n_groups - band * s->group_n);
    const int n_group = band * s->group_n + in_band % band_width, m_tile = in_band / band_width;
    t->group = c->group;
    t->row0 = c->row_begin + m_tile * bm;
    t->row_end = c->row_end;
    /* The second CTA of a pair may lie one past the last n tile: then it only loads its share. */
    t->n_tile = role == CLUSTER_SHARES_A ? n_group * s->cluster + cta_rank : n_group;
    return 1;
}

#endif
