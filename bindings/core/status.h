/* status.h -- how the engine reports failure without knowing about Lua.
 *
 * Every engine function that can fail returns an int status (ENTRO_OK on success) or NULL,
 * and leaves a human-readable message, naming the operation and the offending shapes or
 * values, in a per-thread buffer that the Lua glue turns into a Lua error. */
#ifndef ENTRO_STATUS_H
#define ENTRO_STATUS_H

#include <stdint.h>

enum {
  ENTRO_OK = 0,
  ENTRO_EINVAL,   /* bad argument: shape, index, value */
  ENTRO_ENOMEM,   /* an allocation could not be satisfied */
  ENTRO_EINTR,    /* interrupted by the user (Ctrl-C) */
  ENTRO_EIO,      /* a file could not be read or written, or is malformed */
  ENTRO_ENUM      /* a numerical routine failed (singular matrix, no convergence) */
};

#if defined(__GNUC__)
#define ENTRO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ENTRO_PRINTF(a, b)
#endif

/* Record a message and return code, so callers can write `return entro_fail(...)`. */
int entro_fail(int code, const char *fmt, ...) ENTRO_PRINTF(2, 3);
const char *entro_errmsg(void);
int entro_errcode(void);

/* Formats a shape as "3x4" (or "scalar") into buf; returns buf. */
char *entro_shape_str(char *buf, int ndim, const int64_t *shape);

#endif
