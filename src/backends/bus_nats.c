/* bus_nats.c: the bus over NATS (libnats), for processes on many machines.
 *  - publish/subscribe: NATS subjects; a pattern's trailing ".>" is NATS's own wildcard, so the
 *    semantics are co_bus_match's ('*' is refused: the local bus would take it literally).
 *  - request/reply: each requester borrows a reply box (a synchronous subscription on an inbox of
 *    its own, kept for reuse) and waits on it; serve is a queue subscription; a co_bus_req keeps
 *    the natsMsg (its reply subject) until respond.
 *    NATS's "no responders" status is ENOTFOUND, a timeout or a lost connection EUNAVAIL.
 *  - bodies larger than a threshold (bus_offload_bytes, at most just under the server's
 *    max_payload) are parked in Redis (redis_offload.h) and the NATS message carries an empty
 *    body and the key in the header "Cohort-Body". A request's and a reply's body has one reader,
 *    which takes it (GETDEL); a published one may have many, which read it and leave it to its
 *    TTL. A server that cannot read a request's body answers with the header "Cohort-Error", so the
 *    requester gets EUNAVAIL with the reason at once instead of a timeout.
 *  - the work queue: a JetStream stream with WorkQueue retention and file storage, and one durable
 *    pull consumer with explicit acks that every process binds to; created or updated at open.
 * The connection reconnects forever with a capped backoff; while it is down every call fails at
 * once with EUNAVAIL instead of queueing in the library's reconnect buffer. */
#include "backends.h"
#include "bus.h"
#include "co_base.h"
#include "log.h"
#include "redis_offload.h"
#include "util.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HDR_BODY "Cohort-Body"
#define HDR_ERROR "Cohort-Error"
#define HDR_WORKING "Cohort-Working" /* a beat: the call still runs */
#define HDR_MSG_ID "Nats-Msg-Id"
/* Room left under max_payload for the subject, reply subject and headers. */
#define HEADROOM 8192

struct co_bus_sub {
  struct co_bus_sub *next;
  struct nats_bus *bus;
  natsSubscription *ns;
  co_bus_msg_fn fn;    /* subscribe */
  co_bus_serve_fn sfn; /* serve */
  void *ctx;
  int done;   /* the library will call it no more (its completion callback ran) */
  int orphan; /* unsubscribed from its own callback: the completion callback frees it */
  int armed;  /* the completion callback is set */
};

struct co_bus_req {
  natsMsg *m;           /* the request: its subject and reply subject */
  natsSubscription *ns; /* the subscription that delivered it (valid during the callback) */
  char *owned;          /* its body when it came from Redis */
};

struct co_bus_work {
  natsMsg *m;
  int delivery;
  char item[];
};

/* A reply inbox and its synchronous subscription, lent to one request at a time. The reply goes
 * from libnats' reader thread straight to the waiting requester; natsConnection_RequestMsg
 * (Debian's libnats 3.4) first hands it to its reply muxer's delivery thread, one thread wake-up
 * more on every call (bench/CLUSTER.md). */
typedef struct reply_box {
  struct reply_box *next;
  natsSubscription *sub;
  char inbox[64];
} reply_box;

/* How often a requester looks up from its wait to see whether the connection is down: a request
 * in flight then fails within this, not at its timeout (the muxer's fail-on-disconnect did that). */
#define CO_NATS_REPLY_SLICE_MS 50

#define CO_NATS_SPENT 64
/* Larger messages are destroyed at once, so the 64 kept hold at most 256 KiB. */
#define CO_NATS_SPENT_BYTES 4096

typedef struct nats_bus {
  co_bus base;
  natsConnection *nc;
  char url[512];
  int timeout_ms;
  size_t direct_max;    /* the largest body NATS carries here */
  size_t threshold;     /* bodies above it go through Redis */
  co_offload *redis;    /* NULL: no bus_redis */
  pthread_mutex_t lock; /* subs and their done/orphan flags */
  pthread_cond_t cond;
  co_bus_sub *subs;
  /* the work queue */
  jsCtx *js;
  natsSubscription *work_sub;
  pthread_mutex_t work_lock; /* libnats allows one fetch at a time per subscription */
  char stream[64], consumer[64], work_subject[128];
  /* Small request/reply messages to destroy, in batches: libnats hands every destroyed message to
   * its garbage-collector thread and wakes it, a thread wake-up per message on the call path. */
  pthread_mutex_t spent_lock;
  natsMsg *spent[CO_NATS_SPENT];
  int nspent;
  pthread_mutex_t boxes_lock;
  reply_box *boxes; /* idle reply boxes, the latest returned first */
} nats_bus;

static void release_msg(nats_bus *b, natsMsg *m) {
  natsMsg *batch[CO_NATS_SPENT];
  int n = 0;
  if (!m)
    return;
  if (natsMsg_GetDataLength(m) > CO_NATS_SPENT_BYTES) {
    natsMsg_Destroy(m);
    return;
  }
  pthread_mutex_lock(&b->spent_lock);
  b->spent[b->nspent++] = m;
  if (b->nspent == CO_NATS_SPENT) {
    memcpy(batch, b->spent, sizeof batch);
    n = b->nspent;
    b->nspent = 0;
  }
  pthread_mutex_unlock(&b->spent_lock);
  for (int i = 0; i < n; i++)
    natsMsg_Destroy(batch[i]);
}

/* The subscription whose callback runs on this thread, so that unsubscribing from inside it does
 * not wait for itself. */
static _Thread_local co_bus_sub *delivering;

/* The library's text for the failure s: its thread-local detail when that is about s (it may be
 * left over from an earlier failure otherwise), else the status's own text. */
static const char *nats_text(natsStatus s) {
  natsStatus last;
  const char *t = nats_GetLastError(&last);
  return t && *t && last == s ? t : natsStatus_GetText(s);
}

static cohort_status up(nats_bus *b, const char *what, const char *subject) {
  if (natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED)
    return COHORT_OK;
  return co_error(COHORT_EUNAVAIL, "bus: NATS unavailable: %s '%s': not connected to %s (reconnecting)", what,
                  subject, b->url);
}

/* A libnats failure of what on subject as a Cohort status and message. */
static cohort_status failed(nats_bus *b, natsStatus s, const char *what, const char *subject) {
  switch (s) {
  case NATS_NO_RESPONDERS:
    return co_error(COHORT_ENOTFOUND, "bus: %s '%s': nobody serves it", what, subject);
  case NATS_TIMEOUT:
    return co_error(COHORT_EUNAVAIL, "bus: %s '%s': no answer in time", what, subject);
  case NATS_CONNECTION_CLOSED:
  case NATS_CONNECTION_DISCONNECTED:
  case NATS_NO_SERVER:
  case NATS_IO_ERROR:
  case NATS_STALE_CONNECTION:
  case NATS_NOT_YET_CONNECTED:
    return co_error(COHORT_EUNAVAIL, "bus: NATS unavailable: %s '%s' (%s): %s", what, subject, b->url,
                    nats_text(s));
  case NATS_MAX_PAYLOAD:
    return co_error(COHORT_ELIMIT, "bus: %s '%s': %s", what, subject, nats_text(s));
  case NATS_INVALID_SUBJECT:
    return co_error(COHORT_EINVAL, "bus: %s '%s': not a valid subject", what, subject);
  case NATS_NO_MEMORY:
    return co_nomem();
  default:
    return co_error(COHORT_EIO, "bus: %s '%s': %s", what, subject, nats_text(s));
  }
}

/* NATS tokens are non-empty and free of spaces and wildcards; a pattern may end in ".>". */
static cohort_status check_subject(const char *subject, int pattern) {
  size_t n = subject ? strlen(subject) : 0;
  if (pattern && n >= 2 && strcmp(subject + n - 2, ".>") == 0)
    n -= 2;
  int empty_token = 1;
  for (size_t i = 0; i < n; i++) {
    char ch = subject[i];
    if (ch == '*' || ch == '>' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
      return co_error(COHORT_EINVAL, "bus: subject '%s': '%c' is not allowed here", subject, ch);
    if (ch == '.') {
      if (empty_token)
        break;
      empty_token = 1;
    } else
      empty_token = 0;
  }
  if (n == 0 || empty_token)
    return co_error(COHORT_EINVAL, "bus: subject '%s': empty token", subject ? subject : "");
  return COHORT_OK;
}

static cohort_status too_large(nats_bus *b, const char *what, const char *subject, size_t len) {
  return co_error(COHORT_ELIMIT,
                  "bus: %s '%s': a %zu-byte body is more than NATS carries here (%zu bytes); set bus_redis "
                  "to carry larger ones",
                  what, subject, len, b->direct_max);
}

/* The NATS message for body: inline, or parked in Redis (key set) with an empty body. */
static cohort_status make_msg(nats_bus *b, const char *what, const char *name, const char *subject,
                              const char *reply, const char *data, size_t len, natsMsg **out,
                              char key[CO_OFFLOAD_KEY_MAX]) {
  natsStatus s;
  cohort_status st;
  key[0] = '\0';
  *out = NULL;
  if (len <= b->threshold) {
    if ((s = natsMsg_Create(out, subject, reply, data, (int)len)) != NATS_OK)
      return failed(b, s, what, name);
    return COHORT_OK;
  }
  if (!b->redis)
    return too_large(b, what, name, len);
  if ((st = co_offload_put(b->redis, data, len, key)) != COHORT_OK) {
    key[0] = '\0';
    return co_error(st, "%s '%s' (a %zu-byte body): %s", what, name, len, cohort_errmsg());
  }
  if ((s = natsMsg_Create(out, subject, reply, NULL, 0)) != NATS_OK ||
      (s = natsMsgHeader_Set(*out, HDR_BODY, key)) != NATS_OK) {
    natsMsg_Destroy(*out);
    *out = NULL;
    co_offload_del(b->redis, key);
    key[0] = '\0';
    return failed(b, s, what, name);
  }
  return COHORT_OK;
}

/* The body of m: inline, or from Redis (take: this is its only reader) into *owned. */
static cohort_status read_body(nats_bus *b, natsMsg *m, int take, const char **data, size_t *len,
                               char **owned) {
  const char *key = NULL;
  *owned = NULL;
  if (natsMsgHeader_Get(m, HDR_BODY, &key) != NATS_OK || !key) {
    *data = natsMsg_GetData(m);
    *len = (size_t)natsMsg_GetDataLength(m);
    if (!*data)
      *data = "";
    return COHORT_OK;
  }
  if (!b->redis)
    return co_error(COHORT_EUNAVAIL,
                    "bus: '%s': the message body is parked in Redis but bus_redis is not set here",
                    natsMsg_GetSubject(m));
  cohort_status st = co_offload_get(b->redis, key, take, owned, len);
  if (st != COHORT_OK)
    return co_error(st, "'%s': %s", natsMsg_GetSubject(m), cohort_errmsg());
  *data = *owned;
  return COHORT_OK;
}

/* ---------------------------------------------------------------- publish/subscribe */

static cohort_status nb_publish(co_bus *base, const char *subject, const char *data, size_t len) {
  nats_bus *b = (nats_bus *)base;
  natsMsg *m = NULL;
  char key[CO_OFFLOAD_KEY_MAX];
  cohort_status st;
  if ((st = check_subject(subject, 0)) != COHORT_OK || (st = up(b, "publish", subject)) != COHORT_OK ||
      (st = make_msg(b, "publish", subject, subject, NULL, data, len, &m, key)) != COHORT_OK)
    return st;
  natsStatus s = natsConnection_PublishMsg(b->nc, m);
  natsMsg_Destroy(m);
  if (s != NATS_OK) {
    if (key[0])
      co_offload_del(b->redis, key);
    return failed(b, s, "publish", subject);
  }
  return COHORT_OK;
}

static void on_msg(natsConnection *nc, natsSubscription *ns, natsMsg *m, void *closure) {
  co_bus_sub *sub = closure;
  const char *data = NULL;
  size_t len = 0;
  char *owned = NULL;
  if (read_body(sub->bus, m, 0, &data, &len, &owned) == COHORT_OK) {
    delivering = sub;
    sub->fn(sub->ctx, natsMsg_GetSubject(m), data, len);
    delivering = NULL;
  } else
    co_log(CO_LOG_WARN, "bus: message dropped", "subject", natsMsg_GetSubject(m), "error", cohort_errmsg(),
           NULL);
  co_free(owned);
  natsMsg_Destroy(m);
}

static void reply_error(nats_bus *b, const char *reply, const char *text) {
  natsMsg *m = NULL;
  if (natsMsg_Create(&m, reply, NULL, NULL, 0) == NATS_OK && natsMsgHeader_Set(m, HDR_ERROR, text) == NATS_OK)
    natsConnection_PublishMsg(b->nc, m);
  natsMsg_Destroy(m);
}

static void on_request(natsConnection *nc, natsSubscription *ns, natsMsg *m, void *closure) {
  co_bus_sub *sub = closure;
  nats_bus *b = sub->bus;
  const char *reply = natsMsg_GetReply(m), *data = NULL;
  size_t len = 0;
  if (!reply || !*reply) { /* published, not requested: nobody waits for an answer */
    natsMsg_Destroy(m);
    return;
  }
  co_bus_req *r = co_calloc(1, sizeof *r);
  if (!r) {
    reply_error(b, reply, "the server is out of memory");
    natsMsg_Destroy(m);
    return;
  }
  r->m = m;
  r->ns = ns;
  if (read_body(b, m, 1, &data, &len, &r->owned) != COHORT_OK) {
    reply_error(b, reply, cohort_errmsg());
    natsMsg_Destroy(m);
    co_free(r);
    return;
  }
  delivering = sub;
  sub->sfn(sub->ctx, r, natsMsg_GetSubject(m), data, len);
  delivering = NULL;
}

static void on_complete(void *closure) {
  co_bus_sub *sub = closure;
  nats_bus *b = sub->bus;
  pthread_mutex_lock(&b->lock);
  sub->done = 1;
  int orphan = sub->orphan;
  pthread_cond_broadcast(&b->cond);
  pthread_mutex_unlock(&b->lock);
  if (orphan) {
    natsSubscription_Destroy(sub->ns);
    co_free(sub);
  }
}

static cohort_status add_sub(nats_bus *b, const char *pattern, const char *queue, co_bus_msg_fn fn,
                             co_bus_serve_fn sfn, void *ctx, co_bus_sub **out) {
  const char *what = sfn ? "serve" : "subscribe";
  cohort_status st;
  natsStatus s;
  if (out)
    *out = NULL;
  if ((st = check_subject(pattern, 1)) != COHORT_OK || (st = up(b, what, pattern)) != COHORT_OK)
    return st;
  if (sfn && (!queue || !*queue || strpbrk(queue, " \t\r\n.*>")))
    return co_error(COHORT_EINVAL, "bus: serve '%s': queue group '%s' must be one token", pattern,
                    queue ? queue : "");
  co_bus_sub *sub = co_calloc(1, sizeof *sub);
  if (!sub)
    return co_nomem();
  sub->bus = b;
  sub->fn = fn;
  sub->sfn = sfn;
  sub->ctx = ctx;
  /* Linked before the library can call it, so close finds it whatever happens next. */
  pthread_mutex_lock(&b->lock);
  sub->next = b->subs;
  b->subs = sub;
  pthread_mutex_unlock(&b->lock);
  if (sfn)
    s = natsConnection_QueueSubscribe(&sub->ns, b->nc, pattern, queue, on_request, sub);
  else
    s = natsConnection_Subscribe(&sub->ns, b->nc, pattern, on_msg, sub);
  if (s == NATS_OK && (s = natsSubscription_SetOnCompleteCB(sub->ns, on_complete, sub)) == NATS_OK) {
    pthread_mutex_lock(&b->lock);
    sub->armed = 1;
    pthread_mutex_unlock(&b->lock);
  }
  if (s != NATS_OK) {
    st = failed(b, s, what, pattern);
    b->base.ops->unsubscribe(&b->base, sub);
    return st;
  }
  if (out)
    *out = sub;
  return COHORT_OK;
}

static cohort_status nb_subscribe(co_bus *base, const char *pattern, co_bus_msg_fn fn, void *ctx,
                                  co_bus_sub **out) {
  return add_sub((nats_bus *)base, pattern, NULL, fn, NULL, ctx, out);
}

static cohort_status nb_serve(co_bus *base, const char *pattern, const char *queue, co_bus_serve_fn fn,
                              void *ctx, co_bus_sub **out) {
  return add_sub((nats_bus *)base, pattern, queue, NULL, fn, ctx, out);
}

/* Returns once the library calls sub no more (unless called from sub's own callback: then the
 * completion callback, which runs after it returns, frees sub). */
static void nb_unsubscribe(co_bus *base, co_bus_sub *sub) {
  nats_bus *b = (nats_bus *)base;
  if (!sub)
    return;
  pthread_mutex_lock(&b->lock);
  for (co_bus_sub **p = &b->subs; *p; p = &(*p)->next)
    if (*p == sub) {
      *p = sub->next;
      break;
    }
  if (!sub->armed) { /* never subscribed, or no completion callback to wait for */
    pthread_mutex_unlock(&b->lock);
    natsSubscription_Destroy(sub->ns);
    co_free(sub);
    return;
  }
  if (delivering == sub) {
    sub->orphan = 1;
    pthread_mutex_unlock(&b->lock);
    natsSubscription_Unsubscribe(sub->ns);
    return;
  }
  pthread_mutex_unlock(&b->lock);
  natsSubscription_Unsubscribe(sub->ns);
  pthread_mutex_lock(&b->lock);
  while (!sub->done)
    pthread_cond_wait(&b->cond, &b->lock);
  pthread_mutex_unlock(&b->lock);
  natsSubscription_Destroy(sub->ns);
  co_free(sub);
}

/* ---------------------------------------------------------------- request/reply */

/* An idle reply box, or a new one. */
static cohort_status box_take(nats_bus *b, const char *subject, reply_box **out) {
  pthread_mutex_lock(&b->boxes_lock);
  reply_box *box = b->boxes;
  if (box)
    b->boxes = box->next;
  pthread_mutex_unlock(&b->boxes_lock);
  if (box) {
    *out = box;
    return COHORT_OK;
  }
  natsInbox *inbox = NULL;
  natsStatus s;
  if (!(box = co_calloc(1, sizeof *box)))
    return co_nomem();
  if ((s = natsInbox_Create(&inbox)) != NATS_OK || co_strlcpy(box->inbox, inbox, sizeof box->inbox) < 0 ||
      (s = natsConnection_SubscribeSync(&box->sub, b->nc, box->inbox)) != NATS_OK) {
    natsInbox_Destroy(inbox);
    co_free(box);
    return failed(b, s == NATS_OK ? NATS_ERR : s, "request", subject);
  }
  natsInbox_Destroy(inbox);
  *out = box;
  return COHORT_OK;
}

/* Returns box for reuse when nothing more can arrive on it; a request that timed out or lost its
 * connection may still get a late reply there, so its box is destroyed (that unsubscribes). */
static void box_give(nats_bus *b, reply_box *box, int reusable) {
  if (!reusable) {
    natsSubscription_Destroy(box->sub);
    co_free(box);
    return;
  }
  pthread_mutex_lock(&b->boxes_lock);
  box->next = b->boxes;
  b->boxes = box;
  pthread_mutex_unlock(&b->boxes_lock);
}

/* Waits up to timeout_ms for the reply in box, in slices that notice a lost connection; beats
 * are taken and restart the silence_ms (0: none) allowed without one. */
static natsStatus box_wait(nats_bus *b, reply_box *box, int timeout_ms, int silence_ms, natsMsg **rm,
                           int *silent) {
  int64_t now = nats_Now(), deadline = now + timeout_ms, heard = now;
  const char *beat = NULL;
  for (;;) {
    int64_t left = deadline - now;
    if (silence_ms > 0 && heard + silence_ms < deadline)
      left = heard + silence_ms - now;
    if (left <= 0) {
      *silent = now < deadline;
      return NATS_TIMEOUT;
    }
    natsStatus s =
        natsSubscription_NextMsg(rm, box->sub, left < CO_NATS_REPLY_SLICE_MS ? left : CO_NATS_REPLY_SLICE_MS);
    now = nats_Now();
    if (s == NATS_OK && natsMsgHeader_Get(*rm, HDR_WORKING, &beat) == NATS_OK) {
      natsMsg_Destroy(*rm);
      *rm = NULL;
      heard = now;
      continue;
    }
    if (s != NATS_TIMEOUT)
      return s;
    if (natsConnection_Status(b->nc) != NATS_CONN_STATUS_CONNECTED)
      return NATS_CONNECTION_DISCONNECTED;
  }
}

static cohort_status nb_request_live(co_bus *base, const char *subject, const char *data, size_t len,
                                     int timeout_ms, int silence_ms, char **reply, size_t *reply_len,
                                     int *silent) {
  nats_bus *b = (nats_bus *)base;
  natsMsg *m = NULL, *rm = NULL;
  reply_box *box = NULL;
  char key[CO_OFFLOAD_KEY_MAX] = "";
  const char *err = NULL, *body = NULL;
  size_t n = 0;
  char *owned = NULL;
  cohort_status st;
  natsStatus s;
  *reply = NULL;
  *reply_len = 0;
  *silent = 0;
  if ((st = check_subject(subject, 0)) != COHORT_OK || (st = up(b, "request", subject)) != COHORT_OK ||
      (st = box_take(b, subject, &box)) != COHORT_OK)
    return st;
  if ((st = make_msg(b, "request", subject, subject, box->inbox, data, len, &m, key)) != COHORT_OK) {
    box_give(b, box, 1);
    return st;
  }
  if (timeout_ms <= 0)
    timeout_ms = 1;
  if ((s = natsConnection_PublishMsg(b->nc, m)) == NATS_OK)
    s = box_wait(b, box, timeout_ms, silence_ms, &rm, silent);
  release_msg(b, m);
  box_give(b, box, s == NATS_OK || s == NATS_NO_RESPONDERS);
  if (s != NATS_OK) {
    if (key[0]) /* nobody took it */
      co_offload_del(b->redis, key);
    st = *silent ? co_error(COHORT_EUNAVAIL,
                            "bus: request '%s': its server went silent (no reply or beat for %d ms)", subject,
                            silence_ms)
         : s == NATS_TIMEOUT
             ? co_error(COHORT_EUNAVAIL, "bus: request '%s': no reply within %d ms", subject, timeout_ms)
             : failed(b, s, "request", subject);
    goto out;
  }
  if (natsMsgHeader_Get(rm, HDR_ERROR, &err) == NATS_OK && err) {
    st = co_error(COHORT_EUNAVAIL, "bus: request '%s' failed at the server: %s", subject, err);
    goto out;
  }
  if ((st = read_body(b, rm, 1, &body, &n, &owned)) != COHORT_OK) {
    st = co_error(st, "bus: reply to %s", cohort_errmsg());
    goto out;
  }
  if (!owned) {
    if (!(owned = co_malloc(n + 1))) {
      st = co_nomem();
      goto out;
    }
    memcpy(owned, body, n);
    owned[n] = '\0';
  }
  *reply = owned;
  *reply_len = n;
out:
  release_msg(b, rm);
  return st;
}

static cohort_status nb_request(co_bus *base, const char *subject, const char *data, size_t len,
                                int timeout_ms, char **reply, size_t *reply_len) {
  int silent;
  return nb_request_live(base, subject, data, len, timeout_ms, 0, reply, reply_len, &silent);
}

static cohort_status nb_beat(co_bus *base, co_bus_req *req) {
  nats_bus *b = (nats_bus *)base;
  const char *subject = natsMsg_GetSubject(req->m);
  natsMsg *m = NULL;
  natsStatus s;
  if ((s = natsMsg_Create(&m, natsMsg_GetReply(req->m), NULL, NULL, 0)) == NATS_OK &&
      (s = natsMsgHeader_Set(m, HDR_WORKING, "1")) == NATS_OK)
    s = natsConnection_PublishMsg(b->nc, m);
  natsMsg_Destroy(m);
  return s == NATS_OK ? COHORT_OK : failed(b, s, "beat", subject);
}

static cohort_status nb_respond(co_bus *base, co_bus_req *req, const char *data, size_t len) {
  nats_bus *b = (nats_bus *)base;
  const char *reply = natsMsg_GetReply(req->m), *subject = natsMsg_GetSubject(req->m);
  natsMsg *m = NULL;
  char key[CO_OFFLOAD_KEY_MAX] = "";
  cohort_status st = up(b, "respond to", subject);
  if (st == COHORT_OK &&
      (st = make_msg(b, "respond to", subject, reply, NULL, data, len, &m, key)) != COHORT_OK)
    reply_error(b, reply, cohort_errmsg()); /* tell the requester now rather than let it time out */
  if (st == COHORT_OK) {
    natsStatus s = natsConnection_PublishMsg(b->nc, m);
    if (s != NATS_OK) {
      if (key[0])
        co_offload_del(b->redis, key);
      st = failed(b, s, "respond to", subject);
    }
  }
  release_msg(b, m);
  release_msg(b, req->m);
  co_free(req->owned);
  co_free(req);
  return st;
}

static int nb_waiting(co_bus *base, co_bus_req *req) {
  (void)base;
  int msgs = 0, bytes = 0;
  return natsSubscription_GetPending(req->ns, &msgs, &bytes) == NATS_OK ? msgs : 0;
}

/* ---------------------------------------------------------------- work queue */

static cohort_status nb_work_publish(co_bus *base, const char *item, const char *dedup_id) {
  nats_bus *b = (nats_bus *)base;
  size_t len = strlen(item);
  natsMsg *m = NULL;
  jsPubAck *pa = NULL;
  jsPubOptions po;
  jsErrCode je = 0;
  cohort_status st;
  if ((st = up(b, "publish work to", b->work_subject)) != COHORT_OK)
    return st;
  if (len > b->direct_max)
    return co_error(COHORT_ELIMIT, "bus: work item of %zu bytes: at most %zu", len, b->direct_max);
  natsStatus s = natsMsg_Create(&m, b->work_subject, NULL, item, (int)len);
  if (s == NATS_OK && dedup_id && *dedup_id)
    s = natsMsgHeader_Set(m, HDR_MSG_ID, dedup_id);
  jsPubOptions_Init(&po);
  po.MaxWait = b->timeout_ms;
  if (s == NATS_OK)
    s = js_PublishMsg(&pa, b->js, m, &po, &je);
  if (s != NATS_OK)
    st = s == NATS_NO_RESPONDERS
             ? co_error(COHORT_EUNAVAIL, "bus: publish work to '%s': JetStream stream %s is not available",
                        b->work_subject, b->stream)
             : failed(b, s, "publish work to", b->work_subject);
  jsPubAck_Destroy(pa);
  natsMsg_Destroy(m);
  return st;
}

static cohort_status nb_work_pull(co_bus *base, int timeout_ms, co_bus_work **out) {
  nats_bus *b = (nats_bus *)base;
  natsMsgList list = {0};
  jsFetchRequest fr;
  cohort_status st;
  *out = NULL;
  if ((st = up(b, "pull work from", b->work_subject)) != COHORT_OK)
    return st;
  if (timeout_ms < 0)
    timeout_ms = 0;
  uint64_t start = co_mono_ns();
  struct timespec until = co_deadline_after(CLOCK_REALTIME, timeout_ms);
  int rc = pthread_mutex_timedlock(&b->work_lock, &until);
  if (rc == ETIMEDOUT)
    return co_error(COHORT_ENOTFOUND, "bus: no work item within %d ms", timeout_ms);
  if (rc != 0)
    return co_error(COHORT_EIO, "bus: pull work: %s", strerror(rc));
  int64_t left = timeout_ms - (int64_t)((co_mono_ns() - start) / 1000000u);
  jsFetchRequest_Init(&fr);
  fr.Batch = 1;
  if (left > 0)
    fr.Expires = left * 1000000LL;
  else
    fr.NoWait = true;
  natsStatus s = natsSubscription_FetchRequest(&list, b->work_sub, &fr);
  pthread_mutex_unlock(&b->work_lock);
  if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND || (s == NATS_OK && list.Count == 0)) {
    natsMsgList_Destroy(&list);
    return co_error(COHORT_ENOTFOUND, "bus: no work item within %d ms", timeout_ms);
  }
  if (s != NATS_OK)
    return failed(b, s, "pull work from", b->work_subject);
  natsMsg *m = list.Msgs[0];
  list.Msgs[0] = NULL;
  natsMsgList_Destroy(&list);
  int n = natsMsg_GetDataLength(m);
  co_bus_work *w = co_malloc(sizeof *w + (size_t)n + 1);
  if (!w) {
    natsMsg_Nak(m, NULL);
    natsMsg_Destroy(m);
    return co_nomem();
  }
  memcpy(w->item, natsMsg_GetData(m), (size_t)n);
  w->item[n] = '\0';
  w->m = m;
  w->delivery = 1;
  jsMsgMetaData *meta = NULL;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    w->delivery = (int)meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
  }
  *out = w;
  return COHORT_OK;
}

static const char *nb_work_item(co_bus_work *w) {
  return w->item;
}
static int nb_work_delivery(co_bus_work *w) {
  return w->delivery;
}

static cohort_status nb_work_progress(co_bus *base, co_bus_work *w) {
  nats_bus *b = (nats_bus *)base;
  cohort_status st = up(b, "report progress on", w->item);
  if (st != COHORT_OK)
    return st;
  natsStatus s = natsMsg_InProgress(w->m, NULL);
  return s == NATS_OK ? COHORT_OK : failed(b, s, "report progress on", w->item);
}

static cohort_status nb_work_done(co_bus *base, co_bus_work *w, co_bus_outcome outcome) {
  nats_bus *b = (nats_bus *)base;
  cohort_status st = up(b, "finish", w->item);
  if (st == COHORT_OK) {
    jsOptions jo;
    jsErrCode je = 0;
    natsStatus s;
    jsOptions_Init(&jo);
    jo.Wait = b->timeout_ms;
    if (outcome == CO_BUS_ACK)
      s = natsMsg_AckSync(w->m, &jo, &je); /* the server has it before the job counts as done */
    else if (outcome == CO_BUS_RETRY)
      s = natsMsg_Nak(w->m, NULL);
    else
      s = natsMsg_Term(w->m, NULL);
    if (s != NATS_OK)
      st = failed(b, s, "finish", w->item);
  }
  natsMsg_Destroy(w->m);
  co_free(w);
  return st;
}

static cohort_status nb_work_backlog(co_bus *base, int64_t *pending, int64_t *in_flight) {
  nats_bus *b = (nats_bus *)base;
  jsConsumerInfo *ci = NULL;
  jsOptions jo;
  jsErrCode je = 0;
  cohort_status st;
  *pending = *in_flight = 0;
  if ((st = up(b, "read the backlog of", b->work_subject)) != COHORT_OK)
    return st;
  jsOptions_Init(&jo);
  jo.Wait = b->timeout_ms;
  natsStatus s = js_GetConsumerInfo(&ci, b->js, b->stream, b->consumer, &jo, &je);
  if (s != NATS_OK)
    return failed(b, s, "read the backlog of", b->work_subject);
  *pending = (int64_t)ci->NumPending;
  *in_flight = ci->NumAckPending;
  jsConsumerInfo_Destroy(ci);
  return COHORT_OK;
}

/* ---------------------------------------------------------------- open/close */

static void nb_close(co_bus *base) {
  nats_bus *b = (nats_bus *)base;
  for (;;) {
    pthread_mutex_lock(&b->lock);
    co_bus_sub *sub = b->subs;
    pthread_mutex_unlock(&b->lock);
    if (!sub)
      break;
    nb_unsubscribe(base, sub);
  }
  /* Destroy, not Unsubscribe: the durable consumer stays for the other workers. */
  natsSubscription_Destroy(b->work_sub);
  jsCtx_Destroy(b->js);
  while (b->boxes) {
    reply_box *box = b->boxes;
    b->boxes = box->next;
    box_give(b, box, 0);
  }
  natsConnection_Destroy(b->nc);
  for (int i = 0; i < b->nspent; i++)
    natsMsg_Destroy(b->spent[i]);
  pthread_mutex_destroy(&b->spent_lock);
  pthread_mutex_destroy(&b->boxes_lock);
  co_offload_close(b->redis);
  pthread_mutex_destroy(&b->work_lock);
  pthread_cond_destroy(&b->cond);
  pthread_mutex_destroy(&b->lock);
  co_free(b);
}

/* Connected to NATS (libnats' own status: no round trip), and Redis answers PING when large
 * bodies go through it. */
static cohort_status nb_ping(co_bus *base) {
  nats_bus *b = (nats_bus *)base;
  if (natsConnection_Status(b->nc) != NATS_CONN_STATUS_CONNECTED)
    return co_error(COHORT_EUNAVAIL, "bus: NATS unavailable: not connected to %s (reconnecting)", b->url);
  return b->redis ? co_offload_ping(b->redis) : COHORT_OK;
}

static const co_bus_ops nats_ops = {
    .version = CO_BUS_VERSION,
    .name = "nats",
    .close = nb_close,
    .publish = nb_publish,
    .subscribe = nb_subscribe,
    .unsubscribe = nb_unsubscribe,
    .request = nb_request,
    .serve = nb_serve,
    .respond = nb_respond,
    .waiting = nb_waiting,
    .request_live = nb_request_live,
    .beat = nb_beat,
    .work_publish = nb_work_publish,
    .work_pull = nb_work_pull,
    .work_item = nb_work_item,
    .work_delivery = nb_work_delivery,
    .work_progress = nb_work_progress,
    .work_done = nb_work_done,
    .work_backlog = nb_work_backlog,
    .ping = nb_ping,
};

/* bus_work_stream empty: no work queue, the job threads poll the store. */
static const co_bus_ops nats_ops_no_work = {
    .version = CO_BUS_VERSION,
    .name = "nats",
    .close = nb_close,
    .publish = nb_publish,
    .subscribe = nb_subscribe,
    .unsubscribe = nb_unsubscribe,
    .request = nb_request,
    .serve = nb_serve,
    .respond = nb_respond,
    .waiting = nb_waiting,
    .request_live = nb_request_live,
    .beat = nb_beat,
    .ping = nb_ping,
};

/* 100 ms doubling to 2 s between rounds over the servers, forever. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure) {
  int64_t d = 100LL << (attempts < 6 ? (attempts > 0 ? attempts - 1 : 0) : 5);
  return d > 2000 ? 2000 : d;
}

/* These run on the library's callback thread, possibly after close freed the bus: they use only
 * nc (which the library keeps alive for them), never a closure. */
static void on_disconnected(natsConnection *nc, void *closure) {
  if (!natsConnection_IsClosed(nc))
    co_log(CO_LOG_WARN, "bus: NATS disconnected; reconnecting", NULL);
}

static void on_reconnected(natsConnection *nc, void *closure) {
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  co_log(CO_LOG_INFO, "bus: NATS reconnected", "url", url, NULL);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
  co_log(CO_LOG_WARN, "bus: NATS error", "subject", sub ? natsSubscription_GetSubject(sub) : NULL, "error",
         natsStatus_GetText(err), NULL);
}

static int valid_name(const char *s) {
  return *s && !strpbrk(s, " \t\r\n.*>/\\");
}

/* The stream and the durable consumer, created or brought to the configuration, and this
 * process's pull subscription bound to the consumer. */
static cohort_status open_work(nats_bus *b, const co_config *cfg) {
  jsOptions jo;
  jsErrCode je = 0;
  jsStreamInfo *si = NULL;
  jsConsumerInfo *ci = NULL;
  natsStatus s;
  if (!valid_name(cfg->bus_work_stream) || !valid_name(cfg->bus_work_consumer))
    return co_error(COHORT_EINVAL, "bus_work_stream, bus_work_consumer: '%s', '%s' must be single names",
                    cfg->bus_work_stream, cfg->bus_work_consumer);
  co_strlcpy(b->stream, cfg->bus_work_stream, sizeof b->stream);
  co_strlcpy(b->consumer, cfg->bus_work_consumer, sizeof b->consumer);
  snprintf(b->work_subject, sizeof b->work_subject, "cohort.work.%s", b->stream);
  jsOptions_Init(&jo);
  jo.Wait = b->timeout_ms;
  if ((s = natsConnection_JetStream(&b->js, b->nc, &jo)) != NATS_OK)
    return failed(b, s, "open JetStream for", b->work_subject);

  jsStreamConfig sc;
  const char *subjects[] = {b->work_subject};
  jsStreamConfig_Init(&sc);
  sc.Name = b->stream;
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Retention = js_WorkQueuePolicy;
  sc.Storage = js_FileStorage;
  s = js_AddStream(&si, b->js, &sc, &jo, &je);
  if (s != NATS_OK && (je == JSStreamNameExistErr || je == JSStreamSubjectOverlapErr)) {
    /* It exists, or another process is creating it this very moment (the server then answers
     * "subjects overlap"): make its configuration ours. Overlap with a stream of another name
     * stays an error (stream not found). */
    jsStreamInfo_Destroy(si);
    si = NULL;
    je = 0;
    s = js_UpdateStream(&si, b->js, &sc, &jo, &je);
  }
  jsStreamInfo_Destroy(si);
  if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT)
    return co_error(COHORT_EUNAVAIL,
                    "bus_work_stream: JetStream does not answer on %s (is nats-server started with -js? set "
                    "bus_work_stream empty for no work queue)",
                    b->url);
  if (s != NATS_OK)
    return co_error(COHORT_EIO, "bus_work_stream: stream %s: %s (JetStream error %d)", b->stream,
                    nats_text(s), (int)je);

  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = b->consumer;
  cc.AckPolicy = js_AckExplicit;
  cc.DeliverPolicy = js_DeliverAll;
  cc.AckWait = (int64_t)cfg->bus_work_ack_wait_s * 1000000000LL;
  cc.MaxDeliver = cfg->bus_work_max_deliver;
  je = 0;
  s = js_AddConsumer(&ci, b->js, b->stream, &cc, &jo, &je);
  if (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS) /* exists with another configuration */
    s = js_UpdateConsumer(&ci, b->js, b->stream, &cc, &jo, &je);
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK)
    return co_error(COHORT_EIO, "bus_work_consumer: consumer %s on stream %s: %s (JetStream error %d)",
                    b->consumer, b->stream, nats_text(s), (int)je);

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = b->stream;
  so.Consumer = b->consumer;
  je = 0;
  if ((s = js_PullSubscribe(&b->work_sub, b->js, b->work_subject, b->consumer, &jo, &so, &je)) != NATS_OK)
    return co_error(COHORT_EIO, "bus_work_consumer: pull from %s on stream %s: %s", b->consumer, b->stream,
                    nats_text(s));
  return COHORT_OK;
}

cohort_status co_bus_nats_open(const char *url, const co_config *cfg, co_bus **out) {
  natsOptions *opts = NULL;
  natsStatus s;
  cohort_status st = COHORT_OK;
  *out = NULL;
  nats_bus *b = co_calloc(1, sizeof *b);
  if (!b)
    return co_nomem();
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->cond, NULL);
  pthread_mutex_init(&b->work_lock, NULL);
  pthread_mutex_init(&b->spent_lock, NULL);
  pthread_mutex_init(&b->boxes_lock, NULL);
  b->timeout_ms = cfg->bus_timeout_ms > 0 ? cfg->bus_timeout_ms : 5000;
  if (co_strlcpy(b->url, url, sizeof b->url) < 0) {
    st = co_error(COHORT_EINVAL, "bus: URL longer than %zu characters", sizeof b->url - 1);
    goto fail;
  }
  if (cfg->bus_redis[0] &&
      (st = co_offload_open(cfg->bus_redis, b->timeout_ms, cfg->bus_offload_ttl_s, &b->redis)) != COHORT_OK)
    goto fail;

  if ((s = natsOptions_Create(&opts)) != NATS_OK || (s = natsOptions_SetURL(opts, url)) != NATS_OK ||
      (s = natsOptions_SetTimeout(opts, b->timeout_ms)) != NATS_OK ||
      (s = natsOptions_SetName(opts, "cohort")) != NATS_OK ||
      (s = natsOptions_SetMaxReconnect(opts, -1)) != NATS_OK ||
      (s = natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, NULL)) != NATS_OK ||
      (s = natsOptions_SetPingInterval(opts, 5000)) != NATS_OK ||
      (s = natsOptions_SetMaxPingsOut(opts, 2)) != NATS_OK ||
      (s = natsOptions_SetFailRequestsOnDisconnect(opts, true)) != NATS_OK ||
      /* Replies (and progress) go out at once, not when the library's flusher thread next runs:
       * the flusher's batching added about 0.6 ms to every trainee call (bench/CLUSTER.md). */
      (s = natsOptions_SetSendAsap(opts, true)) != NATS_OK ||
      (s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL)) != NATS_OK ||
      (s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL)) != NATS_OK ||
      (s = natsOptions_SetErrorHandler(opts, on_async_error, NULL)) != NATS_OK) {
    st = s == NATS_ADDRESS_MISSING || s == NATS_INVALID_ARG
             ? co_error(COHORT_EINVAL, "bus: '%s' is not nats://HOST:PORT[,nats://HOST:PORT...]: %s", url,
                        nats_text(s))
             : co_error(COHORT_EIO, "bus: NATS options: %s", nats_text(s));
    goto fail;
  }
  if ((s = natsConnection_Connect(&b->nc, opts)) != NATS_OK) {
    st = co_error(COHORT_EUNAVAIL, "bus: NATS unavailable at %s: %s", url, nats_text(s));
    goto fail;
  }
  if (natsConnection_HasHeaderSupport(b->nc) != NATS_OK) {
    st = co_error(COHORT_EINVAL,
                  "bus: the NATS server at %s is too old (no message headers; 2.2 or later needed)", url);
    goto fail;
  }
  int64_t max_payload = natsConnection_GetMaxPayload(b->nc);
  b->direct_max = max_payload > 2 * HEADROOM ? (size_t)(max_payload - HEADROOM) : (size_t)max_payload / 2;
  b->threshold = b->direct_max;
  if (b->redis && cfg->bus_offload_bytes > 0 && (size_t)cfg->bus_offload_bytes < b->threshold)
    b->threshold = (size_t)cfg->bus_offload_bytes;
  b->base.ops = &nats_ops_no_work;
  if (cfg->bus_work_stream[0]) {
    if ((st = open_work(b, cfg)) != COHORT_OK)
      goto fail;
    b->base.ops = &nats_ops;
  }
  natsOptions_Destroy(opts);
  *out = &b->base;
  return COHORT_OK;
fail:
  natsOptions_Destroy(opts);
  b->base.ops = &nats_ops_no_work;
  nb_close(&b->base);
  return st;
}
