/* lstdlib.h -- the Lua standard library (the stdlib/entro Lua files) compiled into the binary. */
#ifndef LSTDLIB_H
#define LSTDLIB_H
#include <stddef.h>

typedef struct {
  const char *module;     /* "entro.nn" */
  const char *chunkname;  /* "@stdlib/entro/nn.lua" */
  const char *source;
  size_t len;
} entro_stdlib_entry;

extern const entro_stdlib_entry entro_stdlib[];

#endif
