/* fuzz.h -- what the fuzz targets share: the libFuzzer entry point, a failure that stops
 * the run (a finding), and an input handed to a reader as a file without touching the file
 * system (a memfd, opened by path through /proc/self/fd). */
#ifndef ENTRO_FUZZ_H
#define ENTRO_FUZZ_H
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: report it and abort, so libFuzzer saves the input. */
static inline void fuzz_finding(const char *what, const char *detail) {
  fprintf(stderr, "FUZZ FINDING: %s: %s\n", what, detail ? detail : "");
  abort();
}

/* The bytes as an anonymous in-memory file: its fd (>= 0) and "/proc/self/fd/N" in path. */
static inline int fuzz_memfile(const void *data, size_t size, char *path, size_t cap) {
  int fd = memfd_create("entro-fuzz", MFD_CLOEXEC);
  if (fd < 0) return -1;
  const char *p = data;
  while (size > 0) {
    ssize_t k = write(fd, p, size);
    if (k <= 0) { close(fd); return -1; }
    p += k;
    size -= (size_t)k;
  }
  snprintf(path, cap, "/proc/self/fd/%d", fd);
  return fd;
}

#endif
