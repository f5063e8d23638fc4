/* serialize.h -- the entro file format: a versioned, checksummed byte encoding of tensors and
 * nested tables, written atomically and read back from a memory buffer (no Lua here).
 *
 * Layout, all integers little-endian whatever the host:
 *
 *   header   "ENTRO\0"  format version (u32)  flags (u32, 0)  payload length (u64)
 *   payload  one record, the root value
 *   trailer  CRC-32 (zlib's) of the header and the payload (u32)
 *
 * A record is a tag byte and its body:
 *
 *   '{' ... '}'   a table: key and value records alternating, up to the '}'
 *   '@' id (u64)  the table or tensor with that id again (ids count '{' and 'x' records
 *                 from 0 in file order), so shared tables and cycles survive a round trip
 *   'n' f64       a float (the IEEE bits, so -0.0 and NaN payloads round-trip)
 *   'i' i64       an integer
 *   's' len (u64) bytes
 *   'b' 0 or 1    a boolean
 *   'x' ndim (u8) shape (ndim i64) data (numel f64, row-major: a view in logical order)
 *
 * Keys are floats, integers, strings or booleans. Tables nest at most ENTRO_SER_MAXDEPTH deep.
 *
 * Writing goes through an entro_ser_writer: to memory, or to `path.tmp.<pid>` that commit
 * fsyncs and renames over `path`, so a reader sees the old file or the new one, never half.
 * Reading is pull-style: entro_ser_read hands out one record at a time, checked against the
 * grammar, the ids seen so far and the bytes left, so any byte string is safe to feed it. */
#ifndef ENTRO_SERIALIZE_H
#define ENTRO_SERIALIZE_H

#include <stddef.h>
#include <stdint.h>
#include "tensor.h"

#define ENTRO_SER_VERSION 1
#define ENTRO_SER_MAXDEPTH 200
#define ENTRO_SER_HEADER 22     /* magic 6 + version 4 + flags 4 + payload length 8 */

/* ---- writing ---- */

typedef struct entro_ser_writer {
  unsigned char *buf;     /* pending bytes; in memory mode the header, then everything */
  size_t len, cap;
  uint64_t payload;       /* payload bytes emitted so far */
  uint32_t crc;           /* CRC-32 of the payload bytes already written out (file mode) */
  int fd;                 /* the temporary file, or -1 */
  char *path, *tmp;       /* file mode: the target and the temporary file */
  const char *op;         /* names the operation in messages */
  int done;               /* finished or committed: nothing more may be put */
} entro_ser_writer;

/* Puts w in a safe empty state, on which entro_ser_writer_free is a no-op. */
void entro_ser_writer_init(entro_ser_writer *w);
int entro_ser_writer_open_mem(entro_ser_writer *w, const char *op);
/* Creates the temporary file next to path; fails naming path and the OS reason. */
int entro_ser_writer_open_file(entro_ser_writer *w, const char *op, const char *path);
/* Releases everything; an uncommitted temporary file is closed and removed. */
void entro_ser_writer_free(entro_ser_writer *w);

int entro_ser_put_table(entro_ser_writer *w);
int entro_ser_put_end(entro_ser_writer *w);
int entro_ser_put_ref(entro_ser_writer *w, uint64_t id);
int entro_ser_put_number(entro_ser_writer *w, double v);
int entro_ser_put_integer(entro_ser_writer *w, int64_t v);
int entro_ser_put_string(entro_ser_writer *w, const char *s, size_t len);
int entro_ser_put_boolean(entro_ser_writer *w, int b);
int entro_ser_put_tensor(entro_ser_writer *w, const entro_tensor *t);

/* Memory mode: completes the header and the trailer; *data stays valid until the free. */
int entro_ser_finish(entro_ser_writer *w, const unsigned char **data, size_t *len);
/* File mode: writes the rest, fsyncs and renames the temporary file over the target. */
int entro_ser_commit(entro_ser_writer *w);

/* ---- reading ---- */

enum {   /* entro_ser_item.kind */
  ENTRO_SER_TABLE,     /* a table begins; id is its id */
  ENTRO_SER_END,       /* the innermost open table is complete */
  ENTRO_SER_REF,       /* the object with this id, seen before */
  ENTRO_SER_NUMBER, ENTRO_SER_INTEGER, ENTRO_SER_STRING, ENTRO_SER_BOOLEAN,
  ENTRO_SER_TENSOR     /* tensor is a new reference, the caller's; id is its id */
};

enum {   /* entro_ser_item.role: where the value goes (for END: where the closed table goes) */
  ENTRO_SER_ROOT, ENTRO_SER_KEY, ENTRO_SER_VALUE
};

typedef struct {
  int kind, role;
  uint64_t id;
  double number;
  int64_t integer;
  int boolean;
  const char *str;     /* points into the buffer */
  size_t len;
  entro_tensor *tensor;
} entro_ser_item;

enum { ENTRO_SER_NOCRC = 1 };   /* entro_ser_reader_open flag: skip the checksum (fuzzing) */

typedef struct entro_ser_reader {
  const unsigned char *start, *p, *end;   /* the payload, and how far it is read */
  const char *op, *what;                  /* "tensor.load", "'x.bin'" for messages */
  uint64_t nobj;                          /* tables and tensors so far: the next id */
  int depth;                              /* open tables */
  int done;                               /* the root value is complete */
  unsigned char want_key[ENTRO_SER_MAXDEPTH + 1];   /* per open table: a key comes next */
} entro_ser_reader;

/* Checks the header, the length and (unless ENTRO_SER_NOCRC) the checksum of buf. */
int entro_ser_reader_open(entro_ser_reader *r, const char *op, const char *what,
                          const void *buf, size_t len, int flags);
/* Reads the next record into *it. Once the root is complete r->done is set, after checking
 * that nothing follows it. */
int entro_ser_read(entro_ser_reader *r, entro_ser_item *it);

/* A whole file in memory: mapped when it is a regular file, read otherwise. */
typedef struct { void *data; size_t len; int mapped; } entro_ser_file;

int entro_ser_file_read(entro_ser_file *f, const char *op, const char *path);
void entro_ser_file_free(entro_ser_file *f);   /* safe on a zeroed or freed f */

#endif
