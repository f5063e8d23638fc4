/* status.c -- the per-thread error message behind status.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "status.h"

static _Thread_local char errbuf[512];
static _Thread_local int errcode;

int entro_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  errcode = code;
  return code;
}

const char *entro_errmsg(void) { return errbuf; }
int entro_errcode(void) { return errcode; }

char *entro_shape_str(char *buf, int ndim, const int64_t *shape) {
  /* buf must hold 8 dims of 20 digits: callers use char[200]. */
  if (ndim == 0) { strcpy(buf, "scalar"); return buf; }
  char *p = buf;
  for (int i = 0; i < ndim; i++)
    p += sprintf(p, i ? "x%lld" : "%lld", (long long)shape[i]);
  return buf;
}

/* Set by the host's SIGINT handler; polled by long kernels (interrupt.h). */
#include "interrupt.h"
volatile sig_atomic_t entro_interrupted;
