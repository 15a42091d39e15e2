/* The library's own version, for programs that load it at run time (ctypes, dlopen) and
 * must know which calls it has, whatever header they were built against. */
#include "fp8block.h"

int fp8block_version(void) { return FP8BLOCK_VERSION; }
