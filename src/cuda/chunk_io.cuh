/* 16-byte chunks of a row-major matrix in global memory, as four 32-bit words.
 *
 * Inside the matrix, with 16-byte aligned rows, a chunk is one vector access. At the
 * right edge, or where the caller could not promise alignment (ALIGNED false: the API
 * asks only for naturally aligned elements), it goes element by element, and elements
 * past `cols` read as zeros and are never written. Elements are BYTES wide: 1 (e4m3),
 * 2 (bf16/f16) or 4 (f32). */
#ifndef FP8BLOCK_CHUNK_IO_CUH
#define FP8BLOCK_CHUNK_IO_CUH

#include <stdint.h>

/* The quantizer reads its input exactly once: stream it (evict-first), keep the caches
 * for what is written. */
static __device__ __forceinline__ void load_16b_streaming(uint32_t (&w)[4], const void *p)
{
    const uint4 v = __ldcs(reinterpret_cast<const uint4 *>(p));
    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
}

static __device__ __forceinline__ void store_16b(void *p, const uint32_t (&w)[4])
{
    *reinterpret_cast<uint4 *>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

/* Element k of a chunk: word and bit offset. */
template <int BYTES> static __device__ __forceinline__ uint32_t chunk_word(int k) { return (uint32_t)(k * BYTES) / 4; }
template <int BYTES> static __device__ __forceinline__ uint32_t chunk_shift(int k) { return 8u * ((uint32_t)(k * BYTES) % 4); }

/* The chunk of `row` that starts at element `col`; zeros past `cols`. */
template <int BYTES, bool ALIGNED>
static __device__ __forceinline__ void load_chunk(uint32_t (&w)[4], const uint8_t *row, int64_t col, int64_t cols)
{
    constexpr int N = 16 / BYTES;
    if (ALIGNED && col + N <= cols) {
        load_16b_streaming(w, row + col * BYTES);
        return;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) w[i] = 0;
#pragma unroll
    for (int k = 0; k < N; k++) {
        if (col + k >= cols) break;
        const uint8_t *p = row + (col + k) * BYTES;
        uint32_t bits = BYTES == 4 ? *reinterpret_cast<const uint32_t *>(p)
                        : BYTES == 2 ? *reinterpret_cast<const uint16_t *>(p)
                                     : *p;
        w[chunk_word<BYTES>(k)] |= bits << chunk_shift<BYTES>(k);
    }
}

/* Writes the chunk at element `col` of `row`, nothing past `cols`. */
template <int BYTES, bool ALIGNED>
static __device__ __forceinline__ void store_chunk(uint8_t *row, int64_t col, int64_t cols, const uint32_t (&w)[4])
{
    constexpr int N = 16 / BYTES;
    if (ALIGNED && col + N <= cols) {
        store_16b(row + col * BYTES, w);
        return;
    }
#pragma unroll
    for (int k = 0; k < N; k++) {
        if (col + k >= cols) break;
        uint8_t *p = row + (col + k) * BYTES;
        const uint32_t bits = w[chunk_word<BYTES>(k)] >> chunk_shift<BYTES>(k);
        if (BYTES == 4) *reinterpret_cast<uint32_t *>(p) = bits;
        else if (BYTES == 2) *reinterpret_cast<uint16_t *>(p) = (uint16_t)bits;
        else *p = (uint8_t)bits;
    }
}

#endif
