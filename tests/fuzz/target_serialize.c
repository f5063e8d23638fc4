/* target_serialize.c -- fuzz target for the entro file format reader (core/serialize.c):
 * the bytes as a whole file (header and checksum checks), the same with the checksum off,
 * the bytes as a payload under a valid header and checksum (straight into the grammar),
 * and the bytes as a file read from disk. Any outcome is a status with a message; a crash,
 * a leak (LSan) or an error without a message is a finding. */
#include "fuzz.h"
#include <zlib.h>
#include "serialize.h"

static void scan(const unsigned char *buf, size_t len, int flags) {
  entro_ser_reader r;
  entro_ser_item it;
  int st = entro_ser_reader_open(&r, "fuzz", "the input", buf, len, flags);
  while (!st && !r.done) {
    st = entro_ser_read(&r, &it);
    if (it.tensor && it.tensor->numel > 0) {   /* touch the data: ASan checks the bounds */
      volatile double s = entro_data(it.tensor)[0] + entro_data(it.tensor)[it.tensor->numel - 1];
      (void)s;
    }
    entro_tensor_release(it.tensor);
  }
  if (st && !strstr(entro_errmsg(), "fuzz: ")) fuzz_finding("an error without the op's name", entro_errmsg());
}

static void put_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> 8 * i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  scan(data, size, 0);
  scan(data, size, ENTRO_SER_NOCRC);

  size_t n = ENTRO_SER_HEADER + size + 4;
  unsigned char *b = malloc(n);
  if (!b) return 0;
  memcpy(b, "ENTRO", 6);
  put_le(b + 6, ENTRO_SER_VERSION, 4);
  put_le(b + 10, 0, 4);
  put_le(b + 14, size, 8);
  if (size) memcpy(b + ENTRO_SER_HEADER, data, size);
  put_le(b + n - 4, crc32(0, b, (uInt)(n - 4)), 4);
  scan(b, n, 0);

  char path[64];
  int fd = fuzz_memfile(b, n, path, sizeof path);
  if (fd >= 0) {
    entro_ser_file f;
    if (entro_ser_file_read(&f, "fuzz", path) == ENTRO_OK) {
      if (f.len != n || memcmp(f.data, b, n)) fuzz_finding("file read", "the bytes read differ");
      scan(f.data, f.len, 0);
      entro_ser_file_free(&f);
    }
    close(fd);
  }
  free(b);
  return 0;
}
