/* budget.c: see budget.h. One mutex orders reservations; the hosted bytes come from the host's
 * shrink callback, called under it (lock order: budget, then host; the host reads the reserved
 * bytes through an atomic, never the mutex). */
#include "budget.h"
#include "co_base.h"

#include <pthread.h>
#include <stdatomic.h>

struct co_budget {
  int64_t total;
  _Atomic int64_t reserved;
  _Atomic int64_t refusals;
  pthread_mutex_t mu;
  co_budget_shrink_fn shrink;
  void *host;
};

cohort_status co_budget_create(int64_t total_bytes, co_budget **out) {
  co_budget *b = co_calloc(1, sizeof *b);
  *out = NULL;
  if (!b)
    return co_nomem();
  b->total = total_bytes;
  pthread_mutex_init(&b->mu, NULL);
  *out = b;
  return COHORT_OK;
}

void co_budget_free(co_budget *b) {
  if (!b)
    return;
  pthread_mutex_destroy(&b->mu);
  co_free(b);
}

void co_budget_set_host(co_budget *b, co_budget_shrink_fn shrink, void *ctx) {
  b->shrink = shrink;
  b->host = ctx;
}

static long long mb(int64_t bytes) {
  return (long long)((bytes + (1 << 20) - 1) >> 20);
}

static cohort_status reserve(co_budget *b, int64_t bytes, const char *what, int count) {
  if (bytes <= 0)
    return COHORT_OK;
  if (bytes > b->total) {
    atomic_fetch_add(&b->refusals, count);
    return co_error(COHORT_ELIMIT,
                    "%s needs about %lld MB of memory, more than the server setting "
                    "memory_budget_mb = %lld allows",
                    what, mb(bytes), mb(b->total));
  }
  pthread_mutex_lock(&b->mu);
  int64_t work = atomic_load(&b->reserved) + bytes;
  int64_t hosted = work <= b->total && b->shrink ? b->shrink(b->host, b->total - work) : 0;
  int fits = work + hosted <= b->total;
  if (fits) /* an add, not a store of work: releases run without the mutex and may have landed since */
    atomic_fetch_add(&b->reserved, bytes);
  pthread_mutex_unlock(&b->mu);
  if (fits)
    return COHORT_OK;
  atomic_fetch_add(&b->refusals, count);
  return co_error(COHORT_EUNAVAIL,
                  "%s needs about %lld MB of memory and the server's budget (memory_budget_mb = %lld) is "
                  "taken: %lld MB by work in progress, %lld MB by trainees in use; retry shortly",
                  what, mb(bytes), mb(b->total), mb(work - bytes), mb(hosted));
}

cohort_status co_budget_reserve(co_budget *b, int64_t bytes, const char *what) {
  return reserve(b, bytes, what, 1);
}

cohort_status co_budget_retry(co_budget *b, int64_t bytes, const char *what) {
  return reserve(b, bytes, what, 0);
}

void co_budget_release(co_budget *b, int64_t bytes) {
  if (bytes > 0)
    atomic_fetch_sub(&b->reserved, bytes);
}

int64_t co_budget_total(const co_budget *b) {
  return b->total;
}

int64_t co_budget_reserved(const co_budget *b) {
  return atomic_load(&((co_budget *)b)->reserved);
}

int64_t co_budget_refusals(const co_budget *b) {
  return atomic_load(&((co_budget *)b)->refusals);
}
