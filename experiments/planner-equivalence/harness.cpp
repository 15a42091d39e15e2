// One-off equivalence check of the GEMM planner moved out of src/cuda/gemm_sm90.cu: the
// old host code at 8dc6f85 (pasted verbatim from that file, kernel lookups stubbed) against
// src/gemm_planner.c, on the bench shapes and random shapes at 132 and 114 SMs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern "C" {
#include "gemm_planner.h"
}
#define __host__
#define __device__
static inline int64_t fp8block_ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }
typedef struct { int64_t m, n, k; fp8block_dtype dtype; } gemm_args;
template <int BM, int BN, int CLUSTER, int ROLE, int OUT> static int kernel_for() { return 1; }
typedef int gemm_kernel;
namespace old {
typedef struct {
    int bm, bn;
    int cluster;  /* CTAs per cluster */
    int streamk;  /* spread the last wave (or all tiles) over every CTA by K blocks */
    int role;     /* cluster_role: what the cluster's CTAs share (B, A) or split (K) */
} gemm_plan;

/* The stream-K workspace: arrival counters, then the partials. */
#define STREAMK_MAX_COUNTERS 16384
#define STREAMK_COUNTER_BYTES ((size_t)STREAMK_MAX_COUNTERS * sizeof(int))
/* The largest need of a chosen plan is ~25 MB (128x128 CTA pairs: < 2 waves of 66 stream-K
 * tiles plus 66 clusters, 128 KB per partial id); a plan needing more runs data-parallel. */
#define STREAMK_PARTIAL_BYTES ((size_t)32 << 20)

/* What a CTA pair of a bm-row tile shares: a tall tile's A block (32 KB per K block at
 * 256 rows, twice its B block; measured 3-4% faster than sharing B, bench/NOTES.md v14),
 * else B. */
static int pair_role(int bm) { return bm >= 192 ? CLUSTER_SHARES_A : CLUSTER_SHARES_B; }


template <int OUT>
static int find_kernel(const gemm_plan *plan, gemm_kernel *k)
{
    int bm = plan->bm, bn = plan->bn, cluster = plan->cluster;
    if (plan->role == CLUSTER_SPLITS_K) {
        if (bm == 64 && bn == 64 && cluster == 2) (void)0, *k = 1 || kernel_for<64, 64, 2, CLUSTER_SPLITS_K, OUT>();
        else if (bm == 64 && bn == 32 && cluster == 2) (void)0, *k = 1 || kernel_for<64, 32, 2, CLUSTER_SPLITS_K, OUT>();
        else if (bm == 128 && bn == 64 && cluster == 2) (void)0, *k = 1 || kernel_for<128, 64, 2, CLUSTER_SPLITS_K, OUT>();
        else if (bm == 128 && bn == 32 && cluster == 2) (void)0, *k = 1 || kernel_for<128, 32, 2, CLUSTER_SPLITS_K, OUT>();
        else return 0;
        return 1;
    }
    if (plan->role == CLUSTER_SHARES_A) {
        /* (a 256-row tile's fp32 staging leaves no room for two stages; 192 rows keep three) */
        if constexpr (OUT != FP8BLOCK_F32) {
            if (bm == 256 && bn == 128 && cluster == 2) return (void)0, *k = 1 || kernel_for<256, 128, 2, CLUSTER_SHARES_A, OUT>(), 1;
        }
        if (bm == 192 && bn == 128 && cluster == 2) return (void)0, *k = 1 || kernel_for<192, 128, 2, CLUSTER_SHARES_A, OUT>(), 1;
        return 0;
    }
    if (plan->role != CLUSTER_SHARES_B) return 0;
    if (bm == 64 && bn == 64 && cluster == 1) (void)0, *k = 1 || kernel_for<64, 64, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 64 && bn == 128 && cluster == 1) (void)0, *k = 1 || kernel_for<64, 128, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 64 && cluster == 1) (void)0, *k = 1 || kernel_for<128, 64, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 128 && cluster == 1) (void)0, *k = 1 || kernel_for<128, 128, 1, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 64 && cluster == 2) (void)0, *k = 1 || kernel_for<128, 64, 2, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 128 && cluster == 2) (void)0, *k = 1 || kernel_for<128, 128, 2, CLUSTER_SHARES_B, OUT>();
    else if (bm == 128 && bn == 176 && cluster == 2) (void)0, *k = 1 || kernel_for<128, 176, 2, CLUSTER_SHARES_B, OUT>();
    else return 0;
    return 1;
}

static int find_kernel_for_dtype(fp8block_dtype dtype, const gemm_plan *plan, gemm_kernel *k)
{
    switch (dtype) {
    case FP8BLOCK_F32: return find_kernel<FP8BLOCK_F32>(plan, k);
    case FP8BLOCK_BF16: return find_kernel<FP8BLOCK_BF16>(plan, k);
    default: return find_kernel<FP8BLOCK_F16>(plan, k);
    }
}

/* fitted: 256x128 vs 128x128 at equal waves (v7 sweep in bench/NOTES.md); 192x128 measured
 * within 1% of 256x128 per FLOP where both fill their rounds alike (v17) */
#define TALL_TILE_FACTOR 0.88
#define STREAMK_TILE_COST 0.1 /* guessed: the partials' round trip, in tiles */
#define STREAMK_BELOW_FILL 0.9

/* Into how many K ranges each of `tiles` tiles is cut so that they fill `ctas` CTAs
 * (1: no cut), at most one per K block. */
static int64_t k_cuts(int64_t tiles, int64_t ctas, int64_t kb_total)
{
    int64_t cuts = tiles < ctas ? ctas / tiles : 1;
    return cuts < kb_total ? cuts : kb_total;
}

/* Tiles over the grid's last wave: 1 when every wave is full. */
static double wave_fill(int64_t tiles, int64_t ctas)
{
    return (double)tiles / (double)(fp8block_ceil_div(tiles, ctas) * ctas);
}

/* Deterministic tile choice.
 * M ≤ 128: the time is reading B once from HBM, so what matters is that every SM
 * streams: BN = 64 tiles (or 32, below), K cut when there are too few of them.
 * Larger M: CTA pairs (tall tiles share A, 128-row ones B), and the tile shape whose
 * waves cost least, counting a wider tile's lower per-FLOP overhead (the +104: measured,
 * a 128x64 tile costs 1.45x a 128x128 one per FLOP on 4096^3) and a partial last wave
 * (stream-K spreads it over all SMs for a small overhead). */
static gemm_plan choose_plan(const gemm_args *g, int sms)
{
    gemm_plan plan = {g->m <= 64 ? 64 : 128, 128, 1, 0, CLUSTER_SHARES_B};
    if (g->m <= 128) {
        plan.bn = 64;
        int64_t n_tiles = fp8block_ceil_div(g->n, plan.bn);
        plan.streamk = n_tiles < sms; /* more tiles: stream-K measured slower */
        /* Where each tile's K is cut in two, the pieces meet in a CTA pair's shared memory
         * instead (run_gemm falls back when the pairs do not all fit). Where 64-wide tiles
         * need more cuts, 32-wide ones cut in two do the same: measured 5-11% faster than
         * 64-wide tiles cut 4 ways by stream-K at N = 2048-2112 (bench/NOTES.md v15; 4-CTA
         * clusters for that cut do not all fit on an H100). */
        int64_t kb_total = fp8block_ceil_div(g->k, GEMM_BLOCK_K), cuts = k_cuts(n_tiles, sms, kb_total);
        if (cuts > 2 && k_cuts(fp8block_ceil_div(g->n, 32), sms, kb_total) == 2) plan.bn = 32, cuts = 2;
        if (cuts == 2) plan.cluster = 2, plan.streamk = 0, plan.role = CLUSTER_SPLITS_K;
        return plan;
    }
    /* BN = 176 (straddles B scale blocks) measured 19% slower per FLOP than 256x128 pairs
     * even with v16's compile-time scale picks (bench/NOTES.md): it stays reachable through
     * FP8BLOCK_GEMM_PLAN only. Tall tiles (256 rows: two waves per math warpgroup; 192:
     * three math warpgroups) ingest less per FLOP (bench/NOTES.md v6/v7) and run at the
     * same rate per FLOP (v17; 192 rows with fp32 output too), costed at TALL_TILE_FACTOR
     * of 128-row tiles; the choice between them is how their rounds fill the grid (4096
     * rows are 16 of 256 but 21.3 of 192; N = 2112 puts 144 pairs of 256-row tiles on 66
     * clusters, 198 of 192-row tiles). Both are left out up to M = 256 (one tile of mostly
     * padding; not measured there), and a shape is costed only where a kernel exists for
     * it and the output dtype (256 rows: 16-bit only). Waves count the CTAs a plan
     * occupies: a pair along N (tall tiles) or M (128 rows) whose second tile lies past
     * the edge still holds two SMs. */
    static const struct {
        int bm, bn;
    } shapes[] = {{128, 128}, {128, 64}, {256, 128}, {192, 128}};
    double best = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int bm = shapes[i].bm, bn = shapes[i].bn;
        const gemm_plan pair = {bm, bn, 2, 0, pair_role(bm)};
        gemm_kernel compiled;
        if ((bm > 128 && g->m <= 256) || !find_kernel_for_dtype(g->dtype, &pair, &compiled)) continue;
        int64_t m_groups = fp8block_ceil_div(fp8block_ceil_div(g->m, bm), b_sharers(pair.role, pair.cluster));
        int64_t n_groups = fp8block_ceil_div(fp8block_ceil_div(g->n, bn), a_sharers(pair.role, pair.cluster));
        int64_t ctas = pair.cluster * m_groups * n_groups;
        /* Stream-K for a partial last wave after full ones; below one wave, cutting K into
         * short ranges (512^3: one K block each) measured 1.6x slower than idle SMs. */
        int streamk = streamk_capable(bm, pair.role) && ctas >= sms && wave_fill(ctas, sms) < STREAMK_BELOW_FILL;
        double waves = streamk ? (double)ctas / sms + STREAMK_TILE_COST : (double)fp8block_ceil_div(ctas, sms);
        double cost = waves * (bm / 128.0) * (bn + 104) * (bm > 128 ? TALL_TILE_FACTOR : 1.0);
        if (i == 0 || cost < best) best = cost, plan = pair, plan.streamk = streamk;
    }
    return plan;
}

/* Splits the tiles between the data-parallel rounds and stream-K (gemm_scheduler.cuh)
 * for a grid of at most max_clusters clusters:
 *  - fewer tiles than clusters (M <= 128): every tile's K is cut into the same number of
 *    ranges, as many as fill the grid (none when that is one: a tile's pieces cost a
 *    partial round trip and a later start of its gather, measured to outweigh the idle
 *    SMs at 112 tiles on 132, bench/NOTES.md v9);
 *  - otherwise the last partial wave and one full wave before it are spread over all
 *    clusters, so that each cluster's range is over a tile long and cuts few tiles.
 * Falls back to data-parallel when there is too little K to spread or the workspace is
 * too small. */
static void schedule_tiles(gemm_schedule *s, const gemm_plan *plan, int max_clusters)
{
    int64_t tiles = (int64_t)s->m_groups * s->n_groups;
    /* The fewest clusters that take as many rounds: idle SMs draw no power, which the
     * busy ones get as clock. */
    s->clusters = (int)fp8block_ceil_div(tiles, fp8block_ceil_div(tiles, max_clusters));
    s->dp_tiles = (int)tiles, s->sk_tiles = 0, s->sk_blocks = 0;
    if (!plan->streamk || !streamk_capable(plan->bm, plan->role) || tiles % max_clusters == 0) return;
    int64_t clusters = max_clusters, dp = 0;
    if (tiles < max_clusters) {
        int64_t cuts = k_cuts(tiles, max_clusters, s->kb_total);
        if (cuts < 2) return;
        clusters = tiles * cuts;
    } else {
        dp = (tiles / max_clusters - 1) * max_clusters;
    }
    int64_t sk = tiles - dp;
    int64_t partial_ids = sk + clusters; /* bound, see gemm_scheduler.cuh */
    int64_t partial_bytes = partial_ids * plan->cluster * plan->bm * plan->bn * (int64_t)sizeof(float);
    int64_t counters = sk * plan->cluster * math_warpgroups(plan->bm);
    if (sk * s->kb_total < clusters || sk * s->kb_total > INT32_MAX ||
        partial_bytes > (int64_t)STREAMK_PARTIAL_BYTES || counters > STREAMK_MAX_COUNTERS)
        return;
    s->clusters = (int)clusters;
    s->dp_tiles = (int)dp, s->sk_tiles = (int)sk, s->sk_blocks = sk * s->kb_total;
}


// run_gemm's fallback at 8dc6f85, with max_clusters = sms / cluster
static void launch(const gemm_args *g, int sms, gemm_plan *plan, gemm_schedule *s) {
    const int64_t kb_total = fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    *plan = choose_plan(g, sms);
    int max_clusters = sms / plan->cluster;
    int64_t tiles = fp8block_ceil_div(g->m, plan->bm) * fp8block_ceil_div(g->n, plan->bn);
    if (plan->role == CLUSTER_SPLITS_K && (tiles > max_clusters || plan->cluster > kb_total)) {
        plan->cluster = 1, plan->streamk = 1, plan->role = CLUSTER_SHARES_B;
        if (plan->bn < 64) plan->bn = 64;
        max_clusters = sms / plan->cluster;
    }
    memset(s, 0, sizeof *s);
    s->m_tiles = (int)fp8block_ceil_div(g->m, plan->bm);
    s->n_tiles = (int)fp8block_ceil_div(g->n, plan->bn);
    const int ksplit = plan->role == CLUSTER_SPLITS_K;
    s->cluster = ksplit ? 1 : plan->cluster;
    s->ksplit = ksplit ? plan->cluster : 1;
    s->m_groups = (int)fp8block_ceil_div(s->m_tiles, b_sharers(plan->role, plan->cluster));
    s->n_groups = (int)fp8block_ceil_div(s->n_tiles, a_sharers(plan->role, plan->cluster));
    s->kb_total = (int)kb_total;
    s->group_n = 8;
    schedule_tiles(s, plan, max_clusters);
}
}  // namespace old
extern "C" fp8block_status fp8block_fail(fp8block_status st, const char *fmt, ...) { (void)fmt; return st; }
extern "C" const char *fp8block_dtype_name(fp8block_dtype t) { (void)t; return "?"; }
static fp8block_status model_clusters(void *user, int config, int *out) {
    *out = *(int *)user / gemm_configs[config].cluster;
    return FP8BLOCK_OK;
}
int main(void) {
    long checked = 0, differ = 0;
    srand(1);
    const int sms_list[] = {132, 114};
    for (int si = 0; si < 2; si++) {
        int sms = sms_list[si];
        for (int i = 0; i < 200000; i++) {
            int64_t m, n, k;
            int r = i % 4;
            m = r == 0 ? 1 + rand() % 300 : r == 1 ? 1 + rand() % 20000 : 1 << (rand() % 15);
            n = 16 * (1 + rand() % 3000);
            k = 16 * (1 + rand() % 2000);
            fp8block_dtype dt = (fp8block_dtype)(rand() % 3);
            gemm_args g = {m, n, k, dt};
            old::gemm_plan op; gemm_schedule os;
            old::launch(&g, sms, &op, &os);
            gemm_shape shape = {m, n, k, dt};
            gemm_target target = {sms, model_clusters, &sms};
            gemm_launch_plan lp;
            fp8block_status st = gemm_plan_launch(&shape, gemm_choose_plan(&shape, sms), &target, &lp);
            checked++;
            if (st != FP8BLOCK_OK || memcmp(&op, &lp.plan, sizeof op) || memcmp(&os, &lp.sched, sizeof os)) {
                if (differ++ < 10) printf("differ: %lldx%lldx%lld dtype %d sms %d\n", (long long)m, (long long)n, (long long)k, dt, sms);
            }
        }
    }
    printf("%ld shapes x dtypes x SM counts compared, %ld differ\n", checked, differ);
    return differ != 0;
}
