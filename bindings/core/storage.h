/* storage.h -- raw storage blocks (internal to the engine; see storage.c). */
#ifndef ENTRO_STORAGE_H
#define ENTRO_STORAGE_H
#include "tensor.h"

entro_storage *entro_storage_new(int64_t n);   /* refs = 1, data uninitialised */
void entro_storage_release(entro_storage *s);
static inline void entro_storage_retain(entro_storage *s) { s->refs++; }

#endif
