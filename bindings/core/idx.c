/* idx.c -- IDX files (the MNIST format) from memory or from plain/gzip files through zlib,
 * decoded to float64 in C; and the row gather behind the data loader's shuffled batches.
 * See idx.h for the format and the guarantees. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "idx.h"
#include "interrupt.h"

/* deflate expands at most about 1032:1, so a gzip file of S bytes holds less than this */
#define GZ_MAX_RATIO 1040
#define CHUNK ((size_t)1 << 19)   /* bytes per read; a multiple of every element size */

static int type_size(int type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

static const char *type_name(int type) {
  switch (type) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    default: return "f64";
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The first four bytes: zero, zero, a known type, a dimension count entro can hold. */
static int check_magic(const char *op, const char *what, const unsigned char *buf, size_t len) {
  if (len == 0) return entro_fail(ENTRO_EIO, "%s: %s is empty, not an IDX file", op, what);
  if (len < 4) return entro_fail(ENTRO_EIO, "%s: %s is too short for an IDX file (%zu bytes)", op, what, len);
  if (buf[0] || buf[1] || !type_size(buf[2]))
    return entro_fail(ENTRO_EIO, "%s: %s is not an IDX file (it starts with bytes %02x %02x %02x %02x)",
                      op, what, buf[0], buf[1], buf[2], buf[3]);
  if (buf[3] == 0 || buf[3] > ENTRO_MAXDIM)
    return entro_fail(ENTRO_EIO, "%s: %s declares %d dimensions (entro reads 1 to %d)", op, what,
                      buf[3], ENTRO_MAXDIM);
  return ENTRO_OK;
}

int entro_idx_parse_header(const char *op, const char *what, const unsigned char *buf,
                           size_t len, entro_idx_header *h) {
  if (check_magic(op, what, buf, len)) return entro_errcode();
  memset(h, 0, sizeof *h);
  h->type = buf[2];
  h->elsize = type_size(h->type);
  h->ndim = buf[3];
  h->header_bytes = 4 + 4 * (size_t)h->ndim;
  if (len < h->header_bytes)
    return entro_fail(ENTRO_EIO, "%s: %s is truncated inside its header (%zu of %zu bytes)", op,
                      what, len, h->header_bytes);
  int64_t n = 1, nonzero = 1;
  int overflow = 0;
  for (int i = 0; i < h->ndim; i++) {
    h->shape[i] = be32(buf + 4 + 4 * i);
    /* doubles of the result must be addressable in bytes; judged on the nonzero sizes, as
     * strides multiply them even when another size is 0 */
    if (h->shape[i] == 0) n = 0;
    else if (nonzero > INT64_MAX / 8 / h->shape[i]) overflow = 1;
    else { nonzero *= h->shape[i]; n *= h->shape[i]; }
  }
  if (overflow) {
    char b[200];
    return entro_fail(ENTRO_EIO, "%s: %s declares a %s array, whose size overflows", op, what,
                      entro_shape_str(b, h->ndim, h->shape));
  }
  h->numel = n;
  return ENTRO_OK;
}

void entro_idx_decode(const entro_idx_header *h, const unsigned char *src, int64_t n,
                      double div, double *dst) {
  switch (h->type) {
    case 0x08:
      for (int64_t i = 0; i < n; i++) dst[i] = src[i] / div;
      break;
    case 0x09:
      for (int64_t i = 0; i < n; i++) dst[i] = (int8_t)src[i] / div;
      break;
    case 0x0B:
      for (int64_t i = 0; i < n; i++)
        dst[i] = (int16_t)(uint16_t)((unsigned)src[2 * i] << 8 | src[2 * i + 1]) / div;
      break;
    case 0x0C:
      for (int64_t i = 0; i < n; i++) dst[i] = (int32_t)be32(src + 4 * i) / div;
      break;
    case 0x0D:
      for (int64_t i = 0; i < n; i++) {
        uint32_t u = be32(src + 4 * i);
        float f;
        memcpy(&f, &u, sizeof f);
        dst[i] = (double)f / div;
      }
      break;
    default:
      for (int64_t i = 0; i < n; i++) {
        uint64_t u = (uint64_t)be32(src + 8 * i) << 32 | be32(src + 8 * i + 4);
        double d;
        memcpy(&d, &u, sizeof d);
        dst[i] = d / div;
      }
  }
}

/* The shape kept under `limit` (first-dimension entries) and its element count. */
static int64_t kept(const entro_idx_header *h, int64_t limit, int64_t *shape) {
  memcpy(shape, h->shape, sizeof h->shape);
  if (limit >= 0 && limit < shape[0]) shape[0] = limit;
  int64_t n = 1;
  for (int i = 0; i < h->ndim; i++) n *= shape[i];
  return n;
}

/* "60000x28x28 u8" */
static const char *describe(char *b, const entro_idx_header *h) {
  entro_shape_str(b, h->ndim, h->shape);
  size_t l = strlen(b);
  snprintf(b + l, 200 - l, " %s", type_name(h->type));
  return b;
}

static int truncated(const char *op, const char *what, const entro_idx_header *h,
                     int64_t need, int64_t have) {
  char b[200];
  return entro_fail(ENTRO_EIO, "%s: %s is truncated: its header promises %lld bytes of data (%s), "
                    "it holds %lld", op, what, (long long)need, describe(b, h), (long long)have);
}

static int trailing(const char *op, const char *what, const entro_idx_header *h) {
  char b[200];
  return entro_fail(ENTRO_EIO, "%s: %s has bytes after the data its header describes (%s); "
                    "is it an IDX file?", op, what, describe(b, h));
}

entro_tensor *entro_idx_from_buffer(const char *op, const char *what, const unsigned char *buf,
                                    size_t len, int64_t limit, double div) {
  entro_idx_header h;
  if (entro_idx_parse_header(op, what, buf, len, &h)) return NULL;
  int64_t shape[ENTRO_MAXDIM], n = kept(&h, limit, shape);
  int64_t have = (int64_t)(len - h.header_bytes), need = n * h.elsize;
  if (have < need) { truncated(op, what, &h, need, have); return NULL; }
  if (n == h.numel && have > need) { trailing(op, what, &h); return NULL; }
  entro_tensor *t = entro_tensor_new(h.ndim, shape);
  if (!t) return NULL;
  entro_idx_decode(&h, buf + h.header_bytes, n, div, entro_data(t));
  return t;
}

/* The error message of a failed gzread (zlib's, which starts with the path: dropped). */
static int gz_failed(const char *op, const char *what, const char *path, gzFile f) {
  int err = 0;
  const char *msg = gzerror(f, &err);
  size_t l = strlen(path);
  if (err == Z_ERRNO) msg = strerror(errno);
  else if (msg && !strncmp(msg, path, l) && !strncmp(msg + l, ": ", 2)) msg += l + 2;
  return entro_fail(ENTRO_EIO, "%s: cannot read %s: %s", op, what, msg && *msg ? msg : "read error");
}

/* Reads exactly len bytes unless the file ends: returns the count, or -1 on a zlib error. */
static int64_t gz_read_full(gzFile f, unsigned char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    int r = gzread(f, buf + got, (unsigned)(len - got));
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (int64_t)got;
}

static int read_body(const char *op, const char *what, const char *path, gzFile f,
                     const entro_idx_header *h, int64_t n, double div, int check_end, entro_tensor *t) {
  unsigned char *buf = malloc(CHUNK);
  if (!buf) return entro_fail(ENTRO_ENOMEM, "%s: out of memory reading %s", op, what);
  int64_t need = n * h->elsize, done = 0;
  double *dst = entro_data(t);
  int st = ENTRO_OK;
  while (!st && done < need) {
    size_t want = (size_t)(need - done < (int64_t)CHUNK ? need - done : (int64_t)CHUNK);
    int64_t r = gz_read_full(f, buf, want);
    if (r < 0) st = gz_failed(op, what, path, f);
    else if ((size_t)r < want) st = truncated(op, what, h, need, done + r);
    else {
      entro_idx_decode(h, buf, r / h->elsize, div, dst);
      dst += r / h->elsize;
      done += r;
      st = entro_check_interrupt(op);
    }
  }
  if (!st && check_end) {
    /* one more byte: extra data is an error, and for gzip this reaches the CRC check */
    int64_t r = gz_read_full(f, buf, 1);
    int err = Z_OK;
    if (r < 0) st = gz_failed(op, what, path, f);
    else if (r > 0) st = trailing(op, what, h);
    else if (gzerror(f, &err), err == Z_BUF_ERROR)   /* zlib's soft error: cut in the trailer */
      st = entro_fail(ENTRO_EIO, "%s: %s is truncated: its gzip stream ends early", op, what);
  }
  free(buf);
  return st;
}

entro_tensor *entro_idx_read(const char *op, const char *path, int64_t limit, double div) {
  char what[512];
  snprintf(what, sizeof what, "'%s'", path);
  struct stat sb;
  if (stat(path, &sb) != 0) {
    entro_fail(ENTRO_EIO, "%s: cannot open %s: %s", op, what, strerror(errno));
    return NULL;
  }
  if (S_ISDIR(sb.st_mode)) {
    entro_fail(ENTRO_EIO, "%s: %s is a directory, not an IDX file", op, what);
    return NULL;
  }
  gzFile f = gzopen(path, "rb");
  if (!f) {
    entro_fail(ENTRO_EIO, "%s: cannot open %s: %s", op, what, errno ? strerror(errno) : "out of memory");
    return NULL;
  }
  gzbuffer(f, 1 << 17);
  entro_tensor *t = NULL;
  unsigned char hb[4 + 4 * ENTRO_MAXDIM];
  entro_idx_header h;
  int64_t r = gz_read_full(f, hb, 4), r2 = 0;
  int st = r < 0 ? gz_failed(op, what, path, f) : check_magic(op, what, hb, (size_t)r);
  if (!st && (r2 = gz_read_full(f, hb + 4, 4 * (size_t)hb[3])) < 0) st = gz_failed(op, what, path, f);
  if (!st) st = entro_idx_parse_header(op, what, hb, (size_t)(r + r2), &h);
  int64_t shape[ENTRO_MAXDIM], n = 0;
  if (!st) {
    /* refuse a header the file cannot back before allocating for it */
    n = kept(&h, limit, shape);
    int64_t need = n * h.elsize, room = (int64_t)sb.st_size - (int64_t)h.header_bytes;
    if (gzdirect(f) && need > room) st = truncated(op, what, &h, need, room);
    else if (!gzdirect(f) && need / GZ_MAX_RATIO > (int64_t)sb.st_size)
      st = entro_fail(ENTRO_EIO, "%s: %s is not a valid IDX file: its header promises %lld bytes "
                      "of data, more than a %lld-byte gzip file can hold", op, what,
                      (long long)need, (long long)sb.st_size);
  }
  if (!st && !(t = entro_tensor_new(h.ndim, shape))) st = entro_errcode();
  if (!st) st = read_body(op, what, path, f, &h, n, div, n == h.numel, t);
  gzclose_r(f);
  if (st) {
    entro_tensor_release(t);
    return NULL;
  }
  return t;
}

int entro_gather_rows(const char *op, entro_tensor *out, const entro_tensor *a,
                      const entro_tensor *idx) {
  char b1[200], b2[200];
  if (a->ndim < 1) return entro_fail(ENTRO_EINVAL, "%s: cannot take rows of a scalar", op);
  if (idx->ndim != 1)
    return entro_fail(ENTRO_EINVAL, "%s: indices must be a vector, got shape %s", op,
                      entro_tensor_shape_str(b1, idx));
  int ok = out->ndim == a->ndim && out->shape[0] == idx->shape[0];
  for (int i = 1; ok && i < a->ndim; i++) ok = out->shape[i] == a->shape[i];
  if (!ok)
    return entro_fail(ENTRO_EINVAL, "%s: a buffer of shape %s cannot hold %lld rows of a %s tensor",
                      op, entro_tensor_shape_str(b1, out), (long long)idx->shape[0],
                      entro_tensor_shape_str(b2, a));
  if (!entro_tensor_is_contiguous(a) || !entro_tensor_is_contiguous(out))
    return entro_fail(ENTRO_EINVAL, "%s: source and buffer must be contiguous", op);
  if (out->st == a->st) return entro_fail(ENTRO_EINVAL, "%s: the buffer shares the source's storage", op);
  int64_t rows = a->shape[0], k = idx->shape[0];
  const double *ip = entro_data(idx);
  for (int64_t i = 0; i < k; i++) {   /* check everything, then write */
    double v = ip[i * idx->stride[0]];
    if (!(v >= 0 && v < (double)rows) || v != floor(v))
      return entro_fail(ENTRO_EINVAL, "%s: index %.17g outside 1..%lld", op, v + 1, (long long)rows);
  }
  int64_t row = rows ? a->numel / rows : 0;
  const double *src = entro_data(a);
  double *dst = entro_data(out);
  for (int64_t i = 0; i < k; i++)
    memcpy(dst + i * row, src + (int64_t)ip[i * idx->stride[0]] * row, (size_t)row * sizeof *dst);
  entro_tensor_bump(out);
  return ENTRO_OK;
}
