/* test_linalg.c -- the LAPACK wrappers without Lua: results checked against naive loops and
 * known answers, strided inputs against contiguous ones, failures as statuses. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "tensor.h"
#include "ops.h"
#include "rng.h"
#include "linalg.h"

static entro_tensor *mat(int64_t m, int64_t n, const double *v) {
  int64_t s[2] = {m, n};
  entro_tensor *t = entro_tensor_new(2, s);
  memcpy(entro_data(t), v, (size_t)(m * n) * sizeof *v);
  return t;
}

static double at(const entro_tensor *t, int64_t i, int64_t j) {
  return entro_data(t)[i * t->stride[0] + j * t->stride[1]];
}

/* A random symmetric n x n matrix (a + a^T) / 2 from a simple LCG, no rng module needed. */
static entro_tensor *random_sym(int64_t n, unsigned seed) {
  int64_t s[2] = {n, n};
  entro_tensor *t = entro_tensor_new(2, s);
  double *p = entro_data(t);
  for (int64_t i = 0; i < n * n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (double)(seed >> 8) / (double)(1u << 24) - 0.5;
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) p[i * n + j] = p[j * n + i] = 0.5 * (p[i * n + j] + p[j * n + i]);
  return t;
}

TEST(eigh_known_3x3) {
  /* eigenvalues of [[2,-1,0],[-1,2,-1],[0,-1,2]] are 2 - sqrt2, 2, 2 + sqrt2 */
  double v[9] = {2, -1, 0, -1, 2, -1, 0, -1, 2};
  entro_tensor *a = mat(3, 3, v), *w, *z;
  CHECK(entro_linalg_eigh(a, 1, &w, &z) == ENTRO_OK);
  CHECK_NEAR(entro_data(w)[0], 2 - sqrt(2), 1e-14);
  CHECK_NEAR(entro_data(w)[1], 2, 1e-14);
  CHECK_NEAR(entro_data(w)[2], 2 + sqrt(2), 1e-14);
  /* a z_j = w_j z_j, by naive loops */
  double worst = 0;
  for (int j = 0; j < 3; j++)
    for (int i = 0; i < 3; i++) {
      double s = 0;
      for (int k = 0; k < 3; k++) s += v[i * 3 + k] * at(z, k, j);
      worst = fmax(worst, fabs(s - entro_data(w)[j] * at(z, i, j)));
    }
  CHECK(worst < 1e-14);
  entro_tensor_release(w);
  entro_tensor_release(z);
  entro_tensor_release(a);
}

TEST(eigh_200_trace) {
  entro_tensor *a = random_sym(200, 7), *w, *z;
  CHECK(entro_linalg_eigh(a, 1, &w, &z) == ENTRO_OK);
  double tr = 0, sw = 0;
  for (int i = 0; i < 200; i++) { tr += at(a, i, i); sw += entro_data(w)[i]; }
  CHECK_NEAR(sw, tr, 1e-10);
  int sorted = 1;
  for (int i = 1; i < 200; i++) sorted &= entro_data(w)[i - 1] <= entro_data(w)[i];
  CHECK(sorted);
  /* z^T z = I */
  double worst = 0;
  for (int i = 0; i < 200; i += 7)
    for (int j = 0; j < 200; j += 5) {
      double s = 0;
      for (int k = 0; k < 200; k++) s += at(z, k, i) * at(z, k, j);
      worst = fmax(worst, fabs(s - (i == j)));
    }
  CHECK(worst < 1e-12);
  entro_tensor_release(w);
  entro_tensor_release(z);
  entro_tensor_release(a);
}

TEST(transposed_input_same_answer) {
  double v[6] = {1, 2, 3, 4, 5, 7};
  entro_tensor *a = mat(2, 3, v);
  entro_tensor *at_ = entro_tensor_transpose(a, 0, 1);   /* 3x2, not contiguous */
  entro_tensor *c = entro_tensor_clone(at_);
  entro_tensor *q1, *r1, *q2, *r2;
  CHECK(entro_linalg_qr(at_, &q1, &r1) == ENTRO_OK);
  CHECK(entro_linalg_qr(c, &q2, &r2) == ENTRO_OK);
  int same = q1->numel == 6 && r1->numel == 4;
  for (int i = 0; same && i < 6; i++) same = entro_data(q1)[i] == entro_data(q2)[i];
  for (int i = 0; same && i < 4; i++) same = entro_data(r1)[i] == entro_data(r2)[i];
  CHECK(same);
  CHECK(at(r1, 1, 0) == 0);
  /* q r = a^T */
  double worst = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++) {
      double s = 0;
      for (int k = 0; k < 2; k++) s += at(q1, i, k) * at(r1, k, j);
      worst = fmax(worst, fabs(s - v[j * 3 + i]));
    }
  CHECK(worst < 1e-14);
  entro_tensor_release(q1); entro_tensor_release(r1);
  entro_tensor_release(q2); entro_tensor_release(r2);
  entro_tensor_release(c); entro_tensor_release(at_); entro_tensor_release(a);
}

TEST(solve_det_cholesky) {
  double v[9] = {4, 2, 0.4, 2, 5, 1, 0.4, 1, 3}, bv[3] = {1, -2, 0.5};
  entro_tensor *a = mat(3, 3, v), *x, *l;
  int64_t n3 = 3;
  entro_tensor *b = entro_tensor_new(1, &n3);
  memcpy(entro_data(b), bv, sizeof bv);
  CHECK(entro_linalg_solve(a, b, &x) == ENTRO_OK);
  CHECK(x->ndim == 1 && x->shape[0] == 3);
  for (int i = 0; i < 3; i++) {
    double s = 0;
    for (int k = 0; k < 3; k++) s += v[i * 3 + k] * entro_data(x)[k];
    CHECK_NEAR(s, bv[i], 1e-14);
  }
  double d, sign, logabs;
  CHECK(entro_linalg_det(a, &d) == ENTRO_OK);
  /* by cofactors */
  double ref = 4 * (5 * 3 - 1 * 1) - 2 * (2 * 3 - 1 * 0.4) + 0.4 * (2 * 1 - 5 * 0.4);
  CHECK_NEAR(d, ref, 1e-13);
  CHECK(entro_linalg_slogdet(a, &sign, &logabs) == ENTRO_OK);
  CHECK(sign == 1);
  CHECK_NEAR(logabs, log(ref), 1e-13);
  CHECK(entro_linalg_cholesky(a, &l) == ENTRO_OK);
  CHECK(at(l, 0, 1) == 0 && at(l, 0, 2) == 0 && at(l, 1, 2) == 0);
  CHECK_NEAR(at(l, 0, 0), 2, 1e-15);
  CHECK_NEAR(at(l, 1, 0), 1, 1e-15);
  CHECK_NEAR(at(l, 1, 1), 2, 1e-15);
  entro_tensor_release(l);
  entro_tensor_release(x);
  entro_tensor_release(b);
  entro_tensor_release(a);
}

TEST(failures_are_statuses) {
  double v[4] = {1, 2, 2, 4}, nanv[4] = {1, NAN, 0, 1}, np[4] = {1, 2, 2, 1};
  entro_tensor *sing = mat(2, 2, v), *nanm = mat(2, 2, nanv), *notpd = mat(2, 2, np);
  entro_tensor *r = (entro_tensor *)1, *w = (entro_tensor *)1, *z = (entro_tensor *)1;
  CHECK(entro_linalg_inv(sing, &r) == ENTRO_ENUM && r == NULL);
  CHECK(strstr(entro_errmsg(), "inv: matrix of shape 2x2 is singular") != NULL);
  double d = 1;
  CHECK(entro_linalg_det(sing, &d) == ENTRO_OK && d == 0);
  CHECK(entro_linalg_eigh(nanm, 1, &w, &z) == ENTRO_EINVAL && w == NULL && z == NULL);
  CHECK(strcmp(entro_errmsg(), "eigh: matrix has NaN/Inf entries") == 0);
  CHECK(entro_linalg_cholesky(notpd, &r) == ENTRO_ENUM && r == NULL);
  CHECK(strstr(entro_errmsg(), "not positive definite (leading minor 2)") != NULL);
  CHECK(entro_linalg_sqrtm(notpd, &r) == ENTRO_ENUM && r == NULL);
  CHECK(strstr(entro_errmsg(), "sqrtm: matrix is not positive semidefinite") != NULL);
  int64_t s3[1] = {3};
  entro_tensor *vec = entro_tensor_zeros(1, s3);
  CHECK(entro_linalg_qr(vec, &r, &w) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "qr: needs a 2-D matrix") != NULL);
  CHECK(entro_linalg_solve(sing, vec, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "solve: sizes differ") != NULL);
  entro_tensor_release(vec);
  entro_tensor_release(sing);
  entro_tensor_release(nanm);
  entro_tensor_release(notpd);
}

TEST(tridiag_matches_dense) {
  double dv[4] = {1, 2, 3, 4}, ev[3] = {0.5, -1, 0.25};
  int64_t n4 = 4, n3 = 3;
  entro_tensor *d = entro_tensor_new(1, &n4), *e = entro_tensor_new(1, &n3);
  memcpy(entro_data(d), dv, sizeof dv);
  memcpy(entro_data(e), ev, sizeof ev);
  double full[16] = {0};
  for (int i = 0; i < 4; i++) full[i * 5] = dv[i];
  for (int i = 0; i < 3; i++) full[i * 5 + 1] = full[(i + 1) * 4 + i] = ev[i];
  entro_tensor *a = mat(4, 4, full), *w1, *w2, *z;
  CHECK(entro_linalg_tridiag_eigh(d, e, 1, &w1, &z) == ENTRO_OK);
  CHECK(entro_linalg_eigvalsh(a, &w2) == ENTRO_OK);
  for (int i = 0; i < 4; i++) CHECK_NEAR(entro_data(w1)[i], entro_data(w2)[i], 1e-14);
  entro_tensor_release(w1); entro_tensor_release(w2); entro_tensor_release(z);
  entro_tensor_release(a); entro_tensor_release(d); entro_tensor_release(e);
}

int main(void) {
  RUN(eigh_known_3x3);
  RUN(eigh_200_trace);
  RUN(transposed_input_same_answer);
  RUN(solve_det_cholesky);
  RUN(failures_are_statuses);
  RUN(tridiag_matches_dense);
  return check_summary();
}
