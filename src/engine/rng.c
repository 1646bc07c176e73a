/* xoshiro256** (Blackman & Vigna), seeded with splitmix64: same stream on every platform. */
#include "co_internal.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void co_rng_seed(co_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t co_rng_next(co_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double co_rng_uniform(co_rng *r) {
  return (double)(co_rng_next(r) >> 11) * 0x1.0p-53;
}

size_t co_rng_below(co_rng *r, size_t n) {
  if (n <= 1)
    return 0;
  /* Lemire's nearly-divisionless bounded draw would be faster; modulo bias is < 2^-40 here. */
  return (size_t)(co_rng_next(r) % n);
}

double co_rng_normal(co_rng *r) {
  double u1 = co_rng_uniform(r), u2 = co_rng_uniform(r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void co_rng_shuffle(co_rng *r, uint32_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = co_rng_below(r, i);
    uint32_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

double co_rng_laplace(co_rng *r, double b) {
  double u = co_rng_uniform(r) - 0.5;
  double a = 1.0 - 2.0 * fabs(u);
  if (a < 1e-300)
    a = 1e-300;
  return (u < 0 ? b : -b) * log(a);
}
