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
  int inflight; /* calls handed to the compute pool and not yet answered (under mu) */
  pthread_cond_t idle;
};

/* A call waiting for, or running on, the compute pool. */
typedef struct call_job {
  co_calls *c;
  co_bus_req *req;
  const char *data; /* the bus keeps it until respond */
  size_t len;
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

/* ---------------------------------------------------------------- worker side */

/* "trainee.<id>.<verb>" {"id", "version", "blob", "req"} */
static void answer_call(co_calls *c, co_bus_req *req, const char *subject, const char *data, size_t len) {
  co_platform *p = c->p;
  json_error_t jerr;
  json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr), *reply = NULL;
  const char *verb = strrchr(subject, '.'), *field = NULL;
  co_trainee rec = {0};
  cohort_status st;
  json_t *id = json_object_get(msg, "id"), *version = json_object_get(msg, "version"),
         *blob = json_object_get(msg, "blob");
  if (!verb || !json_is_string(id) || !json_is_integer(version) || !json_is_string(blob) ||
      !json_is_object(json_object_get(msg, "req"))) {
    st = co_error(COHORT_EFORMAT, "call on %s: malformed message (%s)", subject, msg ? "fields" : jerr.text);
    goto out;
  }
  if (co_strlcpy(rec.id, json_string_value(id), sizeof rec.id) < 0 ||
      co_strlcpy(rec.blob, json_string_value(blob), sizeof rec.blob) < 0 || !valid_id(rec.id)) {
    st = co_error(COHORT_EFORMAT, "call on %s: bad trainee id or object key", subject);
    goto out;
  }
  rec.version = (int64_t)json_integer_value(json_object_get(msg, "version"));
  pthread_mutex_lock(&c->mu);
  for (served *s = c->list; s; s = s->next)
    if (strcmp(s->id, rec.id) == 0)
      s->last_ms = co_now_ms();
  pthread_mutex_unlock(&c->mu);
  st = co_query_local(p, &rec, verb + 1, json_object_get(msg, "req"), &reply, &field);
out:
  respond_json(p, req, st == COHORT_OK ? json_pack("{s:o}", "reply", reply) : error_json(st, field));
  json_decref(msg);
}

/* A call handed to the pool was answered: co_calls_stop may be waiting for the last one. */
static void call_done(co_calls *c) {
  pthread_mutex_lock(&c->mu);
  if (--c->inflight == 0)
    pthread_cond_broadcast(&c->idle);
  pthread_mutex_unlock(&c->mu);
}

static void call_run(void *arg) {
  call_job *j = arg;
  co_calls *c = j->c;
  answer_call(c, j->req, j->subject, j->data, j->len);
  co_free(j);
  call_done(c);
}

/* Calls run on the compute pool, not on the bus's delivery thread: that is one thread per
 * subscription, i.e. per trainee, and would answer a busy trainee's calls one at a time. */
static void on_call(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  co_calls *c = ctx;
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
  pthread_mutex_lock(&c->mu);
  c->inflight++;
  pthread_mutex_unlock(&c->mu);
  if (co_pool_submit(c->p->pool, call_run, j) != COHORT_OK) {
    respond_json(c->p, req,
                 error_json(co_error(COHORT_EUNAVAIL, "worker %s: its compute pool's queue is full; retry",
                                     c->p->instance),
                            NULL));
    co_free(j);
    call_done(c);
  }
}

static cohort_status serve_trainee(co_calls *c, const char *id) {
  char pattern[CO_ID_MAX + 16], queue[CO_ID_MAX + 16];
  cohort_status st = COHORT_OK;
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

/* "trainees.place" {"id"}: serve it here. */
static void on_place(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  co_calls *c = ctx;
  json_t *msg = json_loadb(data, len, 0, NULL);
  const char *id = json_string_value(json_object_get(msg, "id"));
  cohort_status st =
      valid_id(id) ? serve_trainee(c, id) : co_error(COHORT_EFORMAT, "placement: bad trainee id");
  respond_json(c->p, req,
               st == COHORT_OK ? json_pack("{s:{s:b}}", "reply", "serving", 1) : error_json(st, NULL));
  json_decref(msg);
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
  while (!c->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_cond_timedwait(&c->wake, &c->mu, &until);
    if (c->stopping)
      break;
    pthread_mutex_unlock(&c->mu);
    unserve(c, NULL, co_now_ms() - CO_CALLS_IDLE_MS);
    pthread_mutex_lock(&c->mu);
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

/* ---------------------------------------------------------------- API side */

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
  json_t *msg = json_pack("{s:s, s:I, s:s, s:O}", "id", rec->id, "version", (json_int_t)rec->version, "blob",
                          rec->blob, "req", req);
  char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  if (!text)
    return co_nomem();
  snprintf(subject, sizeof subject, "trainee.%s.%s", rec->id, verb);
  snprintf(place, sizeof place, "{\"id\":\"%s\"}", rec->id);
  int64_t deadline = co_now_ms() + 2 * (int64_t)p->cfg.bus_timeout_ms;
  for (int placed = 0;; placed++) {
    st = b->ops->request(b, subject, text, strlen(text), p->cfg.bus_timeout_ms, &out, &outlen);
    if (st != COHORT_ENOTFOUND || co_now_ms() >= deadline || placed == 3)
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
