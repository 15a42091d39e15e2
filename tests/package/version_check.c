/* The three versions a consumer sees agree: the package's (FP8BLOCK_EXPECTED_VERSION, from
 * the CMake package or pkg-config), the header's macros, and the library's fp8block_version(). */
#include <fp8block.h>
#include <stdio.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define HEADER_VERSION STR(FP8BLOCK_VERSION_MAJOR) "." STR(FP8BLOCK_VERSION_MINOR) "." STR(FP8BLOCK_VERSION_PATCH)

int main(void)
{
    int library = fp8block_version();
    printf("package %s, header %s (%d), library %d\n", FP8BLOCK_EXPECTED_VERSION, HEADER_VERSION, FP8BLOCK_VERSION,
           library);
    return strcmp(FP8BLOCK_EXPECTED_VERSION, HEADER_VERSION) == 0 && library == FP8BLOCK_VERSION ? 0 : 1;
}
