/* tensor.c -- tensor headers: creation, lifetime, shape checks and strided views. */
#include <stdlib.h>
#include <string.h>
#include "tensor.h"
#include "storage.h"
#include "autograd.h"

/* Released headers are kept on a free list: a small op then costs no malloc at all. */
static entro_tensor *free_headers;
static int n_free_headers;

static entro_tensor *header_new(void) {
  entro_tensor *t = free_headers;
  if (t) {
    free_headers = t->grad;
    n_free_headers--;
  } else {
    t = malloc(sizeof *t);
    if (!t) { entro_fail(ENTRO_ENOMEM, "cannot allocate a tensor header"); return NULL; }
  }
  memset(t, 0, sizeof *t);
  t->refs = 1;
  return t;
}

static void header_free(entro_tensor *t) {
  if (!ENTRO_NO_CACHE && n_free_headers < 4096) {
    t->grad = free_headers;
    free_headers = t;
    n_free_headers++;
  } else {
    free(t);
  }
}

int entro_shape_check(const char *op, int ndim, const int64_t *shape, int64_t *numel) {
  if (ndim < 0 || ndim > ENTRO_MAXDIM)
    return entro_fail(ENTRO_EINVAL, "%s: %d dimensions (at most %d)", op, ndim, ENTRO_MAXDIM);
  int64_t n = 1;
  int overflow = 0, empty = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return entro_fail(ENTRO_EINVAL, "%s: negative size %lld in dimension %d", op,
                        (long long)shape[i], i + 1);
    /* overflow is judged on the nonzero sizes: strides multiply them even when numel is 0 */
    if (shape[i] == 0) empty = 1;
    else if (n > INT64_MAX / 8 / shape[i]) overflow = 1;
    else n *= shape[i];
  }
  if (empty) n = 0;
  if (overflow) {
    char b[200];
    return entro_fail(ENTRO_ENOMEM, "%s: cannot allocate a tensor of shape %s (too many bytes)",
                      op, entro_shape_str(b, ndim, shape));
  }
  *numel = n;
  return ENTRO_OK;
}

static void set_contiguous_strides(entro_tensor *t) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) { t->stride[i] = s; s *= t->shape[i]; }
}

entro_tensor *entro_tensor_new(int ndim, const int64_t *shape) {
  int64_t n;
  if (entro_shape_check("tensor", ndim, shape, &n)) return NULL;
  entro_storage *s = entro_storage_new(n);
  if (!s) {
    char b[200];
    entro_fail(ENTRO_ENOMEM, "cannot allocate %lld bytes for a tensor of shape %s",
               (long long)n * 8, entro_shape_str(b, ndim, shape));
    return NULL;
  }
  entro_tensor *t = header_new();
  if (!t) { entro_storage_release(s); return NULL; }
  t->st = s;
  t->ndim = ndim;
  t->numel = n;
  if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
  set_contiguous_strides(t);
  return t;
}

entro_tensor *entro_tensor_full(int ndim, const int64_t *shape, double v) {
  entro_tensor *t = entro_tensor_new(ndim, shape);
  if (t) {
    double *d = t->st->data;
    for (int64_t i = 0; i < t->numel; i++) d[i] = v;
  }
  return t;
}

entro_tensor *entro_tensor_zeros(int ndim, const int64_t *shape) {
  entro_tensor *t = entro_tensor_new(ndim, shape);
  if (t) memset(t->st->data, 0, (size_t)t->numel * sizeof(double));
  return t;
}

entro_tensor *entro_tensor_new_like(const entro_tensor *t) {
  return entro_tensor_new(t->ndim, t->shape);
}

entro_tensor *entro_tensor_scalar(double v) { return entro_tensor_full(0, NULL, v); }

void entro_tensor_retain(entro_tensor *t) { t->refs++; }

void entro_tensor_release(entro_tensor *t) {
  if (!t || --t->refs > 0) return;
  entro_storage_release(t->st);
  if (t->grad) entro_tensor_release(t->grad);
  if (t->grad_fn) entro_node_release(t->grad_fn);
  header_free(t);
}

int entro_tensor_is_contiguous(const entro_tensor *t) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != s) return 0;
    s *= t->shape[i];
  }
  return 1;
}

int entro_tensor_same_shape(const entro_tensor *a, const entro_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++) if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

int entro_tensor_is_writable(const entro_tensor *t) {
  if (t->numel == 0) return 1;   /* nothing to write (its strides may be 0: see below) */
  for (int i = 0; i < t->ndim; i++)
    if (t->stride[i] == 0 && t->shape[i] > 1) return 0;
  return 1;
}

int entro_tensor_check_writable(const char *op, const entro_tensor *t) {
  if (entro_tensor_is_writable(t)) return ENTRO_OK;
  char b[200];
  return entro_fail(ENTRO_EINVAL, "%s: cannot write into an expanded view (shape %s has a "
                    "stride-0 dimension); make it contiguous first", op,
                    entro_tensor_shape_str(b, t));
}

char *entro_tensor_shape_str(char *buf, const entro_tensor *t) {
  return entro_shape_str(buf, t->ndim, t->shape);
}

double *entro_tensor_ptr(const entro_tensor *t, const int64_t *idx) {
  int64_t off = t->offset;
  for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
  return t->st->data + off;
}

/* ---- views ---- */

static void recount(entro_tensor *v) {
  v->numel = 1;
  for (int i = 0; i < v->ndim; i++) v->numel *= v->shape[i];
}

entro_tensor *entro_tensor_view_of(const entro_tensor *t) {
  entro_tensor *v = header_new();
  if (!v) return NULL;
  v->ndim = t->ndim;
  v->numel = t->numel;
  v->offset = t->offset;
  memcpy(v->shape, t->shape, sizeof v->shape);
  memcpy(v->stride, t->stride, sizeof v->stride);
  v->st = t->st;
  entro_storage_retain(t->st);
  return v;
}

int entro_check_dim(const char *op, const entro_tensor *t, int dim) {
  if (dim < 0 || dim >= t->ndim) {
    char b[200];
    return entro_fail(ENTRO_EINVAL, "%s: dimension %d out of range for shape %s", op, dim + 1,
                      entro_tensor_shape_str(b, t));
  }
  return ENTRO_OK;
}

entro_tensor *entro_tensor_narrow(const entro_tensor *t, int dim, int64_t start, int64_t len) {
  if (entro_check_dim("narrow", t, dim)) return NULL;
  if (start < 0 || len < 0 || len > t->shape[dim] - start) {   /* (no start + len: it may overflow) */
    entro_fail(ENTRO_EINVAL, "narrow: range %.17g..%.17g outside 1..%lld of dimension %d",
               (double)start + 1, (double)start + (double)len, (long long)t->shape[dim], dim + 1);
    return NULL;
  }
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  v->offset += start * t->stride[dim];
  v->shape[dim] = len;
  recount(v);
  return v;
}

entro_tensor *entro_tensor_select(const entro_tensor *t, int dim, int64_t index) {
  if (entro_check_dim("select", t, dim)) return NULL;
  if (index < 0 || index >= t->shape[dim]) {
    entro_fail(ENTRO_EINVAL, "select: index %lld outside 1..%lld of dimension %d",
               (long long)index + 1, (long long)t->shape[dim], dim + 1);
    return NULL;
  }
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  v->offset += index * t->stride[dim];
  for (int i = dim; i < t->ndim - 1; i++) {
    v->shape[i] = t->shape[i + 1];
    v->stride[i] = t->stride[i + 1];
  }
  v->ndim--;
  recount(v);
  return v;
}

entro_tensor *entro_tensor_transpose(const entro_tensor *t, int d0, int d1) {
  if (entro_check_dim("transpose", t, d0) || entro_check_dim("transpose", t, d1)) return NULL;
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  v->shape[d0] = t->shape[d1]; v->shape[d1] = t->shape[d0];
  v->stride[d0] = t->stride[d1]; v->stride[d1] = t->stride[d0];
  return v;
}

entro_tensor *entro_tensor_permute(const entro_tensor *t, const int *perm) {
  int seen[ENTRO_MAXDIM] = {0};
  for (int i = 0; i < t->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= t->ndim || seen[perm[i]]++) {
      entro_fail(ENTRO_EINVAL, "permute: not a permutation of 1..%d", t->ndim);
      return NULL;
    }
  }
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  for (int i = 0; i < t->ndim; i++) {
    v->shape[i] = t->shape[perm[i]];
    v->stride[i] = t->stride[perm[i]];
  }
  return v;
}

/* Resolves one -1 in a requested shape against numel; fails naming op. */
static int infer_shape(const char *op, const entro_tensor *t, int ndim, const int64_t *in,
                       int64_t *out) {
  int neg = -1, empty = 0;
  int64_t known = 1;   /* the product of the nonzero sizes, bounded as entro_shape_check does */
  if (ndim > ENTRO_MAXDIM)
    return entro_fail(ENTRO_EINVAL, "%s: %d dimensions (at most %d)", op, ndim, ENTRO_MAXDIM);
  for (int i = 0; i < ndim; i++) {
    out[i] = in[i];
    if (in[i] == -1) {
      if (neg >= 0) return entro_fail(ENTRO_EINVAL, "%s: more than one -1 in the shape", op);
      neg = i;
    } else if (in[i] < 0) {
      return entro_fail(ENTRO_EINVAL, "%s: negative size %lld", op, (long long)in[i]);
    } else if (in[i] == 0) {
      empty = 1;
    } else if (known > INT64_MAX / 8 / in[i]) {
      goto bad;   /* its strides would overflow, even for an empty view */
    } else {
      known *= in[i];
    }
  }
  if (empty) known = 0;
  if (neg >= 0) {
    if (known == 0 || t->numel % known) goto bad;
    out[neg] = t->numel / known;
  } else if (known != t->numel) {
    goto bad;
  }
  return ENTRO_OK;
bad:;
  char a[200], b[200];
  return entro_fail(ENTRO_EINVAL, "%s: cannot view shape %s (%lld elements) as %s", op,
                    entro_tensor_shape_str(a, t), (long long)t->numel,
                    entro_shape_str(b, ndim, in));
}

/* Computes strides for viewing t as shape (numel equal) without copying: each run of old
 * dims that is contiguous in memory can be split or merged freely (PyTorch's rule).
 * Returns 1 on success, 0 when a copy is needed. */
static int view_strides(const entro_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
  if (t->numel == 0 || t->ndim == 0) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) { stride[i] = s; s *= shape[i] ? shape[i] : 1; }
    return 1;
  }
  int vd = ndim - 1;
  int64_t base = t->stride[t->ndim - 1], tn = 1, vn = 1;
  for (int td = t->ndim - 1; td >= 0; td--) {
    tn *= t->shape[td];
    if (td == 0 || (t->shape[td - 1] != 1 && t->stride[td - 1] != tn * base)) {
      while (vd >= 0 && (vn < tn || shape[vd] == 1)) {
        stride[vd] = vn * base;
        vn *= shape[vd];
        vd--;
      }
      if (vn != tn) return 0;
      if (td > 0) { base = t->stride[td - 1]; tn = 1; vn = 1; }
    }
  }
  return vd == -1;
}

entro_tensor *entro_tensor_view(const entro_tensor *t, int ndim, const int64_t *shape) {
  int64_t sh[ENTRO_MAXDIM], st[ENTRO_MAXDIM];
  if (infer_shape("view", t, ndim, shape, sh)) return NULL;
  if (!view_strides(t, ndim, sh, st)) {
    char a[200], b[200];
    entro_fail(ENTRO_EINVAL, "view: shape %s cannot be viewed as %s without a copy (its strides "
               "do not allow it); use reshape", entro_tensor_shape_str(a, t),
               entro_shape_str(b, ndim, sh));
    return NULL;
  }
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  v->ndim = ndim;
  memcpy(v->shape, sh, (size_t)ndim * sizeof *sh);
  memcpy(v->stride, st, (size_t)ndim * sizeof *st);
  return v;
}

entro_tensor *entro_tensor_reshape(const entro_tensor *t, int ndim, const int64_t *shape) {
  int64_t sh[ENTRO_MAXDIM], st[ENTRO_MAXDIM];
  if (infer_shape("reshape", t, ndim, shape, sh)) return NULL;
  if (view_strides(t, ndim, sh, st)) return entro_tensor_view(t, ndim, sh);
  entro_tensor *c = entro_tensor_contiguous(t);
  if (!c) return NULL;
  entro_tensor *v = entro_tensor_view(c, ndim, sh);
  entro_tensor_release(c);
  return v;
}

entro_tensor *entro_tensor_expand(const entro_tensor *t, int ndim, const int64_t *shape) {
  char a[200], b[200];
  if (ndim < t->ndim || ndim > ENTRO_MAXDIM) goto bad;
  int64_t sh[ENTRO_MAXDIM], st[ENTRO_MAXDIM];
  int lead = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    int j = i - lead;
    int64_t want = shape[i];
    if (j < 0) {
      if (want < 0) goto bad;
      sh[i] = want; st[i] = 0;
    } else if (want == -1 || want == t->shape[j]) {
      sh[i] = t->shape[j]; st[i] = t->stride[j];
    } else if (t->shape[j] == 1 && want >= 0) {
      sh[i] = want; st[i] = 0;
    } else {
      goto bad;
    }
  }
  int64_t numel;
  if (entro_shape_check("expand", ndim, sh, &numel)) return NULL;   /* numel must fit */
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  v->ndim = ndim;
  v->numel = 1;
  for (int i = 0; i < ndim; i++) { v->shape[i] = sh[i]; v->stride[i] = st[i]; v->numel *= sh[i]; }
  return v;
bad:
  entro_fail(ENTRO_EINVAL, "expand: cannot expand shape %s to %s", entro_tensor_shape_str(a, t),
             entro_shape_str(b, ndim, shape));
  return NULL;
}

entro_tensor *entro_tensor_squeeze(const entro_tensor *t, int dim) {
  if (dim >= 0 && entro_check_dim("squeeze", t, dim)) return NULL;
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  int k = 0;
  for (int i = 0; i < t->ndim; i++) {
    int drop = t->shape[i] == 1 && (dim < 0 || dim == i);
    if (!drop) { v->shape[k] = t->shape[i]; v->stride[k] = t->stride[i]; k++; }
  }
  v->ndim = k;
  return v;
}

entro_tensor *entro_tensor_unsqueeze(const entro_tensor *t, int dim) {
  if (dim < 0 || dim > t->ndim || t->ndim == ENTRO_MAXDIM) {
    entro_fail(ENTRO_EINVAL, "unsqueeze: dimension %d out of range 1..%d", dim + 1, t->ndim + 1);
    return NULL;
  }
  entro_tensor *v = entro_tensor_view_of(t);
  if (!v) return NULL;
  for (int i = t->ndim; i > dim; i--) { v->shape[i] = t->shape[i - 1]; v->stride[i] = t->stride[i - 1]; }
  v->shape[dim] = 1;
  v->stride[dim] = dim < t->ndim ? t->shape[dim] * t->stride[dim] : 1;
  v->ndim = t->ndim + 1;
  return v;
}

entro_tensor *entro_tensor_contiguous(const entro_tensor *t) {
  if (entro_tensor_is_contiguous(t)) {
    entro_tensor *v = (entro_tensor *)t;
    entro_tensor_retain(v);
    return v;
  }
  return entro_tensor_clone(t);
}

entro_tensor *entro_tensor_clone(const entro_tensor *t) {
  entro_tensor *c = entro_tensor_new(t->ndim, t->shape);
  if (!c) return NULL;
  entro_tensor_copy(c, t);
  return c;
}

int entro_broadcast_shape(const char *op, const entro_tensor *a, const entro_tensor *b,
                          int *ndim, int64_t *shape) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa == sb || sb == 1) shape[i] = sa;
    else if (sa == 1) shape[i] = sb;
    else {
      char x[200], y[200];
      return entro_fail(ENTRO_EINVAL, "%s: shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)",
                        op, entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b), i + 1,
                        (long long)sa, (long long)sb);
    }
  }
  *ndim = n;
  return ENTRO_OK;
}
