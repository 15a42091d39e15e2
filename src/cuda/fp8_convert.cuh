/* Number conversions of the GPU quantizer, bit for bit those of src/cpu/codec.h:
 * fp32 to e4m3 (nearest even, finite values saturate to ±448), e4m3 to fp32 (exact),
 * fp32 to bf16/f16 (nearest even), and the elements of a 16-byte chunk of bf16, f16 or
 * f32 read as exact fp32. A chunk is kept as four 32-bit words whatever its type, so
 * every input type costs the same registers. */
#ifndef FP8BLOCK_FP8_CONVERT_CUH
#define FP8BLOCK_FP8_CONVERT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "fp8block.h"

template <fp8block_dtype T> __host__ __device__ constexpr int elem_bytes() { return T == FP8BLOCK_F32 ? 4 : 2; }
/* Elements in 16 bytes: 8 for bf16/f16, 4 for f32. */
template <fp8block_dtype T> __host__ __device__ constexpr int elems_per_chunk() { return 16 / elem_bytes<T>(); }

/* Two fp32 to two e4m3 codes; `lo` lands in the low byte (the lower address). */
static __device__ __forceinline__ uint32_t e4m3x2_from_f32(float lo, float hi)
{
    uint16_t codes;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(codes) : "f"(hi), "f"(lo));
    return codes;
}

/* The two e4m3 codes in the low 16 bits of `codes` (low byte first) to exact fp32. */
static __device__ __forceinline__ float2 f32x2_from_e4m3x2(uint32_t codes)
{
    uint32_t halves;
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(halves) : "h"((uint16_t)codes));
    return make_float2(__half2float(__ushort_as_half((unsigned short)(halves & 0xffffu))),
                       __half2float(__ushort_as_half((unsigned short)(halves >> 16))));
}

/* A bf16 or f16 bit pattern (low 16 bits of h) as fp32. */
template <fp8block_dtype T> static __device__ __forceinline__ float f32_from_16bit(uint32_t h)
{
    if constexpr (T == FP8BLOCK_BF16) return __uint_as_float(h << 16);
    else return __half2float(__ushort_as_half((unsigned short)h));
}

/* Element k (a compile-time constant after unrolling) of a chunk, as fp32. */
template <fp8block_dtype T> static __device__ __forceinline__ float chunk_elem(const uint32_t (&w)[4], int k)
{
    if constexpr (T == FP8BLOCK_F32) return __uint_as_float(w[k]);
    else return f32_from_16bit<T>((k & 1) ? w[k >> 1] >> 16 : w[k >> 1] & 0xffffu);
}

/* max |x| of a chunk of a 16-bit type as its 16-bit pattern: the unsigned order of |x|'s
 * patterns is their numeric order, NaN and inf on top, as scale_rule.h's amax order wants. */
template <fp8block_dtype T> static __device__ __forceinline__ uint32_t chunk_amax_16bit(const uint32_t (&w)[4])
{
    const uint32_t abs_mask = 0x7fff7fffu;
    uint32_t m = __vmaxu2(__vmaxu2(w[0] & abs_mask, w[1] & abs_mask), __vmaxu2(w[2] & abs_mask, w[3] & abs_mask));
    return max(m & 0xffffu, m >> 16);
}

/* A 16-bit |x| pattern as fp32 bits (exact, order kept). */
template <fp8block_dtype T> static __device__ __forceinline__ uint32_t amax_bits_from_16bit(uint32_t h)
{
    return __float_as_uint(f32_from_16bit<T>(h));
}

/* max |x| of a chunk as fp32 bits (scale_rule.h's amax order: NaN and inf on top). For
 * 16-bit types the maximum is taken on the 16-bit patterns, two at a time, and widened once. */
template <fp8block_dtype T> static __device__ __forceinline__ uint32_t chunk_amax_bits(const uint32_t (&w)[4])
{
    if constexpr (T == FP8BLOCK_F32)
        return max(max(w[0] & 0x7fffffffu, w[1] & 0x7fffffffu), max(w[2] & 0x7fffffffu, w[3] & 0x7fffffffu));
    else
        return amax_bits_from_16bit<T>(chunk_amax_16bit<T>(w));
}

/* Two fp32 rounded to nearest even into two elements of T (16-bit types), low first. */
template <fp8block_dtype T> static __device__ __forceinline__ uint32_t pack2_from_f32(float lo, float hi)
{
    if constexpr (T == FP8BLOCK_BF16) {
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return (uint32_t)__bfloat16_as_ushort(v.x) | (uint32_t)__bfloat16_as_ushort(v.y) << 16;
    } else {
        __half2 v = __floats2half2_rn(lo, hi);
        return (uint32_t)__half_as_ushort(v.x) | (uint32_t)__half_as_ushort(v.y) << 16;
    }
}

#endif
