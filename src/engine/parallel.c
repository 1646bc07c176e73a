/* Fork-join over an index range with POSIX threads. Chunks are claimed dynamically so uneven
 * work (rows with many missing values, early exits) balances across workers. */
#include "co_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

size_t co_threads(size_t requested) {
  if (requested)
    return requested;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (size_t)n : 1;
}

typedef struct job {
  size_t n, chunk;
  _Atomic size_t next;
  _Atomic int status;
  co_range_fn fn;
  void *ctx;
  char msg[512]; /* the failing worker's message, carried to the caller's thread */
} job;

typedef struct worker_arg {
  job *j;
  size_t id;
} worker_arg;

static void run_chunks(job *j, size_t id) {
  for (;;) {
    if (atomic_load(&j->status) != COHORT_OK)
      return;
    size_t b = atomic_fetch_add(&j->next, j->chunk);
    if (b >= j->n)
      return;
    size_t e = b + j->chunk < j->n ? b + j->chunk : j->n;
    cohort_status st = j->fn(j->ctx, b, e, id);
    if (st != COHORT_OK) {
      int expected = COHORT_OK;
      if (atomic_compare_exchange_strong(&j->status, &expected, (int)st))
        snprintf(j->msg, sizeof j->msg, "%s", cohort_errmsg());
      return;
    }
  }
}

static void *worker_main(void *p) {
  worker_arg *a = p;
  run_chunks(a->j, a->id);
  return NULL;
}

cohort_status co_parallel(size_t n, size_t threads, size_t min_chunk, co_range_fn fn, void *ctx) {
  if (n == 0)
    return COHORT_OK;
  threads = co_threads(threads);
  if (threads > 64)
    threads = 64;
  if (!min_chunk)
    min_chunk = 1;
  size_t chunk = n / (threads * 8);
  if (chunk < min_chunk)
    chunk = min_chunk;
  if (threads > (n + chunk - 1) / chunk)
    threads = (n + chunk - 1) / chunk;
  if (threads <= 1)
    return fn(ctx, 0, n, 0);

  job j = {.n = n, .chunk = chunk, .fn = fn, .ctx = ctx};
  atomic_init(&j.next, 0);
  atomic_init(&j.status, COHORT_OK);
  pthread_t tid[64];
  worker_arg args[64];
  size_t started = 0;
  for (size_t i = 1; i < threads; i++) {
    args[i] = (worker_arg){&j, i};
    if (pthread_create(&tid[i], NULL, worker_main, &args[i]) != 0)
      break; /* fewer threads is fine: the caller's thread does the rest */
    started = i;
  }
  run_chunks(&j, 0);
  for (size_t i = 1; i <= started; i++)
    pthread_join(tid[i], NULL);
  cohort_status st = (cohort_status)atomic_load(&j.status);
  return st == COHORT_OK ? st : co_error(st, "%s", j.msg);
}
