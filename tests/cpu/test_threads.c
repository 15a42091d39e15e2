/* One CPU context used from several threads at once (include/fp8block.h: "a context may be
 * used from several threads at once"):
 *   - every job run concurrently gives the bytes it gave when run alone;
 *   - fp8block_last_error is per thread: a failure in one thread neither shows in nor
 *     clobbers another's message, a success clears only the caller's, and the message of
 *     a failure on one context is not reported for another;
 *   - contexts created and destroyed on the side do not disturb the shared one. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "thread_workload.h"

enum { ERROR_CALLS = 20000 };

static fp8block_ctx *shared;

/* ---- contexts churned beside the shared one ---- */

static atomic_int churn_stop;
static long churn_failures, churn_cycles;

static void *churn(void *p)
{
    (void)p;
    while (!atomic_load(&churn_stop)) {
        fp8block_ctx *c = NULL;
        if (fp8block_create(&c, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) churn_failures++;
        fp8block_destroy(c);
        churn_cycles++;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    return NULL;
}

static void same_results_concurrently(void)
{
    pthread_t churner;
    CHECK(pthread_create(&churner, NULL, churn, NULL) == 0, "pthread_create");
    const char *unsupported = workload_check_concurrent(shared, (workload_concurrency){4, 2, 2, 0, NULL, NULL});
    CHECK(unsupported == NULL, "the CPU backend answered UNSUPPORTED: %s", unsupported);
    atomic_store(&churn_stop, 1);
    pthread_join(churner, NULL);
    CHECK(churn_failures == 0, "%ld of %ld create/destroy cycles beside the shared context failed", churn_failures,
          churn_cycles);
}

/* ---- last_error is per thread ---- */

static pthread_barrier_t step;
static char seen[3][4][256]; /* [thread][moment] */

static void remember(int thread, int moment)
{
    snprintf(seen[thread][moment], sizeof seen[thread][moment], "%s", fp8block_last_error(NULL));
}

static void *error_thread(void *p)
{
    int me = (int)(intptr_t)p;
    uint8_t q[256];
    float s[4];
    float x[256] = {0};
    /* moment 0: thread 0 fails on rows, thread 1 on m, thread 2 stays quiet */
    if (me == 0) fp8block_quantize_1x128(shared, x, FP8BLOCK_F32, 0, 16, 16, q, 16, s, 1, NULL);
    pthread_barrier_wait(&step);
    if (me == 1) fp8block_gemm(shared, -5, 16, 16, q, 16, s, 4, q, 16, s, 1, x, FP8BLOCK_F32, 16, NULL);
    pthread_barrier_wait(&step);
    remember(me, 0);
    pthread_barrier_wait(&step);
    /* moment 1: thread 2 succeeds, thread 0 succeeds: only their own messages clear */
    if (me == 0 || me == 2) fp8block_quantize_1x128(shared, x, FP8BLOCK_F32, 2, 16, 16, q, 16, s, 2, NULL);
    pthread_barrier_wait(&step);
    remember(me, 1);
    /* moment 2: every thread hammers its own distinct failure and checks its message each time */
    int mismatches = 0;
    for (int i = 0; i < ERROR_CALLS; i++) {
        int64_t cols = -(int64_t)(me * ERROR_CALLS + i) - 1;
        char want[64];
        snprintf(want, sizeof want, "cols = %lld;", (long long)cols);
        fp8block_quantize_1x128(shared, x, FP8BLOCK_F32, 1, cols, 16, q, 16, s, 1, NULL);
        mismatches += strstr(fp8block_last_error(NULL), want) == NULL;
    }
    snprintf(seen[me][2], sizeof seen[me][2], "%d", mismatches);
    return NULL;
}

static void errors_are_per_thread(void)
{
    pthread_barrier_init(&step, NULL, 3);
    pthread_t ids[3];
    for (int t = 0; t < 3; t++) pthread_create(&ids[t], NULL, error_thread, (void *)(intptr_t)t);
    for (int t = 0; t < 3; t++) pthread_join(ids[t], NULL);
    pthread_barrier_destroy(&step);

    CHECK(strstr(seen[0][0], "fp8block_quantize_1x128") && strstr(seen[0][0], "rows = 0"),
          "thread 0 after thread 1 failed: \"%s\", want its own rows = 0 message", seen[0][0]);
    CHECK(strstr(seen[1][0], "fp8block_gemm") && strstr(seen[1][0], "m = -5"),
          "thread 1: \"%s\", want its m = -5 message", seen[1][0]);
    CHECK(seen[2][0][0] == '\0', "thread 2 never failed, yet its last error is \"%s\"", seen[2][0]);
    CHECK(seen[0][1][0] == '\0', "thread 0 succeeded, yet its last error is \"%s\"", seen[0][1]);
    CHECK(strstr(seen[1][1], "m = -5"), "thread 1's message was cleared by other threads' successes: \"%s\"", seen[1][1]);
    CHECK(seen[2][1][0] == '\0', "thread 2: \"%s\" after a success", seen[2][1]);
    for (int t = 0; t < 3; t++)
        CHECK(strcmp(seen[t][2], "0") == 0, "thread %d: %s of %d failures left another thread's message", t, seen[t][2],
              ERROR_CALLS);

    /* A failure on one context is not reported for another. */
    fp8block_ctx *other = NULL;
    CHECK(fp8block_create(&other, FP8BLOCK_DEVICE_CPU) == FP8BLOCK_OK, "create: %s", fp8block_last_error(NULL));
    float x[16] = {0}, s[1];
    uint8_t q[16];
    fp8block_quantize_1x128(shared, x, FP8BLOCK_F32, 1, 16, 8, q, 16, s, 1, NULL);
    CHECK(strstr(fp8block_last_error(shared), "ldx = 8"), "last_error(shared) = \"%s\"", fp8block_last_error(shared));
    CHECK(fp8block_last_error(other)[0] == '\0', "last_error(other) = \"%s\" after a failure on shared",
          fp8block_last_error(other));
    CHECK(strstr(fp8block_last_error(NULL), "ldx = 8"), "last_error(NULL) = \"%s\"", fp8block_last_error(NULL));
    fp8block_destroy(other);
}

int main(void)
{
    if (fp8block_create(&shared, FP8BLOCK_DEVICE_CPU) != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block_create(CPU): %s\n", fp8block_last_error(NULL));
        return 1;
    }
    same_results_concurrently();
    errors_are_per_thread();
    fp8block_destroy(shared);
    return test_finish("test_threads");
}
