/* parallel.h -- a small thread pool for big elementwise runs.
 *
 * A memory-bound loop over millions of doubles runs at one core's bandwidth on one thread;
 * splitting it over the cores reaches the machine's. Work is split by index ranges that do
 * not depend on timing, so results are bitwise the same whatever the thread count (kernels
 * given to it must write disjoint outputs and keep no shared state). */
#ifndef ENTRO_PARALLEL_H
#define ENTRO_PARALLEL_H
#include <stdint.h>

/* Below this many elements a run stays on the calling thread. */
#define ENTRO_PARALLEL_MIN ((int64_t)1 << 17)

typedef void (*entro_range_fn)(void *ctx, int64_t lo, int64_t hi);

/* Runs fn over [0, n) split into one contiguous range per thread; the caller takes the
 * first. Falls back to one call when n is small, threads are 1, or the pool cannot start. */
void entro_parallel_for(int64_t n, entro_range_fn fn, void *ctx);
/* The number of threads used (default: the online CPUs, at most 8, or ENTRO_NUM_THREADS). */
int entro_parallel_threads(void);
void entro_parallel_set_threads(int n);

#endif
