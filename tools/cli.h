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

/* Exit statuses, the same in every subcommand. */
enum {
    CLI_EXIT_FAILED = 1,  /* a check or a measurement failed */
    CLI_EXIT_USAGE = 2,   /* bad options, an output path that cannot be written, a device that cannot be opened */
    CLI_EXIT_MISSING = 3  /* bench: a measurement was unavailable (--allow-missing accepts it) */
};

/* One "--name value" (or "--name=value"; CLI_FLAG: "--name") option of a subcommand;
 * value points at the field it fills. */
typedef enum { CLI_TEXT, CLI_INT, CLI_DTYPE, CLI_FLAG } cli_kind;
typedef struct {
    const char *name;
    cli_kind kind;
    void *value; /* CLI_TEXT: const char **, CLI_INT: int64_t *, CLI_DTYPE: fp8block_dtype *, CLI_FLAG: int * */
    int64_t min;      /* CLI_INT: the smallest value accepted */
} cli_option;

/* Fills the options' fields from argv[1..]. --help/-h prints usage on stdout and exits 0;
 * an unknown option, a missing or bad value prints why (and the usage) on stderr and
 * returns -1. `command` names the subcommand in messages. */
int cli_parse_options(const char *command, int argc, char **argv, const cli_option *options, int count,
                      void (*usage)(FILE *));

/* An output the command will write at its end (a file, or a folder it makes) can be: its
 * folder exists and is writable, and it is writable itself if it exists. Checked before
 * any work, so a long run never ends in "cannot write". path NULL: nothing to check. */
int cli_check_output(const char *command, const char *option, const char *path);

static inline int64_t cli_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t cli_round_up(int64_t a, int64_t b) { return cli_ceil_div(a, b) * b; }

/* "cpu (N threads)" or "cuda:0 (NVIDIA H100 ...)" */
const char *cli_context_name(const fp8block_ctx *ctx);

#endif
