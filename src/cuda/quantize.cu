/* Block quantization and dequantization on the GPU, bit for bit the CPU reference
 * (src/cpu/quantize.c): the amax and scale rule of scale_rule.h, x / s as IEEE division
 * rounds it (in three operations: fp8block_divide), cvt.rn.satfinite to e4m3; y = float(q) * s rounded to nearest even.
 *
 * Both directions are bound by memory, so the work is cut for whole 512-byte runs per
 * warp access and one read of the input:
 *
 * - A warp task is TASK_ROWS rows × 32 chunks of 16 bytes of the wide type (bf16/f16:
 *   256 columns, f32: 128). Quantizing, lane l loads chunk l of each row (16-byte loads),
 *   the lanes of a 128-column block reduce its amax by shuffles, and a lane transpose over
 *   G = sizeof(element) rows gives each lane 16 codes of one row (16-byte stores).
 *   Dequantizing runs the same transpose from 16-byte loads of codes to 16-byte stores.
 * - 1x128: warps are independent. 128x128: a CTA of 16 warps holds a whole 128-row tile
 *   (64 KB of input) in registers, meets once in shared memory for the tile's amax, and
 *   writes codes from the same registers: the input is read from memory once.
 * - Quantize-transpose (x's and xᵀ's 1x128 quantizations, a training step's operands): the
 *   128x128 CTA again, with the columns' amaxes meeting in shared memory and xᵀ's codes
 *   staged there; again one read of the input.
 * - A task wholly inside the matrix with 16-byte aligned rows takes vector accesses with
 *   no bounds checks; tasks at an edge, or matrices whose base or leading dimension rules
 *   out vectors, check every element. */
#include <limits.h>

#include "chunk_io.cuh"
#include "device.h"
#include "fp8_convert.cuh"
#include "lane_transpose.cuh"
#include "launch_order.cuh"
#include "scale_rule.h"

enum {
    BLOCK = 128,
    TASK_ROWS = 8,
    TASK_WARPS = 8,                  /* warps per CTA when warps work alone */
    TILE_WARPS = BLOCK / TASK_ROWS,  /* warps per 128-row tile */
};

/* The shape of a warp task for elements of T (the input when quantizing, the output when
 * dequantizing). */
template <fp8block_dtype T> struct task_shape {
    static constexpr int E = elems_per_chunk<T>();    /* elements per lane and row */
    static constexpr int G = elem_bytes<T>();         /* rows per lane transpose: G·E = 16 codes */
    static constexpr int W = E / 4;                   /* 32-bit words holding a chunk's E codes */
    static constexpr int COLS = 32 * E;               /* columns of a task */
    static constexpr int LANES_PER_BLOCK = BLOCK / E; /* lanes over one 128-column block */
    static constexpr int BLOCKS = COLS / BLOCK;       /* 128-column blocks across a task */
};

template <int LANES> static __device__ __forceinline__ uint32_t max_over_lanes(uint32_t v)
{
#pragma unroll
    for (int offset = 1; offset < LANES; offset <<= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/* The same for two 16-bit values a word, each half on its own. */
template <int LANES> static __device__ __forceinline__ uint32_t max_over_lanes_u16x2(uint32_t v)
{
#pragma unroll
    for (int offset = 1; offset < LANES; offset <<= 1) v = __vmaxu2(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/* The amax (fp32 bits) over LANES lanes of row `sub` of ROWS (0 for sub >= ROWS). PAIRED: 16-bit
 * types reduce two rows a shuffle, their |x| patterns packed in one word (the order is the
 * same before and after widening); otherwise a row a shuffle. */
template <fp8block_dtype T, int ROWS, int LANES, bool PAIRED>
static __device__ __forceinline__ uint32_t row_amax(const uint32_t (&raw)[ROWS][4], int sub)
{
    uint32_t mine = 0;
    if constexpr (!PAIRED || T == FP8BLOCK_F32 || ROWS % 2 != 0) {
#pragma unroll
        for (int t = 0; t < ROWS; t++) {
            const uint32_t amax = max_over_lanes<LANES>(chunk_amax_bits<T>(raw[t]));
            mine = sub == t ? amax : mine;
        }
    } else {
#pragma unroll
        for (int t = 0; t < ROWS; t += 2) {
            const uint32_t pair =
                max_over_lanes_u16x2<LANES>(chunk_amax_16bit<T>(raw[t]) | chunk_amax_16bit<T>(raw[t + 1]) << 16);
            mine = sub == t ? amax_bits_from_16bit<T>(pair & 0xffffu)
                   : sub == t + 1 ? amax_bits_from_16bit<T>(pair >> 16)
                                  : mine;
        }
    }
    return mine;
}

/* ---- quantize ------------------------------------------------------------------------ */

/* raw[t] = this lane's chunk (at column `col`) of row r0 + t·STRIDE. */
template <fp8block_dtype T, int ROWS, bool EDGE, bool ALIGNED, int STRIDE = 1>
static __device__ __forceinline__ void load_task(uint32_t (&raw)[ROWS][4], const quantize_args &a, int64_t r0,
                                                 int64_t col)
{
    constexpr int BYTES = elem_bytes<T>();
    const uint8_t *x = static_cast<const uint8_t *>(a.x);
#pragma unroll
    for (int t = 0; t < ROWS; t++) {
        const int64_t r = r0 + t * STRIDE;
        if (!EDGE) {
            load_16b_streaming(raw[t], x + (r * a.ldx + col) * BYTES);
        } else if (r < a.rows) {
            load_chunk<BYTES, ALIGNED>(raw[t], x + r * a.ldx * BYTES, col, a.cols);
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) raw[t][i] = 0;
        }
    }
}

/* The E codes of a chunk, e4m3(x / s), packed low element first: x / s as IEEE division
 * rounds it, in three operations (scale_rule.h's fp8block_divide; the quantize-transpose
 * kernel was bound by the divisions' issue slots, bench/NOTES.md "H100 calls of 9cac5c5"). */
template <fp8block_dtype T, bool FAST>
static __device__ __forceinline__ float divide_elem(const uint32_t (&w)[4], int k, const fp8block_scale_divider &d)
{
    return FAST ? fp8block_divide_by_scale(chunk_elem<T>(w, k), d.s, d.r) : fp8block_divide(chunk_elem<T>(w, k), d);
}

/* FAST: every scale of the warp's rows lies where fp8block_divide_by_scale's three operations
 * hold by themselves (fp8block_scale_divides_fast), so no prescaling by d.f (which is 1 there). */
template <fp8block_dtype T, bool FAST>
static __device__ __forceinline__ void encode_chunk(uint32_t (&codes)[task_shape<T>::W], const uint32_t (&w)[4],
                                                    const fp8block_scale_divider &d)
{
#pragma unroll
    for (int m = 0; m < task_shape<T>::W; m++) {
        const uint32_t lo = e4m3x2_from_f32(divide_elem<T, FAST>(w, 4 * m, d), divide_elem<T, FAST>(w, 4 * m + 1, d));
        const uint32_t hi =
            e4m3x2_from_f32(divide_elem<T, FAST>(w, 4 * m + 2, d), divide_elem<T, FAST>(w, 4 * m + 3, d));
        codes[m] = lo | hi << 16;
    }
}

/* Encodes the task's rows and stores the codes, 16 per lane and row. Row t's scale and the
 * reciprocal of its fp8block_divider are lane `first + t`'s `scale` and `reciprocal` (each
 * lane makes one row's: quantize_rows_1x128), taken by shuffle where they are used. raw[t] is
 * row r0 + t·STRIDE (load_task's), and `lane` the lane's place along the row. */
template <fp8block_dtype T, int ROWS, bool EDGE, bool ALIGNED, bool FAST, int STRIDE = 1>
static __device__ __forceinline__ void encode_store_rows(const uint32_t (&raw)[ROWS][4], float scale, float reciprocal,
                                                         int first, const quantize_args &a, int64_t r0, int64_t c0,
                                                         int lane)
{
    using S = task_shape<T>;
    const int self = lane % S::G;
    const int64_t col = c0 + 16 * (lane / S::G);
#pragma unroll
    for (int k = 0; k < ROWS / S::G; k++) {
        uint32_t piece[S::G][S::W];
#pragma unroll
        for (int j = 0; j < S::G; j++) {
            const int t = k * S::G + j;
            const float row_scale = __shfl_sync(0xffffffffu, scale, first + t);
            const float row_reciprocal = __shfl_sync(0xffffffffu, reciprocal, first + t);
            encode_chunk<T, FAST>(piece[j], raw[t],
                                  FAST ? fp8block_scale_divider{row_scale, row_reciprocal, 1.0f}
                                       : fp8block_divider_with(row_scale, row_reciprocal));
        }
        lane_transpose<S::G, S::W>(piece, self); /* piece[i]: codes of the group's chunk i in row k·G + self */
        uint32_t codes[4];
#pragma unroll
        for (int i = 0; i < S::G; i++)
#pragma unroll
            for (int w = 0; w < S::W; w++) codes[i * S::W + w] = piece[i][w];
        const int64_t r = r0 + k * S::G * STRIDE + self * STRIDE;
        if (!EDGE) store_16b(a.q + r * a.ldq + col, codes);
        else if (r < a.rows) store_chunk<1, ALIGNED>(a.q + r * a.ldq, col, a.cols, codes);
    }
}

/* encode_store_rows with the prescaling left out where no lane's scale needs it (warp-uniform:
 * the lanes that hold no row's scale hold 1). A block's scale is outside that range only for
 * blocks of subnormals or of values near fp32's largest. 16-bit input only: fp32 input runs at
 * copy speed already, and its kernels reach their register limits with both paths. */
template <fp8block_dtype T, int ROWS, bool EDGE, bool ALIGNED, int STRIDE = 1>
static __device__ __forceinline__ void encode_store_task(const uint32_t (&raw)[ROWS][4], float scale, float reciprocal,
                                                         int first, const quantize_args &a, int64_t r0, int64_t c0,
                                                         int lane)
{
    if (T != FP8BLOCK_F32 && __all_sync(0xffffffffu, fp8block_scale_divides_fast(scale)))
        encode_store_rows<T, ROWS, EDGE, ALIGNED, true, STRIDE>(raw, scale, reciprocal, first, a, r0, c0, lane);
    else
        encode_store_rows<T, ROWS, EDGE, ALIGNED, false, STRIDE>(raw, scale, reciprocal, first, a, r0, c0, lane);
}

/* The 1x128 codes and scales of the task's rows, held in raw. LEAN: the paired amax (row_amax)
 * and encode_store_task's two paths. The quantize-transpose kernel, at its register limit, keeps
 * the plain ones (one row a shuffle, the general encode): with LEAN its fp16 version ran 2.4
 * points of copy slower on the H200 at 4096x7168 (bench/NOTES.md "The quantizers' encode leaner"). */
template <fp8block_dtype T, int ROWS, bool EDGE, bool ALIGNED, bool LEAN = true>
static __device__ __forceinline__ void quantize_rows_1x128(const uint32_t (&raw)[ROWS][4], const quantize_args &a,
                                                           int64_t r0, int64_t c0, int lane)
{
    using S = task_shape<T>;
    const int pow2 = (a.flags & FP8BLOCK_SCALE_POW2) != 0;
    /* Lane `sub` of a block's lanes makes row r0 + sub's scale and divider (the scale rule's
     * division and the reciprocal once a lane, not once a row: each is a call to a slow path
     * that costs registers), writes the scale (s[cb·lds + r] has rows contiguous) and lends
     * both to the block's other lanes. */
    const int sub = lane % S::LANES_PER_BLOCK, first = lane - sub;
    const int64_t cb = c0 / BLOCK + lane / S::LANES_PER_BLOCK;
    const uint32_t mine_amax = row_amax<T, ROWS, S::LANES_PER_BLOCK, LEAN>(raw, sub);
    const float mine = fp8block_block_scale(mine_amax, pow2), mine_reciprocal = fp8block_divider(mine).r;
    if (sub < ROWS && (!EDGE || (r0 + sub < a.rows && cb * BLOCK < a.cols))) a.s[cb * a.lds + r0 + sub] = mine;
    if (LEAN) encode_store_task<T, ROWS, EDGE, ALIGNED>(raw, mine, mine_reciprocal, first, a, r0, c0, lane);
    else encode_store_rows<T, ROWS, EDGE, ALIGNED, false>(raw, mine, mine_reciprocal, first, a, r0, c0, lane);
}

template <fp8block_dtype T, int ROWS, bool EDGE, bool ALIGNED>
static __device__ __forceinline__ void quantize_task_1x128(const quantize_args &a, int64_t r0, int64_t c0, int lane)
{
    uint32_t raw[ROWS][4];
    load_task<T, ROWS, EDGE, ALIGNED>(raw, a, r0, c0 + lane * task_shape<T>::E);
    quantize_rows_1x128<T, ROWS, EDGE, ALIGNED>(raw, a, r0, c0, lane);
}

/* CTAs an SM the 1x128 kernel's registers allow: 4-row tasks kept at the 5 (40 warps) that
 * 48 registers gave them before the encode had two paths; the rest at 4. */
static constexpr int ctas_per_sm_1x128(int rows) { return rows == 4 ? 5 : 4; }

/* Warps of TASK_ROWS-row tasks the GPU holds at once. */
static int64_t resident_warps_1x128(const cuda_device *dev)
{
    return (int64_t)dev->sm_count * ctas_per_sm_1x128(TASK_ROWS) * TASK_WARPS;
}

/* ROWS rows per warp: TASK_ROWS for bandwidth, fewer where the matrix is too small to give
 * every SM enough warps (see rows_per_task_1x128). */
template <fp8block_dtype T, int ROWS, bool ALIGNED>
__global__ void __launch_bounds__(TASK_WARPS * 32, ctas_per_sm_1x128(ROWS))
    quantize_1x128_kernel(const quantize_args a, int64_t col_tasks, int64_t tasks)
{
    grid_dependency_wait();
    const int64_t task = (int64_t)blockIdx.x * TASK_WARPS + threadIdx.x / 32;
    if (task >= tasks) return;
    const int lane = threadIdx.x % 32;
    const int64_t r0 = task / col_tasks * ROWS, c0 = task % col_tasks * task_shape<T>::COLS;
    if constexpr (ALIGNED) {
        if (r0 + ROWS <= a.rows && c0 + task_shape<T>::COLS <= a.cols) {
            quantize_task_1x128<T, ROWS, false, true>(a, r0, c0, lane);
            return;
        }
    }
    quantize_task_1x128<T, ROWS, true, ALIGNED>(a, r0, c0, lane);
}

/* The 1x128 quantizer in two parts: rows [0, big_rows) in TASK_ROWS-row tasks, as many as fill
 * whole waves of the resident warps, then the rest in G-row tasks (one lane-transpose group),
 * after them in the grid. Why: 8-row tasks keep the most bytes in flight a warp (16384^2 runs at
 * 97-99% of copy on them), but at 4096x7168 they make 3.4 waves, the last 40% full, so main takes
 * 4-row tasks there (5.4 waves); here the waves of big tasks are whole and what is left after
 * them is small tasks, whose last wave is a quarter as long. */
template <fp8block_dtype T, bool ALIGNED>
__global__ void __launch_bounds__(TASK_WARPS * 32, ctas_per_sm_1x128(TASK_ROWS))
    quantize_1x128_two_part_kernel(const quantize_args a, int64_t col_tasks, int64_t big_tasks, int64_t big_rows,
                                   int64_t tasks)
{
    grid_dependency_wait();
    const int64_t task = (int64_t)blockIdx.x * TASK_WARPS + threadIdx.x / 32;
    if (task >= tasks) return;
    const int lane = threadIdx.x % 32;
    constexpr int SMALL = task_shape<T>::G;
    if (task < big_tasks) {
        const int64_t r0 = task / col_tasks * TASK_ROWS, c0 = task % col_tasks * task_shape<T>::COLS;
        if (ALIGNED && c0 + task_shape<T>::COLS <= a.cols) quantize_task_1x128<T, TASK_ROWS, false, true>(a, r0, c0, lane);
        else quantize_task_1x128<T, TASK_ROWS, true, ALIGNED>(a, r0, c0, lane);
        return;
    }
    const int64_t small = task - big_tasks;
    const int64_t r0 = big_rows + small / col_tasks * SMALL, c0 = small % col_tasks * task_shape<T>::COLS;
    if (ALIGNED && r0 + SMALL <= a.rows && c0 + task_shape<T>::COLS <= a.cols)
        quantize_task_1x128<T, SMALL, false, true>(a, r0, c0, lane);
    else
        quantize_task_1x128<T, SMALL, true, ALIGNED>(a, r0, c0, lane);
}

/* Where a 128-row CTA's warp works (one CTA per 128 rows × one task's columns, warp w on rows
 * 8w..8w+7), with its 8 rows of the task loaded: raw[t] is lane l's chunk of row r0 + t. */
struct tile_rows {
    int64_t rb, c0, r0; /* the tile's 128-row band, its first column, the warp's first row */
    bool interior;      /* the warp's rows wholly inside the matrix, vector accesses allowed */
};

template <fp8block_dtype T, bool ALIGNED>
static __device__ __forceinline__ tile_rows load_tile_rows(uint32_t (&raw)[TASK_ROWS][4], const quantize_args &a,
                                                           int64_t tile_index, int64_t col_tiles, int warp, int lane)
{
    using S = task_shape<T>;
    tile_rows t;
    t.rb = tile_index / col_tiles, t.c0 = tile_index % col_tiles * S::COLS;
    t.r0 = t.rb * BLOCK + warp * TASK_ROWS;
    t.interior = ALIGNED && t.r0 + TASK_ROWS <= a.rows && t.c0 + S::COLS <= a.cols;
    if (t.interior) load_task<T, TASK_ROWS, false, true>(raw, a, t.r0, t.c0 + lane * S::E);
    else load_task<T, TASK_ROWS, true, ALIGNED>(raw, a, t.r0, t.c0 + lane * S::E);
    return t;
}

/* One 128-column block of a 16-bit tile (the tile's half `c0` starts) by a CTA of TILE_WARPS
 * warps, meeting in warp_amax[TILE_WARPS]: warp w on rows 8w..8w+7 as in a whole tile, but each half-warp on every other one of
 * them (rows 8w + h, 8w + h + 2, ...; h = lane / 16), its lanes along the block's 128 columns.
 * Half the loads and half the time of a whole tile: quantize_128x128_kernel's last wave. */
template <fp8block_dtype T, bool ALIGNED>
static __device__ __forceinline__ void quantize_half_tile(const quantize_args &a, int64_t rb, int64_t c0,
                                                          uint32_t *warp_amax, int warp, int lane)
{
    using S = task_shape<T>;
    constexpr int ROWS = TASK_ROWS / 2, STRIDE = 2;
    const int along = lane % S::LANES_PER_BLOCK;
    const int64_t r0 = rb * BLOCK + warp * TASK_ROWS, lane_r0 = r0 + lane / S::LANES_PER_BLOCK;
    const bool interior = ALIGNED && r0 + TASK_ROWS <= a.rows && c0 + BLOCK <= a.cols;
    uint32_t raw[ROWS][4];
    if (interior) load_task<T, ROWS, false, true, STRIDE>(raw, a, lane_r0, c0 + along * S::E);
    else load_task<T, ROWS, true, ALIGNED, STRIDE>(raw, a, lane_r0, c0 + along * S::E);

    uint32_t amax = 0;
#pragma unroll
    for (int t = 0; t < ROWS; t++) amax = max(amax, chunk_amax_bits<T>(raw[t]));
    amax = max_over_lanes<32>(amax);
    if (lane == 0) warp_amax[warp] = amax;
    __syncthreads();
#pragma unroll
    for (int w = 0; w < TILE_WARPS; w++) amax = max(amax, warp_amax[w]);
    const float s = fp8block_block_scale(amax, (a.flags & FP8BLOCK_SCALE_POW2) != 0);
    if (threadIdx.x == 0) a.s[rb * a.lds + c0 / BLOCK] = s;

    const float r = fp8block_divider(s).r;
    if (interior) encode_store_task<T, ROWS, false, true, STRIDE>(raw, s, r, 0, a, lane_r0, c0, along);
    else encode_store_task<T, ROWS, true, ALIGNED, STRIDE>(raw, s, r, 0, a, lane_r0, c0, along);
}

/* One CTA per 128 rows × one task's columns (one or two 128x128 blocks): each warp holds
 * 8 rows in registers while the tile's amax is agreed on. CTAs from whole_tiles on take the
 * tiles after the first whole_tiles a block each (quantize_half_tile; 16-bit input only). */
template <fp8block_dtype T, bool ALIGNED>
__global__ void __launch_bounds__(TILE_WARPS * 32, 2)
    quantize_128x128_kernel(const quantize_args a, int64_t col_tiles, int64_t whole_tiles)
{
    grid_dependency_wait();
    using S = task_shape<T>;
    __shared__ uint32_t warp_amax[TILE_WARPS][S::BLOCKS];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if constexpr (S::BLOCKS == 2) {
        if (blockIdx.x >= whole_tiles) {
            const int64_t half = blockIdx.x - whole_tiles, tile = whole_tiles + half / 2;
            const int64_t c0 = tile % col_tiles * S::COLS + half % 2 * BLOCK;
            if (c0 >= a.cols) return; /* the second half of a last tile one block wide */
            quantize_half_tile<T, ALIGNED>(a, tile / col_tiles, c0, &warp_amax[0][0], warp, lane);
            return;
        }
    }
    uint32_t raw[TASK_ROWS][4];
    const tile_rows tile = load_tile_rows<T, ALIGNED>(raw, a, blockIdx.x, col_tiles, warp, lane);
    const int64_t rb = tile.rb, c0 = tile.c0, r0 = tile.r0;
    const bool interior = tile.interior;

    uint32_t amax = 0;
#pragma unroll
    for (int t = 0; t < TASK_ROWS; t++) amax = max(amax, chunk_amax_bits<T>(raw[t]));
    amax = max_over_lanes<S::LANES_PER_BLOCK>(amax);
    const int block_in_task = lane / S::LANES_PER_BLOCK;
    if (lane % S::LANES_PER_BLOCK == 0) warp_amax[warp][block_in_task] = amax;
    __syncthreads();
#pragma unroll
    for (int w = 0; w < TILE_WARPS; w++) amax = max(amax, warp_amax[w][block_in_task]);
    const float s = fp8block_block_scale(amax, (a.flags & FP8BLOCK_SCALE_POW2) != 0);
    const int64_t cb = c0 / BLOCK + block_in_task;
    if (warp == 0 && lane % S::LANES_PER_BLOCK == 0 && cb * BLOCK < a.cols) a.s[rb * a.lds + cb] = s;

    /* Every row has its block's scale, which every lane of the block holds. */
    const float r = fp8block_divider(s).r;
    const int first = lane - lane % S::LANES_PER_BLOCK;
    if (interior) encode_store_task<T, TASK_ROWS, false, true>(raw, s, r, first, a, r0, c0, lane);
    else encode_store_task<T, TASK_ROWS, true, ALIGNED>(raw, s, r, first, a, r0, c0, lane);
}

/* ---- quantize-transpose: x's and xᵀ's 1x128 quantizations from one read ---------------- */

/* Where column c's codes of the tile's rows 8w..8w+7 (warp w's) are staged: 16 slots of 8
 * bytes a column, slot w XOR the lane that owns c. Encoding, the 16 lanes that store at once
 * (one k, one warp) then hit 16 different 8-byte bank pairs; reading out, the 16 slots of a
 * column are the 16 pairs. Either way a warp's 256 bytes take the two wavefronts they need. */
template <fp8block_dtype T> static __device__ __forceinline__ int staged_slot(int c, int w)
{
    return c * TILE_WARPS + (w ^ (c / task_shape<T>::E % TILE_WARPS));
}

/* xᵀ's 1x128 blocks run down x's columns: a column's 128 rows of the tile. A CTA holds the
 * tile as quantize_128x128_kernel does (warp w rows 8w..8w+7, lane l the E columns from
 * l·E of each), so x's own codes and scales (when asked for) are quantize_rows_1x128's from
 * the same registers. For xᵀ each warp leaves its 8 rows' amax of every column in shared
 * memory (in the staging buffer, free until the codes), one thread a column takes the
 * maximum of the 16 and the scale, then each lane encodes the 8 rows of each of its columns
 * into 8 bytes of xᵀ's row, staged so that 16 lanes store 128 consecutive bytes of a row of
 * xᵀ. x is read from memory once. */
template <fp8block_dtype T, bool ALIGNED>
__global__ void __launch_bounds__(TILE_WARPS * 32, 2)
    quantize_1x128_transpose_kernel(const quantize_transpose_args a, int64_t col_tiles)
{
    grid_dependency_wait();
    using S = task_shape<T>;
    __shared__ fp8block_scale_divider column_divider[S::COLS];
    __shared__ uint2 staged[S::COLS * TILE_WARPS];
    uint32_t(*warp_amax)[S::COLS] = reinterpret_cast<uint32_t(*)[S::COLS]>(staged); /* [warp][column] */
    static_assert(sizeof(uint32_t) * TILE_WARPS * S::COLS <= sizeof staged, "the amaxes fit the staging buffer");
    const quantize_args &x = a.rows;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t raw[TASK_ROWS][4];
    const tile_rows tile = load_tile_rows<T, ALIGNED>(raw, x, blockIdx.x, col_tiles, warp, lane);
    const int64_t rb = tile.rb, c0 = tile.c0, r0 = tile.r0;
    const bool interior = tile.interior;
    if (x.q) {
        if (interior) quantize_rows_1x128<T, TASK_ROWS, false, true, false>(raw, x, r0, c0, lane);
        else quantize_rows_1x128<T, TASK_ROWS, true, ALIGNED, false>(raw, x, r0, c0, lane);
    }

    /* This warp's 8 rows of each of the lane's columns; rows and columns past the matrix
     * were loaded as zeros, which no amax notices. */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        if constexpr (T == FP8BLOCK_F32) {
            uint32_t m = 0;
#pragma unroll
            for (int t = 0; t < TASK_ROWS; t++) m = max(m, raw[t][j] & 0x7fffffffu);
            warp_amax[warp][lane * S::E + j] = m;
        } else {
            uint32_t m = 0; /* two columns' 16-bit patterns, as chunk_amax_bits takes them */
#pragma unroll
            for (int t = 0; t < TASK_ROWS; t++) m = __vmaxu2(m, raw[t][j] & 0x7fff7fffu);
            warp_amax[warp][lane * S::E + 2 * j] = __float_as_uint(f32_from_16bit<T>(m & 0xffffu));
            warp_amax[warp][lane * S::E + 2 * j + 1] = __float_as_uint(f32_from_16bit<T>(m >> 16));
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < S::COLS; c += TILE_WARPS * 32) {
        uint32_t amax = 0;
#pragma unroll
        for (int w = 0; w < TILE_WARPS; w++) amax = max(amax, warp_amax[w][c]);
        const float s = fp8block_block_scale(amax, (x.flags & FP8BLOCK_SCALE_POW2) != 0);
        column_divider[c] = fp8block_divider(s);
        if (c0 + c < x.cols) a.st[rb * a.ldst + c0 + c] = s;
    }
    __syncthreads();

#pragma unroll
    for (int k = 0; k < S::E; k++) {
        const fp8block_scale_divider d = column_divider[lane * S::E + k];
        uint32_t half[2];
#pragma unroll
        for (int h = 0; h < 2; h++)
            half[h] = e4m3x2_from_f32(fp8block_divide(chunk_elem<T>(raw[4 * h], k), d),
                                      fp8block_divide(chunk_elem<T>(raw[4 * h + 1], k), d)) |
                      e4m3x2_from_f32(fp8block_divide(chunk_elem<T>(raw[4 * h + 2], k), d),
                                      fp8block_divide(chunk_elem<T>(raw[4 * h + 3], k), d))
                          << 16;
        staged[staged_slot<T>(lane * S::E + k, warp)] = make_uint2(half[0], half[1]);
    }
    __syncthreads();

    /* Row c0 + c of xᵀ gets 8 codes at column rb·128 + 8w from slot (c, w). */
    for (int i = threadIdx.x; i < S::COLS * TILE_WARPS; i += TILE_WARPS * 32) {
        const int c = i / TILE_WARPS, w = i % TILE_WARPS;
        const int64_t row0 = rb * BLOCK + TASK_ROWS * w;
        if (c0 + c >= x.cols || row0 >= x.rows) continue;
        const uint2 codes = staged[staged_slot<T>(c, w)];
        uint8_t *out = a.qt + (c0 + c) * a.ldqt + row0;
        if (ALIGNED && row0 + TASK_ROWS <= x.rows) {
            *reinterpret_cast<uint2 *>(out) = codes;
        } else {
#pragma unroll
            for (int r = 0; r < TASK_ROWS; r++)
                if (row0 + r < x.rows) out[r] = (uint8_t)((r < 4 ? codes.x : codes.y) >> (8 * (r % 4)));
        }
    }
}

/* ---- dequantize ---------------------------------------------------------------------- */

/* E codes to E elements of T: float(q) * s in fp32, rounded to T to nearest even. */
template <fp8block_dtype T>
static __device__ __forceinline__ void decode_chunk(uint32_t (&out)[4], const uint32_t (&codes)[task_shape<T>::W],
                                                    float s)
{
#pragma unroll
    for (int m = 0; m < task_shape<T>::W; m++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const float2 v = f32x2_from_e4m3x2(codes[m] >> (16 * h));
            const float y0 = v.x * s, y1 = v.y * s;
            if constexpr (T == FP8BLOCK_F32) {
                out[4 * m + 2 * h] = __float_as_uint(y0);
                out[4 * m + 2 * h + 1] = __float_as_uint(y1);
            } else {
                out[2 * m + h] = pack2_from_f32<T>(y0, y1);
            }
        }
    }
}

template <fp8block_dtype T, fp8block_block B, bool EDGE, bool ALIGNED>
static __device__ __forceinline__ void dequantize_task(const dequantize_args &a, int64_t r0, int64_t c0, int lane)
{
    using S = task_shape<T>;
    constexpr int BYTES = elem_bytes<T>();
    constexpr int GROUPS = TASK_ROWS / S::G;
    const int self = lane % S::G;
    const int64_t load_col = c0 + 16 * (lane / S::G); /* 16 codes of row k·G + self */
    const int64_t col = c0 + S::E * lane;              /* E outputs of each row, after the transpose */
    const int64_t cb = col / BLOCK;
    const bool col_inside = !EDGE || col < a.cols;

    uint32_t codes[GROUPS][4];
#pragma unroll
    for (int k = 0; k < GROUPS; k++) {
        const int64_t r = r0 + k * S::G + self;
        if (!EDGE) {
            load_16b_streaming(codes[k], a.q + r * a.ldq + load_col);
        } else if (r < a.rows) {
            load_chunk<1, ALIGNED>(codes[k], a.q + r * a.ldq, load_col, a.cols);
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) codes[k][i] = 0;
        }
    }

    float scale[TASK_ROWS];
    if constexpr (B == FP8BLOCK_BLOCK_1x128) {
#pragma unroll
        for (int t = 0; t < TASK_ROWS; t++)
            scale[t] = col_inside && (!EDGE || r0 + t < a.rows) ? a.s[cb * a.lds + r0 + t] : 0.0f;
    } else {
        const float s = col_inside && (!EDGE || r0 < a.rows) ? a.s[r0 / BLOCK * a.lds + cb] : 0.0f;
#pragma unroll
        for (int t = 0; t < TASK_ROWS; t++) scale[t] = s;
    }

    uint8_t *y = static_cast<uint8_t *>(a.y);
#pragma unroll
    for (int k = 0; k < GROUPS; k++) {
        uint32_t piece[S::G][S::W];
#pragma unroll
        for (int i = 0; i < S::G; i++)
#pragma unroll
            for (int w = 0; w < S::W; w++) piece[i][w] = codes[k][i * S::W + w];
        lane_transpose<S::G, S::W>(piece, self); /* piece[j]: the E codes at `col` of row k·G + j */
#pragma unroll
        for (int j = 0; j < S::G; j++) {
            const int t = k * S::G + j;
            uint32_t out[4];
            decode_chunk<T>(out, piece[j], scale[t]);
            const int64_t r = r0 + t;
            if (!EDGE) store_16b(y + (r * a.ldy + col) * BYTES, out);
            else if (r < a.rows) store_chunk<BYTES, ALIGNED>(y + r * a.ldy * BYTES, col, a.cols, out);
        }
    }
}

template <fp8block_dtype T, fp8block_block B, bool ALIGNED>
__global__ void __launch_bounds__(TASK_WARPS * 32)
    dequantize_kernel(const dequantize_args a, int64_t col_tasks, int64_t tasks)
{
    grid_dependency_wait();
    const int64_t task = (int64_t)blockIdx.x * TASK_WARPS + threadIdx.x / 32;
    if (task >= tasks) return;
    const int lane = threadIdx.x % 32;
    const int64_t r0 = task / col_tasks * TASK_ROWS, c0 = task % col_tasks * task_shape<T>::COLS;
    if constexpr (ALIGNED) {
        if (r0 + TASK_ROWS <= a.rows && c0 + task_shape<T>::COLS <= a.cols) {
            dequantize_task<T, B, false, true>(a, r0, c0, lane);
            return;
        }
    }
    dequantize_task<T, B, true, ALIGNED>(a, r0, c0, lane);
}

/* ---- host ---------------------------------------------------------------------------- */

static bool rows_aligned16(const void *base, int64_t ld, int64_t elem_size)
{
    return (uintptr_t)base % 16 == 0 && ld * elem_size % 16 == 0;
}

/* *attribute must live until the launch (it allows an early start, launch_order.cuh). */
static cudaError_t config_grid(cudaLaunchConfig_t *cfg, cudaLaunchAttribute *attribute, int64_t ctas, int threads,
                               cudaStream_t stream)
{
    if (ctas > INT_MAX) return cudaErrorInvalidConfiguration;
    cfg->gridDim = dim3((unsigned)ctas);
    cfg->blockDim = dim3((unsigned)threads);
    cfg->dynamicSmemBytes = 0;
    cfg->stream = stream;
    *attribute = early_launch_attribute();
    cfg->attrs = attribute;
    cfg->numAttrs = 1;
    return cudaSuccess;
}

template <fp8block_dtype T, int ROWS, bool ALIGNED>
static cudaError_t launch_quantize_1x128(const quantize_args &a, int64_t col_tasks, cudaStream_t stream)
{
    const int64_t tasks = fp8block_ceil_div(a.rows, ROWS) * col_tasks;
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attribute;
    cudaError_t err = config_grid(&cfg, &attribute, fp8block_ceil_div(tasks, TASK_WARPS), TASK_WARPS * 32, stream);
    if (err != cudaSuccess) return err;
    return cudaLaunchKernelEx(&cfg, quantize_1x128_kernel<T, ROWS, ALIGNED>, a, col_tasks, tasks);
}

/* The two-part launch where whole waves of 8-row tasks cover some rows (else false, and the
 * caller takes 4-row tasks). big_rows is a multiple of TASK_ROWS and at most the matrix's rows,
 * so every big task lies inside them (its kernel checks no row end there). */
template <fp8block_dtype T, bool ALIGNED>
static bool launch_quantize_1x128_two_part(const cuda_device *dev, const quantize_args &a, int64_t col_tasks,
                                           cudaStream_t stream, cudaError_t *err)
{
    const int64_t resident_warps = resident_warps_1x128(dev);
    const int64_t big_waves = a.rows / TASK_ROWS * col_tasks / resident_warps;
    const int64_t big_bands = big_waves * resident_warps / col_tasks;
    if (big_bands == 0) return false;
    const int64_t big_rows = big_bands * TASK_ROWS, big_tasks = big_bands * col_tasks;
    const int64_t tasks = big_tasks + fp8block_ceil_div(a.rows - big_rows, task_shape<T>::G) * col_tasks;
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attribute;
    *err = config_grid(&cfg, &attribute, fp8block_ceil_div(tasks, TASK_WARPS), TASK_WARPS * 32, stream);
    if (*err == cudaSuccess)
        *err = cudaLaunchKernelEx(&cfg, quantize_1x128_two_part_kernel<T, ALIGNED>, a, col_tasks, big_tasks, big_rows,
                                  tasks);
    return true;
}

/* Rows per 1x128 warp task. Eight keep 8 loads in flight per lane, which the largest
 * matrices need to reach copy bandwidth. Fewer tasks than the GPU holds warps (a decode
 * step's activations, 128×7168) leave SMs idle and each warp's chain of divisions exposed:
 * there one lane-transpose group (G rows) per warp. In between (4096×7168), four rows
 * balance the two and shorten the last wave. Measured on an H100: bench/NOTES.md. */
template <fp8block_dtype T> static int rows_per_task_1x128(const cuda_device *dev, int64_t rows, int64_t col_tasks)
{
    const int64_t resident_warps = resident_warps_1x128(dev);
    const int64_t tasks = fp8block_ceil_div(rows, TASK_ROWS) * col_tasks;
    if (tasks < resident_warps) return task_shape<T>::G;
    return tasks < 16 * resident_warps ? 4 : TASK_ROWS;
}

/* The 128x128 tiles run whole; the rest in halves, a block a CTA (16-bit input, whose tiles
 * are two blocks wide). Two CTAs an SM run at once, so a launch is waves of 2·SMs tiles; where
 * the last wave would be half full or less, its tiles in halves make a wave as full and half as
 * long (4096x7168: 896 tiles, 3 whole waves of 264, then 208 halves in one). Where even the
 * first wave is half full (128x7168: 28 tiles), every tile is halved. */
template <fp8block_dtype T> static int64_t whole_tiles_128x128(const cuda_device *dev, int64_t tiles)
{
    if (task_shape<T>::BLOCKS != 2) return tiles;
    const int64_t wave = (int64_t)dev->sm_count * 2, last = tiles % wave;
    return last != 0 && 2 * last <= wave ? tiles - last : tiles;
}

template <fp8block_dtype T, bool ALIGNED>
static cudaError_t launch_quantize(const cuda_device *dev, const quantize_args &a, cudaStream_t stream)
{
    const int64_t col_tasks = fp8block_ceil_div(a.cols, task_shape<T>::COLS);
    if (a.block == FP8BLOCK_BLOCK_1x128) {
        switch (rows_per_task_1x128<T>(dev, a.rows, col_tasks)) {
        case TASK_ROWS: return launch_quantize_1x128<T, TASK_ROWS, ALIGNED>(a, col_tasks, stream);
        case 4: {
            cudaError_t err;
            if (launch_quantize_1x128_two_part<T, ALIGNED>(dev, a, col_tasks, stream, &err)) return err;
            return launch_quantize_1x128<T, 4, ALIGNED>(a, col_tasks, stream);
        }
        default: return launch_quantize_1x128<T, task_shape<T>::G, ALIGNED>(a, col_tasks, stream);
        }
    }
    const int64_t tiles = fp8block_ceil_div(a.rows, BLOCK) * col_tasks;
    const int64_t whole_tiles = whole_tiles_128x128<T>(dev, tiles);
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attribute;
    cudaError_t err = config_grid(&cfg, &attribute, whole_tiles + 2 * (tiles - whole_tiles), TILE_WARPS * 32, stream);
    if (err != cudaSuccess) return err;
    return cudaLaunchKernelEx(&cfg, quantize_128x128_kernel<T, ALIGNED>, a, col_tasks, whole_tiles);
}

template <fp8block_dtype T, bool ALIGNED>
static cudaError_t launch_quantize_transpose(const quantize_transpose_args &a, cudaStream_t stream)
{
    const int64_t col_tiles = fp8block_ceil_div(a.rows.cols, task_shape<T>::COLS);
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attribute;
    cudaError_t err =
        config_grid(&cfg, &attribute, fp8block_ceil_div(a.rows.rows, BLOCK) * col_tiles, TILE_WARPS * 32, stream);
    if (err != cudaSuccess) return err;
    return cudaLaunchKernelEx(&cfg, quantize_1x128_transpose_kernel<T, ALIGNED>, a, col_tiles);
}

template <fp8block_dtype T, bool ALIGNED>
static cudaError_t launch_dequantize(const dequantize_args &a, cudaStream_t stream)
{
    const int64_t col_tasks = fp8block_ceil_div(a.cols, task_shape<T>::COLS);
    const int64_t tasks = fp8block_ceil_div(a.rows, TASK_ROWS) * col_tasks;
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attribute;
    cudaError_t err = config_grid(&cfg, &attribute, fp8block_ceil_div(tasks, TASK_WARPS), TASK_WARPS * 32, stream);
    if (err != cudaSuccess) return err;
    if (a.block == FP8BLOCK_BLOCK_1x128)
        return cudaLaunchKernelEx(&cfg, dequantize_kernel<T, FP8BLOCK_BLOCK_1x128, ALIGNED>, a, col_tasks, tasks);
    return cudaLaunchKernelEx(&cfg, dequantize_kernel<T, FP8BLOCK_BLOCK_128x128, ALIGNED>, a, col_tasks, tasks);
}

template <fp8block_dtype T>
static cudaError_t quantize_as(const cuda_device *dev, const quantize_args &a, cudaStream_t stream)
{
    const bool aligned = rows_aligned16(a.x, a.ldx, elem_bytes<T>()) && rows_aligned16(a.q, a.ldq, 1);
    return aligned ? launch_quantize<T, true>(dev, a, stream) : launch_quantize<T, false>(dev, a, stream);
}

/* Vector accesses need x's, q's (when written) and qt's rows 16-byte aligned. */
template <fp8block_dtype T>
static cudaError_t quantize_transpose_as(const cuda_device *dev, const quantize_transpose_args &a,
                                         cudaStream_t stream)
{
    (void)dev;
    const quantize_args &x = a.rows;
    const bool aligned = rows_aligned16(x.x, x.ldx, elem_bytes<T>()) && (!x.q || rows_aligned16(x.q, x.ldq, 1)) &&
                         rows_aligned16(a.qt, a.ldqt, 1);
    return aligned ? launch_quantize_transpose<T, true>(a, stream) : launch_quantize_transpose<T, false>(a, stream);
}

template <fp8block_dtype T>
static cudaError_t dequantize_as(const cuda_device *dev, const dequantize_args &a, cudaStream_t stream)
{
    (void)dev;
    const bool aligned = rows_aligned16(a.q, a.ldq, 1) && rows_aligned16(a.y, a.ldy, elem_bytes<T>());
    return aligned ? launch_dequantize<T, true>(a, stream) : launch_dequantize<T, false>(a, stream);
}

/* Launches for an element type (F32, BF16, F16: the API layer lets no other through),
 * with dev current, leaving the caller's device as it was. */
template <typename Args>
static fp8block_status launch_on(cuda_device *dev, cudaError_t (*launch)(const cuda_device *, const Args &, cudaStream_t),
                                 const Args &a, void *stream, const char *what)
{
    device_scope scope;
    fp8block_status st = device_scope_enter(dev, &scope);
    if (st != FP8BLOCK_OK) return st;
    st = cuda_check(launch(dev, a, static_cast<cudaStream_t>(stream)), what);
    device_scope_leave(&scope);
    return st;
}

fp8block_status cuda_quantize(cuda_device *dev, const quantize_args *args, void *stream)
{
    static cudaError_t (*const by_type[])(const cuda_device *, const quantize_args &, cudaStream_t) = {
        quantize_as<FP8BLOCK_F32>, quantize_as<FP8BLOCK_BF16>, quantize_as<FP8BLOCK_F16>};
    return launch_on(dev, by_type[args->xtype], *args, stream, "launching the quantization kernel");
}

/* Without xᵀ's outputs it is the plain 1x128 quantization. */
fp8block_status cuda_quantize_transpose(cuda_device *dev, const quantize_transpose_args *args, void *stream)
{
    if (!args->qt) return cuda_quantize(dev, &args->rows, stream);
    static cudaError_t (*const by_type[])(const cuda_device *, const quantize_transpose_args &, cudaStream_t) = {
        quantize_transpose_as<FP8BLOCK_F32>, quantize_transpose_as<FP8BLOCK_BF16>, quantize_transpose_as<FP8BLOCK_F16>};
    return launch_on(dev, by_type[args->rows.xtype], *args, stream, "launching the quantize-transpose kernel");
}

fp8block_status cuda_dequantize(cuda_device *dev, const dequantize_args *args, void *stream)
{
    static cudaError_t (*const by_type[])(const cuda_device *, const dequantize_args &, cudaStream_t) = {
        dequantize_as<FP8BLOCK_F32>, dequantize_as<FP8BLOCK_BF16>, dequantize_as<FP8BLOCK_F16>};
    return launch_on(dev, by_type[args->ytype], *args, stream, "launching the dequantization kernel");
}
