/* autograd.h -- the reverse-mode tape: one node per differentiable op result.
 *
 * A node holds (retained) the op's inputs and whatever the backward kernel saved; the
 * output tensor holds its node in grad_fn. Nodes never point at their outputs, so there
 * are no reference cycles: dropping the last output frees the graph behind it. */
#ifndef ENTRO_AUTOGRAD_H
#define ENTRO_AUTOGRAD_H
#include "tensor.h"

#define ENTRO_NODE_MAXIN 4
#define ENTRO_NODE_MAXSAVED 4

typedef struct entro_node entro_node;

/* Computes the gradients of the node's inputs from the gradient of its output.
 * din[i] is NULL for inputs that need no gradient; kernels write (not accumulate). */
typedef int (*entro_backward_fn)(entro_node *n, const entro_tensor *dout, entro_tensor **din);

struct entro_node {
  int refs;
  const char *name;                              /* op name, for errors */
  entro_backward_fn backward;
  int n_in;
  entro_tensor *in[ENTRO_NODE_MAXIN];
  entro_tensor *saved[ENTRO_NODE_MAXSAVED];
  uint32_t saved_version[ENTRO_NODE_MAXSAVED];
  double a[4];                                   /* scalar arguments */
  int64_t k[2 * ENTRO_MAXDIM + 2];               /* integer arguments (dims, shapes) */
  int64_t out_shape[ENTRO_MAXDIM];
  int out_ndim;
  /* backward bookkeeping */
  entro_tensor *gacc;                            /* accumulated gradient of the output */
  int pending;
};

void entro_node_release(entro_node *n);

#endif
