/* fp8block: the command line front end of the library. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
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
    fprintf(f, "usage: fp8block <command> [options]   (fp8block <command> --help for its options)\n"
               "       fp8block --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].what);
}

static int version(void)
{
    int v = fp8block_version();
    printf("fp8block %d.%d.%d (library %d.%d.%d, %s)\n", FP8BLOCK_VERSION_MAJOR, FP8BLOCK_VERSION_MINOR,
           FP8BLOCK_VERSION_PATCH, v / 10000, v / 100 % 100, v % 100,
           FP8BLOCK_HAVE_CUDA ? "CPU and CUDA sm_90a backends" : "CPU backend only: built without nvcc");
    return 0;
}

int main(int argc, char **argv)
{
    /* Line by line even into a pipe or a file, so a long CPU run shows its progress. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) return version();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fp8block: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
