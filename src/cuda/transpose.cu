/* Wᵀ from a 128x128-quantized W on the GPU (docs/DESIGN.md §1.7), bit for bit the CPU
 * reference (src/cpu/transpose.c): the codes in 32x32 byte tiles through shared memory, the
 * scale grid by one thread per scale. (xᵀ's 1x128 quantization is a quantizer: quantize.cu.) */
#include "device.h"

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
