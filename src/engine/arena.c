/* Chunked bump allocator for strings that share one lifetime (a table's cells). */
#include "co_internal.h"

#include <string.h>

#define CO_ARENA_CHUNK (64 * 1024)

struct co_arena_chunk {
  struct co_arena_chunk *next;
  size_t used, cap;
  char data[];
};

char *co_arena_strndup(co_arena *a, const char *s, size_t n) {
  struct co_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n + 1) {
    size_t cap = n + 1 > CO_ARENA_CHUNK ? n + 1 : CO_ARENA_CHUNK;
    c = co_malloc(sizeof *c + cap);
    if (!c)
      return NULL;
    c->used = 0;
    c->cap = cap;
    c->next = a->head;
    a->head = c;
  }
  char *d = c->data + c->used;
  memcpy(d, s, n);
  d[n] = '\0';
  c->used += n + 1;
  return d;
}

void co_arena_free(co_arena *a) {
  struct co_arena_chunk *c = a->head;
  while (c) {
    struct co_arena_chunk *next = c->next;
    co_free(c);
    c = next;
  }
  a->head = NULL;
}
