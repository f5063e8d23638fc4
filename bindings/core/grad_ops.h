/* grad_ops.h -- the differentiable forms of the kernels in ops.h.
 *
 * Each entro_f_* computes its result with the plain kernel and, when grad mode is on and
 * an input requires grad, records a tape node whose backward kernel is defined beside it.
 * With no input requiring grad they cost one flag test more than the plain kernel. */
#ifndef ENTRO_GRAD_OPS_H
#define ENTRO_GRAD_OPS_H
#include "tensor.h"

entro_tensor *entro_f_binary(int op, entro_tensor *a, entro_tensor *b);
entro_tensor *entro_f_binary_scalar(int op, entro_tensor *a, double s, int scalar_first);
entro_tensor *entro_f_unary(int op, entro_tensor *a);
entro_tensor *entro_f_affine(entro_tensor *a, double alpha, double beta);
entro_tensor *entro_f_clamp(entro_tensor *a, double lo, double hi);
entro_tensor *entro_f_leaky_relu(entro_tensor *a, double slope);
entro_tensor *entro_f_where(entro_tensor *cond, entro_tensor *a, entro_tensor *b);

/* Reduction over all elements as a 0-dim tensor. */
entro_tensor *entro_f_reduce_all(int op, entro_tensor *a, double p, int ddof);
entro_tensor *entro_f_reduce_dim(int op, entro_tensor *a, int dim, int keepdim, double p, int ddof);
entro_tensor *entro_f_cumsum(entro_tensor *a, int dim);

entro_tensor *entro_f_matmul(entro_tensor *a, entro_tensor *b);
/* op(a) op(b) of two matrices, op a transpose where ta / tb is set, recorded as one op
 * (no transposed view enters the graph); its backward differentiates again. */
entro_tensor *entro_f_matmul_t(entro_tensor *a, int ta, entro_tensor *b, int tb);

/* views */
entro_tensor *entro_f_narrow(entro_tensor *a, int dim, int64_t start, int64_t len);
entro_tensor *entro_f_select(entro_tensor *a, int dim, int64_t index);
/* The adjoint of narrow (kind 0) / select (kind 1): g placed into zeros of shape. */
entro_tensor *entro_f_embed(entro_tensor *g, int kind, int dim, int64_t start, int64_t len,
                            int ndim, const int64_t *shape);
entro_tensor *entro_f_permute(entro_tensor *a, const int *perm);
entro_tensor *entro_f_transpose(entro_tensor *a, int d0, int d1);
entro_tensor *entro_f_reshape(entro_tensor *a, int ndim, const int64_t *shape, int copy_ok);
entro_tensor *entro_f_expand(entro_tensor *a, int ndim, const int64_t *shape);
entro_tensor *entro_f_clone(entro_tensor *a);

/* indexing and joining (idx: 0-based, as in ops.h) */
entro_tensor *entro_f_index_select(entro_tensor *a, int dim, const entro_tensor *idx);
entro_tensor *entro_f_gather(entro_tensor *a, int dim, const entro_tensor *idx);
entro_tensor *entro_f_cat(int n, entro_tensor *const *ts, int dim);
entro_tensor *entro_f_stack(int n, entro_tensor *const *ts, int dim);
entro_tensor *entro_f_masked_select(entro_tensor *a, const entro_tensor *mask);

/* derivative kernels (elementwise_grad.c); with reuse_g, the result may be written over g
 * itself when nothing but the engine holds it (g's last reader) */
entro_tensor *entro_unary_backward(int op, const entro_tensor *g, const entro_tensor *x,
                                   const entro_tensor *y, int reuse_g);
entro_tensor *entro_binary_backward(int op, int which, const entro_tensor *g,
                                    const entro_tensor *a, const entro_tensor *b, int reuse_g);

#endif
