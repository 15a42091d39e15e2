#include "reference_codec.h"

#include <math.h>

#define E4M3_MAX_FINITE_CODE 0x7e

double ref_e4m3_to_f64(uint8_t code)
{
    int exponent = (code >> 3) & 15, mantissa = code & 7;
    double magnitude;
    if (exponent == 15 && mantissa == 7) return NAN;
    if (exponent == 0) magnitude = ldexp(mantissa, -9); /* subnormal: m/8 · 2^(1-7) */
    else magnitude = ldexp(8 + mantissa, exponent - 7 - 3);
    return code & 0x80 ? -magnitude : magnitude;
}

/* An IEEE-style binary format (all-ones exponent: inf or NaN), exactly. */
static double decode_ieee(uint32_t bits, int exponent_bits, int mantissa_bits)
{
    uint32_t exponent_max = (1u << exponent_bits) - 1, implicit_one = 1u << mantissa_bits;
    uint32_t exponent = (bits >> mantissa_bits) & exponent_max, mantissa = bits & (implicit_one - 1);
    int bias = (int)(exponent_max >> 1);
    double magnitude;
    if (exponent == exponent_max) magnitude = mantissa ? NAN : INFINITY;
    else if (exponent == 0) magnitude = ldexp(mantissa, 1 - bias - mantissa_bits);
    else magnitude = ldexp(implicit_one + mantissa, (int)exponent - bias - mantissa_bits);
    return (bits >> (exponent_bits + mantissa_bits)) & 1 ? -magnitude : magnitude;
}

double ref_bf16_to_f64(uint16_t h) { return decode_ieee(h, 8, 7); }
double ref_f16_to_f64(uint16_t h) { return decode_ieee(h, 5, 10); }

uint8_t ref_e4m3_from_f32(float x)
{
    static double values[E4M3_MAX_FINITE_CODE + 1];
    static int have_values;
    if (!have_values) { /* idempotent: a racing second writer stores the same values */
        for (int code = 0; code <= E4M3_MAX_FINITE_CODE; code++) values[code] = ref_e4m3_to_f64((uint8_t)code);
        have_values = 1;
    }
    if (isnan(x)) return 0x7f;
    uint8_t sign = signbit(x) ? 0x80 : 0;
    double magnitude = fabs((double)x);
    if (magnitude > 448.0) return sign | E4M3_MAX_FINITE_CODE;
    int best = 0;
    double best_distance = INFINITY;
    for (int code = 0; code <= E4M3_MAX_FINITE_CODE; code++) {
        double distance = fabs(values[code] - magnitude);
        if (distance < best_distance || (distance == best_distance && (code & 1) == 0)) {
            best = code;
            best_distance = distance;
        }
    }
    return sign | (uint8_t)best;
}

typedef struct {
    double (*decode)(uint16_t);
    uint16_t max_finite_code; /* the next code up is +inf */
    double overflow_value;    /* what +inf stands for when rounding: max finite + one ulp */
} ieee16_format;

static double ieee16_value(const ieee16_format *fmt, uint16_t code)
{
    return code > fmt->max_finite_code ? fmt->overflow_value : fmt->decode(code);
}

/* A binary search over the ordered non-negative codes finds the two neighbours of |x|;
 * inf stands in as the code after the largest finite one, at max + ulp (IEEE overflow). */
static uint16_t nearest_ieee16(const ieee16_format *fmt, float x)
{
    if (isnan(x)) return 0x7fff;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double magnitude = fabs((double)x);
    uint16_t inf_code = (uint16_t)(fmt->max_finite_code + 1);
    if (magnitude >= fmt->overflow_value) return sign | inf_code;
    uint16_t lo = 0, hi = inf_code; /* value(lo) <= magnitude < value(hi) */
    while (hi - lo > 1) {
        uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (ieee16_value(fmt, mid) <= magnitude) lo = mid;
        else hi = mid;
    }
    double below = magnitude - ieee16_value(fmt, lo), above = ieee16_value(fmt, hi) - magnitude;
    uint16_t nearest = below < above ? lo : above < below ? hi : (lo & 1) ? hi : lo;
    return sign | nearest;
}

static const ieee16_format BF16 = {ref_bf16_to_f64, 0x7f7f, 0x1p128};
static const ieee16_format F16 = {ref_f16_to_f64, 0x7bff, 65536.0};

uint16_t ref_bf16_from_f32(float x) { return nearest_ieee16(&BF16, x); }
uint16_t ref_f16_from_f32(float x) { return nearest_ieee16(&F16, x); }
