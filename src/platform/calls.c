/* calls.c: trainee calls over the bus; see calls.h. */
#include "calls.h"
#include "co_base.h"
#include "log.h"
#include "query.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct served {
  struct served *next;
  char id[CO_ID_MAX];
  co_bus_sub *sub;
  int64_t last_ms; /* last call, for the idle sweep */
  /* Load over the current window: calls, and those that found every compute thread taken. */
  int64_t window_ms, calls, saturated;
  int64_t peer_asked_ms; /* when this worker last asked another one to host it too */
  co_trainee rec;        /* the record of the last call (info_json NULL): what a peer loads */
  int want_peer;
} served;

struct co_calls {
  co_platform *p;
  pthread_mutex_t mu;
  served *list;
  int64_t nserved;
  co_bus_sub *place, *dropped;
  pthread_t sweeper;
  pthread_cond_t wake;
  int stopping, started;
  int inflight;             /* calls taken and not yet answered (under mu) */
  struct call_job *running; /* those calls, for their beats (under mu) */
  pthread_cond_t idle;
  int peers_wanted; /* some served->want_peer is set: the sweeper asks for peers */
  int64_t peer_requests;
  int64_t answered_inline; /* calls answered on the bus's delivery thread (the rest: on the pool) */
  co_histo latency;
};

/* A trainee is hot on this worker when, over one window, at least CO_CALLS_HOT_CALLS calls came
 * and at least half of them found as many calls in progress as compute threads (they wait for a
 * thread): it then asks one more worker to
 * host it (the queue group spreads calls over all hosts), at most once per CO_CALLS_PEER_EVERY_MS.
 * A host that is not saturated never asks, so the number of hosts follows the load; idle extra
 * hosts are swept like any other. */
#define CO_CALLS_WINDOW_MS 1000
#define CO_CALLS_HOT_CALLS 20
#define CO_CALLS_PEER_EVERY_MS 5000
/* A call this small (one or a few rows) may be answered on the delivery thread; see on_call. */
#define CO_CALLS_INLINE_BYTES 4096

/* An API resends a call (they only read a committed version) when its worker goes silent this
 * long: neither the reply nor a beat (CO_BUS_BEAT_MS), i.e. the worker died or lost NATS. */
#define CO_CALLS_SILENCE_MS (4 * CO_BUS_BEAT_MS)

/* A call taken: waiting for, or running on, the compute pool, or running inline. */
typedef struct call_job {
  struct call_job *next, *prev; /* co_calls.running */
  int64_t beat_ms;              /* when it was taken or last beaten */
  co_calls *c;
  co_bus_req *req;
  const char *data; /* the bus keeps it until respond */
  size_t len;
  uint64_t arrived_ns;
  char subject[CO_ID_MAX + 48];
} call_job;

static int valid_id(const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n >= CO_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_'))
      return 0; /* ids are made by co_id_new; anything else would be a subject wildcard or worse */
  return 1;
}

static void respond_json(co_platform *p, co_bus_req *req, json_t *msg) {
  char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  if (!text) /* the reply could not be built: the caller times out rather than reading garbage */
    text = strdup("{\"error\":{\"status\":-1,\"message\":\"out of memory\"}}");
  p->bus->ops->respond(p->bus, req, text, text ? strlen(text) : 0);
  free(text);
  json_decref(msg);
}

static json_t *error_json(cohort_status st, const char *field) {
  return json_pack("{s:{s:i, s:s?, s:s}}", "error", "status", (int)st, "field", field, "message",
                   cohort_errmsg());
}

/* What a worker needs to load a trainee's committed version and check it. */
static json_t *rec_json(const co_trainee *rec) {
  return json_pack("{s:s, s:I, s:s, s:s, s:I}", "id", rec->id, "version", (json_int_t)rec->version, "blob",
                   rec->blob, "sha256", rec->blob_sha256, "bytes", (json_int_t)rec->blob_bytes);
}

static int valid_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* The record in msg (see rec_json): a message from the bus is checked like any other input. */
static cohort_status rec_parse(json_t *msg, const char *what, co_trainee *rec) {
  json_t *id = json_object_get(msg, "id"), *version = json_object_get(msg, "version"),
         *blob = json_object_get(msg, "blob"), *sha = json_object_get(msg, "sha256"),
         *bytes = json_object_get(msg, "bytes");
  memset(rec, 0, sizeof *rec);
  if (!json_is_string(id) || co_strlcpy(rec->id, json_string_value(id), sizeof rec->id) < 0 ||
      !valid_id(rec->id))
    return co_error(COHORT_EFORMAT, "%s: id: missing or not a trainee id", what);
  if (!json_is_integer(version) || json_integer_value(version) < 0 || !json_is_string(blob) ||
      co_strlcpy(rec->blob, json_string_value(blob), sizeof rec->blob) < 0)
    return co_error(COHORT_EFORMAT, "%s: version or blob: missing or malformed", what);
  rec->version = (int64_t)json_integer_value(version);
  if (!json_is_string(sha) ||
      co_strlcpy(rec->blob_sha256, json_string_value(sha), sizeof rec->blob_sha256) < 0 ||
      (rec->blob_sha256[0] &&
       (strlen(rec->blob_sha256) != CO_SHA256_HEX - 1 || !valid_hex(rec->blob_sha256, CO_SHA256_HEX - 1))) ||
      !json_is_integer(bytes) || json_integer_value(bytes) < 0)
    return co_error(COHORT_EFORMAT, "%s: sha256 or bytes: missing or malformed", what);
  rec->blob_bytes = (int64_t)json_integer_value(bytes);
  return COHORT_OK;
}

static _Thread_local char error_field[64]; /* *field points here after a worker's error */

static cohort_status read_reply(const char *data, size_t len, json_t **reply, const char **field) {
  json_t *msg = json_loadb(data, len, 0, NULL), *err;
  cohort_status st = COHORT_OK;
  if ((*reply = json_object_get(msg, "reply")) != NULL)
    json_incref(*reply);
  else if (json_is_object(err = json_object_get(msg, "error"))) {
    json_t *f = json_object_get(err, "field");
    int status = (int)json_integer_value(json_object_get(err, "status"));
    st = status < 0 && status >= COHORT_ENOSPACE ? (cohort_status)status : COHORT_EIO; /* the lowest code */
    if (json_is_string(f)) {
      snprintf(error_field, sizeof error_field, "%s", json_string_value(f));
      *field = error_field;
    }
    const char *m = json_string_value(json_object_get(err, "message"));
    co_error(st, "%s", m ? m : "the worker failed");
  } else
    st = co_error(COHORT_EIO, "a worker answered with a malformed reply");
  json_decref(msg);
  return st;
}

/* ---------------------------------------------------------------- worker side */

/* The answer to "trainee.<id>.<verb>" {"id", "version", "blob", "sha256", "bytes", "req"}. */
static json_t *answer_call(co_calls *c, const char *subject, const char *data, size_t len) {
  co_platform *p = c->p;
  json_error_t jerr;
  json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr), *reply = NULL;
  const char *verb = strrchr(subject, '.'), *field = NULL;
  co_trainee rec;
  cohort_status st;
  if (!verb || !msg || !json_is_object(json_object_get(msg, "req"))) {
    st = co_error(COHORT_EFORMAT, "call on %s: malformed message (%s)", subject, msg ? "no req" : jerr.text);
    goto out;
  }
  if ((st = rec_parse(msg, "call", &rec)) != COHORT_OK)
    goto out;
  st = co_query_local(p, &rec, verb + 1, json_object_get(msg, "req"), &reply, &field);
out:
  json_decref(msg);
  return st == COHORT_OK ? json_pack("{s:o}", "reply", reply) : error_json(st, field);
}

/* Counts a call to id in its load window; at the end of a window, decides whether it is hot. */
static void count_call(co_calls *c, const char *id, const char *data, size_t len) {
  size_t threads = co_pool_threads(c->p->pool);
  int64_t now = co_now_ms();
  pthread_mutex_lock(&c->mu);
  for (served *s = c->list; s; s = s->next) {
    if (strcmp(s->id, id) != 0)
      continue;
    s->last_ms = now;
    s->calls++;
    s->saturated += (size_t)c->inflight >= threads; /* this call waits for a thread */
    if (now - s->window_ms >= CO_CALLS_WINDOW_MS) {
      if (s->calls >= CO_CALLS_HOT_CALLS && 2 * s->saturated >= s->calls &&
          now - s->peer_asked_ms >= CO_CALLS_PEER_EVERY_MS) {
        json_t *msg = json_loadb(data, len, 0, NULL);
        if (rec_parse(msg, "call", &s->rec) == COHORT_OK && s->rec.version > 0) {
          s->want_peer = 1;
          s->peer_asked_ms = now;
          c->peers_wanted = 1;
          pthread_cond_signal(&c->wake);
        }
        json_decref(msg);
      }
      s->window_ms = now;
      s->calls = s->saturated = 0;
    }
    break;
  }
  pthread_mutex_unlock(&c->mu);
}

/* Answers j and frees it: out of the beaten calls first (a beat must not follow the reply), and
 * co_calls_stop may be waiting for the last call. */
static void call_answer(call_job *j, json_t *msg) {
  co_calls *c = j->c;
  pthread_mutex_lock(&c->mu);
  if (j->prev)
    j->prev->next = j->next;
  else
    c->running = j->next;
  if (j->next)
    j->next->prev = j->prev;
  pthread_mutex_unlock(&c->mu);
  respond_json(c->p, j->req, msg);
  co_histo_observe(&c->latency, (double)(co_mono_ns() - j->arrived_ns) / 1e9);
  co_free(j);
  pthread_mutex_lock(&c->mu);
  if (--c->inflight == 0)
    pthread_cond_broadcast(&c->idle);
  pthread_mutex_unlock(&c->mu);
}

static void call_run(void *arg) {
  call_job *j = arg;
  call_answer(j, answer_call(j->c, j->subject, j->data, j->len));
}

/* Beats the calls held at least CO_BUS_BEAT_MS since they came or were last beaten (under mu: a
 * call leaves the list before its reply). */
static void beat_calls(co_calls *c) {
  int64_t now = co_now_ms();
  for (call_job *j = c->running; j; j = j->next)
    if (now - j->beat_ms >= CO_BUS_BEAT_MS) {
      j->beat_ms = now;
      c->p->bus->ops->beat(c->p->bus, j->req); /* a failure: the requester resends or times out */
    }
}

/* Calls run on the compute pool, not on the bus's delivery thread: that is one thread per
 * subscription, i.e. per trainee, and would answer a busy trainee's calls one at a time. Except a
 * small call when nothing else is in flight here, a compute thread is idle and no call waits
 * behind it: then the hand-off to the pool (a thread wake-up, ~0.1 ms of a single-row call's
 * ~0.2 ms here) buys nothing, and the call is answered on the delivery thread. A call that comes
 * while it runs waits at most that long, and then sees one waiting behind it or one in flight. */
static void on_call(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  co_calls *c = ctx;
  co_bus *bus = c->p->bus;
  call_job *j = co_malloc(sizeof *j);
  if (!j || co_strlcpy(j->subject, subject, sizeof j->subject) < 0) {
    co_free(j);
    respond_json(c->p, req,
                 error_json(j ? co_error(COHORT_EFORMAT, "call: subject too long") : co_nomem(), NULL));
    return;
  }
  j->c = c;
  j->req = req;
  j->data = data;
  j->len = len;
  j->arrived_ns = co_mono_ns();
  j->beat_ms = co_now_ms();
  j->prev = NULL;
  const char *dot = strchr(subject, '.'), *end = strrchr(subject, '.');
  char id[CO_ID_MAX];
  if (dot && end > dot && (size_t)(end - dot - 1) < sizeof id) { /* "trainee.<id>.<verb>" */
    memcpy(id, dot + 1, (size_t)(end - dot - 1));
    id[end - dot - 1] = '\0';
    count_call(c, id, data, len);
  }
  size_t busy = 0, queued = 0;
  int here = 0;
  if (len <= CO_CALLS_INLINE_BYTES && bus->ops->waiting(bus, req) == 0) {
    co_pool_stats(c->p->pool, &busy, &queued);
    here = busy < co_pool_threads(c->p->pool) && queued == 0;
  }
  pthread_mutex_lock(&c->mu);
  here = here && c->inflight == 0;
  c->inflight++;
  c->answered_inline += here;
  if ((j->next = c->running) != NULL)
    j->next->prev = j;
  c->running = j;
  pthread_mutex_unlock(&c->mu);
  if (here) {
    call_run(j);
    return;
  }
  if (co_pool_submit(c->p->pool, call_run, j) != COHORT_OK)
    call_answer(j, error_json(co_error(COHORT_EUNAVAIL, "worker %s: its compute pool's queue is full; retry",
                                       c->p->instance),
                              NULL));
}

/* *added: whether this call started serving it (0: it was served here already). */
static cohort_status serve_trainee(co_calls *c, const char *id, int *added) {
  char pattern[CO_ID_MAX + 16], queue[CO_ID_MAX + 16];
  cohort_status st = COHORT_OK;
  *added = 0;
  pthread_mutex_lock(&c->mu);
  for (served *s = c->list; s; s = s->next)
    if (strcmp(s->id, id) == 0)
      goto out; /* already */
  served *s = co_calloc(1, sizeof *s);
  if (!s) {
    st = co_nomem();
    goto out;
  }
  co_strlcpy(s->id, id, sizeof s->id);
  s->last_ms = co_now_ms();
  snprintf(pattern, sizeof pattern, "trainee.%s.>", id);
  snprintf(queue, sizeof queue, "hosts-%s", id); /* a queue group is one token */
  if ((st = c->p->bus->ops->serve(c->p->bus, pattern, queue, on_call, c, &s->sub)) != COHORT_OK) {
    co_free(s);
    goto out;
  }
  s->next = c->list;
  c->list = s;
  c->nserved++;
  *added = 1;
  co_log(CO_LOG_INFO, "serving trainee", "trainee", id, NULL);
out:
  pthread_mutex_unlock(&c->mu);
  return st;
}

/* Stops serving id (every one idle since before idle_before when id is NULL). */
static void unserve(co_calls *c, const char *id, int64_t idle_before) {
  served *gone = NULL;
  pthread_mutex_lock(&c->mu);
  for (served **q = &c->list; *q;) {
    served *s = *q;
    if (id ? strcmp(s->id, id) == 0 : s->last_ms < idle_before) {
      *q = s->next;
      s->next = gone;
      gone = s;
      c->nserved--;
    } else
      q = &s->next;
  }
  pthread_mutex_unlock(&c->mu);
  while (gone) { /* outside the lock: unsubscribe waits for a call in flight */
    served *s = gone;
    gone = s->next;
    c->p->bus->ops->unsubscribe(c->p->bus, s->sub);
    co_host_drop(c->p->host, s->id);
    co_free(s);
  }
}

/* "trainees.place": serve it here. From an API, {"id"}: the first call loads it. From a hot
 * host, the record and "except" (the asker's instance): this worker loads it first, so the calls
 * the queue group sends here do not wait for the load, and the asker itself answers "asker". */
static void on_place(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  co_calls *c = ctx;
  json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
  const char *id = json_string_value(json_object_get(msg, "id"));
  const char *except = json_string_value(json_object_get(msg, "except"));
  co_trainee rec;
  int added = 0;
  cohort_status st = COHORT_OK;
  if (!valid_id(id))
    st = co_error(COHORT_EFORMAT, "placement: bad trainee id");
  else if (except && strcmp(except, c->p->instance) == 0)
    st = co_error(COHORT_ESTATE, "placement: %s is the worker asking for a peer", c->p->instance);
  else if (except) {
    co_hosted *h = NULL;
    if ((st = rec_parse(msg, "placement", &rec)) == COHORT_OK &&
        (st = co_host_acquire(c->p->host, &rec, &h)) == COHORT_OK)
      co_host_release(c->p->host, h);
  }
  if (st == COHORT_OK)
    st = serve_trainee(c, id, &added);
  respond_json(c->p, req,
               st == COHORT_OK ? json_pack("{s:{s:b, s:b}}", "reply", "serving", 1, "added", added)
                               : error_json(st, NULL));
  json_decref(msg);
}

/* Asks one more worker to host rec's trainee (see CO_CALLS_HOT_CALLS). The queue group picks a
 * worker at random: it may be this one or one already hosting it, so a few tries. */
static void ask_peer(co_calls *c, const co_trainee *rec) {
  co_bus *b = c->p->bus;
  json_t *msg = rec_json(rec);
  json_object_set_new(msg, "except", json_string(c->p->instance));
  char *text = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  for (int try = 0; text && try < 4; try++) {
    pthread_mutex_lock(&c->mu);
    int stopping = c->stopping;
    pthread_mutex_unlock(&c->mu);
    if (stopping)
      break;
    char *out = NULL;
    size_t outlen = 0;
    json_t *reply = NULL;
    const char *field = NULL;
    cohort_status st =
        b->ops->request(b, "trainees.place", text, strlen(text), c->p->cfg.bus_timeout_ms, &out, &outlen);
    if (st == COHORT_OK)
      st = read_reply(out, outlen, &reply, &field);
    co_free(out);
    int added = json_is_true(json_object_get(reply, "added"));
    json_decref(reply);
    if (added) {
      pthread_mutex_lock(&c->mu);
      c->peer_requests++;
      pthread_mutex_unlock(&c->mu);
      co_log(CO_LOG_INFO, "hot trainee: another worker hosts it too", "trainee", rec->id, NULL);
      break;
    }
    if (st != COHORT_OK && st != COHORT_ESTATE) /* ENOTFOUND: no other worker; or a real failure */
      break;
  }
  free(text);
}

static void on_dropped(void *ctx, const char *subject, const char *data, size_t len) {
  co_calls *c = ctx;
  char id[CO_ID_MAX];
  if (len == 0 || len >= sizeof id)
    return;
  memcpy(id, data, len);
  id[len] = '\0';
  if (valid_id(id))
    unserve(c, id, 0);
}

static void *sweeper_main(void *arg) {
  co_calls *c = arg;
  pthread_mutex_lock(&c->mu);
  int64_t next_sweep = co_now_ms() + 30000;
  while (!c->stopping) {
    if (!c->peers_wanted) { /* a quarter of a beat while calls are held: none goes a beat late */
      struct timespec until =
          co_deadline_after(CLOCK_REALTIME, c->running ? CO_BUS_BEAT_MS / 4 : CO_BUS_BEAT_MS);
      pthread_cond_timedwait(&c->wake, &c->mu, &until);
    }
    if (c->stopping)
      break;
    beat_calls(c);
    if (c->peers_wanted) { /* one at a time, without the lock: asking waits on the bus */
      co_trainee rec;
      int found = 0;
      c->peers_wanted = 0;
      for (served *s = c->list; s; s = s->next)
        if (s->want_peer) {
          if (found) {
            c->peers_wanted = 1; /* the next turn */
            break;
          }
          s->want_peer = 0;
          rec = s->rec;
          found = 1;
        }
      if (found) {
        pthread_mutex_unlock(&c->mu);
        ask_peer(c, &rec);
        pthread_mutex_lock(&c->mu);
      }
    }
    if (co_now_ms() >= next_sweep) {
      next_sweep = co_now_ms() + 30000;
      pthread_mutex_unlock(&c->mu);
      unserve(c, NULL, co_now_ms() - CO_CALLS_IDLE_MS);
      pthread_mutex_lock(&c->mu);
    }
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

cohort_status co_calls_start(co_platform *p, co_calls **out) {
  co_bus *b = p->bus;
  cohort_status st;
  *out = NULL;
  co_calls *c = co_calloc(1, sizeof *c);
  if (!c)
    return co_nomem();
  c->p = p;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->wake, NULL);
  pthread_cond_init(&c->idle, NULL);
  if ((st = b->ops->serve(b, "trainees.place", "workers", on_place, c, &c->place)) != COHORT_OK ||
      (st = b->ops->subscribe(b, "trainees.dropped", on_dropped, c, &c->dropped)) != COHORT_OK)
    goto fail;
  if (pthread_create(&c->sweeper, NULL, sweeper_main, c) != 0) {
    st = co_error(COHORT_ENOMEM, "cannot start the trainee call sweeper");
    goto fail;
  }
  c->started = 1;
  *out = c;
  return COHORT_OK;
fail:
  co_calls_stop(c);
  return st;
}

void co_calls_stop(co_calls *c) {
  if (!c)
    return;
  co_bus *b = c->p->bus;
  if (c->place) /* no new placements; then hand every trainee's subject back */
    b->ops->unsubscribe(b, c->place);
  if (c->dropped)
    b->ops->unsubscribe(b, c->dropped);
  if (c->started) {
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->sweeper, NULL);
  }
  unserve(c, NULL, INT64_MAX);
  pthread_mutex_lock(&c->mu); /* the calls still on the pool answer before c goes */
  while (c->inflight > 0)
    pthread_cond_wait(&c->idle, &c->mu);
  pthread_mutex_unlock(&c->mu);
  pthread_cond_destroy(&c->idle);
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->mu);
  co_free(c);
}

int64_t co_calls_serving(co_calls *c) {
  if (!c)
    return 0;
  pthread_mutex_lock(&c->mu);
  int64_t n = c->nserved;
  pthread_mutex_unlock(&c->mu);
  return n;
}

int64_t co_calls_in_progress(co_calls *c) {
  if (!c)
    return 0;
  pthread_mutex_lock(&c->mu);
  int64_t n = c->inflight;
  pthread_mutex_unlock(&c->mu);
  return n;
}

int64_t co_calls_answered_inline(co_calls *c) {
  if (!c)
    return 0;
  pthread_mutex_lock(&c->mu);
  int64_t n = c->answered_inline;
  pthread_mutex_unlock(&c->mu);
  return n;
}

int64_t co_calls_peer_requests(co_calls *c) {
  if (!c)
    return 0;
  pthread_mutex_lock(&c->mu);
  int64_t n = c->peer_requests;
  pthread_mutex_unlock(&c->mu);
  return n;
}

co_histo *co_calls_latency(co_calls *c) {
  return c ? &c->latency : NULL;
}

/* ---------------------------------------------------------------- API side */

cohort_status co_calls_ask(co_platform *p, const co_trainee *rec, const char *verb, json_t *req,
                           json_t **reply, const char **field) {
  co_bus *b = p->bus;
  char subject[CO_ID_MAX + 48], place[CO_ID_MAX + 16];
  char *out = NULL;
  size_t outlen = 0;
  cohort_status st;
  *reply = NULL;
  *field = NULL;
  if (rec->version <= 0 || !rec->blob[0])
    return co_error(COHORT_ESTATE, "trainee '%s' is not trained yet", rec->id);
  json_t *msg = rec_json(rec);
  if (msg)
    json_object_set(msg, "req", req);
  char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  if (!text)
    return co_nomem();
  snprintf(subject, sizeof subject, "trainee.%s.%s", rec->id, verb);
  snprintf(place, sizeof place, "{\"id\":\"%s\"}", rec->id);
  int64_t deadline = co_now_ms() + 2 * (int64_t)p->cfg.bus_timeout_ms;
  int placed = 0, resent = 0;
  for (;;) {
    int silent = 0;
    st = b->ops->request_live(b, subject, text, strlen(text), p->cfg.bus_timeout_ms, CO_CALLS_SILENCE_MS,
                              &out, &outlen, &silent);
    if (silent && !resent && co_now_ms() < deadline) {
      /* Its worker died or lost NATS with the call: the others (or a new placement) answer it. */
      co_log(CO_LOG_WARN, "trainee call: its worker went silent; sending it again", "trainee", rec->id,
             "verb", verb, NULL);
      resent = 1;
      continue;
    }
    if (st != COHORT_ENOTFOUND || co_now_ms() >= deadline || placed++ == 3)
      break;
    /* Nobody serves this trainee: have one worker take it, then ask again. */
    st = b->ops->request(b, "trainees.place", place, strlen(place), p->cfg.bus_timeout_ms, &out, &outlen);
    if (st == COHORT_OK) { /* {"serving": true}, or the worker's error */
      json_t *ignored = NULL;
      const char *f = NULL;
      if ((st = read_reply(out, outlen, &ignored, &f)) !=
          COHORT_OK) /* the worker's fault, not the caller's */
        st = co_error(COHORT_EIO, "placing trainee '%s' on a worker: %s", rec->id, cohort_errmsg());
      json_decref(ignored);
    }
    co_free(out);
    out = NULL;
    if (st == COHORT_ENOTFOUND) {
      st = co_error(COHORT_EUNAVAIL, "no worker is running to host trainee '%s' (start cohort worker)",
                    rec->id);
      break;
    }
    if (st != COHORT_OK)
      break;
  }
  free(text);
  if (st == COHORT_ENOTFOUND)
    st = co_error(COHORT_EUNAVAIL, "trainee '%s': no worker took it in time", rec->id);
  if (st != COHORT_OK)
    return st;
  st = read_reply(out, outlen, reply, field);
  co_free(out);
  return st;
}
