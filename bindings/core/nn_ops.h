/* nn_ops.h -- layers and losses as fused, differentiable ops: one forward kernel and one
 * backward kernel each, instead of chains of small elementwise ops.
 *
 * Labels are 0-based class indices held as doubles (the Lua glue converts). Reductions:
 * ENTRO_MEAN (default), ENTRO_SUM, ENTRO_NONE (one loss per sample). */
#ifndef ENTRO_NN_OPS_H
#define ENTRO_NN_OPS_H
#include "tensor.h"

enum { ENTRO_MEAN = 0, ENTRO_SUM = 1, ENTRO_NONE = 2 };

/* y = x Wᵀ + b: x (..., in), W (out, in), b (out) or NULL */
entro_tensor *entro_f_linear(entro_tensor *x, entro_tensor *w, entro_tensor *b);
entro_tensor *entro_f_softmax(entro_tensor *x, int dim);
entro_tensor *entro_f_log_softmax(entro_tensor *x, int dim);
/* logits (N, C), labels (N) */
entro_tensor *entro_f_cross_entropy(entro_tensor *logits, const entro_tensor *labels, int reduction);
entro_tensor *entro_f_nll(entro_tensor *logp, const entro_tensor *labels, int reduction);
entro_tensor *entro_f_mse(entro_tensor *pred, entro_tensor *target, int reduction);
entro_tensor *entro_f_bce_with_logits(entro_tensor *x, entro_tensor *y, int reduction);
/* over the last dimension; w, b of that size or NULL */
entro_tensor *entro_f_layer_norm(entro_tensor *x, entro_tensor *w, entro_tensor *b, double eps);

#endif
