/* parallel.c -- the thread pool behind entro_parallel_for (see parallel.h).
 *
 * Between jobs a worker first spins for a short while (SPIN_NS) watching for the next job,
 * then sleeps on a condition variable; the caller waits for the workers the same way.
 * Kernels come in quick succession (a training step or a backward pass is dozens of them,
 * tens to hundreds of microseconds apart) and waking a sleeping thread costs tens of
 * microseconds on a virtual machine, so the spin pays (measured: a 0.1 ms spin left the
 * mid MLP step about 5 % slower than 1 ms); OpenBLAS's own threads spin for 0.1 s. OpenBLAS
 * runs single-threaded inside this pool (matmul.c), so no other threads spin for the cores.
 * The spin yields the CPU at each turn. A job is one call of entro_parallel_for; calls come
 * from the one thread that runs Lua, so one job is in flight at a time, and every worker
 * answers every job. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "parallel.h"

#define MAX_THREADS 8
#define SPIN_NS 1000000   /* 1 ms */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int nthreads;              /* configured count; 0 until first use */
static int nstarted;              /* workers running */
static atomic_uint_fast64_t generation;   /* bumped per job, after the job is set */
static atomic_int pending;        /* workers yet to answer the current job */
static atomic_int sleepers;       /* workers asleep on `wake`, or about to be */
static atomic_int caller_asleep;  /* the caller waits on `done` */
static entro_range_fn job_fn;
static void *job_ctx;
static int64_t job_n;
static int job_parts;

static void range_of(int part, int parts, int64_t n, int64_t *lo, int64_t *hi) {
  *lo = n * part / parts;
  *hi = n * (part + 1) / parts;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins until cond(arg) holds or SPIN_NS have passed; returns cond(arg). The spin yields
 * the CPU at each turn, so a thread with work to do (OpenBLAS's, during a LAPACK call that
 * has them) is never kept waiting by it. */
static int spin_until(int (*cond)(void *), void *arg) {
  int64_t start = now_ns();
  for (int i = 0;; i++) {
    if (cond(arg)) return 1;
    sched_yield();
    if ((i & 15) == 15 && now_ns() - start > SPIN_NS) return cond(arg);
  }
}

static int new_job(void *seen) { return atomic_load(&generation) != *(uint64_t *)seen; }
static int job_done(void *unused) { (void)unused; return atomic_load(&pending) == 0; }

static uint64_t born[MAX_THREADS];   /* the generation when each worker was started */

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;   /* 1 .. nstarted */
  uint64_t seen = born[id];
  for (;;) {
    if (!spin_until(new_job, &seen)) {
      pthread_mutex_lock(&mu);
      atomic_fetch_add(&sleepers, 1);
      while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &mu);
      atomic_fetch_sub(&sleepers, 1);
      pthread_mutex_unlock(&mu);
    }
    seen = atomic_load(&generation);
    int parts = job_parts;
    if (id < parts) {   /* else not needed for this job, but it still answers */
      int64_t lo, hi;
      range_of(id, parts, job_n, &lo, &hi);
      job_fn(job_ctx, lo, hi);
    }
    /* the last answer lets the caller return, and set the next job */
    if (atomic_fetch_sub(&pending, 1) == 1 && atomic_load(&caller_asleep)) {
      pthread_mutex_lock(&mu);
      pthread_cond_signal(&done);
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

int entro_parallel_threads(void) {
  if (nthreads == 0) {
    const char *env = getenv("ENTRO_NUM_THREADS");
    if (!env || !*env) env = getenv("OPENBLAS_NUM_THREADS");   /* what BLAS users set */
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
    born[nstarted + 1] = atomic_load(&generation);   /* its first job is the next one */
    int ok = pthread_create(&t, &at, worker, (void *)(intptr_t)(nstarted + 1)) == 0;
    pthread_attr_destroy(&at);
    if (!ok) break;
    nstarted++;
  }
  return nstarted + 1 < want ? nstarted + 1 : want;
}

void entro_parallel_for(int64_t n, entro_range_fn fn, void *ctx) {
  entro_parallel_for_cost(n, n, fn, ctx);
}

void entro_parallel_for_cost(int64_t n, int64_t cost, entro_range_fn fn, void *ctx) {
  int want = entro_parallel_threads();
  if (cost < ENTRO_PARALLEL_MIN || n < 2 || want < 2) { fn(ctx, 0, n); return; }
  if (want > n) want = (int)n;
  int parts = ensure_workers(want);
  if (parts < 2) { fn(ctx, 0, n); return; }
  /* the job is set before the generation moves (a sequentially consistent store), and a
   * worker counts itself asleep before it looks at the generation: so a worker either
   * sees the new job or is seen asleep and woken */
  job_fn = fn;
  job_ctx = ctx;
  job_n = n;
  job_parts = parts;
  atomic_store(&pending, nstarted);   /* every worker answers, needed or not */
  atomic_fetch_add(&generation, 1);
  if (atomic_load(&sleepers) > 0) {
    pthread_mutex_lock(&mu);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
  }
  int64_t lo, hi;
  range_of(0, parts, n, &lo, &hi);
  fn(ctx, lo, hi);
  if (!spin_until(job_done, NULL)) {
    pthread_mutex_lock(&mu);
    atomic_store(&caller_asleep, 1);
    while (atomic_load(&pending) > 0) pthread_cond_wait(&done, &mu);
    atomic_store(&caller_asleep, 0);
    pthread_mutex_unlock(&mu);
  }
}
