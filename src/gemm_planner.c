/* The GEMM planner: see gemm_planner.h. Measurements behind each rule are in
 * bench/NOTES.md, found by the names quoted beside each rule. */
#include "gemm_planner.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define GEMM_CONFIG_ROW(bm, bn, cluster, role, outputs) {bm, bn, cluster, role, outputs},
const gemm_config gemm_configs[GEMM_CONFIG_COUNT] = {GEMM_CONFIGS(GEMM_CONFIG_ROW)};
const gemm_config gemm_grouped_configs[GEMM_GROUPED_CONFIG_COUNT] = {GEMM_GROUPED_CONFIGS(GEMM_CONFIG_ROW)};

int gemm_output_bit(fp8block_dtype dtype)
{
    switch (dtype) {
    case FP8BLOCK_F32: return GEMM_OUT_F32;
    case FP8BLOCK_BF16: return GEMM_OUT_BF16;
    case FP8BLOCK_F16: return GEMM_OUT_F16;
    case FP8BLOCK_E4M3: return GEMM_OUT_E4M3;
    }
    return 0;
}

int gemm_shape_bit(const gemm_shape *g)
{
    if (g->b_per_col) return g->dtype == FP8BLOCK_F32 ? GEMM_OUT_F32_B1x128 : 0;
    return gemm_output_bit(g->dtype);
}

int gemm_config_find(const gemm_plan *plan, fp8block_dtype dtype) { return gemm_config_find_bit(plan, gemm_output_bit(dtype)); }

static int find_in(const gemm_config *configs, int count, const gemm_plan *plan, int bit)
{
    for (int i = 0; i < count; i++) {
        const gemm_config *c = &configs[i];
        if (c->bm == plan->bm && c->bn == plan->bn && c->cluster == plan->cluster && c->role == plan->role &&
            (c->outputs & bit))
            return i;
    }
    return -1;
}

int gemm_config_find_bit(const gemm_plan *plan, int bit) { return find_in(gemm_configs, GEMM_CONFIG_COUNT, plan, bit); }

int gemm_grouped_config_find(const gemm_plan *plan, int bit)
{
    return find_in(gemm_grouped_configs, GEMM_GROUPED_CONFIG_COUNT, plan, bit);
}

const char *gemm_role_name(int role)
{
    return role == CLUSTER_SPLITS_K ? " splitting K" : role == CLUSTER_SHARES_A ? " sharing A" : "";
}

/* What a CTA pair of a bm-row tile shares: a tall tile's A block (32 KB per K block at
 * 256 rows, twice its B block; measured 3-4% faster than sharing B, bench/NOTES.md "256x128 pairs sharing A"),
 * else B. */
static int pair_role(int bm) { return bm >= 192 ? CLUSTER_SHARES_A : CLUSTER_SHARES_B; }
/* TALL_TILE_FACTOR: fitted, 256x128 vs 128x128 tiles at equal waves (bench/NOTES.md "256x128
 * tiles"); 192x128 measured within 1% of 256x128 per FLOP where both fill their rounds alike
 * (bench/NOTES.md "192x128 tiles"). */
#define TALL_TILE_FACTOR 0.88
#define STREAMK_TILE_COST 0.1 /* guessed: the partials' round trip, in tiles */
#define STREAMK_BELOW_FILL 0.9
/* Measured: a 192x128 weight-gradient pair's time per FLOP over the 128x128 single CTA's. */
#define WGRAD_TALL_FACTOR 0.86

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

/* Rounds that `units` take on `slots` (CTAs, or clusters for units of a cluster): spread by
 * stream-K, their fraction plus the partials' cost; else whole rounds. */
static double rounds(int64_t units, int64_t slots, int streamk)
{
    return streamk ? (double)units / slots + STREAMK_TILE_COST : (double)fp8block_ceil_div(units, slots);
}

/* Deterministic tile choice.
 * M ≤ 128 (and up to 256 where 128x64 tiles leave SMs idle): the time is reading B once
 * from HBM, so what matters is that every SM streams: BN = 64 tiles (or 32, below), K cut
 * when there are too few of them.
 * Larger M: CTA pairs (tall tiles share A, 128-row ones B), and the tile shape whose
 * waves cost least, counting a wider tile's lower per-FLOP overhead (the +104: measured,
 * a 128x64 tile costs 1.45x a 128x128 one per FLOP on 4096^3) and a partial last wave
 * (stream-K spreads it over all SMs for a small overhead). */
gemm_plan gemm_choose_plan(const gemm_shape *g, int sms)
{
    gemm_plan plan = {g->m <= 64 ? 64 : 128, 128, 1, 0, CLUSTER_SHARES_B};
    const int64_t kb_total = fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    /* Up to M = 256, two rows of 128x64 tiles that leave half the SMs idle are cut along K
     * as one row is: 256x2112x7168 ran on 66 CTAs at 0.65x DeepGEMM (bench/NOTES.md
     * "DeepGEMM in the same run"). */
    const int64_t m_tiles = fp8block_ceil_div(g->m, plan.bm), tiles = m_tiles * fp8block_ceil_div(g->n, 64);
    /* B scaled 1x128 (the weight gradient): 192x128 pairs sharing A where their rounds cost
     * less than 128x128 single CTAs (pipelined, stream-K). The per-column promotion keeps the
     * single CTA's tile at 128x128, and that tile reads 32 KB from L2 per K block for 4.19
     * MFLOP: bound by L2 bandwidth (Nsight Compute: L2 62-72% busy, SM 40%). A 192-row pair
     * reads 28 KB per 6.3 MFLOP (L2 44-53%, SM 45-55%): measured 0.86x the single's time per
     * FLOP (WGRAD_TALL_FACTOR, fitted on three shapes) and faster on all 15 DeepSeek shapes,
     * 0.97x DeepGEMM against 0.89x (bench/NOTES.md "H100 calls of cd95b11"). Small weights
     * keep the singles, whose stream-K fills the SMs that few 192-row rounds would not. */
    if (g->b_per_col) {
        const gemm_plan single = {128, 128, 1, 1, CLUSTER_SHARES_B};
        const gemm_plan tall = {192, 128, 2, 0, CLUSTER_SHARES_A};
        const int64_t singles = fp8block_ceil_div(g->m, 128) * fp8block_ceil_div(g->n, 128);
        const int64_t pairs = fp8block_ceil_div(g->m, 192) * fp8block_ceil_div(fp8block_ceil_div(g->n, 128), 2);
        const double tall_cost = rounds(pairs, sms > 1 ? sms / 2 : 1, 0) * 1.5 * WGRAD_TALL_FACTOR;
        return tall_cost < rounds(singles, sms, 1) ? tall : single;
    }
    if ((g->m <= 128 || (g->m <= 256 && k_cuts(tiles, sms, kb_total) >= 2))) {
        plan.bn = 64;
        plan.streamk = tiles < sms; /* more tiles: stream-K measured slower */
        /* Where each tile's K is cut in two, the pieces meet in a CTA pair's shared memory
         * instead (gemm_plan_launch falls back when the pairs do not all fit). Where 64-wide tiles
         * need more cuts, 32-wide ones cut in two do the same: measured 5-11% faster than
         * 64-wide tiles cut 4 ways by stream-K at N = 2048-2112 (bench/NOTES.md "32-wide K-split pairs"; 4-CTA
         * clusters for that cut do not all fit on an H100). */
        int64_t cuts = k_cuts(tiles, sms, kb_total);
        if (cuts > 2 && k_cuts(m_tiles * fp8block_ceil_div(g->n, 32), sms, kb_total) == 2)
            plan.bn = 32, cuts = 2;
        if (cuts == 2) plan.cluster = 2, plan.streamk = 0, plan.role = CLUSTER_SPLITS_K;
        return plan;
    }
    /* BN = 176 (straddles B scale blocks) measured 19% slower per FLOP than 256x128 pairs
     * even with compile-time scale picks (bench/NOTES.md "128x176"): it stays reachable through
     * FP8BLOCK_GEMM_PLAN only. Tall tiles (256 rows: two waves per math warpgroup; 192:
     * three math warpgroups) ingest less per FLOP (bench/NOTES.md "256x128 tiles") and run at the
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
        if ((bm > 128 && g->m <= 256) || gemm_config_find_bit(&pair, gemm_shape_bit(g)) < 0) continue;
        int64_t m_groups = fp8block_ceil_div(fp8block_ceil_div(g->m, bm), b_sharers(pair.role, pair.cluster));
        int64_t n_groups = fp8block_ceil_div(fp8block_ceil_div(g->n, bn), a_sharers(pair.role, pair.cluster));
        int64_t ctas = pair.cluster * m_groups * n_groups;
        /* Stream-K for a partial last wave after full ones; below one wave, cutting K into
         * short ranges (512^3: one K block each) measured 1.6x slower than idle SMs. */
        int streamk = streamk_capable(bm, pair.role) && ctas >= sms && wave_fill(ctas, sms) < STREAMK_BELOW_FILL;
        double cost = rounds(ctas, sms, streamk) * (bm / 128.0) * (bn + 104) * (bm > 128 ? TALL_TILE_FACTOR : 1.0);
        if (i == 0 || cost < best) best = cost, plan = pair, plan.streamk = streamk;
    }
    return plan;
}

/* Bytes of A and B that the stream-K units [first, first + count) read over their whole K
 * (an upper bound where they span bands): the distinct A rows of their m groups and B rows of
 * their n groups, in the schedule's order (bands of group_n n groups, n fastest inside). */
static int64_t streamk_footprint(const gemm_schedule *s, const gemm_plan *plan, int64_t first, int64_t count)
{
    const int64_t span = (int64_t)s->group_n * s->m_groups, last = first + count - 1;
    const int64_t band0 = first / span, band1 = last / span;
    int64_t m_groups = s->m_groups, n_groups = (band1 - band0 + 1) * s->group_n;
    if (band0 == band1) {
        const int64_t width = s->n_groups - band0 * s->group_n < s->group_n ? s->n_groups - band0 * s->group_n : s->group_n;
        const int64_t m0 = (first - band0 * span) / width, m1 = (last - band0 * span) / width;
        m_groups = m1 - m0 + 1;
        n_groups = m1 > m0 ? width : last - first + 1;
    }
    if (n_groups > s->n_groups) n_groups = s->n_groups;
    const int64_t rows = m_groups * b_sharers(plan->role, plan->cluster) * plan->bm +
                         n_groups * a_sharers(plan->role, plan->cluster) * plan->bn;
    return rows * (int64_t)s->kb_total * GEMM_BLOCK_K;
}

/* Splits the tiles between the data-parallel rounds and stream-K (gemm_scheduler.cuh)
 * for a grid of at most max_clusters clusters:
 *  - fewer tiles than clusters (M <= 128): every tile's K is cut into the same number of
 *    ranges, as many as fill the grid (none when that is one: a tile's pieces cost a
 *    partial round trip and a later start of its gather, measured to outweigh the idle
 *    SMs at 112 tiles on 132, bench/NOTES.md "stream-K");
 *  - otherwise the last partial wave and one full wave before it are spread over all
 *    clusters, so that each cluster's range is over a tile long and cuts few tiles.
 * Falls back to data-parallel when there is too little K to spread or the workspace is
 * too small. */
static void schedule_tiles(gemm_schedule *s, const gemm_plan *plan, int max_clusters, int64_t l2_bytes)
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
    /* After full waves, stream-K ranges start at every K offset at once, where data-parallel
     * CTAs (and the equal cuts above) move through K together: the stream-K tiles' operands
     * must stay in L2 for their whole K, or every SM streams them from HBM (the weight
     * gradient at 7168x2048x16384, whose stream-K tiles read 79 MB, ran at 0.71x DeepGEMM
     * against 0.84x at 4096 tokens, bench/NOTES.md "H100 calls of a095300"). A last partial
     * wave left to idle SMs costs at most that wave's share instead. */
    if (dp > 0 && l2_bytes > 0 && streamk_footprint(s, plan, dp, sk) > l2_bytes / 4 * 3) return;
    int64_t partial_ids = sk + clusters; /* bound, see gemm_scheduler.cuh */
    int64_t partial_bytes = partial_ids * plan->cluster * plan->bm * plan->bn * (int64_t)sizeof(float);
    int64_t counters = sk * plan->cluster * math_warpgroups(plan->bm);
    if (sk * s->kb_total < clusters || sk * s->kb_total > INT32_MAX ||
        partial_bytes > (int64_t)STREAMK_PARTIAL_BYTES || counters > STREAMK_MAX_COUNTERS)
        return;
    s->clusters = (int)clusters;
    s->dp_tiles = (int)dp, s->sk_tiles = (int)sk, s->sk_blocks = sk * s->kb_total;
}

/* The configuration of a plan and how many of its clusters fit at once. */
static fp8block_status plan_config(const gemm_shape *g, const gemm_plan *plan, const gemm_target *target,
                                   int grouped, int *config, int *max_clusters)
{
    const int bit = gemm_shape_bit(g);
    *config = grouped ? gemm_grouped_config_find(plan, bit) : gemm_config_find_bit(plan, bit);
    if (*config < 0)
        return fp8block_fail(FP8BLOCK_ERR_INTERNAL,
                             "internal: no %sGEMM kernel for tile %dx%d, cluster %d (role %d%s), %s out",
                             grouped ? "grouped " : "", plan->bm, plan->bn, plan->cluster, plan->role,
                             gemm_role_name(plan->role), fp8block_dtype_name(g->dtype));
    return target->max_clusters(target->user, *config, max_clusters);
}

static fp8block_status require_a_cluster(const gemm_plan *plan, int max_clusters)
{
    if (max_clusters >= 1) return FP8BLOCK_OK;
    return fp8block_fail(FP8BLOCK_ERR_INTERNAL, "internal: no GEMM cluster of %d CTAs (tile %dx%d) fits on the device",
                         plan->cluster, plan->bm, plan->bn);
}

fp8block_status gemm_plan_launch(const gemm_shape *g, gemm_plan plan, const gemm_target *target,
                                 gemm_launch_plan *out)
{
    const int64_t kb_total = fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    int config = -1, max_clusters = 0;
    fp8block_status st = plan_config(g, &plan, target, 0, &config, &max_clusters);
    if (st != FP8BLOCK_OK) return st;
    int64_t tiles = fp8block_ceil_div(g->m, plan.bm) * fp8block_ceil_div(g->n, plan.bn);
    if (plan.role == CLUSTER_SPLITS_K && (tiles > max_clusters || plan.cluster > kb_total)) {
        /* A K-split cluster must hold its one tile with every K range non-empty, and all
         * of them must fit at once; otherwise the K cut goes through the workspace (with
         * 64-wide tiles: the narrower ones exist only for K-split pairs). */
        plan.cluster = 1, plan.streamk = 1, plan.role = CLUSTER_SHARES_B;
        if (plan.bn < 64) plan.bn = 64;
        st = plan_config(g, &plan, target, 0, &config, &max_clusters);
        if (st != FP8BLOCK_OK) return st;
    }
    st = require_a_cluster(&plan, max_clusters);
    if (st != FP8BLOCK_OK) return st;

    gemm_schedule *s = &out->sched;
    memset(s, 0, sizeof *s);
    s->m_tiles = (int)fp8block_ceil_div(g->m, plan.bm);
    s->n_tiles = (int)fp8block_ceil_div(g->n, plan.bn);
    const int ksplit = plan.role == CLUSTER_SPLITS_K;
    s->cluster = ksplit ? 1 : plan.cluster;
    s->ksplit = ksplit ? plan.cluster : 1;
    s->m_groups = (int)fp8block_ceil_div(s->m_tiles, b_sharers(plan.role, plan.cluster));
    s->n_groups = (int)fp8block_ceil_div(s->n_tiles, a_sharers(plan.role, plan.cluster));
    s->kb_total = (int)kb_total;
    s->group_n = 8;
    schedule_tiles(s, &plan, max_clusters, target->l2_bytes);
    out->plan = plan, out->config = config, out->max_clusters = max_clusters;
    return FP8BLOCK_OK;
}

static int cuts_k(const gemm_launch_plan *lp) { return lp->sched.sk_tiles > 0 || lp->plan.role == CLUSTER_SPLITS_K; }

/* g planned for D of type dtype, F32 or BF16 (the forced plan, else the heuristic's) against
 * that type's kernels. */
static fp8block_status plan_as(const gemm_shape *g, fp8block_dtype dtype, const gemm_plan *forced,
                               const gemm_e4m3_targets *t, gemm_launch_plan *lp)
{
    gemm_shape s = *g;
    s.dtype = dtype;
    const gemm_target *target = dtype == FP8BLOCK_F32 ? &t->f32 : &t->bf16;
    return gemm_plan_launch(&s, forced ? *forced : gemm_choose_plan(&s, target->sm_count), target, lp);
}

fp8block_status gemm_plan_e4m3_launch(const gemm_shape *g, const gemm_plan *forced, const gemm_e4m3_targets *t,
                                      gemm_launch_plan *lp, int *fused)
{
    /* A forced tile with no F32 kernel (256-row pairs) is planned as for a 16-bit D, whose
     * plan it is; without an E4M3 kernel either, it fails below as it would from F32. */
    const int forced_without_f32 = forced && gemm_config_find(forced, FP8BLOCK_F32) < 0;
    fp8block_status st = plan_as(g, forced_without_f32 ? FP8BLOCK_BF16 : FP8BLOCK_F32, forced, t, lp);
    *fused = 0;
    if (st != FP8BLOCK_OK) return st;
    /* Narrow data-parallel tiles (small M, many columns: 128x32768x512 took the scratch path
     * at 1.5x the bf16 time): one CTA still sums each element over K in order with the same
     * promotion, and a 128-wide wgmma gives each element what a 64-wide one does, so
     * 128-wide tiles keep the sums, where there are enough of them to fill the SMs. */
    if (lp->plan.bn < 128 && !forced && !cuts_k(lp)) {
        const gemm_plan widened = {lp->plan.bm, 128, 1, 0, CLUSTER_SHARES_B};
        gemm_launch_plan wide;
        if (gemm_plan_launch(g, widened, &t->e4m3, &wide) == FP8BLOCK_OK && !cuts_k(&wide) &&
            wide.sched.dp_tiles >= t->e4m3.sm_count)
            *lp = wide;
    }
    /* 64-wide single CTAs that cut no K and that 128-wide tiles would leave SMs idle with
     * (M <= 128, N up to ~16K): the same tiles in pairs along N sharing A, each pair one scale
     * block, its CTAs swapping their row amaxes (epilogue_swap_amax). Each CTA sums its tile as
     * the F32 plan's single CTA does; multicast A changes no value. (Through the F32 scratch these
     * shapes took 1.00-1.06x the time of a bf16 D plus quantize_1x128, bench/NOTES.md "E4M3 at
     * small M".) */
    if (lp->plan.bn == 64 && lp->plan.cluster == 1 && !forced && !cuts_k(lp)) {
        const gemm_plan paired = {lp->plan.bm, 64, 2, 0, CLUSTER_SHARES_A};
        gemm_launch_plan halves;
        if (gemm_plan_launch(g, paired, &t->e4m3, &halves) == FP8BLOCK_OK && !cuts_k(&halves)) *lp = halves;
    }
    /* No E4M3 kernel for these tiles (narrower than a scale block and not so paired): the scratch. */
    if (gemm_config_find(&lp->plan, FP8BLOCK_E4M3) < 0) return FP8BLOCK_OK;
    /* Neither cutting K: the 16-bit outputs' plan (256x128 pairs where they pay) sums each
     * element as the F32 plan does (gemm_configs.h). A forced plan is taken as it is. */
    gemm_launch_plan wide;
    if (!forced && !cuts_k(lp) && plan_as(g, FP8BLOCK_BF16, NULL, t, &wide) == FP8BLOCK_OK && wide.plan.bn == 128 &&
        !cuts_k(&wide) && gemm_config_find(&wide.plan, FP8BLOCK_E4M3) >= 0)
        *lp = wide;
    const int config = gemm_config_find(&lp->plan, FP8BLOCK_E4M3); /* the 16-bit plan's has one too */
    int max_clusters = 0;
    st = t->e4m3.max_clusters(t->e4m3.user, config, &max_clusters);
    if (st != FP8BLOCK_OK || max_clusters < lp->sched.clusters) return st;
    lp->config = config, lp->max_clusters = max_clusters;
    *fused = 1;
    return FP8BLOCK_OK;
}

/* 64-row tiles where groups are expected to hold 64 rows or fewer (decode: less padding
 * per group), else 128-row tiles; contiguous groups' tiles in pairs along N sharing A where N
 * has two tiles or more (each group's A rows read once a pair), masked groups' on single CTAs
 * (gemm_choose_grouped_plan says why). Contiguous groups of GROUPED_TALL_ROWS rows
 * or more with a 16-bit or E4M3 D take the plain GEMM's 256x128 pairs (~13% faster per
 * FLOP than 128x128 pairs, bench/NOTES.md v7/v14) for ~64 more padded rows per group
 * on average (measured 0.91-0.97x DeepGEMM against 0.75-0.82x with 128-row pairs,
 * bench/NOTES.md "H100 call of ee2a5cc"). */
#define GROUPED_TALL_ROWS 512
/* Masked groups whose K is GROUPED_SHORT_K_BLOCKS blocks or fewer take 64-wide tiles further
 * than longer K does: where 128-wide ones would not fill a wave, or groups hold 64 rows or fewer
 * (gemm_choose_grouped_plan). */
#define GROUPED_SHORT_K_BLOCKS 16
/* CTAs a grouped plan keeps busy when every group holds `rows` rows. */
static int64_t grouped_ctas(const gemm_plan *plan, int64_t groups, int64_t rows, int64_t n)
{
    return groups * fp8block_ceil_div(rows, plan->bm) * fp8block_ceil_div(n, plan->bn);
}

/* Where those tiles keep fewer than half the SMs busy (decode: one or two groups of a few
 * hundred rows or less), the time is streaming B and A, not the tensor cores, and what counts
 * is how many SMs stream: 64-wide tiles, then 64 rows high, double and redouble the CTAs (the
 * 128x128 pairs of one 128-row group at N = 4096 ran at 0.57x DeepGEMM on 32 CTAs, bench/NOTES.md
 * "masked, one-tile-row groups"). Not for E4M3 D: its 128-wide tiles are one scale block.
 * Masked groups are expected to hold the caller's expected_m rows where it is given (decode
 * batches fill about half of max_m, DeepGEMM's masked API takes the same hint), else max_m,
 * the most they can hold. Only the tile depends on it: gemm_plan_grouped_launch sizes the
 * launch for full groups whatever the groups were expected to hold. */
gemm_plan gemm_choose_grouped_plan(const gemm_shape *g, const gemm_grouping *groups, int sms)
{
    gemm_plan plan = {128, 128, 1, 0, CLUSTER_SHARES_B};
    /* The tile's height follows the most rows a group holds (masked: max_m); how many CTAs
     * the groups keep busy, the rows they are expected to hold. (64-row tiles for counts of
     * 64 +- 21 in groups of max_m = 128 measured slower than 128-row pairs: 0.91x DeepGEMM
     * against 1.06x at G = 32, N x K = 4096 x 7168.) */
    const int64_t most_rows = groups->masked ? groups->max_m : g->m / groups->groups;
    const int64_t expected_rows = groups->masked && groups->expected_m > 0 ? groups->expected_m : most_rows;
    const int tall_output = gemm_shape_bit(g) & (GEMM_OUT_16BIT | GEMM_OUT_E4M3);
    const int short_k = groups->masked && fp8block_ceil_div(g->k, GEMM_BLOCK_K) <= GROUPED_SHORT_K_BLOCKS;
    /* Masked groups never pair: at N x K = 7168 x 2048 the 128x128 single CTA beat the pair on
     * all 18 masked rows of a forced-plan table (by 0.5-8%; H100,
     * bench/results/gpu-h100-20261206-58ef234-probes/masked_plans_table.txt), and at 4096 x 7168
     * on all 8 rows where pairs were taken (by 0.8-3.9%, 4 and 8 groups of 256 in two passes;
     * bench/results/gpu-h100-20261207-aa341b2-experiments/masked_forced_*.txt). A masked group's
     * A is a few hundred rows at most, so the reads a pair saves are few, and the pairing (a
     * cluster launch, a ring coupled to the peer's) costs more. */
    if (most_rows <= 64) plan.bm = 64;
    else if (!groups->masked && fp8block_ceil_div(g->n, plan.bn) >= 2) plan.cluster = 2, plan.role = CLUSTER_SHARES_A;
    /* only contiguous groups pair, so only they reach the 256-row pairs */
    if (plan.cluster == 2 && expected_rows >= GROUPED_TALL_ROWS && tall_output) plan.bm = 256;
    gemm_plan narrow = {plan.bm, 64, 1, 0, CLUSTER_SHARES_B};
    /* Masked at short K the 64-wide tiles paid further: where 128-wide ones would not fill one
     * wave (two groups at N = 7168: 29.1 -> 26.1 us at 2 x 256 rows) and for groups of 64 rows
     * or fewer (8 x 64: 59.7 -> 56.0 us), in the same forced-plan table (GROUPED_SHORT_K_BLOCKS). */
    const int64_t wide_ctas = grouped_ctas(&plan, groups->groups, expected_rows, g->n);
    const int narrow_pays = 2 * wide_ctas < sms || (short_k && (wide_ctas < sms || most_rows <= 64));
    if (plan.bm == 256 || !narrow_pays || gemm_grouped_config_find(&narrow, gemm_shape_bit(g)) < 0) return plan;
    if (2 * grouped_ctas(&narrow, groups->groups, expected_rows, g->n) < sms) narrow.bm = 64;
    return narrow;
}

fp8block_status gemm_plan_grouped_launch(const gemm_shape *g, const gemm_grouping *groups, gemm_plan plan,
                                         const gemm_target *target, gemm_launch_plan *out)
{
    int config = -1, max_clusters = 0;
    fp8block_status st = plan_config(g, &plan, target, 1, &config, &max_clusters);
    if (st == FP8BLOCK_OK) st = require_a_cluster(&plan, max_clusters);
    if (st != FP8BLOCK_OK) return st;
    gemm_schedule *s = &out->sched;
    memset(s, 0, sizeof *s);
    /* The most tiles the groups can cut the rows into: masked, every group full (max_m rows,
     * not expected_m: the hint may be wrong, and groups fuller than it still get the clusters
     * they can use and a 32-bit count checked for them); contiguous, one partial tile per
     * group beyond the whole rows. */
    const int64_t m_tiles = groups->masked ? groups->groups * fp8block_ceil_div(groups->max_m, plan.bm)
                                           : fp8block_ceil_div(g->m, plan.bm) + groups->groups;
    s->n_tiles = (int)fp8block_ceil_div(g->n, plan.bn);
    s->cluster = plan.cluster, s->ksplit = 1;
    s->n_groups = (int)fp8block_ceil_div(s->n_tiles, a_sharers(plan.role, plan.cluster));
    const int64_t units = m_tiles * s->n_groups;
    if (m_tiles > INT32_MAX || units > INT32_MAX - (int64_t)max_clusters)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED,
                             "a grouped GEMM of %" PRId64 " rows in %" PRId64 " groups by N = %" PRId64
                             " may have %" PRId64 " tiles: more than the GPU kernel counts (2^31)",
                             g->m, groups->groups, g->n, units);
    s->m_tiles = s->m_groups = (int)m_tiles;
    s->kb_total = (int)fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    s->group_n = 8;
    s->clusters = (int)(units < max_clusters ? units : max_clusters);
    s->dp_tiles = (int)units; /* a bound: the walk ends where the groups do */
    plan.streamk = 0;
    out->plan = plan, out->config = config, out->max_clusters = max_clusters;
    return FP8BLOCK_OK;
}

int gemm_plan_parse(const char *text, gemm_plan *out)
{
    gemm_plan p;
    memset(&p, 0, sizeof p);
    int fields = sscanf(text, "%d,%d,%d,%d,%d", &p.bm, &p.bn, &p.cluster, &p.streamk, &p.role);
    if (fields == 4) p.role = pair_role(p.bm);
    if (fields < 4 || p.role < CLUSTER_SHARES_B || p.role > CLUSTER_SHARES_A) return 0;
    *out = p;
    return 1;
}
