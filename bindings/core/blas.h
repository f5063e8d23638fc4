/* blas.h -- OpenBLAS and its LAPACK, loaded at run time with the right CPU kernels.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent Intel cores and falls back to its
 * slowest kernels. OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so entro does
 * not link it: entro_blas_init() detects the CPU, sets OPENBLAS_CORETYPE unless the user
 * already set it, then dlopens the library. This works the same in the entro binary and
 * in entro.so loaded by a stock lua5.4. LAPACK is called through its Fortran symbols in
 * the same library, so there is one OpenBLAS instance and one kernel choice.
 *
 * OpenBLAS runs single-threaded: entro splits products between its own threads
 * (matmul.c, parallel.h). Two thread pools on one machine fight: an idle OpenBLAS thread
 * spins for a tenth of a second after each call, taking the core entro's next kernel
 * needs. The routines entro does not split (LAPACK, and dgemm_threaded and dsyrk_threaded
 * for products of raw buffers) are called through wrappers that give OpenBLAS entro's
 * thread count for the length of the call. */
#ifndef ENTRO_BLAS_H
#define ENTRO_BLAS_H

enum { ECB_ROW = 101, ECB_NOTRANS = 111, ECB_TRANS = 112, ECB_UPPER = 121, ECB_LOWER = 122 };

typedef struct {
  /* single-threaded: the caller splits the work (matmul.c) */
  void (*dgemm)(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a,
                int lda, const double *b, int ldb, double beta, double *c, int ldc);
  /* the same on all of entro's threads */
  void (*dgemm_threaded)(int order, int ta, int tb, int m, int n, int k, double alpha,
                         const double *a, int lda, const double *b, int ldb, double beta,
                         double *c, int ldc);
  void (*dgemv)(int order, int ta, int m, int n, double alpha, const double *a, int lda,
                const double *x, int incx, double beta, double *y, int incy);
  double (*ddot)(int n, const double *x, int incx, const double *y, int incy);
  void (*dger)(int order, int m, int n, double alpha, const double *x, int incx,
               const double *y, int incy, double *a, int lda);
  void (*dsyrk)(int order, int uplo, int trans, int n, int k, double alpha, const double *a,
                int lda, double beta, double *c, int ldc);   /* single-threaded, as dgemm */
  void (*dsyrk_threaded)(int order, int uplo, int trans, int n, int k, double alpha,
                         const double *a, int lda, double beta, double *c, int ldc);
  /* LAPACK, Fortran calling convention (all arguments by pointer, column-major) */
  void (*dsyevd)(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                 double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                 int *info);
  void (*dgesdd)(const char *jobz, const int *m, const int *n, double *a, const int *lda,
                 double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *work,
                 const int *lwork, int *iwork, int *info);
  void (*dgesv)(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b,
                const int *ldb, int *info);
  void (*dgelsd)(const int *m, const int *n, const int *nrhs, double *a, const int *lda,
                 double *b, const int *ldb, double *s, const double *rcond, int *rank,
                 double *work, const int *lwork, int *iwork, int *info);
  void (*dpotrf)(const char *uplo, const int *n, double *a, const int *lda, int *info);
  void (*dgeqrf)(const int *m, const int *n, double *a, const int *lda, double *tau,
                 double *work, const int *lwork, int *info);
  void (*dorgqr)(const int *m, const int *n, const int *k, double *a, const int *lda,
                 const double *tau, double *work, const int *lwork, int *info);
  void (*dgetrf)(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);
  void (*dgetri)(const int *n, double *a, const int *lda, const int *ipiv, double *work,
                 const int *lwork, int *info);
  void (*dstev)(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                double *work, int *info);
  void (*set_num_threads)(int n);
  int (*get_num_threads)(void);
  char *(*get_corename)(void);
  char *(*get_config)(void);
} entro_blas_t;

extern entro_blas_t entro_blas;

/* Loads OpenBLAS once; returns ENTRO_OK or fails with a message saying what to install. */
int entro_blas_init(void);
/* The core type entro chose ("SkylakeX", ...), or NULL when it left OpenBLAS alone. */
const char *entro_blas_chosen_coretype(void);

#endif
