/* serialize.c -- the entro file format (see serialize.h): encoding, the checksum, atomic
 * file writing, and a reader that trusts nothing it has not checked against the bytes left. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "serialize.h"
#include "interrupt.h"

static const unsigned char magic[6] = {'E', 'N', 'T', 'R', 'O', '\0'};

#define TRAILER 4
#define FLUSH_AT ((size_t)1 << 20)   /* file mode: write out the buffer past this size */
#define CHUNK 8192                    /* elements of tensor data encoded per step */

/* ---- little-endian bytes, whatever the host ---- */

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << 8 * i;
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << 8 * i;
  return v;
}

static void put_f64s(unsigned char *p, const double *d, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, d, (size_t)n * 8);   /* the host's layout already is the file's */
#else
  for (int64_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, &d[i], 8);
    put_u64(p + 8 * i, u);
  }
#endif
}

static void get_f64s(double *d, const unsigned char *p, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(d, p, (size_t)n * 8);
#else
  for (int64_t i = 0; i < n; i++) {
    uint64_t u = get_u64(p + 8 * i);
    memcpy(&d[i], &u, 8);
  }
#endif
}

/* zlib's crc32 takes a 32-bit length */
static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n) {
  while (n > 0) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = (uint32_t)crc32(crc, p, k);
    p += k;
    n -= k;
  }
  return crc;
}

static void make_header(unsigned char *h, uint64_t payload) {
  memcpy(h, magic, sizeof magic);
  put_u32(h + 6, ENTRO_SER_VERSION);
  put_u32(h + 10, 0);
  put_u64(h + 14, payload);
}

/* The checksum of header + payload, from the payload's own CRC: the header's length field
 * is only known at the end, after the payload has gone to the file. */
static uint32_t whole_crc(const unsigned char *h, uint32_t payload_crc, uint64_t payload) {
  return (uint32_t)crc32_combine(crc_update(0, h, ENTRO_SER_HEADER), payload_crc, (z_off_t)payload);
}

/* ---- writing ---- */

static int os_fail(const entro_ser_writer *w, const char *path, int err) {
  return entro_fail(ENTRO_EIO, "%s: cannot write '%s': %s", w->op, path, strerror(err));
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

void entro_ser_writer_init(entro_ser_writer *w) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  w->op = "save";
  w->done = 1;   /* nothing may be put before an open */
}

int entro_ser_writer_open_mem(entro_ser_writer *w, const char *op) {
  entro_ser_writer_init(w);
  w->op = op;
  w->buf = malloc(4096);
  if (!w->buf) return entro_fail(ENTRO_ENOMEM, "%s: out of memory", op);
  w->cap = 4096;
  w->len = ENTRO_SER_HEADER;   /* filled in by entro_ser_finish */
  w->done = 0;
  return ENTRO_OK;
}

int entro_ser_writer_open_file(entro_ser_writer *w, const char *op, const char *path) {
  static const unsigned char blank[ENTRO_SER_HEADER];
  entro_ser_writer_init(w);
  w->op = op;
  size_t n = strlen(path);
  w->path = malloc(n + 1);
  w->tmp = malloc(n + 32);
  if (!w->path || !w->tmp) return entro_fail(ENTRO_ENOMEM, "%s: out of memory", op);
  memcpy(w->path, path, n + 1);
  snprintf(w->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (w->fd < 0) return os_fail(w, path, errno);
  /* the header's place; entro_ser_commit writes it once the length is known */
  if (write_all(w->fd, blank, sizeof blank)) return os_fail(w, path, errno);
  w->done = 0;
  return ENTRO_OK;
}

void entro_ser_writer_free(entro_ser_writer *w) {
  if (w->fd >= 0) {   /* not committed: the target keeps its old contents */
    close(w->fd);
    unlink(w->tmp);
    w->fd = -1;
  }
  free(w->buf);
  free(w->path);
  free(w->tmp);
  w->buf = NULL;
  w->path = w->tmp = NULL;
  w->len = w->cap = 0;
  w->done = 1;
}

static int flush(entro_ser_writer *w) {
  w->crc = crc_update(w->crc, w->buf, w->len);
  if (write_all(w->fd, w->buf, w->len)) return os_fail(w, w->path, errno);
  w->len = 0;
  return ENTRO_OK;
}

static int grow(entro_ser_writer *w, size_t n) {
  if (w->cap - w->len >= n) return ENTRO_OK;
  size_t cap = w->cap ? w->cap : 4096;
  while (cap - w->len < n) {
    if (cap > SIZE_MAX / 2) return entro_fail(ENTRO_ENOMEM, "%s: too much data", w->op);
    cap *= 2;
  }
  unsigned char *b = realloc(w->buf, cap);
  if (!b) return entro_fail(ENTRO_ENOMEM, "%s: out of memory (%zu bytes)", w->op, cap);
  w->buf = b;
  w->cap = cap;
  return ENTRO_OK;
}

/* n more payload bytes to fill in, or NULL with the error set */
static unsigned char *room(entro_ser_writer *w, size_t n) {
  if (w->done) {
    entro_fail(ENTRO_EINVAL, "%s: the writer is not open", w->op);
    return NULL;
  }
  if (w->fd >= 0 && w->len > 0 && w->len + n > FLUSH_AT && flush(w)) return NULL;
  if (grow(w, n)) return NULL;
  unsigned char *p = w->buf + w->len;
  w->len += n;
  w->payload += n;
  return p;
}

static int put_tag(entro_ser_writer *w, int tag) {
  unsigned char *p = room(w, 1);
  if (!p) return entro_errcode();
  p[0] = (unsigned char)tag;
  return ENTRO_OK;
}

static int put_tag_u64(entro_ser_writer *w, int tag, uint64_t v) {
  unsigned char *p = room(w, 9);
  if (!p) return entro_errcode();
  p[0] = (unsigned char)tag;
  put_u64(p + 1, v);
  return ENTRO_OK;
}

int entro_ser_put_table(entro_ser_writer *w) { return put_tag(w, '{'); }
int entro_ser_put_end(entro_ser_writer *w) { return put_tag(w, '}'); }
int entro_ser_put_ref(entro_ser_writer *w, uint64_t id) { return put_tag_u64(w, '@', id); }
int entro_ser_put_integer(entro_ser_writer *w, int64_t v) { return put_tag_u64(w, 'i', (uint64_t)v); }

int entro_ser_put_number(entro_ser_writer *w, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  return put_tag_u64(w, 'n', u);
}

int entro_ser_put_boolean(entro_ser_writer *w, int b) {
  unsigned char *p = room(w, 2);
  if (!p) return entro_errcode();
  p[0] = 'b';
  p[1] = b != 0;
  return ENTRO_OK;
}

int entro_ser_put_string(entro_ser_writer *w, const char *s, size_t len) {
  int st = put_tag_u64(w, 's', len);
  while (!st && len > 0) {   /* in pieces, so a long string does not balloon the buffer */
    size_t k = len < CHUNK * 8 ? len : CHUNK * 8;
    unsigned char *p = room(w, k);
    if (!p) return entro_errcode();
    memcpy(p, s, k);
    s += k;
    len -= k;
  }
  return st;
}

int entro_ser_put_tensor(entro_ser_writer *w, const entro_tensor *t) {
  unsigned char *p = room(w, 2 + 8 * (size_t)t->ndim);
  if (!p) return entro_errcode();
  p[0] = 'x';
  p[1] = (unsigned char)t->ndim;
  for (int i = 0; i < t->ndim; i++) put_u64(p + 2 + 8 * i, (uint64_t)t->shape[i]);
  const double *d = entro_data(t);
  int contiguous = entro_tensor_is_contiguous(t);
  int64_t idx[ENTRO_MAXDIM] = {0}, off = 0;   /* odometer over a strided view */
  for (int64_t left = t->numel; left > 0;) {
    int64_t k = left < CHUNK ? left : CHUNK;
    if (!(p = room(w, 8 * (size_t)k))) return entro_errcode();
    if (contiguous) {
      put_f64s(p, d, k);
      d += k;
    } else {
      for (int64_t i = 0; i < k; i++) {
        put_f64s(p + 8 * i, &d[off], 1);
        for (int j = t->ndim - 1; j >= 0; j--) {
          off += t->stride[j];
          if (++idx[j] < t->shape[j]) break;
          off -= t->stride[j] * t->shape[j];
          idx[j] = 0;
        }
      }
    }
    left -= k;
    if (entro_check_interrupt(w->op)) return ENTRO_EINTR;
  }
  return ENTRO_OK;
}

int entro_ser_finish(entro_ser_writer *w, const unsigned char **data, size_t *len) {
  if (w->done || w->fd >= 0) return entro_fail(ENTRO_EINVAL, "%s: the writer is not open in memory", w->op);
  if (grow(w, TRAILER)) return entro_errcode();
  make_header(w->buf, w->payload);
  uint32_t crc = crc_update(0, w->buf + ENTRO_SER_HEADER, w->len - ENTRO_SER_HEADER);
  put_u32(w->buf + w->len, whole_crc(w->buf, crc, w->payload));
  w->len += TRAILER;
  w->done = 1;
  *data = w->buf;
  *len = w->len;
  return ENTRO_OK;
}

/* Makes the rename itself durable; a failure here loses nothing already written. */
static void sync_dir(char *path) {
  char *slash = strrchr(path, '/');
  const char *dir = ".";
  if (slash == path) dir = "/";
  else if (slash) { *slash = '\0'; dir = path; }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int entro_ser_commit(entro_ser_writer *w) {
  if (w->done || w->fd < 0) return entro_fail(ENTRO_EINVAL, "%s: the writer is not open on a file", w->op);
  unsigned char head[ENTRO_SER_HEADER], tail[TRAILER];
  if (w->len > 0 && flush(w)) return entro_errcode();
  make_header(head, w->payload);
  put_u32(tail, whole_crc(head, w->crc, w->payload));
  if (write_all(w->fd, tail, TRAILER) || pwrite(w->fd, head, sizeof head, 0) != (ssize_t)sizeof head
      || fsync(w->fd))
    return os_fail(w, w->path, errno);
  int fd = w->fd;
  w->fd = -1;
  if (close(fd) || rename(w->tmp, w->path)) {
    int err = errno;
    unlink(w->tmp);
    return os_fail(w, w->path, err);
  }
  w->done = 1;
  strcpy(w->tmp, w->path);
  sync_dir(w->tmp);
  return ENTRO_OK;
}

/* ---- reading ---- */

/* Fails naming the record (by its byte offset in the file) that does not make sense. */
static int corrupt(const entro_ser_reader *r, const unsigned char *at, const char *fmt, ...)
    ENTRO_PRINTF(3, 4);
static int corrupt(const entro_ser_reader *r, const unsigned char *at, const char *fmt, ...) {
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return entro_fail(ENTRO_EIO, "%s: %s is corrupt (%s, at byte %zu)", r->op, r->what, why,
                    (size_t)(at - r->start) + ENTRO_SER_HEADER);
}

int entro_ser_reader_open(entro_ser_reader *r, const char *op, const char *what,
                          const void *buf, size_t len, int flags) {
  const unsigned char *b = buf;
  memset(r, 0, sizeof *r);
  r->op = op;
  r->what = what;
  r->done = 1;   /* until the checks pass */
  if (len == 0) return entro_fail(ENTRO_EIO, "%s: %s is empty, not an entro file", op, what);
  if (memcmp(b, magic, len < sizeof magic ? len : sizeof magic))
    return entro_fail(ENTRO_EIO, "%s: %s is not an entro file", op, what);
  if (len < 10) return entro_fail(ENTRO_EIO, "%s: %s is truncated (%zu bytes)", op, what, len);
  uint32_t version = get_u32(b + 6);
  if (version == 0)
    return entro_fail(ENTRO_EIO, "%s: %s is not an entro file (format 0)", op, what);
  if (version > ENTRO_SER_VERSION)
    return entro_fail(ENTRO_EIO, "%s: %s was written by a newer entro (format %u, this reads up to %d)",
                      op, what, (unsigned)version, ENTRO_SER_VERSION);
  if (len < ENTRO_SER_HEADER)
    return entro_fail(ENTRO_EIO, "%s: %s is truncated (%zu bytes)", op, what, len);
  uint32_t fl = get_u32(b + 10);
  if (fl) return entro_fail(ENTRO_EIO, "%s: %s uses features this entro does not know (flags 0x%x)",
                            op, what, (unsigned)fl);
  uint64_t payload = get_u64(b + 14);
  uint64_t have = len - ENTRO_SER_HEADER;
  if (payload > UINT64_MAX - ENTRO_SER_HEADER - TRAILER)
    return entro_fail(ENTRO_EIO, "%s: %s is corrupt (a length of %llu bytes)", op, what,
                      (unsigned long long)payload);
  if (have < payload + TRAILER)
    return entro_fail(ENTRO_EIO, "%s: %s is truncated (%zu of %llu bytes)", op, what, len,
                      (unsigned long long)(payload + ENTRO_SER_HEADER + TRAILER));
  if (have > payload + TRAILER)
    return entro_fail(ENTRO_EIO, "%s: %s is corrupt (%llu extra bytes after the end)", op, what,
                      (unsigned long long)(have - payload - TRAILER));
  if (!(flags & ENTRO_SER_NOCRC)
      && get_u32(b + ENTRO_SER_HEADER + payload) != crc_update(0, b, ENTRO_SER_HEADER + payload))
    return entro_fail(ENTRO_EIO, "%s: checksum mismatch: %s is corrupt", op, what);
  r->start = r->p = b + ENTRO_SER_HEADER;
  r->end = r->start + payload;
  r->done = 0;
  return ENTRO_OK;
}

static int need(entro_ser_reader *r, const unsigned char *rec, size_t n) {
  if ((size_t)(r->end - r->p) < n) return corrupt(r, rec, "a record runs past the end");
  return ENTRO_OK;
}

static int read_tensor(entro_ser_reader *r, const unsigned char *rec, entro_ser_item *it) {
  int64_t shape[ENTRO_MAXDIM], numel;
  char b[200];
  if (need(r, rec, 1)) return entro_errcode();
  int ndim = *r->p++;
  if (ndim > ENTRO_MAXDIM)
    return corrupt(r, rec, "a tensor with %d dimensions, at most %d", ndim, ENTRO_MAXDIM);
  if (need(r, rec, 8 * (size_t)ndim)) return entro_errcode();
  int empty = 0;
  for (int i = 0; i < ndim; i++, r->p += 8) {
    shape[i] = (int64_t)get_u64(r->p);
    if (shape[i] < 0) return corrupt(r, rec, "a tensor with size %lld", (long long)shape[i]);
    empty |= shape[i] == 0;
  }
  /* Before allocating: the data must be there, so a 100-byte file cannot ask for an
   * exabyte. An empty tensor needs no data, but its strides must still be representable. */
  uint64_t n = 1, limit = empty ? (uint64_t)INT64_MAX / 8 : (uint64_t)(r->end - r->p) / 8;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) continue;
    if ((uint64_t)shape[i] > limit / n) {
      if (empty) return corrupt(r, rec, "an empty tensor of shape %s", entro_shape_str(b, ndim, shape));
      return corrupt(r, rec, "a tensor of shape %s with only %zu bytes left",
                     entro_shape_str(b, ndim, shape), (size_t)(r->end - r->p));
    }
    n *= (uint64_t)shape[i];
  }
  if (!empty && n > limit)   /* a 0-dim tensor still needs its one element */
    return corrupt(r, rec, "a scalar tensor with only %zu bytes left", (size_t)(r->end - r->p));
  if (entro_shape_check(r->op, ndim, shape, &numel)) return entro_errcode();
  entro_tensor *t = entro_tensor_new(ndim, shape);
  if (!t) return entro_errcode();
  get_f64s(t->st->data, r->p, numel);
  r->p += 8 * numel;
  it->tensor = t;
  it->id = r->nobj++;
  return ENTRO_OK;
}

/* A value is complete: the next record is its table's next key or value, or nothing. */
static int complete(entro_ser_reader *r) {
  if (r->depth > 0) {
    r->want_key[r->depth] ^= 1;
    return ENTRO_OK;
  }
  r->done = 1;
  if (r->p != r->end) return corrupt(r, r->p, "%zu bytes after the value", (size_t)(r->end - r->p));
  return ENTRO_OK;
}

int entro_ser_read(entro_ser_reader *r, entro_ser_item *it) {
  memset(it, 0, sizeof *it);
  if (r->done) return entro_fail(ENTRO_EINVAL, "%s: nothing more to read", r->op);
  const unsigned char *rec = r->p;
  if (r->p == r->end)
    return corrupt(r, rec, r->depth ? "the data ends inside a table" : "there is no value");
  int tag = *r->p++;
  int role = r->depth == 0 ? ENTRO_SER_ROOT : r->want_key[r->depth] ? ENTRO_SER_KEY : ENTRO_SER_VALUE;
  it->role = role;
  if (role == ENTRO_SER_KEY && (tag == '{' || tag == '@' || tag == 'x'))
    return corrupt(r, rec, "a %s as a key", tag == '{' ? "table" : tag == '@' ? "reference" : "tensor");
  switch (tag) {
  case '{':
    if (r->depth == ENTRO_SER_MAXDEPTH)
      return corrupt(r, rec, "tables nested deeper than %d", ENTRO_SER_MAXDEPTH);
    it->kind = ENTRO_SER_TABLE;
    it->id = r->nobj++;
    r->want_key[++r->depth] = 1;
    return ENTRO_OK;   /* complete at its '}' */
  case '}':
    if (role != ENTRO_SER_KEY)
      return corrupt(r, rec, r->depth ? "a key without a value" : "a table end outside any table");
    it->kind = ENTRO_SER_END;
    it->role = --r->depth == 0 ? ENTRO_SER_ROOT : ENTRO_SER_VALUE;
    break;
  case '@':
    if (need(r, rec, 8)) return entro_errcode();
    it->kind = ENTRO_SER_REF;
    it->id = get_u64(r->p);
    r->p += 8;
    if (it->id >= r->nobj)
      return corrupt(r, rec, "a reference to object %llu of %llu", (unsigned long long)it->id,
                     (unsigned long long)r->nobj);
    break;
  case 'n': {
    if (need(r, rec, 8)) return entro_errcode();
    uint64_t u = get_u64(r->p);
    r->p += 8;
    it->kind = ENTRO_SER_NUMBER;
    memcpy(&it->number, &u, 8);
    if (role == ENTRO_SER_KEY && isnan(it->number)) return corrupt(r, rec, "a NaN key");
    break;
  }
  case 'i':
    if (need(r, rec, 8)) return entro_errcode();
    it->kind = ENTRO_SER_INTEGER;
    it->integer = (int64_t)get_u64(r->p);
    r->p += 8;
    break;
  case 's': {
    if (need(r, rec, 8)) return entro_errcode();
    uint64_t n = get_u64(r->p);
    r->p += 8;
    if (n > (uint64_t)(r->end - r->p))
      return corrupt(r, rec, "a string of %llu bytes with %zu left", (unsigned long long)n,
                     (size_t)(r->end - r->p));
    it->kind = ENTRO_SER_STRING;
    it->str = (const char *)r->p;
    it->len = (size_t)n;
    r->p += n;
    break;
  }
  case 'b':
    if (need(r, rec, 1)) return entro_errcode();
    if (*r->p > 1) return corrupt(r, rec, "a boolean %d", *r->p);
    it->kind = ENTRO_SER_BOOLEAN;
    it->boolean = *r->p++;
    break;
  case 'x':
    it->kind = ENTRO_SER_TENSOR;
    if (read_tensor(r, rec, it)) return entro_errcode();
    break;
  default:
    return corrupt(r, rec, "unknown record type 0x%02x", tag);
  }
  int st = complete(r);
  if (st && it->tensor) {   /* on failure the caller owns nothing */
    entro_tensor_release(it->tensor);
    it->tensor = NULL;
  }
  return st;
}

/* ---- files ---- */

int entro_ser_file_read(entro_ser_file *f, const char *op, const char *path) {
  memset(f, 0, sizeof *f);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return entro_fail(ENTRO_EIO, "%s: cannot open '%s': %s", op, path, strerror(errno));
  struct stat st;
  int err = fstat(fd, &st) ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (err) {
    close(fd);
    return entro_fail(ENTRO_EIO, "%s: cannot read '%s': %s", op, path, strerror(err));
  }
  /* A regular file is mapped: a big tensor is then copied once, into its own storage. */
  if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      close(fd);
      f->data = p;
      f->len = (size_t)st.st_size;
      f->mapped = 1;
      return ENTRO_OK;
    }
  }
  /* pipes, devices, and anything mmap refuses: read to the end */
  size_t cap = 0;
  for (;;) {
    if (f->len == cap) {
      size_t ncap = cap ? 2 * cap : 65536;
      void *b = ncap > cap ? realloc(f->data, ncap) : NULL;
      if (!b) {
        close(fd);
        entro_ser_file_free(f);
        return entro_fail(ENTRO_ENOMEM, "%s: '%s' is too big to read", op, path);
      }
      f->data = b;
      cap = ncap;
    }
    ssize_t k = read(fd, (char *)f->data + f->len, cap - f->len);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      err = errno;
      close(fd);
      entro_ser_file_free(f);
      return entro_fail(ENTRO_EIO, "%s: cannot read '%s': %s", op, path, strerror(err));
    }
    if (k == 0) break;
    f->len += (size_t)k;
  }
  close(fd);
  return ENTRO_OK;
}

void entro_ser_file_free(entro_ser_file *f) {
  if (f->mapped) munmap(f->data, f->len);
  else free(f->data);
  f->data = NULL;
  f->len = 0;
  f->mapped = 0;
}
