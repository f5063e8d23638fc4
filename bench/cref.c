/* cref.c -- the plain-C references of `make bench`: OpenBLAS's own dgemm rate and simple
 * memory loops, timed the same way as the entro and PyTorch sides.
 *
 * usage: cref KIND:N ...   (dgemm:1024, copy:N, copy2:N, affine:N, mul_add:N, sum:N)
 * For each argument it warms up, then times one sample of enough calls to last MIN_TIME
 * seconds and prints "time KIND:N seconds_per_call calls". bench/run.lua calls it once a
 * round. Linked against -lopenblas, so the OpenBLAS kernels are chosen by the
 * OPENBLAS_CORETYPE of its environment (run.lua passes entro's choice). The loops are
 * compiled with -march=native: they say what this machine can do, not what entro does. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the few OpenBLAS entry points used, declared here rather than hunting for cblas.h */
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);

#define MIN_TIME 0.05

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct { const char *kind; long n; double *x, *y, *t, sink; } job;

static void *copy_half(void *arg) {   /* one thread's share of copy2: the second half */
  job *j = arg;
  long h = j->n / 2;
  memcpy(j->y + h, j->x + h, (size_t)(j->n - h) * sizeof(double));
  return NULL;
}

/* One call of the workload. */
static void run_once(job *j) {
  long n = j->n;
  double *x = j->x, *y = j->y, *t = j->t, a = 1.0000001, b = 1e-9;
  if (!strcmp(j->kind, "dgemm")) {
    cblas_dgemm(101, 111, 111, (int)n, (int)n, (int)n, 1.0, x, (int)n, y, (int)n, 0.0, t, (int)n);
  } else if (!strcmp(j->kind, "copy")) {
    memcpy(y, x, (size_t)n * sizeof(double));
  } else if (!strcmp(j->kind, "copy2")) {
    pthread_t th;
    pthread_create(&th, NULL, copy_half, j);
    memcpy(y, x, (size_t)(n / 2) * sizeof(double));
    pthread_join(th, NULL);
  } else if (!strcmp(j->kind, "affine")) {
    for (long i = 0; i < n; i++) y[i] = a * x[i] + b;
  } else if (!strcmp(j->kind, "mul_add")) {   /* two passes, as x:mul(a):add(b) does */
    for (long i = 0; i < n; i++) t[i] = x[i] * a;
    for (long i = 0; i < n; i++) y[i] = t[i] + b;
  } else if (!strcmp(j->kind, "sum")) {
    double acc[8] = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    for (; i < n; i++) acc[0] += x[i];
    j->sink += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
}

static double timed(job *j, long calls) {
  double t0 = now();
  for (long c = 0; c < calls; c++) run_once(j);
  return now() - t0;
}

static int known(const char *kind) {
  const char *k[] = {"dgemm", "copy", "copy2", "affine", "mul_add", "sum"};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) if (!strcmp(kind, k[i])) return 1;
  return 0;
}

int main(int argc, char **argv) {
  printf("info openblas_core %s\n", openblas_get_corename());
  printf("info openblas_threads %d\n", openblas_get_num_threads());
  for (int i = 1; i < argc; i++) {
    char kind[32];
    long n;
    if (sscanf(argv[i], "%31[a-z_0-9]:%ld", kind, &n) != 2 || n < 1 || !known(kind)) {
      fprintf(stderr, "cref: bad workload '%s' (want KIND:N)\n", argv[i]);
      return 2;
    }
    job j = {kind, n, NULL, NULL, NULL, 0};
    size_t len = !strcmp(kind, "dgemm") ? (size_t)n * (size_t)n : (size_t)n;
    j.x = aligned_alloc(64, len * sizeof(double));
    j.y = aligned_alloc(64, len * sizeof(double));
    j.t = aligned_alloc(64, len * sizeof(double));
    if (!j.x || !j.y || !j.t) { fprintf(stderr, "cref: out of memory\n"); return 1; }
    for (size_t e = 0; e < len; e++) {
      j.x[e] = (double)(e % 1000) / 1000.0;
      j.y[e] = (double)(e % 777) / 777.0;
      j.t[e] = 0;
    }
    /* warm-up: one call, then double the call count until a sample lasts MIN_TIME */
    run_once(&j);
    long calls = 1;
    while (timed(&j, calls) < MIN_TIME) calls *= 2;
    double s = timed(&j, calls) / (double)calls;
    printf("time %s %.9g %ld\n", argv[i], s, calls);
    if (j.sink == 12345.678) printf("info unlikely %g\n", j.sink);   /* keeps sum's result live */
    free(j.x); free(j.y); free(j.t);
  }
  return 0;
}
