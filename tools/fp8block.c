/* fp8block: the command line front end of the library. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"run", cmd_run, "the end-to-end pipeline: quantize, GEMM, check, report (default 4096^3)"},
    {"bench", cmd_bench, "GEMM sweep against cuBLASLt (bf16, per-tensor FP8, block-scaled FP8)"},
    {"accuracy", cmd_accuracy, "block FP8 vs per-tensor/per-row FP8 vs bf16 on realistic data"},
    {"bench-quant", cmd_bench_quant, "quantize/dequantize bandwidth against a device copy"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: fp8block <command> [options]   (fp8block <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fp8block: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
