/* parallel.c -- the thread pool behind entro_parallel_for (see parallel.h).
 *
 * Workers sleep on a condition variable between jobs (never spin: on a small machine a
 * spinning thread would take a core from OpenBLAS). A job is one call of entro_parallel_for;
 * calls come from the one thread that runs Lua, so one job is in flight at a time. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "parallel.h"

#define MAX_THREADS 8

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int nthreads;              /* configured count; 0 until first use */
static int nstarted;              /* workers running */
static uint64_t generation;       /* bumped per job */
static int pending;               /* workers yet to finish the current job */
static entro_range_fn job_fn;
static void *job_ctx;
static int64_t job_n;
static int job_parts;

static void range_of(int part, int parts, int64_t n, int64_t *lo, int64_t *hi) {
  *lo = n * part / parts;
  *hi = n * (part + 1) / parts;
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;   /* 1 .. nstarted */
  uint64_t seen = 0;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (generation == seen) pthread_cond_wait(&wake, &mu);
    seen = generation;
    int parts = job_parts;
    if (id >= parts) continue;   /* not needed for this job */
    entro_range_fn fn = job_fn;
    void *ctx = job_ctx;
    int64_t lo, hi;
    range_of(id, parts, job_n, &lo, &hi);
    pthread_mutex_unlock(&mu);
    fn(ctx, lo, hi);
    pthread_mutex_lock(&mu);
    if (--pending == 0) pthread_cond_signal(&done);
  }
  return NULL;
}

int entro_parallel_threads(void) {
  if (nthreads == 0) {
    const char *env = getenv("ENTRO_NUM_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
  }
  return nthreads;
}

void entro_parallel_set_threads(int n) {
  nthreads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

/* Starts workers up to want - 1; returns how many parts a job can use. */
static int ensure_workers(int want) {
  while (nstarted < want - 1) {
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int ok = pthread_create(&t, &at, worker, (void *)(intptr_t)(nstarted + 1)) == 0;
    pthread_attr_destroy(&at);
    if (!ok) break;
    nstarted++;
  }
  return nstarted + 1 < want ? nstarted + 1 : want;
}

void entro_parallel_for(int64_t n, entro_range_fn fn, void *ctx) {
  int want = entro_parallel_threads();
  if (n < ENTRO_PARALLEL_MIN || want < 2) { fn(ctx, 0, n); return; }
  pthread_mutex_lock(&mu);
  int parts = ensure_workers(want);
  if (parts < 2) { pthread_mutex_unlock(&mu); fn(ctx, 0, n); return; }
  job_fn = fn;
  job_ctx = ctx;
  job_n = n;
  job_parts = parts;
  pending = parts - 1;
  generation++;
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&mu);
  int64_t lo, hi;
  range_of(0, parts, n, &lo, &hi);
  fn(ctx, lo, hi);
  pthread_mutex_lock(&mu);
  while (pending > 0) pthread_cond_wait(&done, &mu);
  pthread_mutex_unlock(&mu);
}
