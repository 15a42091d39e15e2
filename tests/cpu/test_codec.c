/* The scalar codecs of the reference backend against independent references: every
 * e4m3/bf16/f16 code decodes to the value its bit fields say, and encoding agrees with a
 * nearest-value search over the format's codes (ties to even, satfinite for e4m3,
 * overflow to inf for bf16/f16) on every boundary, tie, subnormal, saturation and NaN
 * case, and on millions of random floats. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/codec.h"
#include "reference_codec.h"
#include "scale_rule.h"
#include "rng.h"
#include "testutil.h"

#define E4M3_MAX_FINITE_CODE 0x7e
#define BF16_MAX_FINITE_CODE 0x7f7f
#define F16_MAX_FINITE_CODE 0x7bff

static float float_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int same_value(double a, double b) { return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b)); }

static long e4m3_cases, bf16_cases, f16_cases;

static void check_e4m3(float x)
{
    uint8_t got = e4m3_from_f32(x), want = ref_e4m3_from_f32(x);
    e4m3_cases++;
    CHECK(got == want, "e4m3_from_f32(%a = 0x%08x) = 0x%02x, want 0x%02x", (double)x, bits_of(x), got, want);
}

static void check_ieee16(float x)
{
    uint16_t got = bf16_from_f32(x), want = ref_bf16_from_f32(x);
    bf16_cases++;
    CHECK(got == want, "bf16_from_f32(%a = 0x%08x) = 0x%04x, want 0x%04x", (double)x, bits_of(x), got, want);
    got = f16_from_f32(x);
    want = ref_f16_from_f32(x);
    f16_cases++;
    CHECK(got == want, "f16_from_f32(%a = 0x%08x) = 0x%04x, want 0x%04x", (double)x, bits_of(x), got, want);
}

/* x, its fp32 neighbours on both sides, and the same for -x: the cases where a
 * boundary lies. */
static void check_around(float x, void (*check)(float))
{
    float candidates[3] = {x, nextafterf(x, INFINITY), nextafterf(x, -INFINITY)};
    for (int i = 0; i < 3; i++) {
        check(candidates[i]);
        check(-candidates[i]);
    }
}

static void test_decode_every_code(void)
{
    for (int code = 0; code < 256; code++) {
        double want = ref_e4m3_to_f64((uint8_t)code);
        float got = e4m3_to_f32((uint8_t)code);
        CHECK(same_value(got, want), "e4m3_to_f32(0x%02x) = %a, want %a", code, (double)got, want);
        if (!isnan(want))
            CHECK(e4m3_from_f32(got) == code, "e4m3 round trip of 0x%02x gives 0x%02x", code, e4m3_from_f32(got));
    }
    CHECK(isnan(e4m3_to_f32(0x7f)) && isnan(e4m3_to_f32(0xff)), "0x7f and 0xff must decode to NaN");
    CHECK(e4m3_to_f32(0x7e) == 448.0f && e4m3_to_f32(0x01) == 0x1p-9f, "448 and the smallest subnormal");
    for (uint32_t code = 0; code < 65536; code++) {
        uint16_t h = (uint16_t)code;
        float bf = bf16_to_f32(h), f16 = f16_to_f32(h);
        CHECK(same_value(bf, ref_bf16_to_f64(h)), "bf16_to_f32(0x%04x) = %a", h, (double)bf);
        CHECK(same_value(f16, ref_f16_to_f64(h)), "f16_to_f32(0x%04x) = %a", h, (double)f16);
    }
}

/* Every finite non-negative code's value and the midpoint to the next code, where the
 * code after the largest finite one stands for max + ulp (the overflow boundary). */
static void check_ieee16_codes(double (*decode)(uint16_t), uint16_t max_finite_code, double overflow_value)
{
    for (uint32_t code = 0; code <= max_finite_code; code++) {
        double value = decode((uint16_t)code);
        double next = code < max_finite_code ? decode((uint16_t)(code + 1)) : overflow_value;
        check_around((float)value, check_ieee16);
        check_around((float)((value + next) / 2), check_ieee16);
    }
}

/* Every code value, every midpoint between consecutive codes (a tie), and their fp32
 * neighbours, for e4m3; then the same over all bf16 and f16 codes. */
static void test_encode_boundaries_and_ties(void)
{
    for (int code = 0; code <= E4M3_MAX_FINITE_CODE; code++) {
        float value = (float)ref_e4m3_to_f64((uint8_t)code);
        float next = code < E4M3_MAX_FINITE_CODE ? (float)ref_e4m3_to_f64((uint8_t)(code + 1)) : 480.0f;
        check_around(value, check_e4m3);
        check_around((value + next) / 2, check_e4m3); /* exact in fp32 */
    }
    check_ieee16_codes(ref_bf16_to_f64, BF16_MAX_FINITE_CODE, 0x1p128);
    check_ieee16_codes(ref_f16_to_f64, F16_MAX_FINITE_CODE, 65536.0);
}

/* Zeros, subnormals of every format, saturation and overflow, infinities, NaNs. */
static void test_encode_special_cases(void)
{
    float specials[] = {0.0f, 0x1p-149f, 0x1p-126f, 0x1.fffffcp-127f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
                        0x1p-14f, 0x1p-10f, 0x1.8p-10f, 0x1p-9f, 0x1.8p-9f, 0x1p-7f, 0x1p-6f,
                        448.0f, 449.0f, 464.0f, 479.0f, 480.0f, 1000.0f, 65504.0f, 65519.0f,
                        65520.0f, 65536.0f, 1e30f, 0x1.fefffep127f, 0x1.ffp127f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        check_around(specials[i], check_e4m3);
        check_around(specials[i], check_ieee16);
    }
    CHECK(e4m3_from_f32(-0.0f) == 0x80, "-0 must keep its sign: 0x%02x", e4m3_from_f32(-0.0f));
    CHECK(e4m3_from_f32(-0x1p-12f) == 0x80, "-tiny rounds to -0: 0x%02x", e4m3_from_f32(-0x1p-12f));
    CHECK(e4m3_from_f32(INFINITY) == 0x7e && e4m3_from_f32(-INFINITY) == 0xfe, "inf saturates to ±448");
    CHECK(e4m3_from_f32(464.0f) == 0x7e, "the 448/480 tie saturates to 448");
    uint32_t nan_patterns[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0xffffffffu, 0x7fa00000u};
    for (size_t i = 0; i < sizeof nan_patterns / sizeof nan_patterns[0]; i++) {
        float nan = float_from_bits(nan_patterns[i]);
        CHECK(e4m3_from_f32(nan) == 0x7f, "e4m3 of NaN 0x%08x = 0x%02x, want 0x7f", nan_patterns[i], e4m3_from_f32(nan));
        CHECK(bf16_from_f32(nan) == 0x7fff, "bf16 of NaN 0x%08x = 0x%04x", nan_patterns[i], bf16_from_f32(nan));
        CHECK(f16_from_f32(nan) == 0x7fff, "f16 of NaN 0x%08x = 0x%04x", nan_patterns[i], f16_from_f32(nan));
    }
    CHECK(f16_from_f32(65520.0f) == 0x7c00 && f16_from_f32(-1e6f) == 0xfc00, "f16 overflow to ±inf");
    CHECK(bf16_from_f32(FLT_MAX) == 0x7f80, "bf16 of FLT_MAX rounds to inf: 0x%04x", bf16_from_f32(FLT_MAX));
}

/* Random bit patterns (every exponent, NaN and inf included), values in [-500, 500], and
 * tiny magnitudes around the e4m3/f16 subnormal ranges. */
static void test_encode_random(void)
{
    rng_state rng;
    rng_seed(&rng, 20240607);
    for (int i = 0; i < 2000000; i++) {
        float x = float_from_bits((uint32_t)rng_next(&rng));
        check_e4m3(x);
        check_ieee16(x);
    }
    for (int i = 0; i < 2000000; i++) check_e4m3((float)(rng_uniform(&rng) * 1000.0 - 500.0));
    for (int i = 0; i < 1000000; i++) check_ieee16((float)(rng_uniform(&rng) * 140000.0 - 70000.0));
    for (int i = 0; i < 1000000; i++) {
        double tiny = ldexp(rng_uniform(&rng), -(int)rng_range(&rng, 0, 30));
        float x = (float)(rng_next(&rng) & 1 ? -tiny : tiny);
        check_e4m3(x);
        check_ieee16(x);
    }
}

static void test_row_load_store(void)
{
    float values[] = {1.0f, -0x1.234568p-3f, 300.5f, 0x1p-20f, -70000.0f};
    uint16_t half[5], brain[5];
    float single[5];
    for (int i = 0; i < 5; i++) {
        codec_store_f32(single, FP8BLOCK_F32, i, values[i]);
        codec_store_f32(brain, FP8BLOCK_BF16, i, values[i]);
        codec_store_f32(half, FP8BLOCK_F16, i, values[i]);
        CHECK(single[i] == values[i] && codec_load_f32(single, FP8BLOCK_F32, i) == values[i], "f32 row element %d", i);
        CHECK(brain[i] == ref_bf16_from_f32(values[i]), "bf16 row store %d: 0x%04x", i, brain[i]);
        CHECK(half[i] == ref_f16_from_f32(values[i]), "f16 row store %d: 0x%04x", i, half[i]);
        CHECK(same_value(codec_load_f32(brain, FP8BLOCK_BF16, i), ref_bf16_to_f64(brain[i])), "bf16 row load %d", i);
        CHECK(same_value(codec_load_f32(half, FP8BLOCK_F16, i), ref_f16_to_f64(half[i])), "f16 row load %d", i);
    }
}

/* fp8block_divide_by_scale (the GPU epilogue's x / s) against x / s: bit for bit over every
 * significand of x, both signs, for scales whose significands include the extremes (all ones,
 * zero) and scales at the ends of the range it is used in; then random x across a block's
 * range (|x| <= 448 s, subnormals included), where below 2^-12 only the E4M3 code must agree. */
static void test_divide_by_scale(void)
{
    rng_state rng;
    rng_seed(&rng, 20261205);
    long bitwise = 0, coded = 0;
    for (int i = 0; i < 12; i++) {
        uint32_t significand = i == 0 ? 0x7fffffu : i == 1 ? 0 : i == 2 ? 0x7ffffeu : (uint32_t)rng_next(&rng) & 0x7fffffu;
        const int exponents[] = {-60, 99, -7, 0, 3, -30};
        float s = ldexpf(float_from_bits(0x3f800000u | significand), exponents[i % 6]);
        CHECK(fp8block_scale_divides_fast(s), "scale %a is in the fast range", (double)s);
        float r = fp8block_scale_reciprocal(s);
        long differ = 0;
        for (uint32_t m = 0; m < (1u << 23); m++) {
            float x = ldexpf(float_from_bits(0x3f800000u | m), exponents[i % 6] + i % 8); /* x / s in (0.5, 256) */
            for (int sign = 0; sign < 2; sign++, x = -x, bitwise++)
                differ += bits_of(fp8block_divide_by_scale(x, s, r)) != bits_of(x / s);
        }
        CHECK(differ == 0, "scale %a: %ld quotients differ from x / s", (double)s, differ);
    }
    for (int i = 0; i < 4000000; i++, coded++) {
        float s = float_from_bits((uint32_t)rng_range(&rng, 0x21800000u, 0x71800000u)); /* 2^-60 .. 2^100 */
        float x = float_from_bits((uint32_t)rng_next(&rng) & 0x7fffffffu);
        if (!(x <= 448.0f * s)) x = ldexpf(448.0f * s, -(int)rng_range(&rng, 1, 160)) * (float)rng_uniform(&rng);
        if (rng_next(&rng) & 1) x = -x;
        float fast = fp8block_divide_by_scale(x, s, fp8block_scale_reciprocal(s)), exact = x / s;
        CHECK(fabsf(exact) < 0x1p-12f ? ref_e4m3_from_f32(fast) == ref_e4m3_from_f32(exact) : bits_of(fast) == bits_of(exact),
              "%a / %a: %a, want %a", (double)x, (double)s, (double)fast, (double)exact);
    }
    const float zeros[] = {0.0f, -0.0f};
    for (int i = 0; i < 2; i++)
        CHECK(bits_of(fp8block_divide_by_scale(zeros[i], 3.0f, fp8block_scale_reciprocal(3.0f))) == bits_of(zeros[i] / 3.0f),
              "%g / 3 keeps its sign", (double)zeros[i]);
    CHECK(!fp8block_scale_divides_fast(0x1p-61f) && !fp8block_scale_divides_fast(0x1p101f) &&
              !fp8block_scale_divides_fast(float_from_bits(0x7fc00000u)),
          "tiny, huge and NaN scales take the division");
    printf("divide_by_scale: %ld quotients bit for bit, %ld random ones by code\n", bitwise, coded);
}

/* fp8block_divide (the quantizers' x / s: fp8block_divide_by_scale after scaling x and s by a
 * power of two into its range) against x / s for every scale a block can have, those outside
 * [2^-60, 2^100] above all: bit for bit over every significand of x where x / s is in
 * (0.5, 256), and on random x of a block (|x| <= 448 s) by E4M3 code, bit for bit where
 * |x / s| >= 2^-12. (A subnormal scale's block holds subnormal x, with few significands: the
 * first part covers the few there are, the random part the rest.) */
static void test_divider(void)
{
    rng_state rng;
    rng_seed(&rng, 20261206);
    long bitwise = 0, coded = 0;
    const float scales[] = {0x1p-149f, 0x1.8p-140f, 0x1.fffffep-127f, 0x1.234568p-100f, 0x1.fffffep-61f,
                            0x1p-60f,  0x1.fffffep99f, 0x1.000002p100f, 0x1.7p110f,       0x1.24p119f};
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        const float s = scales[i];
        const fp8block_scale_divider d = fp8block_divider(s);
        long differ = 0;
        for (uint32_t m = 0; m < (1u << 23); m++) {
            float x = ldexpf(float_from_bits(0x3f800000u | m), ilogbf(s) + (int)(i % 8));
            for (int sign = 0; sign < 2; sign++, x = -x, bitwise++)
                differ += bits_of(fp8block_divide(x, d)) != bits_of(x / s);
        }
        CHECK(differ == 0, "scale %a: %ld quotients differ from x / s", (double)s, differ);
    }
    for (int i = 0; i < 4000000; i++, coded++) {
        float s = float_from_bits((uint32_t)rng_range(&rng, 1, 0x7b924925u)); /* 2^-149 .. 2^128 / 448 */
        const float bound = fminf(448.0f * s, FLT_MAX);                        /* a block's largest |x| */
        float x = float_from_bits((uint32_t)rng_next(&rng) & 0x7fffffffu);
        if (!(x <= bound)) x = ldexpf(bound, -(int)rng_range(&rng, 1, 160)) * (float)rng_uniform(&rng);
        if (rng_next(&rng) & 1) x = -x;
        float fast = fp8block_divide(x, fp8block_divider(s)), exact = x / s;
        CHECK(fabsf(exact) < 0x1p-12f ? ref_e4m3_from_f32(fast) == ref_e4m3_from_f32(exact) : bits_of(fast) == bits_of(exact),
              "%a / %a: %a, want %a", (double)x, (double)s, (double)fast, (double)exact);
    }
    const float nan = float_from_bits(0x7fc00000u);
    CHECK(isnan(fp8block_divide(1.0f, fp8block_divider(nan))) && isnan(fp8block_divide(-0.0f, fp8block_divider(nan))),
          "a NaN scale gives NaN");
    CHECK(bits_of(fp8block_divide(-0.0f, fp8block_divider(0x1p110f))) == bits_of(-0.0f) &&
              bits_of(fp8block_divide(-0x1p-140f, fp8block_divider(0x1p110f))) == bits_of(-0.0f / 1.0f) &&
              ref_e4m3_from_f32(fp8block_divide(-0x1p-140f, fp8block_divider(0x1p110f))) == 0x80,
          "x below the normal range after the scaling keeps its sign and codes as -0");
    printf("divider: %ld quotients bit for bit, %ld random ones by code\n", bitwise, coded);
}

int main(void)
{
    test_decode_every_code();
    test_encode_boundaries_and_ties();
    test_encode_special_cases();
    test_encode_random();
    test_row_load_store();
    test_divide_by_scale();
    test_divider();
    printf("encoded %ld e4m3, %ld bf16, %ld f16 cases\n", e4m3_cases, bf16_cases, f16_cases);
    return test_finish("test_codec");
}
