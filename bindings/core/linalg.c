/* linalg.c -- dense linear algebra on LAPACK (see linalg.h).
 *
 * Every routine follows one pattern: check the arguments; copy the input into a malloc'd
 * column-major buffer, refusing NaN/Inf on the way; ask LAPACK for its workspace size
 * (lwork = -1); run it; turn a nonzero info into a message; copy the results out into new
 * row-major tensors; free every buffer on every path. The copies cost O(n^2) against
 * LAPACK's O(n^3) and spare us reasoning about which strided views LAPACK could read in
 * place -- and LAPACK overwrites its input, which must not be the user's tensor. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "linalg.h"
#include "blas.h"

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- arguments ---- */

/* a must be 2-D (and square when asked) with sizes in LAPACK's int range; also makes sure
 * LAPACK is loaded, so every routine can call it after this check. */
static int check_matrix(const char *op, const entro_tensor *a, int square) {
  char b[200];
  if (a->ndim != 2)
    return entro_fail(ENTRO_EINVAL, "%s: needs a 2-D matrix, got a tensor of shape %s", op,
                      entro_tensor_shape_str(b, a));
  if (square && a->shape[0] != a->shape[1])
    return entro_fail(ENTRO_EINVAL, "%s: needs a square matrix, got %s", op,
                      entro_tensor_shape_str(b, a));
  if (a->shape[0] >= INT_MAX || a->shape[1] >= INT_MAX)
    return entro_fail(ENTRO_EINVAL, "%s: a matrix of shape %s exceeds LAPACK's int range", op,
                      entro_tensor_shape_str(b, a));
  return entro_blas_init();
}

/* b, the right-hand side of a system with m equations: a vector of length m or an m x k
 * matrix. */
static int check_rhs(const char *op, const entro_tensor *a, const entro_tensor *b) {
  char x[200], y[200];
  if (b->ndim != 1 && b->ndim != 2)
    return entro_fail(ENTRO_EINVAL, "%s: B must be a vector or a matrix, got shape %s", op,
                      entro_tensor_shape_str(y, b));
  if (b->shape[0] != a->shape[0])
    return entro_fail(ENTRO_EINVAL, "%s: sizes differ (A is %s, B is %s; B needs %lld rows)", op,
                      entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b),
                      (long long)a->shape[0]);
  if (b->ndim == 2 && b->shape[1] >= INT_MAX)
    return entro_fail(ENTRO_EINVAL, "%s: B of shape %s exceeds LAPACK's int range", op,
                      entro_tensor_shape_str(y, b));
  return ENTRO_OK;
}

static int check_vector(const char *op, const char *what, const entro_tensor *v) {
  char b[200];
  if (v->ndim != 1)
    return entro_fail(ENTRO_EINVAL, "%s: %s must be a vector, got shape %s", op, what,
                      entro_tensor_shape_str(b, v));
  if (v->shape[0] >= INT_MAX)
    return entro_fail(ENTRO_EINVAL, "%s: %s of length %lld exceeds LAPACK's int range", op, what,
                      (long long)v->shape[0]);
  return ENTRO_OK;
}

/* ---- workspaces ---- */

/* At least one element, so LAPACK always gets a valid pointer. */
static void *walloc(const char *op, int64_t n, size_t size) {
  if (n < 1) n = 1;
  if ((uint64_t)n > SIZE_MAX / size) {
    entro_fail(ENTRO_ENOMEM, "%s: a workspace of %lld elements is too large", op, (long long)n);
    return NULL;
  }
  void *p = malloc((size_t)n * size);
  if (!p)
    entro_fail(ENTRO_ENOMEM, "%s: cannot allocate %lld bytes of workspace", op,
               (long long)n * (long long)size);
  return p;
}

/* Copies a (m x n; a vector counts as m x 1) into the column-major buffer buf with leading
 * dimension ld >= m, zeroing rows m..ld-1; refuses NaN and Inf. */
static int copy_in(const char *op, const char *what, const entro_tensor *a, double *buf,
                   int64_t ld) {
  int64_t m = a->shape[0], n = a->ndim == 2 ? a->shape[1] : 1;
  int64_t s0 = a->stride[0], s1 = a->ndim == 2 ? a->stride[1] : 0;
  const double *p = entro_data(a);
  for (int64_t j = 0; j < n; j++) {
    double *col = buf + j * ld;
    for (int64_t i = 0; i < m; i++) col[i] = p[i * s0 + j * s1];
    double bad = 0;
    for (int64_t i = 0; i < m; i++) bad += col[i] - col[i];   /* NaN iff an entry is NaN/Inf */
    if (isnan(bad))
      return entro_fail(ENTRO_EINVAL, "%s: %s has NaN/Inf entries", op, what);
    for (int64_t i = m; i < ld; i++) col[i] = 0;
  }
  return ENTRO_OK;
}

/* A new column-major copy of a with leading dimension ld and room for cols columns. */
static double *to_colmajor(const char *op, const char *what, const entro_tensor *a, int64_t ld,
                           int64_t cols) {
  double *buf = walloc(op, ld * cols, sizeof *buf);
  if (buf && copy_in(op, what, a, buf, ld)) { free(buf); buf = NULL; }
  return buf;
}

/* A new row-major m x n tensor (a vector of m when nd is 1) with t[i][j] = buf[i rs + j cs]:
 * rs = 1, cs = ld reads a column-major buffer; rs = ld, cs = 1 reads its transpose. */
static entro_tensor *copy_out(const double *buf, int64_t rs, int64_t cs, int64_t m, int64_t n,
                              int nd) {
  int64_t shape[2] = {m, n};
  entro_tensor *t = entro_tensor_new(nd, shape);
  if (!t) return NULL;
  double *p = entro_data(t);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) p[i * n + j] = buf[i * rs + j * cs];
  return t;
}

/* The optimal lwork from a workspace query's answer. */
static int lwork_of(const char *op, double w, int *lwork) {
  if (!(w < (double)INT_MAX))
    return entro_fail(ENTRO_ENOMEM, "%s: LAPACK asks for %g doubles of workspace, beyond its int "
                      "range", op, w);
  *lwork = w < 1 ? 1 : (int)w;
  return ENTRO_OK;
}

/* info < 0 means entro passed LAPACK a bad argument: our bug, reported as such. */
static int bad_arg(const char *op, const char *routine, int info) {
  return entro_fail(ENTRO_ENUM, "%s: LAPACK %s rejected its argument %d (a bug in entro)", op,
                    routine, -info);
}

static int no_convergence(const char *op, const char *routine, int info) {
  return entro_fail(ENTRO_ENUM, "%s: LAPACK %s did not converge (info %d)", op, routine, info);
}

/* ---- symmetric eigenproblem ---- */

/* dsyevd on a's lower triangle: eigenvalues (ascending) into w; *z is a new column-major
 * n x n buffer (ld max(1, n)) holding the eigenvectors when vectors is set. */
static int syevd(const char *op, const entro_tensor *a, int vectors, double *w, double **z) {
  int n = (int)a->shape[0], lda = n > 1 ? n : 1, info = 0, lwork = -1, liwork = -1, iq = 0;
  double wq = 0, *work = NULL;
  int *iwork = NULL;
  const char *jobz = vectors ? "V" : "N";
  *z = NULL;
  double *buf = to_colmajor(op, "matrix", a, lda, n);
  if (!buf) return entro_errcode();
  if (n == 0) { *z = buf; return ENTRO_OK; }
  entro_blas.dsyevd(jobz, "L", &n, buf, &lda, w, &wq, &lwork, &iq, &liwork, &info);
  int st = info ? bad_arg(op, "dsyevd", info) : lwork_of(op, wq, &lwork);
  liwork = iq > 1 ? iq : 1;
  if (!st && (!(work = walloc(op, lwork, sizeof *work)) ||
              !(iwork = walloc(op, liwork, sizeof *iwork))))
    st = entro_errcode();
  if (!st) {
    entro_blas.dsyevd(jobz, "L", &n, buf, &lda, w, work, &lwork, iwork, &liwork, &info);
    if (info < 0) st = bad_arg(op, "dsyevd", info);
    else if (info > 0) st = no_convergence(op, "dsyevd", info);
  }
  free(work);
  free(iwork);
  if (st) { free(buf); return st; }
  *z = buf;
  return ENTRO_OK;
}

static int eigh_named(const char *op, const entro_tensor *a, int vectors, entro_tensor **w,
                      entro_tensor **v) {
  *w = NULL;
  if (v) *v = NULL;
  if (check_matrix(op, a, 1)) return entro_errcode();
  int64_t n = a->shape[0];
  entro_tensor *wt = entro_tensor_new(1, &n), *vt = NULL;
  if (!wt) return entro_errcode();
  double *z = NULL;
  int st = syevd(op, a, vectors, entro_data(wt), &z);
  if (!st && vectors && !(vt = copy_out(z, 1, max64(n, 1), n, n, 2))) st = entro_errcode();
  free(z);
  if (st) { entro_tensor_release(wt); return st; }
  *w = wt;
  if (v) *v = vt;
  return ENTRO_OK;
}

int entro_linalg_eigh(const entro_tensor *a, int vectors, entro_tensor **w, entro_tensor **v) {
  return eigh_named("eigh", a, vectors && v, w, v);
}

int entro_linalg_eigvalsh(const entro_tensor *a, entro_tensor **w) {
  return eigh_named("eigvalsh", a, 0, w, NULL);
}

/* ---- functions of symmetric matrices ---- */

enum { F_SQRT, F_INV_SQRT, F_EXP };

/* Replaces the ascending eigenvalues w by f(w), refusing those outside f's domain. Below
 * n eps |w|_max an eigenvalue is indistinguishable from roundoff. */
static int apply_fn(const char *op, int f, double *w, int64_t n) {
  double wmax = 0;
  for (int64_t i = 0; i < n; i++) wmax = fmax(wmax, fabs(w[i]));
  double tol = (double)n * DBL_EPSILON * wmax;
  if (n == 0) return ENTRO_OK;
  if (f == F_SQRT && w[0] < -tol)
    return entro_fail(ENTRO_ENUM, "%s: matrix is not positive semidefinite (eigenvalue %.6g, "
                      "below roundoff -%.3g; only its lower triangle is read: is it symmetric?)",
                      op, w[0], tol);
  if (f == F_INV_SQRT && !(w[0] > tol))
    return entro_fail(ENTRO_ENUM, "%s: matrix is not positive definite (smallest eigenvalue "
                      "%.6g, roundoff level %.3g)", op, w[0], tol);
  if (f == F_EXP && w[n - 1] > 709)
    return entro_fail(ENTRO_ENUM, "%s: eigenvalue %.6g overflows exp", op, w[n - 1]);
  for (int64_t i = 0; i < n; i++)
    w[i] = f == F_SQRT ? sqrt(fmax(w[i], 0)) : f == F_INV_SQRT ? 1 / sqrt(w[i]) : exp(w[i]);
  return ENTRO_OK;
}

/* v f(w) v^T, symmetrised so the result is exactly symmetric. */
static int symfun(const char *op, int f, const entro_tensor *a, entro_tensor **r) {
  *r = NULL;
  if (check_matrix(op, a, 1)) return entro_errcode();
  int64_t n = a->shape[0], shape[2] = {n, n};
  double *w = walloc(op, n, sizeof *w), *z = NULL, *y = NULL;
  entro_tensor *out = NULL;
  int st = w ? syevd(op, a, 1, w, &z) : entro_errcode();
  if (!st) st = apply_fn(op, f, w, n);
  if (!st && !(y = walloc(op, n * n, sizeof *y))) st = entro_errcode();
  if (!st && !(out = entro_tensor_new(2, shape))) st = entro_errcode();
  if (!st && n > 0) {
    for (int64_t j = 0; j < n; j++)
      for (int64_t i = 0; i < n; i++) y[i + j * n] = z[i + j * n] * w[j];
    /* Read as row-major, the buffers hold y^T and z^T, so Trans x NoTrans gives y z^T. */
    double *c = entro_data(out);
    entro_blas.dgemm_threaded(ECB_ROW, ECB_TRANS, ECB_NOTRANS, (int)n, (int)n, (int)n, 1.0, y,
                              (int)n, z, (int)n, 0.0, c, (int)n);
    for (int64_t i = 0; i < n; i++)
      for (int64_t k = i + 1; k < n; k++) {
        double m = 0.5 * (c[i * n + k] + c[k * n + i]);
        c[i * n + k] = c[k * n + i] = m;
      }
  }
  free(w);
  free(z);
  free(y);
  if (st) { entro_tensor_release(out); return st; }
  *r = out;
  return ENTRO_OK;
}

int entro_linalg_sqrtm(const entro_tensor *a, entro_tensor **r) {
  return symfun("sqrtm", F_SQRT, a, r);
}
int entro_linalg_inv_sqrtm(const entro_tensor *a, entro_tensor **r) {
  return symfun("inv_sqrtm", F_INV_SQRT, a, r);
}
int entro_linalg_expm(const entro_tensor *a, entro_tensor **r) {
  return symfun("expm", F_EXP, a, r);
}

/* ---- singular value decomposition ---- */

typedef struct {
  int m, n, k;       /* a is m x n, k = min(m, n) */
  double *u;         /* column-major m x ucols, ld max(1, m) */
  double *vt;        /* column-major vrows x n, ld ldvt */
  int ucols, vrows, ldu, ldvt;
} svd_bufs;

/* dgesdd with jobz 'N' (values only), 'S' (reduced) or 'A' (full); singular values into s.
 * The caller frees b->u and b->vt. */
static int gesdd(const char *op, const entro_tensor *a, char jobz, double *s, svd_bufs *b) {
  int m = (int)a->shape[0], n = (int)a->shape[1], k = m < n ? m : n;
  int lda = m > 1 ? m : 1, info = 0, lwork = -1;
  memset(b, 0, sizeof *b);
  b->m = m; b->n = n; b->k = k;
  b->ucols = jobz == 'A' ? m : k;
  b->vrows = jobz == 'A' ? n : k;
  b->ldu = lda;
  b->ldvt = b->vrows > 1 ? b->vrows : 1;
  double *buf = to_colmajor(op, "matrix", a, lda, n), *work = NULL, wq = 0, dummy = 0;
  int *iwork = NULL;
  if (!buf) return entro_errcode();
  int st = ENTRO_OK;
  if (jobz != 'N' && (!(b->u = walloc(op, (int64_t)b->ldu * b->ucols, sizeof *b->u)) ||
                      !(b->vt = walloc(op, (int64_t)b->ldvt * n, sizeof *b->vt))))
    st = entro_errcode();
  if (!st && k == 0) {
    /* LAPACK returns at once for an empty matrix; the full factors are identities. */
    if (jobz == 'A') {
      for (int64_t i = 0; i < (int64_t)m * m; i++) b->u[i] = i % (m + 1) == 0;
      for (int64_t i = 0; i < (int64_t)n * n; i++) b->vt[i] = i % (n + 1) == 0;
    }
    goto done;
  }
  if (!st && !(iwork = walloc(op, 8 * (int64_t)k, sizeof *iwork))) st = entro_errcode();
  double *u = b->u ? b->u : &dummy, *vt = b->vt ? b->vt : &dummy;
  char jz[2] = {jobz, 0};
  if (!st) {
    entro_blas.dgesdd(jz, &m, &n, buf, &lda, s, u, &b->ldu, vt, &b->ldvt, &wq, &lwork, iwork,
                      &info);
    st = info ? bad_arg(op, "dgesdd", info) : lwork_of(op, wq, &lwork);
  }
  if (!st && !(work = walloc(op, lwork, sizeof *work))) st = entro_errcode();
  if (!st) {
    entro_blas.dgesdd(jz, &m, &n, buf, &lda, s, u, &b->ldu, vt, &b->ldvt, work, &lwork, iwork,
                      &info);
    if (info < 0) st = bad_arg(op, "dgesdd", info);
    else if (info > 0) st = no_convergence(op, "dgesdd", info);
  }
done:
  free(buf);
  free(work);
  free(iwork);
  if (st) { free(b->u); free(b->vt); b->u = b->vt = NULL; }
  return st;
}

int entro_linalg_svd(const entro_tensor *a, int full, int vectors, entro_tensor **u,
                     entro_tensor **s, entro_tensor **v) {
  *s = NULL;
  if (u) *u = NULL;
  if (v) *v = NULL;
  vectors = vectors && u && v;
  if (check_matrix("svd", a, 0)) return entro_errcode();
  int64_t k = min64(a->shape[0], a->shape[1]);
  entro_tensor *st_ = entro_tensor_new(1, &k), *ut = NULL, *vt = NULL;
  if (!st_) return entro_errcode();
  svd_bufs b;
  int st = gesdd("svd", a, vectors ? (full ? 'A' : 'S') : 'N', entro_data(st_), &b);
  if (!st && vectors) {
    /* v = vt^T: v[i][j] = vt[j + i ldvt] */
    ut = copy_out(b.u, 1, b.ldu, b.m, b.ucols, 2);
    vt = ut ? copy_out(b.vt, b.ldvt, 1, b.n, b.vrows, 2) : NULL;
    if (!vt) st = entro_errcode();
  }
  free(b.u);
  free(b.vt);
  if (st) {
    entro_tensor_release(st_);
    entro_tensor_release(ut);
    entro_tensor_release(vt);
    return st;
  }
  *s = st_;
  if (vectors) { *u = ut; *v = vt; }
  return ENTRO_OK;
}

int entro_linalg_pinv(const entro_tensor *a, double rcond, entro_tensor **r) {
  const char *op = "pinv";
  *r = NULL;
  if (check_matrix(op, a, 0)) return entro_errcode();
  int64_t m = a->shape[0], n = a->shape[1], k = min64(m, n), shape[2] = {n, m};
  double *s = walloc(op, k, sizeof *s);
  if (!s) return entro_errcode();
  entro_tensor *out = NULL;
  svd_bufs b;
  int st = gesdd(op, a, 'S', s, &b);
  if (!st && !(out = entro_tensor_zeros(2, shape))) st = entro_errcode();
  if (!st && k > 0) {
    if (rcond < 0) rcond = DBL_EPSILON * (double)max64(m, n);
    double cut = rcond * s[0];
    /* pinv = v diag(1/s) u^T; scale v's columns, which are vt's rows */
    for (int64_t j = 0; j < k; j++) {
      double inv = s[j] > cut ? 1 / s[j] : 0;
      for (int64_t i = 0; i < n; i++) b.vt[j + i * b.ldvt] *= inv;
    }
    /* Read as row-major, vt's buffer is v (n x k) and u's is u^T (k x m). */
    entro_blas.dgemm_threaded(ECB_ROW, ECB_NOTRANS, ECB_NOTRANS, (int)n, (int)m, (int)k, 1.0,
                              b.vt, b.ldvt, b.u, b.ldu, 0.0, entro_data(out), (int)m);
  }
  free(b.u);
  free(b.vt);
  free(s);
  if (st) { entro_tensor_release(out); return st; }
  *r = out;
  return ENTRO_OK;
}

/* Singular values only, into a new buffer of min(m, n) (descending). */
static int singular_values(const char *op, const entro_tensor *a, double **s, int64_t *k) {
  *s = NULL;
  if (check_matrix(op, a, 0)) return entro_errcode();
  *k = min64(a->shape[0], a->shape[1]);
  double *sv = walloc(op, *k, sizeof *sv);
  if (!sv) return entro_errcode();
  svd_bufs b;
  int st = gesdd(op, a, 'N', sv, &b);
  if (st) { free(sv); return st; }
  *s = sv;
  return ENTRO_OK;
}

int entro_linalg_matrix_rank(const entro_tensor *a, double tol, int64_t *rank) {
  double *s;
  int64_t k;
  *rank = 0;
  if (singular_values("matrix_rank", a, &s, &k)) return entro_errcode();
  if (k > 0 && tol < 0) tol = s[0] * (double)max64(a->shape[0], a->shape[1]) * DBL_EPSILON;
  for (int64_t i = 0; i < k; i++) *rank += s[i] > tol;
  free(s);
  return ENTRO_OK;
}

/* sqrt(sum a_ij^2), scaled by the largest entry so neither overflows nor underflows. */
static double frobenius(const entro_tensor *a) {
  int64_t m = a->shape[0], n = a->shape[1];
  const double *p = entro_data(a);
  double big = 0, sum = 0;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double x = fabs(p[i * a->stride[0] + j * a->stride[1]]);
      if (isnan(x)) return x;
      big = fmax(big, x);
    }
  if (big == 0 || isinf(big)) return big;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double x = p[i * a->stride[0] + j * a->stride[1]] / big;
      sum += x * x;
    }
  return big * sqrt(sum);
}

/* Largest absolute row sum (rows = 1) or column sum (rows = 0). */
static double max_abs_sum(const entro_tensor *a, int rows) {
  int64_t outer = a->shape[rows ? 0 : 1], inner = a->shape[rows ? 1 : 0];
  int64_t so = a->stride[rows ? 0 : 1], si = a->stride[rows ? 1 : 0];
  const double *p = entro_data(a);
  double best = 0;
  for (int64_t i = 0; i < outer; i++) {
    double t = 0;
    for (int64_t j = 0; j < inner; j++) t += fabs(p[i * so + j * si]);
    if (isnan(t)) return t;
    best = fmax(best, t);
  }
  return best;
}

int entro_linalg_norm(const entro_tensor *a, int kind, double *result) {
  *result = 0;
  if (kind == ENTRO_NORM_2 || kind == ENTRO_NORM_NUC) {
    double *s;
    int64_t k;
    if (singular_values("norm", a, &s, &k)) return entro_errcode();
    if (kind == ENTRO_NORM_2) *result = k > 0 ? s[0] : 0;
    else for (int64_t i = 0; i < k; i++) *result += s[i];
    free(s);
    return ENTRO_OK;
  }
  if (check_matrix("norm", a, 0)) return entro_errcode();
  switch (kind) {
  case ENTRO_NORM_FRO: *result = frobenius(a); return ENTRO_OK;
  case ENTRO_NORM_1: *result = max_abs_sum(a, 0); return ENTRO_OK;
  case ENTRO_NORM_INF: *result = max_abs_sum(a, 1); return ENTRO_OK;
  default: return entro_fail(ENTRO_EINVAL, "norm: unknown norm kind %d", kind);
  }
}

/* ---- linear systems ---- */

int entro_linalg_solve(const entro_tensor *a, const entro_tensor *b, entro_tensor **x) {
  const char *op = "solve";
  char s[200];
  *x = NULL;
  if (check_matrix(op, a, 1) || check_rhs(op, a, b)) return entro_errcode();
  int n = (int)a->shape[0], nrhs = b->ndim == 2 ? (int)b->shape[1] : 1;
  int ld = n > 1 ? n : 1, info = 0;
  double *abuf = to_colmajor(op, "matrix A", a, ld, n), *bbuf = NULL;
  int *ipiv = NULL;
  int st = abuf ? ENTRO_OK : entro_errcode();
  if (!st && !(bbuf = to_colmajor(op, "B", b, ld, nrhs))) st = entro_errcode();
  if (!st && !(ipiv = walloc(op, n, sizeof *ipiv))) st = entro_errcode();
  if (!st) {
    entro_blas.dgesv(&n, &nrhs, abuf, &ld, ipiv, bbuf, &ld, &info);
    if (info < 0) st = bad_arg(op, "dgesv", info);
    else if (info > 0)
      st = entro_fail(ENTRO_ENUM, "%s: matrix A of shape %s is singular (pivot %d is exactly "
                      "zero)", op, entro_tensor_shape_str(s, a), info);
  }
  if (!st && !(*x = copy_out(bbuf, 1, ld, n, nrhs, b->ndim))) st = entro_errcode();
  free(abuf);
  free(bbuf);
  free(ipiv);
  return st;
}

/* The size dgelsd needs for iwork, from its documentation, in case an old LAPACK does not
 * report it in the workspace query. */
static int64_t gelsd_liwork(int64_t k) {
  int64_t nlvl = 0;
  while (k > 0 && (k >> nlvl) > 26) nlvl++;   /* ~ log2(k / (smlsiz + 1)) + 1, smlsiz = 25 */
  nlvl++;
  return max64(1, 3 * k * nlvl + 11 * k);
}

int entro_linalg_lstsq(const entro_tensor *a, const entro_tensor *b, double rcond,
                       entro_tensor **x, int64_t *rank, entro_tensor **s) {
  const char *op = "lstsq";
  *x = NULL;
  *rank = 0;
  if (s) *s = NULL;
  if (check_matrix(op, a, 0) || check_rhs(op, a, b)) return entro_errcode();
  int m = (int)a->shape[0], n = (int)a->shape[1], nrhs = b->ndim == 2 ? (int)b->shape[1] : 1;
  int64_t k = min64(m, n);
  int lda = m > 1 ? m : 1, ldb = (int)max64(1, max64(m, n)), info = 0, lwork = -1, iq = 0, rk = 0;
  if (rcond < 0) rcond = DBL_EPSILON * (double)max64(m, n);
  entro_tensor *sv = entro_tensor_new(1, &k);
  if (!sv) return entro_errcode();
  double *abuf = to_colmajor(op, "matrix A", a, lda, n), *bbuf = NULL, *work = NULL, wq = 0;
  int *iwork = NULL;
  int st = abuf ? ENTRO_OK : entro_errcode();
  if (!st && !(bbuf = to_colmajor(op, "B", b, ldb, nrhs))) st = entro_errcode();
  if (!st && k > 0 && nrhs > 0) {
    entro_blas.dgelsd(&m, &n, &nrhs, abuf, &lda, bbuf, &ldb, entro_data(sv), &rcond, &rk, &wq,
                      &lwork, &iq, &info);
    st = info ? bad_arg(op, "dgelsd", info) : lwork_of(op, wq, &lwork);
    if (!st && (!(work = walloc(op, lwork, sizeof *work)) ||
                !(iwork = walloc(op, max64(iq, gelsd_liwork(k)), sizeof *iwork))))
      st = entro_errcode();
    if (!st) {
      entro_blas.dgelsd(&m, &n, &nrhs, abuf, &lda, bbuf, &ldb, entro_data(sv), &rcond, &rk,
                        work, &lwork, iwork, &info);
      if (info < 0) st = bad_arg(op, "dgelsd", info);
      else if (info > 0) st = no_convergence(op, "dgelsd", info);
    }
  } else if (!st && k > 0) {
    /* no right-hand sides: still report the rank and singular values */
    svd_bufs sb;
    st = gesdd(op, a, 'N', entro_data(sv), &sb);
    for (int64_t i = 0; !st && i < k; i++) rk += entro_data(sv)[i] > rcond * entro_data(sv)[0];
  }
  /* with k == 0 the minimum-norm solution is zero, which bbuf's zeroed rows already hold */
  if (!st && !(*x = copy_out(bbuf, 1, ldb, n, nrhs, b->ndim))) st = entro_errcode();
  free(abuf);
  free(bbuf);
  free(work);
  free(iwork);
  if (st || !s) entro_tensor_release(sv);
  if (st) return st;
  *rank = rk;
  if (s) *s = sv;
  return ENTRO_OK;
}

/* ---- factorizations ---- */

int entro_linalg_cholesky(const entro_tensor *a, entro_tensor **l) {
  const char *op = "cholesky";
  *l = NULL;
  if (check_matrix(op, a, 1)) return entro_errcode();
  int n = (int)a->shape[0], lda = n > 1 ? n : 1, info = 0;
  double *buf = to_colmajor(op, "matrix", a, lda, n);
  if (!buf) return entro_errcode();
  entro_blas.dpotrf("L", &n, buf, &lda, &info);
  int st = ENTRO_OK;
  if (info < 0) st = bad_arg(op, "dpotrf", info);
  else if (info > 0)
    st = entro_fail(ENTRO_ENUM, "%s: matrix is not positive definite (leading minor %d)", op, info);
  for (int64_t j = 0; !st && j < n; j++)
    for (int64_t i = 0; i < j; i++) buf[i + j * lda] = 0;   /* LAPACK leaves the upper part */
  if (!st && !(*l = copy_out(buf, 1, lda, n, n, 2))) st = entro_errcode();
  free(buf);
  return st;
}

int entro_linalg_qr(const entro_tensor *a, entro_tensor **q, entro_tensor **r) {
  const char *op = "qr";
  *q = *r = NULL;
  if (check_matrix(op, a, 0)) return entro_errcode();
  int m = (int)a->shape[0], n = (int)a->shape[1], k = m < n ? m : n;
  int lda = m > 1 ? m : 1, info = 0, lwork = -1, lw2 = -1;
  double *buf = to_colmajor(op, "matrix", a, lda, n), *tau = NULL, *work = NULL, wq = 0, wq2 = 0;
  int st = buf ? ENTRO_OK : entro_errcode();
  entro_tensor *rt = NULL, *qt = NULL;
  if (!st && !(tau = walloc(op, k, sizeof *tau))) st = entro_errcode();
  if (!st && k > 0) {
    entro_blas.dgeqrf(&m, &n, buf, &lda, tau, &wq, &lwork, &info);
    if (info) st = bad_arg(op, "dgeqrf", info);
    if (!st) {
      entro_blas.dorgqr(&m, &k, &k, buf, &lda, tau, &wq2, &lw2, &info);
      if (info) st = bad_arg(op, "dorgqr", info);
    }
    if (!st) st = lwork_of(op, fmax(wq, wq2), &lwork);
    if (!st && !(work = walloc(op, lwork, sizeof *work))) st = entro_errcode();
    if (!st) {
      entro_blas.dgeqrf(&m, &n, buf, &lda, tau, work, &lwork, &info);
      if (info) st = bad_arg(op, "dgeqrf", info);
    }
  }
  /* r is the upper triangle of the first k rows, read before dorgqr overwrites them */
  int64_t rshape[2] = {k, n}, qshape[2] = {m, k};
  if (!st && !(rt = entro_tensor_zeros(2, rshape))) st = entro_errcode();
  for (int64_t i = 0; !st && i < k; i++)
    for (int64_t j = i; j < n; j++) entro_data(rt)[i * n + j] = buf[i + j * lda];
  if (!st && k > 0) {
    entro_blas.dorgqr(&m, &k, &k, buf, &lda, tau, work, &lwork, &info);
    if (info) st = bad_arg(op, "dorgqr", info);
  }
  if (!st && !(qt = k > 0 ? copy_out(buf, 1, lda, m, k, 2) : entro_tensor_new(2, qshape)))
    st = entro_errcode();
  free(buf);
  free(tau);
  free(work);
  if (st) { entro_tensor_release(rt); return st; }
  *q = qt;
  *r = rt;
  return ENTRO_OK;
}

int entro_linalg_inv(const entro_tensor *a, entro_tensor **r) {
  const char *op = "inv";
  char s[200];
  *r = NULL;
  if (check_matrix(op, a, 1)) return entro_errcode();
  int n = (int)a->shape[0], lda = n > 1 ? n : 1, info = 0, lwork = -1;
  double *buf = to_colmajor(op, "matrix", a, lda, n), *work = NULL, wq = 0;
  int *ipiv = NULL;
  int st = buf ? ENTRO_OK : entro_errcode();
  if (!st && !(ipiv = walloc(op, n, sizeof *ipiv))) st = entro_errcode();
  if (!st && n > 0) {
    entro_blas.dgetrf(&n, &n, buf, &lda, ipiv, &info);
    if (info < 0) st = bad_arg(op, "dgetrf", info);
    else if (info > 0)
      st = entro_fail(ENTRO_ENUM, "%s: matrix of shape %s is singular (pivot %d is exactly zero)",
                      op, entro_tensor_shape_str(s, a), info);
    if (!st) {
      entro_blas.dgetri(&n, buf, &lda, ipiv, &wq, &lwork, &info);
      st = info ? bad_arg(op, "dgetri", info) : lwork_of(op, wq, &lwork);
    }
    if (!st && !(work = walloc(op, lwork, sizeof *work))) st = entro_errcode();
    if (!st) {
      entro_blas.dgetri(&n, buf, &lda, ipiv, work, &lwork, &info);
      if (info) st = bad_arg(op, "dgetri", info);   /* info > 0 was caught by dgetrf */
    }
  }
  if (!st && !(*r = copy_out(buf, 1, lda, n, n, 2))) st = entro_errcode();
  free(buf);
  free(ipiv);
  free(work);
  return st;
}

/* det = (-1)^(row swaps) prod u_ii from the LU factorization; an exactly zero pivot
 * (dgetrf's info > 0) makes it 0, which is an answer, not an error. */
static int lu_det(const char *op, const entro_tensor *a, double *det, double *sign,
                  double *logabs) {
  *det = *sign = 1;
  *logabs = 0;
  if (check_matrix(op, a, 1)) return entro_errcode();
  int n = (int)a->shape[0], lda = n > 1 ? n : 1, info = 0;
  double *buf = to_colmajor(op, "matrix", a, lda, n);
  int *ipiv = buf ? walloc(op, n, sizeof *ipiv) : NULL;
  if (!ipiv) { free(buf); return entro_errcode(); }
  int st = ENTRO_OK;
  if (n > 0) {
    entro_blas.dgetrf(&n, &n, buf, &lda, ipiv, &info);
    if (info < 0) st = bad_arg(op, "dgetrf", info);
  }
  for (int i = 0; !st && i < n; i++) {
    double u = buf[i + (int64_t)i * lda];
    if (ipiv[i] != i + 1) { *det = -*det; *sign = -*sign; }
    *det *= u;
    *sign *= u > 0 ? 1 : u < 0 ? -1 : 0;
    *logabs += log(fabs(u));
  }
  if (*det == 0) *det = 0;     /* no -0 from a sign flip of a zero product */
  if (*sign == 0) *sign = 0;
  free(buf);
  free(ipiv);
  return st;
}

int entro_linalg_det(const entro_tensor *a, double *det) {
  double sign, logabs;
  return lu_det("det", a, det, &sign, &logabs);
}

int entro_linalg_slogdet(const entro_tensor *a, double *sign, double *logabs) {
  double det;
  return lu_det("slogdet", a, &det, sign, logabs);
}

/* ---- tridiagonal eigenproblem ---- */

int entro_linalg_tridiag_eigh(const entro_tensor *d, const entro_tensor *e, int vectors,
                              entro_tensor **w, entro_tensor **z) {
  const char *op = "tridiag_eigh";
  *w = NULL;
  if (z) *z = NULL;
  vectors = vectors && z;
  if (check_vector(op, "the diagonal d", d) || check_vector(op, "the off-diagonal e", e))
    return entro_errcode();
  int n = (int)d->shape[0], ldz = n > 1 ? n : 1, info = 0;
  if (e->shape[0] != max64(n - 1, 0))
    return entro_fail(ENTRO_EINVAL, "%s: the off-diagonal e has length %lld, expected %lld for "
                      "a diagonal of %d", op, (long long)e->shape[0], (long long)max64(n - 1, 0), n);
  if (entro_blas_init()) return entro_errcode();
  int64_t n64 = n;
  entro_tensor *wt = entro_tensor_new(1, &n64), *zt = NULL;
  if (!wt) return entro_errcode();
  double *ebuf = NULL, *zbuf = NULL, *work = NULL, dummy = 0;
  int st = copy_in(op, "the diagonal d", d, entro_data(wt), n);
  if (!st && !(ebuf = walloc(op, n, sizeof *ebuf))) st = entro_errcode();
  if (!st) st = copy_in(op, "the off-diagonal e", e, ebuf, e->shape[0]);
  if (!st && vectors && !(zbuf = walloc(op, (int64_t)ldz * n, sizeof *zbuf))) st = entro_errcode();
  if (!st && !(work = walloc(op, 2 * (int64_t)n - 2, sizeof *work))) st = entro_errcode();
  if (!st && n > 0) {
    entro_blas.dstev(vectors ? "V" : "N", &n, entro_data(wt), ebuf, zbuf ? zbuf : &dummy, &ldz,
                     work, &info);
    if (info < 0) st = bad_arg(op, "dstev", info);
    else if (info > 0) st = no_convergence(op, "dstev", info);
  }
  if (!st && vectors && !(zt = copy_out(zbuf, 1, ldz, n, n, 2))) st = entro_errcode();
  free(ebuf);
  free(zbuf);
  free(work);
  if (st) { entro_tensor_release(wt); return st; }
  *w = wt;
  if (z) *z = zt;
  return ENTRO_OK;
}
