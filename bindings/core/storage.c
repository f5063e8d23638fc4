/* storage.c -- storage allocation with a reuse cache, and the memory counters.
 *
 * A training loop makes the same sizes of tensor every step. Freed storages are kept in
 * a cache keyed by exact element count, so after the first step no storage comes from
 * malloc at all. The cache is bounded; entro_mem_trim empties it. */
#include <stdlib.h>
#include <string.h>
#include "tensor.h"
#include "storage.h"

#define NBUCKET 256
#define CACHE_MAX_BYTES ((int64_t)1 << 30)   /* at most 1 GiB kept for reuse */
#define ALIGN 64

typedef struct cached { struct cached *next; int64_t n; } cached;

static cached *bucket[NBUCKET];
static int64_t live_bytes, peak_bytes, cached_bytes, fresh_bytes, n_allocs;

int64_t entro_mem_live(void) { return live_bytes; }
int64_t entro_mem_peak(void) { return peak_bytes; }
int64_t entro_mem_cached(void) { return cached_bytes; }
int64_t entro_mem_allocs(void) { return n_allocs; }
int64_t entro_mem_take_fresh(void) { int64_t f = fresh_bytes; fresh_bytes = 0; return f; }

static unsigned hash_n(int64_t n) { return (unsigned)((uint64_t)n * 0x9E3779B97F4A7C15ull >> 56); }

/* A storage block is one allocation: the header, then the 64-byte aligned data. */
static size_t block_bytes(int64_t n) {
  return ALIGN + (size_t)n * sizeof(double);
}

entro_storage *entro_storage_new(int64_t n) {
  if (n < 0 || (uint64_t)n > (SIZE_MAX - ALIGN) / sizeof(double)) {
    entro_fail(ENTRO_ENOMEM, "cannot allocate %lld elements", (long long)n);
    return NULL;
  }
  unsigned h = hash_n(n);
  entro_storage *s = NULL;
  for (cached **pp = &bucket[h]; *pp; pp = &(*pp)->next) {
    if ((*pp)->n == n) {
      cached *c = *pp;
      *pp = c->next;
      cached_bytes -= (int64_t)block_bytes(n);
      s = (entro_storage *)c;
      break;
    }
  }
  if (!s) {
    size_t bytes = block_bytes(n);
    s = aligned_alloc(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
    if (!s) {
      entro_fail(ENTRO_ENOMEM, "cannot allocate %zu bytes", bytes);
      return NULL;
    }
    n_allocs++;
  }
  /* reported to Lua's collector whether it came from malloc or the cache: the collector
   * must pace itself by the memory its objects hold, or cached blocks would let dead
   * tensors pile up between cycles */
  fresh_bytes += (int64_t)block_bytes(n);
  s->data = (double *)((char *)s + ALIGN);
  s->n = n;
  s->refs = 1;
  s->version = 0;
  live_bytes += n * (int64_t)sizeof(double);
  if (live_bytes > peak_bytes) peak_bytes = live_bytes;
  return s;
}

void entro_storage_release(entro_storage *s) {
  if (!s || --s->refs > 0) return;
  int64_t n = s->n;
  live_bytes -= n * (int64_t)sizeof(double);
  int64_t b = (int64_t)block_bytes(n);
  if (ENTRO_NO_CACHE || cached_bytes + b > CACHE_MAX_BYTES) { free(s); return; }
  cached *c = (cached *)s;
  unsigned h = hash_n(n);
  c->n = n;
  c->next = bucket[h];
  bucket[h] = c;
  cached_bytes += b;
}

void entro_mem_trim(void) {
  for (int i = 0; i < NBUCKET; i++) {
    while (bucket[i]) { cached *c = bucket[i]; bucket[i] = c->next; free(c); }
  }
  cached_bytes = 0;
}
