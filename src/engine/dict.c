/* Insertion-ordered string dictionary: dense codes, open addressing with linear probing. */
#include "co_internal.h"

#include <string.h>

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

long co_dict_find(const co_dict *d, const char *s) {
  if (!d->nslots)
    return -1;
  size_t mask = d->nslots - 1;
  for (size_t i = hash_str(s) & mask;; i = (i + 1) & mask) {
    uint32_t v = d->slots[i];
    if (!v)
      return -1;
    if (strcmp(d->items[v - 1], s) == 0)
      return (long)(v - 1);
  }
}

static int rehash(co_dict *d, size_t nslots) {
  uint32_t *slots = co_calloc(nslots, sizeof *slots);
  if (!slots)
    return -1;
  size_t mask = nslots - 1;
  for (size_t c = 0; c < d->n; c++) {
    size_t i = hash_str(d->items[c]) & mask;
    while (slots[i])
      i = (i + 1) & mask;
    slots[i] = (uint32_t)(c + 1);
  }
  co_free(d->slots);
  d->slots = slots;
  d->nslots = nslots;
  return 0;
}

long co_dict_add(co_dict *d, const char *s) {
  long code = co_dict_find(d, s);
  if (code >= 0)
    return code;
  if (d->n >= UINT32_MAX - 1)
    return -1;
  if ((d->n + 1) * 2 > d->nslots && rehash(d, d->nslots ? d->nslots * 2 : 16) != 0)
    return -1;
  if (co_grow((void **)&d->items, &d->cap, d->n + 1, sizeof *d->items) != 0)
    return -1;
  char *copy = co_strdup(s);
  if (!copy)
    return -1;
  d->items[d->n] = copy;
  size_t mask = d->nslots - 1;
  size_t i = hash_str(s) & mask;
  while (d->slots[i])
    i = (i + 1) & mask;
  d->slots[i] = (uint32_t)(d->n + 1);
  return (long)d->n++;
}

int co_dict_copy(co_dict *dst, const co_dict *src) {
  memset(dst, 0, sizeof *dst);
  for (size_t i = 0; i < src->n; i++) {
    if (co_dict_add(dst, src->items[i]) < 0) {
      co_dict_free(dst);
      return -1;
    }
  }
  return 0;
}

void co_dict_free(co_dict *d) {
  for (size_t i = 0; i < d->n; i++)
    co_free(d->items[i]);
  co_free(d->items);
  co_free(d->slots);
  memset(d, 0, sizeof *d);
}
