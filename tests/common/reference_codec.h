/* Independent reference codecs for the tests: written from the format definitions, by
 * exhaustive or binary search over a format's codes, never from the library's code.
 * Slow and obvious on purpose. */
#ifndef FP8BLOCK_REFERENCE_CODEC_H
#define FP8BLOCK_REFERENCE_CODEC_H

#include <stdint.h>

/* Exact values of e4m3fn (0x7f/0xff NaN), bf16 and f16 codes. */
double ref_e4m3_to_f64(uint8_t code);
double ref_bf16_to_f64(uint16_t h);
double ref_f16_to_f64(uint16_t h);

/* Nearest code, ties to the even code, the sign (of zero too) kept. e4m3: anything above
 * 448, infinities included, saturates to ±448 and every NaN is 0x7f. bf16/f16: IEEE
 * overflow to ±inf, every NaN is 0x7fff. */
uint8_t ref_e4m3_from_f32(float x);
uint16_t ref_bf16_from_f32(float x);
uint16_t ref_f16_from_f32(float x);

#endif
