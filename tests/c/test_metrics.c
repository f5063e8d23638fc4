/* test_metrics.c -- the representation metrics without Lua: linear CKA against a naive
 * double loop, feature space against Gram matrices (also across the chunk boundaries of the
 * products), invariances, nearest neighbours against brute force, strided inputs, and every
 * failure as a status with a message; no storage outlives a call. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "tensor.h"
#include "metrics.h"

static unsigned lcg = 12345u;
static double urand(void) {
  lcg = lcg * 1103515245u + 12345u;
  return (double)(lcg >> 8) / (double)(1u << 24) - 0.5;
}

static entro_tensor *random_mat(int64_t n, int64_t p) {
  int64_t s[2] = {n, p};
  entro_tensor *t = entro_tensor_new(2, s);
  for (int64_t i = 0; i < n * p; i++) entro_data(t)[i] = urand();
  return t;
}

static double at(const entro_tensor *t, int64_t i, int64_t j) {
  return entro_data(t)[i * t->stride[0] + j * t->stride[1]];
}

/* y[:, j] = scale * sign_j * x[:, perm_j] + offset_j: an orthogonal map (a signed
 * permutation), a scale and a translation, under all of which CKA is 1. */
static entro_tensor *signed_perm(const entro_tensor *x, double scale) {
  int64_t n = x->shape[0], p = x->shape[1];
  entro_tensor *y = random_mat(n, p);
  for (int64_t j = 0; j < p; j++) {
    int64_t src = (j * 3 + 1) % p;   /* a permutation when gcd(3, p) = 1 */
    double sign = j % 2 ? -1 : 1, offset = 10 * urand();
    for (int64_t i = 0; i < n; i++) entro_data(y)[i * p + j] = scale * sign * at(x, i, src) + offset;
  }
  return y;
}

/* Linear CKA by the definition: centred Gram matrices, <K, L> / (|K| |L|). */
static double naive_cka(const entro_tensor *x, const entro_tensor *y) {
  int64_t n = x->shape[0];
  size_t nn = (size_t)x->shape[0] * (size_t)x->shape[0];
  double *k = calloc(nn, sizeof *k), *l = calloc(nn, sizeof *l);
  const entro_tensor *m[2] = {x, y};
  double *g[2] = {k, l};
  for (int s = 0; s < 2; s++) {
    int64_t p = m[s]->shape[1];
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++)
        for (int64_t c = 0; c < p; c++) g[s][i * n + j] += at(m[s], i, c) * at(m[s], j, c);
    /* H G H */
    double *r = calloc((size_t)x->shape[0], sizeof *r), t = 0;
    for (int64_t i = 0; i < n; i++) {
      for (int64_t j = 0; j < n; j++) r[i] += g[s][i * n + j] / (double)n;
      t += r[i] / (double)n;
    }
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++) g[s][i * n + j] += t - r[i] - r[j];
    free(r);
  }
  double kl = 0, kk = 0, ll = 0;
  for (int64_t i = 0; i < n * n; i++) { kl += k[i] * l[i]; kk += k[i] * k[i]; ll += l[i] * l[i]; }
  free(k);
  free(l);
  return kl / sqrt(kk * ll);
}

TEST(linear_cka_matches_naive) {
  int64_t live = entro_mem_live();
  entro_tensor *x = random_mat(15, 4), *y = random_mat(15, 6);
  double ref = naive_cka(x, y), f, g, a;
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_FEATURE, &f) == ENTRO_OK);
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_GRAM, &g) == ENTRO_OK);
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_AUTO, &a) == ENTRO_OK);
  CHECK_NEAR(f, ref, 1e-13);
  CHECK_NEAR(g, ref, 1e-13);
  CHECK(a == f);   /* p + q <= n: the feature space */
  entro_tensor_release(x);
  entro_tensor_release(y);
  CHECK(entro_mem_live() == live);
}

TEST(invariances) {
  int64_t live = entro_mem_live();
  entro_tensor *x = random_mat(40, 5), *y = signed_perm(x, -2.5);
  double r;
  for (int unbiased = 0; unbiased < 2; unbiased++)
    for (int method = ENTRO_CKA_FEATURE; method <= ENTRO_CKA_GRAM; method++) {
      CHECK(entro_metrics_linear_cka("cka", x, y, 1, unbiased, method, &r) == ENTRO_OK);
      CHECK_NEAR(r, 1, 1e-12);
    }
  CHECK(entro_metrics_rbf_cka("cka", x, y, 0.4, 1.0, 0, &r) == ENTRO_OK);   /* sigma_y = 2.5 sigma_x */
  CHECK_NEAR(r, 1, 1e-12);
  CHECK(entro_metrics_mutual_knn(x, x, 7, &r) == ENTRO_OK);
  CHECK(r == 1);
  CHECK(entro_metrics_cknna(x, x, 7, 1, &r) == ENTRO_OK);
  CHECK_NEAR(r, 1, 1e-12);
  CHECK(entro_metrics_procrustes(x, y, &r) == ENTRO_OK);
  CHECK_NEAR(r, 1, 1e-12);
  entro_tensor *rho;
  int64_t dx, dy;
  CHECK(entro_metrics_svcca(x, y, 5, 5, 0, &r, &rho, &dx, &dy) == ENTRO_OK);
  CHECK_NEAR(r, 1, 1e-12);
  CHECK(dx == 5 && dy == 5 && rho->numel == 5);
  entro_tensor_release(rho);
  entro_tensor_release(x);
  entro_tensor_release(y);
  CHECK(entro_mem_live() == live);
}

/* Products split into row and column chunks (about 2e9 flops each) give the same numbers. */
TEST(chunked_products) {
  int64_t live = entro_mem_live();
  /* feature space: 600 x 2600 -> chunks of 296 rows */
  entro_tensor *x = random_mat(600, 2500), *y = random_mat(600, 100);
  for (int64_t i = 0; i < 600; i++)   /* some shared signal, so CKA is not ~0 */
    for (int64_t j = 0; j < 100; j++) entro_data(y)[i * 100 + j] += entro_data(x)[i * 2500 + j];
  double f, g;
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_FEATURE, &f) == ENTRO_OK);
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_GRAM, &g) == ENTRO_OK);
  CHECK(f > 0.01);
  CHECK_NEAR(f, g, 1e-12);
  entro_tensor_release(x);
  /* Gram: 600 x 6000 -> chunks of 5556 columns; six copies of a block have its kernel x 6 */
  entro_tensor *a = random_mat(600, 1000);
  int64_t s[2] = {600, 6000};
  x = entro_tensor_new(2, s);
  for (int64_t i = 0; i < 600; i++)
    for (int64_t j = 0; j < 6000; j++) entro_data(x)[i * 6000 + j] = entro_data(a)[i * 1000 + j % 1000];
  for (int64_t i = 0; i < 600; i++)
    for (int64_t j = 0; j < 100; j++) entro_data(y)[i * 100 + j] = entro_data(a)[i * 1000 + j] + urand();
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_GRAM, &g) == ENTRO_OK);
  CHECK(entro_metrics_linear_cka("cka", a, y, 1, 0, ENTRO_CKA_FEATURE, &f) == ENTRO_OK);
  CHECK_NEAR(g, f, 1e-12);
  entro_tensor_release(a);
  entro_tensor_release(x);
  entro_tensor_release(y);
  CHECK(entro_mem_live() == live);
}

TEST(knn_brute_force) {
  int64_t live = entro_mem_live();
  enum { N = 30, P = 4, K = 5 };
  entro_tensor *x = random_mat(N, P), *idx;
  CHECK(entro_metrics_knn("knn", x, K, 1, &idx) == ENTRO_OK);
  double norm[N];
  for (int i = 0; i < N; i++) {
    norm[i] = 0;
    for (int c = 0; c < P; c++) norm[i] += at(x, i, c) * at(x, i, c);
    norm[i] = sqrt(norm[i]);
  }
  int good = 1;
  for (int i = 0; i < N; i++) {
    /* the k-th neighbour's similarity bounds every row left out from above */
    double sim[N], kth = 2;
    for (int j = 0; j < N; j++) {
      sim[j] = 0;
      for (int c = 0; c < P; c++) sim[j] += at(x, i, c) * at(x, j, c);
      sim[j] /= norm[i] * norm[j];
    }
    int in[N] = {0};
    for (int t = 0; t < K; t++) {
      int j = (int)at(idx, i, t);
      good &= j != i && !in[j] && sim[j] <= kth;
      in[j] = 1;
      kth = sim[j];
    }
    for (int j = 0; j < N; j++) if (j != i && !in[j]) good &= sim[j] <= kth;
  }
  CHECK(good);
  entro_tensor_release(idx);
  entro_tensor_release(x);
  CHECK(entro_mem_live() == live);
}

TEST(strided_inputs) {
  entro_tensor *b = random_mat(6, 20);
  entro_tensor *x = entro_tensor_transpose(b, 0, 1), *xc = entro_tensor_clone(x);
  entro_tensor *y = random_mat(20, 3);
  double r1, r2;
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 1, ENTRO_CKA_AUTO, &r1) == ENTRO_OK);
  CHECK(entro_metrics_linear_cka("cka", xc, y, 1, 1, ENTRO_CKA_AUTO, &r2) == ENTRO_OK);
  CHECK(r1 == r2);
  CHECK(entro_metrics_mutual_knn(x, y, 4, &r1) == ENTRO_OK);
  CHECK(entro_metrics_mutual_knn(xc, y, 4, &r2) == ENTRO_OK);
  CHECK(r1 == r2);
  entro_tensor_release(b);
  entro_tensor_release(x);
  entro_tensor_release(xc);
  entro_tensor_release(y);
}

TEST(failures_are_statuses) {
  int64_t live = entro_mem_live();
  entro_tensor *x = random_mat(10, 3), *y = random_mat(9, 3), *idx;
  double r = 0;
  CHECK(entro_metrics_linear_cka("cka", x, y, 1, 0, ENTRO_CKA_AUTO, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "cka: X has 10 rows, Y has 9 (rows must be paired)") != NULL);
  CHECK(r != r);   /* NaN on failure */
  int64_t s3[3] = {10, 2, 2};
  entro_tensor *t3 = entro_tensor_zeros(3, s3);
  CHECK(entro_metrics_procrustes(x, t3, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "procrustes: Y must be a 2-D matrix (rows x features), got shape 10x2x2") != NULL);
  CHECK(entro_metrics_mutual_knn(x, x, 10, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "mutual_knn: k = 10 must be below n = 10") != NULL);
  CHECK(entro_metrics_knn("knn", x, 0, 1, &idx) == ENTRO_EINVAL && idx == NULL);
  CHECK(entro_metrics_cknna(x, x, 1, 1, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "cknna: k = 1 must be at least 2") != NULL);
  entro_data(x)[7] = NAN;
  CHECK(entro_metrics_svcca(x, x, 2, 2, 0, &r, NULL, NULL, NULL) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "svcca: X has NaN/Inf entries") != NULL);
  CHECK(entro_metrics_rbf_cka("cka", x, x, 1, 1, 0, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "cka: X has NaN/Inf entries") != NULL);
  entro_data(x)[7] = 0.5;
  CHECK(entro_metrics_rbf_cka("cka", x, x, 0, 1, 0, &r) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "cka: sigma must be positive and finite") != NULL);
  CHECK(entro_metrics_svcca(x, x, 10, 2, 0, &r, NULL, NULL, NULL) == ENTRO_EINVAL);
  CHECK(strstr(entro_errmsg(), "svcca: dims = 10 for X must be between 1 and 3") != NULL);
  entro_tensor_release(t3);
  entro_tensor_release(x);
  entro_tensor_release(y);
  CHECK(entro_mem_live() == live);
}

int main(void) {
  RUN(linear_cka_matches_naive);
  RUN(invariances);
  RUN(chunked_products);
  RUN(knn_brute_force);
  RUN(strided_inputs);
  RUN(failures_are_statuses);
  return check_summary();
}
