/* parallel.h -- a small thread pool for big elementwise runs and matrix products.
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
/* The same, for n items whose work in all is cost elements: parallel when cost is big
 * enough, however few the items. */
void entro_parallel_for_cost(int64_t n, int64_t cost, entro_range_fn fn, void *ctx);
/* The number of threads used (default: ENTRO_NUM_THREADS, else OPENBLAS_NUM_THREADS, else
 * the online CPUs; at most 8). */
int entro_parallel_threads(void);
void entro_parallel_set_threads(int n);

#endif
