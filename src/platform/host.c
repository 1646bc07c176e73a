#include "host.h"
#include "co_base.h"
#include "integrity.h"
#include "util.h"

#include <pthread.h>
#include <string.h>

struct co_hosted {
  struct co_hosted *next;
  char id[CO_ID_MAX];
  int64_t version;
  cohort_trainee *t; /* NULL while loading */
  int64_t bytes;
  int refs;
  int stale; /* replaced or dropped: freed when the last reader releases it */
  uint64_t last_used;
};

struct co_host {
  co_blobs *blobs;
  co_host_corrupt_fn on_corrupt;
  void *corrupt_ctx;
  co_budget *budget; /* shared with the work in progress: trainees get what it does not hold */
  pthread_mutex_t mu;
  pthread_cond_t loaded; /* a load finished (or failed) */
  co_hosted *list;
  int64_t bytes, loads, evictions;
};

cohort_status co_host_create(co_blobs *blobs, co_budget *budget, co_host_corrupt_fn on_corrupt, void *ctx,
                             co_host **out) {
  co_host *h = co_calloc(1, sizeof *h);
  *out = NULL;
  if (!h)
    return co_nomem();
  h->blobs = blobs;
  h->on_corrupt = on_corrupt;
  h->corrupt_ctx = ctx;
  h->budget = budget;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->loaded, NULL);
  *out = h;
  return COHORT_OK;
}

static void entry_free(co_hosted *e) {
  cohort_trainee_free(e->t);
  co_free(e);
}

void co_host_free(co_host *h) {
  if (!h)
    return;
  while (h->list) {
    co_hosted *e = h->list;
    h->list = e->next;
    entry_free(e);
  }
  pthread_cond_destroy(&h->loaded);
  pthread_mutex_destroy(&h->mu);
  co_free(h);
}

static void unlink_entry(co_host *h, co_hosted *e) {
  for (co_hosted **p = &h->list; *p; p = &(*p)->next)
    if (*p == e) {
      *p = e->next;
      break;
    }
  h->bytes -= e->bytes;
}

/* Under mu: evicts least recently used idle trainees until they take at most limit bytes (or none
 * is idle). The most recently used one stays even alone over it, or every call would reload it. */
static void evict(co_host *h, int64_t limit) {
  while (h->bytes > limit) {
    co_hosted *victim = NULL, *newest = NULL;
    for (co_hosted *e = h->list; e; e = e->next)
      if (e->t && (!newest || e->last_used > newest->last_used))
        newest = e;
    for (co_hosted *e = h->list; e; e = e->next)
      if (e->refs == 0 && e->t && e != newest && (!victim || e->last_used < victim->last_used))
        victim = e;
    if (!victim)
      return;
    unlink_entry(h, victim);
    entry_free(victim);
    h->evictions++;
  }
}

static cohort_status load(co_host *h, const co_trainee *rec, cohort_trainee **out, int64_t *bytes) {
  char path[4096];
  cohort_status st = co_blob_check(h->blobs, rec->blob, rec->blob_sha256, rec->blob_bytes, path, sizeof path);
  if (st == COHORT_OK && (st = h->blobs->ops->size(h->blobs, rec->blob, bytes)) == COHORT_OK &&
      (st = cohort_trainee_load(out, path)) == COHORT_ECORRUPT) /* a file from before checksums */
    st = co_error(COHORT_ECORRUPT, "object '%s' is corrupt: %s", rec->blob, cohort_errmsg());
  if (h->on_corrupt && (st == COHORT_ECORRUPT || (st == COHORT_OK && rec->corrupt[0]))) {
    char why[CO_CORRUPT_MAX];
    co_strlcpy(why, st == COHORT_OK ? "" : cohort_errmsg(), sizeof why);
    h->on_corrupt(h->corrupt_ctx, rec, why);
    if (st != COHORT_OK) /* the hook's store calls may have set another message */
      co_error(st, "%s", why);
  }
  if (st != COHORT_OK)
    return st;
  /* Readers share the trainee, so build what they would otherwise build lazily. */
  if (cohort_trainee_cases(*out) > 0 && (st = cohort_trainee_prepare(*out)) != COHORT_OK) {
    cohort_trainee_free(*out);
    *out = NULL;
    return st;
  }
  *bytes += *bytes / 2; /* the search index beside the cases */
  return COHORT_OK;
}

int64_t co_host_cases(co_host *h, const co_trainee *rec) {
  int64_t n = -1;
  pthread_mutex_lock(&h->mu);
  for (co_hosted *x = h->list; x; x = x->next)
    if (!x->stale && x->t && x->version >= rec->version && strcmp(x->id, rec->id) == 0) {
      n = (int64_t)cohort_trainee_cases(x->t);
      break;
    }
  pthread_mutex_unlock(&h->mu);
  return n;
}

cohort_status co_host_acquire(co_host *h, const co_trainee *rec, co_hosted **out) {
  *out = NULL;
  if (rec->version <= 0 || !rec->blob[0])
    return co_error(COHORT_ESTATE, "trainee '%s' is not trained yet", rec->id);
  pthread_mutex_lock(&h->mu);
  for (;;) {
    co_hosted *e = NULL;
    for (co_hosted *x = h->list; x; x = x->next)
      if (!x->stale && strcmp(x->id, rec->id) == 0) {
        e = x;
        break;
      }
    if (e && !e->t) { /* another thread is loading it */
      pthread_cond_wait(&h->loaded, &h->mu);
      continue;
    }
    if (e && e->version >= rec->version) {
      /* This version, or a newer one than the caller's record names: serve what we host. */
      e->refs++;
      e->last_used = co_mono_ns();
      pthread_mutex_unlock(&h->mu);
      *out = e;
      return COHORT_OK;
    }
    if (e) { /* an older version: retire it */
      unlink_entry(h, e);
      if (e->refs == 0)
        entry_free(e);
      else
        e->stale = 1;
    }
    break;
  }
  co_hosted *e = co_calloc(1, sizeof *e);
  if (!e) {
    pthread_mutex_unlock(&h->mu);
    return co_nomem();
  }
  co_strlcpy(e->id, rec->id, sizeof e->id);
  e->version = rec->version;
  e->refs = 1;
  e->next = h->list;
  h->list = e;
  pthread_mutex_unlock(&h->mu);

  cohort_trainee *t = NULL;
  int64_t bytes = 0;
  cohort_status st = load(h, rec, &t, &bytes);

  pthread_mutex_lock(&h->mu);
  if (st != COHORT_OK) {
    unlink_entry(h, e);
    co_free(e);
  } else {
    e->t = t;
    e->bytes = bytes;
    e->last_used = co_mono_ns();
    h->bytes += bytes;
    h->loads++;
    evict(h, co_budget_total(h->budget) - co_budget_reserved(h->budget));
    *out = e;
  }
  pthread_cond_broadcast(&h->loaded);
  pthread_mutex_unlock(&h->mu);
  return st;
}

int64_t co_host_shrink(void *host, int64_t target) {
  co_host *h = host;
  pthread_mutex_lock(&h->mu);
  evict(h, target);
  int64_t bytes = h->bytes;
  pthread_mutex_unlock(&h->mu);
  return bytes;
}

cohort_trainee *co_hosted_trainee(co_hosted *e) {
  return e->t;
}

void co_host_release(co_host *h, co_hosted *e) {
  if (!e)
    return;
  pthread_mutex_lock(&h->mu);
  e->refs--;
  if (e->refs == 0 && e->stale)
    entry_free(e);
  else
    evict(h, co_budget_total(h->budget) - co_budget_reserved(h->budget));
  pthread_mutex_unlock(&h->mu);
}

void co_host_drop(co_host *h, const char *id) {
  pthread_mutex_lock(&h->mu);
  for (co_hosted *e = h->list; e; e = e->next) {
    if (e->stale || strcmp(e->id, id) != 0 || !e->t)
      continue;
    unlink_entry(h, e);
    if (e->refs == 0)
      entry_free(e);
    else
      e->stale = 1;
    break;
  }
  pthread_mutex_unlock(&h->mu);
}

void co_host_stats(co_host *h, int64_t *loaded, int64_t *bytes, int64_t *loads, int64_t *evictions) {
  pthread_mutex_lock(&h->mu);
  int64_t n = 0;
  for (co_hosted *e = h->list; e; e = e->next)
    n += e->t != NULL;
  *loaded = n;
  *bytes = h->bytes;
  *loads = h->loads;
  *evictions = h->evictions;
  pthread_mutex_unlock(&h->mu);
}
