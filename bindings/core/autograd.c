/* autograd.c -- tape nodes and the backward pass. */
#include <stdlib.h>
#include "autograd.h"

void entro_node_release(entro_node *n) {
  if (!n || --n->refs > 0) return;
  for (int i = 0; i < n->n_in; i++) entro_tensor_release(n->in[i]);
  for (int i = 0; i < ENTRO_NODE_MAXSAVED; i++) entro_tensor_release(n->saved[i]);
  entro_tensor_release(n->gacc);
  free(n);
}
