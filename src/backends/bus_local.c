/* bus_local.c: the in-process bus. Subscribers and servers are called on the publisher's or
 * requester's thread. A reader-writer lock lets publishes and requests run in parallel while
 * (un)subscribing takes it exclusively, so once unsubscribe returns no callback of that
 * subscription is running. A request is a call object shared by the requester and the servers it
 * went to (one per matching queue group, like NATS), each holding a reference: the requester may
 * give up at its timeout while a server still holds the request and answers later. */
#include "bus.h"
#include "backends.h"
#include "co_base.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct co_bus_sub {
  struct co_bus_sub *next;
  char pattern[128];
  char queue[64];      /* serve only */
  co_bus_msg_fn fn;    /* subscribe */
  co_bus_serve_fn sfn; /* serve */
  void *ctx;
};

typedef struct local_bus {
  co_bus base;
  pthread_rwlock_t lock;
  co_bus_sub *subs;
  atomic_uint rr; /* round robin over the members of a queue group */
} local_bus;

/* One request: owned jointly by the requester and each server it was handed to. */
typedef struct local_call {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* CLOCK_MONOTONIC */
  int refs;
  int answered;     /* the first respond wins; later ones (other groups) are dropped */
  cohort_status st; /* of the answer: COHORT_ENOMEM if its copy failed */
  char *reply;
  size_t reply_len;
  char *data; /* the request body, valid until the last reference goes */
  size_t len;
} local_call;

struct co_bus_req {
  local_call *call;
};

int co_bus_match(const char *pattern, const char *subject) {
  size_t n = strlen(pattern);
  if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '>')
    return strncmp(pattern, subject, n - 1) == 0 && subject[n - 1] != '\0';
  return strcmp(pattern, subject) == 0;
}

static void call_release(local_call *c) {
  pthread_mutex_lock(&c->mu);
  int last = --c->refs == 0;
  pthread_mutex_unlock(&c->mu);
  if (!last)
    return;
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cond);
  co_free(c->reply);
  co_free(c->data);
  co_free(c);
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
    if (s->fn && co_bus_match(s->pattern, subject))
      s->fn(s->ctx, subject, data, len);
  pthread_rwlock_unlock(&b->lock);
  return COHORT_OK;
}

static cohort_status add_sub(local_bus *b, const char *pattern, const char *queue, co_bus_msg_fn fn,
                             co_bus_serve_fn sfn, void *ctx, co_bus_sub **out) {
  co_bus_sub *s = co_calloc(1, sizeof *s);
  if (out)
    *out = NULL;
  if (!s)
    return co_nomem();
  if (co_strlcpy(s->pattern, pattern, sizeof s->pattern) < 0) {
    co_free(s);
    return co_error(COHORT_ELIMIT, "bus: subject pattern too long: %s", pattern);
  }
  if (queue && co_strlcpy(s->queue, queue, sizeof s->queue) < 0) {
    co_free(s);
    return co_error(COHORT_ELIMIT, "bus: queue group name too long: %s", queue);
  }
  s->fn = fn;
  s->sfn = sfn;
  s->ctx = ctx;
  pthread_rwlock_wrlock(&b->lock);
  s->next = b->subs;
  b->subs = s;
  pthread_rwlock_unlock(&b->lock);
  if (out)
    *out = s;
  return COHORT_OK;
}

static cohort_status local_subscribe(co_bus *base, const char *pattern, co_bus_msg_fn fn, void *ctx,
                                     co_bus_sub **out) {
  return add_sub((local_bus *)base, pattern, NULL, fn, NULL, ctx, out);
}

static cohort_status local_serve(co_bus *base, const char *pattern, const char *queue, co_bus_serve_fn fn,
                                 void *ctx, co_bus_sub **out) {
  if (!queue || !*queue)
    return co_error(COHORT_EINVAL, "bus: serve '%s': a queue group name is required", pattern);
  return add_sub((local_bus *)base, pattern, queue, NULL, fn, ctx, out);
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

static int serves(const co_bus_sub *s, const char *subject) {
  return s->sfn && co_bus_match(s->pattern, subject);
}

/* Hands the call to one member of every queue group serving subject; returns how many got it.
 * Called with the bus's read lock held. */
static int dispatch(local_bus *b, local_call *c, const char *subject, cohort_status *st) {
  unsigned turn = atomic_fetch_add(&b->rr, 1u);
  int sent = 0;
  for (co_bus_sub *s = b->subs; s; s = s->next) {
    if (!serves(s, subject))
      continue;
    int seen = 0, members = 0;
    for (co_bus_sub *t = b->subs; t != s && !seen; t = t->next) /* group already handled? */
      seen = serves(t, subject) && strcmp(t->queue, s->queue) == 0;
    if (seen)
      continue;
    for (co_bus_sub *t = s; t; t = t->next)
      members += serves(t, subject) && strcmp(t->queue, s->queue) == 0;
    int pick = (int)(turn % (unsigned)members);
    co_bus_sub *m = s;
    for (co_bus_sub *t = s; t; t = t->next)
      if (serves(t, subject) && strcmp(t->queue, s->queue) == 0 && pick-- == 0) {
        m = t;
        break;
      }
    co_bus_req *r = co_malloc(sizeof *r);
    if (!r) {
      *st = co_nomem();
      break;
    }
    r->call = c;
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
    m->sfn(m->ctx, r, subject, c->data, c->len);
    sent++;
  }
  return sent;
}

static cohort_status local_request(co_bus *base, const char *subject, const char *data, size_t len,
                                   int timeout_ms, char **reply, size_t *reply_len) {
  local_bus *b = (local_bus *)base;
  cohort_status st = COHORT_OK;
  *reply = NULL;
  *reply_len = 0;
  local_call *c = co_calloc(1, sizeof *c);
  if (!c || !(c->data = co_malloc(len + 1))) {
    co_free(c);
    return co_nomem();
  }
  /* A copy: a server may still read it after this requester gave up and its caller freed data. */
  if (len)
    memcpy(c->data, data, len);
  c->data[len] = '\0';
  c->len = len;
  c->refs = 1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&c->mu, NULL);

  pthread_rwlock_rdlock(&b->lock);
  int sent = dispatch(b, c, subject, &st);
  pthread_rwlock_unlock(&b->lock);
  if (sent == 0) {
    if (st == COHORT_OK)
      st = co_error(COHORT_ENOTFOUND, "bus: nobody serves '%s'", subject);
    goto out;
  }
  struct timespec deadline = co_deadline_after(CLOCK_MONOTONIC, timeout_ms);
  pthread_mutex_lock(&c->mu);
  while (!c->answered)
    if (pthread_cond_timedwait(&c->cond, &c->mu, &deadline) != 0)
      break;
  if (!c->answered)
    st = co_error(COHORT_EUNAVAIL, "bus: '%s': no reply within %d ms", subject, timeout_ms);
  else if (c->st != COHORT_OK)
    st = co_nomem();
  else {
    *reply = c->reply;
    *reply_len = c->reply_len;
    c->reply = NULL;
    st = COHORT_OK;
  }
  pthread_mutex_unlock(&c->mu);
out:
  call_release(c);
  return st;
}

static cohort_status local_respond(co_bus *base, co_bus_req *req, const char *data, size_t len) {
  local_call *c = req->call;
  char *copy = co_malloc(len + 1);
  if (copy) {
    if (len)
      memcpy(copy, data, len);
    copy[len] = '\0';
  }
  pthread_mutex_lock(&c->mu);
  if (!c->answered) {
    c->answered = 1;
    c->st = copy ? COHORT_OK : COHORT_ENOMEM;
    c->reply = copy;
    c->reply_len = len;
    copy = NULL;
    pthread_cond_signal(&c->cond);
  }
  pthread_mutex_unlock(&c->mu);
  co_free(copy);
  call_release(c);
  co_free(req);
  return COHORT_OK;
}

static cohort_status local_ping(co_bus *b) {
  (void)b;
  return COHORT_OK; /* in process: up while we are */
}

static int local_waiting(co_bus *b, co_bus_req *req) {
  (void)b;
  (void)req;
  return 0; /* served on the requester's own thread: nothing queues behind it */
}

/* In process a server cannot die alone: nothing goes silent, and beats have nobody to tell. */
static cohort_status local_request_live(co_bus *b, const char *subject, const char *data, size_t len,
                                        int timeout_ms, int silence_ms, char **reply, size_t *reply_len,
                                        int *silent) {
  (void)silence_ms;
  *silent = 0;
  return local_request(b, subject, data, len, timeout_ms, reply, reply_len);
}

static cohort_status local_beat(co_bus *b, co_bus_req *req) {
  (void)b;
  (void)req;
  return COHORT_OK;
}

/* No work queue in process: the job threads poll the store. */
static const co_bus_ops local_ops = {
    .version = CO_BUS_VERSION,
    .name = "local",
    .close = local_close,
    .publish = local_publish,
    .subscribe = local_subscribe,
    .unsubscribe = local_unsubscribe,
    .request = local_request,
    .serve = local_serve,
    .respond = local_respond,
    .waiting = local_waiting,
    .ping = local_ping,
    .request_live = local_request_live,
    .beat = local_beat,
};

cohort_status co_bus_local_open(co_bus **out) {
  local_bus *b = co_calloc(1, sizeof *b);
  *out = NULL;
  if (!b)
    return co_nomem();
  b->base.ops = &local_ops;
  pthread_rwlock_init(&b->lock, NULL);
  atomic_init(&b->rr, 0u);
  *out = &b->base;
  return COHORT_OK;
}
