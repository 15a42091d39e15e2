/* Scalar number formats of the reference backend: e4m3 (OCP e4m3fn), bf16, fp16.
 * Round-to-nearest-even everywhere; e4m3 saturates finite values to ±448 and maps every
 * NaN to 0x7f, as cvt.rn.satfinite.e4m3x2.f32 does on the GPU. */
#ifndef FP8BLOCK_CPU_CODEC_H
#define FP8BLOCK_CPU_CODEC_H

#include <stdint.h>

#include "fp8block.h"

uint8_t e4m3_from_f32(float x);
float e4m3_to_f32(uint8_t code); /* exact */

uint16_t bf16_from_f32(float x); /* NaN -> 0x7fff */
float bf16_to_f32(uint16_t h);
uint16_t f16_from_f32(float x); /* NaN -> 0x7fff, overflow -> ±inf */
float f16_to_f32(uint16_t h);

/* Element `i` of a row of type t, as fp32 (exact for every input type). */
float codec_load_f32(const void *row, fp8block_dtype t, int64_t i);
/* Rounds v to type t and stores it as element `i` of a row. */
void codec_store_f32(void *row, fp8block_dtype t, int64_t i, float v);

#endif
