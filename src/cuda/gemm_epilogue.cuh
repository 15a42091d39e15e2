/* Epilogue: a math warpgroup's (64 x WAVES) x BN fp32 tile, in the wgmma fragment layout,
 * is rounded to the output dtype, written to shared memory and stored by TMA.
 *
 * Shared layout: the tile is cut into column chunks of 128 bytes (64 bf16/fp16 or 32
 * fp32) with TMA's 128-byte swizzle (16-byte unit ^= row % 8), or of 32 bytes with its
 * 32-byte swizzle (unit bit 0 ^= row bit 2) when BN's row is not a multiple of 128 bytes;
 * each chunk [64 x WAVES rows][chunk bytes] (a warpgroup's waves stacked), one TMA
 * store. Either way the 8 rows a warp writes at once fall in distinct banks; wide chunks
 * and stacked waves make few, large TMA stores (4x and 2x fewer). */
#ifndef FP8BLOCK_GEMM_EPILOGUE_CUH
#define FP8BLOCK_GEMM_EPILOGUE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fp8_convert.cuh"
#include "fp8block.h"
#include "gemm_geometry.h"
#include "gemm_params.h"
#include "ptx.cuh"
#include "scale_rule.h"

#define EPILOGUE_ROWS 64

/* Bytes per row of a staged chunk (see above); the host encodes D's tensor map with it. */
__host__ __device__ constexpr int epilogue_chunk_bytes(int bn, int out_bytes)
{
    return bn * out_bytes % 128 == 0 ? 128 : 32;
}

template <int OUT>
struct out_traits;
template <>
struct out_traits<FP8BLOCK_F32> {
    static constexpr int bytes = 4;
};
template <>
struct out_traits<FP8BLOCK_BF16> {
    static constexpr int bytes = 2;
};
template <>
struct out_traits<FP8BLOCK_F16> {
    static constexpr int bytes = 2;
};
template <>
struct out_traits<FP8BLOCK_E4M3> {
    static constexpr int bytes = 1;
};

/* Shared address of element (row, col) of a warpgroup's staged tile, row < 64 * WAVES. */
template <int BN, int OUT, int WAVES>
__device__ __forceinline__ uint32_t epilogue_smem_offset(int row, int col)
{
    constexpr int chunk_bytes = epilogue_chunk_bytes(BN, out_traits<OUT>::bytes);
    constexpr int per_chunk = chunk_bytes / out_traits<OUT>::bytes;
    int chunk = col / per_chunk;
    int byte = (col % per_chunk) * out_traits<OUT>::bytes;
    int swizzled = chunk_bytes == 128 ? byte ^ ((row & 7) << 4) : byte ^ ((row & 4) << 2);
    return chunk * (WAVES * EPILOGUE_ROWS * chunk_bytes) + row * chunk_bytes + swizzled;
}

/* Two horizontally adjacent outputs, rounded to nearest even. */
template <int OUT>
__device__ __forceinline__ void epilogue_put_pair(uint32_t addr, float x, float y);
template <>
__device__ __forceinline__ void epilogue_put_pair<FP8BLOCK_F32>(uint32_t addr, float x, float y)
{
    st_shared_v2_f32(addr, x, y);
}
template <>
__device__ __forceinline__ void epilogue_put_pair<FP8BLOCK_BF16>(uint32_t addr, float x, float y)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
    st_shared_b32(addr, *reinterpret_cast<uint32_t *>(&v));
}
template <>
__device__ __forceinline__ void epilogue_put_pair<FP8BLOCK_F16>(uint32_t addr, float x, float y)
{
    __half2 v = __floats2half2_rn(x, y);
    st_shared_b32(addr, *reinterpret_cast<uint32_t *>(&v));
}
/* E4M3: x and y are already divided by their row's scale (epilogue_quantize_wave). */
template <>
__device__ __forceinline__ void epilogue_put_pair<FP8BLOCK_E4M3>(uint32_t addr, float x, float y)
{
    st_shared_b16(addr, (uint16_t)e4m3x2_from_f32(x, y));
}

/* Writes the thread's fragment of wave `wave`'s 64 x BN accumulator into the staged
 * tile at `tile` (shared address, 1024-byte aligned). Fragment: thread (warp w, lane l)
 * holds rows 16w + l/4 and 16w + l/4 + 8, columns 8j + 2(l%4) and +1, for j < BN/8. */
template <int BN, int OUT, int WAVES>
__device__ __forceinline__ void epilogue_stage_fragment(uint32_t tile, const float *acc, int wave, int warp, int lane)
{
    int row = wave * 64 + warp * 16 + lane / 4;
    int col = 2 * (lane % 4);
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        epilogue_put_pair<OUT>(tile + epilogue_smem_offset<BN, OUT, WAVES>(row, col + 8 * j), acc[4 * j],
                               acc[4 * j + 1]);
        epilogue_put_pair<OUT>(tile + epilogue_smem_offset<BN, OUT, WAVES>(row + 8, col + 8 * j), acc[4 * j + 2],
                               acc[4 * j + 3]);
    }
}

/* Issues the TMA stores of a staged tile whose top-left output element is (m0, n0);
 * chunks entirely right of column tma_cols are skipped (rows past M are clipped by TMA).
 * add_to_d: the tile is added to D (epilogue_adds_c_by_tma) instead of replacing it. */
template <int BN, int OUT, int WAVES>
__device__ __forceinline__ void epilogue_store_tile(const void *tmap_d, const uint8_t *tile, int m0, int n0,
                                                    int tma_cols, bool add_to_d)
{
    constexpr int chunk_bytes = epilogue_chunk_bytes(BN, out_traits<OUT>::bytes);
    constexpr int per_chunk = chunk_bytes / out_traits<OUT>::bytes;
#pragma unroll
    for (int c = 0; c < BN / per_chunk; c++) {
        if (n0 + c * per_chunk < tma_cols) {
            const uint8_t *chunk = tile + c * WAVES * EPILOGUE_ROWS * chunk_bytes;
            if (OUT == FP8BLOCK_F32 && add_to_d) tma_reduce_add_2d(tmap_d, chunk, n0 + c * per_chunk, m0);
            else tma_store_2d(tmap_d, chunk, n0 + c * per_chunk, m0);
        }
    }
    tma_store_commit();
}

/* What a kernel's epilogue adds to A·Bᵀ, which decides the code it carries. A small GEMM's CTA
 * spends its time fetching instructions where it first runs them (a CTA-0 timeline and a build
 * without that code, bench/NOTES.md "fixed cost per call"), so each call takes the kernel with
 * the least code that serves it:
 *   ADDENDS_NONE  no C, no bias, whole tiles (no stream-K pieces; grouped tiles always are): the
 *                 math warps run from the main loop to the TMA store in contiguous code;
 *   ADDENDS_BIAS  a bias and nothing else, whole tiles: the bias code (three types, its loads
 *                 issued together once a tile for every wave) and its prefetch, without C's
 *                 (three types, each unrolled twice) or the stream-K gather,
 *                 whose ~40 KB between the main loop and the store cost a bias call most of its
 *                 time over ADDENDS_NONE at K = 512 (bench/NOTES.md "What a bias costs");
 *   ADDENDS_ANY   C, bias, stream-K: everything. */
enum gemm_addends { ADDENDS_NONE, ADDENDS_BIAS, ADDENDS_ANY };

/* In-place fp32 accumulation with nothing else to add (C is D, no bias: p.c_is_d_alone):
 * a tile whose columns all leave by TMA (n0 + BN <= tma_cols) skips loading C and has the
 * TMA unit add it, reading D in L2 as it writes it. The sum is the same fp32 add
 * acc + C rounded to nearest even (docs/DESIGN.md §1.6). Loading C stalled the
 * weight-gradient kernel's math warps for about a quarter of their time (Nsight Compute,
 * bench/NOTES.md "wgrad: C added by the TMA unit"). Other tiles add C in registers; kernels
 * without C's code (gemm_addends) are never given C. */
template <int BN, int OUT, bool GROUPED, int ADDENDS>
__device__ __forceinline__ bool epilogue_adds_c_by_tma(const gemm_params &p, int n0)
{
    return ADDENDS == ADDENDS_ANY && OUT == FP8BLOCK_F32 && !GROUPED && p.c_is_d_alone && n0 + BN <= p.tma_cols;
}

template <int OUT>
__device__ __forceinline__ void epilogue_put_global(void *d, int64_t at, float x);
template <>
__device__ __forceinline__ void epilogue_put_global<FP8BLOCK_F32>(void *d, int64_t at, float x)
{
    ((float *)d)[at] = x;
}
template <>
__device__ __forceinline__ void epilogue_put_global<FP8BLOCK_BF16>(void *d, int64_t at, float x)
{
    ((__nv_bfloat16 *)d)[at] = __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ void epilogue_put_global<FP8BLOCK_F16>(void *d, int64_t at, float x)
{
    ((__half *)d)[at] = __float2half_rn(x);
}
template <>
__device__ __forceinline__ void epilogue_put_global<FP8BLOCK_E4M3>(void *d, int64_t at, float x)
{
    ((uint8_t *)d)[at] = (uint8_t)e4m3x2_from_f32(x, 0.0f);
}

/* An addend (C or bias) element pair of type T (F32, BF16 or F16) at columns (col, col + 1) of
 * one row, widened exactly to fp32. `valid` of the two are inside N (0-2); the others read as
 * 0 and are never stored. col is even and the row 16-byte aligned (§3.3: C's rows and bias), so
 * a whole pair is one 8- or 4-byte load. READ_ONLY (bias) loads through the read-only path: bias
 * shares no byte with D, and every row of every tile reads the same N values, which stay in L1;
 * C may be D itself, which this kernel writes, so it is read through L2 (ld.global.cg). The
 * type is a template argument so that a fragment's loads are straight-line code the compiler
 * issues together: chosen per element at run time, every load sat behind its own branch and
 * waited out its own latency (Nsight Compute, bf16 4096x32768x512 with bias: 1.65x the time
 * without; bench/NOTES.md "Nsight Compute on the epilogue"). */
template <int T, bool READ_ONLY>
__device__ __forceinline__ float2 epilogue_load_pair(const void *base, int64_t at, int valid)
{
    float2 v = make_float2(0.0f, 0.0f);
    if constexpr (T == FP8BLOCK_F32) {
        const float *x = (const float *)base + at;
        if (valid == 2) v = READ_ONLY ? __ldg((const float2 *)x) : __ldcg((const float2 *)x);
        else if (valid == 1) v.x = READ_ONLY ? __ldg(x) : __ldcg(x);
    } else {
        const unsigned short *x = (const unsigned short *)base + at;
        uint32_t bits = 0;
        if (valid == 2) bits = READ_ONLY ? __ldg((const unsigned int *)x) : __ldcg((const unsigned int *)x);
        else if (valid == 1) bits = READ_ONLY ? __ldg(x) : __ldcg(x);
        if constexpr (T == FP8BLOCK_BF16) {
            v.x = __uint_as_float(bits << 16), v.y = __uint_as_float(bits & 0xffff0000u);
        } else {
            v.x = __half2float(__ushort_as_half((unsigned short)(bits & 0xffffu)));
            v.y = __half2float(__ushort_as_half((unsigned short)(bits >> 16)));
        }
    }
    return v;
}

/* How many of the column pair (col, col + 1) lie inside N. */
__device__ __forceinline__ int epilogue_pair_valid(int col, int n) { return min(max(n - col, 0), 2); }

/* acc += C on a wave's fragment (rows from row0, columns from n0), C of type T. Rows at or
 * past rows_end read nothing (C may end there) and add 0; they are never stored. WHOLE: every
 * row and column of the fragment is inside (no test, no branch per load). */
template <int BN, int T, bool WHOLE>
__device__ __forceinline__ void epilogue_add_c(float *acc, const gemm_params &p, int rows_end, int row0, int n0,
                                               int warp, int lane)
{
    const int row = row0 + warp * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        const int col = n0 + 8 * j + 2 * (lane % 4), valid = WHOLE ? 2 : epilogue_pair_valid(col, p.n);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = row + 8 * h;
            const int r_valid = WHOLE || r < rows_end ? valid : 0;
            const float2 c = epilogue_load_pair<T, false>(p.c, (int64_t)r * p.ldc + col, r_valid);
            acc[4 * j + 2 * h] += c.x, acc[4 * j + 2 * h + 1] += c.y;
        }
        /* Four column groups' loads at a time (32 registers of fp32 C): a whole fragment's at
         * once spilled the grouped 256-row kernels (224 registers). */
        if (j % 4 == 3) __syncwarp();
    }
}

/* acc += bias on a tile's waves (acc0, and acc1 when WAVES is 2), bias of type T: one pair load
 * per column pair, for both rows and every wave (the bias depends on the column alone), AHEAD
 * column groups' loads issued before the first of them is used. The general kernels take 4 at a
 * time as epilogue_add_c does, one wave a call (registers: see there); the bias kernels take the
 * whole tile at once, one memory round trip a tile where groups of 4 waited out one each, for
 * both waves. WHOLE: every column inside N. */
template <int BN, int T, bool WHOLE, int AHEAD, int WAVES>
__device__ __forceinline__ void epilogue_add_bias(float *acc0, float *acc1, const gemm_params &p, int n0, int lane)
{
    static_assert(WAVES <= 2, "at most two waves");
    constexpr int PAIRS = BN / 8; /* column pairs a thread holds; the last group may be short */
#pragma unroll
    for (int j0 = 0; j0 < PAIRS; j0 += AHEAD) {
        float2 b[AHEAD];
#pragma unroll
        for (int i = 0; i < AHEAD && j0 + i < PAIRS; i++) {
            const int col = n0 + 8 * (j0 + i) + 2 * (lane % 4);
            b[i] = epilogue_load_pair<T, true>(p.bias, col, WHOLE ? 2 : epilogue_pair_valid(col, p.n));
        }
#pragma unroll
        for (int i = 0; i < AHEAD && j0 + i < PAIRS; i++) {
            const int j = j0 + i;
            acc0[4 * j] += b[i].x, acc0[4 * j + 1] += b[i].y, acc0[4 * j + 2] += b[i].x, acc0[4 * j + 3] += b[i].y;
            if constexpr (WAVES > 1)
                acc1[4 * j] += b[i].x, acc1[4 * j + 1] += b[i].y, acc1[4 * j + 2] += b[i].x, acc1[4 * j + 3] += b[i].y;
        }
        /* After each whole group, the last included: where the general kernels synced before. */
        if (AHEAD < PAIRS && j0 + AHEAD <= PAIRS) __syncwarp();
    }
}

/* The addend of type T, on a wave wholly inside D with no test or branch per load, or not.
 * FAST_PATH: the plain kernels; the grouped 256-row ones (224 registers) spill with both
 * copies of the code. */
template <int BN, int T, bool FAST_PATH>
__device__ __forceinline__ void epilogue_add_c_of(float *acc, const gemm_params &p, int rows_end, int row0, int n0,
                                                  int warp, int lane)
{
    if (FAST_PATH && row0 + 64 <= rows_end && n0 + BN <= p.n)
        epilogue_add_c<BN, T, true>(acc, p, rows_end, row0, n0, warp, lane);
    else
        epilogue_add_c<BN, T, false>(acc, p, rows_end, row0, n0, warp, lane);
}

template <int BN, int T, bool FAST_PATH, int AHEAD, int WAVES>
__device__ __forceinline__ void epilogue_add_bias_of(float *acc0, float *acc1, const gemm_params &p, int n0, int lane)
{
    if (FAST_PATH && n0 + BN <= p.n) epilogue_add_bias<BN, T, true, AHEAD, WAVES>(acc0, acc1, p, n0, lane);
    else epilogue_add_bias<BN, T, false, AHEAD, WAVES>(acc0, acc1, p, n0, lane);
}

/* acc += bias (epilogue_add_bias), the bias's type read from p once a call. */
template <int BN, bool FAST_PATH, int AHEAD, int WAVES>
__device__ __forceinline__ void epilogue_add_bias_by_type(float *acc0, float *acc1, const gemm_params &p, int n0,
                                                          int lane)
{
    if (p.bias_dtype == FP8BLOCK_F32)
        epilogue_add_bias_of<BN, FP8BLOCK_F32, FAST_PATH, AHEAD, WAVES>(acc0, acc1, p, n0, lane);
    else if (p.bias_dtype == FP8BLOCK_BF16)
        epilogue_add_bias_of<BN, FP8BLOCK_BF16, FAST_PATH, AHEAD, WAVES>(acc0, acc1, p, n0, lane);
    else epilogue_add_bias_of<BN, FP8BLOCK_F16, FAST_PATH, AHEAD, WAVES>(acc0, acc1, p, n0, lane);
}

/* D = (acc + C) + bias on a wave's fragment (rows from row0, columns from n0), in that order,
 * before rounding (docs/DESIGN.md §1.6): each term only if present. Elements in a row at or
 * past M (GROUPED: the tile's group end, row_end) or a column at or past N add zeros and are
 * never stored. C may be D itself: this reads the tile before its store writes it. */
template <int BN, bool GROUPED>
__device__ __forceinline__ void epilogue_add_addends(float *acc, const gemm_params &p, int row_end, int row0, int n0,
                                                     int warp, int lane)
{
    const int rows_end = GROUPED ? row_end : p.m;
    constexpr bool FAST = !GROUPED;
    if (p.c) {
        if (p.c_dtype == FP8BLOCK_F32)
            epilogue_add_c_of<BN, FP8BLOCK_F32, FAST>(acc, p, rows_end, row0, n0, warp, lane);
        else if (p.c_dtype == FP8BLOCK_BF16)
            epilogue_add_c_of<BN, FP8BLOCK_BF16, FAST>(acc, p, rows_end, row0, n0, warp, lane);
        else epilogue_add_c_of<BN, FP8BLOCK_F16, FAST>(acc, p, rows_end, row0, n0, warp, lane);
    }
    if (p.bias) epilogue_add_bias_by_type<BN, FAST, 4, 1>(acc, acc, p, n0, lane);
}

/* The tile's bias values into L1 while its K blocks run, so that epilogue_add_bias finds
 * them there: BN values are at most 4 lines of 128 bytes, one thread a line. */
template <int BN>
__device__ __forceinline__ void epilogue_prefetch_bias(const gemm_params &p, int n0, int thread)
{
    const int esize = p.bias_dtype == FP8BLOCK_F32 ? 4 : 2;
    const int col = n0 + thread * (128 / esize);
    if (p.bias && thread < (BN * esize + 127) / 128 && col < p.n)
        prefetch_global_l1((const uint8_t *)p.bias + (int64_t)col * esize);
}

/* x / s on the thread's elements of one fragment row (`first`: 0 for the top row, 2 for the
 * bottom), as IEEE fp32 division gives it: through fp8block_divide_by_scale (three operations,
 * the same codes) unless the scale is tiny, huge or NaN. */
template <int BN>
__device__ __forceinline__ void epilogue_divide_row(float *acc, int first, float s)
{
    if (fp8block_scale_divides_fast(s)) {
        const float r = fp8block_scale_reciprocal(s);
#pragma unroll
        for (int j = 0; j < BN / 8; j++)
#pragma unroll
            for (int e = first; e < first + 2; e++) acc[4 * j + e] = fp8block_divide_by_scale(acc[4 * j + e], s, r);
    } else {
#pragma unroll
        for (int j = 0; j < BN / 8; j++)
#pragma unroll
            for (int e = first; e < first + 2; e++) acc[4 * j + e] = acc[4 * j + e] / s;
    }
}

/* The largest |x| bit pattern of the thread's elements in its top and bottom fragment rows,
 * over the columns below `cols` (relative to the tile) when CHECK_COLS; a tile whose columns
 * all lie inside N takes CHECK_COLS false and tests nothing. Two running maxima a row (even
 * and odd columns), two dependency chains of 16 instead of one of 32 (four would spill the
 * grouped 256-row E4M3 kernel). */
template <int BN, bool CHECK_COLS>
__device__ __forceinline__ void epilogue_row_amax(const float *acc, int cols, int lane, uint32_t &top,
                                                  uint32_t &bottom)
{
    uint32_t chain[4] = {0, 0, 0, 0}; /* element e of each column pair: top even, top odd, bottom ... */
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        const int col = 8 * j + 2 * (lane % 4);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            uint32_t bits = fp8block_abs_bits(acc[4 * j + e]);
            if (CHECK_COLS && col + (e & 1) >= cols) bits = 0;
            chain[e] = max(chain[e], bits);
        }
    }
    top = max(chain[0], chain[1]), bottom = max(chain[2], chain[3]);
}

/* E4M3 D on 64-wide tiles in pairs along N sharing A (gemm_configs.h): the pair's tiles 2j and
 * 2j + 1 are the two halves of scale block j, and the CTAs swap their row amaxes through
 * distributed shared memory. Each CTA has two slots of BM words, one per unit parity, which the
 * peer writes, and an mbarrier per slot and math warpgroup that the peer's 32 sending threads
 * of that warpgroup arrive on (AMAX_EXCHANGE_ARRIVALS). `unit` counts the units this CTA
 * finished before the current one (a pair walks the same units), `first_row` is the thread's
 * top fragment row in the tile, `bars` the first of the [2][math warpgroups] mbarriers. */
struct amax_exchange {
    uint32_t slots, bars, peer, unit;
    int first_row, wg;
};

/* The thread of each quad that sends its rows' amaxes: 8 a warp, 32 a warpgroup. */
#define AMAX_EXCHANGE_ARRIVALS 32

/* Sends the thread's two row amaxes (top, bottom: over this CTA's half of the block) to the
 * peer and takes the larger of each with the peer's. Slot and barrier by the unit's parity
 * (a barrier's phase flips every second unit): the peer writes unit u + 2's amaxes only after
 * it has had ours of u + 1, which this thread sends after it read slot u's. Only the senders
 * wait: the other lanes take the values from them. */
template <int BM, int MATH_WGS>
__device__ __forceinline__ void epilogue_swap_amax(const amax_exchange &x, uint32_t &top, uint32_t &bottom, int lane)
{
    const uint32_t slot = x.slots + ((x.unit & 1) * BM + x.first_row) * 4;
    const uint32_t bar = x.bars + ((x.unit & 1) * MATH_WGS + x.wg) * 8;
    /* The quad's four lanes hold the same amaxes: its first lane sends them and reads the
     * peer's (so each slot is read by the thread whose next send orders the read before the
     * peer's rewrite), then hands them to the other three. */
    uint32_t theirs_top = 0, theirs_bottom = 0;
    if (lane % 4 == 0) {
        const uint32_t remote = cluster_map_shared(slot, x.peer);
        st_cluster_u32(remote, top);
        st_cluster_u32(remote + 8 * 4, bottom);
        mbarrier_arrive_release_cluster(cluster_map_shared(bar, x.peer));
        mbarrier_wait_cluster(bar, (x.unit >> 1) & 1);
        theirs_top = ld_shared_u32(slot), theirs_bottom = ld_shared_u32(slot + 8 * 4);
    }
    top = max(top, __shfl_sync(0xffffffffu, theirs_top, lane & ~3));
    bottom = max(bottom, __shfl_sync(0xffffffffu, theirs_bottom, lane & ~3));
}

/* E4M3 D: a 128-column tile is one 1x128 scale block per row (HALF_BLOCK: a 64-column tile is
 * half of one, the other half the peer's, epilogue_swap_amax). Each row's amax (over its
 * real columns: col < N) is the maximum of |x| bit patterns, as scale_rule.h defines it,
 * gathered from the four lanes of a quad that hold the row; the scale follows that rule
 * exactly, the values are divided by it as IEEE fp32 x / s (the quantize kernel's;
 * epilogue_divide_row), and the quad's first lane writes the row's scale. So the codes and scales are
 * fp8block_quantize_1x128 of these fp32 values, which are the F32 D's (docs/DESIGN.md §1.6). */
template <int BM, int BN, bool GROUPED, bool HALF_BLOCK>
__device__ __forceinline__ void epilogue_quantize_wave(float *acc, const gemm_params &p, int row_end, int row0, int n0,
                                                       int warp, int lane, const amax_exchange &x)
{
    static_assert(HALF_BLOCK ? BN == 64 : BN == 128, "an E4M3 tile is one scale block wide, or half of one in a pair");
    uint32_t amax_top, amax_bottom;
    if (n0 + BN <= p.n) epilogue_row_amax<BN, false>(acc, BN, lane, amax_top, amax_bottom);
    else epilogue_row_amax<BN, true>(acc, p.n - n0, lane, amax_top, amax_bottom);
#pragma unroll
    for (int offset = 1; offset < 4; offset <<= 1) {
        amax_top = max(amax_top, __shfl_xor_sync(0xffffffffu, amax_top, offset));
        amax_bottom = max(amax_bottom, __shfl_xor_sync(0xffffffffu, amax_bottom, offset));
    }
    if constexpr (HALF_BLOCK) epilogue_swap_amax<BM, math_warpgroups(BM)>(x, amax_top, amax_bottom, lane);
    const float s_top = fp8block_block_scale(amax_top, p.sd_pow2), s_bottom = fp8block_block_scale(amax_bottom, p.sd_pow2);
    epilogue_divide_row<BN>(acc, 0, s_top);
    epilogue_divide_row<BN>(acc, 2, s_bottom);
    const int row = row0 + warp * 16 + lane / 4;
    /* n0 < N: the second CTA of a pair along N may hold the tile past the last one. A half
     * block's scales are written by the CTA of its first half. */
    if (lane % 4 == 0 && n0 < p.n && (!HALF_BLOCK || n0 % 128 == 0)) {
        float *scales = p.sd + (int64_t)(n0 / 128) * p.ldsd;
        const int m = GROUPED ? row_end : p.m; /* the rows that have scales here */
        if (row < m) scales[row] = s_top;
        if (row + 8 < m) scales[row + 8] = s_bottom;
    }
}

/* A grouped tile's rows [m0, m0 + rows) that end inside its warpgroup's staged rows (the group
 * ends there, and TMA clips rows only at D's end), copied from the staged tile at `tile` to D,
 * columns [n0, min(n0 + BN, tma_cols)): each of the warpgroup's 128 threads (`thread`) moves
 * 16-byte units, consecutive threads along a row, so a warp writes whole rows as TMA would.
 * (The staging swizzles whole 16-byte units, and D's rows are 16-byte aligned, §3.3.) Before,
 * these rows left from registers an element at a time, up to 64 stores a thread of 1-4 bytes
 * each: the masked calls whose groups end inside a tile paid ~0.8 us for it (bench/NOTES.md). */
template <int BN, int OUT, int WAVES>
__device__ __forceinline__ void epilogue_copy_rows(void *d, int64_t ldd, uint32_t tile, int rows, int m0, int n0,
                                                   int tma_cols, int thread)
{
    constexpr int BYTES = out_traits<OUT>::bytes, UNIT = 16 / BYTES, UNITS = BN / UNIT; /* a unit's elements, a row's units */
    constexpr int STEP = 128 / UNITS; /* rows apart of a thread's units */
    static_assert(BN % UNIT == 0 && 128 % UNITS == 0, "a row is whole 16-byte units, and 128 threads whole rows");
    const int u = thread % UNITS;
    if (n0 + (u + 1) * UNIT > tma_cols) return;
    uint8_t *dst = static_cast<uint8_t *>(d) + ((int64_t)(m0 + thread / UNITS) * ldd + n0 + u * UNIT) * BYTES;
    const int64_t dst_step = (int64_t)STEP * ldd * BYTES;
    for (int r = thread / UNITS; r < rows; r += STEP, dst += dst_step)
        *reinterpret_cast<uint4 *>(dst) = ld_shared_v4_b32(tile + epilogue_smem_offset<BN, OUT, WAVES>(r, u * UNIT));
}

/* The H100's TMA store clips a row at 16-byte granularity, not per element: it would
 * write D's padding up to the next 16 bytes after column N. So the TMA store stops at
 * tma_cols (N rounded down to 16 bytes) and the last < 16 bytes of each row, [tma_cols,
 * n), are stored here from registers (up to 15 one-byte E4M3 columns: two fragment groups). */
template <int BN, int OUT>
__device__ __forceinline__ void epilogue_store_tail(void *d, int64_t ldd, const float *acc, int m, int n,
                                                    int tma_cols, int m0, int n0, int warp, int lane)
{
    if (tma_cols >= n || n0 + BN <= tma_cols || n0 >= n) return;
    int row = m0 + warp * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        int col = n0 + 8 * j + 2 * (lane % 4);
        if (n0 + 8 * j + 8 <= tma_cols || n0 + 8 * j >= n) continue;
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int r = row + (e >= 2 ? 8 : 0), c = col + (e & 1);
            if (r < m && c >= tma_cols && c < n) epilogue_put_global<OUT>(d, (int64_t)r * ldd + c, acc[4 * j + e]);
        }
    }
}

#endif
