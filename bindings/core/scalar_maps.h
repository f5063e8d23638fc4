/* scalar_maps.h -- the scalar functions behind the elementwise maps and their derivatives
 * (elementwise.c, elementwise_grad.c), written once. */
#ifndef ENTRO_SCALAR_MAPS_H
#define ENTRO_SCALAR_MAPS_H
#include <math.h>

#define ENTRO_INV_SQRT_2PI 0.3989422804014327

static inline double sigmoid(double x) {
  return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}
static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double gelu(double x) { return 0.5 * x * (1 + erf(x * M_SQRT1_2)); }
/* gelu'(x) = Phi(x) + x phi(x) */
static inline double gelu_grad(double x) {
  return 0.5 * (1 + erf(x * M_SQRT1_2)) + x * exp(-0.5 * x * x) * ENTRO_INV_SQRT_2PI;
}
/* gelu''(x) = phi(x) (2 - x^2) */
static inline double gelu_grad2(double x) { return exp(-0.5 * x * x) * ENTRO_INV_SQRT_2PI * (2 - x * x); }
static inline double sign(double x) { return x != x ? x : (double)((x > 0) - (x < 0)); }

#endif
