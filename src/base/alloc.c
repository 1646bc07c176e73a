/* One allocation wrapper for the engine, so tests can make the n-th allocation fail. */
#include "co_base.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long fail_countdown; /* 0 = never fail */

void co_alloc_fail_after(long n) {
  atomic_store(&fail_countdown, n);
}

static bool should_fail(void) {
  long c = atomic_load(&fail_countdown);
  while (c > 0) {
    if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
      return c == 1;
  }
  return false;
}

void *co_malloc(size_t n) {
  if (should_fail())
    return NULL;
  return malloc(n ? n : 1);
}

void *co_calloc(size_t count, size_t size) {
  if (should_fail())
    return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *co_realloc(void *p, size_t n) {
  if (should_fail())
    return NULL;
  return realloc(p, n ? n : 1);
}

void co_free(void *p) {
  free(p);
}

void cohort_free(void *p) {
  co_free(p);
}

int co_grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2)
      return -1;
    ncap *= 2;
  }
  if (size && ncap > SIZE_MAX / size)
    return -1;
  void *np = co_realloc(*p, ncap * size);
  if (!np)
    return -1;
  *p = np;
  *cap = ncap;
  return 0;
}

char *co_strndup(const char *s, size_t n) {
  char *d = co_malloc(n + 1);
  if (!d)
    return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *co_strdup(const char *s) {
  return co_strndup(s, strlen(s));
}
