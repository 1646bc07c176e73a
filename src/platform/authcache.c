#include "authcache.h"
#include "auth.h"
#include "co_base.h"
#include "util.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

enum { K_FREE = 0, K_TOKEN, K_SESSION, K_MEMBER, K_WORKSPACE, K_TRAINEE };
enum { KEY_MAX = 2 * CO_ID_MAX + 2 }; /* a 64-hex hash, an id, or "workspace\nuser" */

typedef struct entry {
  int kind;
  int next;      /* next entry in its bucket, -1 = last */
  uint64_t born; /* co_mono_ns when the store read behind it began */
  char key[KEY_MAX];
  union {
    struct {
      co_token tok;
      co_user user;
    } t;
    struct {
      co_session se;
      co_user user;
    } s;
    co_role role;
    co_trainee tr; /* info_json always NULL */
  } v;
} entry;

struct co_authcache {
  pthread_mutex_t mu;
  uint64_t ttl_ns;
  uint64_t gen;               /* bumped by every flush or drop */
  size_t cap, nbuckets, ring; /* ring: the slot the next insert takes (oldest insert first) */
  int *buckets;               /* head slot per bucket, -1 = empty */
  entry *slots;
  int64_t hits, misses;
};

/* What a miss remembers from before its store read, for the insert after it. */
typedef struct ticket {
  uint64_t gen, born;
} ticket;

static size_t hash_key(int kind, const char *key) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return (size_t)h;
}

cohort_status co_authcache_create(int64_t ttl_ms, size_t max_entries, co_authcache **out) {
  *out = NULL;
  if (ttl_ms <= 0)
    return co_error(COHORT_EINVAL, "auth_cache_s: must be positive to create a cache");
  if (max_entries < 1 || max_entries > (1u << 24))
    return co_error(COHORT_EINVAL, "auth_cache_entries: must be between 1 and %u", 1u << 24);
  co_authcache *c = co_calloc(1, sizeof *c);
  if (!c)
    return co_error(COHORT_ENOMEM, "auth cache: out of memory");
  c->ttl_ns = (uint64_t)ttl_ms * 1000000u;
  c->cap = max_entries;
  for (c->nbuckets = 16; c->nbuckets < max_entries; c->nbuckets *= 2)
    ;
  c->buckets = co_malloc(c->nbuckets * sizeof *c->buckets);
  c->slots = co_calloc(c->cap, sizeof *c->slots);
  if (!c->buckets || !c->slots) {
    co_free(c->buckets);
    co_free(c->slots);
    co_free(c);
    return co_error(COHORT_ENOMEM, "auth cache: out of memory for %zu entries", max_entries);
  }
  for (size_t i = 0; i < c->nbuckets; i++)
    c->buckets[i] = -1;
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return COHORT_OK;
}

void co_authcache_destroy(co_authcache *c) {
  if (!c)
    return;
  sodium_memzero(c->slots, c->cap * sizeof *c->slots); /* password hashes, CSRF tokens */
  co_free(c->slots);
  co_free(c->buckets);
  pthread_mutex_destroy(&c->mu);
  co_free(c);
}

/* ---------------------------------------------------------------- table (called under c->mu) */

static int find(co_authcache *c, int kind, const char *key) {
  for (int i = c->buckets[hash_key(kind, key) & (c->nbuckets - 1)]; i >= 0; i = c->slots[i].next)
    if (c->slots[i].kind == kind && strcmp(c->slots[i].key, key) == 0)
      return i;
  return -1;
}

static void unlink_slot(co_authcache *c, int i) {
  entry *e = &c->slots[i];
  int *link = &c->buckets[hash_key(e->kind, e->key) & (c->nbuckets - 1)];
  while (*link != i)
    link = &c->slots[*link].next;
  *link = e->next;
  sodium_memzero(e, sizeof *e); /* kind = K_FREE */
}

/* A fresh entry's slot, or -1; an expired one is unlinked on the way. */
static int lookup(co_authcache *c, int kind, const char *key) {
  int i = find(c, kind, key);
  if (i >= 0 && co_mono_ns() - c->slots[i].born >= c->ttl_ns) {
    unlink_slot(c, i);
    i = -1;
  }
  if (i >= 0)
    c->hits++;
  else
    c->misses++;
  return i;
}

/* ---------------------------------------------------------------- the generic steps */

/* Copies a fresh entry's value into *out: 1 = hit. */
static int get(co_authcache *c, int kind, const char *key, entry *out) {
  pthread_mutex_lock(&c->mu);
  int i = lookup(c, kind, key);
  if (i >= 0)
    *out = c->slots[i];
  pthread_mutex_unlock(&c->mu);
  return i >= 0;
}

/* Taken before a store read whose result may be put. */
static ticket begin(co_authcache *c) {
  ticket t;
  pthread_mutex_lock(&c->mu);
  t.gen = c->gen;
  pthread_mutex_unlock(&c->mu);
  t.born = co_mono_ns(); /* after reading gen: a flush before this instant refuses the put */
  return t;
}

/* Keeps v (kind and value filled) under key unless a flush or drop came after the ticket. */
static void put(co_authcache *c, const ticket *t, const char *key, const entry *v) {
  pthread_mutex_lock(&c->mu);
  if (c->gen == t->gen) {
    int i = find(c, v->kind, key);
    if (i < 0) {
      i = (int)c->ring;
      c->ring = (c->ring + 1) % c->cap;
      if (c->slots[i].kind != K_FREE)
        unlink_slot(c, i);
      entry *e = &c->slots[i];
      *e = *v;
      co_strlcpy(e->key, key, sizeof e->key);
      size_t b = hash_key(e->kind, key) & (c->nbuckets - 1);
      e->next = c->buckets[b];
      c->buckets[b] = i;
    } else { /* another thread got there first: keep the newer read, in place */
      int next = c->slots[i].next;
      c->slots[i] = *v;
      co_strlcpy(c->slots[i].key, key, sizeof c->slots[i].key);
      c->slots[i].next = next;
    }
    c->slots[i].born = t->born;
  }
  pthread_mutex_unlock(&c->mu);
}

void co_authcache_flush(co_authcache *c) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->gen++;
  for (size_t i = 0; i < c->cap; i++)
    if (c->slots[i].kind != K_FREE)
      sodium_memzero(&c->slots[i], sizeof c->slots[i]);
  for (size_t i = 0; i < c->nbuckets; i++)
    c->buckets[i] = -1;
  pthread_mutex_unlock(&c->mu);
}

void co_authcache_drop_trainee(co_authcache *c, const char *trainee_id) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->gen++;
  int i = find(c, K_TRAINEE, trainee_id);
  if (i >= 0)
    unlink_slot(c, i);
  pthread_mutex_unlock(&c->mu);
}

void co_authcache_stats(co_authcache *c, int64_t *hits, int64_t *misses) {
  *hits = *misses = 0;
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  *hits = c->hits;
  *misses = c->misses;
  pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- lookups */

/* A key that does not fit (an over-long id from a URL) is never cached: 0. */
static int make_key(char key[KEY_MAX], const char *a, const char *b) {
  int n = b ? snprintf(key, KEY_MAX, "%s\n%s", a, b) : snprintf(key, KEY_MAX, "%s", a);
  return n > 0 && n < KEY_MAX;
}

cohort_status co_authcache_token(co_authcache *c, co_store *s, const char *secret, co_user *user) {
  char hash[65];
  entry e;
  cohort_status st;
  co_secret_hash(secret, hash);
  if (!c) {
    st = co_token_lookup(s, hash, &e.v.t.tok, user);
    goto out;
  }
  if (get(c, K_TOKEN, hash, &e)) {
    int64_t now = co_now_ms();
    /* Expiry is the token's own clock, not the cache's: checked on every request. */
    if (e.v.t.tok.expires_ms && e.v.t.tok.expires_ms <= now) {
      st = co_error(COHORT_EINVAL, "API token '%s' expired", e.v.t.tok.name);
      goto out;
    }
    *user = e.v.t.user;
    if (now - e.v.t.tok.last_used_ms > CO_TOKEN_TOUCH_MS) {
      s->ops->token_touch(s, e.v.t.tok.id, now);
      pthread_mutex_lock(&c->mu);
      int i = find(c, K_TOKEN, hash);
      if (i >= 0)
        c->slots[i].v.t.tok.last_used_ms = now;
      pthread_mutex_unlock(&c->mu);
    }
    st = COHORT_OK;
    goto out;
  }
  ticket t = begin(c);
  memset(&e, 0, sizeof e);
  if ((st = co_token_lookup(s, hash, &e.v.t.tok, &e.v.t.user)) != COHORT_OK)
    goto out;
  e.kind = K_TOKEN;
  put(c, &t, hash, &e);
  *user = e.v.t.user;
out:
  sodium_memzero(&e, sizeof e);
  sodium_memzero(hash, sizeof hash);
  return st;
}

cohort_status co_authcache_session(co_authcache *c, co_store *s, const char *cookie, co_session *se,
                                   co_user *user) {
  char hash[65];
  entry e;
  cohort_status st;
  co_secret_hash(cookie, hash);
  if (!c) {
    st = co_session_lookup(s, hash, se, user);
    goto out;
  }
  if (get(c, K_SESSION, hash, &e)) {
    if (e.v.s.se.expires_ms <= co_now_ms()) {
      st = co_error(COHORT_EINVAL, "session expired or signed out");
      goto out;
    }
    *se = e.v.s.se;
    *user = e.v.s.user;
    st = COHORT_OK;
    goto out;
  }
  ticket t = begin(c);
  memset(&e, 0, sizeof e);
  if ((st = co_session_lookup(s, hash, &e.v.s.se, &e.v.s.user)) != COHORT_OK)
    goto out;
  e.kind = K_SESSION;
  put(c, &t, hash, &e);
  *se = e.v.s.se;
  *user = e.v.s.user;
out:
  sodium_memzero(&e, sizeof e);
  sodium_memzero(hash, sizeof hash);
  return st;
}

cohort_status co_authcache_member(co_authcache *c, co_store *s, const char *workspace_id, const char *user_id,
                                  co_role min, co_role *role) {
  char key[KEY_MAX];
  entry e;
  co_member m;
  if (c && make_key(key, workspace_id, user_id)) {
    if (get(c, K_MEMBER, key, &e) && e.v.role >= min) {
      *role = e.v.role;
      return COHORT_OK;
    }
    ticket t = begin(c);
    cohort_status st = s->ops->member_get(s, workspace_id, user_id, &m);
    if (st != COHORT_OK)
      return st; /* not a member, or the store failed: asked again next time */
    memset(&e, 0, sizeof e);
    e.kind = K_MEMBER;
    e.v.role = m.role;
    put(c, &t, key, &e);
    *role = m.role;
    return COHORT_OK;
  }
  cohort_status st = s->ops->member_get(s, workspace_id, user_id, &m);
  if (st == COHORT_OK)
    *role = m.role;
  return st;
}

cohort_status co_authcache_workspace(co_authcache *c, co_store *s, const char *workspace_id) {
  char key[KEY_MAX];
  entry e;
  co_workspace w;
  if (!c || !make_key(key, workspace_id, NULL))
    return s->ops->workspace_get(s, workspace_id, &w);
  if (get(c, K_WORKSPACE, key, &e))
    return COHORT_OK;
  ticket t = begin(c);
  cohort_status st = s->ops->workspace_get(s, workspace_id, &w);
  if (st != COHORT_OK)
    return st;
  memset(&e, 0, sizeof e);
  e.kind = K_WORKSPACE;
  put(c, &t, key, &e);
  return COHORT_OK;
}

cohort_status co_authcache_trainee(co_authcache *c, co_store *s, const char *id, co_trainee *out) {
  char key[KEY_MAX];
  entry e;
  if (c && make_key(key, id, NULL) && get(c, K_TRAINEE, key, &e)) {
    *out = e.v.tr;
    return COHORT_OK;
  }
  ticket t = c ? begin(c) : (ticket){0, 0};
  cohort_status st = s->ops->trainee_get(s, id, out);
  if (st != COHORT_OK)
    return st;
  co_free(out->info_json); /* not kept: the callers of this function do not read it */
  out->info_json = NULL;
  if (c && make_key(key, id, NULL)) {
    memset(&e, 0, sizeof e);
    e.kind = K_TRAINEE;
    e.v.tr = *out;
    put(c, &t, key, &e);
  }
  return COHORT_OK;
}
