/* The scale rule of docs/DESIGN.md, one definition for the CPU and the GPU so that
 * both backends produce the same scale bits.
 *
 *   amax NaN or infinite  -> s = NaN (the block's codes become NaN and stay visible)
 *   amax == 0             -> s = 1
 *   otherwise             -> s = amax / 448 in IEEE fp32 (a real division), and
 *                            with FP8BLOCK_SCALE_POW2 the smallest power of two >= that;
 *                            if the division underflows to 0,
 *                            s = 1 as for an all-zero block, rather than 0 (x/0 is garbage); with
 *                            round-to-nearest that is fp32 amax <= 224·2^-149.
 *
 * amax over a block is taken as the maximum of the |x| bit patterns: for IEEE floats
 * the unsigned order of |x| bits is the numeric order, and NaN/Inf patterns sort above
 * every finite value, so the maximum propagates them (fmaxf would drop a NaN). */
#ifndef FP8BLOCK_SCALE_RULE_H
#define FP8BLOCK_SCALE_RULE_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define FP8BLOCK_HD static __host__ __device__ __forceinline__
#else
#define FP8BLOCK_HD static inline
#endif

#define FP8BLOCK_E4M3_MAX 448.0f
#define FP8BLOCK_F32_INF_BITS 0x7f800000u

FP8BLOCK_HD uint32_t fp8block_f32_bits(float f)
{
    union { float f; uint32_t u; } v;
    v.f = f;
    return v.u;
}

FP8BLOCK_HD float fp8block_f32_from_bits(uint32_t u)
{
    union { float f; uint32_t u; } v;
    v.u = u;
    return v.f;
}

/* |x| as bits: the quantity whose maximum is a block's amax. */
FP8BLOCK_HD uint32_t fp8block_abs_bits(float x) { return fp8block_f32_bits(x) & 0x7fffffffu; }

/* Smallest power of two >= s, for finite s > 0. Integer arithmetic: exact everywhere. */
FP8BLOCK_HD float fp8block_pow2_ceil(float s)
{
    uint32_t u = fp8block_f32_bits(s);
    if ((u & FP8BLOCK_F32_INF_BITS) == 0) { /* subnormal: a power of two in the mantissa */
        uint32_t p = 1;
        while (p < u) p <<= 1;
        return fp8block_f32_from_bits(p);
    }
    if (u & 0x007fffffu) u = (u & 0xff800000u) + 0x00800000u;
    return fp8block_f32_from_bits(u);
}

/* The scale of a block from the maximum of its |x| bit patterns. */
FP8BLOCK_HD float fp8block_block_scale(uint32_t amax_bits, int pow2)
{
    if (amax_bits >= FP8BLOCK_F32_INF_BITS) return fp8block_f32_from_bits(0x7fc00000u);
    if (amax_bits == 0) return 1.0f;
    float s = fp8block_f32_from_bits(amax_bits) / FP8BLOCK_E4M3_MAX;
    if (s == 0.0f) return 1.0f;
    return pow2 ? fp8block_pow2_ceil(s) : s;
}

/* x / s without a division per element, for a kernel that divides many x by one scale:
 * with r = 1/s rounded to nearest (fp8block_scale_reciprocal), q = x·r is within one ulp of
 * x / s, rem = x - q·s is exact (one fma), and q + rem·r rounded once is x / s rounded to
 * nearest (Markstein's theorem; Muller et al., Handbook of Floating-Point Arithmetic, on
 * division with a fused multiply-add). Three operations where IEEE division takes about ten
 * (a MUFU.RCP, five FFMA, a range check and a branch on sm_90).
 * It holds while nothing underflows: for 2^-60 <= s <= 2^100 (fp8block_scale_divides_fast)
 * every quotient of magnitude >= 2^-12 is x / s bit for bit; smaller ones may differ in
 * their last bits but keep the sign and stay below 2^-11, so their E4M3 code (+-0) is the
 * same. tests/cpu/test_codec.c checks both over every significand of x for a set of s.
 * rem is formed as -fma(q, s, -x), not fma(-q, s, x), so that x = -0 gives -0, not +0. */
FP8BLOCK_HD int fp8block_scale_divides_fast(float s) { return s >= 0x1p-60f && s <= 0x1p100f; }

FP8BLOCK_HD float fp8block_scale_reciprocal(float s) { return 1.0f / s; }

FP8BLOCK_HD float fp8block_divide_by_scale(float x, float s, float r)
{
    const float q = x * r;
    const float rem = -fmaf(q, s, -x);
    return fmaf(rem, r, q);
}

/* x / s for every scale a block can have, with fp8block_divide_by_scale's three operations
 * and no division: a scale outside its range (below 2^-60: a block of subnormals; above
 * 2^100: a block near fp32's largest values; at most 2^128 / 448) is first brought inside by
 * a power of two f, by which x is multiplied too. (x·f) / (s·f) is x / s: s·f is exact, and
 * so is x·f for every x of the block (|x| <= 448·s), except where x·2^-64 falls below the
 * normal range, and there |x / s| < 2^-162: both give the E4M3 zero of x's sign. A NaN
 * scale gives NaN. tests/cpu/test_codec.c checks the codes against x / s. */
typedef struct {
    float s, r, f; /* s·f, its reciprocal, f */
} fp8block_scale_divider;

/* The divider of s whose reciprocal r = 1 / (s·f) is already known (made once, shared). */
FP8BLOCK_HD fp8block_scale_divider fp8block_divider_with(float s, float r)
{
    fp8block_scale_divider d;
    d.f = s < 0x1p-60f ? 0x1p90f : s > 0x1p100f ? 0x1p-64f : 1.0f;
    d.s = s * d.f;
    d.r = r;
    return d;
}

FP8BLOCK_HD fp8block_scale_divider fp8block_divider(float s)
{
    fp8block_scale_divider d = fp8block_divider_with(s, 0.0f);
#ifdef __CUDA_ARCH__
    d.r = __frcp_rn(d.s); /* 1 / d.s rounded to nearest, as below, without division's slow-path call */
#else
    d.r = fp8block_scale_reciprocal(d.s);
#endif
    return d;
}

FP8BLOCK_HD float fp8block_divide(float x, fp8block_scale_divider d) { return fp8block_divide_by_scale(x * d.f, d.s, d.r); }

#endif
