/* The bounds checks of tests/common/canary.h on a CUDA context: every GPU entry point
 * writes exactly the elements it owns (canary-filled guard lines, padded leading
 * dimensions, odd offsets for the codes), reads no padding (inputs padded with NaN), and
 * matches the CPU reference: codes and scales bit for bit; GEMM bit for bit with its own
 * tight-layout result and within gemm_check's per-element bounds.
 * FP8BLOCK_TEST_SMALL=1 runs a few cases (for compute-sanitizer). FP8BLOCK_ERR_UNSUPPORTED
 * from any call fails the test: the context exists, so the device is sm_90. */
#include <stdio.h>
#include <stdlib.h>

#include "canary.h"
#include "testutil.h"

int main(void)
{
    fp8block_ctx *gpu = test_gpu_ctx_or_skip(), *ref = NULL;
    if (fp8block_create(&ref, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    int small = getenv("FP8BLOCK_TEST_SMALL") != NULL;
    canary_summary s = canary_run(gpu, ref, 0x5eed0009u, small ? 2 : 25);
    printf("test_canary_gpu: %d calls checked, %d answered UNSUPPORTED\n", s.cases_run, s.unsupported);
    fp8block_destroy(gpu);
    fp8block_destroy(ref);
    CHECK(s.unsupported == 0, "%d calls answered UNSUPPORTED on an sm_90 device (%d others ran): %s", s.unsupported,
          s.cases_run, s.unsupported_why);
    return test_finish("test_canary_gpu");
}
