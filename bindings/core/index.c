/* index.c -- indexing and joining: index_select, gather, scatter_add, cat, stack,
 * masked_select. Index tensors hold 0-based indices as doubles (the Lua glue converts
 * from 1-based in one place). */
#include <math.h>
#include <string.h>
#include "ops.h"

/* Reads index i of a 1-D or N-D index tensor, checking it is an integer in [0, n). */
static int read_index(const char *op, double v, int64_t n, int64_t *out) {
  if (!(v >= 0 && v < (double)n) || v != floor(v))
    return entro_fail(ENTRO_EINVAL, "%s: index %.17g outside 1..%lld", op, v + 1, (long long)n);
  *out = (int64_t)v;
  return ENTRO_OK;
}

entro_tensor *entro_index_select(const entro_tensor *a, int dim, const entro_tensor *idx) {
  if (entro_check_dim("index_select", a, dim)) return NULL;
  if (idx->ndim != 1) {
    char b[200];
    entro_fail(ENTRO_EINVAL, "index_select: indices must be a vector, got shape %s",
               entro_tensor_shape_str(b, idx));
    return NULL;
  }
  int64_t n = idx->shape[0], len = a->shape[dim];
  /* validate all indices before allocating */
  for (int64_t i = 0; i < n; i++) {
    int64_t j = 0;
    if (read_index("index_select", entro_data(idx)[i * idx->stride[0]], len, &j)) return NULL;
  }
  int64_t shape[ENTRO_MAXDIM];
  memcpy(shape, a->shape, sizeof shape);
  shape[dim] = n;
  entro_tensor *r = entro_tensor_new(a->ndim, shape);
  if (!r) return NULL;
  for (int64_t i = 0; i < n; i++) {
    int64_t j = (int64_t)entro_data(idx)[i * idx->stride[0]];
    entro_tensor *src = entro_tensor_select(a, dim, j), *dst = entro_tensor_select(r, dim, i);
    int st = src && dst ? entro_tensor_copy(dst, src) : ENTRO_ENOMEM;
    entro_tensor_release(src);
    entro_tensor_release(dst);
    if (st) { entro_tensor_release(r); return NULL; }
  }
  return r;
}

/* Walks every position of idx's shape, calling fn with the flat offsets into a (with the
 * dim coordinate replaced by the index value) and into idx/other. */
typedef int (*gather_fn)(void *ctx, double *aval, int64_t pos_idx, int64_t pos_other);

static int walk_indexed(const char *op, const entro_tensor *a, int dim, const entro_tensor *idx,
                        const entro_tensor *other, gather_fn fn, void *ctx) {
  char b1[200], b2[200];
  if (entro_check_dim(op, a, dim)) return ENTRO_EINVAL;
  if (idx->ndim != a->ndim)
    return entro_fail(ENTRO_EINVAL, "%s: index has shape %s, input %s (dimensions differ)", op,
                      entro_tensor_shape_str(b1, idx), entro_tensor_shape_str(b2, a));
  for (int d = 0; d < a->ndim; d++)
    if (d != dim && idx->shape[d] > a->shape[d])
      return entro_fail(ENTRO_EINVAL, "%s: index shape %s exceeds input shape %s in dimension %d",
                        op, entro_tensor_shape_str(b1, idx), entro_tensor_shape_str(b2, a), d + 1);
  if (other && !entro_tensor_same_shape(other, idx))
    return entro_fail(ENTRO_EINVAL, "%s: source has shape %s, index %s", op,
                      entro_tensor_shape_str(b1, other), entro_tensor_shape_str(b2, idx));
  for (int pass = 0; pass < 2; pass++) {   /* pass 0 validates, pass 1 acts */
    int64_t pos[ENTRO_MAXDIM] = {0};
    for (int64_t e = 0; e < idx->numel; e++) {
      int64_t oi = idx->offset, oo = other ? other->offset : 0, oa = a->offset;
      for (int d = 0; d < a->ndim; d++) {
        oi += pos[d] * idx->stride[d];
        if (other) oo += pos[d] * other->stride[d];
        if (d != dim) oa += pos[d] * a->stride[d];
      }
      int64_t j = 0;
      if (read_index(op, idx->st->data[oi], a->shape[dim], &j)) return ENTRO_EINVAL;
      if (pass) fn(ctx, a->st->data + oa + j * a->stride[dim], oi, oo);
      for (int d = a->ndim - 1; d >= 0; d--) { if (++pos[d] < idx->shape[d]) break; pos[d] = 0; }
    }
  }
  return ENTRO_OK;
}

typedef struct { double *out; const double *src; int64_t k; } gctx;

static int gather_one(void *c, double *aval, int64_t pi, int64_t po) {
  gctx *g = c;
  (void)pi; (void)po;
  g->out[g->k++] = *aval;
  return 0;
}

entro_tensor *entro_gather(const entro_tensor *a, int dim, const entro_tensor *idx) {
  if (entro_check_dim("gather", a, dim)) return NULL;
  entro_tensor *r = entro_tensor_new(idx->ndim, idx->shape);
  if (!r) return NULL;
  gctx g = {entro_data(r), NULL, 0};
  if (walk_indexed("gather", a, dim, idx, NULL, gather_one, &g)) {
    entro_tensor_release(r);
    return NULL;
  }
  return r;
}

static int scatter_one(void *c, double *aval, int64_t pi, int64_t po) {
  gctx *g = c;
  (void)pi;
  *aval += g->src[po];
  return 0;
}

int entro_scatter_add(entro_tensor *a, int dim, const entro_tensor *idx, const entro_tensor *src) {
  if (entro_tensor_check_writable("scatter_add", a)) return ENTRO_EINVAL;
  gctx g = {NULL, src->st->data, 0};
  int st = walk_indexed("scatter_add", a, dim, idx, src, scatter_one, &g);
  if (!st) entro_tensor_bump(a);
  return st;
}

entro_tensor *entro_cat(int n, const entro_tensor *const *ts, int dim) {
  char b1[200], b2[200];
  if (n <= 0) { entro_fail(ENTRO_EINVAL, "cat: no tensors given"); return NULL; }
  const entro_tensor *f = ts[0];
  if (entro_check_dim("cat", f, dim)) return NULL;
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    const entro_tensor *t = ts[i];
    int ok = t->ndim == f->ndim;
    for (int d = 0; ok && d < f->ndim; d++) ok = d == dim || t->shape[d] == f->shape[d];
    if (!ok) {
      entro_fail(ENTRO_EINVAL, "cat: tensor %d has shape %s, tensor 1 has %s (only dimension %d may differ)",
                 i + 1, entro_tensor_shape_str(b1, t), entro_tensor_shape_str(b2, f), dim + 1);
      return NULL;
    }
    total += t->shape[dim];
  }
  int64_t shape[ENTRO_MAXDIM];
  memcpy(shape, f->shape, sizeof shape);
  shape[dim] = total;
  entro_tensor *r = entro_tensor_new(f->ndim, shape);
  if (!r) return NULL;
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    entro_tensor *dst = entro_tensor_narrow(r, dim, at, ts[i]->shape[dim]);
    int st = dst ? entro_tensor_copy(dst, ts[i]) : ENTRO_ENOMEM;
    entro_tensor_release(dst);
    if (st) { entro_tensor_release(r); return NULL; }
    at += ts[i]->shape[dim];
  }
  return r;
}

entro_tensor *entro_stack(int n, const entro_tensor *const *ts, int dim) {
  char b1[200], b2[200];
  if (n <= 0) { entro_fail(ENTRO_EINVAL, "stack: no tensors given"); return NULL; }
  const entro_tensor *f = ts[0];
  if (dim < 0 || dim > f->ndim || f->ndim >= ENTRO_MAXDIM) {
    entro_fail(ENTRO_EINVAL, "stack: dimension %d out of range 1..%d", dim + 1, f->ndim + 1);
    return NULL;
  }
  for (int i = 1; i < n; i++)
    if (!entro_tensor_same_shape(ts[i], f)) {
      entro_fail(ENTRO_EINVAL, "stack: tensor %d has shape %s, tensor 1 has %s", i + 1,
                 entro_tensor_shape_str(b1, ts[i]), entro_tensor_shape_str(b2, f));
      return NULL;
    }
  int64_t shape[ENTRO_MAXDIM];
  for (int d = 0, k = 0; d <= f->ndim; d++) shape[d] = d == dim ? n : f->shape[k++];
  entro_tensor *r = entro_tensor_new(f->ndim + 1, shape);
  if (!r) return NULL;
  for (int i = 0; i < n; i++) {
    entro_tensor *dst = entro_tensor_select(r, dim, i);
    int st = dst ? entro_tensor_copy(dst, ts[i]) : ENTRO_ENOMEM;
    entro_tensor_release(dst);
    if (st) { entro_tensor_release(r); return NULL; }
  }
  return r;
}

entro_tensor *entro_masked_select(const entro_tensor *a, const entro_tensor *mask) {
  char b1[200], b2[200];
  if (!entro_tensor_same_shape(a, mask)) {
    entro_fail(ENTRO_EINVAL, "masked_select: mask has shape %s, input %s",
               entro_tensor_shape_str(b1, mask), entro_tensor_shape_str(b2, a));
    return NULL;
  }
  entro_tensor *ac = entro_tensor_contiguous(a), *mc = entro_tensor_contiguous(mask);
  entro_tensor *r = NULL;
  if (ac && mc) {
    int64_t cnt = 0;
    const double *m = entro_data(mc), *x = entro_data(ac);
    for (int64_t i = 0; i < a->numel; i++) cnt += m[i] != 0;
    if ((r = entro_tensor_new(1, &cnt))) {
      double *o = entro_data(r);
      for (int64_t i = 0, k = 0; i < a->numel; i++) if (m[i] != 0) o[k++] = x[i];
    }
  }
  entro_tensor_release(ac);
  entro_tensor_release(mc);
  return r;
}
