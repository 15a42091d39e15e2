/* Placeholder: `fp8block bench` is being written (see the issues). */
#include <stdio.h>

#include "commands.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "fp8block bench: not implemented yet\n");
    return 2;
}
