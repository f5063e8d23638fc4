/* optim.h -- optimizer update kernels: one call updates one whole parameter buffer in place.
 *
 * The Lua module optim.lua owns the bookkeeping (parameter groups, options, schedules, state
 * dictionaries); these kernels own the arithmetic, so a step costs one C call per parameter
 * and no allocation. Parameters, gradients and state buffers must be contiguous and have
 * the same number of elements; nothing is written unless every check passes.
 *
 * Weight decay arrives here as a plain coefficient on theta: the caller converts the
 * paper's gamma*|theta|^2 (gradient 2*gamma*theta) or PyTorch's convention (gamma*theta). */
#ifndef ENTRO_OPTIM_H
#define ENTRO_OPTIM_H
#include "tensor.h"
#include "rng.h"

typedef struct {
  const char *op;          /* names the optimizer in messages, e.g. "optim.sgd" */
  double lr;               /* the learning rate, when lr_v is NULL */
  const double *lr_v;      /* elementwise learning rates, one per element, or NULL */
  const double *noise;     /* gradient noise, one per element, added to the gradient, or NULL */
  double weight_decay;     /* coupled decay: the gradient gains weight_decay * theta */
  double momentum, dampening;             /* sgd */
  int nesterov;
  double beta1, beta2, eps;               /* adam */
  double decoupled_decay;                 /* adamw: theta <- theta - lr * decoupled_decay * theta */
  int amsgrad;
  double temperature;                     /* langevin */
  entro_rng *rng;
} entro_optim_hp;

/* SGD with heavy-ball or Nesterov momentum, as torch.optim.SGD:
 *   d = grad + noise + wd*theta;  buf = fresh ? d : momentum*buf + (1 - dampening)*d;
 *   d = nesterov ? d + momentum*buf : buf;  theta -= lr*d.
 * buf is NULL when momentum is 0; fresh marks its first step (it is then only written). */
int entro_optim_sgd(entro_tensor *p, const entro_tensor *g, entro_tensor *buf, int fresh,
                    const entro_optim_hp *h);

/* Adam (and AdamW when decoupled_decay > 0), as torch.optim.Adam/AdamW; step counts from 1.
 * vmax (the running maximum of v) is used when amsgrad is set, else may be NULL. */
int entro_optim_adam(entro_tensor *p, const entro_tensor *g, entro_tensor *m, entro_tensor *v,
                     entro_tensor *vmax, int64_t step, const entro_optim_hp *h);

/* Langevin dynamics: theta -= lr*(grad + noise + wd*theta); theta += sqrt(2*lr*T) * xi, with
 * xi ~ N(0, 1) drawn from h->rng element by element (lr elementwise when lr_v is given). */
int entro_optim_langevin(entro_tensor *p, const entro_tensor *g, const entro_optim_hp *h);

/* Correlated noise: fills z (k x 1) with N(0, 1) and sets out (D x 1) = factor (D x k) @ z,
 * so out ~ N(0, factor factor^T). */
int entro_optim_correlated_noise(entro_tensor *out, const entro_tensor *factor, entro_tensor *z,
                                 entro_rng *rng);

#endif
