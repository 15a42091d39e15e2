/* Placeholder: `fp8block accuracy` is being written (see the issues). */
#include <stdio.h>

#include "commands.h"

int cmd_accuracy(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "fp8block accuracy: not implemented yet\n");
    return 2;
}
