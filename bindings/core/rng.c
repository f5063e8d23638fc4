/* rng.c -- xoshiro256** (Blackman and Vigna) and the distributions entro needs. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "rng.h"
#include "iter.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void entro_rng_seed(entro_rng *g, uint64_t seed) {
  for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&seed);
  g->has_spare = 0;
  g->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t entro_rng_next(entro_rng *g) {
  uint64_t *s = g->s;
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

double entro_rng_uniform(entro_rng *g) { return (double)(entro_rng_next(g) >> 11) * 0x1.0p-53; }

double entro_rng_normal(entro_rng *g) {
  if (g->has_spare) { g->has_spare = 0; return g->spare; }
  double u, v, s;
  do {
    u = 2 * entro_rng_uniform(g) - 1;
    v = 2 * entro_rng_uniform(g) - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  double f = sqrt(-2 * log(s) / s);
  g->spare = v * f;
  g->has_spare = 1;
  return u * f;
}

uint64_t entro_rng_below(entro_rng *g, uint64_t n) {
  if (n == 0) return 0;
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;   /* reject the biased tail */
  uint64_t x;
  do x = entro_rng_next(g); while (x >= lim);
  return x % n;
}

void entro_rng_split(entro_rng *g, entro_rng *child) {
  static const uint64_t J[] = {0x180ec6d33cfd0aba, 0xd5a61266f0c9392c, 0xa9582618e03fc9aa,
                               0x39abdc4529b1661c};
  *child = *g;
  child->has_spare = 0;
  uint64_t s[4] = {0};
  for (int i = 0; i < 4; i++)
    for (int b = 0; b < 64; b++) {
      if (J[i] & ((uint64_t)1 << b)) for (int k = 0; k < 4; k++) s[k] ^= g->s[k];
      entro_rng_next(g);
    }
  memcpy(g->s, s, sizeof s);
}

void entro_rng_state(const entro_rng *g, char *buf, size_t n) {
  uint64_t spare;
  memcpy(&spare, &g->spare, sizeof spare);
  snprintf(buf, n, "xoshiro256** %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64
           " %d %016" PRIx64, g->s[0], g->s[1], g->s[2], g->s[3], g->has_spare, spare);
}

int entro_rng_set_state(entro_rng *g, const char *str) {
  entro_rng t;
  uint64_t spare;
  int used = 0;
  if (sscanf(str, "xoshiro256** %16" SCNx64 " %16" SCNx64 " %16" SCNx64 " %16" SCNx64 " %d %16" SCNx64 "%n",
             &t.s[0], &t.s[1], &t.s[2], &t.s[3], &t.has_spare, &spare, &used) != 6 ||
      str[used] != '\0' || (t.has_spare != 0 && t.has_spare != 1) ||
      (t.s[0] | t.s[1] | t.s[2] | t.s[3]) == 0)
    return entro_fail(ENTRO_EINVAL, "rng:set_state: not a generator state string");
  memcpy(&t.spare, &spare, sizeof spare);
  *g = t;
  return ENTRO_OK;
}

/* Fills walk the tensor in index order, so the same view always gets the same numbers. */
typedef struct { entro_rng *g; double a, b; int kind; } fill_ctx;

static void fill_inner(void *c, int64_t n, double **p, const int64_t *s) {
  fill_ctx *f = c;
  double *o = p[0];
  for (int64_t i = 0; i < n; i++) {
    double v;
    switch (f->kind) {
      case 0: v = f->a + (f->b - f->a) * entro_rng_uniform(f->g); break;
      case 1: v = f->a + f->b * entro_rng_normal(f->g); break;
      case 2: v = f->a + (double)entro_rng_below(f->g, (uint64_t)f->b); break;
      default: v = entro_rng_uniform(f->g) < f->a ? 1.0 : 0.0; break;
    }
    o[i * s[0]] = v;
  }
}

static int fill(entro_tensor *t, fill_ctx *c, const char *op) {
  if (entro_tensor_check_writable(op, t)) return ENTRO_EINVAL;
  entro_tensor_bump(t);
  entro_iter it;
  const entro_tensor *ops[1] = {t};
  /* keep the logical order: do not let the walker reorder dims (it never does) */
  entro_iter_prepare(&it, t->ndim, t->shape, 1, ops);
  it.serial = 1;   /* one stream, in index order */
  return entro_iter_run(&it, fill_inner, c, op);
}

int entro_rng_fill_uniform(entro_rng *g, entro_tensor *t, double lo, double hi) {
  fill_ctx c = {g, lo, hi, 0};
  return fill(t, &c, "rand");
}

int entro_rng_fill_normal(entro_rng *g, entro_tensor *t, double mean, double std) {
  if (!(std >= 0)) return entro_fail(ENTRO_EINVAL, "normal: standard deviation %g is negative", std);
  fill_ctx c = {g, mean, std, 1};
  return fill(t, &c, "normal");
}

int entro_rng_fill_randint(entro_rng *g, entro_tensor *t, int64_t lo, int64_t hi) {
  if (hi < lo) return entro_fail(ENTRO_EINVAL, "randint: empty range %lld..%lld", (long long)lo, (long long)hi);
  if (lo < -((int64_t)1 << 53) || hi > ((int64_t)1 << 53))   /* exact in a double, no overflow */
    return entro_fail(ENTRO_EINVAL, "randint: range %lld..%lld exceeds 2^53", (long long)lo, (long long)hi);
  fill_ctx c = {g, (double)lo, (double)(hi - lo + 1), 2};
  return fill(t, &c, "randint");
}

int entro_rng_fill_bernoulli(entro_rng *g, entro_tensor *t, double p) {
  if (!(p >= 0 && p <= 1)) return entro_fail(ENTRO_EINVAL, "bernoulli: probability %g outside [0, 1]", p);
  fill_ctx c = {g, p, 0, 3};
  return fill(t, &c, "bernoulli");
}

int entro_rng_perm(entro_rng *g, entro_tensor *t) {
  int64_t n = t->numel;
  double *d = entro_data(t);
  for (int64_t i = 0; i < n; i++) d[i] = (double)i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)entro_rng_below(g, (uint64_t)i + 1);
    double x = d[i]; d[i] = d[j]; d[j] = x;
  }
  entro_tensor_bump(t);
  return ENTRO_OK;
}
