/* target_idx.c -- fuzz target for the IDX reader (core/idx.c): the bytes parsed from memory
 * (all rows, and a row limit taken from the first byte), read as a file (plain, or gzip
 * when they start with its magic), and gzip-compressed by the harness then read as a file,
 * so the decompressing path sees well-formed streams with fuzzed IDX inside. */
#include "fuzz.h"
#include <zlib.h>
#include "idx.h"

static void check(entro_tensor *t, const char *how) {
  if (!t) {
    if (!strstr(entro_errmsg(), "fuzz: ")) fuzz_finding(how, entro_errmsg());
    return;
  }
  if (t->numel > 0) {
    volatile double s = entro_data(t)[0] + entro_data(t)[t->numel - 1];
    (void)s;
  }
  entro_tensor_release(t);
}

static void from_file(const void *data, size_t size, int64_t limit) {
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return;
  check(entro_idx_read("fuzz", path, limit, 255), "read from a file");
  close(fd);
}

/* A gzip stream of the bytes (deflate with a gzip wrapper), or NULL. */
static unsigned char *gzip(const uint8_t *data, size_t size, size_t *out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  size_t cap = deflateBound(&z, (uLong)size) + 32;
  unsigned char *b = malloc(cap);
  if (!b) { deflateEnd(&z); return NULL; }
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)size;
  z.next_out = b;
  z.avail_out = (uInt)cap;
  int st = deflate(&z, Z_FINISH);
  *out = z.total_out;
  deflateEnd(&z);
  if (st != Z_STREAM_END) { free(b); return NULL; }
  return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int64_t limit = size > 0 ? data[0] % 4 : 0;
  check(entro_idx_from_buffer("fuzz", "the input", data, size, -1, 1), "parse");
  check(entro_idx_from_buffer("fuzz", "the input", data, size, limit, 255), "parse with a limit");
  from_file(data, size, -1);
  size_t n;
  unsigned char *z = gzip(data, size, &n);
  if (z) {
    from_file(z, n, -1);
    from_file(z, n, limit);
    free(z);
  }
  return 0;
}
