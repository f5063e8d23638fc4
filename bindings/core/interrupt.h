/* interrupt.h -- Ctrl-C for long kernels.
 *
 * The host's SIGINT handler sets entro_interrupted; long kernels poll it between chunks of
 * work and fail with ENTRO_EINTR, and the Lua glue clears it and raises "interrupted". */
#ifndef ENTRO_INTERRUPT_H
#define ENTRO_INTERRUPT_H
#include <signal.h>
#include "status.h"

extern volatile sig_atomic_t entro_interrupted;

static inline int entro_check_interrupt(const char *op) {
  if (entro_interrupted) return entro_fail(ENTRO_EINTR, "%s: interrupted", op);
  return ENTRO_OK;
}

#endif
