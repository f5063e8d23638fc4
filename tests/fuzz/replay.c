/* replay.c -- a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput once on every file
 * given (files or directories), by default the target's seed corpus and its committed
 * regressions, tests/fuzz/{corpus,regressions}/FUZZ_NAME. Prints "N passed, N failed"; a
 * finding aborts (and the run.sh part reports the missing summary). Built with the normal
 * compiler, so `make test` replays the inputs even where clang's libFuzzer is missing. */
#include "fuzz.h"
#include <dirent.h>
#include <sys/stat.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static int passed, failed;

static void run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { printf("FAIL cannot open %s\n", path); failed++; return; }
  size_t cap = 1 << 16, len = 0;
  unsigned char *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
    len += k;
    if (len == cap) {
      unsigned char *b = realloc(buf, cap *= 2);
      if (!b) { free(buf); buf = NULL; }
      else buf = b;
    }
  }
  fclose(f);
  if (!buf) { printf("FAIL out of memory reading %s\n", path); failed++; return; }
  /* exactly len bytes, so a sanitizer sees any read past the end */
  unsigned char *exact = malloc(len ? len : 1);
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  passed++;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static void run_path(const char *path, int must_exist) {
  struct stat st;
  if (stat(path, &st)) {
    if (must_exist) { printf("FAIL no such file or directory: %s\n", path); failed++; }
    return;
  }
  if (!S_ISDIR(st.st_mode)) { run_file(path); return; }
  struct dirent **list;
  int n = scandir(path, &list, NULL, by_name);
  for (int i = 0; i < n; i++) {
    if (list[i]->d_name[0] != '.') {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", path, list[i]->d_name);
      run_path(sub, 1);
    }
    free(list[i]);
  }
  if (n >= 0) free(list);
}

int main(int argc, char **argv) {
  if (argc > 1) {
    for (int i = 1; i < argc; i++) run_path(argv[i], 1);
  } else {
    run_path("tests/fuzz/corpus/" STR(FUZZ_NAME), 1);
    run_path("tests/fuzz/regressions/" STR(FUZZ_NAME), 0);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
