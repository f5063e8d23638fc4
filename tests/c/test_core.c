/* test_core.c -- the engine without Lua: views, broadcasting, reductions and matmul
 * checked against naive loops; errors reported as statuses, never crashes. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "tensor.h"
#include "ops.h"
#include "rng.h"
#include "blas.h"
#include "iter.h"

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


/* ---- helpers for the checks below ---- */

/* The element at flat (row-major, logical) position i of t. */
static double at_flat(const entro_tensor *t, int64_t i) {
  int64_t idx[ENTRO_MAXDIM];
  for (int d = t->ndim - 1; d >= 0; d--) {
    idx[d] = t->shape[d] ? i % t->shape[d] : 0;
    i = t->shape[d] ? i / t->shape[d] : 0;
  }
  return *entro_tensor_ptr(t, idx);
}

static int same_elements(const entro_tensor *a, const entro_tensor *b) {
  if (a->numel != b->numel) return 0;
  for (int64_t i = 0; i < a->numel; i++)
    if (at_flat(a, i) != at_flat(b, i)) return 0;
  return 1;
}

/* Views t as shape; when the view exists it must share storage and hold t's elements in
 * order. Returns whether it existed. */
static int check_view(const entro_tensor *t, int nd, const int64_t *shape) {
  entro_tensor *v = entro_tensor_view(t, nd, shape);
  if (!v) return 0;
  CHECK(v->st == t->st);
  CHECK(v->ndim == nd);
  CHECK(same_elements(v, t));
  entro_tensor *r = entro_tensor_reshape(t, nd, shape);
  CHECK(r && same_elements(r, t));
  entro_tensor_release(r);
  entro_tensor_release(v);
  return 1;
}

TEST(view_strides_edge_cases) {
  int64_t s3[3] = {2, 3, 4};
  entro_tensor *a = seq(3, s3);
  /* a view of a view: split a dim of a transposed tensor, merge what stays contiguous */
  entro_tensor *t = entro_tensor_transpose(a, 0, 1);            /* 3x2x4, strides 4,12,1 */
  int64_t v1[4] = {3, 2, 2, 2}, v2[2] = {3, 8}, v3[2] = {6, 4}, v4[3] = {3, 2, 4};
  CHECK(check_view(t, 4, v1));
  CHECK(!check_view(t, 2, v2));        /* dims 2 and 3 are not adjacent in memory */
  CHECK(!check_view(t, 2, v3));
  CHECK(check_view(t, 3, v4));
  entro_tensor *tv = entro_tensor_view(t, 4, v1);
  int64_t v5[3] = {3, 2, 4}, v6[5] = {3, 1, 2, 4, 1};
  CHECK(check_view(tv, 3, v5));        /* and back */
  CHECK(check_view(tv, 5, v6));        /* size-1 dims can go anywhere */
  entro_tensor_release(tv);
  /* size-1 dims with arbitrary strides do not block a view */
  int64_t s2[2] = {4, 5};
  entro_tensor *m = seq(2, s2);
  entro_tensor *row = entro_tensor_narrow(m, 0, 2, 1);           /* 1x5 */
  entro_tensor *col = entro_tensor_transpose(row, 0, 1);         /* 5x1, strides 1, 5 */
  int64_t w1[1] = {5}, w2[3] = {5, 1, 1}, w3[2] = {1, 5}, w4[4] = {1, 1, 5, 1};
  CHECK(check_view(col, 1, w1));
  CHECK(check_view(col, 3, w2));
  CHECK(check_view(col, 2, w3));
  CHECK(check_view(col, 4, w4));
  entro_tensor *one = entro_tensor_select(col, 0, 3);            /* shape 1, stride 5 */
  int64_t w5[3] = {1, 1, 1};
  CHECK(check_view(one, 3, w5));
  CHECK(check_view(one, 0, NULL));
  /* narrowed rows stay viewable as one run; narrowed columns only within a row */
  entro_tensor *rows = entro_tensor_narrow(m, 0, 1, 2);          /* 2x5, contiguous */
  int64_t r1[1] = {10}, r2[3] = {5, 2, 1};
  CHECK(check_view(rows, 1, r1));
  CHECK(check_view(rows, 3, r2));
  entro_tensor *cols = entro_tensor_narrow(m, 1, 1, 4);          /* 4x4, strides 5, 1 */
  int64_t c1[1] = {16}, c2[3] = {4, 2, 2}, c3[3] = {2, 2, 4};
  CHECK(!check_view(cols, 1, c1));
  CHECK(check_view(cols, 3, c2));
  CHECK(check_view(cols, 3, c3));
  /* 0-sized tensors view as any shape of 0 elements */
  int64_t z0[2] = {0, 3}, z1[3] = {3, 0, 5}, z2[1] = {0}, z3[2] = {-1, 0}, z4[2] = {-1, 2};
  entro_tensor *z = entro_tensor_zeros(2, z0);
  entro_tensor *zt = entro_tensor_transpose(z, 0, 1);
  CHECK(check_view(zt, 3, z1));
  CHECK(check_view(zt, 1, z2));
  CHECK(entro_tensor_view(zt, 2, z3) == NULL);    /* -1 next to a 0 is ambiguous */
  entro_tensor *zv = entro_tensor_view(zt, 2, z4);
  CHECK(zv && zv->shape[0] == 0 && zv->shape[1] == 2);
  entro_tensor_release(zv);
  /* an expanded dim keeps stride 0 and cannot merge with its neighbour */
  int64_t e0[2] = {1, 4}, e1[2] = {3, 4}, e2[3] = {3, 2, 2}, e3[1] = {12};
  entro_tensor *b = seq(2, e0), *e = entro_tensor_expand(b, 2, e1);
  CHECK(e->stride[0] == 0);
  CHECK(check_view(e, 3, e2));
  entro_tensor *ev = entro_tensor_view(e, 3, e2);
  CHECK(ev->stride[0] == 0 && ev->stride[1] == 2 && ev->stride[2] == 1);
  CHECK(!entro_tensor_is_writable(ev));
  entro_tensor_release(ev);
  CHECK(!check_view(e, 1, e3));
  entro_tensor *er = entro_tensor_reshape(e, 1, e3);
  CHECK(er && er->st != b->st && entro_tensor_is_writable(er) && same_elements(er, e));
  entro_tensor_release(er);
  /* sizes whose product overflows are refused, not wrapped */
  int64_t big[3] = {(int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40};
  CHECK(entro_tensor_view(a, 3, big) == NULL && strstr(entro_errmsg(), "view: cannot view"));
  int64_t bigz[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 0};   /* strides would overflow */
  CHECK(entro_tensor_view(z, 3, bigz) == NULL);
  CHECK(entro_tensor_zeros(3, bigz) == NULL && strstr(entro_errmsg(), "too many bytes"));
  int64_t okz[3] = {1 << 20, 1 << 20, 0};
  entro_tensor *bz = entro_tensor_view(z, 3, okz);
  CHECK(bz && bz->numel == 0);
  entro_tensor_release(bz);
  int64_t huge[2] = {10000000000LL, 10000000000LL};
  CHECK(entro_tensor_expand(one, 2, huge) == NULL && strstr(entro_errmsg(), "expand"));
  entro_tensor *objs[] = {a, t, m, row, col, one, rows, cols, z, zt, b, e};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) entro_tensor_release(objs[i]);
}

TEST(view_matches_reshape_on_random_layouts) {
  entro_rng g;
  entro_rng_seed(&g, 5);
  int64_t s4[4] = {2, 3, 4, 2};
  entro_tensor *base = seq(4, s4);
  int viewed = 0, copied = 0;
  for (int trial = 0; trial < 300; trial++) {
    int perm[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
      int j = (int)entro_rng_below(&g, (uint64_t)i + 1), x = perm[i];
      perm[i] = perm[j]; perm[j] = x;
    }
    entro_tensor *p = entro_tensor_permute(base, perm);
    int d = (int)entro_rng_below(&g, 4);
    int64_t len = 1 + (int64_t)entro_rng_below(&g, (uint64_t)p->shape[d]);
    entro_tensor *n = entro_tensor_narrow(p, d, 0, len);
    /* a random factorisation of numel into up to 4 dims */
    int64_t rest = n->numel, shape[4];
    int nd = 0;
    while (nd < 3 && rest > 1) {
      int64_t f = 1 + (int64_t)entro_rng_below(&g, (uint64_t)rest);
      while (rest % f) f--;
      shape[nd++] = f;
      rest /= f;
    }
    shape[nd++] = rest;
    int contiguous = entro_tensor_is_contiguous(n);
    int ok = check_view(n, nd, shape);
    if (contiguous) CHECK(ok);
    viewed += ok;
    copied += !ok;
    if (!ok) {
      entro_tensor *r = entro_tensor_reshape(n, nd, shape);
      CHECK(r && r->st != base->st && same_elements(r, n));
      entro_tensor_release(r);
    }
    entro_tensor_release(n);
    entro_tensor_release(p);
  }
  CHECK(viewed > 30 && copied > 30);
  entro_tensor_release(base);
}

/* sums operand 1 into a double: the walker must visit every element exactly once */
static void sum_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double *acc = ctx;
  for (int64_t i = 0; i < n; i++) *acc += p[1][i * s[1]];
}

static int collapsed(int nd, const int64_t *shape, int nop, const entro_tensor *const *ops,
                     int want_nd, int64_t want_inner) {
  entro_iter it;
  entro_iter_prepare(&it, nd, shape, nop, ops);
  return it.ndim == want_nd && it.shape[it.ndim - 1] == want_inner;
}

TEST(iter_collapses_dims) {
  int64_t s3[3] = {2, 3, 4}, s2[2] = {3, 4};
  entro_tensor *a = seq(3, s3), *m = seq(2, s2);
  const entro_tensor *one[1] = {a};
  CHECK(collapsed(3, s3, 1, one, 1, 24));                   /* contiguous: one run */
  entro_tensor *t = entro_tensor_transpose(m, 0, 1);         /* 4x3 */
  const entro_tensor *tt[1] = {t};
  CHECK(collapsed(2, t->shape, 1, tt, 2, 3));
  entro_tensor *nr = entro_tensor_narrow(m, 0, 1, 2);        /* rows: still one run */
  const entro_tensor *nrr[1] = {nr};
  CHECK(collapsed(2, nr->shape, 1, nrr, 1, 8));
  entro_tensor *nc = entro_tensor_narrow(m, 1, 1, 2);        /* columns: two dims */
  const entro_tensor *ncc[1] = {nc};
  CHECK(collapsed(2, nc->shape, 1, ncc, 2, 2));
  int64_t s4[4] = {1, 3, 1, 4};
  entro_tensor *u = entro_tensor_view(m, 4, s4);             /* size-1 dims are dropped */
  const entro_tensor *uu[1] = {u};
  CHECK(collapsed(4, s4, 1, uu, 1, 12));
  int64_t s1[3] = {1, 1, 1};
  entro_tensor *ones = seq(3, s1);
  const entro_tensor *oo[1] = {ones};
  CHECK(collapsed(3, s1, 1, oo, 1, 1));
  /* a broadcast operand: its stride-0 dim cannot merge with the next */
  int64_t sv[1] = {4}, sc[2] = {3, 1};
  entro_tensor *v = seq(1, sv), *c = seq(2, sc);
  const entro_tensor *mv[2] = {m, v}, *mc[2] = {m, c}, *mt[2] = {m, t};
  CHECK(collapsed(2, s2, 2, mv, 2, 4));
  CHECK(collapsed(2, s2, 2, mc, 2, 4));
  entro_tensor *tm = entro_tensor_transpose(t, 0, 1);        /* 3x4 view of m^T^T */
  const entro_tensor *mtm[2] = {m, tm};
  CHECK(collapsed(2, s2, 2, mtm, 1, 12));
  (void)mt;
  /* broadcasting the leading dims of a 3-D: a 3x4 against 2x3x4 merges to one run of 12 */
  const entro_tensor *am[2] = {a, m};
  CHECK(collapsed(3, s3, 2, am, 2, 12));
  /* runs visit every element once, whatever the layout */
  const entro_tensor *cases[][2] = {{a, a}, {t, t}, {nc, nc}, {u, u}};
  double want[4] = {0};
  for (int64_t i = 0; i < 24; i++) want[0] += entro_data(a)[i];
  for (int64_t i = 0; i < 12; i++) want[1] += entro_data(m)[i];
  want[2] = at_flat(nc, 0) + at_flat(nc, 1) + at_flat(nc, 2) + at_flat(nc, 3) + at_flat(nc, 4) + at_flat(nc, 5);
  want[3] = want[1];
  for (int k = 0; k < 4; k++) {
    entro_iter it;
    double acc = 0;
    entro_iter_prepare(&it, cases[k][0]->ndim, cases[k][0]->shape, 2, cases[k]);
    CHECK(entro_iter_run(&it, sum_inner, &acc, "test") == 0);
    CHECK_NEAR(acc, want[k], 1e-14);
  }
  /* an empty shape runs nothing */
  int64_t s0[2] = {3, 0};
  entro_tensor *z = entro_tensor_zeros(2, s0);
  const entro_tensor *zz[2] = {z, z};
  entro_iter it;
  double acc = 0;
  entro_iter_prepare(&it, 2, s0, 2, zz);
  CHECK(it.numel == 0 && entro_iter_run(&it, sum_inner, &acc, "test") == 0 && acc == 0);
  entro_tensor *objs[] = {a, m, t, nr, nc, u, ones, v, c, tm, z};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) entro_tensor_release(objs[i]);
}

TEST(sum_to_shape_undoes_broadcasting) {
  int64_t s3[3] = {2, 3, 4};
  entro_tensor *a = seq(3, s3);
  struct { int nd; int64_t shape[3]; } cases[] = {
    {3, {2, 3, 4}}, {2, {3, 4}}, {1, {4}}, {0, {0}}, {3, {1, 3, 1}}, {2, {1, 4}},
    {3, {2, 1, 4}}, {2, {3, 1}}, {3, {1, 1, 1}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int nd = cases[c].nd;
    const int64_t *sh = cases[c].shape;
    entro_tensor *r = entro_sum_to_shape(a, nd, sh);
    CHECK(r && r->ndim == nd);
    if (!r) continue;
    for (int d = 0; d < nd; d++) CHECK(r->shape[d] == sh[d]);
    /* naive: every element of a lands in the result cell it broadcasts from */
    double want[24] = {0};
    for (int64_t i = 0; i < 24; i++) {
      int64_t idx[3] = {i / 12, i / 4 % 3, i % 4}, o = 0;
      for (int d = 0; d < nd; d++) {
        int64_t k = sh[d] == 1 ? 0 : idx[d + 3 - nd];
        o = o * sh[d] + k;
      }
      want[o] += entro_data(a)[i];
    }
    for (int64_t i = 0; i < r->numel; i++) CHECK_NEAR(at_flat(r, i), want[i], 1e-14);
    if (nd == 3 && sh[0] == 2 && sh[1] == 3 && sh[2] == 4) CHECK(r == a);   /* no copy */
    entro_tensor_release(r);
  }
  /* a transposed and an expanded input */
  entro_tensor *t = entro_tensor_transpose(a, 0, 2);         /* 4x3x2 */
  int64_t s2[1] = {2};
  entro_tensor *r = entro_sum_to_shape(t, 1, s2);
  CHECK(r && r->numel == 2);
  double w0 = 0, w1 = 0;
  for (int i = 0; i < 12; i++) { w0 += entro_data(a)[i]; w1 += entro_data(a)[12 + i]; }
  CHECK_NEAR(entro_data(r)[0], w0, 1e-14);
  CHECK_NEAR(entro_data(r)[1], w1, 1e-14);
  entro_tensor_release(r);
  int64_t s1[2] = {1, 4}, se[3] = {5, 3, 4}, s4[1] = {4};
  entro_tensor *b = seq(2, s1), *e = entro_tensor_expand(b, 3, se);
  r = entro_sum_to_shape(e, 1, s4);
  CHECK(r && r->numel == 4);
  for (int j = 0; j < 4; j++) CHECK_NEAR(entro_data(r)[j], 15 * entro_data(b)[j], 1e-14);
  entro_tensor_release(r);
  /* shapes that do not broadcast to a are refused (they would overrun the result) */
  int64_t bad1[1] = {3}, bad2[1] = {5}, bad3[4] = {1, 2, 3, 4}, bad4[2] = {2, 4};
  CHECK(entro_sum_to_shape(a, 1, bad1) == NULL);
  CHECK(strstr(entro_errmsg(), "sum_to_shape: shape 3 does not broadcast to 2x3x4") != NULL);
  CHECK(entro_sum_to_shape(a, 1, bad2) == NULL);
  CHECK(entro_sum_to_shape(a, 4, bad3) == NULL);
  CHECK(entro_sum_to_shape(a, 2, bad4) == NULL);
  entro_tensor_release(e);
  entro_tensor_release(b);
  entro_tensor_release(t);
  entro_tensor_release(a);
}

TEST(gemm_layouts_and_no_copies) {
  CHECK(entro_blas_init() == 0);
  int64_t sa[2] = {3, 4}, sb[2] = {4, 5}, sc[2] = {3, 6}, sbt[2] = {5, 4};
  entro_tensor *a = seq(2, sa), *b = seq(2, sb), *C = entro_tensor_full(2, sc, 7);
  /* the result is one column of a wider matrix: rows lie 6 apart */
  entro_tensor *col = entro_tensor_narrow(C, 1, 2, 1);
  entro_tensor *bcol = entro_tensor_narrow(b, 1, 1, 1);
  CHECK(entro_gemm(1.0, a, 0, bcol, 0, 0.0, col) == 0);
  for (int i = 0; i < 3; i++) {
    double s = 0;
    for (int k = 0; k < 4; k++) s += entro_data(a)[i * 4 + k] * entro_data(b)[k * 5 + 1];
    CHECK_NEAR(entro_data(C)[i * 6 + 2], s, 1e-14);
    for (int j = 0; j < 6; j++) if (j != 2) CHECK(entro_data(C)[i * 6 + j] == 7);
  }
  /* transpose flags, alpha and beta, into a block of C */
  entro_tensor *bt = seq(2, sbt);                            /* op(bt) = bt^T is 4x5 */
  entro_tensor *blk = entro_tensor_narrow(C, 1, 1, 5);
  entro_tensor *at = entro_tensor_transpose(a, 0, 1);         /* 4x3, op(at) = a */
  double before[15];
  for (int i = 0; i < 15; i++) before[i] = at_flat(blk, i);
  CHECK(entro_gemm(2.0, at, 1, bt, 1, 0.5, blk) == 0);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 5; j++) {
      double s = 0;
      for (int k = 0; k < 4; k++) s += entro_data(a)[i * 4 + k] * entro_data(bt)[j * 4 + k];
      CHECK_NEAR(entro_data(C)[i * 6 + 1 + j], 2 * s + 0.5 * before[i * 5 + j], 1e-13);
    }
  for (int i = 0; i < 3; i++) CHECK(entro_data(C)[i * 6] == 7);
  /* transposed and narrowed operands go to BLAS as they are: no storage is made */
  entro_tensor *btv = entro_tensor_transpose(bt, 0, 1);       /* 4x5 view */
  entro_tensor *out = entro_tensor_zeros(2, (int64_t[]){3, 5});
  entro_mem_trim();
  int64_t n0 = entro_mem_allocs();
  CHECK(entro_gemm(1.0, a, 0, btv, 0, 0.0, out) == 0);
  entro_tensor *r = entro_matmul(out, a, btv);
  CHECK(r == out);
  entro_tensor_release(r);
  CHECK(entro_mem_allocs() == n0);
  /* an expanded operand must be copied (BLAS has no stride 0), and still be right */
  entro_tensor *row = entro_tensor_narrow(b, 0, 0, 1);
  entro_tensor *ex = entro_tensor_expand(row, 2, (int64_t[]){4, 5});
  CHECK(entro_gemm(1.0, a, 0, ex, 0, 0.0, out) == 0);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 5; j++) {
      double s = 0;
      for (int k = 0; k < 4; k++) s += entro_data(a)[i * 4 + k] * entro_data(b)[j];
      CHECK_NEAR(entro_data(out)[i * 5 + j], s, 1e-14);
    }
  /* a result whose columns are not contiguous is refused, not scribbled over */
  entro_tensor *sq = entro_tensor_narrow(C, 1, 0, 3), *ct = entro_tensor_transpose(sq, 0, 1);
  CHECK(entro_gemm(1.0, a, 0, a, 1, 0.0, ct) != 0);
  CHECK(strstr(entro_errmsg(), "matmul: the result must have contiguous rows") != NULL);
  entro_tensor *objs[] = {a, b, C, col, bcol, bt, blk, at, btv, out, row, ex, sq, ct};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) entro_tensor_release(objs[i]);
}

int main(void) {
  RUN(views_share_storage);
  RUN(broadcast_binary_matches_loops);
  RUN(reductions_match_loops);
  RUN(matmul_matches_naive_with_transposed_views);
  RUN(rng_state_round_trips);
  RUN(absurd_sizes_fail_cleanly);
  RUN(view_strides_edge_cases);
  RUN(view_matches_reshape_on_random_layouts);
  RUN(iter_collapses_dims);
  RUN(sum_to_shape_undoes_broadcasting);
  RUN(gemm_layouts_and_no_copies);
  entro_mem_trim();
  return check_summary();
}
