/* blas.c -- CPU detection and run-time loading of OpenBLAS (see blas.h for why). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#include "status.h"

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

static const char *const libnames[] = {"libopenblas.so.0", "libopenblas.so", NULL};

int entro_blas_init(void) {
  if (loaded) return ENTRO_OK;
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (!user || !*user) {
    chosen = detect_coretype();
    if (chosen) setenv("OPENBLAS_CORETYPE", chosen, 1);
  }
  void *h = NULL;
  for (int i = 0; libnames[i] && !h; i++) h = dlopen(libnames[i], RTLD_NOW | RTLD_GLOBAL);
  if (!h)
    return entro_fail(ENTRO_EIO, "cannot load OpenBLAS (%s); install it with `apt-get install "
                      "libopenblas0-pthread` (or `make deps`)", dlerror());
  struct { const char *name; void **slot; } syms[] = {
    {"cblas_dgemm", (void **)&entro_blas.dgemm},   {"cblas_dgemv", (void **)&entro_blas.dgemv},
    {"cblas_ddot", (void **)&entro_blas.ddot},     {"cblas_dger", (void **)&entro_blas.dger},
    {"cblas_dsyrk", (void **)&entro_blas.dsyrk},   {"dsyevd_", (void **)&entro_blas.dsyevd},
    {"dgesdd_", (void **)&entro_blas.dgesdd},      {"dgesv_", (void **)&entro_blas.dgesv},
    {"dgelsd_", (void **)&entro_blas.dgelsd},      {"dpotrf_", (void **)&entro_blas.dpotrf},
    {"dgeqrf_", (void **)&entro_blas.dgeqrf},      {"dorgqr_", (void **)&entro_blas.dorgqr},
    {"dgetrf_", (void **)&entro_blas.dgetrf},      {"dgetri_", (void **)&entro_blas.dgetri},
    {"dstev_", (void **)&entro_blas.dstev},
    {"openblas_set_num_threads", (void **)&entro_blas.set_num_threads},
    {"openblas_get_num_threads", (void **)&entro_blas.get_num_threads},
    {"openblas_get_corename", (void **)&entro_blas.get_corename},
    {"openblas_get_config", (void **)&entro_blas.get_config},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    void *p = dlsym(h, syms[i].name);
    if (!p) return entro_fail(ENTRO_EIO, "OpenBLAS lacks the symbol %s", syms[i].name);
    memcpy(syms[i].slot, &p, sizeof p);
  }
  loaded = 1;
  return ENTRO_OK;
}

const char *entro_blas_chosen_coretype(void) { return chosen; }
