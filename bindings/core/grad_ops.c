/* grad_ops.c -- differentiable forms of the kernels: forward with the plain kernel, then,
 * when recording, a tape node whose backward kernel sits right below its forward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "grad_ops.h"
#include "autograd.h"
#include "ops.h"

#define OK ENTRO_OK

/* A separate header over t's storage: lets a node keep an op's output without holding the
 * output tensor itself (which holds the node: a cycle). */
static entro_tensor *alias(entro_tensor *t) { return entro_tensor_view_of(t); }

static void put_shape(int64_t *k, const entro_tensor *t) {
  k[0] = t->ndim;
  memcpy(k + 1, t->shape, (size_t)t->ndim * sizeof *k);
}

/* Finishes a backward kernel: din[i] = r, failing when r is NULL. */
static int give(entro_tensor **din, int i, entro_tensor *r) {
  din[i] = r;
  return r ? OK : entro_errcode();
}

/* ---- binary ---- */

static int bw_addsub(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  for (int i = 0; i < 2; i++) {
    if (!entro_node_wants(n, i)) continue;
    const int64_t *k = n->k + 1 + i * (ENTRO_MAXDIM + 1);
    entro_tensor *s = entro_sum_to_shape(g, (int)k[0], k + 1);
    if (s && i == 1 && n->k[0] == EB_SUB) {
      entro_tensor *m = entro_unary(EU_NEG, NULL, s);
      entro_tensor_release(s);
      s = m;
    }
    if (give(din, i, s)) return entro_errcode();
  }
  return OK;
}

static int bw_binary(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  for (int i = 0; i < 2; i++) {
    int last = i == 1 || !entro_node_wants(n, 1);   /* g's last reader may write over it */
    if (entro_node_wants(n, i) &&
        give(din, i, entro_binary_backward((int)n->k[0], i, g, n->saved[0], n->saved[1], last)))
      return entro_errcode();
  }
  return OK;
}

static entro_tensor *record_binary(entro_tensor *r, int op, entro_tensor *a, entro_tensor *b) {
  if (!r || !entro_should_record(a, b)) return r;
  if (op >= EB_EQ) return r;   /* comparisons: piecewise constant, no gradient */
  entro_tensor *in[2] = {a, b};
  if (op == EB_ADD || op == EB_SUB) {
    if (!(r = entro_record(r, entro_binop_names[op], bw_addsub, 2, in, NULL, NULL))) return NULL;
    entro_node *n = r->grad_fn;
    n->k[0] = op;
    put_shape(n->k + 1, a);
    put_shape(n->k + 1 + ENTRO_MAXDIM + 1, b);
    return r;
  }
  if (!(r = entro_record(r, entro_binop_names[op], bw_binary, 2, in, a, b))) return NULL;
  r->grad_fn->k[0] = op;
  return r;
}

entro_tensor *entro_f_binary(int op, entro_tensor *a, entro_tensor *b) {
  return record_binary(entro_binary(op, NULL, a, b), op, a, b);
}

entro_tensor *entro_f_binary_scalar(int op, entro_tensor *a, double s, int scalar_first) {
  entro_tensor *r = entro_binary_scalar(op, NULL, a, s, scalar_first);
  if (!r || !entro_should_record(a, NULL)) return r;
  entro_tensor *st = entro_tensor_scalar(s);
  if (!st) { entro_tensor_release(r); return NULL; }
  r = scalar_first ? record_binary(r, op, st, a) : record_binary(r, op, a, st);
  entro_tensor_release(st);
  return r;
}

/* ---- unary and parametric maps ---- */

static int bw_unary(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, entro_unary_backward((int)n->k[0], g, n->saved[0], n->saved[1], 1));
}

entro_tensor *entro_f_unary(int op, entro_tensor *a) {
  entro_tensor *r = entro_unary(op, NULL, a);
  if (!r || !entro_should_record(a, NULL) || op == EU_ISNAN) return r;
  entro_tensor *y = alias(r);
  if (!y) { entro_tensor_release(r); return NULL; }
  r = entro_record(r, entro_unop_names[op], bw_unary, 1, &a, a, y);
  entro_tensor_release(y);
  if (r) r->grad_fn->k[0] = op;
  return r;
}

static int bw_affine(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, entro_affine(NULL, g, n->a[0], 0));
}

entro_tensor *entro_f_affine(entro_tensor *a, double alpha, double beta) {
  entro_tensor *r = entro_affine(NULL, a, alpha, beta);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "affine", bw_affine, 1, &a, NULL, NULL))) r->grad_fn->a[0] = alpha;
  return r;
}

/* g where lo <= x <= hi, else 0 (PyTorch's convention at the bounds) */
static int bw_clamp(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *x = n->saved[0];
  entro_tensor *m1 = entro_binary_scalar(EB_GE, NULL, x, n->a[0], 0);
  entro_tensor *m2 = m1 ? entro_binary_scalar(EB_LE, NULL, x, n->a[1], 0) : NULL;
  entro_tensor *r = m2 && entro_done(entro_binary(EB_MUL, m1, m1, m2)) ? entro_binary(EB_MUL, NULL, g, m1) : NULL;
  entro_tensor_release(m1); entro_tensor_release(m2);
  return give(din, 0, r);
}

entro_tensor *entro_f_clamp(entro_tensor *a, double lo, double hi) {
  entro_tensor *r = entro_clamp(NULL, a, lo, hi);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "clamp", bw_clamp, 1, &a, a, NULL))) {
    r->grad_fn->a[0] = lo;
    r->grad_fn->a[1] = hi;
  }
  return r;
}

static int bw_leaky(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *m = entro_binary_scalar(EB_GT, NULL, n->saved[0], 0, 0);
  entro_tensor *neg = m ? entro_affine(NULL, g, n->a[0], 0) : NULL;
  entro_tensor *r = neg ? entro_where(NULL, m, g, neg) : NULL;
  entro_tensor_release(m); entro_tensor_release(neg);
  return give(din, 0, r);
}

entro_tensor *entro_f_leaky_relu(entro_tensor *a, double slope) {
  entro_tensor *r = entro_leaky_relu(NULL, a, slope);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "leaky_relu", bw_leaky, 1, &a, a, NULL))) r->grad_fn->a[0] = slope;
  return r;
}

static int bw_where(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *c = n->saved[0], *zero = entro_tensor_scalar(0);
  if (!zero) return entro_errcode();
  for (int i = 1; i < 3; i++) {
    if (!entro_node_wants(n, i)) continue;
    entro_tensor *w = i == 1 ? entro_where(NULL, c, g, zero) : entro_where(NULL, c, zero, g);
    const int64_t *k = n->k + (i - 1) * (ENTRO_MAXDIM + 1);
    entro_tensor *s = w ? entro_sum_to_shape(w, (int)k[0], k + 1) : NULL;
    entro_tensor_release(w);
    if (give(din, i, s)) { entro_tensor_release(zero); return entro_errcode(); }
  }
  entro_tensor_release(zero);
  return OK;
}

entro_tensor *entro_f_where(entro_tensor *cond, entro_tensor *a, entro_tensor *b) {
  entro_tensor *r = entro_where(NULL, cond, a, b);
  if (!r || !entro_should_record(a, b)) return r;
  entro_tensor *in[3] = {cond, a, b};
  if ((r = entro_record(r, "where", bw_where, 3, in, cond, NULL))) {
    put_shape(r->grad_fn->k, a);
    put_shape(r->grad_fn->k + ENTRO_MAXDIM + 1, b);
  }
  return r;
}

/* ---- reductions ---- */

/* Gradient of a reduction along dim of a (keepdim-shaped g and result rk); sum and mean
 * are bw_sum_mean's. */
static entro_tensor *reduce_grad(int op, const entro_tensor *a, int dim, const entro_tensor *gk,
                                 const entro_tensor *rk, double p, int ddof) {
  int64_t len = a->shape[dim];
  entro_tensor *t1 = NULL, *t2 = NULL, *t3 = NULL, *r = NULL;
  switch (op) {
    case ER_MAX: case ER_MIN:   /* shared evenly among tied extremes */
      if ((t1 = entro_binary(EB_EQ, NULL, a, rk)) &&
          (t2 = entro_reduce_dim(ER_SUM, NULL, t1, dim, 1, 2, 0)) &&
          (t3 = entro_binary(EB_DIV, NULL, gk, t2)))
        r = entro_binary(EB_MUL, NULL, t1, t3);
      break;
    case ER_VAR: case ER_STD:
      if ((t1 = entro_reduce_dim(ER_MEAN, NULL, a, dim, 1, 2, 0)) &&
          (t2 = entro_binary(EB_SUB, NULL, a, t1))) {
        double c = op == ER_VAR ? 2.0 / (double)(len - ddof) : 1.0 / (double)(len - ddof);
        entro_tensor *s = op == ER_VAR ? entro_affine(NULL, gk, c, 0)
                                       : (t3 = entro_binary(EB_DIV, NULL, gk, rk)) ? entro_affine(NULL, t3, c, 0) : NULL;
        if (s) { r = entro_binary(EB_MUL, NULL, t2, s); entro_tensor_release(s); }
      }
      break;
    case ER_LOGSUMEXP:
      if ((t1 = entro_binary(EB_SUB, NULL, a, rk)) && entro_done(entro_unary(EU_EXP, t1, t1)))
        r = entro_binary(EB_MUL, NULL, t1, gk);
      break;
    case ER_NORM:
      if (isinf(p)) {   /* like max of |a|, with the sign */
        if ((t1 = entro_unary(EU_ABS, NULL, a)) && (t2 = entro_binary(EB_EQ, t1, t1, rk)) &&
            (t3 = entro_reduce_dim(ER_SUM, NULL, t2, dim, 1, 2, 0))) {
          entro_tensor *q = entro_binary(EB_DIV, NULL, gk, t3), *sg = entro_unary(EU_SIGN, NULL, a);
          if (q && sg && entro_done(entro_binary(EB_MUL, sg, sg, t2))) r = entro_binary(EB_MUL, NULL, sg, q);
          entro_tensor_release(q); entro_tensor_release(sg);
        }
      } else if (p == 1) {
        if ((t1 = entro_unary(EU_SIGN, NULL, a))) r = entro_binary(EB_MUL, NULL, t1, gk);
      } else {
        /* g * sign(a) |a|^(p-1) / norm^(p-1), and 0 where the norm is 0 */
        if ((t1 = entro_unary(EU_ABS, NULL, a)) && entro_done(entro_binary_scalar(EB_POW, t1, t1, p - 1, 0)) &&
            (t2 = entro_binary_scalar(EB_POW, NULL, rk, p - 1, 0))) {
          entro_tensor *sg = entro_unary(EU_SIGN, NULL, a);
          entro_tensor *q = entro_binary(EB_DIV, NULL, gk, t2);
          if (sg && q) {
            entro_tensor *z = entro_binary_scalar(EB_EQ, NULL, t2, 0, 0);
            entro_tensor *zero = entro_tensor_scalar(0);
            entro_tensor *qs = z && zero ? entro_where(NULL, z, zero, q) : NULL;
            if (qs && entro_done(entro_binary(EB_MUL, t1, t1, sg))) r = entro_binary(EB_MUL, NULL, t1, qs);
            entro_tensor_release(z); entro_tensor_release(zero); entro_tensor_release(qs);
          }
          entro_tensor_release(sg); entro_tensor_release(q);
        }
      }
      break;
    case ER_PROD: {
      /* product of the others, computed by prefix and suffix products along each slice */
      entro_tensor *ac = entro_tensor_contiguous(a);
      if (!ac) break;
      entro_tensor *gx = entro_tensor_expand(gk, a->ndim, a->shape);
      if (gx && (r = entro_tensor_new(a->ndim, a->shape))) {
        int64_t inner = 1;
        for (int d = dim + 1; d < a->ndim; d++) inner *= a->shape[d];
        int64_t outer = len ? a->numel / (len * inner) : 0;
        entro_tensor *gc = entro_tensor_contiguous(gx);
        if (gc) {
          const double *x = entro_data(ac), *gp = entro_data(gc);
          double *o = entro_data(r);
          for (int64_t u = 0; u < outer; u++)
            for (int64_t v = 0; v < inner; v++) {
              int64_t base = u * len * inner + v;
              double pre = 1;
              for (int64_t i = 0; i < len; i++) { o[base + i * inner] = pre; pre *= x[base + i * inner]; }
              double suf = 1;
              for (int64_t i = len - 1; i >= 0; i--) {
                o[base + i * inner] *= suf * gp[base + i * inner];
                suf *= x[base + i * inner];
              }
            }
          entro_tensor_release(gc);
        } else {
          entro_tensor_release(r);
          r = NULL;
        }
      }
      entro_tensor_release(gx);
      entro_tensor_release(ac);
      break;
    }
    default:
      entro_fail(ENTRO_EINVAL, "backward: %s has no gradient", entro_reduce_names[op]);
  }
  entro_tensor_release(t1); entro_tensor_release(t2); entro_tensor_release(t3);
  return r;
}

/* k: [0] op, [1] dim (-1: all), [2] keepdim, [3] ddof; a[0] = p; saved: a, result alias */
static int bw_reduce(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  int op = (int)n->k[0], dim = (int)n->k[1];
  entro_tensor *a = n->saved[0], *res = n->saved[1];
  entro_tensor *af = NULL, *gk, *rk, *r;
  if (dim < 0) {   /* all elements: a flat view (or copy), dim 0 */
    int64_t flat = a->numel, one = 1;
    af = entro_tensor_reshape(a, 1, &flat);
    gk = entro_tensor_reshape(g, 1, &one);
    rk = entro_tensor_reshape(res, 1, &one);
  } else if (!n->k[2]) {
    gk = entro_tensor_unsqueeze(g, dim);
    rk = entro_tensor_unsqueeze(res, dim);
  } else {
    gk = entro_tensor_view_of(g);
    rk = entro_tensor_view_of(res);
  }
  r = gk && rk && (dim >= 0 || af) ? reduce_grad(op, af ? af : a, dim < 0 ? 0 : dim, gk, rk,
                                                 n->a[0], (int)n->k[3]) : NULL;
  if (r && af) {
    entro_tensor *s = entro_tensor_reshape(r, a->ndim, a->shape);
    entro_tensor_release(r);
    r = s;
  }
  entro_tensor_release(af); entro_tensor_release(gk); entro_tensor_release(rk);
  return give(din, 0, r);
}

/* Sum and mean need only the input's shape (k[4..]), so they save no tensor: a later
 * in-place change to their input does not block their backward, and the input can die. */
static int bw_sum_mean(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  int dim = (int)n->k[1], nd = (int)n->k[4];
  const int64_t *shape = n->k + 5;
  int64_t cnt = 1;
  if (dim >= 0) cnt = shape[dim];
  else for (int i = 0; i < nd; i++) cnt *= shape[i];
  double c = n->k[0] == ER_MEAN ? 1.0 / (double)cnt : 1.0;
  if (dim < 0) return give(din, 0, entro_tensor_full(nd, shape, c * *entro_data(g)));
  entro_tensor *gk = n->k[2] ? entro_tensor_view_of(g) : entro_tensor_unsqueeze(g, dim);
  entro_tensor *sc = gk ? entro_affine(NULL, gk, c, 0) : NULL;
  entro_tensor *r = sc ? entro_tensor_expand(sc, nd, shape) : NULL;
  entro_tensor_release(gk);
  entro_tensor_release(sc);
  return give(din, 0, r);
}

static entro_tensor *record_reduce(entro_tensor *r, int op, entro_tensor *a, int dim, int keep,
                                   double p, int ddof) {
  if (!r || !entro_should_record(a, NULL) || op == ER_ARGMAX || op == ER_ARGMIN) return r;
  if (op == ER_SUM || op == ER_MEAN) {
    if ((r = entro_record(r, entro_reduce_names[op], bw_sum_mean, 1, &a, NULL, NULL))) {
      entro_node *n = r->grad_fn;
      n->k[0] = op; n->k[1] = dim; n->k[2] = keep;
      put_shape(n->k + 4, a);
    }
    return r;
  }
  entro_tensor *y = alias(r);
  if (!y) { entro_tensor_release(r); return NULL; }
  r = entro_record(r, entro_reduce_names[op], bw_reduce, 1, &a, a, y);
  entro_tensor_release(y);
  if (r) {
    entro_node *n = r->grad_fn;
    n->k[0] = op; n->k[1] = dim; n->k[2] = keep; n->k[3] = ddof;
    n->a[0] = p;
  }
  return r;
}

entro_tensor *entro_f_reduce_all(int op, entro_tensor *a, double p, int ddof) {
  double v;
  if (entro_reduce_all(op, a, p, ddof, &v)) return NULL;
  return record_reduce(entro_tensor_scalar(v), op, a, -1, 0, p, ddof);
}

entro_tensor *entro_f_reduce_dim(int op, entro_tensor *a, int dim, int keepdim, double p, int ddof) {
  return record_reduce(entro_reduce_dim(op, NULL, a, dim, keepdim, p, ddof), op, a, dim, keepdim, p, ddof);
}

/* d/dx of cumsum: the reversed cumulative sum of g, as total - cumsum(g) + g */
static int bw_cumsum(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  int dim = (int)n->k[0];
  entro_tensor *tot = entro_reduce_dim(ER_SUM, NULL, g, dim, 1, 2, 0);
  entro_tensor *c = tot ? entro_cumsum(NULL, g, dim) : NULL;
  entro_tensor *d = c ? entro_binary(EB_SUB, NULL, tot, c) : NULL;
  entro_tensor *r = d ? entro_binary(EB_ADD, NULL, d, g) : NULL;
  entro_tensor_release(tot); entro_tensor_release(c); entro_tensor_release(d);
  return give(din, 0, r);
}

entro_tensor *entro_f_cumsum(entro_tensor *a, int dim) {
  entro_tensor *r = entro_cumsum(NULL, a, dim);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "cumsum", bw_cumsum, 1, &a, NULL, NULL))) r->grad_fn->k[0] = dim;
  return r;
}

/* ---- matmul ---- */

/* saved: a, b. Vectors are promoted as in the forward, gradients reduced over broadcast
 * batch dims and reshaped back. */
static int bw_matmul(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *a = n->saved[0], *b = n->saved[1];
  if (a->ndim == 2 && b->ndim == 2) {   /* two matrices: G b^T and a^T G, into sinks if offered */
    int st = entro_node_wants(n, 0) ? entro_backward_product(n, 0, g, 0, b, 1, din) : OK;
    return !st && entro_node_wants(n, 1) ? entro_backward_product(n, 1, a, 1, g, 0, din) : st;
  }
  entro_tensor *A = a->ndim == 1 ? entro_tensor_unsqueeze(a, 0) : entro_tensor_view_of(a);
  entro_tensor *B = b->ndim == 1 ? entro_tensor_unsqueeze(b, 1) : entro_tensor_view_of(b);
  entro_tensor *G = NULL, *t = NULL;
  int st = OK;
  if (!A || !B) { st = entro_errcode(); goto done; }
  /* G: g with the matrix dims the forward dropped */
  G = entro_tensor_view_of(g);
  if (G && a->ndim == 1) { t = entro_tensor_unsqueeze(G, G->ndim - (b->ndim == 1 ? 0 : 1)); entro_tensor_release(G); G = t; }
  if (G && b->ndim == 1) { t = entro_tensor_unsqueeze(G, G->ndim); entro_tensor_release(G); G = t; }
  if (!G) { st = entro_errcode(); goto done; }
  if (entro_node_wants(n, 0)) {
    entro_tensor *bt = entro_tensor_transpose(B, B->ndim - 2, B->ndim - 1);
    entro_tensor *d = bt ? entro_matmul(NULL, G, bt) : NULL;
    entro_tensor *s = d ? entro_sum_to_shape(d, A->ndim, A->shape) : NULL;
    entro_tensor_release(bt); entro_tensor_release(d);
    entro_tensor *r = s ? entro_tensor_reshape(s, a->ndim, a->shape) : NULL;
    entro_tensor_release(s);
    if ((st = give(din, 0, r))) goto done;
  }
  if (entro_node_wants(n, 1)) {
    entro_tensor *at = entro_tensor_transpose(A, A->ndim - 2, A->ndim - 1);
    entro_tensor *d = at ? entro_matmul(NULL, at, G) : NULL;
    entro_tensor *s = d ? entro_sum_to_shape(d, B->ndim, B->shape) : NULL;
    entro_tensor_release(at); entro_tensor_release(d);
    entro_tensor *r = s ? entro_tensor_reshape(s, b->ndim, b->shape) : NULL;
    entro_tensor_release(s);
    st = give(din, 1, r);
  }
done:
  entro_tensor_release(A); entro_tensor_release(B); entro_tensor_release(G);
  return st;
}

entro_tensor *entro_f_matmul(entro_tensor *a, entro_tensor *b) {
  entro_tensor *r = entro_matmul(NULL, a, b);
  if (!r || !entro_should_record(a, b)) return r;
  entro_tensor *in[2] = {a, b};
  return entro_record(r, "matmul", bw_matmul, 2, in, a, b);
}

/* op(a) op(b) for matrices, op a transpose where the flag is set: the products of the
 * linear and matmul backward passes, recorded as one op, so a graph made by a create_graph
 * backward holds no transposed view, and the next pass accumulates no strided gradient.
 * saved: a, b; k: ta, tb. The backward is made of the same op, so it differentiates again. */
static int bw_matmul_t(entro_node *n, const entro_tensor *gc, entro_tensor **din) {
  entro_tensor *a = n->saved[0], *b = n->saved[1], *g = (entro_tensor *)gc;
  int ta = (int)n->k[0], tb = (int)n->k[1], st = OK;
  if (!entro_grad_mode) {   /* plain products, summed straight into a sink where offered */
    if (entro_node_wants(n, 0))
      st = ta ? entro_backward_product(n, 0, b, tb, g, 1, din)
              : entro_backward_product(n, 0, g, 0, b, !tb, din);
    if (!st && entro_node_wants(n, 1))
      st = tb ? entro_backward_product(n, 1, g, 1, a, ta, din)
              : entro_backward_product(n, 1, a, !ta, g, 0, din);
    return st;
  }
  if (entro_node_wants(n, 0))   /* G op(b)^T, or its transpose op(b) G^T */
    st = give(din, 0, ta ? entro_f_matmul_t(b, tb, g, 1) : entro_f_matmul_t(g, 0, b, !tb));
  if (!st && entro_node_wants(n, 1))   /* op(a)^T G, or its transpose G^T op(a) */
    st = give(din, 1, tb ? entro_f_matmul_t(g, 1, a, ta) : entro_f_matmul_t(a, !ta, g, 0));
  return st;
}

entro_tensor *entro_f_matmul_t(entro_tensor *a, int ta, entro_tensor *b, int tb) {
  char x[200], y[200];
  if (a->ndim != 2 || b->ndim != 2) {
    entro_fail(ENTRO_EINVAL, "matmul: needs two matrices (%s @ %s)",
               entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b));
    return NULL;
  }
  int64_t shape[2] = {a->shape[ta ? 1 : 0], b->shape[tb ? 0 : 1]};
  entro_tensor *r = entro_tensor_new(2, shape);
  if (!r) return NULL;
  if (entro_gemm(1, a, ta, b, tb, 0, r)) { entro_tensor_release(r); return NULL; }
  if (!entro_should_record(a, b)) return r;
  entro_tensor *in[2] = {a, b};
  if ((r = entro_record(r, "matmul_t", bw_matmul_t, 2, in, a, b))) {
    r->grad_fn->k[0] = ta;
    r->grad_fn->k[1] = tb;
  }
  return r;
}

/* ---- views ---- */

/* The adjoint of narrow and select: g placed into zeros of `shape` through that view. It is
 * an op of its own, recorded like any other, so narrow and select (whose backward it is)
 * have second derivatives too; its own backward is the view again. k: [0] kind (0 narrow,
 * 1 select), [1] dim, [2] start or index, [3] length. */
static int bw_embed(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  const int64_t *k = n->k;
  entro_tensor *gg = (entro_tensor *)g;
  return give(din, 0, k[0] == 0 ? entro_f_narrow(gg, (int)k[1], k[2], k[3])
                                 : entro_f_select(gg, (int)k[1], k[2]));
}

entro_tensor *entro_f_embed(entro_tensor *g, int kind, int dim, int64_t start, int64_t len,
                            int ndim, const int64_t *shape) {
  entro_tensor *z = entro_tensor_zeros(ndim, shape);
  if (!z) return NULL;
  entro_tensor *v = kind == 0 ? entro_tensor_narrow(z, dim, start, len)
                              : entro_tensor_select(z, dim, start);
  int st = v ? entro_tensor_copy(v, g) : entro_errcode();
  entro_tensor_release(v);
  if (st) { entro_tensor_release(z); return NULL; }
  if (!entro_should_record(g, NULL)) return z;
  if ((z = entro_record(z, "embed", bw_embed, 1, &g, NULL, NULL))) {
    int64_t *k = z->grad_fn->k;
    k[0] = kind; k[1] = dim; k[2] = start; k[3] = len;
  }
  return z;
}

/* k: [0] kind, [1] dim, [2] start/index, [3] len, [4..] the input's shape */
static int bw_subview(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  const int64_t *k = n->k;
  return give(din, 0, entro_f_embed((entro_tensor *)g, (int)k[0], (int)k[1], k[2], k[3],
                                    (int)k[4], k + 5));
}

static entro_tensor *record_subview(entro_tensor *r, entro_tensor *a, int kind, int dim,
                                    int64_t start, int64_t len) {
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, kind ? "select" : "narrow", bw_subview, 1, &a, NULL, NULL))) {
    int64_t *k = r->grad_fn->k;
    k[0] = kind; k[1] = dim; k[2] = start; k[3] = len;
    put_shape(k + 4, a);
  }
  return r;
}

entro_tensor *entro_f_narrow(entro_tensor *a, int dim, int64_t start, int64_t len) {
  return record_subview(entro_tensor_narrow(a, dim, start, len), a, 0, dim, start, len);
}

entro_tensor *entro_f_select(entro_tensor *a, int dim, int64_t index) {
  return record_subview(entro_tensor_select(a, dim, index), a, 1, dim, index, 1);
}

/* k: inverse permutation */
static int bw_permute(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  int inv[ENTRO_MAXDIM];
  for (int i = 0; i < g->ndim; i++) inv[i] = (int)n->k[i];
  return give(din, 0, entro_tensor_permute(g, inv));
}

entro_tensor *entro_f_permute(entro_tensor *a, const int *perm) {
  entro_tensor *r = entro_tensor_permute(a, perm);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "permute", bw_permute, 1, &a, NULL, NULL)))
    for (int i = 0; i < a->ndim; i++) r->grad_fn->k[perm[i]] = i;
  return r;
}

entro_tensor *entro_f_transpose(entro_tensor *a, int d0, int d1) {
  int perm[ENTRO_MAXDIM];
  for (int i = 0; i < a->ndim; i++) perm[i] = i;
  if (d0 < 0 || d0 >= a->ndim || d1 < 0 || d1 >= a->ndim) return entro_tensor_transpose(a, d0, d1);
  perm[d0] = d1;
  perm[d1] = d0;
  return entro_f_permute(a, perm);
}

static int bw_reshape(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, entro_tensor_reshape(g, (int)n->k[0], n->k + 1));
}

entro_tensor *entro_f_reshape(entro_tensor *a, int ndim, const int64_t *shape, int copy_ok) {
  entro_tensor *r = copy_ok ? entro_tensor_reshape(a, ndim, shape) : entro_tensor_view(a, ndim, shape);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, copy_ok ? "reshape" : "view", bw_reshape, 1, &a, NULL, NULL)))
    put_shape(r->grad_fn->k, a);
  return r;
}

static int bw_expand(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  return give(din, 0, entro_sum_to_shape(g, (int)n->k[0], n->k + 1));
}

entro_tensor *entro_f_expand(entro_tensor *a, int ndim, const int64_t *shape) {
  entro_tensor *r = entro_tensor_expand(a, ndim, shape);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "expand", bw_expand, 1, &a, NULL, NULL))) put_shape(r->grad_fn->k, a);
  return r;
}

static int bw_identity(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  (void)n;
  entro_tensor_retain((entro_tensor *)g);
  din[0] = (entro_tensor *)g;
  return OK;
}

entro_tensor *entro_f_clone(entro_tensor *a) {
  entro_tensor *r = entro_tensor_clone(a);
  if (!r || !entro_should_record(a, NULL)) return r;
  return entro_record(r, "clone", bw_identity, 1, &a, NULL, NULL);
}

/* ---- indexing and joining ---- */

static int bw_index_select(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *idx = n->saved[0];
  int dim = (int)n->k[0];
  entro_tensor *z = entro_tensor_zeros((int)n->k[1], n->k + 2);
  if (!z) return entro_errcode();
  for (int64_t i = 0; i < idx->numel; i++) {
    int64_t j = (int64_t)entro_data(idx)[i * idx->stride[0]];
    entro_tensor *dst = entro_tensor_select(z, dim, j), *src = entro_tensor_select(g, dim, i);
    int st = dst && src ? entro_axpy(dst, 1.0, src) : entro_errcode();
    entro_tensor_release(dst); entro_tensor_release(src);
    if (st) { entro_tensor_release(z); return st; }
  }
  din[0] = z;
  return OK;
}

entro_tensor *entro_f_index_select(entro_tensor *a, int dim, const entro_tensor *idx) {
  entro_tensor *r = entro_index_select(a, dim, idx);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "index_select", bw_index_select, 1, &a, (entro_tensor *)idx, NULL))) {
    r->grad_fn->k[0] = dim;
    put_shape(r->grad_fn->k + 1, a);
  }
  return r;
}

static int bw_gather(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *z = entro_tensor_zeros((int)n->k[1], n->k + 2);
  if (!z) return entro_errcode();
  int st = entro_scatter_add(z, (int)n->k[0], n->saved[0], g);
  if (st) { entro_tensor_release(z); return st; }
  din[0] = z;
  return OK;
}

entro_tensor *entro_f_gather(entro_tensor *a, int dim, const entro_tensor *idx) {
  entro_tensor *r = entro_gather(a, dim, idx);
  if (!r || !entro_should_record(a, NULL)) return r;
  if ((r = entro_record(r, "gather", bw_gather, 1, &a, (entro_tensor *)idx, NULL))) {
    r->grad_fn->k[0] = dim;
    put_shape(r->grad_fn->k + 1, a);
  }
  return r;
}

static int any_requires(int n, entro_tensor *const *ts) {
  if (!entro_grad_mode) return 0;
  for (int i = 0; i < n; i++) if (entro_requires_grad(ts[i])) return 1;
  return 0;
}

/* k[0] dim, k[1] stack?; aux: each input's length along dim (cat) */
static int bw_join(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  int dim = (int)n->k[0];
  int64_t at = 0;
  for (int i = 0; i < n->n_in; i++) {
    int64_t len = n->k[1] ? 1 : ((const int64_t *)n->aux)[i];
    if (entro_node_wants(n, i)) {
      entro_tensor *gg = (entro_tensor *)g;   /* differentiable views: see double_backward.c */
      entro_tensor *v = n->k[1] ? entro_f_select(gg, dim, i) : entro_f_narrow(gg, dim, at, len);
      if (give(din, i, v)) return entro_errcode();
    }
    at += len;
  }
  return OK;
}

static entro_tensor *join(int n, entro_tensor *const *ts, int dim, int stack) {
  entro_tensor *r = stack ? entro_stack(n, (const entro_tensor *const *)ts, dim)
                          : entro_cat(n, (const entro_tensor *const *)ts, dim);
  if (!r || !any_requires(n, ts)) return r;
  entro_node *nd = entro_node_new(stack ? "stack" : "cat", bw_join, n, ts);
  int64_t *aux = malloc((size_t)n * sizeof *aux);
  if (!nd || !aux) {
    free(aux);
    entro_node_release(nd);
    entro_tensor_release(r);
    entro_fail(ENTRO_ENOMEM, "%s: out of memory recording the op", stack ? "stack" : "cat");
    return NULL;
  }
  for (int i = 0; i < n; i++) aux[i] = stack ? 1 : ts[i]->shape[dim];
  nd->aux = aux;
  nd->k[0] = dim;
  nd->k[1] = stack;
  entro_node_attach(nd, r);
  return r;
}

entro_tensor *entro_f_cat(int n, entro_tensor *const *ts, int dim) { return join(n, ts, dim, 0); }
entro_tensor *entro_f_stack(int n, entro_tensor *const *ts, int dim) { return join(n, ts, dim, 1); }

static int bw_masked_select(entro_node *n, const entro_tensor *g, entro_tensor **din) {
  entro_tensor *mask = entro_tensor_contiguous(n->saved[0]);
  entro_tensor *z = mask ? entro_tensor_zeros(mask->ndim, mask->shape) : NULL;
  entro_tensor *gc = z ? entro_tensor_contiguous(g) : NULL;
  if (gc) {
    const double *m = entro_data(mask), *gp = entro_data(gc);
    double *o = entro_data(z);
    for (int64_t i = 0, k = 0; i < mask->numel; i++) if (m[i] != 0) o[i] = gp[k++];
  } else {
    entro_tensor_release(z);
    z = NULL;
  }
  entro_tensor_release(mask);
  entro_tensor_release(gc);
  return give(din, 0, z);
}

entro_tensor *entro_f_masked_select(entro_tensor *a, const entro_tensor *mask) {
  entro_tensor *r = entro_masked_select(a, mask);
  if (!r || !entro_should_record(a, NULL)) return r;
  return entro_record(r, "masked_select", bw_masked_select, 1, &a, (entro_tensor *)mask, NULL);
}
