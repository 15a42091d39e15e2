/* The training layouts on the GPU (docs/DESIGN.md §1.7), bit for bit the CPU reference
 * (src/cpu/transpose.c): the scale rule of scale_rule.h, IEEE x / s, cvt.rn.satfinite.
 *
 * First versions, written for plain correctness and not yet measured:
 * - xᵀ's 1x128 quantization: a CTA takes a tile of 128 rows × 32 columns of x (coalesced
 *   loads: a warp reads 32 neighbouring elements of a row), reduces each column's amax
 *   through shared memory, encodes, and writes the tile's codes through shared memory so
 *   that consecutive threads write consecutive bytes of a row of xᵀ. x's own quantization
 *   (q, s) is the existing quantize kernel: x is read twice, not once.
 * - The 128x128 transpose: 32x32 byte tiles through shared memory; the scale grid by one
 *   thread per scale. */
#include "device.h"
#include "fp8_convert.cuh"
#include "scale_rule.h"

enum { QT_ROWS = 128, QT_COLS = 32, QT_THREADS = 256, QT_PER_THREAD = QT_ROWS / (QT_THREADS / QT_COLS) };

template <fp8block_dtype T>
static __device__ __forceinline__ float load_as_f32(const void *x, int64_t at)
{
    if constexpr (T == FP8BLOCK_F32) return static_cast<const float *>(x)[at];
    else {
        const unsigned short h = static_cast<const unsigned short *>(x)[at];
        if constexpr (T == FP8BLOCK_BF16) return __uint_as_float((uint32_t)h << 16);
        else return __half2float(__ushort_as_half(h));
    }
}

/* One 128 x 32 tile: thread (column c = tid % 32, row group g = tid / 32) holds rows
 * g, g + 8, ..., g + 120 of column c. */
template <fp8block_dtype T>
__global__ void __launch_bounds__(QT_THREADS) quantize_transposed_kernel(const quantize_transpose_args a)
{
    __shared__ uint32_t amax_part[QT_THREADS / QT_COLS][QT_COLS];
    __shared__ float scale_of[QT_COLS];
    __shared__ uint8_t codes[QT_COLS][QT_ROWS];
    const int c = threadIdx.x % QT_COLS, g = threadIdx.x / QT_COLS;
    const int64_t r0 = (int64_t)blockIdx.y * QT_ROWS, c0 = (int64_t)blockIdx.x * QT_COLS;
    const quantize_args &x = a.rows;
    float v[QT_PER_THREAD];
    uint32_t amax = 0;
#pragma unroll
    for (int k = 0; k < QT_PER_THREAD; k++) {
        const int64_t r = r0 + g + 8 * k;
        v[k] = (r < x.rows && c0 + c < x.cols) ? load_as_f32<T>(x.x, r * x.ldx + c0 + c) : 0.0f;
        amax = max(amax, fp8block_abs_bits(v[k]));
    }
    amax_part[g][c] = amax;
    __syncthreads();
    if (g == 0) {
#pragma unroll
        for (int i = 1; i < QT_THREADS / QT_COLS; i++) amax = max(amax, amax_part[i][c]);
        const float s = fp8block_block_scale(amax, (x.flags & FP8BLOCK_SCALE_POW2) != 0);
        scale_of[c] = s;
        if (c0 + c < x.cols) a.st[(int64_t)blockIdx.y * a.ldst + c0 + c] = s;
    }
    __syncthreads();
    const float s = scale_of[c];
#pragma unroll
    for (int k = 0; k < QT_PER_THREAD; k++) codes[c][g + 8 * k] = (uint8_t)e4m3x2_from_f32(v[k] / s, 0.0f);
    __syncthreads();
    /* Out: row c0 + col of xᵀ gets the tile's 128 codes of that column, bytes in order. */
    for (int i = threadIdx.x; i < QT_COLS * QT_ROWS; i += QT_THREADS) {
        const int col = i / QT_ROWS, row = i % QT_ROWS;
        if (c0 + col < x.cols && r0 + row < x.rows) a.qt[(c0 + col) * a.ldqt + r0 + row] = codes[col][row];
    }
}

template <fp8block_dtype T>
static cudaError_t quantize_transposed_as(const quantize_transpose_args &a, cudaStream_t stream)
{
    const dim3 grid((unsigned)((a.rows.cols + QT_COLS - 1) / QT_COLS), (unsigned)((a.rows.rows + QT_ROWS - 1) / QT_ROWS));
    quantize_transposed_kernel<T><<<grid, QT_THREADS, 0, stream>>>(a);
    return cudaGetLastError();
}

fp8block_status cuda_quantize_transpose(cuda_device *dev, const quantize_transpose_args *args, void *stream)
{
    if ((args->rows.rows + QT_ROWS - 1) / QT_ROWS > 65535)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "quantize-transpose on the GPU takes at most %d rows",
                             65535 * QT_ROWS);
    if (args->rows.q) {
        fp8block_status st = cuda_quantize(dev, &args->rows, stream);
        if (st != FP8BLOCK_OK || !args->qt) return st;
    }
    device_scope scope;
    fp8block_status st = device_scope_enter(dev, &scope);
    if (st != FP8BLOCK_OK) return st;
    static cudaError_t (*const by_type[])(const quantize_transpose_args &, cudaStream_t) = {
        quantize_transposed_as<FP8BLOCK_F32>, quantize_transposed_as<FP8BLOCK_BF16>,
        quantize_transposed_as<FP8BLOCK_F16>};
    st = cuda_check(by_type[args->rows.xtype](*args, static_cast<cudaStream_t>(stream)),
                    "launching the transposed quantization kernel");
    device_scope_leave(&scope);
    return st;
}

enum { TILE = 32, TILE_ROWS_PER_PASS = 8 };

__global__ void __launch_bounds__(TILE * TILE_ROWS_PER_PASS) transpose_codes_kernel(const transpose_args a)
{
    __shared__ uint8_t tile[TILE][TILE + 1];
    const int64_t r0 = (int64_t)blockIdx.y * TILE, c0 = (int64_t)blockIdx.x * TILE;
    const int tx = threadIdx.x % TILE, ty = threadIdx.x / TILE;
    for (int k = ty; k < TILE; k += TILE_ROWS_PER_PASS)
        if (r0 + k < a.rows && c0 + tx < a.cols) tile[k][tx] = a.q[(r0 + k) * a.ldq + c0 + tx];
    __syncthreads();
    for (int k = ty; k < TILE; k += TILE_ROWS_PER_PASS)
        if (c0 + k < a.cols && r0 + tx < a.rows) a.qt[(c0 + k) * a.ldqt + r0 + tx] = tile[tx][k];
}

__global__ void transpose_scales_kernel(const transpose_args a, int row_blocks, int col_blocks)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= row_blocks * col_blocks) return;
    const int rb = i / col_blocks, cb = i % col_blocks;
    a.st[cb * a.ldst + rb] = a.s[rb * a.lds + cb];
}

fp8block_status cuda_transpose_128x128(cuda_device *dev, const transpose_args *args, void *stream)
{
    if ((args->rows + TILE - 1) / TILE > 65535)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "the 128x128 transpose on the GPU takes at most %d rows",
                             65535 * TILE);
    device_scope scope;
    fp8block_status st = device_scope_enter(dev, &scope);
    if (st != FP8BLOCK_OK) return st;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const dim3 grid((unsigned)((args->cols + TILE - 1) / TILE), (unsigned)((args->rows + TILE - 1) / TILE));
    transpose_codes_kernel<<<grid, TILE * TILE_ROWS_PER_PASS, 0, s>>>(*args);
    const int row_blocks = (int)((args->rows + 127) / 128), col_blocks = (int)((args->cols + 127) / 128);
    transpose_scales_kernel<<<(row_blocks * col_blocks + 255) / 256, 256, 0, s>>>(*args, row_blocks, col_blocks);
    st = cuda_check(cudaGetLastError(), "launching the 128x128 transpose kernels");
    device_scope_leave(&scope);
    return st;
}
