/* autograd.c -- tape nodes and the backward pass (Kahn's algorithm over the graph). */
#include <stdlib.h>
#include <string.h>
#include "autograd.h"
#include "ops.h"
#include "grad_ops.h"

int entro_grad_mode = 1;
int entro_backward_into_leaves;

/* Nodes with up to POOL_IN inputs are recycled through a free list: a training step
 * records the same few dozen nodes every time. */
#define POOL_IN 3
#define POOL_MAX 1024
static entro_node *node_pool;
static int node_pool_n;

static entro_node *node_alloc(int n_in) {
  size_t size = sizeof(entro_node) + (size_t)(n_in > POOL_IN ? n_in : POOL_IN) * sizeof(entro_tensor *);
  entro_node *n = NULL;
  if (n_in <= POOL_IN && node_pool) {
    n = node_pool;
    node_pool = n->dead_next;
    node_pool_n--;
    memset(n, 0, size);
  } else {
    n = calloc(1, size);
  }
  return n;
}

static void node_dealloc(entro_node *n) {
  if (n->n_in <= POOL_IN && node_pool_n < POOL_MAX) {
    n->dead_next = node_pool;
    node_pool = n;
    node_pool_n++;
  } else {
    free(n);
  }
}

entro_node *entro_node_new(const char *name, entro_backward_fn bw, int n_in,
                           entro_tensor *const *inputs) {
  entro_node *n = node_alloc(n_in);
  if (!n) { entro_fail(ENTRO_ENOMEM, "%s: out of memory recording the op", name); return NULL; }
  n->refs = 1;
  n->name = name;
  n->backward = bw;
  n->n_in = n_in;
  for (int i = 0; i < n_in; i++)
    if (entro_requires_grad(inputs[i])) {
      n->in[i] = inputs[i];
      entro_tensor_retain(inputs[i]);
    }
  return n;
}

void entro_node_save(entro_node *n, int slot, entro_tensor *t) {
  if (!t) return;
  entro_tensor_retain(t);
  entro_tensor_release(n->saved[slot]);
  n->saved[slot] = t;
  n->saved_version[slot] = t->st->version;
}

int entro_node_check_saved(entro_node *n) {
  for (int i = 0; i < ENTRO_NODE_MAXSAVED; i++) {
    entro_tensor *t = n->saved[i];
    if (t && t->st->version != n->saved_version[i])
      return entro_fail(ENTRO_EINVAL, "backward: a tensor that %s needs was modified in place "
                        "after the op (storage version %u, saved at %u); use an out-of-place op",
                        n->name, t->st->version, n->saved_version[i]);
  }
  return ENTRO_OK;
}

void entro_node_attach(entro_node *n, entro_tensor *out) {
  entro_node_release(out->grad_fn);
  out->grad_fn = n;
  out->flags |= ENTRO_REQUIRES_GRAD;
}

/* Drops what the node holds for backward; the node itself lives while outputs refer to it. */
static void node_free_graph(entro_node *n) {
  for (int i = 0; i < n->n_in; i++) { entro_tensor_release(n->in[i]); n->in[i] = NULL; }
  for (int i = 0; i < ENTRO_NODE_MAXSAVED; i++) { entro_tensor_release(n->saved[i]); n->saved[i] = NULL; }
  entro_tensor_release(n->gacc);
  n->gacc = NULL;
  n->backward = NULL;
}

void entro_node_release(entro_node *n) {
  if (!n || --n->refs > 0) return;
  /* Releasing inputs can release their nodes in turn: a long chain would recurse deeply,
   * so unlink iteratively through an explicit list. */
  entro_node *stack = n;
  n->dead_next = NULL;
  while (stack) {
    entro_node *cur = stack;
    stack = cur->dead_next;
    entro_tensor_release(cur->gacc);
    for (int i = 0; i < ENTRO_NODE_MAXSAVED; i++) entro_tensor_release(cur->saved[i]);
    free(cur->aux);
    for (int i = 0; i < cur->n_in; i++) {
      entro_tensor *t = cur->in[i];
      if (!t) continue;
      if (t->refs == 1 && t->grad_fn && t->grad_fn->refs == 1) {
        /* t dies now and takes its node with it: defer that node instead of recursing */
        entro_node *child = t->grad_fn;
        t->grad_fn = NULL;
        child->refs = 0;
        child->dead_next = stack;
        stack = child;
      }
      entro_tensor_release(t);
    }
    node_dealloc(cur);
  }
}

entro_tensor *entro_record(entro_tensor *r, const char *name, entro_backward_fn bw, int n_in,
                           entro_tensor *const *inputs, entro_tensor *save0, entro_tensor *save1) {
  if (!r) return NULL;
  entro_node *n = entro_node_new(name, bw, n_in, inputs);
  if (!n) { entro_tensor_release(r); return NULL; }
  entro_node_save(n, 0, save0);
  entro_node_save(n, 1, save1);
  entro_node_attach(n, r);
  return r;
}

/* Nothing but the one reference holds t or its storage, and it can be written. */
static int owned(const entro_tensor *t) {
  return t->refs == 1 && t->st->refs == 1 && entro_tensor_is_writable(t);
}

int entro_grad_accumulate(entro_tensor **acc, entro_tensor *g) {
  if (!*acc) {
    entro_tensor_retain(g);
    *acc = g;
    return ENTRO_OK;
  }
  entro_tensor *a = *acc;
  if (entro_grad_mode) {   /* create_graph: the sum is part of the recorded graph */
    entro_tensor *s = entro_f_binary(EB_ADD, a, g);
    if (!s) return entro_errcode();
    entro_tensor_release(a);
    *acc = s;
    return ENTRO_OK;
  }
  if (owned(a) && entro_tensor_same_shape(a, g)) return entro_axpy(a, 1.0, g);
  entro_tensor *s = entro_binary(EB_ADD, NULL, a, g);
  if (!s) return entro_errcode();
  entro_tensor_release(a);
  *acc = s;
  return ENTRO_OK;
}

/* ---- the backward pass ---- */

typedef struct { entro_node **v; int n, cap; } nodevec;

static nodevec spare_all, spare_ready;   /* kept between passes */

static int push(nodevec *s, entro_node *n) {
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 64;
    entro_node **v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return entro_fail(ENTRO_ENOMEM, "backward: out of memory");
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = n;
  return ENTRO_OK;
}

/* Adds g to a leaf: into its .grad, or into the capture slot when capturing. */
static int to_leaf(entro_tensor *leaf, entro_tensor *g, int ncap, entro_tensor *const *cap,
                   entro_tensor **capout) {
  if (ncap == 0) {
    if (!leaf->grad) {
      /* a private copy: g may share storage with other gradients */
      entro_tensor *c = entro_tensor_clone(g);
      if (!c) return entro_errcode();
      leaf->grad = c;
      return ENTRO_OK;
    }
    if (!entro_tensor_same_shape(leaf->grad, g)) {
      char a[200], b[200];
      return entro_fail(ENTRO_EINVAL, "backward: .grad has shape %s, the gradient %s",
                        entro_tensor_shape_str(a, leaf->grad), entro_tensor_shape_str(b, g));
    }
    return entro_axpy(leaf->grad, 1.0, g);
  }
  for (int i = 0; i < ncap; i++) {   /* every slot: a parameter may be listed twice */
    int st = cap[i] == leaf ? entro_grad_accumulate(&capout[i], g) : ENTRO_OK;
    if (st) return st;
  }
  return ENTRO_OK;
}

/* the capture of the pass under way, for entro_backward_sink */
static int pass_ncap;
static entro_tensor *const *pass_cap;
static entro_tensor **pass_capout;

/* t may take in-place additions of a gradient shaped like `like` by a product */
static int private_sum(const entro_tensor *t, const entro_tensor *like) {
  return t && owned(t) && entro_tensor_is_contiguous(t) && entro_tensor_same_shape(t, like);
}

int entro_backward_may_reuse(const entro_tensor *g) {
  return !entro_grad_mode && owned(g) && entro_tensor_is_contiguous(g);
}

entro_tensor *entro_backward_sink(const entro_node *n, int i) {
  entro_tensor *t = n->in[i];
  if (!t || entro_grad_mode) return NULL;   /* create_graph: every sum is a recorded op */
  if (t->grad_fn) return private_sum(t->grad_fn->gacc, t) ? t->grad_fn->gacc : NULL;
  if (entro_backward_into_leaves) {   /* .grad is summed into in place by design */
    entro_tensor *g = t->grad;
    return g && entro_tensor_is_contiguous(g) && entro_tensor_same_shape(g, t) ? g : NULL;
  }
  entro_tensor *slot = NULL;
  for (int j = 0; j < pass_ncap; j++) {
    if (pass_cap[j] != t) continue;
    if (slot) return NULL;   /* listed twice: each slot needs its own copy */
    slot = pass_capout[j];
  }
  return private_sum(slot, t) ? slot : NULL;
}

int entro_backward_product(entro_node *n, int i, const entro_tensor *a, int ta,
                           const entro_tensor *b, int tb, entro_tensor **din) {
  const entro_tensor *like = n->in[i];
  int64_t s[2] = {a->shape[ta ? 1 : 0], b->shape[tb ? 0 : 1]};
  entro_tensor *sink = entro_backward_sink(n, i);
  entro_tensor *c = sink ? entro_tensor_reshape(sink, 2, s) : entro_tensor_new(2, s);
  if (!c) return entro_errcode();
  int st = entro_gemm(1, a, ta, b, tb, sink ? 1 : 0, c);
  if (!st && !sink) {
    entro_tensor *r = entro_tensor_reshape(c, like->ndim, like->shape);
    din[i] = r;
    if (!r) st = entro_errcode();
  }
  entro_tensor_release(c);
  return st;
}

int entro_backward(entro_tensor *root, const entro_tensor *grad, int retain, int create_graph,
                   int ncap, entro_tensor *const *cap, entro_tensor **capout) {
  if (!entro_requires_grad(root))
    return entro_fail(ENTRO_EINVAL, "backward: the tensor does not require grad (no parameter "
                      "with requires_grad took part in computing it)");
  return entro_backward_many(1, &root, &grad, retain, create_graph, ncap, cap, capout);
}

int entro_backward_many(int nroot, entro_tensor *const *roots, const entro_tensor *const *grads,
                        int retain, int create_graph, int ncap, entro_tensor *const *cap,
                        entro_tensor **capout) {
  char b1[200], b2[200];
  if (create_graph && ncap == 0)
    return entro_fail(ENTRO_EINVAL, "backward: create_graph needs the gradients returned "
                      "(tensor.grad(f, params, {create_graph = true}))");
  if (create_graph) retain = 1;
  for (int i = 0; i < nroot; i++) {
    const entro_tensor *r = roots[i], *g = grads[i];
    if (g && !entro_tensor_same_shape(g, r))
      return entro_fail(ENTRO_EINVAL, "backward: gradient has shape %s, the tensor %s",
                        entro_tensor_shape_str(b1, g), entro_tensor_shape_str(b2, r));
    if (!g && r->numel != 1)
      return entro_fail(ENTRO_EINVAL, "backward: a tensor of shape %s is not a scalar; pass the "
                        "gradient of the output (y:backward(grad))", entro_tensor_shape_str(b1, r));
  }
  for (int i = 0; i < ncap; i++) capout[i] = NULL;
  int saved_mode = entro_grad_mode, saved_into = entro_backward_into_leaves;
  int saved_ncap = pass_ncap;
  entro_tensor *const *saved_cap = pass_cap;
  entro_tensor **saved_capout = pass_capout;
  entro_grad_mode = create_graph;   /* record the backward pass itself, or nothing */
  entro_backward_into_leaves = ncap == 0 && !create_graph;
  pass_ncap = ncap;
  pass_cap = cap;
  pass_capout = capout;
  int st = ENTRO_OK;
  /* the work lists of the previous pass are taken over (a nested pass would start empty) */
  nodevec all = spare_all, ready = spare_ready;
  spare_all = spare_ready = (nodevec){0};
  all.n = ready.n = 0;
  /* the roots' gradients: into leaves at once, else into their nodes, which open `all`.
   * Each node in `all` is retained until the end: freeing one node's graph can drop the
   * last tensor holding another node of the list. */
  for (int i = 0; i < nroot && !st; i++) {
    entro_tensor *r = roots[i], *g = (entro_tensor *)grads[i];
    if (!entro_requires_grad(r)) continue;   /* contributes nothing */
    if (g) entro_tensor_retain(g);
    else if (!(g = entro_tensor_full(r->ndim, r->shape, 1.0))) { st = entro_errcode(); break; }
    entro_node *top = r->grad_fn;
    if (!top) {
      st = to_leaf(r, g, ncap, cap, capout);
    } else if (!top->backward) {
      st = entro_fail(ENTRO_EINVAL, "backward: the graph behind this tensor was freed by an "
                      "earlier backward; pass {retain_graph = true} to the first one");
    } else {
      if (!top->mark && !(st = push(&all, top))) {
        top->refs++;
        top->mark = 1;
        top->pending = 0;
      }
      if (!st) st = entro_grad_accumulate(&top->gacc, g);
    }
    entro_tensor_release(g);
  }
  if (st) goto done;
  int ntop = all.n;
  /* count, for every reachable node, the edges that lead into it */
  for (int i = 0; i < all.n; i++) {
    entro_node *n = all.v[i];
    for (int j = 0; j < n->n_in; j++) {
      entro_tensor *t = n->in[j];
      entro_node *c = t ? t->grad_fn : NULL;
      if (!c) continue;
      if (!c->backward) {
        st = entro_fail(ENTRO_EINVAL, "backward: part of the graph (%s) was freed by an earlier "
                        "backward; pass {retain_graph = true} to the first one", c->name);
        goto done;
      }
      if (!c->mark) {
        if ((st = push(&all, c))) goto done;
        c->mark = 1;
        c->pending = 0;
        c->refs++;
      }
      c->pending++;
    }
  }
  /* a root's node that another root leads into waits for that gradient too */
  for (int i = 0; i < ntop; i++)
    if (all.v[i]->pending == 0 && (st = push(&ready, all.v[i]))) goto done;
  while (ready.n > 0) {
    entro_node *n = ready.v[--ready.n];
    entro_tensor *din[64], **dp = din;
    if (n->n_in > 64 && !(dp = calloc((size_t)n->n_in, sizeof *dp))) {
      st = entro_fail(ENTRO_ENOMEM, "backward: out of memory");
      goto done;
    }
    for (int j = 0; j < n->n_in; j++) dp[j] = NULL;
    if (!n->gacc) {
      /* every path into this node carried no gradient: nothing flows on */
    } else if (!(st = entro_node_check_saved(n))) {
      entro_backward_fn bw = create_graph ? entro_double_backward(n) : n->backward;
      st = bw ? bw(n, n->gacc, dp)
              : entro_fail(ENTRO_EINVAL, "backward: %s has no second derivative, so create_graph "
                           "cannot differentiate through it (diag.hvp falls back to finite "
                           "differences with method = \"fd\")", n->name);
    }
    for (int j = 0; j < n->n_in; j++) {
      entro_tensor *t = n->in[j];
      if (!st && t && dp[j]) {
        if (t->grad_fn) st = entro_grad_accumulate(&t->grad_fn->gacc, dp[j]);
        else st = to_leaf(t, dp[j], ncap, cap, capout);
      }
      entro_tensor_release(dp[j]);
      if (t && t->grad_fn && --t->grad_fn->pending == 0 && !st) st = push(&ready, t->grad_fn);
    }
    if (dp != din) free(dp);
    entro_tensor_release(n->gacc);
    n->gacc = NULL;
    if (st) goto done;
  }
done:
  for (int i = 0; i < all.n; i++) {
    entro_node *n = all.v[i];
    n->mark = 0;
    entro_tensor_release(n->gacc);
    n->gacc = NULL;
  }
  if (!st && !retain)
    for (int i = 0; i < all.n; i++) node_free_graph(all.v[i]);
  for (int i = 0; i < all.n; i++) entro_node_release(all.v[i]);
  if (!spare_all.v && !spare_ready.v) {   /* keep them for the next pass */
    spare_all = all;
    spare_ready = ready;
  } else {
    free(all.v);
    free(ready.v);
  }
  entro_grad_mode = saved_mode;
  entro_backward_into_leaves = saved_into;
  pass_ncap = saved_ncap;
  pass_cap = saved_cap;
  pass_capout = saved_capout;
  if (st) {
    for (int i = 0; i < ncap; i++) { entro_tensor_release(capout[i]); capout[i] = NULL; }
    return st;
  }
  /* Each captured gradient becomes a private contiguous tensor, zeros when unreached: a
   * kernel may have handed out a stride-0 view, or one sharing storage with another
   * gradient (x + y gives both the same one), and callers may write into what they get. */
  for (int i = 0; i < ncap; i++) {
    entro_tensor *g = capout[i];
    if (g && g->refs == 1 && g->st->refs == 1 && entro_tensor_is_contiguous(g)) continue;
    if (g && create_graph) entro_grad_mode = 1;   /* the copy keeps the recorded graph */
    capout[i] = g ? entro_f_clone(g) : entro_tensor_zeros(cap[i]->ndim, cap[i]->shape);
    entro_grad_mode = saved_mode;
    entro_tensor_release(g);
    if (!capout[i]) {
      for (int j = 0; j < ncap; j++) { entro_tensor_release(capout[j]); capout[j] = NULL; }
      return entro_errcode();
    }
  }
  return ENTRO_OK;
}
