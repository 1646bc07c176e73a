/* server.h: the HTTP server's internals shared by its modules. http.c owns connections and
 * requests (libmicrohttpd), routes.c the route table, api_*.c the handlers.
 *
 * A request's life: headers arrive -> route matched, caller identified (token or session
 * cookie), workspace access checked when the route's scope allows it before the body -> body
 * read into memory (capped) or streamed into a staging blob for uploads -> handler runs and
 * calls exactly one co_reply_* -> logged and counted in /metrics. */
#ifndef COHORT_SERVER_H
#define COHORT_SERVER_H

#include "platform.h"

#include <jansson.h>
#include <stdio.h>

typedef struct co_server co_server;
typedef struct co_req co_req;

/* Where a route finds the workspace whose role it checks. */
typedef enum co_scope {
  CO_SCOPE_PUBLIC,    /* no sign-in needed */
  CO_SCOPE_USER,      /* any signed-in user; the handler checks what it touches */
  CO_SCOPE_ADMIN,     /* administrators only */
  CO_SCOPE_WORKSPACE, /* ?workspace= (or the body's "workspace"), defaulting to the caller's only one */
  CO_SCOPE_PATH_WS,   /* /v1/workspaces/{id} */
  CO_SCOPE_DATASET,   /* the dataset {id}'s workspace */
  CO_SCOPE_TRAINEE,
  CO_SCOPE_JOB,
  CO_SCOPE_REPORT
} co_scope;

enum {
  CO_RT_UPLOAD = 1u << 0, /* the body streams into a staging blob (r->upload_path) */
  CO_RT_RAW = 1u << 1,    /* the body is not JSON (kept as bytes) */
  /* r->trainee may come from the auth cache (authcache.h: without info_json, and a version
   * committed by another process seen within auth_cache_s): the questions to a trainee. */
  CO_RT_CACHED = 1u << 2,
};

typedef void (*co_handler)(co_req *r);

/* Client addresses behind reverse proxies (proxies.c). */
typedef struct co_ipaddr {
  int family; /* AF_INET, AF_INET6, or 0 when unknown; IPv4-mapped IPv6 is AF_INET */
  unsigned char b[16];
} co_ipaddr;

enum { CO_PROXIES_MAX = 32 };
/* trusted_proxies, parsed: the peers whose X-Forwarded-For is believed. */
typedef struct co_proxies {
  int n;
  co_ipaddr net[CO_PROXIES_MAX];
  int bits[CO_PROXIES_MAX];
} co_proxies;

/* Addresses and CIDRs separated by commas or spaces ("10.0.0.0/8, ::1"); EINVAL naming the
 * entry that is neither. */
cohort_status co_proxies_parse(const char *list, co_proxies *out);
int co_proxies_trust(const co_proxies *px, const co_ipaddr *a);
/* The client behind peer: while the current hop is trusted, the X-Forwarded-For entry it
 * appended (the request's headers in order, xff[nxff - 1] last; entries read from the right,
 * at most 32) becomes the current hop. An entry that is not an address stops the walk. */
void co_proxies_client(const co_proxies *px, const co_ipaddr *peer, const char *const *xff, int nxff,
                       co_ipaddr *out);
/* "a.b.c.d", "x::y", "[x::y]", with or without ":port"; 0 if it is none of them. */
int co_ipaddr_parse(const char *text, size_t len, co_ipaddr *out);
struct sockaddr;
void co_ipaddr_from_sockaddr(const struct sockaddr *sa, co_ipaddr *out);
/* The address as text ("unknown" when unknown); prefix64: an IPv6 address by its /64, which one
 * host can fill with addresses. */
void co_ipaddr_format(const co_ipaddr *a, int prefix64, char *out, size_t cap);

typedef struct co_route {
  const char *method;
  const char *pattern; /* "/v1/trainees/{id}/predict": {x} matches one path segment */
  co_handler handler;
  co_scope scope;
  co_role min_role; /* for workspace-bound scopes */
  unsigned flags;
  const char *summary; /* for the OpenAPI check and logs */
} co_route;

extern const co_route co_routes[];
extern const size_t co_nroutes;

enum { CO_MAX_PARAMS = 4 };

struct co_req {
  co_server *srv;
  co_platform *p;
  struct MHD_Connection *conn;
  const co_route *route;
  int route_index;
  char method[16];
  char path[1024];
  char rid[32];
  char params[CO_MAX_PARAMS][CO_ID_MAX + 64];
  int nparams;
  uint64_t t0;
  co_ipaddr client; /* the peer, or behind a trusted proxy the client it forwards for */

  /* the caller */
  int authed;
  int via_session;
  co_user user;
  co_session session;

  /* the workspace checked for this route, and the resource it resolved */
  char workspace_id[CO_ID_MAX];
  co_role role;
  co_dataset dataset;
  co_trainee trainee;
  co_job job;
  co_report report;
  char name[CO_NAME_MAX]; /* the name the handler read, trimmed and checked (api_check_name) */

  /* body */
  char *body;
  size_t body_len, body_cap, body_max;
  json_t *json; /* parsed body for JSON routes (an object), or NULL */
  FILE *upload;
  char upload_path[4096];
  int64_t upload_bytes, upload_max;
  int64_t drained; /* bytes of a refused body read and dropped */

  /* reply */
  int replied;
  int status;
  int early; /* an error came up while the body streamed in: the rest is dropped */

  /* results of work deferred with co_defer, for its finishing call */
  int defer_ok;
  cohort_status defer_st;
  const char *defer_verb; /* co_query_trainee's verb for deferred query work */
  json_t *defer_json;     /* a reply built by deferred work (released with the request) */
  char defer_field[64];   /* the field its error names, "" for none */
  char defer_msg[1024];   /* its error message (the work's thread had it in cohort_errmsg) */
};

/* Replies (exactly one per request). Error bodies: {"error":{"code","message","field"}}. */
void co_reply_json(co_req *r, int status, json_t *body); /* steals body */
void co_reply_error(co_req *r, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Maps an engine/platform status and cohort_errmsg() to an HTTP error. */
void co_reply_status(co_req *r, cohort_status st, const char *field);
void co_reply_bytes(co_req *r, int status, const char *content_type, const void *data, size_t len);
/* Streams a file (closed by the server); download_name adds Content-Disposition when not NULL. */
void co_reply_file(co_req *r, const char *path, const char *content_type, const char *download_name);
/* Streams the stored object key of dataset or trainee id (kind "dataset" / "trainee"), checking
 * it against sha256 and bytes as it goes (integrity.h): 500 corrupt_object before anything is sent
 * when its size is wrong, a transfer cut short when its checksum is. marked: the record's corrupt
 * mark, cleared when the whole object now matches (restored). */
void co_reply_blob(co_req *r, const char *kind, const char *id, const char *key, const char *sha256,
                   int64_t bytes, const char *marked, const char *content_type, const char *download_name);
/* Server-Sent Events on job events for job_id (see http.c). */
void co_reply_job_events(co_req *r, const char *job_id);
void co_reply_header(co_req *r, const char *name, const char *value); /* before the reply */
/* Runs work(r) on a thread of its own with the connection suspended, so that slow CPU-bound work
 * (password hashing) never holds an HTTP thread and the requests queued behind it; then done(r)
 * runs on an HTTP thread and replies. At most max_inflight deferred requests at once: -1 (nothing
 * started, nothing replied) when over it or a thread cannot start. work must not reply. */
int co_defer(co_req *r, int max_inflight, void (*work)(co_req *r), void (*done)(co_req *r));

/* The same on the compute pool (pool.h): for engine work, which must never hold an HTTP thread
 * (/healthz, /metrics and every other request on it would wait). -1 (nothing started, nothing
 * replied) when the pool's queue is full or the server is stopping. */
int co_defer_compute(co_req *r, void (*work)(co_req *r), void (*done)(co_req *r));

/* Request helpers. */
const char *co_query(co_req *r, const char *key);
const char *co_header(co_req *r, const char *name);
const char *co_cookie(co_req *r, const char *name);
/* Checks the caller's role in workspace_id (admins count as owners). 0 = allowed; otherwise the
 * reply (404 for non-members so ids do not leak, 403 for too weak a role) has been sent. */
int co_require_role(co_req *r, const char *workspace_id, co_role min);

/* Server lifecycle (http.c). */
cohort_status co_server_start(co_platform *p, co_server **out);
void co_server_stop(co_server *s);
int co_server_port(co_server *s);

/* Metrics (metrics.c). */
void co_metrics_init(size_t nroutes);
void co_metrics_request(int route_index, int status, double seconds);
void co_metrics_write(co_platform *p, FILE *f);

/* Web UI assets (ui_assets.c, generated from ui/ at build time). */
typedef struct co_asset {
  const char *path; /* "/index.html" */
  const char *content_type;
  const unsigned char *data;
  size_t len;
} co_asset;
const co_asset *co_ui_asset(const char *path);

/* OpenAPI document (generated from docs/openapi.json at build time). */
extern const char co_openapi_json[];

#endif
