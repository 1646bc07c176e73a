/* Fork-join over an index range. Chunks are claimed dynamically so uneven work (rows with many
 * missing values, early exits) balances across workers. The caller's thread always works; the
 * others are either started for the loop (the default) or lent by the host's executor
 * (cohort_set_executor), in which case a lent thread goes back to its pool between chunks when
 * other work waits for it, and the loop never waits for a thread: what nobody helps with, the
 * caller does. */
#include "co_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { MAX_THREADS = 64 };

static pthread_mutex_t ex_mu = PTHREAD_MUTEX_INITIALIZER;
static cohort_executor ex_cur; /* under ex_mu; lend == NULL: none installed */

cohort_status cohort_set_executor(const cohort_executor *ex) {
  cohort_executor copy = {0};
  if (ex) {
    cohort_status st = co_options_read(&copy, sizeof copy, ex, "executor");
    if (st != COHORT_OK)
      return st;
    if (!copy.lend)
      return co_error_in("lend", co_error(COHORT_EINVAL, "executor: lend is required"));
  }
  pthread_mutex_lock(&ex_mu);
  ex_cur = copy;
  pthread_mutex_unlock(&ex_mu);
  return COHORT_OK;
}

static cohort_executor executor(void) {
  pthread_mutex_lock(&ex_mu);
  cohort_executor ex = ex_cur;
  pthread_mutex_unlock(&ex_mu);
  return ex;
}

/* The CPUs this process may run on (taskset, cpuset), not all the machine has. */
static size_t cpus_allowed(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (size_t)CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (size_t)n : 1;
}

size_t co_threads(size_t requested) {
  if (requested)
    return requested;
  cohort_executor ex = executor();
  if (ex.lend && ex.threads)
    return ex.threads;
  return cpus_allowed();
}

typedef struct job {
  size_t n, chunk;
  _Atomic size_t next;
  _Atomic size_t next_id; /* worker ids handed to helpers: 1, 2, ... (the caller is 0) */
  _Atomic int status;
  co_range_fn fn;
  void *ctx;
  cohort_executor ex;
  pthread_mutex_t mu; /* lent helpers still running: the caller waits for none before returning */
  pthread_cond_t cv;
  size_t active;
  char msg[512]; /* the failing worker's message, carried to the caller's thread */
} job;

/* yield: a lent helper stops between chunks when its pool has other work waiting. */
static void run_chunks(job *j, size_t id, int yield) {
  for (;;) {
    if (atomic_load(&j->status) != COHORT_OK)
      return;
    if (yield && j->ex.wanted && j->ex.wanted(j->ex.ctx))
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

static void *started_main(void *p) {
  job *j = p;
  run_chunks(j, atomic_fetch_add(&j->next_id, 1), 0);
  return NULL;
}

static void lent_main(void *p) {
  job *j = p;
  run_chunks(j, atomic_fetch_add(&j->next_id, 1), 1);
  pthread_mutex_lock(&j->mu);
  if (--j->active == 0)
    pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu); /* last touch of j: the caller may return once active is 0 */
}

static cohort_status finish(job *j) {
  cohort_status st = (cohort_status)atomic_load(&j->status);
  return st == COHORT_OK ? st : co_error(st, "%s", j->msg);
}

cohort_status co_parallel(size_t n, size_t threads, size_t min_chunk, co_range_fn fn, void *ctx) {
  if (n == 0)
    return COHORT_OK;
  cohort_executor ex = executor();
  threads = threads ? threads : ex.lend && ex.threads ? ex.threads : cpus_allowed();
  if (threads > MAX_THREADS)
    threads = MAX_THREADS;
  if (!min_chunk)
    min_chunk = 1;
  size_t chunk = n / (threads * 8);
  if (chunk < min_chunk)
    chunk = min_chunk;
  if (threads > (n + chunk - 1) / chunk)
    threads = (n + chunk - 1) / chunk;
  if (threads <= 1)
    return fn(ctx, 0, n, 0);

  job j = {.n = n, .chunk = chunk, .fn = fn, .ctx = ctx, .ex = ex};
  atomic_init(&j.next, 0);
  atomic_init(&j.next_id, 1);
  atomic_init(&j.status, COHORT_OK);
  if (ex.lend) {
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    /* active counts the helpers before they can run, so none finishes "last" too early. */
    j.active = threads - 1;
    size_t lent = ex.lend(ex.ctx, threads - 1, lent_main, &j);
    pthread_mutex_lock(&j.mu);
    j.active -= threads - 1 - lent;
    pthread_mutex_unlock(&j.mu);
    run_chunks(&j, 0, 0);
    pthread_mutex_lock(&j.mu);
    while (j.active > 0)
      pthread_cond_wait(&j.cv, &j.mu);
    pthread_mutex_unlock(&j.mu);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    return finish(&j);
  }
  pthread_t tid[MAX_THREADS];
  size_t started = 0;
  for (size_t i = 1; i < threads; i++) {
    if (pthread_create(&tid[i], NULL, started_main, &j) != 0)
      break; /* fewer threads is fine: the caller's thread does the rest */
    started = i;
  }
  run_chunks(&j, 0, 0);
  for (size_t i = 1; i <= started; i++)
    pthread_join(tid[i], NULL);
  return finish(&j);
}
