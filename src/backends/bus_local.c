/* bus_local.c: the in-process bus. Subscribers are called on the publisher's thread. A reader-writer lock lets publishes run in parallel while
 * (un)subscribing takes it exclusively. */
#include "bus.h"
#include "backends.h"
#include "co_base.h"
#include "util.h"

#include <pthread.h>
#include <string.h>

struct co_bus_sub {
  struct co_bus_sub *next;
  char pattern[128];
  co_bus_msg_fn fn;
  void *ctx;
};

typedef struct local_bus {
  co_bus base;
  pthread_rwlock_t lock;
  co_bus_sub *subs;
} local_bus;

int co_bus_match(const char *pattern, const char *subject) {
  size_t n = strlen(pattern);
  if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '>')
    return strncmp(pattern, subject, n - 1) == 0 && subject[n - 1] != '\0';
  return strcmp(pattern, subject) == 0;
}

static void local_close(co_bus *base) {
  local_bus *b = (local_bus *)base;
  while (b->subs) {
    co_bus_sub *s = b->subs;
    b->subs = s->next;
    co_free(s);
  }
  pthread_rwlock_destroy(&b->lock);
  co_free(b);
}

static cohort_status local_publish(co_bus *base, const char *subject, const char *data, size_t len) {
  local_bus *b = (local_bus *)base;
  pthread_rwlock_rdlock(&b->lock);
  for (co_bus_sub *s = b->subs; s; s = s->next)
    if (co_bus_match(s->pattern, subject))
      s->fn(s->ctx, subject, data, len);
  pthread_rwlock_unlock(&b->lock);
  return COHORT_OK;
}

static cohort_status local_subscribe(co_bus *base, const char *pattern, co_bus_msg_fn fn, void *ctx,
                                     co_bus_sub **out) {
  local_bus *b = (local_bus *)base;
  co_bus_sub *s = co_calloc(1, sizeof *s);
  if (!s)
    return co_nomem();
  if (co_strlcpy(s->pattern, pattern, sizeof s->pattern) < 0) {
    co_free(s);
    return co_error(COHORT_ELIMIT, "subject pattern too long: %s", pattern);
  }
  s->fn = fn;
  s->ctx = ctx;
  pthread_rwlock_wrlock(&b->lock);
  s->next = b->subs;
  b->subs = s;
  pthread_rwlock_unlock(&b->lock);
  if (out)
    *out = s;
  return COHORT_OK;
}

static void local_unsubscribe(co_bus *base, co_bus_sub *sub) {
  local_bus *b = (local_bus *)base;
  pthread_rwlock_wrlock(&b->lock);
  for (co_bus_sub **p = &b->subs; *p; p = &(*p)->next)
    if (*p == sub) {
      *p = sub->next;
      co_free(sub);
      break;
    }
  pthread_rwlock_unlock(&b->lock);
}

/* Request/reply and the work queue are not used in process yet: the job threads poll the store. */
static const co_bus_ops local_ops = {
    .version = CO_BUS_VERSION,
    .name = "local",
    .close = local_close,
    .publish = local_publish,
    .subscribe = local_subscribe,
    .unsubscribe = local_unsubscribe,
};

cohort_status co_bus_local_open(co_bus **out) {
  local_bus *b = co_calloc(1, sizeof *b);
  *out = NULL;
  if (!b)
    return co_nomem();
  b->base.ops = &local_ops;
  pthread_rwlock_init(&b->lock, NULL);
  *out = &b->base;
  return COHORT_OK;
}
