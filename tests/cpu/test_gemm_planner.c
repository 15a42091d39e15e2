/* The GEMM planner (src/gemm_planner.c), without a GPU: golden plans for the bench shapes
 * on 132 SMs (H100 SXM, H200) and 114 (H100 PCIe), and invariants of the plans and their
 * schedules over random shapes. cudaOccupancyMaxActiveClusters is modelled as SMs / cluster
 * (measured on the H100 and H200 for the 2-CTA clusters: 66 of 132).
 *
 * The golden rows were checked against the plans the GPU runs logged (FP8BLOCK_GEMM_LOG,
 * bench/NOTES.md: 256x128 pairs at 4096x7168x16384 on 128 CTAs, 64x32 K-split pairs at
 * 64x2112x7168 on 132, 128x64 K-split pairs at 128x4096x7168 on 128, 192x128 pairs at
 * 4096x2112x7168 and 8192^3) and against the planner's code before it moved out of the CUDA
 * file (experiments/planner-equivalence). A change to the heuristic changes them on purpose:
 * update the rows with the measurement that justified it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_group_walk.h"
#include "gemm_planner.h"
#include "internal.h"
#include "testutil.h"

static fp8block_status model_max_clusters(void *user, int config, int *out)
{
    *out = *(const int *)user / gemm_configs[config].cluster;
    return FP8BLOCK_OK;
}

static fp8block_status model_max_clusters_grouped(void *user, int config, int *out)
{
    *out = *(const int *)user / gemm_grouped_configs[config].cluster;
    return FP8BLOCK_OK;
}

static fp8block_status plan(int sms, int64_t m, int64_t n, int64_t k, fp8block_dtype dtype, gemm_launch_plan *lp)
{
    const gemm_shape g = {m, n, k, dtype, 0};
    const gemm_target target = {sms, model_max_clusters, &sms, 0};
    return gemm_plan_launch(&g, gemm_choose_plan(&g, sms), &target, lp);
}

typedef struct {
    int sms;
    int64_t m, n, k;
    int bm, bn, cluster, role, streamk;
    int clusters, dp_tiles, sk_tiles;
} golden_plan;

/* bf16 output; columns: SMs, M, N, K, tile, cluster, role (0 shares B, 1 splits K, 2
 * shares A), stream-K, clusters in the grid, tiles whole, tiles by stream-K. */
static const golden_plan GOLDEN[] = {
    {132, 4096, 4096, 4096, 256, 128, 2, 2, 0, 64, 256, 0},
    {132, 8192, 8192, 8192, 192, 128, 2, 2, 0, 66, 1376, 0},
    {132, 4096, 2112, 7168, 192, 128, 2, 2, 0, 66, 198, 0},
    {132, 4096, 24576, 1536, 256, 128, 2, 2, 0, 64, 1536, 0},
    {132, 4096, 32768, 512, 256, 128, 2, 2, 0, 64, 2048, 0},
    {132, 4096, 7168, 16384, 256, 128, 2, 2, 0, 64, 448, 0},
    {132, 4096, 4096, 7168, 256, 128, 2, 2, 0, 64, 256, 0},
    {132, 4096, 7168, 2048, 256, 128, 2, 2, 0, 64, 448, 0},
    {132, 128, 2112, 7168, 128, 32, 2, 1, 0, 66, 66, 0},
    {132, 128, 24576, 1536, 128, 64, 1, 0, 0, 128, 384, 0},
    {132, 128, 32768, 512, 128, 64, 1, 0, 0, 128, 512, 0},
    {132, 128, 7168, 16384, 128, 64, 1, 0, 1, 112, 112, 0},
    {132, 128, 4096, 7168, 128, 64, 2, 1, 0, 64, 64, 0},
    {132, 128, 7168, 2048, 128, 64, 1, 0, 1, 112, 112, 0},
    {132, 64, 2112, 7168, 64, 32, 2, 1, 0, 66, 66, 0},
    {132, 64, 24576, 1536, 64, 64, 1, 0, 0, 128, 384, 0},
    {132, 64, 32768, 512, 64, 64, 1, 0, 0, 128, 512, 0},
    {132, 64, 7168, 16384, 64, 64, 1, 0, 1, 112, 112, 0},
    {132, 64, 4096, 7168, 64, 64, 2, 1, 0, 64, 64, 0},
    {132, 64, 7168, 2048, 64, 64, 1, 0, 1, 112, 112, 0},
    {132, 1, 7168, 2048, 64, 64, 1, 0, 1, 112, 112, 0},
    {132, 17, 4096, 7168, 64, 64, 2, 1, 0, 64, 64, 0},
    {132, 127, 2112, 7168, 128, 32, 2, 1, 0, 66, 66, 0},
    {132, 129, 24576, 1536, 128, 128, 2, 0, 0, 64, 192, 0},
    {132, 255, 4097, 4100, 128, 64, 2, 0, 0, 65, 65, 0},
    {132, 2112, 2112, 2112, 128, 128, 2, 0, 1, 66, 66, 87},
    {132, 4095, 7168, 2047, 256, 128, 2, 2, 0, 64, 448, 0},
    {132, 256, 2112, 7168, 128, 64, 2, 1, 0, 66, 66, 0}, /* K-split pairs from M = 256 on: was 33 pairs sharing B */
    {114, 4096, 4096, 4096, 256, 128, 2, 2, 0, 52, 256, 0},
    {114, 8192, 8192, 8192, 256, 128, 2, 2, 0, 57, 1024, 0},
    {114, 4096, 2112, 7168, 128, 128, 2, 0, 0, 55, 272, 0},
    {114, 4096, 24576, 1536, 256, 128, 2, 2, 0, 57, 1536, 0},
    {114, 4096, 32768, 512, 256, 128, 2, 2, 0, 57, 2048, 0},
    {114, 4096, 7168, 16384, 256, 128, 2, 2, 0, 56, 448, 0},
    {114, 4096, 4096, 7168, 256, 128, 2, 2, 0, 52, 256, 0},
    {114, 4096, 7168, 2048, 256, 128, 2, 2, 0, 56, 448, 0},
    {114, 128, 2112, 7168, 128, 64, 1, 0, 1, 99, 0, 33},
    {114, 128, 24576, 1536, 128, 64, 1, 0, 0, 96, 384, 0},
    {114, 128, 32768, 512, 128, 64, 1, 0, 0, 103, 512, 0},
    {114, 128, 7168, 16384, 128, 64, 1, 0, 1, 112, 112, 0},
    {114, 128, 4096, 7168, 128, 64, 1, 0, 1, 64, 64, 0},
    {114, 128, 7168, 2048, 128, 64, 1, 0, 1, 112, 112, 0},
    {114, 64, 2112, 7168, 64, 64, 1, 0, 1, 99, 0, 33},
    {114, 64, 24576, 1536, 64, 64, 1, 0, 0, 96, 384, 0},
    {114, 64, 32768, 512, 64, 64, 1, 0, 0, 103, 512, 0},
    {114, 64, 7168, 16384, 64, 64, 1, 0, 1, 112, 112, 0},
    {114, 64, 4096, 7168, 64, 64, 1, 0, 1, 64, 64, 0},
    {114, 64, 7168, 2048, 64, 64, 1, 0, 1, 112, 112, 0},
    {114, 1, 7168, 2048, 64, 64, 1, 0, 1, 112, 112, 0},
    {114, 17, 4096, 7168, 64, 64, 1, 0, 1, 64, 64, 0},
    {114, 127, 2112, 7168, 128, 64, 1, 0, 1, 99, 0, 33},
    {114, 129, 24576, 1536, 128, 128, 2, 0, 1, 57, 114, 78},
    {114, 255, 4097, 4100, 128, 64, 2, 0, 1, 57, 0, 65},
    {114, 2112, 2112, 2112, 192, 128, 2, 2, 0, 50, 99, 0},
    {114, 4095, 7168, 2047, 256, 128, 2, 2, 0, 56, 448, 0},
    {114, 256, 2112, 7168, 128, 64, 2, 0, 0, 33, 33, 0},
};

static void test_golden(void)
{
    for (size_t i = 0; i < sizeof GOLDEN / sizeof GOLDEN[0]; i++) {
        const golden_plan *want = &GOLDEN[i];
        gemm_launch_plan lp;
        fp8block_status st = plan(want->sms, want->m, want->n, want->k, FP8BLOCK_BF16, &lp);
        CHECK(st == FP8BLOCK_OK, "%lldx%lldx%lld on %d SMs: %s", (long long)want->m, (long long)want->n,
              (long long)want->k, want->sms, fp8block_last_error(NULL));
        if (st != FP8BLOCK_OK) continue;
        golden_plan got = {want->sms, want->m, want->n, want->k, lp.plan.bm, lp.plan.bn, lp.plan.cluster,
                           lp.plan.role, lp.plan.streamk, lp.sched.clusters, lp.sched.dp_tiles, lp.sched.sk_tiles};
        /* field by field: memcmp would also compare the padding after sms, which `got` (on the
         * stack) does not zero */
        const int same = got.bm == want->bm && got.bn == want->bn && got.cluster == want->cluster &&
                         got.role == want->role && got.streamk == want->streamk && got.clusters == want->clusters &&
                         got.dp_tiles == want->dp_tiles && got.sk_tiles == want->sk_tiles;
        CHECK(same,
              "%lldx%lldx%lld on %d SMs: got %dx%d cluster %d role %d streamk %d, %d clusters, %d + %d tiles; "
              "want %dx%d cluster %d role %d streamk %d, %d clusters, %d + %d tiles",
              (long long)want->m, (long long)want->n, (long long)want->k, want->sms, got.bm, got.bn, got.cluster,
              got.role, got.streamk, got.clusters, got.dp_tiles, got.sk_tiles, want->bm, want->bn, want->cluster,
              want->role, want->streamk, want->clusters, want->dp_tiles, want->sk_tiles);
    }
}

/* Walks the schedule as gemm_scheduler.cuh documents it (data-parallel tiles c, c + P, ...;
 * then cluster c's share of the stream-K K blocks laid end to end; a K-split cluster's rank
 * r takes the r-th of ksplit K ranges) and checks that every output tile's K blocks are
 * computed exactly once, in K order, by CTAs that exist. Returns the failures. */
#define COVERAGE_FAIL(...)                                                                      \
    do {                                                                                        \
        if (!quiet) {                                                                           \
            fprintf(stderr, "FAIL coverage: " __VA_ARGS__);                                    \
            fputc('\n', stderr);                                                               \
        }                                                                                       \
        failures++;                                                                             \
    } while (0)

static int check_coverage(const gemm_launch_plan *lp, const char *what, int quiet)
{
    const gemm_schedule *s = &lp->sched;
    const int64_t tiles = (int64_t)s->m_tiles * s->n_tiles;
    int *next_kb = calloc((size_t)tiles, sizeof *next_kb);
    int failures = 0;
    const int ctas = lp->plan.cluster; /* CTAs per cluster: the pair, or the K-split ranks */
    const int64_t band_span = (int64_t)s->group_n * s->m_groups;
    for (int c = 0; c < s->clusters && !failures; c++) {
        for (int rank = 0; rank < ctas && !failures; rank++) {
            const int cta_rank = s->ksplit > 1 ? 0 : rank, k_rank = s->ksplit > 1 ? rank : 0;
            int64_t next_dp = c;
            const int64_t sk_end = (int64_t)(c + 1) * s->sk_blocks / s->clusters;
            int64_t sk_pos = (int64_t)c * s->sk_blocks / s->clusters;
            for (;;) {
                int64_t t;
                int kb_begin, kb_end;
                if (next_dp < s->dp_tiles) {
                    t = next_dp;
                    next_dp += s->clusters;
                    kb_begin = 0, kb_end = s->kb_total;
                    if (s->ksplit > 1)
                        kb_begin = k_rank * s->kb_total / s->ksplit, kb_end = (k_rank + 1) * s->kb_total / s->ksplit;
                } else if (sk_pos < sk_end) {
                    const int64_t sk_tile = sk_pos / s->kb_total, tile_begin = sk_tile * s->kb_total;
                    kb_begin = (int)(sk_pos - tile_begin);
                    kb_end = (int)(sk_end - tile_begin < s->kb_total ? sk_end - tile_begin : s->kb_total);
                    sk_pos = tile_begin + kb_end;
                    t = s->dp_tiles + sk_tile;
                } else {
                    break;
                }
                if (t >= (int64_t)s->m_groups * s->n_groups) {
                    COVERAGE_FAIL("%s: cluster %d reaches unit %lld of %d x %d groups", what, c, (long long)t,
                                  s->m_groups, s->n_groups);
                    break;
                }
                const int64_t band = t / band_span, in_band = t - band * band_span;
                const int64_t band_width =
                    s->group_n < s->n_groups - band * s->group_n ? s->group_n : s->n_groups - band * s->group_n;
                const int64_t n_group = band * s->group_n + in_band % band_width, m_group = in_band / band_width;
                const int64_t m_tile = lp->plan.role == CLUSTER_SHARES_B ? m_group * s->cluster + cta_rank : m_group;
                const int64_t n_tile = lp->plan.role == CLUSTER_SHARES_A ? n_group * s->cluster + cta_rank : n_group;
                if (m_group >= s->m_groups || n_group >= s->n_groups) {
                    COVERAGE_FAIL("%s: cluster %d reaches unit (%lld, %lld) outside %d x %d groups", what, c,
                                  (long long)m_group, (long long)n_group, s->m_groups, s->n_groups);
                    break;
                }
                if (m_tile >= s->m_tiles || n_tile >= s->n_tiles) continue; /* a pair's CTA past the edge loads only */
                int *next = &next_kb[m_tile * s->n_tiles + n_tile];
                if (kb_begin != *next || kb_end <= kb_begin) {
                    COVERAGE_FAIL("%s: tile (%lld, %lld) gets K blocks [%d, %d) after %d", what,
                                  (long long)m_tile, (long long)n_tile, kb_begin, kb_end, *next);
                    break;
                }
                *next = kb_end;
            }
        }
    }
    for (int64_t t = 0; t < tiles && !failures; t++)
        if (next_kb[t] != s->kb_total) {
            COVERAGE_FAIL("%s: tile %lld has K blocks up to %d of %d", what, (long long)t, next_kb[t], s->kb_total);
        }
    free(next_kb);
    return failures;
}

static void test_invariants(void)
{
    srand(12345);
    const int sm_counts[] = {132, 114, 78, 16};
    int checked = 0;
    for (size_t si = 0; si < sizeof sm_counts / sizeof sm_counts[0]; si++) {
        int sms = sm_counts[si];
        for (int i = 0; i < 400; i++) {
            const int64_t m = i % 3 == 0 ? 1 + rand() % 300 : 1 + rand() % 9000;
            const int64_t n = 1 + rand() % 20000, k = 1 + rand() % 20000;
            const fp8block_dtype dtype = (fp8block_dtype)(rand() % 3);
            char what[96];
            snprintf(what, sizeof what, "%lldx%lldx%lld %s on %d SMs", (long long)m, (long long)n, (long long)k,
                     fp8block_dtype_name(dtype), sms);
            gemm_launch_plan lp;
            fp8block_status st = plan(sms, m, n, k, dtype, &lp);
            CHECK(st == FP8BLOCK_OK, "%s: %s", what, fp8block_last_error(NULL));
            if (st != FP8BLOCK_OK) continue;
            const gemm_plan *p = &lp.plan;
            const gemm_schedule *s = &lp.sched;
            const gemm_config *cfg = &gemm_configs[lp.config];
            CHECK(cfg->bm == p->bm && cfg->bn == p->bn && cfg->cluster == p->cluster && cfg->role == p->role &&
                      (cfg->outputs & gemm_output_bit(dtype)),
                  "%s: the plan's configuration row does not match it", what);
            CHECK(p->cluster == 1 || p->cluster == 2, "%s: cluster %d", what, p->cluster);
            CHECK(s->clusters >= 1 && s->clusters <= lp.max_clusters, "%s: %d clusters of at most %d", what,
                  s->clusters, lp.max_clusters);
            CHECK(s->kb_total == (k + 127) / 128, "%s: kb_total %d", what, s->kb_total);
            CHECK(s->m_tiles == (m + p->bm - 1) / p->bm && s->n_tiles == (n + p->bn - 1) / p->bn,
                  "%s: %d x %d tiles", what, s->m_tiles, s->n_tiles);
            CHECK((int64_t)s->dp_tiles + s->sk_tiles == (int64_t)s->m_groups * s->n_groups,
                  "%s: %d + %d units of %d x %d", what, s->dp_tiles, s->sk_tiles, s->m_groups, s->n_groups);
            if (s->sk_tiles > 0) {
                CHECK(p->streamk && streamk_capable(p->bm, p->role), "%s: stream-K tiles for a kernel without it", what);
                CHECK(s->sk_blocks == (int64_t)s->sk_tiles * s->kb_total && s->sk_blocks >= s->clusters &&
                          s->sk_blocks <= INT32_MAX,
                      "%s: sk_blocks %lld", what, (long long)s->sk_blocks);
                CHECK(s->dp_tiles % s->clusters == 0, "%s: %d whole tiles on %d clusters before stream-K", what,
                      s->dp_tiles, s->clusters);
                const int64_t partial_bytes =
                    ((int64_t)s->sk_tiles + s->clusters) * p->cluster * p->bm * p->bn * (int64_t)sizeof(float);
                CHECK(partial_bytes <= (int64_t)STREAMK_PARTIAL_BYTES, "%s: %lld bytes of partials", what,
                      (long long)partial_bytes);
                CHECK((int64_t)s->sk_tiles * p->cluster * math_warpgroups(p->bm) <= STREAMK_MAX_COUNTERS,
                      "%s: too many stream-K counters", what);
            }
            if (p->role == CLUSTER_SPLITS_K) {
                CHECK(s->ksplit == p->cluster && s->cluster == 1 && s->m_tiles * s->n_tiles <= lp.max_clusters &&
                          p->cluster <= s->kb_total && s->sk_tiles == 0,
                      "%s: an invalid K-split plan", what);
            } else {
                CHECK(s->ksplit == 1 && s->cluster == p->cluster, "%s: ksplit %d, cluster %d", what, s->ksplit,
                      s->cluster);
            }
            CHECK(check_coverage(&lp, what, 0) == 0, "%s: the schedule does not cover D once", what);
            checked++;
        }
    }
    printf("planner invariants: %d random plans checked\n", checked);
}

/* Forced plans (FP8BLOCK_GEMM_PLAN) go through the same completion: a K-split plan whose
 * clusters cannot all hold a tile falls back to stream-K on 64-wide tiles. */
static void test_forced(void)
{
    gemm_plan forced;
    CHECK(gemm_plan_parse("64,32,2,0,1", &forced) && forced.role == CLUSTER_SPLITS_K, "parse a K-split plan");
    CHECK(gemm_plan_parse("256,128,2,0", &forced) && forced.role == CLUSTER_SHARES_A, "parse without a role");
    CHECK(!gemm_plan_parse("64,32", &forced) && !gemm_plan_parse("64,32,2,0,7", &forced), "reject bad plans");
    int sms = 132;
    const gemm_shape g = {4096, 4096, 4096, FP8BLOCK_BF16, 0};
    const gemm_target target = {sms, model_max_clusters, &sms, 0};
    gemm_launch_plan lp;
    CHECK(gemm_plan_parse("64,32,2,0,1", &forced), "parse");
    CHECK(gemm_plan_launch(&g, forced, &target, &lp) == FP8BLOCK_OK && lp.plan.bn == 64 && lp.plan.cluster == 1 &&
              lp.plan.role == CLUSTER_SHARES_B && check_coverage(&lp, "forced fallback", 0) == 0,
          "a forced K-split plan with too many tiles falls back to stream-K");
    /* A plan no kernel is compiled for is the library's fault: INTERNAL, with a message. */
    const gemm_plan none = {96, 96, 1, 0, CLUSTER_SHARES_B};
    CHECK(gemm_plan_launch(&g, none, &target, &lp) == FP8BLOCK_ERR_INTERNAL, "a plan without a kernel");
    /* E4M3 output runs an F32 plan, or where no K is cut the 16-bit one (docs/DESIGN.md §1.6):
     * its rows are 128-wide rows compiled for F32 or, without K split, for 16-bit output, or
     * 64-wide pairs along N sharing A (a pair one scale block) whose single CTA, the F32 plan
     * they stand for, is compiled for F32. */
    int e4m3_rows = 0, e4m3_half_rows = 0;
    for (int i = 0; i < GEMM_CONFIG_COUNT; i++) {
        const gemm_config *c = &gemm_configs[i];
        if (!(c->outputs & GEMM_OUT_E4M3)) continue;
        e4m3_rows++;
        const gemm_plan single = {c->bm, c->bn, 1, 0, CLUSTER_SHARES_B};
        const int half = c->bn == 64 && c->cluster == 2 && c->role == CLUSTER_SHARES_A &&
                         gemm_config_find(&single, FP8BLOCK_F32) >= 0;
        e4m3_half_rows += half;
        CHECK(half || (c->bn == 128 && c->role != CLUSTER_SPLITS_K && (c->outputs & (GEMM_OUT_F32 | GEMM_OUT_BF16))),
              "E4M3 row %d: %dx%d", i, c->bm, c->bn);
    }
    /* The half-block pairs on the contract test's shapes: every tile once, a pair's tiles
     * 2j and 2j + 1 (the scheduler's n tile rule for CTAs sharing A). */
    static const struct {
        int64_t m, n, k;
        int bm, clusters;
    } halves[] = {{100, 7200, 640, 128, 57}, {40, 12000, 200, 64, 47}, {128, 7168, 2048, 128, 56}};
    for (size_t i = 0; i < sizeof halves / sizeof halves[0]; i++) {
        const gemm_shape e = {halves[i].m, halves[i].n, halves[i].k, FP8BLOCK_E4M3, 0};
        const gemm_plan pair = {halves[i].bm, 64, 2, 0, CLUSTER_SHARES_A};
        CHECK(gemm_plan_launch(&e, pair, &target, &lp) == FP8BLOCK_OK && lp.sched.sk_tiles == 0 &&
                  lp.sched.ksplit == 1 && lp.sched.clusters == halves[i].clusters &&
                  check_coverage(&lp, "E4M3 half blocks", 0) == 0,
              "E4M3 %lldx%lldx%lld on %dx64 pairs sharing A: %d clusters, every tile once (got %d)",
              (long long)e.m, (long long)e.n, (long long)e.k, halves[i].bm, halves[i].clusters, lp.sched.clusters);
    }
    const gemm_plan square = {128, 128, 2, 0, CLUSTER_SHARES_B}, narrow = {128, 64, 2, 0, CLUSTER_SHARES_B};
    /* B scaled 1x128 (the weight gradient): 192x128 pairs sharing A on the large weights,
     * 128x128 single CTAs (pipelined, stream-K) where the pairs' rounds would leave SMs idle. */
    static const struct {
        int64_t m, n, k;
        int bm;
    } wgrad[] = {{1, 1, 1, 128},           {64, 2112, 7168, 128},   {256, 4096, 512, 128},
                 {2048, 2048, 4096, 128},  {7168, 2048, 16384, 192}, {2112, 7168, 4096, 192},
                 {4096, 7168, 8192, 192},  {24576, 1536, 4096, 192}, {7168, 16384, 4096, 192}};
    for (size_t i = 0; i < sizeof wgrad / sizeof wgrad[0]; i++) {
        const gemm_shape w = {wgrad[i].m, wgrad[i].n, wgrad[i].k, FP8BLOCK_F32, 1};
        const gemm_plan plan = gemm_choose_plan(&w, sms);
        const int want_cluster = wgrad[i].bm == 192 ? 2 : 1;
        CHECK(plan.bm == wgrad[i].bm && plan.bn == 128 && plan.cluster == want_cluster &&
                  gemm_config_find_bit(&plan, gemm_shape_bit(&w)) >= 0 &&
                  gemm_plan_launch(&w, plan, &target, &lp) == FP8BLOCK_OK && check_coverage(&lp, "wgrad", 0) == 0,
              "wgrad %lldx%lldx%lld plans to a %dx128 B-1x128 kernel, cluster %d (got %dx%d, cluster %d)",
              (long long)w.m, (long long)w.n, (long long)w.k, wgrad[i].bm, want_cluster, plan.bm, plan.bn,
              plan.cluster);
    }
    const gemm_shape wgrad_bf16 = {4096, 4096, 4096, FP8BLOCK_BF16, 1};
    CHECK(gemm_shape_bit(&wgrad_bf16) == 0, "B scaled 1x128 with bf16 output has no kernel");
    CHECK(e4m3_rows == 7 && e4m3_half_rows == 2 && gemm_output_bit(FP8BLOCK_E4M3) == GEMM_OUT_E4M3 &&
              gemm_config_find(&square, FP8BLOCK_E4M3) >= 0 && gemm_config_find(&narrow, FP8BLOCK_E4M3) < 0,
          "E4M3 kernels exist for the 128-wide rows and the two half-block pairs only (%d rows, %d pairs)",
          e4m3_rows, e4m3_half_rows);
}

/* Stream-K after full waves only where its tiles' operands fit in three quarters of L2
 * (they start at every K offset at once); the equal K cuts of fewer tiles than SMs keep it.
 * The weight gradient's 7168x2048 stream-K tiles read ~20 MB at 4096 tokens, ~79 at 16384;
 * at 7168x16384 they are the last band's final rows, ~16 MB at 4096 tokens, ~63 at 16384. */
static void test_streamk_l2(void)
{
    int sms = 132;
    const gemm_target h100 = {sms, model_max_clusters, &sms, 50 << 20};
    static const struct {
        int64_t m, n, k;
        int b_per_col, streamk;
    } cases[] = {
        {7168, 2048, 4096, 1, 1}, {7168, 2048, 16384, 1, 0}, {4096, 7168, 16384, 1, 0},
        {7168, 16384, 4096, 1, 1}, {7168, 16384, 16384, 1, 0},
        {64, 1024, 16384, 0, 1}, /* fewer tiles than SMs: equal cuts (16 tiles, 8 each), kept */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_shape g = {cases[i].m, cases[i].n, cases[i].k, FP8BLOCK_F32, cases[i].b_per_col};
        gemm_launch_plan lp;
        /* the weight gradient's single CTAs (the heuristic takes 192-row pairs on these shapes) */
        const gemm_plan single = {128, 128, 1, 1, CLUSTER_SHARES_B};
        const gemm_plan plan = g.b_per_col ? single : gemm_choose_plan(&g, sms);
        CHECK(gemm_plan_launch(&g, plan, &h100, &lp) == FP8BLOCK_OK && (lp.sched.sk_tiles > 0) == cases[i].streamk &&
                  check_coverage(&lp, "stream-K and L2", 0) == 0,
              "%lldx%lldx%lld%s: stream-K %s (got %d stream-K tiles)", (long long)g.m, (long long)g.n, (long long)g.k,
              g.b_per_col ? " wgrad" : "", cases[i].streamk ? "kept" : "off", lp.sched.sk_tiles);
    }
}

/* The coverage walk must catch a broken schedule: a tile left out, a tile done twice, a
 * K range cut wrong. (It is the only thing between a planner bug and unwritten D tiles.) */
static void test_coverage_catches(void)
{
    gemm_launch_plan lp, broken;
    CHECK(plan(132, 4096, 4096, 4096, FP8BLOCK_BF16, &lp) == FP8BLOCK_OK, "plan 4096^3");
    CHECK(check_coverage(&lp, "4096^3 as planned", 0) == 0, "4096^3 as planned is covered");
    broken = lp, broken.sched.dp_tiles--;
    CHECK(check_coverage(&broken, "one tile dropped", 1) > 0, "a dropped tile is not caught");
    broken = lp, broken.sched.dp_tiles++;
    CHECK(check_coverage(&broken, "one unit too many", 1) > 0, "a unit past the groups is not caught");
    CHECK(plan(132, 2112, 2112, 2112, FP8BLOCK_BF16, &lp) == FP8BLOCK_OK && lp.sched.sk_tiles > 0, "plan stream-K");
    CHECK(check_coverage(&lp, "2112^3 as planned", 0) == 0, "2112^3 as planned is covered");
    broken = lp, broken.sched.sk_blocks -= 3;
    CHECK(check_coverage(&broken, "stream-K short of K", 1) > 0, "stream-K ranges short of K are not caught");
    CHECK(plan(132, 64, 2112, 7168, FP8BLOCK_BF16, &lp) == FP8BLOCK_OK && lp.sched.ksplit == 2, "plan a K split");
    broken = lp, broken.sched.ksplit = 3;
    CHECK(check_coverage(&broken, "K split in 3 ranges over 2 CTAs", 1) > 0, "a K split short of K is not caught");
}

/* The grouped walk (src/gemm_group_walk.h, the code the kernel runs) over every cluster and
 * CTA of a grouped plan: each (row, n tile) a group owns is stored by exactly one CTA, in a
 * tile of that group only, and nothing else is stored; rows are clamped as §1.8 says.
 * Returns the failures (quiet: no message, for the planted breakages). */
static int check_group_walk(const gemm_launch_plan *lp, const gemm_groups *gs, int64_t m, const char *what, int quiet)
{
    const gemm_schedule *s = &lp->sched;
    const int bm = lp->plan.bm;
    unsigned char *owner_hits = calloc((size_t)(m * s->n_tiles), 1);
    int failures = 0;
    /* the groups' rows, as the walk clamps them, group after group */
    int *group_begin = malloc((size_t)gs->count * sizeof(int)), *group_end = malloc((size_t)gs->count * sizeof(int));
    unsigned char *owned = calloc((size_t)m, 1);
    for (int g = 0, previous_end = 0; g < gs->count; previous_end = group_end[g++]) {
        group_rows_of(gs, (int)m, g, previous_end, &group_begin[g], &group_end[g]);
        for (int r = group_begin[g]; r < group_end[g]; r++) owned[r]++;
    }
    for (int c = 0; c < s->clusters && !failures; c++) {
        for (int rank = 0; rank < lp->plan.cluster && !failures; rank++) {
            gemm_group_cursor cursor = group_walk_start(c);
            gemm_group_tile t;
            int steps = 0;
            while (!failures && group_walk_next(gs, (int)m, s, bm, lp->plan.role, &cursor, rank, &t)) {
                if (++steps > s->dp_tiles + 1) {
                    COVERAGE_FAIL("%s: cluster %d walks more units than the bound %d", what, c, s->dp_tiles);
                    break;
                }
                if (t.n_tile >= s->n_tiles) continue; /* the pair's second CTA past N: loads only */
                const int begin = group_begin[t.group], end = group_end[t.group];
                if (t.row_end != end || t.row0 < begin || t.row0 >= end) {
                    COVERAGE_FAIL("%s: tile at row %d of group %d [%d, %d) says it ends at %d", what, t.row0, t.group,
                                  begin, end, t.row_end);
                    break;
                }
                for (int r = t.row0; r < t.row0 + bm && r < t.row_end; r++) owner_hits[(int64_t)r * s->n_tiles + t.n_tile]++;
            }
        }
    }
    /* every row each group owns, once per n tile; rows outside the groups never; no row in two groups */
    for (int64_t r = 0; r < m && !failures; r++)
        if (owned[r] > 1) COVERAGE_FAIL("%s: row %lld is in %d groups", what, (long long)r, owned[r]);
    for (int64_t r = 0; r < m && !failures; r++)
        for (int n = 0; n < s->n_tiles && !failures; n++)
            if (owner_hits[r * s->n_tiles + n] != (owned[r] ? 1 : 0))
                COVERAGE_FAIL("%s: row %lld, n tile %d stored %d times (owned by %d groups)", what, (long long)r, n,
                              owner_hits[r * s->n_tiles + n], owned[r]);
    free(owner_hits), free(owned), free(group_begin), free(group_end);
    return failures;
}

static fp8block_status grouped_plan(int sms, const gemm_shape *g, const gemm_grouping *grouping, const gemm_plan *plan,
                                    gemm_launch_plan *lp)
{
    const gemm_target target = {sms, model_max_clusters_grouped, &sms, 0};
    return gemm_plan_grouped_launch(g, grouping, plan ? *plan : gemm_choose_grouped_plan(g, grouping, sms), &target, lp);
}

static void test_grouped(void)
{
    srand(1818);
    int checked = 0, planned = 0;
    for (int i = 0; i < 300; i++) {
        const int masked = i % 2, sms = i % 3 ? 132 : 16;
        const int64_t groups = 1 + rand() % (i % 5 == 0 ? 256 : 9), n = 1 + rand() % 700, k = 1 + rand() % 400;
        const int64_t max_m = 1 + rand() % 300;
        int32_t *rows = malloc((size_t)(groups + 1) * sizeof *rows);
        int64_t m;
        if (masked) {
            for (int64_t g = 0; g < groups; g++) rows[g] = rand() % 3 ? rand() % (int)(max_m + 1) : (int)max_m;
            m = groups * max_m;
        } else {
            rows[0] = rand() % 3 ? 0 : rand() % 5;
            for (int64_t g = 0; g < groups; g++) rows[g + 1] = rows[g] + (rand() % 4 ? rand() % 200 : rand() % 3);
            m = rows[groups] + rand() % 9 + (rows[groups] == 0);
        }
        const gemm_shape g = {m, n, k, i % 4 == 3 ? FP8BLOCK_E4M3 : FP8BLOCK_BF16, 0};
        /* a quarter of the shapes with an expected_m in [1, max_m]: the launch covers full groups whatever it says */
        const int64_t expected_m = masked && i % 4 == 1 ? 1 + (int64_t)i * 37 % max_m : 0;
        const gemm_grouping grouping = {groups, masked, masked ? max_m : 0, expected_m};
        const gemm_groups gs = {rows, (int)groups, masked, (int)(masked ? max_m : 0), 1, 0, NULL, 0};
        for (int c = -1; c < GEMM_GROUPED_CONFIG_COUNT; c++) { /* the heuristic's, then every row */
            gemm_plan plan = {0, 0, 0, 0, 0};
            if (c >= 0 && !(gemm_grouped_configs[c].outputs & gemm_shape_bit(&g))) continue;
            if (c >= 0)
                plan.bm = gemm_grouped_configs[c].bm, plan.bn = gemm_grouped_configs[c].bn,
                plan.cluster = gemm_grouped_configs[c].cluster, plan.role = gemm_grouped_configs[c].role;
            planned++;
            gemm_launch_plan lp;
            char what[160];
            snprintf(what, sizeof what, "%s G=%lld m=%lld n=%lld on %d SMs, plan %d", masked ? "masked" : "contiguous",
                     (long long)groups, (long long)m, (long long)n, sms, c);
            const fp8block_status st = grouped_plan(sms, &g, &grouping, c >= 0 ? &plan : NULL, &lp);
            CHECK(st == FP8BLOCK_OK && lp.plan.streamk == 0 && lp.sched.ksplit == 1 && lp.sched.clusters >= 1 &&
                      (lp.plan.role == CLUSTER_SHARES_A || lp.plan.cluster == 1),
                  "%s: a whole-tile plan (status %d)", what, (int)st);
            if (st == FP8BLOCK_OK) checked += check_group_walk(&lp, &gs, m, what, 0) == 0;
        }
        free(rows);
    }
    /* sizes that break the rules are clamped into disjoint groups inside [0, m): offsets going
     * back (group 2 would start inside group 0), past m, negative; counts over max_m, negative */
    const int32_t bad_offsets[] = {-5, 40, 30, 64, 1000}, bad_counts[] = {16, 17, -3, 1 << 30};
    const gemm_shape g = {64, 300, 256, FP8BLOCK_BF16, 0};
    for (int masked = 0; masked <= 1; masked++) {
        const gemm_grouping grouping = {4, masked, masked ? 16 : 0, 0};
        const gemm_groups gs = {masked ? bad_counts : bad_offsets, 4, masked, masked ? 16 : 0, 1, 0, NULL, 0};
        gemm_launch_plan lp;
        CHECK(grouped_plan(132, &g, &grouping, NULL, &lp) == FP8BLOCK_OK &&
                  check_group_walk(&lp, &gs, 64, masked ? "bad counts" : "bad offsets", 0) == 0,
              "bad group sizes walk inside [0, m)");
    }
    /* the check catches a walk that stops short (a bound too small) and rows past a group */
    const int32_t offsets[] = {0, 300, 600};
    const gemm_groups gs = {offsets, 2, 0, 0, 1, 0, NULL, 0};
    const gemm_shape big = {600, 1024, 256, FP8BLOCK_BF16, 0};
    const gemm_grouping two = {2, 0, 0, 0};
    gemm_launch_plan lp, broken;
    CHECK(grouped_plan(132, &big, &two, NULL, &lp) == FP8BLOCK_OK, "plan 2 groups");
    broken = lp, broken.sched.clusters = lp.sched.clusters + 1, broken.sched.n_groups--;
    CHECK(check_group_walk(&broken, &gs, 600, "n groups short", 1) > 0, "a walk short of N is not caught");
    const int32_t overlapping[] = {0, 300, 200};
    const gemm_groups gs_overlap = {overlapping, 2, 0, 0, 1, 0, NULL, 0};
    CHECK(check_group_walk(&lp, &gs_overlap, 600, "overlapping", 0) == 0, "a group going back is cut, not overlapped");
    /* prefill: contiguous groups of 1024 rows take 256-row pairs with a bf16 or E4M3 D, 128-row
     * pairs with an F32 D (no 256-row F32 kernel); masked groups (counts unknown) 128-row single
     * CTAs (masked groups never pair) */
    const gemm_shape prefill = {8 * 1024, 4096, 7168, FP8BLOCK_BF16, 0};
    const gemm_shape prefill_e4m3 = {8 * 1024, 4096, 7168, FP8BLOCK_E4M3, 0};
    const gemm_shape prefill_f32 = {8 * 1024, 4096, 7168, FP8BLOCK_F32, 0};
    const gemm_grouping eight = {8, 0, 0, 0}, eight_masked = {8, 1, 1024, 0};
    CHECK(gemm_choose_grouped_plan(&prefill, &eight, 132).bm == 256 &&
              gemm_choose_grouped_plan(&prefill_e4m3, &eight, 132).bm == 256,
          "contiguous 8 x 1024 rows, bf16/E4M3 D: 256-row pairs");
    CHECK(gemm_choose_grouped_plan(&prefill_f32, &eight, 132).bm == 128,
          "contiguous 8 x 1024 rows, F32 D: 128-row pairs");
    const gemm_plan p8m = gemm_choose_grouped_plan(&prefill, &eight_masked, 132);
    CHECK(p8m.bm == 128 && p8m.cluster == 1, "masked 8 x 1024 rows: 128-row single CTAs (got %d rows, cluster %d)",
          p8m.bm, p8m.cluster);
    /* decode: groups whose 128-wide tiles would leave most SMs idle take 64-wide ones, 64 rows
     * high where that is still under half the SMs; E4M3 D keeps 128-wide tiles (one scale block) */
    const gemm_shape decode = {256, 4096, 7168, FP8BLOCK_BF16, 0}, decode_e4m3 = {256, 4096, 7168, FP8BLOCK_E4M3, 0};
    const gemm_grouping one_128 = {1, 1, 128, 0}, one_256 = {1, 1, 256, 0}, four_256 = {4, 1, 256, 0};
    const gemm_plan p128 = gemm_choose_grouped_plan(&decode, &one_128, 132);
    const gemm_plan p256 = gemm_choose_grouped_plan(&decode, &one_256, 132);
    const gemm_plan p4 = gemm_choose_grouped_plan(&decode, &four_256, 132);
    const gemm_plan pe = gemm_choose_grouped_plan(&decode_e4m3, &one_128, 132);
    CHECK(p128.bm == 64 && p128.bn == 64 && p128.cluster == 1, "masked 1 x 128 rows, N = 4096: 64x64 tiles (got %dx%d)",
          p128.bm, p128.bn);
    CHECK(p256.bm == 128 && p256.bn == 64 && p256.cluster == 1, "masked 1 x 256 rows: 128x64 tiles (got %dx%d)",
          p256.bm, p256.bn);
    CHECK(p4.bm == 128 && p4.bn == 128 && p4.cluster == 1, "masked 4 x 256 rows: 128x128 single CTAs (got %dx%d, cluster %d)",
          p4.bm, p4.bn, p4.cluster);
    CHECK(pe.bn == 128, "masked 1 x 128 rows, E4M3 D: 128-wide tiles (got %dx%d)", pe.bm, pe.bn);
    CHECK(checked == planned && planned > 300 * 3, "grouped walks checked: %d of %d", checked, planned);
    printf("grouped: %d plans walked, every owned row once per n tile\n", checked);
}

/* expected_m, the caller's hint of the rows a masked group holds, sizes the tile and nothing
 * else. One group of max_m = 256 rows by N x K = 7168 x 7168: as if full (expected_m 0, i.e.
 * max_m), 128x128 single CTAs (112; masked groups never pair); expected to hold 128 rows, those
 * would keep 56 of 132 SMs busy, so 128x64 single CTAs. Four groups expected to hold 64 rows (K = 2048):
 * still 128-row tiles (the tile's height follows max_m, the most
 * a group holds: 64-row tiles for counts of 64 +- 21 in groups of 128 measured slower,
 * bench/NOTES.md "H100 calls of cd95b11"). Each launch
 * is still sized for full groups (its clusters and the walk's bound), and its walk stores every
 * row of full groups and of any count, since the hint may be wrong. */
static void test_grouped_expected_m(void)
{
    const gemm_shape one = {256, 7168, 7168, FP8BLOCK_BF16, 0}, four = {4 * 256, 7168, 2048, FP8BLOCK_BF16, 0};
    const gemm_grouping as_full = {1, 1, 256, 0}, half = {1, 1, 256, 128}, quarter = {4, 1, 256, 64};
    const gemm_plan pf = gemm_choose_grouped_plan(&one, &as_full, 132);
    const gemm_plan ph = gemm_choose_grouped_plan(&one, &half, 132);
    const gemm_plan pq = gemm_choose_grouped_plan(&four, &quarter, 132);
    CHECK(pf.bm == 128 && pf.bn == 128 && pf.cluster == 1,
          "masked 1 x 256 rows, N x K = 7168 x 7168, expected_m 0: 128x128 single CTAs (got %dx%d, cluster %d, role %d)",
          pf.bm, pf.bn, pf.cluster, pf.role);
    CHECK(ph.bm == 128 && ph.bn == 64 && ph.cluster == 1,
          "masked 1 x 256 rows, N = 7168, expected_m 128: 128x64 single CTAs (got %dx%d, cluster %d)", ph.bm, ph.bn,
          ph.cluster);
    CHECK(pq.bm == 128 && pq.bn == 128 && pq.cluster == 1,
          "masked 4 x 256 rows, expected_m 64: 128x128 single CTAs, the height of max_m (got %dx%d, cluster %d)",
          pq.bm, pq.bn, pq.cluster);
    static const int32_t counts[] = {256, 255, 129, 128, 64, 1, 0};
    int walked = 0;
    for (int c = 0; c < (int)(sizeof counts / sizeof counts[0]); c++) {
        const int32_t one_count[1] = {counts[c]}, four_counts[4] = {counts[c], 256, counts[c] / 2, 256};
        const gemm_groups gs_one = {one_count, 1, 1, 256, 1, 0, NULL, 0}, gs_four = {four_counts, 4, 1, 256, 1, 0, NULL, 0};
        const struct {
            const gemm_shape *shape;
            const gemm_grouping *grouping;
            const gemm_groups *gs;
        } cases[] = {{&one, &as_full, &gs_one}, {&one, &half, &gs_one}, {&four, &quarter, &gs_four}};
        for (int i = 0; i < 3; i++) {
            gemm_launch_plan lp;
            char what[128];
            snprintf(what, sizeof what, "masked G=%d max_m=256 expected_m=%lld, count %d", cases[i].gs->count,
                     (long long)cases[i].grouping->expected_m, counts[c]);
            const fp8block_status st = grouped_plan(132, cases[i].shape, cases[i].grouping, NULL, &lp);
            CHECK(st == FP8BLOCK_OK, "%s: status %d", what, (int)st);
            if (st != FP8BLOCK_OK) continue;
            /* the grid and the walk's bound are those of full groups, not of expected_m's */
            const int64_t full_units = cases[i].gs->count * fp8block_ceil_div(256, lp.plan.bm) * lp.sched.n_groups;
            const int64_t clusters = full_units < lp.max_clusters ? full_units : lp.max_clusters;
            CHECK(lp.sched.dp_tiles == full_units && lp.sched.clusters == clusters,
                  "%s: bound %d units on %d clusters, want %lld on %lld (full groups)", what, lp.sched.dp_tiles,
                  lp.sched.clusters, (long long)full_units, (long long)clusters);
            walked += check_group_walk(&lp, cases[i].gs, cases[i].shape->m, what, 0) == 0;
        }
    }
    CHECK(walked == 3 * (int)(sizeof counts / sizeof counts[0]), "expected_m walks checked: %d", walked);
    printf("grouped expected_m: tiles %dx%d (as full), %dx%d (128 of 256 rows), %dx%d (4 groups, 64 of 256); %d walks covered\n",
           pf.bm, pf.bn, ph.bm, ph.bn, pq.bm, pq.bn, walked);
}

/* Masked groups take single CTAs at any K; at short K (16 blocks or fewer,
 * GROUPED_SHORT_K_BLOCKS) also 64-wide tiles where 128-wide ones fill under a wave (two groups)
 * or groups hold 64 rows, where the same groups at K = 7168 keep 128-wide tiles. N = 7168
 * throughout. */
static void test_grouped_short_k(void)
{
    static const struct {
        int64_t groups, max_m, expected_m, k;
        int bm, bn, cluster;
    } cases[] = {
        {4, 256, 64, 2048, 128, 128, 1}, {4, 256, 64, 7168, 128, 128, 1}, {2, 256, 128, 2048, 128, 64, 1},
        {8, 64, 32, 2048, 64, 64, 1},    {2, 64, 32, 2048, 64, 64, 1},    {2, 64, 32, 7168, 64, 128, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_shape g = {cases[i].groups * cases[i].max_m, 7168, cases[i].k, FP8BLOCK_BF16, 0};
        const gemm_grouping grouping = {cases[i].groups, 1, cases[i].max_m, cases[i].expected_m};
        const gemm_plan p = gemm_choose_grouped_plan(&g, &grouping, 132);
        const int role = cases[i].cluster == 2 ? CLUSTER_SHARES_A : CLUSTER_SHARES_B;
        CHECK(p.bm == cases[i].bm && p.bn == cases[i].bn && p.cluster == cases[i].cluster && p.role == role,
              "masked %lld x %lld rows (expected %lld), K = %lld: %dx%d cluster %d (got %dx%d cluster %d role %d)",
              (long long)cases[i].groups, (long long)cases[i].max_m, (long long)cases[i].expected_m,
              (long long)cases[i].k, cases[i].bm, cases[i].bn, cases[i].cluster, p.bm, p.bn, p.cluster, p.role);
    }
}

/* A device on which the E4M3 kernels' clusters fit as the model says, or only `e4m3_cap` of them. */
typedef struct {
    int sms, e4m3_cap;
} e4m3_device;

static fp8block_status model_max_clusters_e4m3(void *user, int config, int *out)
{
    const e4m3_device *d = user;
    *out = d->sms / gemm_configs[config].cluster;
    if (d->e4m3_cap && *out > d->e4m3_cap) *out = d->e4m3_cap;
    return FP8BLOCK_OK;
}

/* E4M3 D's launch (docs/DESIGN.md §1.6): the F32 plan, widened, paired or the 16-bit one where
 * each sums every element as the F32 plan does; else the scratch path (not fused). */
static void test_e4m3(void)
{
    const int sms = 132;
    e4m3_device dev = {sms, 0};
    const gemm_target model = {sms, model_max_clusters, (void *)&dev.sms, 0};
    gemm_e4m3_targets t = {model, model, {sms, model_max_clusters_e4m3, &dev, 0}};
    static const struct {
        int64_t m, n, k;
        int fused, bm, bn, cluster, role;
        const char *why;
    } cases[] = {
        {128, 7168, 2048, 1, 128, 64, 2, CLUSTER_SHARES_A, "64-wide single CTAs paired, one scale block a pair"},
        {64, 7168, 16384, 1, 64, 64, 2, CLUSTER_SHARES_A, "the 64-row tiles paired"},
        {100, 7200, 640, 1, 128, 64, 2, CLUSTER_SHARES_A, "the contract test's pair shape"},
        {40, 12000, 200, 1, 64, 64, 2, CLUSTER_SHARES_A, "the contract test's two-unit pair shape"},
        {128, 32768, 512, 1, 128, 128, 1, CLUSTER_SHARES_B, "64-wide tiles widened: 128-wide ones fill the SMs"},
        {100, 17000, 300, 1, 128, 128, 1, CLUSTER_SHARES_B, "widened (the contract test's)"},
        {40, 17000, 200, 1, 64, 128, 1, CLUSTER_SHARES_B, "widened, 64 rows (the contract test's)"},
        {4096, 7168, 2048, 1, 256, 128, 2, CLUSTER_SHARES_A, "no K cut: the 16-bit plan's 256-row pairs"},
        {2048, 1856, 129, 1, 256, 128, 2, CLUSTER_SHARES_A, "the contract test's 256-row shape"},
        {128, 4096, 7168, 0, 0, 0, 0, 0, "K-split 64-wide pairs: through the scratch"},
        {128, 2112, 7168, 0, 0, 0, 0, 0, "K-split 32-wide pairs: through the scratch"},
        {64, 2112, 7168, 0, 0, 0, 0, 0, "K-split 32-wide pairs, 64 rows: through the scratch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_shape g = {cases[i].m, cases[i].n, cases[i].k, FP8BLOCK_E4M3, 0};
        gemm_launch_plan lp;
        int fused = -1;
        const fp8block_status st = gemm_plan_e4m3_launch(&g, NULL, &t, &lp, &fused);
        const int same = !cases[i].fused || (lp.plan.bm == cases[i].bm && lp.plan.bn == cases[i].bn &&
                                              lp.plan.cluster == cases[i].cluster && lp.plan.role == cases[i].role &&
                                              lp.config == gemm_config_find(&lp.plan, FP8BLOCK_E4M3) &&
                                              check_coverage(&lp, "E4M3", 0) == 0);
        CHECK(st == FP8BLOCK_OK && fused == cases[i].fused && same,
              "E4M3 %lldx%lldx%lld (%s): fused %d, tile %dx%d cluster %d role %d (got %d, %dx%d cluster %d role %d)",
              (long long)g.m, (long long)g.n, (long long)g.k, cases[i].why, cases[i].fused, cases[i].bm, cases[i].bn,
              cases[i].cluster, cases[i].role, fused, lp.plan.bm, lp.plan.bn, lp.plan.cluster, lp.plan.role);
    }
    /* Where fewer pairs fit than there are scale blocks, they take two units each (both
     * amax slots in use), planned against the E4M3 kernels' own fit. */
    const gemm_shape pair_shape = {128, 7168, 2048, FP8BLOCK_E4M3, 0};
    gemm_launch_plan lp;
    int fused = -1;
    dev.e4m3_cap = 40; /* of the 56 clusters one unit each would take */
    CHECK(gemm_plan_e4m3_launch(&pair_shape, NULL, &t, &lp, &fused) == FP8BLOCK_OK && fused == 1 &&
              lp.plan.role == CLUSTER_SHARES_A && lp.sched.clusters == 28 && lp.max_clusters == 40 &&
              check_coverage(&lp, "E4M3 pairs in two rounds", 0) == 0,
          "E4M3 pairs with 40 clusters fitting: 28 clusters of two units (fused %d, %d clusters)", fused,
          lp.sched.clusters);
    dev.e4m3_cap = 0;
    /* A forced plan is taken as it is. */
    const gemm_plan forced = {128, 128, 2, 0, CLUSTER_SHARES_B};
    const gemm_shape big = {4096, 7168, 2048, FP8BLOCK_E4M3, 0};
    CHECK(gemm_plan_e4m3_launch(&big, &forced, &t, &lp, &fused) == FP8BLOCK_OK && fused == 1 && lp.plan.bm == 128 &&
              lp.plan.bn == 128 && lp.plan.cluster == 2 && lp.plan.role == CLUSTER_SHARES_B,
          "a forced E4M3 plan is taken as it is (got %dx%d cluster %d, fused %d)", lp.plan.bm, lp.plan.bn,
          lp.plan.cluster, fused);
}

int main(void)
{
    test_coverage_catches();
    test_golden();
    test_invariants();
    test_forced();
    test_streamk_l2();
    test_grouped();
    test_grouped_expected_m();
    test_grouped_short_k();
    test_e4m3();
    return test_finish("test_gemm_planner");
}
