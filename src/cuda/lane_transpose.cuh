/* A G×G transpose across G adjacent lanes of a warp (G = 2 or 4), by shuffles.
 *
 * Why: the quantizer reads one 16-byte chunk of bf16/f16/f32 per lane and row, which
 * becomes 8 or 4 bytes of codes; 16-byte stores need 16 consecutive codes of one row in
 * one lane. With G rows per lane (G = bytes per input element), lane j of a group gathers
 * row j's codes from its G neighbours: every load and every store is a full 512-byte run
 * per warp. Dequantization runs the same transpose the other way. */
#ifndef FP8BLOCK_LANE_TRANSPOSE_CUH
#define FP8BLOCK_LANE_TRANSPOSE_CUH

#include <stdint.h>

/* piece[i] of the lane at index `self` in its group (self = lane % G) becomes piece[self]
 * of the group's lane i. Every lane of the warp must call it. */
template <int G, int W> static __device__ __forceinline__ void lane_transpose(uint32_t (&piece)[G][W], int self)
{
    uint32_t out[G][W]; /* round 0 keeps piece[self] in place */
#pragma unroll
    for (int i = 0; i < G; i++)
#pragma unroll
        for (int w = 0; w < W; w++) out[i][w] = piece[i][w];
#pragma unroll
    for (int k = 1; k < G; k++) {
        /* Round k: send piece[self ^ k] to lane self ^ k, which sends back its piece[self].
         * Pieces are picked and placed with selects: a run-time index into a register
         * array would move it to local memory. */
        const int other = self ^ k;
#pragma unroll
        for (int w = 0; w < W; w++) {
            uint32_t send = piece[0][w];
#pragma unroll
            for (int i = 1; i < G; i++) send = other == i ? piece[i][w] : send;
            const uint32_t got = __shfl_xor_sync(0xffffffffu, send, k);
#pragma unroll
            for (int i = 0; i < G; i++) out[i][w] = other == i ? got : out[i][w];
        }
    }
#pragma unroll
    for (int i = 0; i < G; i++)
#pragma unroll
        for (int w = 0; w < W; w++) piece[i][w] = out[i][w];
}

#endif
