/* http.c: connections and requests on libmicrohttpd (internal thread pool, epoll), routing,
 * identification, access checks before the body is read, capped bodies, uploads streamed to a
 * staging blob, replies, Server-Sent Events, logs and metrics.
 *
 * libmicrohttpd calls on_request several times per request: first with the headers (we set up
 * and check, never reply: a reply then would close keep-alive connections), then once per body
 * chunk, then once with no data, when the handler runs. */
#include "auth.h"
#include "co_base.h"
#include "integrity.h"
#include "log.h"
#include "server.h"
#include "scrub.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A refused body up to DRAIN_MAX is read and dropped so the client, which may still be sending,
 * reads the error; beyond it (or with Expect: 100-continue) the reply goes out at once and the
 * connection closes. */
enum { MAX_HEADERS = 8, SSE_HEARTBEAT_S = 15, DRAIN_MAX = 64 << 20 };

typedef struct sse sse;

struct co_server {
  co_platform *p;
  struct MHD_Daemon *daemon;
  struct MHD_Daemon *daemon6; /* listen = localhost: the IPv6 loopback, else NULL */
  int port;
  pthread_mutex_t sse_mu;
  sse *sse_list;
  pthread_t heartbeat;
  pthread_mutex_t hb_mu;
  pthread_cond_t hb_cond;
  int stopping;
  pthread_mutex_t defer_mu; /* co_defer: requests whose work runs on a thread of its own */
  pthread_cond_t defer_cv;
  int deferred, defer_closed;
  co_proxies proxies; /* trusted_proxies */
};

/* Extra headers a handler sets before replying (Set-Cookie, Location...). */
typedef struct req_extra {
  char names[MAX_HEADERS][64];
  char values[MAX_HEADERS][512];
  int n;
  char pending_code[32]; /* an error decided before the body, sent on the next call */
  int pending_status;
  char pending_field[64];
  char pending_msg[512];
  int hold;        /* while headers are checked: errors become pending instead of replies */
  int defer_state; /* co_defer: 1 while the work runs, 2 when done(r) is due */
  void (*defer_work)(co_req *r);
  void (*defer_done)(co_req *r);
  int64_t budget_reserved; /* memory_budget_mb held for the decoded body until the request ends */
} req_extra;

typedef struct req_full {
  co_req r;
  req_extra x;
} req_full;

static req_extra *extra(co_req *r) {
  return &((req_full *)r)->x;
}

/* ---------------------------------------------------------------- replies */

static void add_common_headers(co_req *r, struct MHD_Response *resp, const char *ctype) {
  MHD_add_response_header(resp, "Content-Type", ctype);
  MHD_add_response_header(resp, "X-Request-Id", r->rid);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  if (strncmp(r->path, "/v1/", 4) == 0 || strcmp(r->path, "/metrics") == 0)
    MHD_add_response_header(resp, "Cache-Control", "no-store");
  req_extra *x = extra(r);
  for (int i = 0; i < x->n; i++)
    MHD_add_response_header(resp, x->names[i], x->values[i]);
}

static void queue(co_req *r, int status, struct MHD_Response *resp, const char *ctype) {
  if (!resp) {
    co_log(CO_LOG_ERROR, "cannot create a response", "rid", r->rid, NULL);
    r->replied = 1;
    r->status = 500;
    return;
  }
  add_common_headers(r, resp, ctype);
  MHD_queue_response(r->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  r->replied = 1;
  r->status = status;
}

void co_reply_header(co_req *r, const char *name, const char *value) {
  req_extra *x = extra(r);
  if (x->n >= MAX_HEADERS)
    return;
  co_strlcpy(x->names[x->n], name, sizeof x->names[0]);
  co_strlcpy(x->values[x->n], value, sizeof x->values[0]);
  x->n++;
}

void co_reply_bytes(co_req *r, int status, const char *content_type, const void *data, size_t len) {
  if (r->replied)
    return;
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  queue(r, status, resp, content_type);
}

void co_reply_json(co_req *r, int status, json_t *body) {
  if (r->replied) {
    json_decref(body);
    return;
  }
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) {
    static const char oom[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the reply\",\"field\":null}}";
    co_reply_bytes(r, 500, "application/json", oom, sizeof oom - 1);
    return;
  }
  size_t n = strlen(text);
  /* MHD frees with free(): jansson allocates with malloc. */
  struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
  if (!resp)
    free(text);
  queue(r, status, resp, "application/json");
}

static void set_pending(co_req *r, int status, const char *code, const char *field, const char *msg);

static void reply_error_text(co_req *r, int status, const char *code, const char *field, const char *msg) {
  if (extra(r)->hold) {
    set_pending(r, status, code, field, msg);
    return;
  }
  char clean[1024];
  co_strlcpy(clean, msg, sizeof clean);
  co_scrub_paths(clean); /* a client sees the resource, never where the server keeps it */
  json_t *e = json_object();
  json_object_set_new(e, "code", json_string(code));
  json_t *m = json_string(clean);
  json_object_set_new(e, "message", m ? m : json_string("(message is not valid UTF-8)"));
  json_object_set_new(e, "field", field ? json_string(field) : json_null());
  co_reply_json(r, status, json_pack("{s:o}", "error", e));
}

void co_reply_error(co_req *r, int status, const char *code, const char *field, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  reply_error_text(r, status, code, field, msg);
}

void co_reply_status(co_req *r, cohort_status st, const char *field) {
  int status = 500;
  const char *code = "internal";
  switch (st) {
  case COHORT_OK:
    status = 200;
    code = "ok";
    break;
  case COHORT_EINVAL:
  case COHORT_EFORMAT:
    status = 400;
    code = "invalid";
    break;
  case COHORT_ECORRUPT: /* a stored object or the database failed its check: the server's fault */
    status = 500;
    code = "corrupt_object";
    break;
  case COHORT_ENOSPACE: /* the disk, a quota or the database is full */
    status = 507;
    code = "storage_full";
    break;
  case COHORT_ENOTFOUND:
    status = 404;
    code = "not_found";
    break;
  case COHORT_ESTATE:
    status = 409;
    code = "conflict";
    break;
  case COHORT_ELIMIT:
    status = 413;
    code = "too_large";
    break;
  case COHORT_ECANCELLED:
    status = 409;
    code = "cancelled";
    break;
  case COHORT_ENOMEM:
    status = 503;
    code = "out_of_memory";
    break;
  case COHORT_EUNAVAIL: /* the store, blob store or bus is down: the client may retry */
    status = 503;
    code = "unavailable";
    co_reply_header(r, "Retry-After", "1");
    break;
  default:
    break;
  }
  if (status == 500)
    co_log(CO_LOG_ERROR, "internal error", "rid", r->rid, "path", r->path, "error", cohort_errmsg(), NULL);
  reply_error_text(r, status, code, field, cohort_errmsg());
}

void co_reply_file(co_req *r, const char *path, const char *content_type, const char *download_name) {
  if (r->replied)
    return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) < 0) {
    if (fd >= 0)
      close(fd);
    co_reply_error(r, 404, "not_found", NULL, "file is gone");
    return;
  }
  if (download_name) {
    char cd[300];
    snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", download_name);
    co_reply_header(r, "Content-Disposition", cd);
  }
  struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)sb.st_size, fd);
  if (!resp)
    close(fd);
  queue(r, 200, resp, content_type);
}

/* A stored object streamed through its checking reader (integrity.h). A corrupt object found
 * mid-stream ends the transfer short of its Content-Length (the client sees a broken transfer,
 * never a clean end) and is reported like any other corrupt read. */
typedef struct blob_stream {
  co_platform *p;
  co_blob_reader *reader;
  char kind[16], id[CO_ID_MAX], key[CO_BLOB_MAX], rid[40];
  int marked; /* the record is marked corrupt: a whole, matching read clears the mark */
} blob_stream;

static ssize_t blob_stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  blob_stream *b = cls;
  ssize_t n = co_blob_reader_read(b->reader, pos, buf, max);
  if (n >= 0 && b->marked && pos + (uint64_t)n == (uint64_t)co_blob_reader_size(b->reader)) {
    b->marked = 0; /* every byte read and the checksum matched (MHD asks no further with a length) */
    co_corrupt_report(b->p, b->kind, b->id, b->key, "");
  }
  if (n > 0)
    return n;
  if (n == 0)
    return MHD_CONTENT_READER_END_OF_STREAM;
  const char *why = co_blob_reader_error(b->reader);
  co_log(CO_LOG_ERROR, "download aborted", "rid", b->rid, "object", b->key, "error", why, NULL);
  if (co_blob_reader_status(b->reader) == COHORT_ECORRUPT)
    co_corrupt_report(b->p, b->kind, b->id, b->key, why);
  return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void blob_stream_free(void *cls) {
  blob_stream *b = cls;
  co_blob_reader_close(b->reader);
  co_free(b);
}

void co_reply_blob(co_req *r, const char *kind, const char *id, const char *key, const char *sha256,
                   int64_t bytes, const char *marked, const char *content_type, const char *download_name) {
  co_blob_reader *reader = NULL;
  if (r->replied)
    return;
  cohort_status st = co_blob_reader_open(r->p->blobs, key, sha256, bytes, r->p->budget, &reader);
  if (st == COHORT_ECORRUPT) {
    char why[CO_CORRUPT_MAX];
    co_strlcpy(why, cohort_errmsg(), sizeof why);
    co_corrupt_report(r->p, kind, id, key, why);
    co_error(st, "%s", why);
  }
  blob_stream *b = st == COHORT_OK ? co_calloc(1, sizeof *b) : NULL;
  if (st == COHORT_OK && !b)
    st = co_nomem();
  if (st != COHORT_OK) {
    co_blob_reader_close(reader);
    co_reply_status(r, st, NULL);
    return;
  }
  b->p = r->p;
  b->reader = reader;
  co_strlcpy(b->kind, kind, sizeof b->kind);
  co_strlcpy(b->id, id, sizeof b->id);
  co_strlcpy(b->key, key, sizeof b->key);
  co_strlcpy(b->rid, r->rid, sizeof b->rid);
  b->marked = marked && marked[0] && sha256[0]; /* only a checksum can say it is whole again */
  if (download_name) {
    char cd[300];
    snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", download_name);
    co_reply_header(r, "Content-Disposition", cd);
  }
  struct MHD_Response *resp = MHD_create_response_from_callback(
      (uint64_t)co_blob_reader_size(reader), 256 << 10, blob_stream_read, b, blob_stream_free);
  if (!resp)
    blob_stream_free(b);
  queue(r, 200, resp, content_type);
}

/* ---------------------------------------------------------------- Server-Sent Events
 * One per watcher. The content reader sends the job when it changed, a comment every 15 s to
 * notice gone clients, and otherwise suspends the connection (returning 0 without suspending
 * would spin); the bus subscriber and the heartbeat resume it. The heartbeat also has every
 * stream look at its job once a second: a job run by another process on a shared store changes
 * without a message on this process's bus. A running job's progress messages carry the progress
 * itself (the store has it only every 2 s): they update the last job sent without a store read,
 * and the progress sent never goes back while the same attempt runs. Both sides hold mu so a
 * resume never races the suspend. */
struct sse {
  sse *next;
  co_server *srv;
  struct MHD_Connection *conn;
  char job_id[CO_ID_MAX];
  co_bus_sub *sub;
  pthread_mutex_t mu;
  int suspended, dirty, heartbeat, live, done, closing;
  char last[256];       /* state/progress/stage last sent */
  json_t *sent;         /* the job last sent while it ran (for live progress) */
  int attempt;          /* its attempt */
  double live_progress; /* the highest progress heard for that attempt */
  char live_stage[CO_STAGE_MAX];
};

enum { SSE_CHANGED, SSE_HEARTBEAT, SSE_LIVE };

static void sse_wake_locked(sse *e, int why) {
  if (why == SSE_HEARTBEAT)
    e->heartbeat = 1;
  else if (why == SSE_LIVE)
    e->live = 1;
  else
    e->dirty = 1;
  if (e->suspended) {
    e->suspended = 0;
    MHD_resume_connection(e->conn);
  }
}

static void sse_wake(sse *e, int why) {
  pthread_mutex_lock(&e->mu);
  sse_wake_locked(e, why);
  pthread_mutex_unlock(&e->mu);
}

/* "jobs.<id>": the job id (it changed: read it) or {"id","progress","stage"} from its runner. */
static void sse_on_msg(void *ctx, const char *subject, const char *data, size_t len) {
  sse *e = ctx;
  json_t *msg = len && data[0] == '{' ? json_loadb(data, len, 0, NULL) : NULL;
  json_t *progress = json_object_get(msg, "progress");
  const char *stage = json_string_value(json_object_get(msg, "stage"));
  if (!json_is_number(progress) || !stage) {
    json_decref(msg);
    sse_wake(e, SSE_CHANGED);
    return;
  }
  pthread_mutex_lock(&e->mu);
  if (json_number_value(progress) > e->live_progress) {
    e->live_progress = json_number_value(progress);
    co_strlcpy(e->live_stage, stage, sizeof e->live_stage);
    sse_wake_locked(e, SSE_LIVE);
  }
  pthread_mutex_unlock(&e->mu);
  json_decref(msg);
}

/* Writes "event: job" with jj into buf unless it says what was sent last; the byte count, 0 if
 * nothing is new, -1 if it does not fit. */
static ssize_t sse_event(sse *e, json_t *jj, char *buf, size_t max) {
  char key[256];
  snprintf(key, sizeof key, "%s/%.4f/%s/%d", json_string_value(json_object_get(jj, "state")),
           json_number_value(json_object_get(jj, "progress")),
           json_string_value(json_object_get(jj, "stage")),
           json_is_true(json_object_get(jj, "cancel_requested")));
  if (strcmp(key, e->last) == 0)
    return 0;
  char *text = json_dumps(jj, JSON_COMPACT);
  int n = text ? snprintf(buf, max, "event: job\ndata: %s\n\n", text) : -1;
  free(text);
  if (n <= 0 || (size_t)n >= max)
    return -1;
  co_strlcpy(e->last, key, sizeof e->last);
  return n;
}

/* The running job's progress and stage: the live ones when they are ahead of the store's. */
static void sse_overlay(sse *e, json_t *jj) {
  pthread_mutex_lock(&e->mu);
  if (e->live_progress > json_number_value(json_object_get(jj, "progress"))) {
    json_object_set_new(jj, "progress", json_real(e->live_progress));
    json_object_set_new(jj, "stage", json_string(e->live_stage));
  }
  pthread_mutex_unlock(&e->mu);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
  sse *e = cls;
  co_platform *p = e->srv->p;
  pthread_mutex_lock(&e->mu); /* closing is set by co_server_stop's thread */
  int dirty = e->dirty, hb = e->heartbeat, live = e->live, closing = e->closing;
  e->dirty = e->heartbeat = e->live = 0;
  pthread_mutex_unlock(&e->mu);
  if (e->done || closing)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (dirty || pos == 0) {
    co_job j;
    if (p->store->ops->job_get(p->store, e->job_id, &j) != COHORT_OK) {
      e->done = 1;
      int n = snprintf(buf, max, "event: error\ndata: {\"message\":\"job is gone\"}\n\n");
      return n > 0 && (size_t)n < max ? n : MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (j.attempts != e->attempt) { /* a new attempt starts from 0 again */
      pthread_mutex_lock(&e->mu);
      e->attempt = j.attempts;
      e->live_progress = 0;
      pthread_mutex_unlock(&e->mu);
    }
    json_t *jj = co_job_json(&j);
    if (jj && j.state == CO_JOB_RUNNING)
      sse_overlay(e, jj);
    ssize_t out = jj ? sse_event(e, jj, buf, max) : -1;
    if (out > 0 && j.state >= CO_JOB_SUCCEEDED)
      e->done = 1;
    json_decref(e->sent);
    e->sent = j.state == CO_JOB_RUNNING ? jj : NULL;
    if (!e->sent)
      json_decref(jj);
    co_job_clear(&j);
    if (out > 0)
      return out;
  } else if (live && e->sent) { /* progress only: no store read */
    sse_overlay(e, e->sent);
    ssize_t out = sse_event(e, e->sent, buf, max);
    if (out > 0)
      return out;
  }
  if (hb)
    return snprintf(buf, max, ": keep-alive\n\n");
  pthread_mutex_lock(&e->mu);
  if (e->dirty || e->heartbeat || e->closing) {
    pthread_mutex_unlock(&e->mu);
    return 0; /* called again at once */
  }
  e->suspended = 1;
  MHD_suspend_connection(e->conn);
  pthread_mutex_unlock(&e->mu);
  return 0;
}

static void sse_free(void *cls) {
  sse *e = cls;
  co_server *s = e->srv;
  pthread_mutex_lock(&s->sse_mu);
  for (sse **q = &s->sse_list; *q; q = &(*q)->next)
    if (*q == e) {
      *q = e->next;
      break;
    }
  pthread_mutex_unlock(&s->sse_mu);
  if (e->sub)
    s->p->bus->ops->unsubscribe(s->p->bus, e->sub);
  json_decref(e->sent);
  pthread_mutex_destroy(&e->mu);
  co_free(e);
}

void co_reply_job_events(co_req *r, const char *job_id) {
  co_server *s = r->srv;
  sse *e = co_calloc(1, sizeof *e);
  char subject[64];
  if (!e) {
    co_reply_status(r, co_nomem(), NULL);
    return;
  }
  e->srv = s;
  e->conn = r->conn;
  co_strlcpy(e->job_id, job_id, sizeof e->job_id);
  pthread_mutex_init(&e->mu, NULL);
  snprintf(subject, sizeof subject, "jobs.%s", job_id);
  if (s->p->bus->ops->subscribe(s->p->bus, subject, sse_on_msg, e, &e->sub) != COHORT_OK) {
    pthread_mutex_destroy(&e->mu);
    co_free(e);
    co_reply_status(r, COHORT_ENOMEM, NULL);
    return;
  }
  pthread_mutex_lock(&s->sse_mu);
  e->next = s->sse_list;
  s->sse_list = e;
  pthread_mutex_unlock(&s->sse_mu);
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, e, sse_free);
  if (!resp) {
    sse_free(e);
    co_reply_status(r, COHORT_ENOMEM, NULL);
    return;
  }
  co_reply_header(r, "X-Accel-Buffering", "no");
  queue(r, 200, resp, "text/event-stream");
}

static void *heartbeat_main(void *arg) {
  co_server *s = arg;
  pthread_mutex_lock(&s->hb_mu);
  for (unsigned tick = 1; !s->stopping; tick++) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&s->hb_cond, &s->hb_mu, &until);
    if (s->stopping)
      break;
    pthread_mutex_lock(&s->sse_mu);
    for (sse *e = s->sse_list; e; e = e->next)
      sse_wake(e, tick % SSE_HEARTBEAT_S == 0 ? SSE_HEARTBEAT : SSE_CHANGED);
    pthread_mutex_unlock(&s->sse_mu);
  }
  pthread_mutex_unlock(&s->hb_mu);
  return NULL;
}

/* ---------------------------------------------------------------- request helpers */

const char *co_query(co_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *co_header(co_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *co_cookie(co_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

int co_require_role(co_req *r, const char *workspace_id, co_role min) {
  co_store *s = r->p->store;
  co_role role;
  if (r->user.is_admin) {
    cohort_status st = co_authcache_workspace(r->p->authcache, s, workspace_id);
    if (st == COHORT_ENOTFOUND) {
      co_reply_error(r, 404, "not_found", NULL, "workspace '%s' not found", workspace_id);
      return -1;
    }
    if (st != COHORT_OK) { /* the store is down: 503, not "not found" */
      co_reply_status(r, st, NULL);
      return -1;
    }
    co_strlcpy(r->workspace_id, workspace_id, sizeof r->workspace_id);
    r->role = CO_ROLE_OWNER;
    return 0;
  }
  cohort_status st = co_authcache_member(r->p->authcache, s, workspace_id, r->user.id, min, &role);
  if (st == COHORT_ENOTFOUND) {
    /* Not a member: answer as if it did not exist, so ids cannot be probed. */
    co_reply_error(r, 404, "not_found", NULL, "%s not found", r->path);
    return -1;
  }
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return -1;
  }
  if (role < min) {
    co_reply_error(r, 403, "forbidden", NULL, "this needs the %s role in workspace '%s'; you are %s",
                   co_role_name(min), workspace_id, co_role_name(role));
    return -1;
  }
  co_strlcpy(r->workspace_id, workspace_id, sizeof r->workspace_id);
  r->role = role;
  return 0;
}

/* A pending error is decided while headers are read and sent on the next call. */
static void set_pending(co_req *r, int status, const char *code, const char *field, const char *msg) {
  req_extra *x = extra(r);
  if (x->pending_status)
    return;
  x->pending_status = status;
  co_strlcpy(x->pending_code, code, sizeof x->pending_code);
  co_strlcpy(x->pending_field, field ? field : "", sizeof x->pending_field);
  co_strlcpy(x->pending_msg, msg, sizeof x->pending_msg);
}

static void send_pending(co_req *r) {
  req_extra *x = extra(r);
  if (strcmp(x->pending_code, "unavailable") == 0) /* as co_reply_status does: the client may retry */
    co_reply_header(r, "Retry-After", "1");
  reply_error_text(r, x->pending_status, x->pending_code, x->pending_field[0] ? x->pending_field : NULL,
                   x->pending_msg);
}

/* ---------------------------------------------------------------- routing */

static int match(const char *pattern, const char *path, co_req *r) {
  int np = 0;
  const char *p = pattern, *u = path;
  while (*p && *u) {
    if (*p == '{') {
      const char *pe = strchr(p, '}');
      const char *ue = strchr(u, '/');
      size_t n = ue ? (size_t)(ue - u) : strlen(u);
      if (!pe || n == 0 || np >= CO_MAX_PARAMS || n >= sizeof r->params[0])
        return 0;
      if (r) {
        memcpy(r->params[np], u, n);
        r->params[np][n] = '\0';
      }
      np++;
      p = pe + 1;
      u += n;
      continue;
    }
    if (*p != *u)
      return 0;
    p++;
    u++;
  }
  if (*p || *u)
    return 0;
  if (r)
    r->nparams = np;
  return 1;
}

/* 0 = found; 404 or 405 otherwise. */
static int route(co_req *r) {
  int path_known = 0;
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    if (!match(rt->pattern, r->path, NULL))
      continue;
    path_known = 1;
    if (strcmp(rt->method, r->method) != 0 &&
        !(strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))
      continue;
    /* A worker's HTTP port is for probes and Prometheus only. */
    if (strcmp(r->p->cfg.role, "worker") == 0 && strcmp(rt->pattern, "/healthz") != 0 &&
        strcmp(rt->pattern, "/readyz") != 0 && strcmp(rt->pattern, "/metrics") != 0)
      return 404;
    match(rt->pattern, r->path, r);
    r->route = rt;
    r->route_index = (int)i;
    return 0;
  }
  return path_known ? 405 : 404;
}

static int method_has_body(const char *m) {
  return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* "application/json", any case, with or without parameters. A JSON route refuses a body of any
 * other type: a cross-site <form enctype="text/plain"> can carry JSON, but not this type. */
static int is_json_type(const char *ct) {
  size_t n = strlen("application/json");
  if (!ct || strncasecmp(ct, "application/json", n) != 0)
    return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

/* A failure of the platform while identifying the caller: 503 while a service is down, else 500. */
static void set_pending_status(co_req *r, cohort_status st) {
  if (st == COHORT_EUNAVAIL)
    set_pending(r, 503, "unavailable", NULL, cohort_errmsg());
  else
    set_pending(r, 500, "internal", NULL, cohort_errmsg());
}

/* Who is calling: a bearer token, else a session cookie, else nobody. */
static void identify(co_req *r) {
  co_store *s = r->p->store;
  const char *authz = co_header(r, "Authorization");
  if (r->route && r->route->scope == CO_SCOPE_PUBLIC)
    return; /* a stale token must not break health checks, the UI or sign-in */
  if (authz) {
    if (strncasecmp(authz, "Bearer ", 7) != 0) {
      set_pending(r, 401, "unauthenticated", "Authorization", "Authorization: expected 'Bearer <token>'");
      return;
    }
    cohort_status st = co_authcache_token(r->p->authcache, s, authz + 7, &r->user);
    if (st == COHORT_EINVAL)
      set_pending(r, 401, "unauthenticated", "Authorization", cohort_errmsg());
    else if (st != COHORT_OK) /* the store could not say: not the caller's fault */
      set_pending_status(r, st);
    else
      r->authed = 1;
    return;
  }
  const char *cookie = co_cookie(r, "cohort_session");
  if (!cookie)
    return;
  cohort_status st = co_authcache_session(r->p->authcache, s, cookie, &r->session, &r->user);
  if (st == COHORT_OK) {
    r->authed = 1;
    r->via_session = 1;
  } else if (st != COHORT_EINVAL)
    set_pending_status(r, st);
}

/* The workspace for CO_SCOPE_WORKSPACE when none was named: the caller's only one. */
typedef struct only_ws {
  int n;
  char id[CO_ID_MAX];
} only_ws;

static int count_ws(void *ctx, const co_member *m) {
  only_ws *o = ctx;
  if (o->n++ == 0)
    co_strlcpy(o->id, m->workspace_id, sizeof o->id);
  return 0;
}

/* Checks access for the route; 0 = allowed, else a reply or pending error is set.
 * with_body: the JSON body is parsed (CO_SCOPE_WORKSPACE may read "workspace" from it). */
static int authorize(co_req *r, int with_body) {
  const co_route *rt = r->route;
  co_store *s = r->p->store;
  if (rt->scope == CO_SCOPE_PUBLIC)
    return 0;
  if (!r->authed) {
    co_reply_error(r, 401, "unauthenticated", NULL, "sign in or send 'Authorization: Bearer <token>'");
    return -1;
  }
  /* Browser sessions must echo the CSRF token on anything that changes state. */
  if (r->via_session && strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
    const char *csrf = co_header(r, "X-CSRF-Token");
    if (!csrf || !co_secret_equal(csrf, r->session.csrf)) {
      co_reply_error(r, 403, "csrf", "X-CSRF-Token", "missing or wrong X-CSRF-Token header");
      return -1;
    }
  }
  cohort_status st = COHORT_OK;
  const char *ws = NULL;
  switch (rt->scope) {
  case CO_SCOPE_PUBLIC:
  case CO_SCOPE_USER:
    return 0;
  case CO_SCOPE_ADMIN:
    if (!r->user.is_admin && r->p->authcache) { /* the cache may delay a revocation, never a grant */
      co_user fresh;
      if (s->ops->user_get(s, r->user.id, &fresh) == COHORT_OK)
        r->user.is_admin = fresh.is_admin;
    }
    if (!r->user.is_admin) {
      co_reply_error(r, 403, "forbidden", NULL, "administrators only");
      return -1;
    }
    return 0;
  case CO_SCOPE_WORKSPACE: {
    ws = co_query(r, "workspace");
    if (!ws && with_body && r->json)
      ws = json_string_value(json_object_get(r->json, "workspace"));
    if (!ws && !with_body && method_has_body(r->method) && !(rt->flags & (CO_RT_UPLOAD | CO_RT_RAW)))
      return 1; /* decide once the body is here */
    only_ws o = {0};
    if (!ws) {
      if ((st = s->ops->member_list_user(s, r->user.id, count_ws, &o)) != COHORT_OK)
        break;
      if (o.n != 1) {
        co_reply_error(r, 400, "invalid", "workspace",
                       o.n ? "workspace: required (you belong to %d workspaces)" : "workspace: required%.0d",
                       o.n);
        return -1;
      }
      ws = o.id;
    }
    char wsid[CO_ID_MAX];
    co_strlcpy(wsid, ws, sizeof wsid);
    return co_require_role(r, wsid, rt->min_role);
  }
  case CO_SCOPE_PATH_WS:
    return co_require_role(r, r->params[0], rt->min_role);
  case CO_SCOPE_DATASET:
    if ((st = s->ops->dataset_get(s, r->params[0], &r->dataset)) == COHORT_OK)
      return co_require_role(r, r->dataset.workspace_id, rt->min_role);
    break;
  case CO_SCOPE_TRAINEE:
    st = rt->flags & CO_RT_CACHED ? co_authcache_trainee(r->p->authcache, s, r->params[0], &r->trainee)
                                  : s->ops->trainee_get(s, r->params[0], &r->trainee);
    if (st == COHORT_OK)
      return co_require_role(r, r->trainee.workspace_id, rt->min_role);
    break;
  case CO_SCOPE_JOB:
    if ((st = s->ops->job_get(s, r->params[0], &r->job)) == COHORT_OK)
      return co_require_role(r, r->job.workspace_id, rt->min_role);
    break;
  case CO_SCOPE_REPORT:
    if ((st = s->ops->report_get(s, r->params[0], &r->report)) == COHORT_OK)
      return co_require_role(r, r->report.workspace_id, rt->min_role);
    break;
  }
  if (st == COHORT_ENOTFOUND)
    co_reply_error(r, 404, "not_found", NULL, "%s not found", r->path);
  else
    co_reply_status(r, st, NULL);
  return -1;
}

/* ---------------------------------------------------------------- libmicrohttpd callbacks */

static void make_rid(co_req *r) {
  const char *given = co_header(r, "X-Request-Id");
  if (given) {
    size_t n = strlen(given);
    int ok = n > 0 && n < sizeof r->rid;
    for (size_t i = 0; ok && i < n; i++)
      ok = (given[i] >= '0' && given[i] <= '9') || (given[i] >= 'a' && given[i] <= 'z') ||
           (given[i] >= 'A' && given[i] <= 'Z') || given[i] == '-' || given[i] == '_';
    if (ok) {
      co_strlcpy(r->rid, given, sizeof r->rid);
      return;
    }
  }
  co_random_hex(r->rid, sizeof r->rid, 8);
}

/* libmicrohttpd decodes %00 into a NUL, and every lookup would then end the path or query value
 * there ("/ui/app.js%00.png" would find app.js). A decoded NUL becomes DEL instead: a control
 * character, which paths (setup) and names (co_name_clean) refuse. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s) {
  (void)cls;
  (void)conn;
  size_t n = MHD_http_unescape(s);
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\0')
      s[i] = 0x7f;
  return n;
}

static int has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 1;
  return 0;
}

enum { XFF_LINES = 8 }; /* X-Forwarded-For header lines kept, the last ones */

typedef struct xff_lines {
  const char *v[XFF_LINES];
  int n;
} xff_lines;

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  xff_lines *l = cls;
  (void)kind;
  if (!value || strcasecmp(key, "X-Forwarded-For") != 0)
    return MHD_YES;
  if (l->n == XFF_LINES) { /* the right-most entries are the ones a trusted proxy wrote */
    memmove(l->v, l->v + 1, (XFF_LINES - 1) * sizeof *l->v);
    l->n--;
  }
  l->v[l->n++] = value;
  return MHD_YES;
}

/* The client's address: the peer's, or behind a trusted proxy the one it forwards for (every
 * X-Forwarded-For line counts: a client may send its own, and the proxy appends another). */
static void find_client(co_req *r) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  co_ipaddr peer;
  xff_lines l = {{0}, 0};
  co_ipaddr_from_sockaddr(ci ? ci->client_addr : NULL, &peer);
  r->client = peer;
  if (!co_proxies_trust(&r->srv->proxies, &peer))
    return;
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_xff, &l);
  co_proxies_client(&r->srv->proxies, &peer, l.v, l.n, &r->client);
}

static int setup(co_server *srv, struct MHD_Connection *conn, const char *url, const char *method,
                 co_req **out) {
  req_full *f = co_calloc(1, sizeof *f);
  if (!f)
    return -1;
  co_req *r = &f->r;
  r->srv = srv;
  r->p = srv->p;
  r->conn = conn;
  r->route_index = -1;
  r->t0 = co_mono_ns();
  co_strlcpy(r->method, method, sizeof r->method);
  if (co_strlcpy(r->path, url, sizeof r->path) < 0)
    set_pending(r, 414, "too_large", NULL, "URL too long");
  else if (has_control(r->path))
    set_pending(r, 400, "invalid", "path", "path: NUL (%00) and control characters are not allowed");
  make_rid(r);
  find_client(r);
  r->body_max = (size_t)r->p->cfg.max_body_mb << 20;
  r->upload_max = r->p->cfg.max_upload_mb << 20;
  *out = r;

  int rc = extra(r)->pending_status ? 0 : route(r);
  if (rc == 404)
    set_pending(r, 404, "not_found", NULL, "no such route");
  else if (rc == 405)
    set_pending(r, 405, "method_not_allowed", NULL, "method not allowed here");
  if (extra(r)->pending_status)
    return 0;
  identify(r);
  if (extra(r)->pending_status)
    return 0;
  /* Check access before reading a body, so an unauthorised upload is refused at once. The
   * check's reply is held back (see the top of the file) and sent on the next call. */
  extra(r)->hold = 1;
  authorize(r, 0);
  extra(r)->hold = 0;
  return 0;
}

/* Whether the request carries a body, from its headers. */
static int has_body(co_req *r, int64_t *length) {
  const char *cl = co_header(r, "Content-Length");
  const char *te = co_header(r, "Transfer-Encoding");
  *length = -1;
  if (cl) {
    char *end;
    long long n = strtoll(cl, &end, 10);
    *length = (*end || n < 0) ? -1 : n;
    return n > 0;
  }
  return te != NULL;
}

/* libmicrohttpd accepts a reply only on the first call or once the body is complete. An error
 * found while the body streams in is kept here, the rest of the body is drained, and the error
 * is sent when the body ends. */
static void body_error(co_req *r, int status, const char *code, const char *msg) {
  set_pending(r, status, code, "body", msg);
  r->early = 1;
}

static int defer_state_get(co_req *r);
static int defer_state_take(co_req *r);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  co_server *srv = cls;
  co_req *r = *con_cls;
  if (!r) {
    if (setup(srv, conn, url, method, &r) < 0)
      return MHD_NO;
    *con_cls = r;
    int64_t length;
    if (has_body(r, &length)) {
      int64_t cap = r->route && (r->route->flags & CO_RT_UPLOAD) ? r->upload_max : (int64_t)r->body_max;
      if (length > cap && !extra(r)->pending_status) {
        char msg[128];
        snprintf(msg, sizeof msg, "body of %lld bytes is larger than the limit of %lld bytes",
                 (long long)length, (long long)cap);
        set_pending(r, 413, "too_large", "body", msg);
      }
      const char *expect = co_header(r, "Expect");
      if (extra(r)->pending_status &&
          ((expect && strcasecmp(expect, "100-continue") == 0) || length > (int64_t)DRAIN_MAX))
        send_pending(r);
    }
    return MHD_YES;
  }
  req_extra *x = extra(r);
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->replied || r->early || x->pending_status) {
      r->drained += (int64_t)n;
      return r->drained > DRAIN_MAX ? MHD_NO : MHD_YES; /* drop the rest */
    }
    if (r->route->flags & CO_RT_UPLOAD) {
      if (!r->upload) {
        co_blobs *b = r->p->blobs;
        if (b->ops->stage(b, r->upload_path, sizeof r->upload_path) != COHORT_OK ||
            !(r->upload = fopen(r->upload_path, "wb"))) {
          body_error(r, 507, "storage", "cannot store the upload");
          return MHD_YES;
        }
      }
      r->upload_bytes += (int64_t)n;
      if (r->upload_bytes > r->upload_max) {
        body_error(r, 413, "too_large", "upload larger than max_upload_mb");
        return MHD_YES;
      }
      if (fwrite(upload_data, 1, n, r->upload) != n)
        body_error(r, 507, "storage", "cannot store the upload");
      return MHD_YES;
    }
    if (r->body_len + n > r->body_max) {
      body_error(r, 413, "too_large", "request body larger than max_body_mb");
      return MHD_YES;
    }
    if (co_grow((void **)&r->body, &r->body_cap, r->body_len + n + 1, 1) < 0) {
      body_error(r, 503, "out_of_memory", "out of memory for the request body");
      return MHD_YES;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
  }
  /* The whole request is here. */
  int deferred = defer_state_take(r);
  if (deferred) { /* called again after co_defer's resume (or spuriously while it runs) */
    if (deferred == 2) {
      x->defer_done(r);
      if (!r->replied)
        co_reply_error(r, 500, "internal", NULL, "the handler did not reply");
    }
    return MHD_YES;
  }
  if (r->replied)
    return MHD_YES;
  if (x->pending_status) {
    send_pending(r);
    return MHD_YES;
  }
  if (r->upload && fclose(r->upload) != 0) {
    r->upload = NULL;
    co_reply_error(r, 507, "storage", NULL, "cannot store the upload");
    return MHD_YES;
  }
  r->upload = NULL;
  if (!(r->route->flags & (CO_RT_UPLOAD | CO_RT_RAW)) && method_has_body(r->method)) {
    if (r->body_len == 0) {
      r->json = json_object();
    } else if (!is_json_type(co_header(r, "Content-Type"))) {
      const char *ct = co_header(r, "Content-Type");
      co_reply_error(r, 415, "unsupported_media_type", "Content-Type",
                     "Content-Type: this route takes application/json, got '%.100s'", ct ? ct : "(none)");
      return MHD_YES;
    } else {
      json_error_t err;
      int64_t need = CO_BUDGET_JSON(r->body_len);
      cohort_status st = co_budget_reserve(r->p->budget, need, "decoding this JSON body");
      if (st != COHORT_OK) {
        co_reply_status(r, st, "body");
        return MHD_YES;
      }
      extra(r)->budget_reserved = need;
      r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
      if (!r->json) {
        co_reply_error(r, 400, "invalid_json", NULL, "body: %s at line %d, column %d", err.text, err.line,
                       err.column);
        return MHD_YES;
      }
      if (!json_is_object(r->json)) {
        co_reply_error(r, 400, "invalid_json", NULL, "body: expected a JSON object");
        return MHD_YES;
      }
    }
  }
  if (r->route->scope == CO_SCOPE_WORKSPACE && !r->workspace_id[0] && authorize(r, 1) != 0)
    return MHD_YES;
  r->route->handler(r);
  if (!r->replied && !defer_state_get(r))
    co_reply_error(r, 500, "internal", NULL, "the handler did not reply");
  return MHD_YES;
}

/* co_defer's state, read under defer_mu: the work's thread sets it when done. */
static int defer_state_get(co_req *r) {
  pthread_mutex_lock(&r->srv->defer_mu);
  int state = extra(r)->defer_state;
  pthread_mutex_unlock(&r->srv->defer_mu);
  return state;
}

/* The state, and back to 0 (no deferred work) when the work is done and done(r) is now due. */
static int defer_state_take(co_req *r) {
  pthread_mutex_lock(&r->srv->defer_mu);
  int state = extra(r)->defer_state;
  if (state == 2)
    extra(r)->defer_state = 0;
  pthread_mutex_unlock(&r->srv->defer_mu);
  return state;
}

static void defer_run(void *arg) {
  co_req *r = arg;
  co_server *srv = r->srv;
  extra(r)->defer_work(r);
  pthread_mutex_lock(&srv->defer_mu);
  extra(r)->defer_state = 2;
  MHD_resume_connection(r->conn);
  srv->deferred--;
  pthread_cond_broadcast(&srv->defer_cv);
  pthread_mutex_unlock(&srv->defer_mu);
}

static void *defer_main(void *arg) {
  defer_run(arg);
  return NULL;
}

int co_defer(co_req *r, int max_inflight, void (*work)(co_req *r), void (*done)(co_req *r)) {
  co_server *srv = r->srv;
  req_extra *x = extra(r);
  pthread_attr_t attr;
  pthread_t th;
  int rc = -1;
  pthread_mutex_lock(&srv->defer_mu);
  if (srv->deferred < max_inflight && !srv->defer_closed && pthread_attr_init(&attr) == 0) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    x->defer_work = work;
    x->defer_done = done;
    x->defer_state = 1;
    MHD_suspend_connection(r->conn); /* under defer_mu: the worker's resume comes after */
    if (pthread_create(&th, &attr, defer_main, r) == 0) {
      srv->deferred++;
      rc = 0;
    } else {
      x->defer_state = 0;
      MHD_resume_connection(r->conn);
    }
    pthread_attr_destroy(&attr);
  }
  pthread_mutex_unlock(&srv->defer_mu);
  return rc;
}

int co_defer_compute(co_req *r, void (*work)(co_req *r), void (*done)(co_req *r)) {
  co_server *srv = r->srv;
  req_extra *x = extra(r);
  int rc = -1;
  pthread_mutex_lock(&srv->defer_mu);
  if (!srv->defer_closed) {
    x->defer_work = work;
    x->defer_done = done;
    x->defer_state = 1;
    MHD_suspend_connection(r->conn); /* under defer_mu: the pool's resume comes after */
    if (co_pool_submit(r->p->pool, defer_run, r) == COHORT_OK) {
      srv->deferred++;
      rc = 0;
    } else {
      x->defer_state = 0;
      MHD_resume_connection(r->conn);
    }
  }
  pthread_mutex_unlock(&srv->defer_mu);
  return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  co_req *r = *con_cls;
  if (!r)
    return;
  *con_cls = NULL;
  double secs = (double)(co_mono_ns() - r->t0) / 1e9;
  int status = r->replied ? r->status : 499; /* client went away before a reply */
  co_metrics_request(r->route_index, status, secs);
  if (co_log_enabled(status >= 500 ? CO_LOG_WARN : CO_LOG_INFO)) {
    char st[8], ms[32], client[64];
    snprintf(st, sizeof st, "%d", status);
    snprintf(ms, sizeof ms, "%.3f", secs * 1e3);
    co_ipaddr_format(&r->client, 0, client, sizeof client);
    co_log(status >= 500 ? CO_LOG_WARN : CO_LOG_INFO, "request", "rid", r->rid, "method", r->method, "path",
           r->path, "route", r->route ? r->route->pattern : NULL, "status", st, "ms", ms, "user",
           r->authed ? r->user.name : NULL, "client", client, NULL);
  }
  if (r->upload)
    fclose(r->upload);
  if (r->upload_path[0])
    r->p->blobs->ops->discard(r->p->blobs, r->upload_path); /* handlers commit what they keep */
  co_free(r->body);
  json_decref(r->json);
  json_decref(r->defer_json);
  co_budget_release(r->p->budget, extra(r)->budget_reserved);
  co_dataset_clear(&r->dataset);
  co_trainee_clear(&r->trainee);
  co_job_clear(&r->job);
  co_report_clear(&r->report);
  co_free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n')
    msg[--n] = '\0';
  co_log(CO_LOG_WARN, "http", "detail", msg, NULL);
}

/* Where to listen: one socket, or for "localhost" two (127.0.0.1 and ::1), each a daemon of its own. */
typedef struct listen_spec {
  struct sockaddr_storage sa[2];
  int n;
  int dual;        /* [::] or "*": one IPv6 socket that takes IPv4 too (IPV6_V6ONLY off) */
  int v6_optional; /* localhost: a machine without IPv6 serves IPv4 only */
} listen_spec;

/* "HOST:PORT": an IPv4 address, "[IPv6]" ("[::]" = every address of both families), "*" or ""
 * (the same), or "localhost" (127.0.0.1 and ::1). */
static cohort_status parse_listen(const char *listen, listen_spec *ls) {
  char host[128];
  const char *colon = strrchr(listen, ':');
  memset(ls, 0, sizeof *ls);
  if (!colon || (size_t)(colon - listen) >= sizeof host)
    return co_error(COHORT_EINVAL, "listen: expected host:port or [ipv6]:port, got '%s'", listen);
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || port < 0 || port > 65535)
    return co_error(COHORT_EINVAL, "listen: bad port in '%s'", listen);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ls->sa[0];
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ls->sa[0];
  size_t hn = strlen(host);
  ls->n = 1;
  if (!host[0] || strcmp(host, "*") == 0 || strcmp(host, "[::]") == 0) {
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = htons((uint16_t)port);
    ls->dual = 1;
  } else if (strcmp(host, "localhost") == 0) {
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4->sin_port = htons((uint16_t)port);
    struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)&ls->sa[1];
    l6->sin6_family = AF_INET6;
    l6->sin6_addr = in6addr_loopback;
    l6->sin6_port = htons((uint16_t)port);
    ls->n = 2;
    ls->v6_optional = 1;
  } else if (host[0] == '[' && hn > 2 && host[hn - 1] == ']') {
    host[hn - 1] = '\0';
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
      return co_error(COHORT_EINVAL, "listen: '%s' is not an IPv6 address", host + 1);
  } else {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
      return co_error(COHORT_EINVAL, "listen: '%s' is not an IPv4 address (write IPv6 as [addr])", host);
  }
  return COHORT_OK;
}

static void set_port(struct sockaddr_storage *sa, int port) {
  if (sa->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

static struct MHD_Daemon *start_daemon(co_server *s, struct sockaddr_storage *sa, int dual,
                                       unsigned threads) {
  co_platform *p = s->p;
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (sa->ss_family == AF_INET6)
    flags |= dual ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
  return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)p->cfg.request_timeout_s,
                          MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK,
                          unescape, NULL, MHD_OPTION_END);
}

cohort_status co_server_start(co_platform *p, co_server **out) {
  listen_spec ls;
  *out = NULL;
  cohort_status st = parse_listen(p->cfg.listen, &ls);
  if (st != COHORT_OK)
    return st;
  co_server *s = co_calloc(1, sizeof *s);
  if (!s)
    return co_nomem();
  if ((st = co_proxies_parse(p->cfg.trusted_proxies, &s->proxies)) != COHORT_OK) {
    co_free(s);
    return st;
  }
  s->p = p;
  pthread_mutex_init(&s->sse_mu, NULL);
  pthread_mutex_init(&s->hb_mu, NULL);
  pthread_cond_init(&s->hb_cond, NULL);
  pthread_mutex_init(&s->defer_mu, NULL);
  pthread_cond_init(&s->defer_cv, NULL);
  co_metrics_init(co_nroutes);
  /* Two daemons (localhost) share the HTTP threads: the IPv6 loopback gets the smaller half. */
  unsigned total = (unsigned)p->cfg.http_threads, second = ls.n == 2 ? total / 2 : 0;
  s->daemon = start_daemon(s, &ls.sa[0], ls.dual, total - second);
  if (!s->daemon) {
    co_free(s);
    return co_error(COHORT_EIO, "cannot listen on %s (address in use or not allowed)", p->cfg.listen);
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : 0;
  if (ls.n == 2) {
    set_port(&ls.sa[1], s->port); /* the same port on ::1, also when the first was chosen (port 0) */
    s->daemon6 = start_daemon(s, &ls.sa[1], 0, second ? second : 1);
    if (!s->daemon6 && !ls.v6_optional) {
      MHD_stop_daemon(s->daemon);
      co_free(s);
      return co_error(COHORT_EIO, "cannot listen on %s over IPv6", p->cfg.listen);
    }
    if (!s->daemon6)
      co_log(CO_LOG_WARN, "listening on IPv4 only: cannot bind the IPv6 loopback ::1", "listen",
             p->cfg.listen, NULL);
  }
  if (pthread_create(&s->heartbeat, NULL, heartbeat_main, s) != 0) {
    MHD_stop_daemon(s->daemon);
    if (s->daemon6)
      MHD_stop_daemon(s->daemon6);
    co_free(s);
    return co_error(COHORT_ENOMEM, "cannot start the heartbeat thread");
  }
  *out = s;
  return COHORT_OK;
}

int co_server_port(co_server *s) {
  return s->port;
}

void co_server_stop(co_server *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->hb_mu);
  s->stopping = 1;
  pthread_cond_signal(&s->hb_cond);
  pthread_mutex_unlock(&s->hb_mu);
  pthread_join(s->heartbeat, NULL);
  /* Stopping the daemon with suspended connections leaks them: end every stream first, and
   * let deferred work (a password check: well under a second) finish and resume. */
  MHD_quiesce_daemon(s->daemon);
  if (s->daemon6)
    MHD_quiesce_daemon(s->daemon6);
  pthread_mutex_lock(&s->defer_mu);
  s->defer_closed = 1;
  while (s->deferred > 0)
    pthread_cond_wait(&s->defer_cv, &s->defer_mu);
  pthread_mutex_unlock(&s->defer_mu);
  for (int tries = 0; tries < 200; tries++) {
    pthread_mutex_lock(&s->sse_mu);
    int any = s->sse_list != NULL;
    for (sse *e = s->sse_list; e; e = e->next) {
      pthread_mutex_lock(&e->mu);
      e->closing = 1;
      if (e->suspended) {
        e->suspended = 0;
        MHD_resume_connection(e->conn);
      }
      pthread_mutex_unlock(&e->mu);
    }
    pthread_mutex_unlock(&s->sse_mu);
    if (!any)
      break;
    usleep(10000);
  }
  MHD_stop_daemon(s->daemon);
  if (s->daemon6)
    MHD_stop_daemon(s->daemon6);
  pthread_cond_destroy(&s->hb_cond);
  pthread_mutex_destroy(&s->hb_mu);
  pthread_mutex_destroy(&s->sse_mu);
  pthread_cond_destroy(&s->defer_cv);
  pthread_mutex_destroy(&s->defer_mu);
  co_free(s);
}
