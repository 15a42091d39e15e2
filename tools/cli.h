/* Small pieces every subcommand uses: options, picking the backend. */
#ifndef FP8BLOCK_CLI_H
#define FP8BLOCK_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "fp8block.h"

/* --device auto|cpu|cuda|cuda:N. auto takes GPU 0 when one is usable and says which it
 * picked on `log`. Returns 0, or prints why not on stderr and returns non-zero. */
int cli_open_context(const char *device, fp8block_ctx **ctx, FILE *log);

/* Parses a positive integer option value; prints an error naming `option` on failure. */
int cli_parse_i64(const char *option, const char *text, int64_t min, int64_t *out);

/* Parses an output dtype: bf16 | fp32 | fp16. */
int cli_parse_dtype(const char *option, const char *text, fp8block_dtype *out);

/* "cpu (N threads)" or "cuda:0 (NVIDIA H100 ...)" */
const char *cli_context_name(const fp8block_ctx *ctx);

#endif
