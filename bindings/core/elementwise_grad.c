/* elementwise_grad.c -- derivative kernels of the elementwise maps: one fused pass that
 * computes dout * f'(x) (unary) or dout * ∂(a op b)/∂a|b (binary, in the broadcast shape). */
#include <math.h>
#include <string.h>
#include "ops.h"
#include "autograd.h"
#include "iter.h"
#include "grad_ops.h"
#include "scalar_maps.h"


#define GLOOP(EXPR)                                                                   \
  do {                                                                                \
    double *o = p[0]; const double *gp = p[1], *xp = p[2], *yp = p[3];                \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {                           \
      for (int64_t i = 0; i < n; i++) {                                               \
        double g = gp[i], x = xp[i], y = yp[i];                                       \
        (void)g; (void)x; (void)y;                                                    \
        o[i] = (EXPR);                                                                \
      }                                                                               \
    } else {                                                                          \
      for (int64_t i = 0; i < n; i++) {                                               \
        double g = gp[i * s[1]], x = xp[i * s[2]], y = yp[i * s[3]];                  \
        (void)g; (void)x; (void)y;                                                    \
        o[i * s[0]] = (EXPR);                                                         \
      }                                                                               \
    }                                                                                 \
  } while (0)

static void unary_grad_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  switch (*(int *)ctx) {
    case EU_NEG: GLOOP(-g); break;
    case EU_EXP: GLOOP(g * y); break;
    case EU_LOG: GLOOP(g / x); break;
    case EU_SQRT: GLOOP(g / (2 * y)); break;
    case EU_ABS: GLOOP(x > 0 ? g : x < 0 ? -g : 0.0); break;
    case EU_TANH: GLOOP(g * (1 - y * y)); break;
    case EU_SIGMOID: GLOOP(g * y * (1 - y)); break;
    case EU_RELU: GLOOP(x > 0 ? g : 0.0); break;
    case EU_SIN: GLOOP(g * cos(x)); break;
    case EU_COS: GLOOP(-g * sin(x)); break;
    case EU_RECIP: GLOOP(-g * y * y); break;
    case EU_SQUARE: GLOOP(2 * g * x); break;
    case EU_LOG1P: GLOOP(g / (1 + x)); break;
    case EU_EXPM1: GLOOP(g * (y + 1)); break;
    case EU_SOFTPLUS: GLOOP(g * sigmoid(x)); break;
    case EU_GELU: GLOOP(g * gelu_grad(x)); break;
    case EU_GELU_GRAD: GLOOP(g * gelu_grad2(x)); break;
    default: GLOOP(0.0); break;   /* sign, floor, ceil, round, isnan: zero almost everywhere */
  }
}

/* The tensor a derivative kernel writes: g itself when allowed (elementwise, each element
 * of g is read before the same element of the result is written), else a new one. */
static entro_tensor *result_for(const entro_tensor *g, int reuse_g, int ndim, const int64_t *shape) {
  if (reuse_g && entro_backward_may_reuse(g) && g->ndim == ndim &&
      !memcmp(g->shape, shape, (size_t)ndim * sizeof *shape)) {
    entro_tensor_retain((entro_tensor *)g);
    return (entro_tensor *)g;
  }
  return entro_tensor_new(ndim, shape);
}

entro_tensor *entro_unary_backward(int op, const entro_tensor *g, const entro_tensor *x,
                                   const entro_tensor *y, int reuse_g) {
  entro_tensor *r = result_for(g, reuse_g, x->ndim, x->shape);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[4] = {r, g, x, y ? y : x};
  entro_iter_prepare(&it, x->ndim, x->shape, 4, ops);
  if (entro_iter_run(&it, unary_grad_inner, &op, "backward")) { entro_tensor_release(r); return NULL; }
  return r;
}

typedef struct { int op, which; } bctx;

/* x is a, y is b */
static void binary_grad_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  bctx *c = ctx;
  if (c->which == 0) {
    switch (c->op) {
      case EB_ADD: case EB_SUB: case EB_FMOD: GLOOP(g); break;
      case EB_MUL: GLOOP(g * y); break;
      case EB_DIV: GLOOP(g / y); break;
      case EB_POW: GLOOP(y == 0 ? 0.0 : y == 2 ? 2 * g * x : g * y * pow(x, y - 1)); break;
      case EB_MAX: GLOOP(x > y ? g : x == y ? 0.5 * g : 0.0); break;
      case EB_MIN: GLOOP(x < y ? g : x == y ? 0.5 * g : 0.0); break;
      case EB_ATAN2: GLOOP(g * y / (x * x + y * y)); break;
      default: GLOOP(0.0); break;
    }
  } else {
    switch (c->op) {
      case EB_ADD: GLOOP(g); break;
      case EB_SUB: GLOOP(-g); break;
      case EB_MUL: GLOOP(g * x); break;
      case EB_DIV: GLOOP(-g * x / (y * y)); break;
      case EB_POW: GLOOP(x == 0 ? 0.0 : g * pow(x, y) * log(x)); break;
      case EB_MAX: GLOOP(y > x ? g : x == y ? 0.5 * g : 0.0); break;
      case EB_MIN: GLOOP(y < x ? g : x == y ? 0.5 * g : 0.0); break;
      case EB_ATAN2: GLOOP(-g * x / (x * x + y * y)); break;
      case EB_FMOD: GLOOP(-g * trunc(x / y)); break;
      default: GLOOP(0.0); break;
    }
  }
}

entro_tensor *entro_binary_backward(int op, int which, const entro_tensor *g,
                                    const entro_tensor *a, const entro_tensor *b, int reuse_g) {
  /* g has the broadcast shape */
  entro_tensor *r = result_for(g, reuse_g, g->ndim, g->shape);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[4] = {r, g, a, b};
  bctx c = {op, which};
  entro_iter_prepare(&it, g->ndim, g->shape, 4, ops);
  if (entro_iter_run(&it, binary_grad_inner, &c, "backward")) { entro_tensor_release(r); return NULL; }
  const entro_tensor *target = which == 0 ? a : b;
  entro_tensor *s = entro_sum_to_shape(r, target->ndim, target->shape);
  entro_tensor_release(r);
  return s;
}
