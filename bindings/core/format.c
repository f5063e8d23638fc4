/* format.c -- numpy-style printing of tensors (see format.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"

typedef struct { char *s; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0) { b->oom = 1; return; }
    if (b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
    size_t cap = (b->cap + (size_t)k + 64) * 2;
    char *s = realloc(b->s, cap);
    if (!s) { b->oom = 1; return; }
    b->s = s;
    b->cap = cap;
  }
}

typedef struct {
  const entro_tensor *t;
  int elide;
  int64_t edge;
  int mode;        /* 0: integers, 1: fixed, 2: scientific */
  int width;
} fmtctx;

static int shown(const fmtctx *c, int d, int64_t i) {
  int64_t n = c->t->shape[d];
  return !c->elide || n <= 2 * c->edge + 1 || i < c->edge || i >= n - c->edge;
}

static int fmt_num(const fmtctx *c, char *buf, size_t n, double v) {
  if (isnan(v)) return snprintf(buf, n, "nan");
  if (isinf(v)) return snprintf(buf, n, v > 0 ? "inf" : "-inf");
  if (c->mode == 0) return snprintf(buf, n, "%.0f", v);
  if (c->mode == 1) return snprintf(buf, n, "%.4f", v);
  return snprintf(buf, n, "%.4e", v);
}

/* Visits every displayed element to choose the number format and the column width. */
static void scan(fmtctx *c, int d, int64_t off, double *maxa, double *mina, int *allint, int pass) {
  const entro_tensor *t = c->t;
  if (d == t->ndim) {
    double v = t->st->data[off];
    if (pass == 0) {
      if (isfinite(v)) {
        double a = fabs(v);
        if (a > *maxa) *maxa = a;
        if (a > 0 && a < *mina) *mina = a;
        if (v != floor(v) || a >= 1e15) *allint = 0;
      }
    } else {
      char buf[64];
      int w = fmt_num(c, buf, sizeof buf, v);
      if (w > c->width) c->width = w;
    }
    return;
  }
  for (int64_t i = 0; i < t->shape[d]; i++)
    if (shown(c, d, i)) scan(c, d + 1, off + i * t->stride[d], maxa, mina, allint, pass);
}

static void emit(fmtctx *c, sbuf *b, int d, int64_t off) {
  const entro_tensor *t = c->t;
  if (d == t->ndim) {
    char buf[64];
    fmt_num(c, buf, sizeof buf, t->st->data[off]);
    put(b, "%*s", c->width, buf);
    return;
  }
  put(b, "[");
  int64_t n = t->shape[d];
  for (int64_t i = 0; i < n; i++) {
    if (!shown(c, d, i)) {
      if (i == c->edge) {   /* the marker takes an item's place, separators and all */
        if (d == t->ndim - 1) put(b, " ...");
        else {
          for (int k = 0; k < t->ndim - d - 1; k++) put(b, "\n");
          put(b, "%*s...", d + 1, "");
        }
      }
      continue;
    }
    if (i > 0) {
      if (d == t->ndim - 1) put(b, " ");
      else {
        for (int k = 0; k < t->ndim - d - 1; k++) put(b, "\n");
        put(b, "%*s", d + 1, "");
      }
    }
    emit(c, b, d + 1, off + i * t->stride[d]);
  }
  put(b, "]");
}

char *entro_tensor_format(const entro_tensor *t, int64_t threshold, int64_t edge) {
  sbuf b = {NULL, 0, 0, 0};
  fmtctx c = {t, t->numel > threshold, edge, 1, 1};
  double maxa = 0, mina = HUGE_VAL;
  int allint = 1;
  scan(&c, 0, t->offset, &maxa, &mina, &allint, 0);
  if (allint) c.mode = 0;
  else if (maxa >= 1e5 || (mina < 1e-4 && mina > 0)) c.mode = 2;
  scan(&c, 0, t->offset, &maxa, &mina, &allint, 1);
  if (t->numel > 0 || t->ndim == 0) emit(&c, &b, 0, t->offset);
  else put(&b, "[]");
  char sh[200];
  put(&b, "\n[entro.Tensor %s]", t->ndim ? entro_tensor_shape_str(sh, t) : "scalar");
  if (b.oom) {
    free(b.s);
    entro_fail(ENTRO_ENOMEM, "tostring: out of memory");
    return NULL;
  }
  return b.s;
}
