/* matmul.c -- matrix products on OpenBLAS.
 *
 * A transposed view is handed to dgemm as a transpose flag, never copied; only operands
 * whose strides BLAS cannot express (expanded or doubly strided views) are copied. Large
 * products run in row blocks so Ctrl-C is noticed within a fraction of a second, and each
 * block is split between entro's threads (blas.h says why not OpenBLAS's). */
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "blas.h"
#include "interrupt.h"
#include "parallel.h"

/* How BLAS can read a 2-D operand without a copy: NoTrans with lda, or Trans with lda. */
static int blas_layout(const entro_tensor *t, int *trans, int *ld) {
  int64_t r = t->shape[0], c = t->shape[1];
  if ((t->stride[1] == 1 || c <= 1) && t->stride[0] >= (c > 1 ? c : 1) && t->stride[0] < INT32_MAX) {
    *trans = 0; *ld = (int)(t->stride[0] > 0 ? t->stride[0] : 1);
    if (r <= 1) *ld = (int)(c > 1 ? c : 1);
    return 1;
  }
  if ((t->stride[0] == 1 || r <= 1) && t->stride[1] >= (r > 1 ? r : 1) && t->stride[1] < INT32_MAX) {
    *trans = 1; *ld = (int)(t->stride[1] > 0 ? t->stride[1] : 1);
    if (c <= 1) *ld = (int)(r > 1 ? r : 1);
    return 1;
  }
  return 0;
}

static int too_big(const char *op, int64_t v) {
  if (v >= INT32_MAX) return entro_fail(ENTRO_EINVAL, "%s: size %lld exceeds BLAS's int range", op, (long long)v);
  return ENTRO_OK;
}

/* A product split between the threads by rows of c, or by columns when c is wider than
 * tall and has under 256 rows; each part is one single-threaded dgemm. Measured in place:
 * rows won for every shape of a Hessian-vector product, even where the operand every part
 * reads whole is the bigger one (256x784x1024: 3.1 ms by rows, 3.4 by columns, 3.2 with
 * OpenBLAS's threads), while columns kept a training step at batch 128 3 % faster. OpenBLAS
 * treats the edges of a range its own way, so the last bits of a product can depend on the
 * thread count (as with OpenBLAS's own threads). */
#define TILE 16              /* parts start at multiples of 16 rows or columns */
#define GEMM_COST_DIV 8      /* a product counts as m n k / 8 elements of work */

typedef struct {
  int at, bt;
  int64_t m, n, k;
  double alpha, beta;
  const double *a;
  int lda;
  const double *b;
  int ldb;
  double *c;
  int ldc, split_rows;
} gemm_job;

static void gemm_tiles(void *ctx, int64_t lo, int64_t hi) {
  const gemm_job *j = ctx;
  int64_t len = j->split_rows ? j->m : j->n, p0 = lo * TILE, p1 = hi * TILE < len ? hi * TILE : len;
  if (p1 <= p0) return;
  const double *a = j->a, *b = j->b;
  double *c = j->c;
  int64_t m = j->m, n = j->n;
  if (j->split_rows) { a += j->at ? p0 : p0 * j->lda; c += p0 * j->ldc; m = p1 - p0; }
  else { b += j->bt ? p0 * j->ldb : p0; c += p0; n = p1 - p0; }
  entro_blas.dgemm(ECB_ROW, j->at ? ECB_TRANS : ECB_NOTRANS, j->bt ? ECB_TRANS : ECB_NOTRANS,
                   (int)m, (int)n, (int)j->k, j->alpha, a, j->lda, b, j->ldb, j->beta, c, j->ldc);
}

int entro_gemm(double alpha, const entro_tensor *a, int ta, const entro_tensor *b, int tb,
               double beta, entro_tensor *c) {
  int64_t m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
  int64_t k2 = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
  if (k != k2 || c->shape[0] != m || c->shape[1] != n) {
    char x[200], y[200];
    return entro_fail(ENTRO_EINVAL, "matmul: inner sizes differ (%s @ %s)",
                      entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b));
  }
  if (too_big("matmul", m) || too_big("matmul", n) || too_big("matmul", k)) return ENTRO_EINVAL;
  if (m > 0 && n > 0 && ((c->stride[1] != 1 && n > 1) ||
                         (m > 1 && (c->stride[0] < n || c->stride[0] >= INT32_MAX))))
    return entro_fail(ENTRO_EINVAL, "matmul: the result must have contiguous rows");
  if (entro_blas_init()) return entro_errcode();
  entro_tensor *ac = NULL, *bc = NULL;
  int at, lda, bt, ldb;
  if (!blas_layout(a, &at, &lda)) {
    if (!(ac = entro_tensor_clone(a))) return entro_errcode();
    blas_layout(ac, &at, &lda);
    a = ac;
  }
  if (!blas_layout(b, &bt, &ldb)) {
    if (!(bc = entro_tensor_clone(b))) { entro_tensor_release(ac); return entro_errcode(); }
    blas_layout(bc, &bt, &ldb);
    b = bc;
  }
  at ^= ta; bt ^= tb;
  /* c's rows lie stride[0] apart (a column of a wider matrix too); one row needs no stride */
  int ldc = m > 1 ? (int)c->stride[0] : (int)(n > 1 ? n : 1);
  int status = ENTRO_OK;
  if (m == 0 || n == 0) goto done;
  if (k == 0) {
    if (beta == 0) entro_tensor_fill(c, 0);
    else { entro_tensor *s = entro_affine(c, c, beta, 0); entro_tensor_release(s); }
    goto done;
  }
  /* row blocks of about 4e9 flops: a few hundredths of a second each */
  int64_t block = (int64_t)2e9 / (n * k) + 1;
  if (block >= m) block = m;
  for (int64_t i0 = 0; i0 < m; i0 += block) {
    if ((status = entro_check_interrupt("matmul"))) break;
    int64_t mb = m - i0 < block ? m - i0 : block;
    gemm_job job = {at, bt, mb, n, k, alpha, beta, entro_data(a) + (at ? i0 : i0 * lda), lda,
                    entro_data(b), ldb, entro_data(c) + i0 * ldc, ldc, mb >= n || mb >= 256};
    int64_t tiles = ((job.split_rows ? mb : n) + TILE - 1) / TILE;
    entro_parallel_for_cost(tiles, mb * n * k / GEMM_COST_DIV, gemm_tiles, &job);
  }
done:
  entro_tensor_bump(c);
  entro_tensor_release(ac);
  entro_tensor_release(bc);
  return status;
}

static int rows_writable(const entro_tensor *c) {
  return c->ndim == 2 && (c->stride[1] == 1 || c->shape[1] <= 1) &&
         c->stride[0] >= (c->shape[1] > 1 ? c->shape[1] : 1);
}

static entro_tensor *check_out(entro_tensor *out, int nd, const int64_t *shape) {
  char x[200], y[200];
  if (!out) return entro_tensor_new(nd, shape);
  if (out->ndim != nd || memcmp(out->shape, shape, (size_t)nd * sizeof *shape)) {
    entro_fail(ENTRO_EINVAL, "matmul: out has shape %s, the result has shape %s",
               entro_tensor_shape_str(x, out), entro_shape_str(y, nd, shape));
    return NULL;
  }
  if (!entro_tensor_is_contiguous(out)) {
    entro_fail(ENTRO_EINVAL, "matmul: out must be contiguous");
    return NULL;
  }
  entro_tensor_retain(out);
  return out;
}

/* Long dot products: blocks of DOT_BLOCK elements, one ddot each, split between the
 * threads and summed in order, so the result does not depend on the thread count. */
#define DOT_BLOCK 32768

typedef struct { const double *p, *q; int64_t n, sa, sb; double *part; } dot_job;

static void dot_blocks(void *ctx, int64_t lo, int64_t hi) {
  const dot_job *j = ctx;
  for (int64_t b = lo; b < hi; b++) {
    int64_t i0 = b * DOT_BLOCK, len = j->n - i0 < DOT_BLOCK ? j->n - i0 : DOT_BLOCK;
    j->part[b] = entro_blas.ddot((int)len, j->p + i0 * j->sa, (int)j->sa, j->q + i0 * j->sb, (int)j->sb);
  }
}

static double long_dot(const double *p, int64_t sa, const double *q, int64_t sb, int64_t n) {
  double stack[64], *part = stack;
  int64_t nb = (n + DOT_BLOCK - 1) / DOT_BLOCK;
  if (nb > 64 && !(part = malloc((size_t)nb * sizeof *part))) {   /* one call, then */
    double r = 0;
    for (int64_t i = 0; i < n; i += INT32_MAX / 2) {
      int64_t len = n - i < INT32_MAX / 2 ? n - i : INT32_MAX / 2;
      r += entro_blas.ddot((int)len, p + i * sa, (int)sa, q + i * sb, (int)sb);
    }
    return r;
  }
  dot_job job = {p, q, n, sa, sb, part};
  entro_parallel_for_cost(nb, n, dot_blocks, &job);
  double r = 0;
  for (int64_t b = 0; b < nb; b++) r += part[b];
  if (part != stack) free(part);
  return r;
}

double entro_dot(const entro_tensor *a, const entro_tensor *b, int *status) {
  char x[200], y[200];
  *status = ENTRO_OK;
  if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0]) {
    *status = entro_fail(ENTRO_EINVAL, "dot: needs two vectors of one length (%s . %s)",
                         entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b));
    return 0;
  }
  int64_t n = a->shape[0];
  const double *p = entro_data(a), *q = entro_data(b);
  int64_t sa = a->stride[0], sb = b->stride[0];
  if (n >= 64 && sa > 0 && sb > 0 && sa < INT32_MAX && sb < INT32_MAX && !entro_blas_init()) {
    if (n >= 2 * DOT_BLOCK) return long_dot(p, sa, q, sb, n);
    return entro_blas.ddot((int)n, p, (int)sa, q, (int)sb);   /* vectorised, unrolled */
  }
  double acc[4] = {0}, t = 0;
  int64_t i = 0;
  if (sa == 1 && sb == 1)
    for (; i + 4 <= n; i += 4)
      for (int j = 0; j < 4; j++) acc[j] += p[i + j] * q[i + j];
  for (; i < n; i++) t += p[i * sa] * q[i * sb];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]) + t;
}

entro_tensor *entro_outer(entro_tensor *out, const entro_tensor *a, const entro_tensor *b) {
  char x[200], y[200];
  if (a->ndim != 1 || b->ndim != 1) {
    entro_fail(ENTRO_EINVAL, "outer: needs two vectors (%s, %s)", entro_tensor_shape_str(x, a),
               entro_tensor_shape_str(y, b));
    return NULL;
  }
  entro_tensor *av = entro_tensor_unsqueeze(a, 1), *bv = entro_tensor_unsqueeze(b, 0);
  entro_tensor *r = av && bv ? entro_binary(EB_MUL, out, av, bv) : NULL;
  entro_tensor_release(av);
  entro_tensor_release(bv);
  return r;
}

entro_tensor *entro_matmul(entro_tensor *out, const entro_tensor *a, const entro_tensor *b) {
  char x[200], y[200];
  if (a->ndim == 0 || b->ndim == 0) {
    entro_fail(ENTRO_EINVAL, "matmul: needs tensors of at least one dimension (%s @ %s)",
               entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b));
    return NULL;
  }
  if (a->ndim == 1 && b->ndim == 1) {
    int st;
    double d = entro_dot(a, b, &st);
    if (st) {
      entro_fail(ENTRO_EINVAL, "matmul: inner sizes differ (%s @ %s)",
                 entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b));
      return NULL;
    }
    entro_tensor *r = check_out(out, 0, NULL);
    if (r) { *entro_data(r) = d; entro_tensor_bump(r); }
    return r;
  }
  /* promote vectors to matrices, remember to drop the added dims */
  entro_tensor *A = a->ndim == 1 ? entro_tensor_unsqueeze(a, 0) : entro_tensor_view_of(a);
  entro_tensor *B = b->ndim == 1 ? entro_tensor_unsqueeze(b, 1) : entro_tensor_view_of(b);
  entro_tensor *r = NULL, *R = NULL;
  if (!A || !B) goto done;
  int64_t m = A->shape[A->ndim - 2], k = A->shape[A->ndim - 1];
  int64_t k2 = B->shape[B->ndim - 2], n = B->shape[B->ndim - 1];
  if (k != k2) {
    entro_fail(ENTRO_EINVAL, "matmul: inner sizes differ (%s @ %s)",
               entro_tensor_shape_str(x, a), entro_tensor_shape_str(y, b));
    goto done;
  }
  /* batch dims broadcast */
  entro_tensor ha, hb;
  memset(&ha, 0, sizeof ha); memset(&hb, 0, sizeof hb);
  ha.ndim = A->ndim - 2; memcpy(ha.shape, A->shape, (size_t)ha.ndim * 8);
  hb.ndim = B->ndim - 2; memcpy(hb.shape, B->shape, (size_t)hb.ndim * 8);
  int bn;
  int64_t bshape[ENTRO_MAXDIM];
  if (entro_broadcast_shape("matmul", &ha, &hb, &bn, bshape)) goto done;
  /* full result shape, and the user-visible one */
  int64_t rs[ENTRO_MAXDIM], us[ENTRO_MAXDIM];
  int rn = bn + 2, un = 0;
  memcpy(rs, bshape, (size_t)bn * 8);
  rs[bn] = m; rs[bn + 1] = n;
  for (int i = 0; i < bn; i++) us[un++] = bshape[i];
  if (a->ndim > 1) us[un++] = m;
  if (b->ndim > 1) us[un++] = n;
  if (!(r = check_out(out, un, us))) goto done;
  if (!(R = entro_tensor_view(r, rn, rs))) goto done;
  entro_tensor_bump(r);
  int64_t nb = 1;
  for (int i = 0; i < bn; i++) nb *= bshape[i];
  int64_t sa[ENTRO_MAXDIM], sb[ENTRO_MAXDIM];
  {
    /* strides of A's and B's batch dims viewed in the broadcast batch shape */
    entro_tensor ta = *A, tb = *B;
    ta.ndim = A->ndim - 2; tb.ndim = B->ndim - 2;
    int lead_a = bn - ta.ndim, lead_b = bn - tb.ndim;
    for (int i = 0; i < bn; i++) {
      int ja = i - lead_a, jb = i - lead_b;
      sa[i] = (ja < 0 || ta.shape[ja] == 1) ? 0 : ta.stride[ja];
      sb[i] = (jb < 0 || tb.shape[jb] == 1) ? 0 : tb.stride[jb];
    }
  }
  int64_t idx[ENTRO_MAXDIM] = {0};
  for (int64_t e = 0; e < nb; e++) {
    entro_tensor ma = *A, mb = *B, mc = *R;
    ma.ndim = mb.ndim = mc.ndim = 2;
    ma.shape[0] = m; ma.shape[1] = k; ma.stride[0] = A->stride[A->ndim - 2]; ma.stride[1] = A->stride[A->ndim - 1];
    mb.shape[0] = k; mb.shape[1] = n; mb.stride[0] = B->stride[B->ndim - 2]; mb.stride[1] = B->stride[B->ndim - 1];
    mc.shape[0] = m; mc.shape[1] = n; mc.stride[0] = R->stride[rn - 2]; mc.stride[1] = R->stride[rn - 1];
    for (int i = 0; i < bn; i++) {
      ma.offset += idx[i] * sa[i];
      mb.offset += idx[i] * sb[i];
      mc.offset += idx[i] * R->stride[i];
    }
    ma.numel = m * k; mb.numel = k * n; mc.numel = m * n;
    if (!rows_writable(&mc) && m > 0 && n > 0) { entro_fail(ENTRO_EINVAL, "matmul: internal layout"); goto fail; }
    if (entro_gemm(1.0, &ma, 0, &mb, 0, 0.0, &mc)) goto fail;
    for (int d = bn - 1; d >= 0; d--) { if (++idx[d] < bshape[d]) break; idx[d] = 0; }
  }
  goto done;
fail:
  entro_tensor_release(r);
  r = NULL;
done:
  entro_tensor_release(A);
  entro_tensor_release(B);
  entro_tensor_release(R);
  return r;
}
