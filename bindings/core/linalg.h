/* linalg.h -- dense linear algebra on LAPACK: symmetric eigenproblems, SVD, solvers,
 * factorizations, determinants and matrix functions of symmetric matrices.
 *
 * Inputs may be any strided 2-D view; each routine copies its input into a column-major
 * workspace for LAPACK (so the input is never modified) and copies results out into new
 * contiguous row-major tensors. Inputs holding NaN or Inf are refused before LAPACK sees
 * them. Results come back as new references through out-pointers, which are all NULL when
 * the routine fails. Sizes beyond LAPACK's 32-bit int range are refused.
 *
 * Symmetric routines (eigh, eigvalsh, sqrtm, inv_sqrtm, expm) read only the lower triangle,
 * a[i][j] with i >= j, and never check symmetry: the upper triangle is ignored. */
#ifndef ENTRO_LINALG_H
#define ENTRO_LINALG_H
#include "tensor.h"

/* Eigenvalues of a symmetric matrix in ascending order (*w, length n) and, when vectors is
 * set, orthonormal eigenvectors as the columns of *v (n x n): a = v diag(w) v^T. dsyevd. */
int entro_linalg_eigh(const entro_tensor *a, int vectors, entro_tensor **w, entro_tensor **v);
/* The same eigenvalues alone, failing under the name eigvalsh. */
int entro_linalg_eigvalsh(const entro_tensor *a, entro_tensor **w);

/* a = u diag(s) v^T for an m x n matrix, k = min(m, n); s descending, length k. Note v,
 * not v^T (as torch.svd). Reduced: u is m x k, v is n x k; full: u is m x m, v is n x n.
 * With vectors unset, only *s is computed and *u, *v stay NULL. dgesdd. */
int entro_linalg_svd(const entro_tensor *a, int full, int vectors, entro_tensor **u,
                     entro_tensor **s, entro_tensor **v);

/* x with a x = b, a square, b a vector (length n) or a matrix (n x k); x has b's shape.
 * Fails on an exactly singular a. dgesv. */
int entro_linalg_solve(const entro_tensor *a, const entro_tensor *b, entro_tensor **x);

/* Minimum-norm least-squares solution of a x = b for an m x n a and b of length m or
 * m x k; x has n rows. Singular values below rcond * s_max count as zero; rcond < 0
 * means eps * max(m, n). Also gives the effective rank and the singular values of a
 * (pass NULL for s when not wanted). dgelsd. */
int entro_linalg_lstsq(const entro_tensor *a, const entro_tensor *b, double rcond,
                       entro_tensor **x, int64_t *rank, entro_tensor **s);

/* Lower-triangular l with a = l l^T (upper triangle of l is zero). Reads a's lower
 * triangle; fails when a is not positive definite. dpotrf. */
int entro_linalg_cholesky(const entro_tensor *a, entro_tensor **l);

/* Reduced QR of an m x n matrix, k = min(m, n): q is m x k with orthonormal columns, r is
 * k x n upper triangular. dgeqrf + dorgqr. */
int entro_linalg_qr(const entro_tensor *a, entro_tensor **q, entro_tensor **r);

/* Inverse of a square matrix; fails on an exactly singular one. dgetrf + dgetri. */
int entro_linalg_inv(const entro_tensor *a, entro_tensor **r);

/* Determinant from the LU factorization: 0 for a singular matrix (not an error). */
int entro_linalg_det(const entro_tensor *a, double *det);
/* sign (-1, 0 or 1) and log|det|; a singular matrix gives sign 0 and logabs -inf. */
int entro_linalg_slogdet(const entro_tensor *a, double *sign, double *logabs);

/* Functions of a symmetric matrix through its eigendecomposition, v f(w) v^T, made exactly
 * symmetric. sqrtm needs a positive semidefinite matrix: eigenvalues down to -n eps |w|_max
 * are roundoff and are taken as 0, anything lower fails. inv_sqrtm needs a positive
 * definite one (every eigenvalue above n eps |w|_max). expm takes any symmetric matrix. */
int entro_linalg_sqrtm(const entro_tensor *a, entro_tensor **r);
int entro_linalg_inv_sqrtm(const entro_tensor *a, entro_tensor **r);
int entro_linalg_expm(const entro_tensor *a, entro_tensor **r);

/* Eigenvalues (ascending) and, when vectors is set, eigenvectors (columns of *z) of the
 * symmetric tridiagonal matrix with diagonal d (length n) and off-diagonal e (length
 * n - 1). dstev. */
int entro_linalg_tridiag_eigh(const entro_tensor *d, const entro_tensor *e, int vectors,
                              entro_tensor **w, entro_tensor **z);

/* Moore-Penrose pseudo-inverse (n x m) through the SVD; singular values at or below
 * rcond * s_max count as zero; rcond < 0 means eps * max(m, n). */
int entro_linalg_pinv(const entro_tensor *a, double rcond, entro_tensor **r);

/* Number of singular values above tol; tol < 0 means s_max * max(m, n) * eps. */
int entro_linalg_matrix_rank(const entro_tensor *a, double tol, int64_t *rank);

/* Matrix norms. Frobenius, 1 and inf are plain sums (NaN in, NaN out); spectral and
 * nuclear come from the singular values. */
typedef enum {
  ENTRO_NORM_FRO, ENTRO_NORM_NUC, ENTRO_NORM_2, ENTRO_NORM_1, ENTRO_NORM_INF
} entro_norm_kind;
int entro_linalg_norm(const entro_tensor *a, int kind, double *result);

/* Removes from the vector w (length n, in place) its components along the rows of q
 * (k x n, rows taken as orthonormal): w -= q^T (q w), by classical Gram-Schmidt once
 * (passes = 1), twice (2), or (0) a second time only when the first removed more than
 * half of |w|^2 (the DGKS test, as ARPACK). When every component is at most tol |w|, w is
 * left as it is (orthogonal to that level already). The coefficients removed (summed over
 * the passes; k of them, zeros when none was) go to coef and |w| after to norm, either may
 * be NULL. w must not share q's storage. gram_schmidt.c; no LAPACK. */
int entro_linalg_project_out(const entro_tensor *q, entro_tensor *w, int passes, double tol,
                             double *coef, double *norm);

#endif
