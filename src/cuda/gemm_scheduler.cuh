/* Which output tile (and which slice of K) a persistent CTA works on next.
 *
 * Work is split into units: (m group, n tile, K split), an m group being `cluster`
 * consecutive m tiles, one per CTA of a cluster (they share the B tile through TMA
 * multicast). Cluster c takes units c, c + clusters, ... so the producer and the math
 * warpgroups of both CTAs walk the same sequence without talking to each other (the
 * pair must: their pipelines are coupled). Tiles are ordered in bands of `group_n`
 * N tiles, M fastest inside a band: the CTAs running at one moment then share a few
 * B panels and a band of A, which stay in L2. */
#ifndef FP8BLOCK_GEMM_SCHEDULER_CUH
#define FP8BLOCK_GEMM_SCHEDULER_CUH

typedef struct {
    int m_tiles, n_tiles;
    int cluster;       /* CTAs per cluster along M (1 or 2) */
    int m_groups;      /* ceil(m_tiles / cluster) */
    int splits;        /* K splits (1: no split-K) */
    int kb_total;      /* ceil(K / 128) */
    int kb_per_split;  /* every split but the last has exactly this many K blocks */
    int group_n;       /* N tiles per band */
    int units;         /* m_groups * n_tiles * splits */
} gemm_schedule;

typedef struct {
    int m_tile, n_tile, split;
    int kb_begin, kb_end;
} gemm_unit;

__device__ __forceinline__ gemm_unit schedule_unit(const gemm_schedule &s, int u, int cta_rank)
{
    gemm_unit w;
    int tiles = s.m_groups * s.n_tiles;
    w.split = u / tiles;
    int t = u - w.split * tiles;
    int band_span = s.group_n * s.m_groups;
    int band = t / band_span;
    int in_band = t - band * band_span;
    int band_width = min(s.group_n, s.n_tiles - band * s.group_n);
    w.n_tile = band * s.group_n + in_band % band_width;
    w.m_tile = in_band / band_width * s.cluster + cta_rank; /* may be m_tiles: then nothing is stored */
    w.kb_begin = w.split * s.kb_per_split;
    w.kb_end = min(w.kb_begin + s.kb_per_split, s.kb_total);
    return w;
}

#endif
