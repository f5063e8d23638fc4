/* idx.h -- data loading in the engine: IDX files (the MNIST format) parsed from a memory
 * buffer or read from a plain or gzip-compressed file, and the row gather that assembles a
 * shuffled minibatch into a reused buffer.
 *
 * IDX layout, integers big-endian: two zero bytes, a type byte, a dimension count byte, one
 * u32 size per dimension, then the elements in row-major order. Types: 0x08 u8, 0x09 i8,
 * 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64. Every reader checks the header against the bytes
 * actually present before it allocates, so a foreign, truncated or lying file is an error
 * that names it, never a crash or a giant allocation. */
#ifndef ENTRO_IDX_H
#define ENTRO_IDX_H

#include <stddef.h>
#include <stdint.h>
#include "tensor.h"

typedef struct {
  int type;                       /* the IDX type byte */
  int elsize;                     /* bytes per element */
  int ndim;
  int64_t shape[ENTRO_MAXDIM];
  int64_t numel;
  size_t header_bytes;            /* 4 + 4 * ndim */
} entro_idx_header;

/* Parses the header at the start of buf (len bytes). `what` names the source in messages,
 * e.g. "'train.idx'". Fails with ENTRO_EIO on a foreign or short header. */
int entro_idx_parse_header(const char *op, const char *what, const unsigned char *buf,
                           size_t len, entro_idx_header *h);

/* Converts n big-endian elements of h's type at src to doubles, each divided by div (a
 * division, not a product with 1/div, so 255 / 255 is exactly 1). */
void entro_idx_decode(const entro_idx_header *h, const unsigned char *src, int64_t n,
                      double div, double *dst);

/* A whole IDX file held in memory; limit >= 0 keeps only the first `limit` entries of the
 * first dimension (then trailing bytes are not checked), limit < 0 keeps all. */
entro_tensor *entro_idx_from_buffer(const char *op, const char *what, const unsigned char *buf,
                                    size_t len, int64_t limit, double div);

/* Reads an IDX file, gzip-compressed or plain (zlib tells them apart), in chunks. */
entro_tensor *entro_idx_read(const char *op, const char *path, int64_t limit, double div);

/* out[i, ...] = a[idx[i], ...]: idx a 1-D tensor of 0-based indices as doubles, a and out
 * contiguous, out of shape (#idx, a's other sizes). Writes in place (bumps out's version). */
int entro_gather_rows(const char *op, entro_tensor *out, const entro_tensor *a,
                      const entro_tensor *idx);

#endif
