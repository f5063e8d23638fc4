/* tensor.h -- the engine's one tensor type: float64, up to 8 dims, strided views of a
 * shared, reference-counted storage.
 *
 * Storage and tensor headers are reference counted in C (not by Lua) because the autograd
 * tape and the optimizers hold tensors that no Lua value refers to. The Lua glue owns one
 * reference per userdata and reports fresh storage bytes to Lua's collector (see
 * entro_mem_take_fresh), so loops that make tensors do not balloon.
 *
 * Conventions: functions returning entro_tensor* return a new reference (or NULL with a
 * message, see status.h); functions taking tensors borrow them. */
#ifndef ENTRO_TENSOR_H
#define ENTRO_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define ENTRO_MAXDIM 8

typedef struct entro_storage {
  double *data;
  int64_t n;          /* elements */
  int refs;
  uint32_t version;   /* bumped by every in-place write; autograd checks it */
} entro_storage;

struct entro_node;

enum {
  ENTRO_REQUIRES_GRAD = 1,   /* a leaf that accumulates .grad, or a result of one */
  ENTRO_RETAIN_GRAD = 2
};

typedef struct entro_tensor {
  int refs;
  int ndim;
  unsigned flags;
  int64_t numel;
  int64_t offset;                 /* in elements, into st->data */
  int64_t shape[ENTRO_MAXDIM];
  int64_t stride[ENTRO_MAXDIM];   /* in elements; 0 for an expanded dim */
  entro_storage *st;
  struct entro_tensor *grad;      /* accumulated gradient (leaves), or NULL */
  struct entro_node *grad_fn;     /* the tape node that produced this tensor, or NULL */
  uint32_t saved_version;         /* storage version when saved for backward (node use) */
} entro_tensor;

static inline double *entro_data(const entro_tensor *t) { return t->st->data + t->offset; }

/* ---- memory ---- */
int64_t entro_mem_live(void);          /* bytes in storages alive now */
int64_t entro_mem_peak(void);
int64_t entro_mem_cached(void);        /* bytes kept for reuse */
int64_t entro_mem_allocs(void);        /* storages obtained from malloc so far */
int64_t entro_mem_take_fresh(void);    /* bytes malloc'd since the last call, then reset */
void entro_mem_trim(void);             /* return cached storage to the system */

/* ---- creation and lifetime ---- */
entro_tensor *entro_tensor_new(int ndim, const int64_t *shape);   /* uninitialised */
entro_tensor *entro_tensor_zeros(int ndim, const int64_t *shape);
entro_tensor *entro_tensor_full(int ndim, const int64_t *shape, double v);
entro_tensor *entro_tensor_new_like(const entro_tensor *t);       /* contiguous, same shape */
entro_tensor *entro_tensor_scalar(double v);                       /* 0-dim */
void entro_tensor_retain(entro_tensor *t);
void entro_tensor_release(entro_tensor *t);
/* Checks a shape: sizes >= 0, ndim <= 8, product fits; fills *numel. */
int entro_shape_check(const char *op, int ndim, const int64_t *shape, int64_t *numel);

/* ---- properties ---- */
/* Fails naming op unless 0 <= dim < t->ndim (dims are 0-based here). */
int entro_check_dim(const char *op, const entro_tensor *t, int dim);
int entro_tensor_is_contiguous(const entro_tensor *t);
int entro_tensor_same_shape(const entro_tensor *a, const entro_tensor *b);
/* True when distinct indices address distinct elements (no stride-0 expansion). */
int entro_tensor_is_writable(const entro_tensor *t);
int entro_tensor_check_writable(const char *op, const entro_tensor *t);
char *entro_tensor_shape_str(char *buf, const entro_tensor *t);   /* buf: char[200] */
double *entro_tensor_ptr(const entro_tensor *t, const int64_t *idx); /* 0-based index */

/* ---- views (share storage; return a new tensor header) ---- */
entro_tensor *entro_tensor_view_of(const entro_tensor *t);        /* same view, new header */
entro_tensor *entro_tensor_narrow(const entro_tensor *t, int dim, int64_t start, int64_t len);
entro_tensor *entro_tensor_select(const entro_tensor *t, int dim, int64_t index);
entro_tensor *entro_tensor_transpose(const entro_tensor *t, int d0, int d1);
entro_tensor *entro_tensor_permute(const entro_tensor *t, const int *perm);
/* view: shape may hold one -1; fails if the strides cannot express it */
entro_tensor *entro_tensor_view(const entro_tensor *t, int ndim, const int64_t *shape);
/* reshape: a view when possible, else a contiguous copy */
entro_tensor *entro_tensor_reshape(const entro_tensor *t, int ndim, const int64_t *shape);
entro_tensor *entro_tensor_expand(const entro_tensor *t, int ndim, const int64_t *shape);
entro_tensor *entro_tensor_squeeze(const entro_tensor *t, int dim);   /* dim < 0: all */
entro_tensor *entro_tensor_unsqueeze(const entro_tensor *t, int dim);
entro_tensor *entro_tensor_contiguous(const entro_tensor *t);     /* new ref to t if already */
entro_tensor *entro_tensor_clone(const entro_tensor *t);
/* dst <- src with broadcasting of src to dst's shape */
int entro_tensor_copy(entro_tensor *dst, const entro_tensor *src);
int entro_tensor_fill(entro_tensor *t, double v);
/* Marks an in-place write to t's storage (for autograd's saved-tensor checks). */
static inline void entro_tensor_bump(entro_tensor *t) { t->st->version++; }

/* Computes the broadcast of two shapes; returns ENTRO_OK or fails naming op. */
int entro_broadcast_shape(const char *op, const entro_tensor *a, const entro_tensor *b,
                          int *ndim, int64_t *shape);

#endif
