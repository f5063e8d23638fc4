/* test_serialize.c -- the file format engine without Lua: writer and reader agree, the reader
 * survives every prefix and every mutation of a file (a small deterministic fuzz, with the
 * checksum switched off so mutations reach the parser), and the file writer is atomic. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "serialize.h"

/* Reads a whole buffer, releasing tensors as they come, the way a fuzz target would.
 * Returns the status; *n counts the records read. */
static int scan(const unsigned char *buf, size_t len, int flags, int *n) {
  entro_ser_reader r;
  entro_ser_item it;
  *n = 0;
  int st = entro_ser_reader_open(&r, "scan", "the buffer", buf, len, flags);
  while (!st && !r.done) {
    st = entro_ser_read(&r, &it);
    if (!st) (*n)++;
    entro_tensor_release(it.tensor);
  }
  return st;
}

/* {w = <2x3 transposed view>, [1] = 2.5, [2] = "hi", [3] = true, [4] = @0, [5] = @1} */
static size_t sample(unsigned char **out) {
  entro_ser_writer w;
  int64_t shape[2] = {3, 2};
  entro_tensor *a = entro_tensor_new(2, shape);
  for (int i = 0; i < 6; i++) entro_data(a)[i] = i;
  entro_tensor *t = entro_tensor_transpose(a, 0, 1);
  CHECK(entro_ser_writer_open_mem(&w, "sample") == ENTRO_OK);
  CHECK(entro_ser_put_table(&w) == ENTRO_OK);
  entro_ser_put_string(&w, "w", 1);
  CHECK(entro_ser_put_tensor(&w, t) == ENTRO_OK);
  entro_ser_put_integer(&w, 1); entro_ser_put_number(&w, 2.5);
  entro_ser_put_integer(&w, 2); entro_ser_put_string(&w, "hi", 2);
  entro_ser_put_integer(&w, 3); entro_ser_put_boolean(&w, 1);
  entro_ser_put_integer(&w, 4); entro_ser_put_ref(&w, 0);
  entro_ser_put_integer(&w, 5); entro_ser_put_ref(&w, 1);
  CHECK(entro_ser_put_end(&w) == ENTRO_OK);
  const unsigned char *data;
  size_t len;
  CHECK(entro_ser_finish(&w, &data, &len) == ENTRO_OK);
  CHECK(entro_ser_put_end(&w) != ENTRO_OK);   /* finished: nothing more */
  entro_tensor_release(t);
  entro_tensor_release(a);
  *out = malloc(len);
  memcpy(*out, data, len);
  entro_ser_writer_free(&w);
  return len;
}

TEST(writer_and_reader_agree) {
  unsigned char *buf;
  size_t len = sample(&buf);
  entro_ser_reader r;
  entro_ser_item it;
  CHECK(entro_ser_reader_open(&r, "t", "x", buf, len, 0) == ENTRO_OK);
  int kinds[] = {ENTRO_SER_TABLE, ENTRO_SER_STRING, ENTRO_SER_TENSOR, ENTRO_SER_INTEGER,
                 ENTRO_SER_NUMBER, ENTRO_SER_INTEGER, ENTRO_SER_STRING, ENTRO_SER_INTEGER,
                 ENTRO_SER_BOOLEAN, ENTRO_SER_INTEGER, ENTRO_SER_REF, ENTRO_SER_INTEGER,
                 ENTRO_SER_REF, ENTRO_SER_END};
  int roles[] = {ENTRO_SER_ROOT, ENTRO_SER_KEY, ENTRO_SER_VALUE, ENTRO_SER_KEY, ENTRO_SER_VALUE,
                 ENTRO_SER_KEY, ENTRO_SER_VALUE, ENTRO_SER_KEY, ENTRO_SER_VALUE, ENTRO_SER_KEY,
                 ENTRO_SER_VALUE, ENTRO_SER_KEY, ENTRO_SER_VALUE, ENTRO_SER_ROOT};
  for (int i = 0; i < 14; i++) {
    CHECK(entro_ser_read(&r, &it) == ENTRO_OK);
    CHECK(it.kind == kinds[i] && it.role == roles[i]);
    if (it.kind == ENTRO_SER_TENSOR) {
      CHECK(it.id == 1 && it.tensor->ndim == 2 && it.tensor->shape[0] == 2 && it.tensor->shape[1] == 3);
      double want[6] = {0, 2, 4, 1, 3, 5};   /* the transpose, in logical order */
      CHECK(memcmp(entro_data(it.tensor), want, sizeof want) == 0);
      entro_tensor_release(it.tensor);
    }
    if (it.kind == ENTRO_SER_NUMBER) CHECK(it.number == 2.5);
    if (it.kind == ENTRO_SER_STRING && it.len == 2) CHECK(memcmp(it.str, "hi", 2) == 0);
  }
  CHECK(r.done);
  CHECK(entro_ser_read(&r, &it) != ENTRO_OK);
  free(buf);
}

TEST(every_prefix_fails_cleanly) {
  unsigned char *buf;
  size_t len = sample(&buf);
  int n;
  for (size_t k = 0; k < len; k++) {
    unsigned char *cut = malloc(k ? k : 1);   /* exactly k bytes, so ASan sees any overread */
    memcpy(cut, buf, k);
    CHECK(scan(cut, k, 0, &n) == ENTRO_EIO);
    CHECK(scan(cut, k, ENTRO_SER_NOCRC, &n) == ENTRO_EIO);
    free(cut);
  }
  CHECK(scan(buf, len, 0, &n) == ENTRO_OK && n == 14);
  free(buf);
}

/* Mutates the payload with the checksum off: every outcome is a status, never a crash or a
 * leak (ASan and LSan watch this one). */
TEST(mutations_never_crash) {
  unsigned char *buf;
  size_t len = sample(&buf);
  unsigned char *m = malloc(len);
  uint64_t seed = 88172645463325252ull;
  int ok = 0, failed = 0, n;
  for (int round = 0; round < 20000; round++) {
    memcpy(m, buf, len);
    int edits = 1 + round % 4;
    for (int e = 0; e < edits; e++) {
      seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
      size_t at = ENTRO_SER_HEADER + (size_t)(seed % (len - ENTRO_SER_HEADER - 4));
      static const unsigned char nasty[] = {0, 1, 2, 8, 9, 0x7f, 0x80, 0xff, '{', '}', '@', 'x', 's'};
      m[at] = (seed >> 32) & 1 ? nasty[(seed >> 40) % sizeof nasty] : (unsigned char)(seed >> 24);
    }
    if (scan(m, len, ENTRO_SER_NOCRC, &n) == ENTRO_OK) ok++;
    else failed++;
  }
  CHECK(ok > 0 && failed > 0);   /* both paths were exercised */
  free(m);
  free(buf);
}

TEST(depth_and_sizes) {
  /* 1000 tables, each the value of key 1 in the one before: stops at the depth limit */
  size_t len = ENTRO_SER_HEADER + 10000 + 4;
  unsigned char *b = calloc(1, len);
  memcpy(b, "ENTRO", 6);
  b[6] = 1;
  b[14] = 10000 & 0xff, b[15] = 10000 >> 8;
  for (int i = 0; i < 1000; i++) {
    b[ENTRO_SER_HEADER + 10 * i] = '{';
    b[ENTRO_SER_HEADER + 10 * i + 1] = 'i';
  }
  int n;
  CHECK(scan(b, len, ENTRO_SER_NOCRC, &n) == ENTRO_EIO && n == 2 * ENTRO_SER_MAXDEPTH);
  CHECK(strstr(entro_errmsg(), "nested deeper than 200") != NULL);
  CHECK(scan(b, len, 0, &n) == ENTRO_EIO && strstr(entro_errmsg(), "checksum mismatch"));
  /* a tensor of 2^60 elements in a tiny buffer: rejected before allocating */
  int64_t before = entro_mem_live();
  unsigned char t[] = {'x', 1, 0, 0, 0, 0, 0, 0, 0, 0x10};
  memcpy(b + ENTRO_SER_HEADER, t, sizeof t);
  b[14] = sizeof t, b[15] = 0;
  CHECK(scan(b, ENTRO_SER_HEADER + sizeof t + 4, ENTRO_SER_NOCRC, &n) == ENTRO_EIO);
  CHECK(strstr(entro_errmsg(), "with only 0 bytes left") != NULL);
  CHECK(entro_mem_live() == before);
  free(b);
}

TEST(file_writer_is_atomic) {
  char dir[] = "/tmp/entro-ser-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[64], tmp[96];
  snprintf(path, sizeof path, "%s/f.bin", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  entro_ser_writer w;
  CHECK(entro_ser_writer_open_file(&w, "t", path) == ENTRO_OK);
  entro_ser_put_integer(&w, 7);
  CHECK(access(tmp, F_OK) == 0 && access(path, F_OK) != 0);   /* only the temporary so far */
  CHECK(entro_ser_commit(&w) == ENTRO_OK);
  entro_ser_writer_free(&w);
  CHECK(access(tmp, F_OK) != 0);
  entro_ser_file f;
  CHECK(entro_ser_file_read(&f, "t", path) == ENTRO_OK && f.len == ENTRO_SER_HEADER + 9 + 4);
  int n;
  CHECK(scan(f.data, f.len, 0, &n) == ENTRO_OK && n == 1);
  entro_ser_file_free(&f);
  /* abandoned: the temporary goes, the old file stays */
  CHECK(entro_ser_writer_open_file(&w, "t", path) == ENTRO_OK);
  entro_ser_put_integer(&w, 8);
  entro_ser_writer_free(&w);
  CHECK(access(tmp, F_OK) != 0);
  CHECK(entro_ser_file_read(&f, "t", path) == ENTRO_OK && f.len == ENTRO_SER_HEADER + 9 + 4);
  CHECK(f.len > 23 && ((unsigned char *)f.data)[23] == 7);
  entro_ser_file_free(&f);
  entro_ser_file_free(&f);   /* twice is harmless */
  unlink(path);
  CHECK(entro_ser_writer_open_file(&w, "t", "/nonexistent-dir/f.bin") == ENTRO_EIO);
  CHECK(strstr(entro_errmsg(), "cannot write '/nonexistent-dir/f.bin': No such file") != NULL);
  entro_ser_writer_free(&w);
  rmdir(dir);
}

int main(void) {
  RUN(writer_and_reader_agree);
  RUN(every_prefix_fails_cleanly);
  RUN(mutations_never_crash);
  RUN(depth_and_sizes);
  RUN(file_writer_is_atomic);
  return check_summary();
}
