/* double_backward.c -- second derivatives: backward kernels written with the differentiable
 * ops themselves, so a backward pass run with create_graph records a graph of its own.
 * Differentiating that graph again gives exact Hessian-vector products (Pearlmutter's
 * trick, as PyTorch does it), with ReLU's second derivative exactly zero rather than a
 * finite-difference step across a kink.
 *
 * Each kernel reads the node its op recorded (grad_ops.c, nn_ops.c): the layouts of
 * saved[], k[] and a[] below must match the ones there. Ops without a kernel here make a
 * create_graph backward fail with a clear message. */
#include <math.h>
#include <string.h>
#include "autograd.h"
#include "grad_ops.h"
#include "nn_ops.h"
#include "ops.h"

#define OK ENTRO_OK

/* Releases a temporary at the end of an expression chain. */
#define DROP(t) entro_tensor_release(t)

static int give(entro_tensor **din, int i, entro_tensor *r) {
  din[i] = r;
  return r ? OK : entro_errcode();
}

/* The input itself when it is part of the graph, else the saved copy (a constant). */
static entro_tensor *input(entro_node *n, int i, int slot) {
  return n->in[i] ? n->in[i] : n->saved[slot];
}

/* Differentiable sum of t down to shape (the broadcast rule's gradient). */
static entro_tensor *fsum_to(entro_tensor *t, int nd, const int64_t *shape) {
  entro_tensor_retain(t);
  while (t && t->ndim > nd) {
    entro_tensor *s = entro_f_reduce_dim(ER_SUM, t, 0, 0, 2, 0);
    DROP(t);
    t = s;
  }
  for (int i = 0; t && i < nd; i++)
    if (shape[i] == 1 && t->shape[i] != 1) {
      entro_tensor *s = entro_f_reduce_dim(ER_SUM, t, i, 1, 2, 0);
      DROP(t);
      t = s;
    }
  return t;
}

static entro_tensor *fmul(entro_tensor *a, entro_tensor *b) { return entro_f_binary(EB_MUL, a, b); }

/* a * b, releasing a (a chain step). */
static entro_tensor *mul_drop(entro_tensor *a, entro_tensor *b) {
  if (!a) return NULL;
  entro_tensor *r = fmul(a, b);
  DROP(a);
  return r;
}

/* A constant mask (no graph) computed from x with grad mode off. */
static entro_tensor *mask(int op, entro_tensor *x, double v) {
  int m = entro_grad_mode;
  entro_grad_mode = 0;
  entro_tensor *r = entro_binary_scalar(op, NULL, x, v, 0);
  entro_grad_mode = m;
  return r;
}

/* ---- elementwise ---- */

static int d_addsub(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc;
  for (int i = 0; i < 2; i++) {
    if (!entro_node_wants(n, i)) continue;
    const int64_t *k = n->k + 1 + i * (ENTRO_MAXDIM + 1);
    entro_tensor *s = fsum_to(g, (int)k[0], k + 1);
    if (s && i == 1 && n->k[0] == EB_SUB) {
      entro_tensor *m = entro_f_unary(EU_NEG, s);
      DROP(s);
      s = m;
    }
    if (give(din, i, s)) return entro_errcode();
  }
  return OK;
}

static int d_binary(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc;
  entro_tensor *a = input(n, 0, 0), *b = input(n, 1, 1);
  int op = (int)n->k[0];
  for (int i = 0; i < 2; i++) {
    if (!entro_node_wants(n, i)) continue;
    entro_tensor *d = NULL;
    switch (op) {
      case EB_MUL: d = fmul(g, i ? a : b); break;
      case EB_DIV:
        if (i == 0) d = entro_f_binary(EB_DIV, g, b);
        else {   /* -g a / b^2 */
          entro_tensor *ga = fmul(g, a), *bb = ga ? fmul(b, b) : NULL;
          entro_tensor *q = bb ? entro_f_binary(EB_DIV, ga, bb) : NULL;
          d = q ? entro_f_unary(EU_NEG, q) : NULL;
          DROP(ga); DROP(bb); DROP(q);
        }
        break;
      case EB_POW:
        if (i == 0) {   /* g b a^(b-1) */
          entro_tensor *bm = entro_f_binary_scalar(EB_SUB, b, 1, 0);
          entro_tensor *p = bm ? entro_f_binary(EB_POW, a, bm) : NULL;
          d = mul_drop(mul_drop(p, b), g);
          DROP(bm);
        } else {        /* g a^b log a */
          entro_tensor *p = entro_f_binary(EB_POW, a, b), *la = p ? entro_f_unary(EU_LOG, a) : NULL;
          d = la ? mul_drop(mul_drop(p, la), g) : NULL;
          if (!la) DROP(p);
          DROP(la);
        }
        break;
      default:
        return entro_fail(ENTRO_EINVAL, "backward: %s has no second derivative (create_graph)", n->name);
    }
    const entro_tensor *t = i ? b : a;
    entro_tensor *s = d ? fsum_to(d, t->ndim, t->shape) : NULL;
    DROP(d);
    if (give(din, i, s)) return entro_errcode();
  }
  return OK;
}

static int d_unary(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *x = input(n, 0, 0), *d = NULL, *t = NULL, *u = NULL;
  switch ((int)n->k[0]) {
    case EU_NEG: d = entro_f_unary(EU_NEG, g); break;
    case EU_EXP: case EU_EXPM1:
      d = mul_drop(entro_f_unary(EU_EXP, x), g); break;
    case EU_LOG: d = entro_f_binary(EB_DIV, g, x); break;
    case EU_LOG1P:
      if ((t = entro_f_binary_scalar(EB_ADD, x, 1, 0))) d = entro_f_binary(EB_DIV, g, t);
      break;
    case EU_SQRT:   /* g / (2 sqrt x) */
      if ((t = entro_f_unary(EU_SQRT, x)) && (u = entro_f_affine(t, 2, 0))) d = entro_f_binary(EB_DIV, g, u);
      break;
    case EU_TANH:   /* g (1 - tanh²) */
      if ((t = entro_f_unary(EU_TANH, x)) && (u = entro_f_unary(EU_SQUARE, t)))
        d = mul_drop(entro_f_affine(u, -1, 1), g);
      break;
    case EU_SIGMOID:   /* g s (1 - s) */
      if ((t = entro_f_unary(EU_SIGMOID, x)) && (u = entro_f_affine(t, -1, 1)))
        d = mul_drop(fmul(t, u), g);
      break;
    case EU_SOFTPLUS: d = mul_drop(entro_f_unary(EU_SIGMOID, x), g); break;
    case EU_GELU: d = mul_drop(entro_f_unary(EU_GELU_GRAD, x), g); break;   /* g gelu'(x) */
    case EU_SQUARE: d = mul_drop(entro_f_affine(x, 2, 0), g); break;
    case EU_RECIP:   /* -g / x² */
      if ((t = entro_f_unary(EU_SQUARE, x)) && (u = entro_f_binary(EB_DIV, g, t))) d = entro_f_unary(EU_NEG, u);
      break;
    case EU_SIN: d = mul_drop(entro_f_unary(EU_COS, x), g); break;
    case EU_COS:
      if ((t = entro_f_unary(EU_SIN, x))) d = mul_drop(entro_f_affine(t, -1, 0), g);
      break;
    case EU_RELU:   /* a constant mask: relu'' = 0 */
      if ((t = mask(EB_GT, x, 0))) d = fmul(g, t);
      break;
    case EU_ABS:
      if ((t = entro_unary(EU_SIGN, NULL, x))) d = fmul(g, t);
      break;
    case EU_SIGN: case EU_FLOOR: case EU_CEIL: case EU_ROUND:
      d = entro_tensor_zeros(x->ndim, x->shape);
      break;
    default:
      return entro_fail(ENTRO_EINVAL, "backward: %s has no second derivative (create_graph)", n->name);
  }
  DROP(t);
  DROP(u);
  return give(din, 0, d);
}

static int d_affine(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, entro_f_affine((entro_tensor *)g, n->a[0], 0));
}

static int d_masked(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *x = n->saved[0], *m = NULL, *d = NULL;
  if (!strcmp(n->name, "leaky_relu")) {
    entro_tensor *pos = mask(EB_GT, x, 0), *neg = pos ? entro_f_affine(g, n->a[0], 0) : NULL;
    d = neg ? entro_f_where(pos, g, neg) : NULL;
    DROP(pos);
    DROP(neg);
  } else {   /* clamp: 1 inside [lo, hi] */
    entro_tensor *m1 = mask(EB_GE, x, n->a[0]), *m2 = m1 ? mask(EB_LE, x, n->a[1]) : NULL;
    m = m2 ? entro_binary(EB_MUL, NULL, m1, m2) : NULL;
    d = m ? fmul(g, m) : NULL;
    DROP(m1); DROP(m2); DROP(m);
  }
  return give(din, 0, d);
}

/* ---- reductions, products, views ---- */

static int d_sum_mean(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc;
  int dim = (int)n->k[1], nd = (int)n->k[4];
  const int64_t *shape = n->k + 5;
  int64_t cnt = 1;
  if (dim >= 0) cnt = shape[dim];
  else for (int i = 0; i < nd; i++) cnt *= shape[i];
  double c = n->k[0] == ER_MEAN ? 1.0 / (double)cnt : 1.0;
  int64_t ks[ENTRO_MAXDIM];
  for (int i = 0; i < nd; i++) ks[i] = dim < 0 || i == dim ? 1 : shape[i];
  entro_tensor *gk = entro_f_reshape(g, nd, ks, 1);
  entro_tensor *sc = gk ? entro_f_affine(gk, c, 0) : NULL;
  entro_tensor *r = sc ? entro_f_expand(sc, nd, shape) : NULL;
  DROP(gk);
  DROP(sc);
  return give(din, 0, r);
}

static int d_matmul(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *a = input(n, 0, 0), *b = input(n, 1, 1);
  /* promote vectors as the forward did, and give g back the dims the forward dropped */
  int64_t s[ENTRO_MAXDIM];
  entro_tensor *A, *B, *G;
  if (a->ndim == 1) { s[0] = 1; s[1] = a->shape[0]; A = entro_f_reshape(a, 2, s, 1); }
  else { A = a; entro_tensor_retain(a); }
  if (b->ndim == 1) { s[0] = b->shape[0]; s[1] = 1; B = entro_f_reshape(b, 2, s, 1); }
  else { B = b; entro_tensor_retain(b); }
  int nb = g->ndim - (a->ndim > 1) - (b->ndim > 1);
  for (int i = 0; i < nb; i++) s[i] = g->shape[i];
  s[nb] = A ? A->shape[A->ndim - 2] : 1;
  s[nb + 1] = B ? B->shape[B->ndim - 1] : 1;
  G = entro_f_reshape(g, nb + 2, s, 1);
  int st = OK;
  if (!A || !B || !G) { st = entro_errcode(); goto done; }
  for (int i = 0; i < 2 && !st; i++) {
    if (!entro_node_wants(n, i)) continue;
    entro_tensor *o = i ? A : B, *ot = NULL, *d;
    if (G->ndim == 2 && o->ndim == 2)   /* matrices: one op, no transposed view */
      d = i ? entro_f_matmul_t(A, 1, G, 0) : entro_f_matmul_t(G, 0, B, 1);
    else if ((ot = entro_f_transpose(o, o->ndim - 2, o->ndim - 1)))
      d = i ? entro_f_matmul(ot, G) : entro_f_matmul(G, ot);
    else
      d = NULL;
    entro_tensor *m = i ? B : A, *orig = i ? b : a;
    entro_tensor *sm = d ? fsum_to(d, m->ndim, m->shape) : NULL;
    entro_tensor *r = sm ? entro_f_reshape(sm, orig->ndim, orig->shape, 1) : NULL;
    DROP(ot); DROP(d); DROP(sm);
    st = give(din, i, r);
  }
done:
  DROP(A); DROP(B); DROP(G);
  return st;
}

static int d_reshape(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, entro_f_reshape((entro_tensor *)g, (int)n->k[0], n->k + 1, 1));
}

static int d_permute(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  int inv[ENTRO_MAXDIM];
  for (int i = 0; i < g->ndim; i++) inv[i] = (int)n->k[i];
  return give(din, 0, entro_f_permute((entro_tensor *)g, inv));
}

static int d_expand(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, fsum_to((entro_tensor *)g, (int)n->k[0], n->k + 1));
}

static int d_identity(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  (void)n;
  entro_tensor_retain((entro_tensor *)g);
  din[0] = (entro_tensor *)g;
  return OK;
}

/* ---- fused layers and losses ---- */

/* linear: saved x (as a matrix), W; k: x's shape; in: x, W, b */
static int d_linear(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *w = input(n, 1, 1);
  int64_t s[2] = {g->shape[g->ndim - 1] ? g->numel / g->shape[g->ndim - 1] : 0, g->shape[g->ndim - 1]};
  entro_tensor *g2 = entro_f_reshape(g, 2, s, 1), *x2 = NULL;
  if (!g2) return entro_errcode();
  if (n->in[0]) {
    int64_t xs[2] = {s[0], w->shape[1]};
    x2 = entro_f_reshape(n->in[0], 2, xs, 1);
  } else {
    x2 = n->saved[0];
    entro_tensor_retain(x2);
  }
  int st = x2 ? OK : entro_errcode();
  if (!st && entro_node_wants(n, 0)) {
    entro_tensor *dx = entro_f_matmul(g2, w);
    entro_tensor *r = dx ? entro_f_reshape(dx, (int)n->k[0], n->k + 1, 1) : NULL;
    DROP(dx);
    st = give(din, 0, r);
  }
  if (!st && entro_node_wants(n, 1)) {
    st = give(din, 1, entro_f_matmul_t(g2, 1, x2, 0));
  }
  if (!st && n->n_in > 2 && entro_node_wants(n, 2))
    st = give(din, 2, entro_f_reduce_dim(ER_SUM, g2, 0, 0, 2, 0));
  DROP(g2);
  DROP(x2);
  return st;
}

/* softmax / log_softmax: k[0] dim, k[1] logp; recomputed from the input */
static int d_softmax(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *x = n->in[0];
  int dim = (int)n->k[0];
  entro_tensor *r = NULL;
  if (n->k[1]) {   /* g - softmax(x) sum(g) */
    entro_tensor *p = entro_f_softmax(x, dim), *sg = p ? entro_f_reduce_dim(ER_SUM, g, dim, 1, 2, 0) : NULL;
    entro_tensor *ps = sg ? fmul(p, sg) : NULL;
    r = ps ? entro_f_binary(EB_SUB, g, ps) : NULL;
    DROP(p); DROP(sg); DROP(ps);
  } else {         /* y (g - sum(g y)) */
    entro_tensor *y = entro_f_softmax(x, dim), *gy = y ? fmul(g, y) : NULL;
    entro_tensor *s = gy ? entro_f_reduce_dim(ER_SUM, gy, dim, 1, 2, 0) : NULL;
    entro_tensor *d = s ? entro_f_binary(EB_SUB, g, s) : NULL;
    r = d ? fmul(y, d) : NULL;
    DROP(y); DROP(gy); DROP(s); DROP(d);
  }
  return give(din, 0, r);
}

/* g as a scale per sample: (N, 1) for reduction none, else a scalar over n elements */
static entro_tensor *loss_scale(const entro_tensor *gc, int red, int64_t rows, double count) {
  entro_tensor *g = (entro_tensor *)gc;
  if (red == ENTRO_NONE) {
    int64_t s[2] = {rows, 1};
    return entro_f_reshape(g, 2, s, 1);
  }
  return entro_f_affine(g, red == ENTRO_MEAN ? 1.0 / count : 1.0, 0);
}

/* cross_entropy / nll: saved probabilities (unused here), labels; k: reduction, ce, N, C */
static int d_class(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *x = n->in[0], *labels = n->saved[1];
  int red = (int)n->k[0];
  int64_t N = n->k[2], C = n->k[3];
  int64_t s[2] = {N, C};
  entro_tensor *onehot = entro_tensor_zeros(2, s);
  if (!onehot) return entro_errcode();
  for (int64_t i = 0; i < N; i++)
    entro_data(onehot)[i * C + (int64_t)entro_data(labels)[i * labels->stride[0]]] = 1;
  entro_tensor *sc = loss_scale(gc, red, N, (double)N), *d = NULL;
  if (sc && n->k[1]) {   /* (softmax(x) - onehot) g */
    entro_tensor *p = entro_f_softmax(x, 1), *q = p ? entro_f_binary(EB_SUB, p, onehot) : NULL;
    d = q ? fmul(q, sc) : NULL;
    DROP(p); DROP(q);
  } else if (sc) {       /* -onehot g */
    entro_tensor *m = entro_f_affine(sc, -1, 0);
    d = m ? fmul(onehot, m) : NULL;
    DROP(m);
  }
  DROP(sc);
  DROP(onehot);
  return give(din, 0, d);
}

/* where: saved cond; k: a's shape, then b's; in: cond, a, b. g goes to a where cond holds,
 * to b elsewhere (cond is a constant). */
static int d_where(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *c = n->saved[0], *zero = entro_tensor_scalar(0);
  int st = zero ? OK : entro_errcode();
  for (int i = 1; i < 3 && !st; i++) {
    if (!entro_node_wants(n, i)) continue;
    entro_tensor *w = i == 1 ? entro_f_where(c, g, zero) : entro_f_where(c, zero, g);
    const int64_t *k = n->k + (i - 1) * (ENTRO_MAXDIM + 1);
    st = give(din, i, w ? fsum_to(w, (int)k[0], k + 1) : NULL);
    DROP(w);
  }
  DROP(zero);
  return st;
}

/* layer_norm: saved x (contiguous), w; in: x, w, b; a[0]: eps. The backward written with
 * differentiable ops, statistics recomputed from x:
 *   xhat = (x - mean) rstd, rstd = (var + eps)^(-1/2), dyh = g w,
 *   dx = rstd (dyh - mean(dyh) - xhat mean(dyh xhat)), dw = sum g xhat, db = sum g,
 * means over the last dimension, sums over the others. */
static int d_layer_norm(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *g = (entro_tensor *)gc, *x = input(n, 0, 0);
  entro_tensor *w = n->n_in > 1 ? input(n, 1, 1) : NULL;
  int last = x->ndim - 1;
  int64_t D = x->shape[last];
  entro_tensor *mu = entro_f_reduce_dim(ER_MEAN, x, last, 1, 2, 0);
  entro_tensor *xc = mu ? entro_f_binary(EB_SUB, x, mu) : NULL;
  entro_tensor *sq = xc ? entro_f_unary(EU_SQUARE, xc) : NULL;
  entro_tensor *var = sq ? entro_f_reduce_dim(ER_MEAN, sq, last, 1, 2, 0) : NULL;
  entro_tensor *ve = var ? entro_f_binary_scalar(EB_ADD, var, n->a[0], 0) : NULL;
  entro_tensor *sd = ve ? entro_f_unary(EU_SQRT, ve) : NULL;
  entro_tensor *rstd = sd ? entro_f_unary(EU_RECIP, sd) : NULL;
  entro_tensor *xhat = rstd ? fmul(xc, rstd) : NULL;
  DROP(mu); DROP(xc); DROP(sq); DROP(var); DROP(ve); DROP(sd);
  int st = xhat ? OK : entro_errcode();
  if (!st && entro_node_wants(n, 0)) {
    entro_tensor *dyh = w ? fmul(g, w) : (entro_tensor_retain(g), g);
    entro_tensor *m1 = dyh ? entro_f_reduce_dim(ER_MEAN, dyh, last, 1, 2, 0) : NULL;
    entro_tensor *p = m1 ? fmul(dyh, xhat) : NULL;
    entro_tensor *m2 = p ? entro_f_reduce_dim(ER_MEAN, p, last, 1, 2, 0) : NULL;
    entro_tensor *t1 = m2 ? entro_f_binary(EB_SUB, dyh, m1) : NULL;
    entro_tensor *t2 = t1 ? fmul(xhat, m2) : NULL;
    entro_tensor *t3 = t2 ? entro_f_binary(EB_SUB, t1, t2) : NULL;
    st = give(din, 0, t3 ? fmul(t3, rstd) : NULL);
    DROP(dyh); DROP(m1); DROP(p); DROP(m2); DROP(t1); DROP(t2); DROP(t3);
  }
  if (!st && n->n_in > 1 && entro_node_wants(n, 1)) {
    entro_tensor *gx = fmul(g, xhat);
    st = give(din, 1, gx ? fsum_to(gx, 1, &D) : NULL);
    DROP(gx);
  }
  if (!st && n->n_in > 2 && entro_node_wants(n, 2)) st = give(din, 2, fsum_to(g, 1, &D));
  DROP(rstd);
  DROP(xhat);
  return st;
}

/* mse: saved pred, target; k: reduction, kind (0 mse) */
static int d_regress(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  if (n->k[1] != 0) return entro_fail(ENTRO_EINVAL, "backward: %s has no second derivative (create_graph)", n->name);
  entro_tensor *a = input(n, 0, 0), *b = input(n, 1, 1);
  int red = (int)n->k[0];
  entro_tensor *sc = loss_scale(gc, red, a->ndim ? a->shape[0] : 1, (double)a->numel);
  if (sc && red == ENTRO_NONE && a->ndim != 2) {   /* per-sample scale broadcast over the rest */
    int64_t s[ENTRO_MAXDIM];
    s[0] = a->ndim ? a->shape[0] : 1;
    for (int i = 1; i < a->ndim; i++) s[i] = 1;
    entro_tensor *r = entro_f_reshape(sc, a->ndim ? a->ndim : 1, s, 1);
    DROP(sc);
    sc = r;
  }
  entro_tensor *diff = sc ? entro_f_binary(EB_SUB, a, b) : NULL;
  entro_tensor *t = diff ? fmul(diff, sc) : NULL;
  entro_tensor *da = t ? entro_f_affine(t, 2, 0) : NULL;
  DROP(sc); DROP(diff); DROP(t);
  if (!da) return entro_errcode();
  int st = OK;
  if (entro_node_wants(n, 1)) st = give(din, 1, entro_f_unary(EU_NEG, da));
  if (!st && entro_node_wants(n, 0)) { din[0] = da; da = NULL; }
  DROP(da);
  return st;
}

/* ---- dispatch ---- */

entro_backward_fn entro_double_backward(const entro_node *n) {
  static const struct { const char *name; entro_backward_fn fn; } table[] = {
    {"add", d_addsub}, {"sub", d_addsub}, {"mul", d_binary}, {"div", d_binary},
    {"pow", d_binary}, {"affine", d_affine}, {"clamp", d_masked}, {"leaky_relu", d_masked},
    {"matmul", d_matmul}, {"reshape", d_reshape}, {"view", d_reshape}, {"permute", d_permute},
    {"expand", d_expand}, {"clone", d_identity}, {"linear", d_linear},
    {"layer_norm", d_layer_norm}, {"where", d_where},
    {"softmax", d_softmax}, {"log_softmax", d_softmax}, {"cross_entropy", d_class},
    {"nll", d_class}, {"mse", d_regress},
  };
  /* ops whose ordinary backward is already written with differentiable views */
  static const char *const self_differentiable[] = {"narrow", "select", "embed", "cat", "stack",
                                                    "matmul_t"};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(n->name, table[i].name)) return table[i].fn;
  for (size_t i = 0; i < sizeof self_differentiable / sizeof self_differentiable[0]; i++)
    if (!strcmp(n->name, self_differentiable[i])) return n->backward;
  for (int op = 0; op < EU_NUNARY; op++)
    if (!strcmp(n->name, entro_unop_names[op])) return d_unary;
  if ((!strcmp(n->name, "sum") || !strcmp(n->name, "mean")) && n->saved[0] == NULL) return d_sum_mean;
  return NULL;
}
