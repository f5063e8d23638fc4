/* storage.h -- raw storage blocks (internal to the engine; see storage.c). */
#ifndef ENTRO_STORAGE_H
#define ENTRO_STORAGE_H
#include "tensor.h"

/* ENTRO_NO_CACHE=1 (the fuzzing builds) frees storages and tensor headers at once instead of
 * keeping them for reuse, so AddressSanitizer sees a use after free that reuse would hide. */
#ifndef ENTRO_NO_CACHE
#define ENTRO_NO_CACHE 0
#endif

entro_storage *entro_storage_new(int64_t n);   /* refs = 1, data uninitialised */
void entro_storage_release(entro_storage *s);
static inline void entro_storage_retain(entro_storage *s) { s->refs++; }

#endif
