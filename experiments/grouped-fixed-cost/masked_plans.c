/* Experiment helper: the grouped planner (src/gemm_planner.c, compiled in) on one masked row of
 * bench/grouped.py: its tile, the units the row's counts make, the CTAs launched and the most units
 * a CTA walks. Build: gcc -O1 -Isrc -Iinclude experiments/grouped-fixed-cost/masked_plans.c
 * src/gemm_planner.c src/status.c -o /tmp/masked_plans. Used by masked_rounds.py. */
#include <stdio.h>
#include <stdlib.h>
#include "gemm_planner.h"
/* argv: n k G max_m expected_m counts... -> plan, units (real), launched CTAs, max units a CTA */
int main(int argc, char **argv)
{
    const int sms = 132;
    long n = atol(argv[1]), k = atol(argv[2]), G = atol(argv[3]), max_m = atol(argv[4]), exp_m = atol(argv[5]);
    gemm_shape g = {G * max_m, n, k, FP8BLOCK_BF16, 0};
    gemm_grouping gr = {G, 1, max_m, exp_m};
    gemm_plan p = gemm_choose_grouped_plan(&g, &gr, sms);
    long ntiles = (n + p.bn - 1) / p.bn, ngroups = (ntiles + p.cluster - 1) / p.cluster, units = 0;
    for (int i = 0; i < G; i++) units += (atol(argv[6 + i]) + p.bm - 1) / p.bm * ngroups;
    long launched = G * ((max_m + p.bm - 1) / p.bm) * ngroups; /* bound */
    long clusters = launched < sms / p.cluster ? launched : sms / p.cluster;
    printf("%dx%d c%d units %ld clusters %ld rounds %.2f maxper %ld\n", p.bm, p.bn, p.cluster, units, clusters,
           (double)units / clusters, (units + clusters - 1) / clusters);
    return 0;
}
