/* Every CPU entry point writes exactly the elements it owns and reads only the ones it
 * should, over random shapes with partial blocks, padded leading dimensions, guard lines
 * and odd offsets (tests/common/canary.h). The reference is a second CPU context fed
 * tight buffers, so the results must also be independent of the layout, bit for bit. */
#include <stdlib.h>

#include "canary.h"
#include "testutil.h"

int main(void)
{
    fp8block_ctx *ctx = NULL, *ref = NULL;
    if (fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK || fp8block_create(&ref, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    canary_summary s = canary_run(ctx, ref, 0x5eed0007u, 40);
    CHECK(s.unsupported == 0, "the CPU backend answered UNSUPPORTED: %s", s.unsupported_why);
    printf("test_canary: %d calls checked\n", s.cases_run);
    fp8block_destroy(ctx);
    fp8block_destroy(ref);
    return test_finish("test_canary");
}
