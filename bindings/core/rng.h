/* rng.h -- explicit random generators: xoshiro256** seeded through splitmix64.
 *
 * A generator is a plain value (its whole state is below), so it can be saved, restored
 * and split. Normal deviates use the polar method; the spare deviate is part of the state,
 * so a restored generator continues bitwise identically. */
#ifndef ENTRO_RNG_H
#define ENTRO_RNG_H
#include <stdint.h>
#include "tensor.h"

typedef struct {
  uint64_t s[4];
  int has_spare;
  double spare;
} entro_rng;

void entro_rng_seed(entro_rng *g, uint64_t seed);
uint64_t entro_rng_next(entro_rng *g);
double entro_rng_uniform(entro_rng *g);             /* [0, 1), 53 bits */
double entro_rng_normal(entro_rng *g);              /* N(0, 1) */
uint64_t entro_rng_below(entro_rng *g, uint64_t n); /* uniform in [0, n), unbiased */
/* A new, independent stream: the child takes this state, this one jumps 2^128 ahead. */
void entro_rng_split(entro_rng *g, entro_rng *child);
/* State as text: "xoshiro256** s0 s1 s2 s3 spare" (hex); parse fails on anything else. */
void entro_rng_state(const entro_rng *g, char *buf, size_t n);
int entro_rng_set_state(entro_rng *g, const char *s);

/* Fill kernels (t may be any writable view). */
int entro_rng_fill_uniform(entro_rng *g, entro_tensor *t, double lo, double hi);
int entro_rng_fill_normal(entro_rng *g, entro_tensor *t, double mean, double std);
int entro_rng_fill_randint(entro_rng *g, entro_tensor *t, int64_t lo, int64_t hi); /* [lo, hi] */
int entro_rng_fill_bernoulli(entro_rng *g, entro_tensor *t, double p);
/* A random permutation of 0..n-1 into a contiguous vector of length n. */
int entro_rng_perm(entro_rng *g, entro_tensor *t);

#endif
