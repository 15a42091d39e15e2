#define _POSIX_C_SOURCE 200809L
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { MAX_THREADS = 256 };
static const double MIN_WORK_PER_THREAD = 1 << 16; /* below this a thread costs more than it saves */

static int parallel_thread_count(void)
{
    const char *env = getenv("FP8BLOCK_NUM_THREADS");
    long n = env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    return (int)n;
}

typedef struct {
    parallel_body body;
    void *arg;
    int64_t begin, end;
} chunk;

static void *run_chunk(void *p)
{
    chunk *c = p;
    c->body(c->arg, c->begin, c->end);
    return NULL;
}

void parallel_for(int64_t n, double work_per_item, parallel_body body, void *arg)
{
    if (n <= 0) return;
    int64_t threads = parallel_thread_count();
    int64_t by_work = (int64_t)((double)n * work_per_item / MIN_WORK_PER_THREAD);
    if (threads > by_work) threads = by_work;
    if (threads > n) threads = n;
    if (threads <= 1) {
        body(arg, 0, n);
        return;
    }
    chunk chunks[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int64_t t = 0; t < threads; t++) {
        chunks[t] = (chunk){body, arg, n * t / threads, n * (t + 1) / threads};
        if (t > 0) started[t] = pthread_create(&ids[t], NULL, run_chunk, &chunks[t]) == 0;
    }
    run_chunk(&chunks[0]);
    for (int64_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            run_chunk(&chunks[t]); /* no thread to be had: do its share here */
    }
}
