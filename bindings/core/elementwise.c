/* elementwise.c -- elementwise maps with numpy broadcasting.
 *
 * Each op is a tight inner loop over one run of the strided walker (iter.c); the loops
 * are written once as macros and instantiated per op, with a unit-stride path that the
 * compiler vectorises. */
#include <math.h>
#include <string.h>
#include "scalar_maps.h"
#include "ops.h"
#include "iter.h"

const char *const entro_binop_names[EB_NBINARY] = {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "fmod",
  "eq", "ne", "lt", "le", "gt", "ge"
};
const char *const entro_unop_names[EU_NUNARY] = {
  "neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "sin", "cos",
  "floor", "ceil", "round", "reciprocal", "square", "log1p", "expm1", "softplus", "gelu", "isnan",
  "gelu_grad"
};

/* Resolves the result tensor: checks a given out against the expected shape, or makes one. */
static entro_tensor *result_for(const char *op, entro_tensor *out, int ndim, const int64_t *shape) {
  if (!out) return entro_tensor_new(ndim, shape);
  int same = out->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = out->shape[i] == shape[i];
  if (!same) {
    char a[200], b[200];
    entro_fail(ENTRO_EINVAL, "%s: out has shape %s, the result has shape %s", op,
               entro_tensor_shape_str(a, out), entro_shape_str(b, ndim, shape));
    return NULL;
  }
  if (entro_tensor_check_writable(op, out)) return NULL;
  entro_tensor_retain(out);
  entro_tensor_bump(out);
  return out;
}


/* ---- binary ---- */

#define BLOOP(EXPR)                                                             \
  do {                                                                          \
    double *o = p[0]; const double *x = p[1], *y = p[2];                        \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                  \
      for (int64_t i = 0; i < n; i++) { double a = x[i], b = y[i]; o[i] = (EXPR); } \
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                           \
      double b = *y;                                                            \
      for (int64_t i = 0; i < n; i++) { double a = x[i]; o[i] = (EXPR); }       \
    } else {                                                                    \
      for (int64_t i = 0; i < n; i++) {                                         \
        double a = x[i * s[1]], b = y[i * s[2]]; o[i * s[0]] = (EXPR);          \
      }                                                                         \
    }                                                                           \
  } while (0)

static void binary_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  switch (*(int *)ctx) {
    case EB_ADD: BLOOP(a + b); break;
    case EB_SUB: BLOOP(a - b); break;
    case EB_MUL: BLOOP(a * b); break;
    case EB_DIV: BLOOP(a / b); break;
    case EB_POW: BLOOP(b == 2 ? a * a : pow(a, b)); break;
    case EB_MAX: BLOOP(a >= b || isnan(a) ? a : b); break;
    case EB_MIN: BLOOP(a <= b || isnan(a) ? a : b); break;
    case EB_ATAN2: BLOOP(atan2(a, b)); break;
    case EB_FMOD: BLOOP(fmod(a, b)); break;
    case EB_EQ: BLOOP((double)(a == b)); break;
    case EB_NE: BLOOP((double)(a != b)); break;
    case EB_LT: BLOOP((double)(a < b)); break;
    case EB_LE: BLOOP((double)(a <= b)); break;
    case EB_GT: BLOOP((double)(a > b)); break;
    case EB_GE: BLOOP((double)(a >= b)); break;
  }
}

entro_tensor *entro_binary(int op, entro_tensor *out, const entro_tensor *a, const entro_tensor *b) {
  const char *name = entro_binop_names[op];
  int ndim;
  int64_t shape[ENTRO_MAXDIM];
  if (entro_broadcast_shape(name, a, b, &ndim, shape)) return NULL;
  entro_tensor *r = result_for(name, out, ndim, shape);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[3] = {r, a, b};
  entro_iter_prepare(&it, ndim, shape, 3, ops);
  if (entro_iter_run(&it, binary_inner, &op, name)) { entro_tensor_release(r); return NULL; }
  return r;
}

/* A 0-dim tensor header over a stack double, so scalar operands reuse the tensor path. */
typedef struct { entro_tensor t; entro_storage st; double v; } scalar_box;

static const entro_tensor *box_scalar(scalar_box *b, double v) {
  memset(b, 0, sizeof *b);
  b->v = v;
  b->st.data = &b->v;
  b->st.n = 1;
  b->st.refs = 1;
  b->t.refs = 1;
  b->t.numel = 1;
  b->t.st = &b->st;
  return &b->t;
}

entro_tensor *entro_binary_scalar(int op, entro_tensor *out, const entro_tensor *a, double s,
                                  int scalar_first) {
  scalar_box box;
  const entro_tensor *b = box_scalar(&box, s);
  return scalar_first ? entro_binary(op, out, b, a) : entro_binary(op, out, a, b);
}

/* ---- unary ---- */

#define ULOOP(EXPR)                                                             \
  do {                                                                          \
    double *o = p[0]; const double *x = p[1];                                   \
    if (s[0] == 1 && s[1] == 1) {                                               \
      for (int64_t i = 0; i < n; i++) { double a = x[i]; o[i] = (EXPR); }       \
    } else {                                                                    \
      for (int64_t i = 0; i < n; i++) { double a = x[i * s[1]]; o[i * s[0]] = (EXPR); } \
    }                                                                           \
  } while (0)

static void unary_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  switch (*(int *)ctx) {
    case EU_NEG: ULOOP(-a); break;
    case EU_EXP: ULOOP(exp(a)); break;
    case EU_LOG: ULOOP(log(a)); break;
    case EU_SQRT: ULOOP(sqrt(a)); break;
    case EU_ABS: ULOOP(fabs(a)); break;
    case EU_SIGN: ULOOP(sign(a)); break;
    case EU_TANH: ULOOP(tanh(a)); break;
    case EU_SIGMOID: ULOOP(sigmoid(a)); break;
    case EU_RELU: ULOOP(a <= 0 ? 0.0 : a); break;   /* NaN stays NaN */
    case EU_SIN: ULOOP(sin(a)); break;
    case EU_COS: ULOOP(cos(a)); break;
    case EU_FLOOR: ULOOP(floor(a)); break;
    case EU_CEIL: ULOOP(ceil(a)); break;
    case EU_ROUND: ULOOP(round(a)); break;
    case EU_RECIP: ULOOP(1.0 / a); break;
    case EU_SQUARE: ULOOP(a * a); break;
    case EU_LOG1P: ULOOP(log1p(a)); break;
    case EU_EXPM1: ULOOP(expm1(a)); break;
    case EU_SOFTPLUS: ULOOP(softplus(a)); break;
    case EU_GELU: ULOOP(gelu(a)); break;
    case EU_ISNAN: ULOOP((double)(a != a)); break;
    case EU_GELU_GRAD: ULOOP(gelu_grad(a)); break;
  }
}

static entro_tensor *map1(const char *name, entro_tensor *out, const entro_tensor *a,
                          entro_inner_fn fn, void *ctx) {
  entro_tensor *r = result_for(name, out, a->ndim, a->shape);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[2] = {r, a};
  entro_iter_prepare(&it, a->ndim, a->shape, 2, ops);
  if (entro_iter_run(&it, fn, ctx, name)) { entro_tensor_release(r); return NULL; }
  return r;
}

entro_tensor *entro_unary(int op, entro_tensor *out, const entro_tensor *a) {
  return map1(entro_unop_names[op], out, a, unary_inner, &op);
}

/* ---- parametric maps ---- */

typedef struct { double a, b; } pair;

static void affine_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double al = ((pair *)ctx)->a, be = ((pair *)ctx)->b;
  ULOOP(al * a + be);
}
static void clamp_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double lo = ((pair *)ctx)->a, hi = ((pair *)ctx)->b;
  ULOOP(a < lo ? lo : a > hi ? hi : a);
}
static void leaky_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double k = ((pair *)ctx)->a;
  ULOOP(a > 0 ? a : k * a);
}

entro_tensor *entro_affine(entro_tensor *out, const entro_tensor *a, double alpha, double beta) {
  pair c = {alpha, beta};
  return map1("affine", out, a, affine_inner, &c);
}

entro_tensor *entro_clamp(entro_tensor *out, const entro_tensor *a, double lo, double hi) {
  if (lo > hi) {
    entro_fail(ENTRO_EINVAL, "clamp: lower bound %g exceeds upper bound %g", lo, hi);
    return NULL;
  }
  pair c = {lo, hi};
  return map1("clamp", out, a, clamp_inner, &c);
}

entro_tensor *entro_leaky_relu(entro_tensor *out, const entro_tensor *a, double slope) {
  pair c = {slope, 0};
  return map1("leaky_relu", out, a, leaky_inner, &c);
}

/* ---- ternary ---- */

static void where_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  (void)ctx;
  double *o = p[0];
  const double *c = p[1], *x = p[2], *y = p[3];
  for (int64_t i = 0; i < n; i++) o[i * s[0]] = c[i * s[1]] != 0 ? x[i * s[2]] : y[i * s[3]];
}

entro_tensor *entro_where(entro_tensor *out, const entro_tensor *cond, const entro_tensor *a,
                          const entro_tensor *b) {
  int n1, n2;
  int64_t s1[ENTRO_MAXDIM], s2[ENTRO_MAXDIM];
  if (entro_broadcast_shape("where", a, b, &n1, s1)) return NULL;
  /* broadcast cond against the a/b shape through a shape-only header */
  entro_tensor tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.ndim = n1;
  memcpy(tmp.shape, s1, sizeof s1);
  if (entro_broadcast_shape("where", cond, &tmp, &n2, s2)) return NULL;
  entro_tensor *r = result_for("where", out, n2, s2);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[4] = {r, cond, a, b};
  entro_iter_prepare(&it, n2, s2, 4, ops);
  if (entro_iter_run(&it, where_inner, NULL, "where")) { entro_tensor_release(r); return NULL; }
  return r;
}

/* ---- accumulation ---- */

static void axpy_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double al = *(double *)ctx;
  double *y = p[0];
  const double *x = p[1];
  if (s[0] == 1 && s[1] == 1 && (y + n <= x || x + n <= y)) {   /* distinct: vectorisable */
    double *restrict yr = y;
    const double *restrict xr = x;
    for (int64_t i = 0; i < n; i++) yr[i] += al * xr[i];
  } else {
    for (int64_t i = 0; i < n; i++) y[i * s[0]] += al * x[i * s[1]];
  }
}

int entro_axpy(entro_tensor *y, double alpha, const entro_tensor *x) {
  int nd;
  int64_t sh[ENTRO_MAXDIM];
  if (entro_broadcast_shape("axpy", y, x, &nd, sh)) return entro_errcode();
  if (!entro_tensor_same_shape(y, x) && (nd != y->ndim || memcmp(sh, y->shape, (size_t)nd * 8))) {
    char a[200], b[200];
    return entro_fail(ENTRO_EINVAL, "axpy: cannot add shape %s into shape %s",
                      entro_tensor_shape_str(a, x), entro_tensor_shape_str(b, y));
  }
  if (entro_tensor_check_writable("axpy", y)) return ENTRO_EINVAL;
  entro_tensor_bump(y);
  entro_iter it;
  const entro_tensor *ops[2] = {y, x};
  entro_iter_prepare(&it, y->ndim, y->shape, 2, ops);
  return entro_iter_run(&it, axpy_inner, &alpha, "axpy");
}

static void add_scaled_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double al = *(double *)ctx;
  BLOOP(a + al * b);
}

entro_tensor *entro_add_scaled(entro_tensor *out, const entro_tensor *a, double alpha,
                               const entro_tensor *b) {
  int ndim;
  int64_t shape[ENTRO_MAXDIM];
  if (entro_broadcast_shape("add", a, b, &ndim, shape)) return NULL;
  entro_tensor *r = result_for("add", out, ndim, shape);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[3] = {r, a, b};
  entro_iter_prepare(&it, ndim, shape, 3, ops);
  if (entro_iter_run(&it, add_scaled_inner, &alpha, "add")) { entro_tensor_release(r); return NULL; }
  return r;
}

/* ---- copy and fill (declared in tensor.h; they are elementwise maps) ---- */

static void copy_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  (void)ctx;
  if (s[0] == 1 && s[1] == 1) memmove(p[0], p[1], (size_t)n * sizeof(double));
  else for (int64_t i = 0; i < n; i++) p[0][i * s[0]] = p[1][i * s[1]];
}

int entro_tensor_copy(entro_tensor *dst, const entro_tensor *src) {
  int nd;
  int64_t sh[ENTRO_MAXDIM];
  if (entro_broadcast_shape("copy", dst, src, &nd, sh) || nd != dst->ndim ||
      memcmp(sh, dst->shape, (size_t)nd * sizeof *sh)) {
    char a[200], b[200];
    return entro_fail(ENTRO_EINVAL, "copy: cannot copy shape %s into shape %s",
                      entro_tensor_shape_str(a, src), entro_tensor_shape_str(b, dst));
  }
  if (entro_tensor_check_writable("copy", dst)) return ENTRO_EINVAL;
  entro_tensor_bump(dst);
  entro_iter it;
  const entro_tensor *ops[2] = {dst, src};
  entro_iter_prepare(&it, dst->ndim, dst->shape, 2, ops);
  it.serial = dst->st == src->st;   /* overlapping copies need memmove's one pass */
  return entro_iter_run(&it, copy_inner, NULL, "copy");
}

static void fill_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  double v = *(double *)ctx, *o = p[0];
  if (s[0] == 1) for (int64_t i = 0; i < n; i++) o[i] = v;
  else for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;
}

int entro_tensor_fill(entro_tensor *t, double v) {
  if (entro_tensor_check_writable("fill", t)) return ENTRO_EINVAL;
  entro_tensor_bump(t);
  entro_iter it;
  const entro_tensor *ops[1] = {t};
  entro_iter_prepare(&it, t->ndim, t->shape, 1, ops);
  return entro_iter_run(&it, fill_inner, &v, "fill");
}
