/* ops.h -- the engine's numerical kernels: elementwise maps with broadcasting, reductions,
 * matrix products, indexing and joining.
 *
 * Kernels with an `out` argument write into it when it is given (it must have the result's
 * shape; it may alias an input, which makes the op in place) and otherwise allocate the
 * result. They return a new reference to the result, or NULL with a message. */
#ifndef ENTRO_OPS_H
#define ENTRO_OPS_H
#include "tensor.h"

/* Consumes the reference an in-place call (out == an input) returns: true on success. */
static inline int entro_done(entro_tensor *r) {
  if (!r) return 0;
  entro_tensor_release(r);
  return 1;
}

/* ---- elementwise ---- */
typedef enum {
  EB_ADD, EB_SUB, EB_MUL, EB_DIV, EB_POW, EB_MAX, EB_MIN, EB_ATAN2, EB_FMOD,
  EB_EQ, EB_NE, EB_LT, EB_LE, EB_GT, EB_GE, EB_NBINARY
} entro_binop;

typedef enum {
  EU_NEG, EU_EXP, EU_LOG, EU_SQRT, EU_ABS, EU_SIGN, EU_TANH, EU_SIGMOID, EU_RELU, EU_SIN,
  EU_COS, EU_FLOOR, EU_CEIL, EU_ROUND, EU_RECIP, EU_SQUARE, EU_LOG1P, EU_EXPM1, EU_SOFTPLUS,
  EU_GELU, EU_ISNAN,
  EU_GELU_GRAD,   /* gelu's derivative: internal, for gelu's second derivative */
  EU_NUNARY
} entro_unop;

extern const char *const entro_binop_names[EB_NBINARY];
extern const char *const entro_unop_names[EU_NUNARY];

entro_tensor *entro_binary(int op, entro_tensor *out, const entro_tensor *a, const entro_tensor *b);
/* a op s, or s op a when scalar_first */
entro_tensor *entro_binary_scalar(int op, entro_tensor *out, const entro_tensor *a, double s,
                                  int scalar_first);
entro_tensor *entro_unary(int op, entro_tensor *out, const entro_tensor *a);
/* out = alpha * a + beta (elementwise affine map) */
entro_tensor *entro_affine(entro_tensor *out, const entro_tensor *a, double alpha, double beta);
entro_tensor *entro_clamp(entro_tensor *out, const entro_tensor *a, double lo, double hi);
entro_tensor *entro_leaky_relu(entro_tensor *out, const entro_tensor *a, double slope);
entro_tensor *entro_where(entro_tensor *out, const entro_tensor *cond, const entro_tensor *a,
                          const entro_tensor *b);
/* y += alpha * x, x broadcast to y's shape */
int entro_axpy(entro_tensor *y, double alpha, const entro_tensor *x);
/* out = a + alpha * b with broadcasting */
entro_tensor *entro_add_scaled(entro_tensor *out, const entro_tensor *a, double alpha,
                               const entro_tensor *b);

/* ---- reductions ---- */
typedef enum {
  ER_SUM, ER_MEAN, ER_PROD, ER_MAX, ER_MIN, ER_ARGMAX, ER_ARGMIN, ER_VAR, ER_STD, ER_NORM,
  ER_LOGSUMEXP, ER_NREDUCE
} entro_reduce_op;

extern const char *const entro_reduce_names[ER_NREDUCE];

/* Over all elements. p: norm order; ddof: 0 or 1 for var/std. argmax/argmin give the
 * 0-based flat index. Fails on an empty tensor for max/min/arg*. */
int entro_reduce_all(int op, const entro_tensor *a, double p, int ddof, double *result);
/* Along dim (0-based); keepdim keeps it with size 1. argmax/argmin give 0-based indices. */
entro_tensor *entro_reduce_dim(int op, entro_tensor *out, const entro_tensor *a, int dim,
                               int keepdim, double p, int ddof);
entro_tensor *entro_cumsum(entro_tensor *out, const entro_tensor *a, int dim);
/* Sum of a over the dims that were broadcast to reach shape `shape`: the gradient rule. */
entro_tensor *entro_sum_to_shape(const entro_tensor *a, int ndim, const int64_t *shape);

/* ---- products ---- */
entro_tensor *entro_matmul(entro_tensor *out, const entro_tensor *a, const entro_tensor *b);
/* c = alpha * op(a) @ op(b) + beta * c for 2-D operands (c given, contiguous rows). */
int entro_gemm(double alpha, const entro_tensor *a, int ta, const entro_tensor *b, int tb,
               double beta, entro_tensor *c);
double entro_dot(const entro_tensor *a, const entro_tensor *b, int *status);
entro_tensor *entro_outer(entro_tensor *out, const entro_tensor *a, const entro_tensor *b);

/* ---- indexing and joining ---- */
/* idx holds 0-based indices as doubles */
entro_tensor *entro_index_select(const entro_tensor *a, int dim, const entro_tensor *idx);
entro_tensor *entro_gather(const entro_tensor *a, int dim, const entro_tensor *idx);
int entro_scatter_add(entro_tensor *a, int dim, const entro_tensor *idx, const entro_tensor *src);
entro_tensor *entro_cat(int n, const entro_tensor *const *ts, int dim);
entro_tensor *entro_stack(int n, const entro_tensor *const *ts, int dim);
entro_tensor *entro_masked_select(const entro_tensor *a, const entro_tensor *mask);

#endif
