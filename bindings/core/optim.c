/* optim.c -- optimizer update kernels (see optim.h): SGD with momentum, Adam/AdamW,
 * Langevin dynamics and correlated gradient noise, each one pass over a whole parameter.
 *
 * The arithmetic follows torch.optim operation by operation, so trajectories agree with
 * PyTorch's to rounding. Every argument is checked before the first write. */
#include <math.h>
#include "optim.h"
#include "ops.h"

/* A buffer the kernel reads or writes: contiguous, with the parameter's element count. */
static int check_buffer(const char *op, const char *what, const entro_tensor *t, int64_t n) {
  char s[200];
  if (!entro_tensor_is_contiguous(t))
    return entro_fail(ENTRO_EINVAL, "%s: the %s (shape %s) is not contiguous", op, what,
                      entro_tensor_shape_str(s, t));
  if (t->numel != n)
    return entro_fail(ENTRO_EINVAL, "%s: the %s has %lld elements, the parameter %lld", op, what,
                      (long long)t->numel, (long long)n);
  return ENTRO_OK;
}

/* Checks the parameter, its gradient and the learning rates shared by every kernel. */
static int check_common(const entro_tensor *p, const entro_tensor *g, const entro_optim_hp *h) {
  int64_t n = p->numel;
  int st = check_buffer(h->op, "parameter", p, n);
  if (!st) st = check_buffer(h->op, "gradient", g, n);
  if (st) return st;
  if (!(h->lr >= 0) && !h->lr_v)
    return entro_fail(ENTRO_EINVAL, "%s: lr must be a non-negative number, got %g", h->op, h->lr);
  if (h->lr_v)
    for (int64_t i = 0; i < n; i++)
      if (!(h->lr_v[i] >= 0 && h->lr_v[i] < INFINITY))
        return entro_fail(ENTRO_EINVAL, "%s: lr must be non-negative and finite, got %g at "
                          "element %lld", h->op, h->lr_v[i], (long long)i + 1);
  return ENTRO_OK;
}

static inline double lr_at(const entro_optim_hp *h, int64_t i) {
  return h->lr_v ? h->lr_v[i] : h->lr;
}

/* The gradient the update sees: the loss gradient, the injected noise, the coupled decay. */
static inline double grad_at(const entro_optim_hp *h, const double *g, const double *x, int64_t i) {
  double d = g[i];
  if (h->noise) d += h->noise[i];
  if (h->weight_decay != 0) d += h->weight_decay * x[i];
  return d;
}

int entro_optim_sgd(entro_tensor *p, const entro_tensor *g, entro_tensor *buf, int fresh,
                    const entro_optim_hp *h) {
  int st = check_common(p, g, h);
  if (!st && buf) st = check_buffer(h->op, "momentum buffer", buf, p->numel);
  if (st) return st;
  if (h->momentum != 0 && !buf)
    return entro_fail(ENTRO_EINVAL, "%s: momentum %g needs a momentum buffer", h->op, h->momentum);
  int64_t n = p->numel;
  double *x = entro_data(p), *b = buf && h->momentum != 0 ? entro_data(buf) : NULL;
  const double *gd = entro_data(g);
  double mom = h->momentum, keep = 1 - h->dampening;
  /* plain SGD, the common case: the same arithmetic as below, in loops that vectorise */
  if (!b && !h->noise && !h->lr_v && (x + n <= gd || gd + n <= x)) {
    double *restrict xr = x;
    const double *restrict gr = gd;
    double lr = h->lr, wd = h->weight_decay;
    if (wd == 0) for (int64_t i = 0; i < n; i++) xr[i] += -lr * gr[i];
    else for (int64_t i = 0; i < n; i++) xr[i] += -lr * (gr[i] + wd * xr[i]);
    entro_tensor_bump(p);
    return ENTRO_OK;
  }
  /* heavy-ball momentum without nesterov, the other common case, likewise */
  if (b && !fresh && !h->nesterov && !h->noise && !h->lr_v && (x + n <= gd || gd + n <= x) &&
      (b + n <= gd || gd + n <= b) && (b + n <= x || x + n <= b)) {
    double *restrict xr = x, *restrict br = b;
    const double *restrict gr = gd;
    double lr = h->lr, wd = h->weight_decay;
    if (wd == 0)
      for (int64_t i = 0; i < n; i++) { br[i] = br[i] * mom + gr[i] * keep; xr[i] += -lr * br[i]; }
    else
      for (int64_t i = 0; i < n; i++) {
        br[i] = br[i] * mom + (gr[i] + wd * xr[i]) * keep;
        xr[i] += -lr * br[i];
      }
    entro_tensor_bump(p);
    entro_tensor_bump(buf);
    return ENTRO_OK;
  }
  for (int64_t i = 0; i < n; i++) {
    double d = grad_at(h, gd, x, i);
    if (b) {
      b[i] = fresh ? d : b[i] * mom + d * keep;
      d = h->nesterov ? d + mom * b[i] : b[i];
    }
    x[i] += -lr_at(h, i) * d;
  }
  entro_tensor_bump(p);
  if (b) entro_tensor_bump(buf);
  return ENTRO_OK;
}

int entro_optim_adam(entro_tensor *p, const entro_tensor *g, entro_tensor *m, entro_tensor *v,
                     entro_tensor *vmax, int64_t step, const entro_optim_hp *h) {
  int64_t n = p->numel;
  int st = check_common(p, g, h);
  if (!st) st = check_buffer(h->op, "first moment (exp_avg)", m, n);
  if (!st) st = check_buffer(h->op, "second moment (exp_avg_sq)", v, n);
  if (!st && h->amsgrad) {
    if (!vmax) return entro_fail(ENTRO_EINVAL, "%s: amsgrad needs a max_exp_avg_sq buffer", h->op);
    st = check_buffer(h->op, "running maximum (max_exp_avg_sq)", vmax, n);
  }
  if (st) return st;
  if (step < 1) return entro_fail(ENTRO_EINVAL, "%s: step %lld is not positive", h->op, (long long)step);
  double b1 = h->beta1, b2 = h->beta2;
  double bc1 = 1 - pow(b1, (double)step), bc2 = 1 - pow(b2, (double)step);
  double bc2_sqrt = sqrt(bc2);
  double *x = entro_data(p), *md = entro_data(m), *vd = entro_data(v);
  double *vm = h->amsgrad ? entro_data(vmax) : NULL;
  const double *gd = entro_data(g);
  for (int64_t i = 0; i < n; i++) {
    double lr = lr_at(h, i);
    double d = grad_at(h, gd, x, i);
    if (h->decoupled_decay != 0) x[i] *= 1 - lr * h->decoupled_decay;
    md[i] = md[i] * b1 + d * (1 - b1);
    vd[i] = vd[i] * b2 + (1 - b2) * d * d;   /* addcmul: value * t1 * t2 */
    double s = vd[i];
    if (vm) { if (s > vm[i] || s != s) vm[i] = s; s = vm[i]; }
    double denom = sqrt(s) / bc2_sqrt + h->eps;
    x[i] += -(lr / bc1) * (md[i] / denom);
  }
  entro_tensor_bump(p);
  entro_tensor_bump(m);
  entro_tensor_bump(v);
  if (vm) entro_tensor_bump(vmax);
  return ENTRO_OK;
}

int entro_optim_langevin(entro_tensor *p, const entro_tensor *g, const entro_optim_hp *h) {
  int st = check_common(p, g, h);
  if (st) return st;
  if (!(h->temperature >= 0 && h->temperature < INFINITY))
    return entro_fail(ENTRO_EINVAL, "%s: temperature must be a non-negative number, got %g",
                      h->op, h->temperature);
  if (!h->rng) return entro_fail(ENTRO_EINVAL, "%s: no random generator", h->op);
  int64_t n = p->numel;
  double *x = entro_data(p);
  const double *gd = entro_data(g);
  double amp = sqrt(2 * h->lr * h->temperature);
  for (int64_t i = 0; i < n; i++) {
    double lr = lr_at(h, i);
    double d = grad_at(h, gd, x, i);
    double a = h->lr_v ? sqrt(2 * lr * h->temperature) : amp;
    x[i] += -lr * d + a * entro_rng_normal(h->rng);
  }
  entro_tensor_bump(p);
  return ENTRO_OK;
}

int entro_optim_correlated_noise(entro_tensor *out, const entro_tensor *factor, entro_tensor *z,
                                 entro_rng *rng) {
  if (factor->ndim != 2 || out->ndim != 2 || z->ndim != 2 || out->shape[1] != 1 ||
      z->shape[1] != 1 || factor->shape[0] != out->shape[0] || factor->shape[1] != z->shape[0]) {
    char a[200], b[200], c[200];
    return entro_fail(ENTRO_EINVAL, "optim noise: factor %s, noise %s and draw %s do not fit",
                      entro_tensor_shape_str(a, factor), entro_tensor_shape_str(b, out),
                      entro_tensor_shape_str(c, z));
  }
  int st = entro_rng_fill_normal(rng, z, 0, 1);
  if (!st) st = entro_gemm(1, factor, 0, z, 0, 0, out);
  if (!st) entro_tensor_bump(out);
  return st;
}
