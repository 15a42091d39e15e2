/* Experiment helper: one masked row of bench/grouped.py as the library launches it: the grouped
 * planner's plan (gemm_choose_grouped_plan), its launch (gemm_plan_grouped_launch, every SM free)
 * and the units each cluster walks over the row's counts (group_walk_next, the kernel's own
 * walk). Build: gcc -O1 -Isrc -Iinclude experiments/grouped-fixed-cost/masked_plans.c
 * src/gemm_planner.c src/status.c -o /tmp/masked_plans. Used by masked_rounds.py. */
#include <stdio.h>
#include <stdlib.h>

#include "gemm_group_walk.h"
#include "gemm_planner.h"

enum { SMS = 132 };

/* Every cluster of the plan fits at once (an H100's SMs, none left out). */
static fp8block_status all_sms(void *user, int config, int *max_clusters)
{
    (void)config;
    *max_clusters = SMS / *(const int *)user;
    return FP8BLOCK_OK;
}

/* argv: N K G max_m expected_m count_0 .. count_{G-1}. Prints the tile, the units the counts
 * make, the clusters launched and the most units one cluster walks. */
int main(int argc, char **argv)
{
    if (argc < 6 || argc != 6 + atoi(argv[3])) {
        fprintf(stderr, "usage: %s N K G max_m expected_m count_0 .. count_{G-1}\n", argv[0]);
        return 2;
    }
    const int n = atoi(argv[1]), k = atoi(argv[2]), groups = atoi(argv[3]), max_m = atoi(argv[4]);
    const gemm_shape shape = {(int64_t)groups * max_m, n, k, FP8BLOCK_BF16, 0};
    const gemm_grouping grouping = {groups, 1, max_m, atoi(argv[5])};
    const gemm_plan plan = gemm_choose_grouped_plan(&shape, &grouping, SMS);
    const gemm_target target = {SMS, all_sms, (void *)&plan.cluster, 0};
    gemm_launch_plan lp;
    if (gemm_plan_grouped_launch(&shape, &grouping, plan, &target, &lp) != FP8BLOCK_OK) {
        fprintf(stderr, "no launch: %s\n", fp8block_last_error(NULL));
        return 1;
    }
    int *counts = malloc((size_t)groups * sizeof *counts);
    for (int g = 0; g < groups; g++) counts[g] = atoi(argv[6 + g]);
    const gemm_groups gs = {counts, groups, 1, max_m, 0, 0, NULL, 0};
    int units = 0, most = 0;
    for (int c = 0; c < lp.sched.clusters; c++) {
        gemm_group_cursor cursor = group_walk_start(c);
        gemm_group_tile t;
        int walked = 0;
        while (group_walk_next(&gs, (int)shape.m, &lp.sched, plan.bm, plan.role, &cursor, 0, &t)) walked++;
        units += walked, most = walked > most ? walked : most;
    }
    printf("%dx%d c%d units %d clusters %d most %d\n", plan.bm, plan.bn, plan.cluster, units, lp.sched.clusters, most);
    free(counts);
    return 0;
}
