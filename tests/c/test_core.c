/* test_core.c -- the engine without Lua: views, broadcasting, reductions and matmul
 * checked against naive loops; errors reported as statuses, never crashes. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "tensor.h"
#include "ops.h"
#include "rng.h"
#include "blas.h"

static entro_tensor *seq(int nd, const int64_t *shape) {
  entro_tensor *t = entro_tensor_new(nd, shape);
  for (int64_t i = 0; i < t->numel; i++) entro_data(t)[i] = (double)(i + 1) * 0.5 - 3;
  return t;
}

TEST(views_share_storage) {
  int64_t s[2] = {3, 4};
  entro_tensor *a = seq(2, s);
  entro_tensor *t = entro_tensor_transpose(a, 0, 1);
  CHECK(t->st == a->st);
  CHECK(t->shape[0] == 4 && t->shape[1] == 3);
  CHECK(!entro_tensor_is_contiguous(t));
  int64_t idx[2] = {2, 1};
  CHECK(*entro_tensor_ptr(t, idx) == entro_data(a)[1 * 4 + 2]);
  entro_tensor *n = entro_tensor_narrow(a, 1, 1, 2);
  CHECK(n->numel == 6 && entro_data(n)[0] == entro_data(a)[1]);
  int64_t flat = -1;
  entro_tensor *v = entro_tensor_view(t, 1, &flat);
  CHECK(v == NULL);   /* a transposed view cannot be flattened without a copy */
  entro_tensor *r = entro_tensor_reshape(t, 1, &flat);
  CHECK(r && r->numel == 12 && r->st != a->st);
  CHECK(entro_data(r)[1] == entro_data(a)[4]);
  entro_tensor_release(r);
  entro_tensor_release(n);
  entro_tensor_release(t);
  entro_tensor_release(a);
}

TEST(broadcast_binary_matches_loops) {
  int64_t sa[3] = {2, 3, 4}, sb[2] = {3, 1};
  entro_tensor *a = seq(3, sa), *b = seq(2, sb);
  entro_tensor *c = entro_binary(EB_MUL, NULL, a, b);
  CHECK(c && c->ndim == 3 && c->shape[2] == 4);
  int bad = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++)
        bad += entro_data(c)[(i * 3 + j) * 4 + k] != entro_data(a)[(i * 3 + j) * 4 + k] * entro_data(b)[j];
  CHECK(bad == 0);
  int64_t sx[1] = {5};
  entro_tensor *x = seq(1, sx);
  CHECK(entro_binary(EB_ADD, NULL, a, x) == NULL);
  CHECK(strstr(entro_errmsg(), "do not broadcast") != NULL);
  entro_tensor_release(x);
  entro_tensor_release(c);
  entro_tensor_release(a);
  entro_tensor_release(b);
}

TEST(reductions_match_loops) {
  int64_t s[2] = {7, 5};
  entro_tensor *a = seq(2, s);
  double tot = 0;
  for (int i = 0; i < 35; i++) tot += entro_data(a)[i];
  double v;
  CHECK(entro_reduce_all(ER_SUM, a, 2, 0, &v) == 0);
  CHECK_NEAR(v, tot, 1e-14);
  entro_tensor *c = entro_reduce_dim(ER_SUM, NULL, a, 0, 0, 2, 0);
  for (int j = 0; j < 5; j++) {
    double col = 0;
    for (int i = 0; i < 7; i++) col += entro_data(a)[i * 5 + j];
    CHECK_NEAR(entro_data(c)[j], col, 1e-14);
  }
  entro_tensor *m = entro_reduce_dim(ER_ARGMAX, NULL, a, 1, 1, 2, 0);
  CHECK(m->ndim == 2 && m->shape[1] == 1 && entro_data(m)[0] == 4);
  entro_tensor_release(m);
  entro_tensor_release(c);
  entro_tensor_release(a);
}

static void naive_mm(const entro_tensor *a, const entro_tensor *b, double *c) {
  int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++) {
        int64_t ia[2] = {i, p}, ib[2] = {p, j};
        s += *entro_tensor_ptr(a, ia) * *entro_tensor_ptr(b, ib);
      }
      c[i * n + j] = s;
    }
}

TEST(matmul_matches_naive_with_transposed_views) {
  CHECK(entro_blas_init() == 0);
  int64_t sa[2] = {6, 4}, sb[2] = {5, 4};
  entro_tensor *a = seq(2, sa), *b0 = seq(2, sb);
  entro_tensor *b = entro_tensor_transpose(b0, 0, 1);   /* 4x5, column-major */
  entro_tensor *c = entro_matmul(NULL, a, b);
  double ref[30];
  naive_mm(a, b, ref);
  for (int i = 0; i < 30; i++) CHECK_NEAR(entro_data(c)[i], ref[i], 1e-13);
  entro_tensor *bad = entro_matmul(NULL, a, a);
  CHECK(bad == NULL && strstr(entro_errmsg(), "inner sizes differ (6x4 @ 6x4)"));
  entro_tensor_release(c);
  entro_tensor_release(b);
  entro_tensor_release(b0);
  entro_tensor_release(a);
}

TEST(rng_state_round_trips) {
  entro_rng g, h;
  entro_rng_seed(&g, 42);
  entro_rng_normal(&g);   /* leaves a spare */
  char st[160];
  entro_rng_state(&g, st, sizeof st);
  CHECK(entro_rng_set_state(&h, st) == 0);
  for (int i = 0; i < 10; i++) CHECK(entro_rng_normal(&g) == entro_rng_normal(&h));
  CHECK(entro_rng_set_state(&h, "garbage") != 0);
}

TEST(absurd_sizes_fail_cleanly) {
  int64_t s[2] = {1000000000, 1000000000};
  CHECK(entro_tensor_new(2, s) == NULL);
  CHECK(strstr(entro_errmsg(), "cannot allocate") != NULL);
  int64_t neg[1] = {-3};
  CHECK(entro_tensor_new(1, neg) == NULL);
}

int main(void) {
  RUN(views_share_storage);
  RUN(broadcast_binary_matches_loops);
  RUN(reductions_match_loops);
  RUN(matmul_matches_naive_with_transposed_views);
  RUN(rng_state_round_trips);
  RUN(absurd_sizes_fail_cleanly);
  entro_mem_trim();
  return check_summary();
}
