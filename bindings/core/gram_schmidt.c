/* gram_schmidt.c -- removing from a vector its components along orthonormal rows: the
 * reorthogonalisation step of Lanczos (diag.sharpness, diag.spectral_density).
 *
 * Classical Gram-Schmidt twice ("twice is enough"): c = Q w, w -= Q^T c, repeated. Done as
 * two matrix-vector products per pass, that reads Q four times, and Q (k Lanczos vectors of
 * all the parameters) is far bigger than any cache. Here w is cut into blocks that stay in
 * L1 while the k matching pieces of Q stay in L2, and each pass walks the blocks once: the
 * update of one pass and the products of the next share a walk, because the next pass's
 * coefficients, c' = Q (w - Q^T c), add up block by block. So Q is read three times for
 * two passes. Coefficients are summed block by block in order, whatever the thread count,
 * so results do not depend on it. */
#include <math.h>
#include <stdlib.h>
#include "linalg.h"
#include "parallel.h"
#include "status.h"

#define BLOCK 2048   /* elements of w per block: 16 KiB */

typedef struct {
  const double *q;        /* row i of Q at q + i * ldq */
  int64_t ldq, k, n;
  double *w;
  const double *c;        /* w -= Q^T c on each block first, when set */
  int dots;               /* then the products Q_i . w, when set, */
  double *part;           /* into part[b * (k + 1) + i], and w . w into part[b * (k + 1) + k] */
} pass;

/* The products of `rows` (1 to 4) rows q[r] with w (m elements): each row keeps four
 * accumulators, so the adds of many chains overlap, and w is loaded once for all rows.
 * Inlined with a constant rows, so the accumulators live in registers. */
static inline __attribute__((always_inline))
void dots_n(int rows, const double *const q[4], const double *w, int64_t m, double *out) {
  double s[4][4] = {{0}};
  int64_t t = 0;
  for (; t + 4 <= m; t += 4)
    for (int r = 0; r < rows; r++)
      for (int l = 0; l < 4; l++) s[r][l] += q[r][t + l] * w[t + l];
  for (int r = 0; r < rows; r++) {
    double tail = 0;
    for (int64_t u = t; u < m; u++) tail += q[r][u] * w[u];
    out[r] = ((s[r][0] + s[r][1]) + (s[r][2] + s[r][3])) + tail;
  }
}

static void dots4(const double *const q[4], int rows, const double *w, int64_t m, double *out) {
  switch (rows) {
    case 4: dots_n(4, q, w, m, out); break;
    case 3: dots_n(3, q, w, m, out); break;
    case 2: dots_n(2, q, w, m, out); break;
    default: dots_n(1, q, w, m, out); break;
  }
}

/* w -= c[0] q[0] + ... + c[rows-1] q[rows-1] in one pass over w (rows 1 to 4; q has four
 * valid pointers even so). */
static void update4(const double *const q[4], int rows, const double *c, double *w, int64_t m) {
  double c0 = c[0], c1 = rows > 1 ? c[1] : 0, c2 = rows > 2 ? c[2] : 0, c3 = rows > 3 ? c[3] : 0;
  const double *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
  switch (rows) {
    case 4:
      for (int64_t t = 0; t < m; t++) w[t] -= (c0 * q0[t] + c1 * q1[t]) + (c2 * q2[t] + c3 * q3[t]);
      break;
    case 3:
      for (int64_t t = 0; t < m; t++) w[t] -= (c0 * q0[t] + c1 * q1[t]) + c2 * q2[t];
      break;
    case 2:
      for (int64_t t = 0; t < m; t++) w[t] -= c0 * q0[t] + c1 * q1[t];
      break;
    default:
      for (int64_t t = 0; t < m; t++) w[t] -= c0 * q0[t];
  }
}

static void run_blocks(void *ctx, int64_t lo, int64_t hi) {
  const pass *p = ctx;
  int64_t k = p->k;
  for (int64_t b = lo; b < hi; b++) {
    int64_t at = b * BLOCK, m = p->n - at < BLOCK ? p->n - at : BLOCK;
    double *w = p->w + at, *part = p->part + b * (k + 1);
    for (int dots = 0; dots < 2; dots++) {
      if (dots ? !p->dots : !p->c) continue;
      for (int64_t i = 0; i < k; i += 4) {
        int rows = k - i < 4 ? (int)(k - i) : 4;
        const double *q[4];
        for (int r = 0; r < 4; r++) q[r] = p->q + (i + (r < rows ? r : 0)) * p->ldq + at;
        if (dots) dots4(q, rows, w, m, part + i);
        else update4(q, rows, p->c + i, w, m);
      }
    }
    const double *ws[4] = {w, w, w, w};
    dots4(ws, 1, w, m, part + k);
  }
}

/* One walk over the blocks; the block sums, added in order, land in c_out (k products,
 * when p->dots; else c_out may be NULL) and *norm2. */
static void walk(pass *p, int64_t nblocks, double *c_out, double *norm2) {
  int64_t k = p->k;
  entro_parallel_for_cost(nblocks, (p->dots + (p->c != NULL)) * k * p->n + p->n, run_blocks, p);
  if (p->dots)
    for (int64_t i = 0; i < k; i++) c_out[i] = 0;
  *norm2 = 0;
  for (int64_t b = 0; b < nblocks; b++) {
    const double *part = p->part + b * (k + 1);
    if (p->dots)
      for (int64_t i = 0; i < k; i++) c_out[i] += part[i];
    *norm2 += part[k];
  }
}

int entro_linalg_project_out(const entro_tensor *q, entro_tensor *w, int passes, double tol,
                             double *coef, double *norm) {
  char x[200], y[200];
  if (q->ndim != 2 || w->ndim != 1 || q->shape[1] != w->shape[0])
    return entro_fail(ENTRO_EINVAL, "project_out: needs a k x n matrix Q and a vector w of "
                      "length n (Q %s, w %s)", entro_tensor_shape_str(x, q), entro_tensor_shape_str(y, w));
  if (passes < 0 || passes > 2)
    return entro_fail(ENTRO_EINVAL, "project_out: passes must be 1, 2 or 0 (auto), got %d", passes);
  if (!(tol >= 0 && tol < 1))
    return entro_fail(ENTRO_EINVAL, "project_out: tol must be in [0, 1), got %g", tol);
  if (q->st == w->st)
    return entro_fail(ENTRO_EINVAL, "project_out: w must not share storage with Q");
  if (!entro_tensor_is_writable(w))
    return entro_fail(ENTRO_EINVAL, "project_out: w is an expanded view (a stride-0 dimension) "
                      "and cannot be written; pass a contiguous copy");
  int64_t k = q->shape[0], n = q->shape[1];
  entro_tensor *qc = NULL, *wc = NULL;
  if (q->stride[1] != 1 && n > 1) {
    if (!(qc = entro_tensor_clone(q))) return entro_errcode();
    q = qc;
  }
  double *wd = entro_data(w);
  if (w->stride[0] != 1 && n > 1) {
    if (!(wc = entro_tensor_clone(w))) { entro_tensor_release(qc); return entro_errcode(); }
    wd = entro_data(wc);
  }
  int64_t nblocks = (n + BLOCK - 1) / BLOCK;
  double *part = malloc(sizeof(double) * (size_t)(nblocks * (k + 1) + 2 * k + 1));
  if (!part) {
    entro_tensor_release(qc);
    entro_tensor_release(wc);
    return entro_fail(ENTRO_ENOMEM, "project_out: cannot allocate %lld coefficients",
                      (long long)(nblocks * k));
  }
  double *c1 = part + nblocks * (k + 1), *c2 = c1 + k, n0, n1, n2;
  pass p = {entro_data(q), k > 1 ? q->stride[0] : n, k, n, wd, NULL, 1, part};
  walk(&p, nblocks, c1, &n0);            /* c1 = Q w */
  double big = 0;
  for (int64_t i = 0; i < k; i++) big = fabs(c1[i]) > big ? fabs(c1[i]) : big;
  if (big <= tol * sqrt(n0)) {           /* w is orthogonal to Q as it is: leave it */
    if (coef)
      for (int64_t i = 0; i < k; i++) coef[i] = 0;
    if (norm) *norm = sqrt(n0);
    free(part);
    entro_tensor_release(qc);
    entro_tensor_release(wc);
    return ENTRO_OK;
  }
  p.c = c1;
  p.dots = passes == 2;
  walk(&p, nblocks, c2, &n1);            /* w -= Q^T c1, and for a sure second pass c2 = Q w */
  /* DGKS (as ARPACK): a second pass when the first took away more than half of |w|^2,
   * where rounding may have left w short of orthogonal */
  int second = passes == 2 || (passes == 0 && n1 < 0.5 * n0);
  if (second && passes == 0) {
    p.c = NULL;
    p.dots = 1;
    walk(&p, nblocks, c2, &n1);          /* c2 = Q w */
  }
  if (second) {
    p.c = c2;
    p.dots = 0;
    walk(&p, nblocks, NULL, &n2);        /* w -= Q^T c2 */
    for (int64_t i = 0; i < k; i++) c1[i] += c2[i];
    n1 = n2;
  }
  if (coef)
    for (int64_t i = 0; i < k; i++) coef[i] = c1[i];
  if (norm) *norm = sqrt(n1 > 0 ? n1 : 0);
  free(part);
  int status = wc ? entro_tensor_copy(w, wc) : ENTRO_OK;
  if (!status) entro_tensor_bump(w);
  entro_tensor_release(qc);
  entro_tensor_release(wc);
  return status;
}
