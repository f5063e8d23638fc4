/* metrics.c -- representation similarity metrics on BLAS and LAPACK (see metrics.h).
 *
 * One pattern throughout: check both matrices (2-D, rows paired, sizes in BLAS's int range);
 * copy them into contiguous row-major workspaces, centring columns and refusing NaN/Inf on
 * the way (the inputs may be any strided view and are never written); let dsyrk, dgemm and
 * dgesdd do the O(n p^2) or O(n^2 p) work (a feature-space dsyrk as two equal tasks on
 * entro's threads, the rest on OpenBLAS's); finish with O(n^2) loops at most. Workspaces are
 * entro tensors or malloc'd arrays, released on every path. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "blas.h"
#include "interrupt.h"
#include "linalg.h"
#include "ops.h"
#include "parallel.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- arguments ---- */

static int check_matrix(const char *op, const char *what, const entro_tensor *a) {
  char b[200];
  if (a->ndim != 2)
    return entro_fail(ENTRO_EINVAL, "%s: %s must be a 2-D matrix (rows x features), got shape %s",
                      op, what, entro_tensor_shape_str(b, a));
  if (a->shape[1] < 1)
    return entro_fail(ENTRO_EINVAL, "%s: %s has no features (shape %s)", op, what,
                      entro_tensor_shape_str(b, a));
  if (a->shape[0] >= INT_MAX || a->shape[1] >= INT_MAX)
    return entro_fail(ENTRO_EINVAL, "%s: %s of shape %s exceeds BLAS's int range", op, what,
                      entro_tensor_shape_str(b, a));
  return ENTRO_OK;
}

/* X and Y: matrices with the same number of rows, at least min_rows of them. */
static int check_pair(const char *op, const entro_tensor *x, const entro_tensor *y,
                      int64_t min_rows) {
  if (check_matrix(op, "X", x) || check_matrix(op, "Y", y)) return entro_errcode();
  if (x->shape[0] != y->shape[0])
    return entro_fail(ENTRO_EINVAL, "%s: X has %lld rows, Y has %lld (rows must be paired)", op,
                      (long long)x->shape[0], (long long)y->shape[0]);
  if (x->shape[0] < min_rows)
    return entro_fail(ENTRO_EINVAL, "%s: needs at least %lld rows, got %lld", op,
                      (long long)min_rows, (long long)x->shape[0]);
  return entro_blas_init();
}

static int check_k(const char *op, int64_t k, int64_t n, int64_t kmin) {
  if (k < kmin)
    return entro_fail(ENTRO_EINVAL, "%s: k = %lld must be at least %lld", op, (long long)k,
                      (long long)kmin);
  if (k >= n)
    return entro_fail(ENTRO_EINVAL, "%s: k = %lld must be below n = %lld (each row has n - 1 "
                      "others)", op, (long long)k, (long long)n);
  return ENTRO_OK;
}

/* ---- workspaces ---- */

static entro_tensor *zeros2(int64_t m, int64_t n) {
  int64_t s[2] = {m, n};
  return entro_tensor_zeros(2, s);
}

/* For workspaces whose every element is written before it is read. */
static entro_tensor *empty2(int64_t m, int64_t n) {
  int64_t s[2] = {m, n};
  return entro_tensor_new(2, s);
}

static void *xcalloc(const char *op, int64_t n, size_t size) {
  void *p = n > 0 && (uint64_t)n <= SIZE_MAX / size ? calloc((size_t)n, size) : NULL;
  if (!p) entro_fail(ENTRO_ENOMEM, "%s: cannot allocate a workspace of %lld elements", op,
                     (long long)n);
  return p;
}

/* Copies the n x p matrix a into dst (row-major, row stride ld), refusing NaN/Inf. With
 * center, subtracts the column means, and then the means of what is left, which removes the
 * first subtraction's rounding, so a large common offset leaves no trace. Three passes; the
 * per-column accumulators keep each one vectorizable. */
static int copy_in(const char *op, const char *what, const entro_tensor *a, double *dst,
                   int64_t ld, int center) {
  int64_t n = a->shape[0], p = a->shape[1], s0 = a->stride[0], s1 = a->stride[1];
  const double *src = entro_data(a);
  double *bad = xcalloc(op, 2 * p, sizeof *bad), *mean = bad + p;
  if (!bad) return entro_errcode();
  for (int64_t i = 0; i < n; i++) {
    double *r = dst + i * ld;
    const double *q = src + i * s0;
    if (s1 == 1) memcpy(r, q, (size_t)p * sizeof *r);
    else for (int64_t j = 0; j < p; j++) r[j] = q[j * s1];
    for (int64_t j = 0; j < p; j++) {
      bad[j] += r[j] - r[j];   /* NaN iff an entry is NaN or Inf */
      mean[j] += r[j];
    }
  }
  int st = ENTRO_OK;
  for (int64_t j = 0; j < p; j++)
    if (isnan(bad[j])) { st = entro_fail(ENTRO_EINVAL, "%s: %s has NaN/Inf entries", op, what); break; }
  if (!st && center) {
    for (int64_t j = 0; j < p; j++) mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
      double *r = dst + i * ld;
      for (int64_t j = 0; j < p; j++) r[j] -= mean[j];
    }
    /* No second correction pass: what rounding leaves of a column's mean is about
     * eps * |mean|, and it moves CKA only to second order (checked with offsets of 1e8). */
  }
  free(bad);
  return st;
}

/* A new contiguous copy of a, column-centred when asked. */
static entro_tensor *copy_of(const char *op, const char *what, const entro_tensor *a, int center) {
  entro_tensor *t = empty2(a->shape[0], a->shape[1]);
  if (t && copy_in(op, what, a, entro_data(t), a->shape[1], center)) {
    entro_tensor_release(t);
    t = NULL;
  }
  return t;
}

/* ---- products (chunked so Ctrl-C is noticed within a fraction of a second) ---- */

/* One row chunk of z^T z, as two tasks of equal work for entro's threads: with z = [Z1 Z2]
 * split at column h, task 0 is the diagonal blocks Z1^T Z1 and Z2^T Z2 (two dsyrk), task 1
 * the block Z2^T Z1 below them (one dgemm). */
typedef struct { const double *z; int64_t nb, m, h, ld; double beta, *c; } syrk_job;

static void syrk_tasks(void *ctx, int64_t lo, int64_t hi) {
  const syrk_job *j = ctx;
  int m = (int)j->m, h = (int)j->h, nb = (int)j->nb, ld = (int)j->ld;
  for (int64_t t = lo; t < hi; t++) {
    if (t == 0) {
      entro_blas.dsyrk(ECB_ROW, ECB_LOWER, ECB_TRANS, h, nb, 1.0, j->z, ld, j->beta, j->c, m);
      if (m > h)
        entro_blas.dsyrk(ECB_ROW, ECB_LOWER, ECB_TRANS, m - h, nb, 1.0, j->z + h, ld, j->beta,
                         j->c + (int64_t)h * m + h, m);
    } else if (m > h) {
      entro_blas.dgemm(ECB_ROW, ECB_TRANS, ECB_NOTRANS, m - h, h, nb, 1.0, j->z + h, ld, j->z,
                       ld, j->beta, j->c + (int64_t)h * m, m);
    }
  }
}

/* c (m x m, row-major, lower triangle) = z^T z for the n x m matrix z with row stride ld. */
static int syrk_features(const char *op, const double *z, int64_t n, int64_t m, int64_t ld,
                         double *c) {
  int64_t chunk = (int64_t)2e9 / (m * m) + 1;
  int64_t h = (m + 1) / 2;   /* the diagonal blocks then hold as much work as the one below */
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    if (entro_check_interrupt(op)) return ENTRO_EINTR;
    syrk_job job = {z + i0 * ld, min64(chunk, n - i0), m, h, ld, i0 ? 1.0 : 0.0, c};
    entro_parallel_for_cost(2, job.nb * m * m / 16, syrk_tasks, &job);
  }
  return ENTRO_OK;
}

/* c (n x n, row-major, lower triangle) = z z^T for the n x m matrix z with row stride ld. */
static int syrk_rows(const char *op, const double *z, int64_t n, int64_t m, int64_t ld,
                     double *c) {
  int64_t chunk = (int64_t)2e9 / (n * n) + 1;
  for (int64_t k0 = 0; k0 < m; k0 += chunk) {
    if (entro_check_interrupt(op)) return ENTRO_EINTR;
    int64_t kb = min64(chunk, m - k0);
    entro_blas.dsyrk_threaded(ECB_ROW, ECB_LOWER, ECB_NOTRANS, (int)n, (int)kb, 1.0, z + k0,
                              (int)ld, k0 ? 1.0 : 0.0, c, (int)n);
  }
  return ENTRO_OK;
}

/* Copies the lower triangle of the n x n row-major c onto its upper triangle. */
typedef struct { double *c; int64_t n; } mirror_job;

#define MIRROR_TILE 64   /* a tile and its mirror image both stay in L1 */

/* Row tiles in the order 0, last, 1, last - 1, ...: a top tile holds little of the
 * triangle and a bottom one much, so any run of this order holds about its share of work. */
static void mirror_rows(void *ctx, int64_t lo, int64_t hi) {
  const mirror_job *m = ctx;
  double *c = m->c;
  int64_t n = m->n, tiles = (n + MIRROR_TILE - 1) / MIRROR_TILE;
  for (int64_t t = lo; t < hi; t++) {
    int64_t bi = t % 2 ? tiles - 1 - t / 2 : t / 2;
    int64_t i0 = bi * MIRROR_TILE, i1 = min64(i0 + MIRROR_TILE, n);
    for (int64_t j0 = 0; j0 <= i0; j0 += MIRROR_TILE)
      for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0, j1 = min64(min64(j0 + MIRROR_TILE, n), i); j < j1; j++)
          c[j * n + i] = c[i * n + j];
  }
}

static void mirror(double *c, int64_t n) {
  mirror_job m = {c, n};
  entro_parallel_for_cost((n + MIRROR_TILE - 1) / MIRROR_TILE, n * n / 2, mirror_rows, &m);
}

/* ||A||_F^2 of the symmetric diagonal block [lo, hi) of c, read from its lower triangle. */
static double sym_block_sq(const double *c, int64_t ld, int64_t lo, int64_t hi) {
  double diag = 0, off = 0;
  for (int64_t i = lo; i < hi; i++) {
    const double *r = c + i * ld;
    diag += r[i] * r[i];
    for (int64_t j = lo; j < i; j++) off += r[j] * r[j];
  }
  return diag + 2 * off;
}

/* ||A||_F^2 of the block rows [r0, r1) x cols [c0, c1) of c, lying in its lower triangle. */
static double block_sq(const double *c, int64_t ld, int64_t r0, int64_t r1, int64_t c0,
                       int64_t c1) {
  double s = 0;
  for (int64_t i = r0; i < r1; i++)
    for (int64_t j = c0; j < c1; j++) s += c[i * ld + j] * c[i * ld + j];
  return s;
}

/* Song et al.'s unbiased HSIC from its pieces: tr(K~L~), the sums of K~ and L~ and
 * 1^T K~ L~ 1, where K~ is K with its diagonal zeroed. */
static double hsic_u(int64_t n, double tr, double sum_k, double sum_l, double cross) {
  double m = (double)n;
  return (tr + sum_k * sum_l / ((m - 1) * (m - 2)) - 2 * cross / (m - 2)) / (m * (m - 3));
}

/* h = {HSIC(K, L), HSIC(K, K), HSIC(L, L)} for symmetric n x n K and L given by their lower
 * triangles. Biased: <HKH, HLH>_F with center, <K, L>_F without; unbiased: Song et al. */
static int hsic3(const char *op, const double *K, const double *L, int64_t n, int center,
                 int unbiased, double h[3]) {
  double *rk = xcalloc(op, 2 * n, sizeof *rk), *rl = rk + n;
  if (!rk) return entro_errcode();
  for (int64_t i = 0; i < n; i++)   /* row sums, from the lower triangle */
    for (int64_t j = 0; j <= i; j++) {
      double a = K[i * n + j], b = L[i * n + j];
      rk[i] += a; rl[i] += b;
      if (j < i) { rk[j] += a; rl[j] += b; }
    }
  double kl = 0, kk = 0, ll = 0;
  if (unbiased) {
    double sk = 0, sl = 0, ukl = 0, ukk = 0, ull = 0;
    for (int64_t i = 0; i < n; i++) {
      double a = rk[i] - K[i * n + i], b = rl[i] - L[i * n + i];   /* rows of K~, L~ */
      sk += a; sl += b;
      ukl += a * b; ukk += a * a; ull += b * b;
      for (int64_t j = 0; j < i; j++) {
        double x = K[i * n + j], y = L[i * n + j];
        kl += x * y; kk += x * x; ll += y * y;
      }
    }
    h[0] = hsic_u(n, 2 * kl, sk, sl, ukl);
    h[1] = hsic_u(n, 2 * kk, sk, sk, ukk);
    h[2] = hsic_u(n, 2 * ll, sl, sl, ull);
  } else {
    double mk = 0, ml = 0;
    if (center) {
      for (int64_t i = 0; i < n; i++) { rk[i] /= (double)n; rl[i] /= (double)n; mk += rk[i]; ml += rl[i]; }
      mk /= (double)n; ml /= (double)n;
    } else {
      memset(rk, 0, 2 * (size_t)n * sizeof *rk);
    }
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j <= i; j++) {
        double w = j < i ? 2 : 1;
        double x = K[i * n + j] - rk[i] - rk[j] + mk, y = L[i * n + j] - rl[i] - rl[j] + ml;
        kl += w * x * y; kk += w * x * x; ll += w * y * y;
      }
    h[0] = kl; h[1] = kk; h[2] = ll;
  }
  free(rk);
  return ENTRO_OK;
}

/* HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)); NaN when a side has no variance. */
static double cka_of(const double h[3]) {
  return h[0] / (sqrt(h[1]) * sqrt(h[2]));
}

/* ---- linear CKA ---- */

/* In feature space: one dsyrk of Z = [X Y] gives X^T X, Y^T X and Y^T Y as blocks. */
static int cka_feature(const char *op, const entro_tensor *x, const entro_tensor *y, int center,
                       int unbiased, double *result) {
  int64_t n = x->shape[0], p = x->shape[1], q = y->shape[1], m = p + q;
  entro_tensor *zt = empty2(n, m), *ct = zt ? zeros2(m, m) : NULL;
  int st = ct ? ENTRO_OK : entro_errcode();
  if (!st) st = copy_in(op, "X", x, entro_data(zt), m, center);
  if (!st) st = copy_in(op, "Y", y, entro_data(zt) + p, m, center);
  if (!st) st = syrk_features(op, entro_data(zt), n, m, m, entro_data(ct));
  if (!st) {
    const double *c = entro_data(ct), *z = entro_data(zt);
    double h[3] = {block_sq(c, m, p, m, 0, p), sym_block_sq(c, m, 0, p), sym_block_sq(c, m, p, m)};
    if (unbiased) {
      /* Centred columns make K 1 = 0, so the rows of K~ sum to -diag(K) = -d. */
      double sd = 0, se = 0, dd = 0, ee = 0, de = 0;
      for (int64_t i = 0; i < n; i++) {
        double d = 0, e = 0;
        for (int64_t j = 0; j < p; j++) d += z[i * m + j] * z[i * m + j];
        for (int64_t j = p; j < m; j++) e += z[i * m + j] * z[i * m + j];
        sd += d; se += e; dd += d * d; ee += e * e; de += d * e;
      }
      h[0] = hsic_u(n, h[0] - de, -sd, -se, de);
      h[1] = hsic_u(n, h[1] - dd, -sd, -sd, dd);
      h[2] = hsic_u(n, h[2] - ee, -se, -se, ee);
    }
    *result = cka_of(h);
  }
  entro_tensor_release(zt);
  entro_tensor_release(ct);
  return st;
}

/* Through the n x n Gram matrices. */
static int cka_gram(const char *op, const entro_tensor *x, const entro_tensor *y, int center,
                    int unbiased, double *result) {
  int64_t n = x->shape[0], p = x->shape[1], q = y->shape[1];
  entro_tensor *kt = zeros2(n, n), *lt = kt ? zeros2(n, n) : NULL, *z = NULL;
  int st = lt ? ENTRO_OK : entro_errcode();
  if (!st && !(z = copy_of(op, "X", x, center))) st = entro_errcode();
  if (!st) st = syrk_rows(op, entro_data(z), n, p, p, entro_data(kt));
  entro_tensor_release(z);
  z = NULL;
  if (!st && !(z = copy_of(op, "Y", y, center))) st = entro_errcode();
  if (!st) st = syrk_rows(op, entro_data(z), n, q, q, entro_data(lt));
  double h[3];
  if (!st) st = hsic3(op, entro_data(kt), entro_data(lt), n, center, unbiased, h);
  if (!st) *result = cka_of(h);
  entro_tensor_release(z);
  entro_tensor_release(kt);
  entro_tensor_release(lt);
  return st;
}

int entro_metrics_linear_cka(const char *op, const entro_tensor *x, const entro_tensor *y,
                             int center, int unbiased, int method, double *result) {
  *result = NAN;
  if (check_pair(op, x, y, unbiased ? 4 : 2)) return entro_errcode();
  if (unbiased && !center)
    return entro_fail(ENTRO_EINVAL, "%s: the unbiased estimator is defined for centred kernels", op);
  int64_t n = x->shape[0], p = x->shape[1], q = y->shape[1];
  if (method == ENTRO_CKA_AUTO) method = p + q <= n ? ENTRO_CKA_FEATURE : ENTRO_CKA_GRAM;
  if (method == ENTRO_CKA_FEATURE) return cka_feature(op, x, y, center, unbiased, result);
  return cka_gram(op, x, y, center, unbiased, result);
}

/* ---- RBF CKA and the median heuristic ---- */

/* The squared distances between a's rows as the lower triangle of a new n x n matrix:
 * d_ij = |a_i|^2 + |a_j|^2 - 2 a_i.a_j from the Gram matrix of the centred rows (centring
 * keeps the cancellation small), clamped at 0 against rounding. */
static entro_tensor *sq_distances(const char *op, const char *what, const entro_tensor *a) {
  int64_t n = a->shape[0], p = a->shape[1];
  entro_tensor *z = copy_of(op, what, a, 1), *g = z ? zeros2(n, n) : NULL;
  if (g && syrk_rows(op, entro_data(z), n, p, p, entro_data(g))) {
    entro_tensor_release(g);
    g = NULL;
  }
  entro_tensor_release(z);
  if (!g) return NULL;
  double *c = entro_data(g);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) {
      double d = c[i * n + i] + c[j * n + j] - 2 * c[i * n + j];
      c[i * n + j] = d > 0 ? d : 0;
    }
  for (int64_t i = 0; i < n; i++) c[i * n + i] = 0;
  return g;
}

static entro_tensor *rbf_gram(const char *op, const char *what, const entro_tensor *a,
                              double sigma) {
  entro_tensor *g = sq_distances(op, what, a);
  if (!g) return NULL;
  int64_t n = a->shape[0];
  double *c = entro_data(g), s = -1 / (2 * sigma * sigma);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j <= i; j++) c[i * n + j] = exp(c[i * n + j] * s);
  return g;
}

int entro_metrics_rbf_cka(const char *op, const entro_tensor *x, const entro_tensor *y,
                          double sigma_x, double sigma_y, int unbiased, double *result) {
  *result = NAN;
  if (check_pair(op, x, y, unbiased ? 4 : 2)) return entro_errcode();
  if (!(sigma_x > 0 && sigma_x < INFINITY) || !(sigma_y > 0 && sigma_y < INFINITY))
    return entro_fail(ENTRO_EINVAL, "%s: sigma must be positive and finite, got %g for X and %g "
                      "for Y", op, sigma_x, sigma_y);
  int64_t n = x->shape[0];
  entro_tensor *k = rbf_gram(op, "X", x, sigma_x), *l = k ? rbf_gram(op, "Y", y, sigma_y) : NULL;
  int st = l ? ENTRO_OK : entro_errcode();
  double h[3];
  if (!st) st = hsic3(op, entro_data(k), entro_data(l), n, 1, unbiased, h);
  if (!st) *result = cka_of(h);
  entro_tensor_release(k);
  entro_tensor_release(l);
  return st;
}

static void swap_d(double *a, double *b) { double t = *a; *a = *b; *b = t; }

/* Rearranges v[0..n) so that v[k] is the k-th smallest, with no larger value before it and
 * no smaller one after (quickselect, median-of-three pivots). */
static void select_kth(double *v, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    int64_t mid = lo + (hi - lo) / 2;
    if (v[mid] < v[lo]) swap_d(&v[mid], &v[lo]);
    if (v[hi] < v[lo]) swap_d(&v[hi], &v[lo]);
    if (v[hi] < v[mid]) swap_d(&v[hi], &v[mid]);
    double pivot = v[mid];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) { swap_d(&v[i], &v[j]); i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

int entro_metrics_median_distance(const char *op, const char *what, const entro_tensor *x,
                                  double *result) {
  *result = NAN;
  if (check_matrix(op, what, x)) return entro_errcode();
  int64_t n = x->shape[0], m = n * (n - 1) / 2;
  if (n < 2)
    return entro_fail(ENTRO_EINVAL, "%s: the median distance needs at least 2 rows of %s, got %lld",
                      op, what, (long long)n);
  if (entro_blas_init()) return entro_errcode();
  entro_tensor *g = sq_distances(op, what, x);
  double *v = g ? xcalloc(op, m, sizeof *v) : NULL;
  if (!v) { entro_tensor_release(g); return entro_errcode(); }
  const double *c = entro_data(g);
  int64_t t = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) v[t++] = c[i * n + j];
  entro_tensor_release(g);
  int64_t h = m / 2;
  select_kth(v, m, h);
  double med = sqrt(v[h]);
  if (m % 2 == 0) {   /* the mean of the two middle distances: the largest below h */
    double below = v[0];
    for (int64_t i = 1; i < h; i++) if (v[i] > below) below = v[i];
    med = 0.5 * (med + sqrt(below));
  }
  free(v);
  if (!(med > 0))
    return entro_fail(ENTRO_EINVAL, "%s: the median distance between rows of %s is 0 (most rows "
                      "coincide); pass sigma", op, what);
  *result = med;
  return ENTRO_OK;
}

/* ---- nearest neighbours ---- */

/* The n x n similarity matrix (full) of a's rows: inner products, of the L2-normalised rows
 * when normalize is set (a zero row stays zero). */
static entro_tensor *similarity(const char *op, const char *what, const entro_tensor *a,
                                int normalize) {
  int64_t n = a->shape[0], p = a->shape[1];
  entro_tensor *z = copy_of(op, what, a, 0), *s = z ? zeros2(n, n) : NULL;
  if (!s) { entro_tensor_release(z); return NULL; }
  double *r = entro_data(z);
  if (normalize)
    for (int64_t i = 0; i < n; i++) {
      double ss = 0;
      for (int64_t j = 0; j < p; j++) ss += r[i * p + j] * r[i * p + j];
      double inv = ss > 0 ? 1 / sqrt(ss) : 0;
      for (int64_t j = 0; j < p; j++) r[i * p + j] *= inv;
    }
  int st = syrk_rows(op, r, n, p, p, entro_data(s));
  entro_tensor_release(z);
  if (st) { entro_tensor_release(s); return NULL; }
  mirror(entro_data(s), n);
  return s;
}

/* Entry a ranks before entry b: a larger similarity, or an equal one and a lower index. */
static int before(double va, int ia, double vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

/* Restores the heap order below r: every parent ranks after (is worse than) its children,
 * so the root is the worst of the k kept. */
static void sift_down(double *v, int *ix, int64_t k, int64_t r) {
  for (;;) {
    int64_t c = 2 * r + 1;
    if (c >= k) return;
    if (c + 1 < k && before(v[c], ix[c], v[c + 1], ix[c + 1])) c++;
    if (!before(v[r], ix[r], v[c], ix[c])) return;
    double tv = v[r]; v[r] = v[c]; v[c] = tv;
    int ti = ix[r]; ix[r] = ix[c]; ix[c] = ti;
    r = c;
  }
}

/* idx[i k + t]: the t-th nearest other row of row i by the similarities s (n x n, full),
 * best first. Partial selection with a k-heap: O(n^2 log k). Rows are split between the
 * threads a chunk at a time, so that Ctrl-C is noticed; each row of a chunk has its own
 * heap in v. */
typedef struct { const double *s; int64_t n, k, i0; int *idx; double *v; } topk_job;

static void topk_part(void *ctx, int64_t lo, int64_t hi) {
  const topk_job *j = ctx;
  int64_t n = j->n, k = j->k;
  for (int64_t r0 = lo; r0 < hi; r0++) {
    int64_t i = j->i0 + r0;
    const double *row = j->s + i * n;
    int *ix = j->idx + i * k;
    double *v = j->v + r0 * k;
    int64_t have = 0;
    for (int64_t c = 0; c < n; c++) {
      if (c == i) continue;
      if (have < k) {
        v[have] = row[c]; ix[have] = (int)c;
        if (++have == k)
          for (int64_t r = k / 2 - 1; r >= 0; r--) sift_down(v, ix, k, r);
      } else if (before(row[c], (int)c, v[0], ix[0])) {
        v[0] = row[c]; ix[0] = (int)c;
        sift_down(v, ix, k, 0);
      }
    }
    for (int64_t e = k - 1; e > 0; e--) {   /* heap sort: the worst goes to the end */
      double tv = v[0]; v[0] = v[e]; v[e] = tv;
      int ti = ix[0]; ix[0] = ix[e]; ix[e] = ti;
      sift_down(v, ix, e, 0);
    }
  }
}

static int topk_rows(const char *op, const double *s, int64_t n, int64_t k, int *idx) {
  int64_t chunk = max64(1, min64(256, ((int64_t)1 << 20) / k));   /* heaps of 8 MB at most */
  double *v = xcalloc(op, chunk * k, sizeof *v);
  if (!v) return entro_errcode();
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    if (entro_check_interrupt(op)) { free(v); return ENTRO_EINTR; }
    int64_t rows = min64(chunk, n - i0);
    topk_job job = {s, n, k, i0, idx, v};
    entro_parallel_for_cost(rows, rows * n, topk_part, &job);
  }
  free(v);
  return ENTRO_OK;
}

/* The k nearest others of every row of a into the new array *idx (n x k). */
static int neighbours(const char *op, const char *what, const entro_tensor *a, int64_t k,
                      int normalize, int **idx) {
  int64_t n = a->shape[0];
  *idx = NULL;
  entro_tensor *s = similarity(op, what, a, normalize);
  int *ix = s ? xcalloc(op, n * k, sizeof *ix) : NULL;
  int st = ix ? topk_rows(op, entro_data(s), n, k, ix) : entro_errcode();
  entro_tensor_release(s);
  if (st) { free(ix); return st; }
  *idx = ix;
  return ENTRO_OK;
}

int entro_metrics_knn(const char *op, const entro_tensor *x, int64_t k, int normalize,
                      entro_tensor **idx) {
  *idx = NULL;
  if (check_matrix(op, "X", x) || check_k(op, k, x->shape[0], 1) || entro_blas_init())
    return entro_errcode();
  int64_t n = x->shape[0];
  int *ix;
  if (neighbours(op, "X", x, k, normalize, &ix)) return entro_errcode();
  entro_tensor *t = zeros2(n, k);
  if (t)
    for (int64_t i = 0; i < n * k; i++) entro_data(t)[i] = ix[i];
  free(ix);
  if (!t) return entro_errcode();
  *idx = t;
  return ENTRO_OK;
}

int entro_metrics_mutual_knn(const entro_tensor *x, const entro_tensor *y, int64_t k,
                             double *result) {
  const char *op = "mutual_knn";
  *result = NAN;
  if (check_pair(op, x, y, 2) || check_k(op, k, x->shape[0], 1)) return entro_errcode();
  int64_t n = x->shape[0];
  int *ix = NULL, *iy = NULL, *stamp = NULL;
  int st = neighbours(op, "X", x, k, 1, &ix);
  if (!st) st = neighbours(op, "Y", y, k, 1, &iy);
  if (!st && !(stamp = xcalloc(op, n, sizeof *stamp))) st = entro_errcode();
  if (!st) {
    /* stamp[j] = i + 1 marks j as one of row i's neighbours in X */
    int64_t common = 0;
    for (int64_t i = 0; i < n; i++) {
      for (int64_t t = 0; t < k; t++) stamp[ix[i * k + t]] = (int)i + 1;
      for (int64_t t = 0; t < k; t++) common += stamp[iy[i * k + t]] == (int)i + 1;
    }
    *result = (double)common / ((double)n * (double)k);
  }
  free(ix);
  free(iy);
  free(stamp);
  return st;
}

/* ---- CKNNA ---- */

/* platonic-rep's hsic_unbiased(M.A, M.B) for M_ij = m1[i n + j] m2[i n + j], where the
 * entries with m1 set are listed k per row in nb; A and B are full n x n. Their formula on
 * the masked matrices P = M.A, Q = M.B (zero diagonals):
 *   (sum_ij P_ij Q_ji + sum(P) sum(Q) / ((n-1)(n-2)) - 2 sum(P Q) / (n-2)) / (n (n-3)),
 * with sum(P Q) = sum_j colsum(P)_j rowsum(Q)_j. col and row are n-element scratch. */
static double masked_hsic(const double *A, const double *B, int64_t n, int64_t k, const int *nb,
                          const unsigned char *m1, const unsigned char *m2, double *col,
                          double *row) {
  double t1 = 0, sa = 0, sb = 0, cross = 0;
  memset(col, 0, (size_t)n * sizeof *col);
  memset(row, 0, (size_t)n * sizeof *row);
  for (int64_t i = 0; i < n; i++)
    for (int64_t t = 0; t < k; t++) {
      int64_t j = nb[i * k + t];
      if (!m2[i * n + j]) continue;
      double a = A[i * n + j], b = B[i * n + j];
      sa += a; sb += b;
      col[j] += a; row[i] += b;
      if (m1[j * n + i] && m2[j * n + i]) t1 += a * B[j * n + i];
    }
  for (int64_t j = 0; j < n; j++) cross += col[j] * row[j];
  return hsic_u(n, t1, sa, sb, cross);
}

int entro_metrics_cknna(const entro_tensor *x, const entro_tensor *y, int64_t k, int normalize,
                        double *result) {
  const char *op = "cknna";
  *result = NAN;
  if (check_pair(op, x, y, 4) || check_k(op, k, x->shape[0], 2)) return entro_errcode();
  int64_t n = x->shape[0];
  entro_tensor *kt = similarity(op, "X", x, normalize);
  entro_tensor *lt = kt ? similarity(op, "Y", y, normalize) : NULL;
  int *ix = lt ? xcalloc(op, n * k, sizeof *ix) : NULL;
  int *iy = ix ? xcalloc(op, n * k, sizeof *iy) : NULL;
  unsigned char *mk = iy ? xcalloc(op, n * n, 1) : NULL, *ml = mk ? xcalloc(op, n * n, 1) : NULL;
  double *scratch = ml ? xcalloc(op, 2 * n, sizeof *scratch) : NULL;
  int st = scratch ? ENTRO_OK : entro_errcode();
  if (!st) st = topk_rows(op, entro_data(kt), n, k, ix);
  if (!st) st = topk_rows(op, entro_data(lt), n, k, iy);
  if (!st) {
    const double *K = entro_data(kt), *L = entro_data(lt);
    double *col = scratch, *row = scratch + n;
    for (int64_t i = 0; i < n; i++)
      for (int64_t t = 0; t < k; t++) {
        mk[i * n + ix[i * k + t]] = 1;
        ml[i * n + iy[i * k + t]] = 1;
      }
    double h[3] = {masked_hsic(K, L, n, k, ix, mk, ml, col, row),
                   masked_hsic(K, K, n, k, ix, mk, mk, col, row),
                   masked_hsic(L, L, n, k, iy, ml, ml, col, row)};
    *result = cka_of(h);
  }
  entro_tensor_release(kt);
  entro_tensor_release(lt);
  free(ix);
  free(iy);
  free(mk);
  free(ml);
  free(scratch);
  return st;
}

/* ---- SVCCA ---- */

/* The kept left singular vectors of a's centred copy: *u is an n x d view (d may be 0 for a
 * matrix with no variance). d as asked, or by the variance fraction var > 0; then cut to the
 * numerical rank. */
static int svcca_side(const char *op, const char *what, const entro_tensor *a, int64_t d,
                      double var, entro_tensor **ud, int64_t *used) {
  int64_t n = a->shape[0], p = a->shape[1];
  *ud = NULL;
  *used = 0;
  entro_tensor *c = copy_of(op, what, a, 1), *u = NULL, *s = NULL, *v = NULL;
  if (!c) return entro_errcode();
  int st = entro_linalg_svd(c, 0, 1, &u, &s, &v);
  entro_tensor_release(c);
  entro_tensor_release(v);
  if (st) return st;
  const double *sv = entro_data(s);
  int64_t k = s->shape[0], rank = 0;
  double cut = sv[0] * (double)max64(n, p) * DBL_EPSILON;
  while (rank < k && sv[rank] > cut) rank++;
  if (var > 0) {
    double total = 0, acc = 0;
    for (int64_t i = 0; i < k; i++) total += sv[i] * sv[i];
    for (d = 0; d < k && acc < var * total; d++) acc += sv[d] * sv[d];
  }
  d = min64(d, rank);
  if (d > 0 && !(*ud = entro_tensor_narrow(u, 1, 0, d))) st = entro_errcode();
  *used = d;
  entro_tensor_release(u);
  entro_tensor_release(s);
  return st;
}

int entro_metrics_svcca(const entro_tensor *x, const entro_tensor *y, int64_t dx, int64_t dy,
                        double var, double *result, entro_tensor **rho, int64_t *dims_x,
                        int64_t *dims_y) {
  const char *op = "svcca";
  *result = NAN;
  if (rho) *rho = NULL;
  if (check_pair(op, x, y, 2)) return entro_errcode();
  int64_t n = x->shape[0];
  if (!(var < INFINITY) || var > 1)
    return entro_fail(ENTRO_EINVAL, "%s: the variance fraction must be in (0, 1], got %g", op, var);
  if (var <= 0) {
    int64_t mx = min64(n - 1, x->shape[1]), my = min64(n - 1, y->shape[1]);
    if (dx < 1 || dx > mx)
      return entro_fail(ENTRO_EINVAL, "%s: dims = %lld for X must be between 1 and %lld "
                        "(min(rows - 1, features))", op, (long long)dx, (long long)mx);
    if (dy < 1 || dy > my)
      return entro_fail(ENTRO_EINVAL, "%s: dims = %lld for Y must be between 1 and %lld "
                        "(min(rows - 1, features))", op, (long long)dy, (long long)my);
  }
  entro_tensor *ux = NULL, *uy = NULL, *m = NULL, *s = NULL;
  int64_t ux_d = 0, uy_d = 0;
  int st = svcca_side(op, "X", x, dx, var, &ux, &ux_d);
  if (!st) st = svcca_side(op, "Y", y, dy, var, &uy, &uy_d);
  if (dims_x) *dims_x = ux_d;
  if (dims_y) *dims_y = uy_d;
  if (!st && ux && uy) {
    if (!(m = zeros2(ux_d, uy_d))) st = entro_errcode();
    if (!st) st = entro_gemm(1.0, ux, 1, uy, 0, 0.0, m);
    if (!st) st = entro_linalg_svd(m, 0, 0, NULL, &s, NULL);
    if (!st) {
      double sum = 0;
      for (int64_t i = 0; i < s->shape[0]; i++) sum += entro_data(s)[i];
      *result = sum / (double)s->shape[0];
    }
  }
  if (!st && rho) {
    int64_t zero = 0;
    if (!s && !(s = entro_tensor_new(1, &zero))) st = entro_errcode();
    if (!st) {   /* the caller's reference; the release below drops ours */
      entro_tensor_retain(s);
      *rho = s;
    }
  }
  entro_tensor_release(ux);
  entro_tensor_release(uy);
  entro_tensor_release(m);
  entro_tensor_release(s);
  return st;
}

/* ---- orthogonal Procrustes ---- */

/* a's centred copy (reduced to its n x n factor u diag(s) when wider than n, which keeps
 * every inner product between rows) and its Frobenius norm. */
static int procrustes_side(const char *op, const char *what, const entro_tensor *a,
                           entro_tensor **r, double *norm) {
  int64_t n = a->shape[0], p = a->shape[1];
  *r = NULL;
  entro_tensor *c = copy_of(op, what, a, 1);
  if (!c) return entro_errcode();
  double ss = 0;
  for (int64_t i = 0; i < n * p; i++) ss += entro_data(c)[i] * entro_data(c)[i];
  *norm = sqrt(ss);
  if (p <= n) { *r = c; return ENTRO_OK; }
  entro_tensor *u = NULL, *s = NULL, *v = NULL;
  int st = entro_linalg_svd(c, 0, 1, &u, &s, &v);
  entro_tensor_release(c);
  entro_tensor_release(v);
  if (st) return st;
  int64_t k = u->shape[1];
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < k; j++) entro_data(u)[i * k + j] *= entro_data(s)[j];
  entro_tensor_release(s);
  *r = u;
  return ENTRO_OK;
}

int entro_metrics_procrustes(const entro_tensor *x, const entro_tensor *y, double *result) {
  const char *op = "procrustes";
  *result = NAN;
  if (check_pair(op, x, y, 2)) return entro_errcode();
  entro_tensor *rx = NULL, *ry = NULL, *m = NULL, *s = NULL;
  double nx = 0, ny = 0;
  int st = procrustes_side(op, "X", x, &rx, &nx);
  if (!st) st = procrustes_side(op, "Y", y, &ry, &ny);
  if (!st && !(m = zeros2(rx->shape[1], ry->shape[1]))) st = entro_errcode();
  if (!st) st = entro_gemm(1.0, rx, 1, ry, 0, 0.0, m);
  if (!st) st = entro_linalg_svd(m, 0, 0, NULL, &s, NULL);
  if (!st) {
    double nuc = 0;
    for (int64_t i = 0; i < s->shape[0]; i++) nuc += entro_data(s)[i];
    *result = nuc / (nx * ny);
  }
  entro_tensor_release(rx);
  entro_tensor_release(ry);
  entro_tensor_release(m);
  entro_tensor_release(s);
  return st;
}
