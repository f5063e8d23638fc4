/* iter.h -- walking several strided operands of one shape together (engine-internal).
 *
 * entro_iter_prepare collapses dimensions that are contiguous for every operand, so a
 * contiguous tensor of any shape becomes one flat run; entro_iter_run then calls the
 * kernel once per innermost run with base pointers and innermost strides. */
#ifndef ENTRO_ITER_H
#define ENTRO_ITER_H
#include "tensor.h"

#define ENTRO_ITER_MAXOP 4

typedef struct {
  int ndim, nop;
  int64_t shape[ENTRO_MAXDIM];
  int64_t stride[ENTRO_ITER_MAXOP][ENTRO_MAXDIM];
  double *base[ENTRO_ITER_MAXOP];
  int64_t numel;
  int serial;   /* set after prepare when the kernel keeps state (a generator): one thread */
} entro_iter;

typedef void (*entro_inner_fn)(void *ctx, int64_t n, double **p, const int64_t *s);

/* Operands are viewed with the given shape (each already expanded/broadcast to it). */
void entro_iter_prepare(entro_iter *it, int ndim, const int64_t *shape, int nop,
                        const entro_tensor *const *ops);
/* Runs the kernel; polls for Ctrl-C every few million elements. */
int entro_iter_run(entro_iter *it, entro_inner_fn fn, void *ctx, const char *opname);
/* Strides of t viewed as the broadcast shape (ndim, shape): 0 on broadcast dims. */
void entro_broadcast_strides(const entro_tensor *t, int ndim, const int64_t *shape, int64_t *st);

#endif
