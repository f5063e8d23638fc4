/* iter.c -- the strided multi-operand walker behind every elementwise kernel. */
#include <string.h>
#include "iter.h"
#include "interrupt.h"
#include "parallel.h"

void entro_broadcast_strides(const entro_tensor *t, int ndim, const int64_t *shape, int64_t *st) {
  int lead = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    int j = i - lead;
    st[i] = (j < 0 || (t->shape[j] == 1 && shape[i] != 1)) ? 0 : t->stride[j];
  }
}

void entro_iter_prepare(entro_iter *it, int ndim, const int64_t *shape, int nop,
                        const entro_tensor *const *ops) {
  int64_t st[ENTRO_ITER_MAXOP][ENTRO_MAXDIM];
  it->nop = nop;
  it->serial = 0;
  it->numel = 1;
  for (int i = 0; i < ndim; i++) it->numel *= shape[i];
  /* the common case, every operand contiguous in exactly this shape: one flat run */
  int flat = 1;
  for (int k = 0; k < nop && flat; k++) {
    const entro_tensor *t = ops[k];
    flat = t->ndim == ndim && entro_tensor_is_contiguous(t);
    for (int i = 0; flat && i < ndim; i++) flat = t->shape[i] == shape[i];
  }
  if (flat) {
    it->ndim = 1;
    it->shape[0] = it->numel;
    for (int k = 0; k < nop; k++) { it->stride[k][0] = 1; it->base[k] = entro_data(ops[k]); }
    return;
  }
  for (int k = 0; k < nop; k++) {
    entro_broadcast_strides(ops[k], ndim, shape, st[k]);
    it->base[k] = entro_data(ops[k]);
  }
  /* drop size-1 dims, then merge dim i into i+1 when every operand is contiguous across */
  int n = 0;
  int64_t sh[ENTRO_MAXDIM];
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1) continue;
    int merge = n > 0;
    for (int k = 0; k < nop && merge; k++)
      if (it->stride[k][n - 1] != st[k][i] * shape[i]) merge = 0;
    if (merge) {
      sh[n - 1] *= shape[i];
      for (int k = 0; k < nop; k++) it->stride[k][n - 1] = st[k][i];
    } else {
      sh[n] = shape[i];
      for (int k = 0; k < nop; k++) it->stride[k][n] = st[k][i];
      n++;
    }
  }
  if (n == 0) { sh[0] = 1; for (int k = 0; k < nop; k++) it->stride[k][0] = 1; n = 1; }
  it->ndim = n;
  memcpy(it->shape, sh, (size_t)n * sizeof *sh);
}

/* One flat run split by index range (parallel.h). */
typedef struct {
  entro_inner_fn fn;
  void *ctx;
  int nop;
  double *base[ENTRO_ITER_MAXOP];
  const int64_t *s;
} run_ctx;

static void run_range(void *c, int64_t lo, int64_t hi) {
  run_ctx *rc = c;
  double *p[ENTRO_ITER_MAXOP];
  for (int k = 0; k < rc->nop; k++) p[k] = rc->base[k] + lo * rc->s[k];
  if (hi > lo) rc->fn(rc->ctx, hi - lo, p, rc->s);
}

int entro_iter_run(entro_iter *it, entro_inner_fn fn, void *ctx, const char *opname) {
  if (it->numel == 0) return ENTRO_OK;
  int nd = it->ndim, nop = it->nop;
  int64_t inner = it->shape[nd - 1];
  int64_t s[ENTRO_ITER_MAXOP];
  for (int k = 0; k < nop; k++) s[k] = it->stride[k][nd - 1];
  if (nd == 1) {
    /* one run: split it so Ctrl-C is seen within a fraction of a second, and each piece
     * over the cores (memory-bound loops reach the machine's bandwidth, not one core's) */
    const int64_t chunk = (int64_t)1 << 22;
    run_ctx rc = {fn, ctx, nop, {0}, s};
    for (int64_t off = 0; off < inner; off += chunk) {
      if (entro_check_interrupt(opname)) return ENTRO_EINTR;
      int64_t len = inner - off < chunk ? inner - off : chunk;
      for (int k = 0; k < nop; k++) rc.base[k] = it->base[k] + off * s[k];
      if (it->serial) run_range(&rc, 0, len);
      else entro_parallel_for(len, run_range, &rc);
    }
    return ENTRO_OK;
  }
  int64_t idx[ENTRO_MAXDIM] = {0};
  double *p[ENTRO_ITER_MAXOP];
  int64_t done = 0, since = 0;
  for (;;) {
    for (int k = 0; k < nop; k++) {
      int64_t off = 0;
      for (int d = 0; d < nd - 1; d++) off += idx[d] * it->stride[k][d];
      p[k] = it->base[k] + off;
    }
    fn(ctx, inner, p, s);
    done += inner;
    since += inner;
    if (since >= ((int64_t)1 << 22)) {
      since = 0;
      if (entro_check_interrupt(opname)) return ENTRO_EINTR;
    }
    int d = nd - 2;
    while (d >= 0 && ++idx[d] == it->shape[d]) idx[d--] = 0;
    if (d < 0) break;
  }
  (void)done;
  return ENTRO_OK;
}
