#include "codec.h"

#include <math.h>
#include <string.h>

#include "scale_rule.h"

uint8_t e4m3_from_f32(float x)
{
    uint32_t u = fp8block_f32_bits(x);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80);
    uint32_t a = u & 0x7fffffffu;
    if (a > FP8BLOCK_F32_INF_BITS) return 0x7f;               /* NaN */
    if (fp8block_f32_from_bits(a) >= FP8BLOCK_E4M3_MAX) return sign | 0x7e; /* satfinite, Inf too */
    if (a < 0x3c800000u) { /* below 2^-6: subnormal steps of 2^-9; 8 steps is the first normal */
        float steps = fp8block_f32_from_bits(a) * 512.0f; /* exact: a power-of-two scaling */
        return sign | (uint8_t)nearbyintf(steps);          /* default rounding: nearest even */
    }
    int32_t exponent = (int32_t)(a >> 23) - 127 + 7;
    uint32_t code = ((uint32_t)exponent << 3) | ((a >> 20) & 7);
    uint32_t rest = a & 0xfffffu; /* the 20 bits below e4m3's 3 mantissa bits */
    if (rest > 0x80000u || (rest == 0x80000u && (code & 1))) code++; /* a carry bumps the exponent */
    return sign | (uint8_t)(code > 0x7e ? 0x7e : code);
}

float e4m3_to_f32(uint8_t code)
{
    float sign = (code & 0x80) ? -1.0f : 1.0f;
    uint32_t exponent = (code >> 3) & 0xf, mantissa = code & 7;
    if (exponent == 0xf && mantissa == 7) return fp8block_f32_from_bits(0x7fc00000u | ((uint32_t)(code & 0x80) << 24));
    if (exponent == 0) return sign * ldexpf((float)mantissa, -9);
    return sign * ldexpf((float)(8 + mantissa), (int)exponent - 10);
}

uint16_t bf16_from_f32(float x)
{
    uint32_t u = fp8block_f32_bits(x);
    if ((u & 0x7fffffffu) > FP8BLOCK_F32_INF_BITS) return 0x7fff;
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even; overflow carries into Inf */
    return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t h) { return fp8block_f32_from_bits((uint32_t)h << 16); }

uint16_t f16_from_f32(float x)
{
    uint32_t u = fp8block_f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > FP8BLOCK_F32_INF_BITS) return 0x7fff;
    if (a >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 rounds past the largest finite */
    if (a < 0x38800000u) { /* below 2^-14: subnormal steps of 2^-24 */
        float steps = fp8block_f32_from_bits(a) * 16777216.0f;
        return sign | (uint16_t)nearbyintf(steps);
    }
    uint32_t h = ((((a >> 23) - 127 + 15) << 10) | ((a >> 13) & 0x3ff));
    uint32_t rest = a & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    if (exponent == 0x1f) return fp8block_f32_from_bits(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
        float v = ldexpf((float)mantissa, -24);
        return sign ? -v : v;
    }
    return fp8block_f32_from_bits(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

float codec_load_f32(const void *row, fp8block_dtype t, int64_t i)
{
    switch (t) {
    case FP8BLOCK_F32: return ((const float *)row)[i];
    case FP8BLOCK_BF16: return bf16_to_f32(((const uint16_t *)row)[i]);
    case FP8BLOCK_F16: return f16_to_f32(((const uint16_t *)row)[i]);
    case FP8BLOCK_E4M3: return e4m3_to_f32(((const uint8_t *)row)[i]);
    }
    return NAN;
}

void codec_store_f32(void *row, fp8block_dtype t, int64_t i, float v)
{
    switch (t) {
    case FP8BLOCK_F32: ((float *)row)[i] = v; break;
    case FP8BLOCK_BF16: ((uint16_t *)row)[i] = bf16_from_f32(v); break;
    case FP8BLOCK_F16: ((uint16_t *)row)[i] = f16_from_f32(v); break;
    case FP8BLOCK_E4M3: ((uint8_t *)row)[i] = e4m3_from_f32(v); break;
    }
}
