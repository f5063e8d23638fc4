/* nn_ops.c -- fused layers and losses (see nn_ops.h): direct loops and BLAS calls, with
 * their backward kernels beside them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "nn_ops.h"
#include "autograd.h"
#include "ops.h"

#define OK ENTRO_OK

static int give(entro_tensor **din, int i, entro_tensor *r) {
  din[i] = r;
  return r ? OK : entro_errcode();
}

/* Views x as a matrix (rows, last dim), copying only if its strides do not allow it. */
static entro_tensor *as_matrix(const entro_tensor *x) {
  int64_t s[2] = {x->ndim > 1 ? x->numel / (x->shape[x->ndim - 1] ? x->shape[x->ndim - 1] : 1) : 1,
                  x->ndim ? x->shape[x->ndim - 1] : 1};
  if (x->ndim > 0 && x->shape[x->ndim - 1] == 0) s[0] = 1;
  if (x->ndim > 1 && x->shape[x->ndim - 1] == 0) {
    s[0] = 1;
    for (int i = 0; i < x->ndim - 1; i++) s[0] *= x->shape[i];
  }
  return entro_tensor_reshape(x, 2, s);
}

/* ---- linear ---- */

/* saved: x (as a matrix), W; k: x's shape */
static int bw_linear(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *x2 = n->saved[0], *w = n->saved[1];
  entro_tensor *g2 = as_matrix(g);
  if (!g2) return entro_errcode();
  /* dx = g W and dW = g^T x, each summed by dgemm straight into the engine's sink where it
   * offers one (a leaf weight's .grad in a training step): no temporary, no extra pass */
  int st = OK;
  if (entro_node_wants(n, 0)) st = entro_backward_product(n, 0, g2, 0, w, 0, din);
  if (!st && entro_node_wants(n, 1)) st = entro_backward_product(n, 1, g2, 1, x2, 0, din);
  if (!st && n->n_in > 2 && entro_node_wants(n, 2))
    st = give(din, 2, entro_reduce_dim(ER_SUM, NULL, g2, 0, 0, 2, 0));
  entro_tensor_release(g2);
  return st;
}

entro_tensor *entro_f_linear(entro_tensor *x, entro_tensor *w, entro_tensor *b) {
  char s1[200], s2[200];
  if (w->ndim != 2 || x->ndim < 1) {
    entro_fail(ENTRO_EINVAL, "linear: weight must be 2-D (out x in) and input at least 1-D, got "
               "input %s, weight %s", entro_tensor_shape_str(s1, x), entro_tensor_shape_str(s2, w));
    return NULL;
  }
  int64_t in = w->shape[1], out = w->shape[0];
  if (x->shape[x->ndim - 1] != in) {
    entro_fail(ENTRO_EINVAL, "linear: input has %lld features, expected %lld (input %s, weight %s)",
               (long long)x->shape[x->ndim - 1], (long long)in, entro_tensor_shape_str(s1, x),
               entro_tensor_shape_str(s2, w));
    return NULL;
  }
  if (b && (b->ndim != 1 || b->shape[0] != out)) {
    entro_fail(ENTRO_EINVAL, "linear: bias has shape %s, expected %lld", entro_tensor_shape_str(s1, b),
               (long long)out);
    return NULL;
  }
  entro_tensor *x2 = as_matrix(x);
  if (!x2) return NULL;
  int64_t ys[2] = {x2->shape[0], out};
  entro_tensor *y2 = entro_tensor_new(2, ys);
  if (!y2) { entro_tensor_release(x2); return NULL; }
  if (b) {
    double *yp = entro_data(y2);
    const double *bp = entro_data(b);
    int64_t bs = b->stride[0];
    for (int64_t i = 0; i < ys[0]; i++) {
      if (bs == 1) memcpy(yp + i * out, bp, (size_t)out * sizeof *yp);
      else for (int64_t j = 0; j < out; j++) yp[i * out + j] = bp[j * bs];
    }
  }
  if (entro_gemm(1, x2, 0, w, 1, b ? 1 : 0, y2)) {
    entro_tensor_release(x2); entro_tensor_release(y2);
    return NULL;
  }
  int64_t shape[ENTRO_MAXDIM];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = out;
  entro_tensor *y = entro_tensor_view(y2, x->ndim, shape);
  entro_tensor_release(y2);
  entro_tensor *in3[3] = {x, w, b};
  if (y && entro_grad_mode && (entro_requires_grad(x) || entro_requires_grad(w) || entro_requires_grad(b))) {
    if ((y = entro_record(y, "linear", bw_linear, b ? 3 : 2, in3, x2, w))) {
      y->grad_fn->k[0] = x->ndim;
      memcpy(y->grad_fn->k + 1, x->shape, (size_t)x->ndim * sizeof(int64_t));
    }
  }
  entro_tensor_release(x2);
  return y;
}

/* ---- softmax family ---- */

/* Splits a tensor's dims around dim: outer x len x inner, for a contiguous tensor. */
static void around(const entro_tensor *t, int dim, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = 1; *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= t->shape[i];
  for (int i = dim + 1; i < t->ndim; i++) *inner *= t->shape[i];
  *len = t->shape[dim];
}

/* y = log_softmax (logp = 1) or softmax of x along dim, into a new contiguous tensor. */
static entro_tensor *softmax_fwd(const char *op, const entro_tensor *x, int dim, int logp) {
  char s[200];
  if (dim < 0 || dim >= x->ndim) {
    entro_fail(ENTRO_EINVAL, "%s: dimension %d out of range for shape %s", op, dim + 1,
               entro_tensor_shape_str(s, x));
    return NULL;
  }
  entro_tensor *xc = entro_tensor_contiguous(x);
  entro_tensor *y = xc ? entro_tensor_new(x->ndim, x->shape) : NULL;
  if (!y) { entro_tensor_release(xc); return NULL; }
  int64_t outer, len, inner;
  around(x, dim, &outer, &len, &inner);
  const double *xp = entro_data(xc);
  double *yp = entro_data(y);
  for (int64_t u = 0; u < outer; u++)
    for (int64_t v = 0; v < inner; v++) {
      const double *a = xp + u * len * inner + v;
      double *o = yp + u * len * inner + v;
      double m = -HUGE_VAL;
      for (int64_t i = 0; i < len; i++) if (a[i * inner] > m) m = a[i * inner];
      if (isinf(m) && m < 0) m = 0;   /* all -inf: keep the arithmetic finite */
      double z = 0;
      for (int64_t i = 0; i < len; i++) z += exp(a[i * inner] - m);
      /* (a - m) - log z, not a - (m + log z): m + log z would round away the low bits */
      double lz = log(z);
      for (int64_t i = 0; i < len; i++)
        o[i * inner] = logp ? (a[i * inner] - m) - lz : exp(a[i * inner] - m) / z;
    }
  entro_tensor_release(xc);
  return y;
}

/* saved: y (alias); k: dim, logp */
static int bw_softmax(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *y = n->saved[0];
  int dim = (int)n->k[0];
  entro_tensor *gc = entro_tensor_contiguous(g);
  entro_tensor *d = gc ? entro_tensor_new(y->ndim, y->shape) : NULL;
  if (!d) { entro_tensor_release(gc); return entro_errcode(); }
  int64_t outer, len, inner;
  around(y, dim, &outer, &len, &inner);
  const double *yp = entro_data(y), *gp = entro_data(gc);
  double *o = entro_data(d);
  for (int64_t u = 0; u < outer; u++)
    for (int64_t v = 0; v < inner; v++) {
      int64_t base = u * len * inner + v;
      double s = 0;
      if (n->k[1]) {   /* log_softmax: g - exp(y) * sum(g) */
        for (int64_t i = 0; i < len; i++) s += gp[base + i * inner];
        for (int64_t i = 0; i < len; i++)
          o[base + i * inner] = gp[base + i * inner] - exp(yp[base + i * inner]) * s;
      } else {         /* softmax: y * (g - sum(g * y)) */
        for (int64_t i = 0; i < len; i++) s += gp[base + i * inner] * yp[base + i * inner];
        for (int64_t i = 0; i < len; i++)
          o[base + i * inner] = yp[base + i * inner] * (gp[base + i * inner] - s);
      }
    }
  entro_tensor_release(gc);
  din[0] = d;
  return OK;
}

static entro_tensor *softmax_op(entro_tensor *x, int dim, int logp) {
  const char *name = logp ? "log_softmax" : "softmax";
  entro_tensor *y = softmax_fwd(name, x, dim, logp);
  if (!y || !entro_should_record(x, NULL)) return y;
  entro_tensor *ya = entro_tensor_view_of(y);
  if (!ya) { entro_tensor_release(y); return NULL; }
  if ((y = entro_record(y, name, bw_softmax, 1, &x, ya, NULL))) {
    y->grad_fn->k[0] = dim;
    y->grad_fn->k[1] = logp;
  }
  entro_tensor_release(ya);
  return y;
}

entro_tensor *entro_f_softmax(entro_tensor *x, int dim) { return softmax_op(x, dim, 0); }
entro_tensor *entro_f_log_softmax(entro_tensor *x, int dim) { return softmax_op(x, dim, 1); }

/* ---- classification losses ---- */

static int check_labels(const char *op, const entro_tensor *x, const entro_tensor *labels) {
  char s1[200], s2[200];
  if (x->ndim != 2)
    return entro_fail(ENTRO_EINVAL, "%s: expects (batch x classes) scores, got shape %s", op,
                      entro_tensor_shape_str(s1, x));
  if (labels->ndim != 1 || labels->shape[0] != x->shape[0])
    return entro_fail(ENTRO_EINVAL, "%s: %s labels for %s scores (one label per row)", op,
                      entro_tensor_shape_str(s1, labels), entro_tensor_shape_str(s2, x));
  int64_t c = x->shape[1];
  for (int64_t i = 0; i < labels->shape[0]; i++) {
    double v = entro_data(labels)[i * labels->stride[0]];
    if (v != floor(v))   /* NaN too */
      return entro_fail(ENTRO_EINVAL, "%s: label %.15g (row %lld) is not an integer class "
                        "in 1..%lld", op, v + 1, (long long)i + 1, (long long)c);
    if (!(v >= 0 && v < (double)c))
      return entro_fail(ENTRO_EINVAL, "%s: label %.15g (row %lld) outside 1..%lld", op, v + 1,
                        (long long)i + 1, (long long)c);
  }
  return OK;
}

static entro_tensor *reduce_losses(entro_tensor *per, int reduction) {
  if (!per || reduction == ENTRO_NONE) return per;
  double v;
  int st = entro_reduce_all(reduction == ENTRO_SUM ? ER_SUM : ER_MEAN, per, 2, 0, &v);
  entro_tensor_release(per);
  return st ? NULL : entro_tensor_scalar(v);
}

/* Scales the per-sample gradient: g is a scalar (mean/sum) or a vector (none). */
static double gscale(const entro_tensor *g, int64_t i, int reduction, int64_t n) {
  if (reduction == ENTRO_NONE) return entro_data(g)[i * g->stride[0]];
  double v = *entro_data(g);
  return reduction == ENTRO_MEAN ? v / (double)n : v;
}

/* saved: probabilities (cross_entropy) or nothing (nll), labels; k: reduction, kind */
static int bw_class(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *p = n->saved[0], *labels = n->saved[1];
  int red = (int)n->k[0];
  int64_t N = n->k[2], C = n->k[3];
  int64_t s[2] = {N, C};
  entro_tensor *d = entro_tensor_new(2, s);
  if (!d) return entro_errcode();
  double *o = entro_data(d);
  for (int64_t i = 0; i < N; i++) {
    double gi = gscale(g, i, red, N);
    int64_t y = (int64_t)entro_data(labels)[i * labels->stride[0]];
    for (int64_t j = 0; j < C; j++)
      o[i * C + j] = n->k[1] ? gi * (entro_data(p)[i * C + j] - (j == y)) : (j == y ? -gi : 0.0);
  }
  din[0] = d;
  return OK;
}

static entro_tensor *class_loss(const char *op, entro_tensor *x, const entro_tensor *labels,
                                int reduction, int ce) {
  if (check_labels(op, x, labels)) return NULL;
  int64_t N = x->shape[0], C = x->shape[1];
  entro_tensor *lp = ce ? softmax_fwd(op, x, 1, 1) : entro_tensor_contiguous(x);
  entro_tensor *per = lp ? entro_tensor_new(1, &N) : NULL;
  if (!per) { entro_tensor_release(lp); return NULL; }
  for (int64_t i = 0; i < N; i++) {
    int64_t y = (int64_t)entro_data(labels)[i * labels->stride[0]];
    entro_data(per)[i] = -entro_data(lp)[i * C + y];
  }
  entro_tensor *r = reduce_losses(per, reduction);
  if (r && entro_should_record(x, NULL)) {
    if (ce && !entro_done(entro_unary(EU_EXP, lp, lp))) {   /* log-probabilities -> probabilities */
      entro_tensor_release(r);
      entro_tensor_release(lp);
      return NULL;
    }
    if ((r = entro_record(r, op, bw_class, 1, &x, ce ? lp : NULL, (entro_tensor *)labels))) {
      entro_node *nd = r->grad_fn;
      nd->k[0] = reduction; nd->k[1] = ce; nd->k[2] = N; nd->k[3] = C;
    }
  }
  entro_tensor_release(lp);
  return r;
}

entro_tensor *entro_f_cross_entropy(entro_tensor *logits, const entro_tensor *labels, int reduction) {
  return class_loss("cross_entropy", logits, labels, reduction, 1);
}

entro_tensor *entro_f_nll(entro_tensor *logp, const entro_tensor *labels, int reduction) {
  return class_loss("nll", logp, labels, reduction, 0);
}

/* ---- regression losses ---- */

static int check_same(const char *op, const entro_tensor *a, const entro_tensor *b) {
  char s1[200], s2[200];
  if (!entro_tensor_same_shape(a, b))
    return entro_fail(ENTRO_EINVAL, "%s: prediction has shape %s, target %s", op,
                      entro_tensor_shape_str(s1, a), entro_tensor_shape_str(s2, b));
  return OK;
}

/* Per-element losses summed per sample for reduction none: the first dim is the sample. */
static entro_tensor *per_sample(entro_tensor *elem) {
  if (!elem || elem->ndim <= 1) return elem;
  entro_tensor *r = entro_reduce_dim(ER_SUM, NULL, elem, elem->ndim - 1, 0, 2, 0);
  while (r && r->ndim > 1) {
    entro_tensor *s = entro_reduce_dim(ER_SUM, NULL, r, r->ndim - 1, 0, 2, 0);
    entro_tensor_release(r);
    r = s;
  }
  entro_tensor_release(elem);
  return r;
}

/* Gradient scale for element i of an elementwise loss: g * (1/numel for mean). */
static entro_tensor *elem_scale(const entro_tensor *g, const entro_tensor *like, int red) {
  if (red != ENTRO_NONE) {
    double v = *entro_data(g) / (red == ENTRO_MEAN ? (double)like->numel : 1.0);
    return entro_tensor_full(like->ndim, like->shape, v);
  }
  /* g per sample: broadcast over the remaining dims */
  entro_tensor *gv = entro_tensor_view_of(g);
  while (gv && gv->ndim < like->ndim) {
    entro_tensor *u = entro_tensor_unsqueeze(gv, gv->ndim);
    entro_tensor_release(gv);
    gv = u;
  }
  entro_tensor *e = gv ? entro_tensor_expand(gv, like->ndim, like->shape) : NULL;
  entro_tensor_release(gv);
  return e;
}

/* saved: pred, target; k: reduction, kind (0 mse, 1 bce) */
static int bw_regress(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *a = n->saved[0], *b = n->saved[1];
  entro_tensor *sc = elem_scale(g, a, (int)n->k[0]);
  if (!sc) return entro_errcode();
  entro_tensor *da = NULL, *db = NULL;
  if (n->k[1] == 0) {   /* mse: 2 (a - b) */
    entro_tensor *d = entro_binary(EB_SUB, NULL, a, b);
    entro_tensor *t = d ? entro_binary(EB_MUL, NULL, d, sc) : NULL;
    da = t ? entro_affine(NULL, t, 2, 0) : NULL;
    db = da && entro_node_wants(n, 1) ? entro_unary(EU_NEG, NULL, da) : NULL;
    entro_tensor_release(d); entro_tensor_release(t);
  } else {              /* bce with logits: d/dx = sigmoid(x) - y, d/dy = -x */
    entro_tensor *s = entro_unary(EU_SIGMOID, NULL, a);
    da = s && entro_done(entro_binary(EB_SUB, s, s, b)) ? entro_binary(EB_MUL, NULL, s, sc) : NULL;
    if (da && entro_node_wants(n, 1)) {
      entro_tensor *nx = entro_unary(EU_NEG, NULL, a);
      db = nx ? entro_binary(EB_MUL, NULL, nx, sc) : NULL;
      entro_tensor_release(nx);
    }
    entro_tensor_release(s);
  }
  entro_tensor_release(sc);
  int st = da ? OK : entro_errcode();
  if (!st && entro_node_wants(n, 1) && !db) st = entro_errcode();
  if (st) { entro_tensor_release(da); entro_tensor_release(db); return st; }
  if (entro_node_wants(n, 0)) din[0] = da; else entro_tensor_release(da);
  if (entro_node_wants(n, 1)) din[1] = db; else entro_tensor_release(db);
  return OK;
}

static entro_tensor *regress(const char *op, entro_tensor *a, entro_tensor *b, int red, int kind) {
  if (check_same(op, a, b)) return NULL;
  entro_tensor *e;
  if (kind == 0) {
    e = entro_binary(EB_SUB, NULL, a, b);
    if (e && !entro_done(entro_unary(EU_SQUARE, e, e))) { entro_tensor_release(e); e = NULL; }
  } else {
    /* max(x, 0) - x y + log(1 + exp(-|x|)) */
    entro_tensor *xy = entro_binary(EB_MUL, NULL, a, b);
    entro_tensor *r = xy ? entro_unary(EU_RELU, NULL, a) : NULL;
    entro_tensor *ab = r ? entro_unary(EU_ABS, NULL, a) : NULL;
    e = NULL;
    if (ab && entro_done(entro_affine(ab, ab, -1, 0)) && entro_done(entro_unary(EU_EXP, ab, ab)) &&
        entro_done(entro_unary(EU_LOG1P, ab, ab)) && entro_done(entro_binary(EB_SUB, r, r, xy)))
      e = entro_binary(EB_ADD, NULL, r, ab);
    entro_tensor_release(xy); entro_tensor_release(r); entro_tensor_release(ab);
  }
  entro_tensor *loss = red == ENTRO_NONE ? per_sample(e) : reduce_losses(e, red);
  if (loss && entro_should_record(a, b)) {
    entro_tensor *in[2] = {a, b};
    if ((loss = entro_record(loss, op, bw_regress, 2, in, a, b))) {
      loss->grad_fn->k[0] = red;
      loss->grad_fn->k[1] = kind;
    }
  }
  return loss;
}

entro_tensor *entro_f_mse(entro_tensor *pred, entro_tensor *target, int reduction) {
  return regress("mse", pred, target, reduction, 0);
}

entro_tensor *entro_f_bce_with_logits(entro_tensor *x, entro_tensor *y, int reduction) {
  return regress("bce_with_logits", x, y, reduction, 1);
}

/* ---- layer norm ---- */

/* saved: x (contiguous), w; aux: per-row mean and rstd; k: has_w, has_b */
static int bw_layer_norm(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *x = n->saved[0], *w = n->saved[1];
  int64_t D = x->shape[x->ndim - 1], R = D ? x->numel / D : 0;
  const double *mean = (const double *)n->aux, *rstd = mean + R;
  entro_tensor *gc = entro_tensor_contiguous(g);
  entro_tensor *dx = gc ? entro_tensor_new(x->ndim, x->shape) : NULL;
  entro_tensor *dw = dx ? entro_tensor_zeros(1, &D) : NULL;
  entro_tensor *db = dw ? entro_tensor_zeros(1, &D) : NULL;
  if (!db) {
    entro_tensor_release(gc); entro_tensor_release(dx); entro_tensor_release(dw);
    return entro_errcode();
  }
  const double *xp = entro_data(x), *gp = entro_data(gc);
  double *dxp = entro_data(dx), *dwp = entro_data(dw), *dbp = entro_data(db);
  for (int64_t r = 0; r < R; r++) {
    const double *xr = xp + r * D, *gr = gp + r * D;
    double *o = dxp + r * D;
    double m1 = 0, m2 = 0;
    for (int64_t j = 0; j < D; j++) {
      double xh = (xr[j] - mean[r]) * rstd[r];
      double dxh = gr[j] * (w ? entro_data(w)[j * w->stride[0]] : 1.0);
      m1 += dxh;
      m2 += dxh * xh;
      dwp[j] += gr[j] * xh;
      dbp[j] += gr[j];
    }
    m1 /= (double)D;
    m2 /= (double)D;
    for (int64_t j = 0; j < D; j++) {
      double xh = (xr[j] - mean[r]) * rstd[r];
      double dxh = gr[j] * (w ? entro_data(w)[j * w->stride[0]] : 1.0);
      o[j] = rstd[r] * (dxh - m1 - xh * m2);
    }
  }
  entro_tensor_release(gc);
  din[0] = entro_node_wants(n, 0) ? dx : (entro_tensor_release(dx), NULL);
  if (n->n_in > 1 && entro_node_wants(n, 1)) din[1] = dw; else entro_tensor_release(dw);
  if (n->n_in > 2 && entro_node_wants(n, 2)) din[2] = db; else entro_tensor_release(db);
  return OK;
}

entro_tensor *entro_f_layer_norm(entro_tensor *x, entro_tensor *w, entro_tensor *b, double eps) {
  char s1[200], s2[200];
  if (x->ndim < 1) { entro_fail(ENTRO_EINVAL, "layer_norm: input is a scalar"); return NULL; }
  int64_t D = x->shape[x->ndim - 1], R = D ? x->numel / D : 0;
  const entro_tensor *pv[2] = {w, b};
  for (int i = 0; i < 2; i++)
    if (pv[i] && (pv[i]->ndim != 1 || pv[i]->shape[0] != D)) {
      entro_fail(ENTRO_EINVAL, "layer_norm: %s has shape %s, the input %s (expected %lld)",
                 i ? "bias" : "weight", entro_tensor_shape_str(s1, pv[i]),
                 entro_tensor_shape_str(s2, x), (long long)D);
      return NULL;
    }
  if (!(eps >= 0)) { entro_fail(ENTRO_EINVAL, "layer_norm: eps %g must be >= 0", eps); return NULL; }
  entro_tensor *xc = entro_tensor_contiguous(x);
  entro_tensor *y = xc ? entro_tensor_new(x->ndim, x->shape) : NULL;
  double *stats = y ? malloc((size_t)(2 * R + 1) * sizeof *stats) : NULL;
  if (!stats) {
    entro_tensor_release(xc); entro_tensor_release(y);
    if (y) entro_fail(ENTRO_ENOMEM, "layer_norm: out of memory");
    return NULL;
  }
  const double *xp = entro_data(xc);
  double *yp = entro_data(y);
  for (int64_t r = 0; r < R; r++) {
    const double *xr = xp + r * D;
    double m = 0, v = 0;
    for (int64_t j = 0; j < D; j++) m += xr[j];
    m /= (double)D;
    for (int64_t j = 0; j < D; j++) v += (xr[j] - m) * (xr[j] - m);
    double rs = 1 / sqrt(v / (double)D + eps);
    stats[r] = m;
    stats[R + r] = rs;
    for (int64_t j = 0; j < D; j++) {
      double h = (xr[j] - m) * rs;
      if (w) h *= entro_data(w)[j * w->stride[0]];
      if (b) h += entro_data(b)[j * b->stride[0]];
      yp[r * D + j] = h;
    }
  }
  entro_tensor *in[3] = {x, w, b};
  int rec = entro_grad_mode && (entro_requires_grad(x) || entro_requires_grad(w) || entro_requires_grad(b));
  if (rec && (y = entro_record(y, "layer_norm", bw_layer_norm, b ? 3 : w ? 2 : 1, in, xc, w))) {
    y->grad_fn->aux = stats;
    y->grad_fn->a[0] = eps;   /* for the second derivative (double_backward.c) */
    stats = NULL;
  }
  free(stats);
  entro_tensor_release(xc);
  return y;
}
