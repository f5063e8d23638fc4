/* test_autograd.c -- the tape without Lua: long chains freed without deep recursion,
 * diamonds accumulating, retain_graph, capture mode (tensor.grad), saved-tensor version
 * checks, and every storage returned when the tensors are dropped. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "tensor.h"
#include "ops.h"
#include "autograd.h"
#include "grad_ops.h"
#include "nn_ops.h"
#include "blas.h"

static entro_tensor *vec(int64_t n, const double *v) {
  entro_tensor *t = entro_tensor_new(1, &n);
  memcpy(entro_data(t), v, (size_t)n * sizeof *v);
  return t;
}

static entro_tensor *leaf(int64_t n, const double *v) {
  entro_tensor *t = vec(n, v);
  t->flags |= ENTRO_REQUIRES_GRAD;
  return t;
}

static entro_tensor *sum_all(entro_tensor *t) { return entro_f_reduce_all(ER_SUM, t, 2, 0); }

/* y = x, then 100000 times y = 1.0001 * y + 0: d(sum y)/dx = 1.0001^N. A recursive
 * backward or a recursive free would overflow the stack long before the end. */
#define CHAIN 100000
TEST(long_chain_backward_and_free) {
  int64_t live0 = entro_mem_live();
  double v[2] = {1, -2};
  entro_tensor *x = leaf(2, v);
  entro_tensor *y = x;
  entro_tensor_retain(y);
  for (int i = 0; i < CHAIN; i++) {
    entro_tensor *z = entro_f_affine(y, 1.0001, 0);
    entro_tensor_release(y);   /* only the tape holds the intermediates now */
    y = z;
  }
  CHECK(y && y->grad_fn && !strcmp(y->grad_fn->name, "affine"));
  entro_tensor *s = sum_all(y);
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) == ENTRO_OK);
  CHECK(x->grad != NULL);
  if (x->grad) {
    CHECK_NEAR(entro_data(x->grad)[0], pow(1.0001, CHAIN), 1e-9);
    CHECK_NEAR(entro_data(x->grad)[1], pow(1.0001, CHAIN), 1e-9);
  }
  /* the graph was freed: its intermediates are gone already */
  CHECK(y->grad_fn->backward == NULL);
  CHECK(entro_mem_live() - live0 < 100 * (int64_t)sizeof(double) * 2);
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) != ENTRO_OK);
  CHECK(strstr(entro_errmsg(), "retain_graph") != NULL);
  entro_tensor_release(s);
  entro_tensor_release(y);
  entro_tensor_release(x);
  CHECK(entro_mem_live() == live0);
}

/* The same chain dropped without a backward pass, and dropped after a retained one. */
TEST(long_chain_dropped_without_backward) {
  int64_t live0 = entro_mem_live();
  for (int retain = 0; retain < 3; retain++) {
    double v[1] = {0.5};
    entro_tensor *x = leaf(1, v);
    entro_tensor *y = x;
    entro_tensor_retain(y);
    for (int i = 0; i < CHAIN; i++) {
      entro_tensor *z = i % 2 ? entro_f_unary(EU_TANH, y) : entro_f_binary_scalar(EB_MUL, y, 1.5, 0);
      entro_tensor_release(y);
      y = z;
    }
    CHECK(y != NULL);
    CHECK(entro_mem_live() - live0 > CHAIN * (int64_t)sizeof(double));   /* held by the tape */
    if (retain == 1) {
      CHECK(entro_backward(y, NULL, 1, 0, 0, NULL, NULL) == ENTRO_OK);
      CHECK(entro_backward(y, NULL, 1, 0, 0, NULL, NULL) == ENTRO_OK);   /* still there */
    }
    if (retain == 2) {   /* drop the leaf first: the tape keeps it alive */
      entro_tensor_release(x);
      x = NULL;
    }
    entro_tensor_release(y);
    entro_tensor_release(x);
    CHECK(entro_mem_live() == live0);
  }
}

/* x used along two paths that meet again: y = exp(x) * x + exp(x) */
TEST(diamond_accumulates) {
  double v[3] = {0.5, -1, 2};
  entro_tensor *x = leaf(3, v);
  entro_tensor *e = entro_f_unary(EU_EXP, x);
  entro_tensor *p = entro_f_binary(EB_MUL, e, x);
  entro_tensor *q = entro_f_binary(EB_ADD, p, e);
  entro_tensor *s = sum_all(q);
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) == ENTRO_OK);
  for (int i = 0; i < 3; i++) CHECK_NEAR(entro_data(x->grad)[i], exp(v[i]) * (v[i] + 2), 1e-14);
  /* x * x: the same tensor as both inputs of one node */
  entro_tensor *sq = entro_f_binary(EB_MUL, x, x);
  entro_tensor *s2 = sum_all(sq);
  entro_tensor_release(x->grad);
  x->grad = NULL;
  CHECK(entro_backward(s2, NULL, 0, 0, 0, NULL, NULL) == ENTRO_OK);
  for (int i = 0; i < 3; i++) CHECK_NEAR(entro_data(x->grad)[i], 2 * v[i], 1e-15);
  entro_tensor *ts[5] = {e, p, q, s, sq};
  for (int i = 0; i < 5; i++) entro_tensor_release(ts[i]);
  entro_tensor_release(s2);
  entro_tensor_release(x);
}

/* A wide diamond: 200 branches off one tensor, summed back together. */
TEST(wide_fan_in) {
  double v[2] = {1, 2};
  entro_tensor *x = leaf(2, v);
  entro_tensor *h = entro_f_affine(x, 2, 0);
  entro_tensor *acc = entro_f_binary_scalar(EB_MUL, h, 0, 0);
  for (int i = 1; i <= 200; i++) {
    entro_tensor *b = entro_f_binary_scalar(EB_MUL, h, (double)i, 0);
    entro_tensor *a2 = entro_f_binary(EB_ADD, acc, b);
    entro_tensor_release(b);
    entro_tensor_release(acc);
    acc = a2;
  }
  entro_tensor *s = sum_all(acc);
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) == ENTRO_OK);
  CHECK_NEAR(entro_data(x->grad)[0], 2.0 * 200 * 201 / 2, 1e-15);
  CHECK_NEAR(entro_data(x->grad)[1], 2.0 * 200 * 201 / 2, 1e-15);
  entro_tensor_release(s);
  entro_tensor_release(acc);
  entro_tensor_release(h);
  entro_tensor_release(x);
}

TEST(retain_graph_doubles) {
  double v[2] = {1, 2};
  entro_tensor *x = leaf(2, v);
  entro_tensor *y = entro_f_unary(EU_SIN, x);
  entro_tensor *s = sum_all(y);
  CHECK(entro_backward(s, NULL, 1, 0, 0, NULL, NULL) == ENTRO_OK);
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) == ENTRO_OK);
  for (int i = 0; i < 2; i++) CHECK_NEAR(entro_data(x->grad)[i], 2 * cos(v[i]), 1e-15);
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) != ENTRO_OK);
  /* an explicit seed of the wrong shape, and a non-scalar without one */
  entro_tensor *y2 = entro_f_unary(EU_SIN, x);
  entro_tensor *g = entro_tensor_zeros(1, (int64_t[]){3});
  CHECK(entro_backward(y2, g, 0, 0, 0, NULL, NULL) != ENTRO_OK);
  CHECK(strstr(entro_errmsg(), "gradient has shape 3, the tensor 2") != NULL);
  CHECK(entro_backward(y2, NULL, 0, 0, 0, NULL, NULL) != ENTRO_OK);
  CHECK(strstr(entro_errmsg(), "not a scalar") != NULL);
  entro_tensor_release(g);
  entro_tensor_release(y2);
  entro_tensor_release(s);
  entro_tensor_release(y);
  entro_tensor_release(x);
}

/* Capture mode: gradients for the listed leaves only, zeros when unreached, no .grad. */
TEST(capture_mode) {
  double v[2] = {1, 2}, w[1] = {3};
  entro_tensor *x = leaf(2, v), *b = leaf(1, w), *u = leaf(1, w);
  entro_tensor *p = entro_f_binary(EB_MUL, x, b);
  entro_tensor *s = sum_all(p);
  entro_tensor *cap[3] = {x, u, b}, *out[3];
  CHECK(entro_backward(s, NULL, 0, 0, 3, cap, out) == ENTRO_OK);
  CHECK(x->grad == NULL && b->grad == NULL && u->grad == NULL);
  CHECK_NEAR(entro_data(out[0])[0], 3, 0);
  CHECK_NEAR(entro_data(out[0])[1], 3, 0);
  CHECK_NEAR(entro_data(out[1])[0], 0, 0);
  CHECK_NEAR(entro_data(out[2])[0], 3, 0);
  for (int i = 0; i < 3; i++) entro_tensor_release(out[i]);
  entro_tensor_release(s);
  entro_tensor_release(p);
  entro_tensor_release(x);
  entro_tensor_release(b);
  entro_tensor_release(u);
}

/* A saved input or output changed in place: backward refuses. */
TEST(saved_version_check) {
  double v[2] = {1, 2};
  entro_tensor *x = leaf(2, v);
  entro_tensor *y = entro_f_unary(EU_EXP, x);
  entro_tensor *s = sum_all(y);
  entro_tensor *alias = entro_tensor_view_of(y);
  CHECK(entro_done(entro_affine(alias, alias, 2, 0)));   /* bumps the shared storage */
  CHECK(entro_backward(s, NULL, 0, 0, 0, NULL, NULL) != ENTRO_OK);
  CHECK(strstr(entro_errmsg(), "modified in place") != NULL);
  CHECK(strstr(entro_errmsg(), "exp") != NULL);
  CHECK(x->grad == NULL);
  entro_tensor_release(alias);
  entro_tensor_release(s);
  entro_tensor_release(y);
  entro_tensor_release(x);
}

/* A small network step repeated: live memory does not grow. */
TEST(training_loop_memory_is_flat) {
  CHECK(entro_blas_init() == 0);
  int64_t sx[2] = {8, 4}, sw[2] = {3, 4}, sb[1] = {3};
  entro_tensor *x = entro_tensor_full(2, sx, 0.25), *w = entro_tensor_full(2, sw, 0.1);
  entro_tensor *b = entro_tensor_zeros(1, sb);
  w->flags |= ENTRO_REQUIRES_GRAD;
  b->flags |= ENTRO_REQUIRES_GRAD;
  double lab[8] = {0, 1, 2, 0, 1, 2, 0, 1};
  entro_tensor *labels = vec(8, lab);
  int64_t live1 = 0;
  for (int step = 0; step < 200; step++) {
    entro_tensor *h = entro_f_linear(x, w, b);
    entro_tensor *a = entro_f_unary(EU_TANH, h);
    entro_tensor *l = entro_f_cross_entropy(a, labels, ENTRO_MEAN);
    CHECK(l && entro_backward(l, NULL, 0, 0, 0, NULL, NULL) == ENTRO_OK);
    CHECK(entro_axpy(w, -0.1, w->grad) == ENTRO_OK);
    CHECK(entro_tensor_fill(w->grad, 0) == ENTRO_OK);
    entro_tensor_release(l);
    entro_tensor_release(a);
    entro_tensor_release(h);
    if (step == 10) live1 = entro_mem_live();
    if (step > 10 && entro_mem_live() != live1) { CHECK(entro_mem_live() == live1); break; }
  }
  entro_tensor *ts[4] = {x, w, b, labels};
  for (int i = 0; i < 4; i++) entro_tensor_release(ts[i]);
}

int main(void) {
  int64_t live0 = entro_mem_live();
  RUN(long_chain_backward_and_free);
  RUN(long_chain_dropped_without_backward);
  RUN(diamond_accumulates);
  RUN(wide_fan_in);
  RUN(retain_graph_doubles);
  RUN(capture_mode);
  RUN(saved_version_check);
  RUN(training_loop_memory_is_flat);
  check_current = "all storage returned";
  CHECK(entro_mem_live() == live0);
  entro_mem_trim();
  return check_summary();
}
