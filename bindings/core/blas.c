/* blas.c -- CPU detection and run-time loading of OpenBLAS (see blas.h for why). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#include "status.h"
#include "parallel.h"

entro_blas_t entro_blas;
static int loaded;
static const char *chosen;

/* The best OpenBLAS 0.3.21 kernel family this CPU supports; NULL to let OpenBLAS decide. */
static const char *detect_coretype(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return NULL;
}

#define ENTRO_BLAS_THREAD_TIMEOUT "20"

/* ---- the routines entro does not split: OpenBLAS's threads for the length of a call ---- */

static entro_blas_t real;   /* what the library exports */

static void threads(int on) { real.set_num_threads(on ? entro_parallel_threads() : 1); }

/* A wrapper that forwards to real.NAME with OpenBLAS threaded around the call. */
#define THREADED(NAME, PARAMS, ARGS) \
  static void threaded_##NAME PARAMS { threads(1); real.NAME ARGS; threads(0); }

THREADED(dgemm, (int order, int ta, int tb, int m, int n, int k, double alpha, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc),
         (order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
THREADED(dsyrk, (int order, int uplo, int trans, int n, int k, double alpha, const double *a,
                 int lda, double beta, double *c, int ldc),
         (order, uplo, trans, n, k, alpha, a, lda, beta, c, ldc))
THREADED(dsyevd, (const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                  double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                  int *info),
         (jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork, info))
THREADED(dgesdd, (const char *jobz, const int *m, const int *n, double *a, const int *lda,
                  double *s, double *u, const int *ldu, double *vt, const int *ldvt,
                  double *work, const int *lwork, int *iwork, int *info),
         (jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork, info))
THREADED(dgesv, (const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b,
                 const int *ldb, int *info),
         (n, nrhs, a, lda, ipiv, b, ldb, info))
THREADED(dgelsd, (const int *m, const int *n, const int *nrhs, double *a, const int *lda,
                  double *b, const int *ldb, double *s, const double *rcond, int *rank,
                  double *work, const int *lwork, int *iwork, int *info),
         (m, n, nrhs, a, lda, b, ldb, s, rcond, rank, work, lwork, iwork, info))
THREADED(dpotrf, (const char *uplo, const int *n, double *a, const int *lda, int *info),
         (uplo, n, a, lda, info))
THREADED(dgeqrf, (const int *m, const int *n, double *a, const int *lda, double *tau,
                  double *work, const int *lwork, int *info),
         (m, n, a, lda, tau, work, lwork, info))
THREADED(dorgqr, (const int *m, const int *n, const int *k, double *a, const int *lda,
                  const double *tau, double *work, const int *lwork, int *info),
         (m, n, k, a, lda, tau, work, lwork, info))
THREADED(dgetrf, (const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info),
         (m, n, a, lda, ipiv, info))
THREADED(dgetri, (const int *n, double *a, const int *lda, const int *ipiv, double *work,
                  const int *lwork, int *info),
         (n, a, lda, ipiv, work, lwork, info))
THREADED(dstev, (const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                 double *work, int *info),
         (jobz, n, d, e, z, ldz, work, info))

static const char *const libnames[] = {"libopenblas.so.0", "libopenblas.so", NULL};

int entro_blas_init(void) {
  if (loaded) return ENTRO_OK;
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (!user || !*user) {
    chosen = detect_coretype();
    if (chosen) setenv("OPENBLAS_CORETYPE", chosen, 1);
  }
  /* an idle OpenBLAS thread spins (sched_yield) for 2^28 cycles, a tenth of a second, by
   * default, after the calls that use its threads: 2^20 cycles (a third of a millisecond)
   * spares entro's own threads the rest */
  const char *timeout = getenv("OPENBLAS_THREAD_TIMEOUT");
  if (!timeout || !*timeout) setenv("OPENBLAS_THREAD_TIMEOUT", ENTRO_BLAS_THREAD_TIMEOUT, 1);
  void *h = NULL;
  for (int i = 0; libnames[i] && !h; i++) h = dlopen(libnames[i], RTLD_NOW | RTLD_GLOBAL);
  if (!h)
    return entro_fail(ENTRO_EIO, "cannot load OpenBLAS (%s); install it with `apt-get install "
                      "libopenblas0-pthread` (or `make deps`)", dlerror());
  struct { const char *name; void **slot; } syms[] = {
    {"cblas_dgemm", (void **)&real.dgemm},   {"cblas_dgemv", (void **)&real.dgemv},
    {"cblas_ddot", (void **)&real.ddot},     {"cblas_dger", (void **)&real.dger},
    {"cblas_dsyrk", (void **)&real.dsyrk},   {"dsyevd_", (void **)&real.dsyevd},
    {"dgesdd_", (void **)&real.dgesdd},      {"dgesv_", (void **)&real.dgesv},
    {"dgelsd_", (void **)&real.dgelsd},      {"dpotrf_", (void **)&real.dpotrf},
    {"dgeqrf_", (void **)&real.dgeqrf},      {"dorgqr_", (void **)&real.dorgqr},
    {"dgetrf_", (void **)&real.dgetrf},      {"dgetri_", (void **)&real.dgetri},
    {"dstev_", (void **)&real.dstev},
    {"openblas_set_num_threads", (void **)&real.set_num_threads},
    {"openblas_get_num_threads", (void **)&real.get_num_threads},
    {"openblas_get_corename", (void **)&real.get_corename},
    {"openblas_get_config", (void **)&real.get_config},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    void *p = dlsym(h, syms[i].name);
    if (!p) return entro_fail(ENTRO_EIO, "OpenBLAS lacks the symbol %s", syms[i].name);
    memcpy(syms[i].slot, &p, sizeof p);
  }
  real.set_num_threads(1);
  entro_blas = real;
  /* the routines entro does not split reach OpenBLAS through the wrappers above */
#define WRAP(FIELD, FN) {offsetof(entro_blas_t, FIELD), (void (*)(void))FN}
  static const struct { size_t field; void (*fn)(void); } wrapped[] = {
    WRAP(dgemm_threaded, threaded_dgemm), WRAP(dsyrk_threaded, threaded_dsyrk),
    WRAP(dsyevd, threaded_dsyevd), WRAP(dgesdd, threaded_dgesdd), WRAP(dgesv, threaded_dgesv),
    WRAP(dgelsd, threaded_dgelsd), WRAP(dpotrf, threaded_dpotrf), WRAP(dgeqrf, threaded_dgeqrf),
    WRAP(dorgqr, threaded_dorgqr), WRAP(dgetrf, threaded_dgetrf), WRAP(dgetri, threaded_dgetri),
    WRAP(dstev, threaded_dstev),
  };
#undef WRAP
  for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++)
    memcpy((char *)&entro_blas + wrapped[i].field, &wrapped[i].fn, sizeof wrapped[i].fn);
  loaded = 1;
  return ENTRO_OK;
}



const char *entro_blas_chosen_coretype(void) { return chosen; }
