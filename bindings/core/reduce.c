/* reduce.c -- reductions over all elements or along one dimension, cumsum, and the
 * broadcast-undoing sum that gradients need. */
#include <math.h>
#include <string.h>
#include "ops.h"
#include "iter.h"
#include "interrupt.h"
#include "parallel.h"

const char *const entro_reduce_names[ER_NREDUCE] = {
  "sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std", "norm", "logsumexp"
};

/* Sum of a strided run: halves summed recursively down to blocks of 1024, each with eight
 * accumulators, so rounding error grows with log n rather than n (as numpy's pairwise sum). */
static double run_sum(const double *x, int64_t n, int64_t s) {
  if (n > 1024) {
    int64_t h = n / 16 * 8;
    return run_sum(x, h, s) + run_sum(x + h * s, n - h, s);
  }
  /* eight scalar accumulators: kept in registers (an array of them went through the stack) */
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  int64_t i = 0;
  if (s == 1) {
    for (; i + 8 <= n; i += 8) {
      a0 += x[i]; a1 += x[i + 1]; a2 += x[i + 2]; a3 += x[i + 3];
      a4 += x[i + 4]; a5 += x[i + 5]; a6 += x[i + 6]; a7 += x[i + 7];
    }
  }
  double t = 0;
  for (; i < n; i++) t += x[i * s];
  return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + t;
}

/* Reduces one strided run of n > 0 elements (n == 0 only for sum/mean/prod/norm). */
static double run_reduce(int op, const double *x, int64_t n, int64_t s, double p, int ddof) {
  switch (op) {
    case ER_SUM: return run_sum(x, n, s);
    case ER_MEAN: return run_sum(x, n, s) / (double)n;
    case ER_PROD: { double r = 1; for (int64_t i = 0; i < n; i++) r *= x[i * s]; return r; }
    case ER_MAX: case ER_MIN: case ER_ARGMAX: case ER_ARGMIN: {
      int want_max = op == ER_MAX || op == ER_ARGMAX;
      double best = x[0];
      int64_t bi = 0;
      for (int64_t i = 1; i < n && best == best; i++) {
        double v = x[i * s];
        if (v != v || (want_max ? v > best : v < best)) { best = v; bi = i; }
      }
      return (op == ER_MAX || op == ER_MIN) ? best : (double)bi;
    }
    case ER_VAR: case ER_STD: {
      double m = run_sum(x, n, s) / (double)n, acc = 0;
      for (int64_t i = 0; i < n; i++) { double d = x[i * s] - m; acc += d * d; }
      double v = n - ddof > 0 ? acc / (double)(n - ddof) : NAN;
      return op == ER_VAR ? v : sqrt(v);
    }
    case ER_NORM: {
      double acc = 0;
      if (p == 2) {
        double scale = 0;   /* scaled to avoid overflow, as dnrm2 does */
        for (int64_t i = 0; i < n; i++) {
          double a = fabs(x[i * s]);
          if (a != a) return a;
          if (a > scale) scale = a;
        }
        if (scale == 0 || isinf(scale)) return scale;
        for (int64_t i = 0; i < n; i++) { double a = x[i * s] / scale; acc += a * a; }
        return scale * sqrt(acc);
      }
      if (p == 1) { for (int64_t i = 0; i < n; i++) acc += fabs(x[i * s]); return acc; }
      if (isinf(p)) {
        for (int64_t i = 0; i < n; i++) { double a = fabs(x[i * s]); if (a > acc || a != a) acc = a; }
        return acc;
      }
      if (p == 0) { for (int64_t i = 0; i < n; i++) acc += x[i * s] != 0; return acc; }
      for (int64_t i = 0; i < n; i++) acc += pow(fabs(x[i * s]), p);
      return pow(acc, 1 / p);
    }
    case ER_LOGSUMEXP: {
      double m = x[0];
      for (int64_t i = 1; i < n; i++) if (x[i * s] > m) m = x[i * s];
      if (isinf(m)) return m;
      double acc = 0;
      for (int64_t i = 0; i < n; i++) acc += exp(x[i * s] - m);
      return m + log(acc);
    }
  }
  return NAN;
}

static int needs_elements(int op) {
  return op == ER_MAX || op == ER_MIN || op == ER_ARGMAX || op == ER_ARGMIN || op == ER_LOGSUMEXP;
}

/* A full reduction over n contiguous elements in chunks: each chunk's partial result is
 * computed on its own (the chunks of a group split between the threads), then the partials
 * are merged in order, so the result does not depend on the thread count. Ctrl-C is polled
 * between groups: logsumexp or a norm(3) of 10^9 elements takes seconds. */
#define CHUNK ((int64_t)1 << 16)
#define GROUP 32   /* chunks per group: 2^21 elements */

typedef struct { double v, w; int64_t i; } partial;   /* a chunk's result (see chunk_partial) */

typedef struct {
  int op, ddof;
  double p;
  const double *x;
  int64_t n, first;   /* chunks [first, ...) of the group */
  partial *out;
} chunk_job;

/* v: the chunk's sum, product, norm, logsumexp or mean; w: its M2 (var/std); i: the index
 * of its best element (max/min/argmax/argmin) */
static partial chunk_partial(int op, const double *c, int64_t len, double p) {
  partial r = {0, 0, 0};
  switch (op) {
    case ER_SUM: case ER_MEAN: r.v = run_sum(c, len, 1); break;
    case ER_MAX: case ER_MIN: case ER_ARGMAX: case ER_ARGMIN: {
      int want_max = op == ER_MAX || op == ER_ARGMAX;
      r.i = (int64_t)run_reduce(want_max ? ER_ARGMAX : ER_ARGMIN, c, len, 1, p, 0);
      r.v = c[r.i];
      break;
    }
    case ER_VAR: case ER_STD: {
      r.v = run_sum(c, len, 1) / (double)len;
      for (int64_t i = 0; i < len; i++) { double d = c[i] - r.v; r.w += d * d; }
      break;
    }
    default: r.v = run_reduce(op, c, len, 1, p, 0); break;   /* prod, norm, logsumexp */
  }
  return r;
}

static void chunk_range(void *ctx, int64_t lo, int64_t hi) {
  const chunk_job *j = ctx;
  for (int64_t t = lo; t < hi; t++) {
    int64_t off = (j->first + t) * CHUNK, len = j->n - off < CHUNK ? j->n - off : CHUNK;
    j->out[t] = chunk_partial(j->op, j->x + off, len, j->p);
  }
}

static int reduce_chunked(int op, const double *x, int64_t n, double p, int ddof, double *out,
                          const char *name) {
  if (n <= CHUNK) { *out = run_reduce(op, x, n, 1, p, ddof); return ENTRO_OK; }
  double acc = op == ER_PROD ? 1 : 0, best = 0, mean = 0, m2 = 0, big = 0;
  int64_t bi = 0, seen = 0, nchunks = (n + CHUNK - 1) / CHUNK;
  int norm2 = op == ER_NORM && p == 2;
  partial part[GROUP];
  for (int64_t g0 = 0; g0 < nchunks; g0 += GROUP) {
    if (entro_check_interrupt(name)) return ENTRO_EINTR;
    int64_t count = nchunks - g0 < GROUP ? nchunks - g0 : GROUP;
    chunk_job job = {op, ddof, p, x, n, g0, part};
    entro_parallel_for_cost(count, count * CHUNK, chunk_range, &job);
    for (int64_t t = 0; t < count; t++) {   /* merge in order */
      int64_t off = (g0 + t) * CHUNK, len = n - off < CHUNK ? n - off : CHUNK;
      double v = part[t].v;
      switch (op) {
        case ER_SUM: case ER_MEAN: acc += v; break;
        case ER_PROD: acc *= v; break;
        case ER_MAX: case ER_MIN: case ER_ARGMAX: case ER_ARGMIN: {
          int want_max = op == ER_MAX || op == ER_ARGMAX;
          if (off == 0 || v != v || (best == best && (want_max ? v > best : v < best))) {
            if (!(best != best && off > 0)) { best = v; bi = off + part[t].i; }
          }
          break;
        }
        case ER_VAR: case ER_STD: {   /* Chan et al.: merge (count, mean, M2) */
          int64_t tot = seen + len;
          double delta = v - mean;
          mean += delta * (double)len / (double)tot;
          m2 += part[t].w + delta * delta * (double)seen * (double)len / (double)tot;
          seen = tot;
          break;
        }
        case ER_NORM:
          if (norm2) {   /* sqrt of the sum of squared chunk norms, scaled */
            if (v != v) { *out = v; return ENTRO_OK; }
            if (v > big) { acc = acc * (big / v) * (big / v); big = v; }
            if (big > 0) acc += (v / big) * (v / big);
          } else if (isinf(p)) {
            if (v > acc || v != v) acc = v;
          } else if (p == 0 || p == 1) {
            acc += v;
          } else {
            acc += pow(v, p);
          }
          break;
        case ER_LOGSUMEXP:   /* merge chunk log-sum-exps */
          if (off == 0) { big = v; acc = 1; }
          else if (v > big) { acc = acc * exp(big - v) + 1; big = v; }
          else acc += exp(v - big);
          break;
      }
    }
  }
  switch (op) {
    case ER_MEAN: *out = acc / (double)n; break;
    case ER_MAX: case ER_MIN: *out = best; break;
    case ER_ARGMAX: case ER_ARGMIN: *out = (double)bi; break;
    case ER_VAR: case ER_STD: {
      double v = n - ddof > 0 ? m2 / (double)(n - ddof) : NAN;
      *out = op == ER_VAR ? v : sqrt(v);
      break;
    }
    case ER_NORM:
      *out = norm2 ? big * sqrt(acc) : (isinf(p) || p == 0 || p == 1) ? acc : pow(acc, 1 / p);
      break;
    case ER_LOGSUMEXP: *out = isinf(big) ? big : big + log(acc); break;
    default: *out = acc;
  }
  return ENTRO_OK;
}

int entro_reduce_all(int op, const entro_tensor *a, double p, int ddof, double *result) {
  const char *name = entro_reduce_names[op];
  if (a->numel == 0 && needs_elements(op))
    return entro_fail(ENTRO_EINVAL, "%s: the tensor is empty", name);
  if (a->numel == 0) {
    *result = op == ER_PROD ? 1 : (op == ER_SUM || op == ER_NORM) ? 0 : NAN;
    return ENTRO_OK;
  }
  if (entro_check_interrupt(name)) return ENTRO_EINTR;
  entro_tensor *c = entro_tensor_contiguous(a);
  if (!c) return entro_errcode();
  int st = reduce_chunked(op, entro_data(c), c->numel, p, ddof, result, name);
  entro_tensor_release(c);
  return st ? st : entro_check_interrupt(name);
}

static void add_into_inner(void *ctx, int64_t n, double **p, const int64_t *s) {
  (void)ctx;
  double *o = p[0];
  const double *x = p[1];
  if (s[0] == 1 && s[1] == 1) for (int64_t i = 0; i < n; i++) o[i] += x[i];
  else if (s[0] == 0) o[0] += run_sum(x, n, s[1]);
  else for (int64_t i = 0; i < n; i++) o[i * s[0]] += x[i * s[1]];
}

entro_tensor *entro_reduce_dim(int op, entro_tensor *out, const entro_tensor *a, int dim,
                               int keepdim, double p, int ddof) {
  const char *name = entro_reduce_names[op];
  char b1[200], b2[200];
  if (dim < 0 || dim >= a->ndim) {
    entro_fail(ENTRO_EINVAL, "%s: dimension %d out of range for shape %s", name, dim + 1,
               entro_tensor_shape_str(b1, a));
    return NULL;
  }
  int64_t len = a->shape[dim];
  if (len == 0 && needs_elements(op)) {
    entro_fail(ENTRO_EINVAL, "%s: dimension %d of shape %s is empty", name, dim + 1,
               entro_tensor_shape_str(b1, a));
    return NULL;
  }
  int64_t kshape[ENTRO_MAXDIM];
  memcpy(kshape, a->shape, sizeof kshape);
  kshape[dim] = 1;
  /* the result, viewed with the reduced dim kept (size 1) */
  entro_tensor *r;
  if (out) {
    int64_t want[ENTRO_MAXDIM];
    int wn = 0;
    for (int i = 0; i < a->ndim; i++) if (keepdim || i != dim) want[wn++] = kshape[i];
    if (out->ndim != wn || memcmp(out->shape, want, (size_t)wn * sizeof *want)) {
      entro_fail(ENTRO_EINVAL, "%s: out has shape %s, the result has shape %s", name,
                 entro_tensor_shape_str(b1, out), entro_shape_str(b2, wn, want));
      return NULL;
    }
    if (entro_tensor_check_writable(name, out)) return NULL;
    r = keepdim ? (entro_tensor_retain(out), out) : entro_tensor_unsqueeze(out, dim);
    entro_tensor_bump(out);
  } else {
    r = entro_tensor_new(a->ndim, kshape);
  }
  if (!r) return NULL;
  int status = ENTRO_OK;
  if ((op == ER_SUM || op == ER_MEAN) && a->stride[dim] != 1 && len > 1) {
    /* accumulate whole slices: streams through memory instead of striding down columns */
    entro_tensor_fill(r, 0);
    entro_iter it;
    const entro_tensor *ops[2] = {r, a};
    entro_iter_prepare(&it, a->ndim, a->shape, 2, ops);
    it.serial = 1;   /* the output accumulates (stride 0): one thread */
    status = entro_iter_run(&it, add_into_inner, NULL, name);
    if (!status && op == ER_MEAN) {
      entro_tensor *m = entro_affine(r, r, 1.0 / (double)len, 0);
      if (m) entro_tensor_release(m); else status = entro_errcode();
    }
  } else {
    /* one run along dim per output element */
    int64_t idx[ENTRO_MAXDIM] = {0};
    int nd = a->ndim;
    int64_t count = r->numel, since = 0;
    for (int64_t e = 0; e < count; e++) {
      const double *x = entro_data(a);
      double *o = entro_data(r);
      for (int d = 0; d < nd; d++) { x += idx[d] * a->stride[d]; o += idx[d] * r->stride[d]; }
      *o = len == 0 ? (op == ER_PROD ? 1 : (op == ER_SUM || op == ER_NORM) ? 0 : NAN)
                    : run_reduce(op, x, len, a->stride[dim], p, ddof);
      if ((since += len + 1) > ((int64_t)1 << 22)) {
        since = 0;
        if ((status = entro_check_interrupt(name))) break;
      }
      for (int d = nd - 1; d >= 0; d--) {
        if (d == dim) continue;
        if (++idx[d] < a->shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  if (status) { entro_tensor_release(r); return NULL; }
  if (keepdim || out) {
    if (out) { entro_tensor_release(r); entro_tensor_retain(out); return out; }
    return r;
  }
  entro_tensor *v = entro_tensor_squeeze(r, dim);
  entro_tensor_release(r);
  return v;
}

entro_tensor *entro_cumsum(entro_tensor *out, const entro_tensor *a, int dim) {
  char b1[200], b2[200];
  if (dim < 0 || dim >= a->ndim) {
    entro_fail(ENTRO_EINVAL, "cumsum: dimension %d out of range for shape %s", dim + 1,
               entro_tensor_shape_str(b1, a));
    return NULL;
  }
  entro_tensor *r;
  if (out) {
    if (!entro_tensor_same_shape(out, a)) {
      entro_fail(ENTRO_EINVAL, "cumsum: out has shape %s, the result has shape %s",
                 entro_tensor_shape_str(b1, out), entro_tensor_shape_str(b2, a));
      return NULL;
    }
    if (entro_tensor_check_writable("cumsum", out)) return NULL;
    entro_tensor_retain(out);
    entro_tensor_bump(out);
    r = out;
  } else {
    r = entro_tensor_new_like(a);
    if (!r) return NULL;
  }
  /* walk the positions with index dim fixed at 0, then run along dim (works in place) */
  int nd = a->ndim;
  int64_t idx[ENTRO_MAXDIM] = {0}, len = a->shape[dim];
  int64_t count = len ? a->numel / len : 0;
  for (int64_t e = 0; e < count; e++) {
    const double *x = entro_data(a);
    double *o = entro_data(r);
    for (int d = 0; d < nd; d++) { x += idx[d] * a->stride[d]; o += idx[d] * r->stride[d]; }
    double acc = 0;
    for (int64_t i = 0; i < len; i++) { acc += x[i * a->stride[dim]]; o[i * r->stride[dim]] = acc; }
    for (int d = nd - 1; d >= 0; d--) {
      if (d == dim) continue;
      if (++idx[d] < a->shape[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

entro_tensor *entro_sum_to_shape(const entro_tensor *a, int ndim, const int64_t *shape) {
  int same = ndim == a->ndim;
  for (int i = 0; same && i < ndim; i++) same = shape[i] == a->shape[i];
  if (same) { entro_tensor *r = (entro_tensor *)a; entro_tensor_retain(r); return r; }
  /* shape must broadcast to a's shape, or the walk below would run off the result */
  int fits = ndim <= a->ndim;
  for (int i = 0; fits && i < ndim; i++) {
    int64_t want = a->shape[i + a->ndim - ndim];
    fits = shape[i] == want || shape[i] == 1;
  }
  if (!fits) {
    char b1[200], b2[200];
    entro_fail(ENTRO_EINVAL, "sum_to_shape: shape %s does not broadcast to %s",
               entro_shape_str(b1, ndim, shape), entro_tensor_shape_str(b2, a));
    return NULL;
  }
  entro_tensor *r = entro_tensor_zeros(ndim, shape);
  if (!r) return NULL;
  entro_iter it;
  const entro_tensor *ops[2] = {r, a};
  entro_iter_prepare(&it, a->ndim, a->shape, 2, ops);
  it.serial = 1;   /* the output accumulates (stride 0): one thread */
  if (entro_iter_run(&it, add_into_inner, NULL, "sum_to_shape")) {
    entro_tensor_release(r);
    return NULL;
  }
  return r;
}
