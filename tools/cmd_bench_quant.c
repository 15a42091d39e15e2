/* Placeholder: `fp8block bench-quant` is being written (see the issues). */
#include <stdio.h>

#include "commands.h"

int cmd_bench_quant(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "fp8block bench-quant: not implemented yet\n");
    return 2;
}
