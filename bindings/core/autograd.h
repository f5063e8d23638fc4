/* autograd.h -- the reverse-mode tape: one node per differentiable op result.
 *
 * A node holds (retained) the op's inputs and whatever its backward kernel saved; the
 * output tensor holds its node in grad_fn. Nodes never point at their outputs, so there
 * are no reference cycles: dropping the last output frees the graph behind it, and a
 * backward pass frees what it used unless asked to keep the graph. */
#ifndef ENTRO_AUTOGRAD_H
#define ENTRO_AUTOGRAD_H
#include "tensor.h"

#define ENTRO_NODE_MAXSAVED 4

typedef struct entro_node entro_node;

/* Computes the gradients of the node's inputs from the gradient of its output. din[i] is
 * set to a new reference, or left NULL for inputs that need no gradient (see
 * entro_node_wants). The gradient must have exactly the input's shape. */
typedef int (*entro_backward_fn)(entro_node *n, const entro_tensor *dout, entro_tensor **din);

struct entro_node {
  int refs;
  const char *name;                              /* op name, for errors */
  entro_backward_fn backward;                    /* NULL once the graph was freed */
  entro_tensor *saved[ENTRO_NODE_MAXSAVED];
  uint32_t saved_version[ENTRO_NODE_MAXSAVED];
  double a[4];                                   /* scalar arguments */
  int64_t k[3 * ENTRO_MAXDIM + 4];               /* integer arguments (op codes, dims, shapes) */
  void *aux;                                     /* more arguments (malloc'd; freed with the node) */
  /* backward bookkeeping */
  entro_tensor *gacc;                            /* accumulated gradient of the output */
  int pending;
  int mark;
  entro_node *dead_next;                         /* list link while a graph is freed */
  int n_in;
  entro_tensor *in[];                            /* inputs, retained (NULL: no grad) */
};

/* Grad mode: recording happens only while it is on (tensor.no_grad turns it off). */
extern int entro_grad_mode;
/* Set during a plain backward pass that accumulates into .grad (no capture, no
 * create_graph). */
extern int entro_backward_into_leaves;

static inline int entro_requires_grad(const entro_tensor *t) {
  return t && (t->flags & ENTRO_REQUIRES_GRAD);
}
/* Whether an op on these inputs must be recorded. */
static inline int entro_should_record(const entro_tensor *a, const entro_tensor *b) {
  return entro_grad_mode && (entro_requires_grad(a) || entro_requires_grad(b));
}

/* Makes a node for an op with n_in inputs; inputs that require grad are retained. Returns
 * NULL (message set) when out of memory. */
entro_node *entro_node_new(const char *name, entro_backward_fn bw, int n_in,
                           entro_tensor *const *inputs);
/* Keeps t for backward (retained; its storage version is checked before use). */
void entro_node_save(entro_node *n, int slot, entro_tensor *t);
/* Fails if a saved tensor was changed in place since it was saved. */
int entro_node_check_saved(entro_node *n);
/* Makes n the producer of out (takes over the caller's reference to n). */
void entro_node_attach(entro_node *n, entro_tensor *out);
/* Whether input i of the node wants a gradient. */
static inline int entro_node_wants(const entro_node *n, int i) { return n->in[i] != NULL; }
void entro_node_release(entro_node *n);

/* Records op `name` with backward bw on result r of inputs; on failure releases r and
 * returns NULL. A convenience for the common case of up to two saved tensors. */
entro_tensor *entro_record(entro_tensor *r, const char *name, entro_backward_fn bw, int n_in,
                           entro_tensor *const *inputs, entro_tensor *save0, entro_tensor *save1);

/* Runs backward from root with gradient grad (NULL: 1 for a one-element root).
 * With create_graph, the backward pass is itself recorded (with the kernels of
 * double_backward.c), so the gradients it returns can be differentiated again; it needs
 * capture and keeps the graph.
 * Without capture (ncap == 0), gradients accumulate into the .grad of leaves that require
 * grad. With capture, only the listed leaves receive gradients, into capout[i] (new
 * references, zeros when unreached), and no .grad is touched. The graph is freed unless
 * retain is set. */
int entro_backward(entro_tensor *root, const entro_tensor *grad, int retain, int create_graph,
                   int ncap, entro_tensor *const *cap, entro_tensor **capout);
/* The same from several roots at once, roots[i] with gradient grads[i] (NULL: 1 for a
 * one-element root): the gradients of sum_i <roots[i], grads[i]>, in one pass over the
 * graph. Roots that do not require grad contribute nothing. */
int entro_backward_many(int nroot, entro_tensor *const *roots, const entro_tensor *const *grads,
                        int retain, int create_graph, int ncap, entro_tensor *const *cap,
                        entro_tensor **capout);
/* During a backward pass without create_graph: the contiguous tensor that input i's
 * gradient is being summed into (a leaf's .grad, a captured gradient, or the gradient
 * gathered so far by the node that made the input), when a kernel may add to it in place,
 * else NULL. A kernel that does (a product with beta = 1: no temporary, no separate
 * addition) leaves din[i] NULL. */
entro_tensor *entro_backward_sink(const entro_node *n, int i);
/* For backward kernels without create_graph: din[i] = op(a) op(b) shaped like input i, or,
 * when the engine offers a sink for input i, the product added into it (din[i] stays NULL). */
int entro_backward_product(entro_node *n, int i, const entro_tensor *a, int ta,
                           const entro_tensor *b, int tb, entro_tensor **din);
/* Whether a kernel may write its result over the gradient g it was given: nothing but the
 * engine holds g (it is dropped once the kernel returns) and it is contiguous. */
int entro_backward_may_reuse(const entro_tensor *g);
/* The differentiable backward kernel of a node, or NULL when its op has none. */
entro_backward_fn entro_double_backward(const entro_node *n);

/* Adds g into *acc (creating it when NULL), never writing into storage shared elsewhere. */
int entro_grad_accumulate(entro_tensor **acc, entro_tensor *g);

#endif
