/* store_postgres.c: the store (store.h) on PostgreSQL through libpq, shared by many processes.
 *
 * Connections: a pool of at most pool_size, each used by one operation at a time (a transaction
 * belongs to a connection). An operation takes a slot, runs its statements, gives it back; list
 * callbacks run after that, on rows already read, so they may call the store again. A connection
 * found broken (PQstatus) is closed and the pool's generation moves on, so the idle ones opened
 * before it (most likely dead too: a restarted server) are reopened instead of failing one by one.
 * While the server cannot be reached, connecting is not retried for PG_RETRY_MS: calls fail at
 * once with COHORT_EUNAVAIL "store: PostgreSQL unavailable: ...", and the first call after that tries
 * again, so the store recovers by itself. Every session runs with statement_timeout.
 *
 * Every value is a bound parameter (PQexecParams with declared types); SQL text is only ever
 * assembled from fixed fragments. Migrations are fixed text run once under an advisory lock.
 *
 * Concurrency: READ COMMITTED. Single-row writes are single statements (trainee_commit is an
 * UPDATE ... WHERE version = expected, a compare-and-swap the row lock makes atomic); job_claim
 * and bootstrap are transactions whose rules are spelled out where they are. */
#include "store.h"

#include "backends.h"
#include "co_base.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Type OIDs of the pg_type catalog, fixed since PostgreSQL 7 (the server headers that name them
 * are not needed for four numbers). */
enum { PG_INT8 = 20, PG_INT4 = 23, PG_TEXT = 25, PG_FLOAT8 = 701, PG_TEXT_ARRAY = 1009 };

enum {
  PG_MAX_PARAMS = 14,
  PG_RETRY_MS = 500,   /* after a failed connect, calls fail at once for this long */
  PG_CLAIM_ROUNDS = 16 /* candidates job_claim looks at before saying nothing is runnable */
};

/* Advisory lock keys: the 64-bit key space for whole-store locks, the (int, int) space for
 * trainees; PostgreSQL keeps the two spaces apart. */
#define PG_LOCK_MIGRATE 0x636f686f72740001LL
#define PG_LOCK_BOOTSTRAP 0x636f686f72740002LL
#define PG_LOCK_TRAINEE_NS 0x636f6a62 /* with hashtext(trainee_id) */

typedef struct pg_slot {
  PGconn *conn; /* NULL until needed, or after it broke */
  int busy;
  uint64_t gen; /* the pool generation it was opened in */
} pg_slot;

typedef struct pg_store {
  co_store base;   /* first: the core sees only this */
  char *url;       /* owned; may hold a password: never in a message */
  char label[256]; /* postgres://user@host:port/db, for messages */
  int timeout_ms;
  int n;
  pg_slot *slots;
  pthread_mutex_t mu;
  pthread_cond_t freed; /* a slot was given back */
  uint64_t gen;
  int64_t retry_ms; /* no new connection before this (monotonic ms) */
  char down[320];   /* why the last connect failed */
} pg_store;

static pg_store *pg(co_store *s) {
  return (pg_store *)s;
}

/* ---------------------------------------------------------------- schema
 * Applied in order, each once, all pending ones in one transaction under PG_LOCK_MIGRATE. Never
 * edit a shipped entry: append a new one. The same tables as the SQLite store. */
static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE users("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pwhash TEXT NOT NULL DEFAULT '',"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms BIGINT NOT NULL);"
    "CREATE TABLE workspaces("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_ms BIGINT NOT NULL);"
    "CREATE TABLE members("
    "  workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
    "  PRIMARY KEY (workspace_id, user_id));"
    "CREATE INDEX members_user ON members(user_id);"
    "CREATE TABLE tokens("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_ms BIGINT NOT NULL,"
    "  expires_ms BIGINT NOT NULL DEFAULT 0,"
    "  last_used_ms BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX tokens_user ON tokens(user_id, created_ms);"
    "CREATE TABLE sessions("
    "  hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  expires_ms BIGINT NOT NULL);"
    "CREATE INDEX sessions_expires ON sessions(expires_ms);"
    "CREATE TABLE datasets("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  blob_key TEXT NOT NULL,"
    "  bytes BIGINT NOT NULL,"
    "  n_rows BIGINT NOT NULL,"
    "  n_columns BIGINT NOT NULL,"
    "  schema_json TEXT,"
    "  created_ms BIGINT NOT NULL);"
    "CREATE INDEX datasets_workspace ON datasets(workspace_id, created_ms);"
    "CREATE TABLE trainees("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  dataset_id TEXT NOT NULL DEFAULT '',"
    "  version BIGINT NOT NULL DEFAULT 0,"
    "  blob_key TEXT NOT NULL DEFAULT '',"
    "  info_json TEXT,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL);"
    "CREATE INDEX trainees_workspace ON trainees(workspace_id, created_ms);"
    "CREATE TABLE jobs("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL,"
    "  trainee_id TEXT NOT NULL DEFAULT '',"
    "  kind TEXT NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),"
    "  params_json TEXT,"
    "  result_json TEXT,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  progress DOUBLE PRECISION NOT NULL DEFAULT 0,"
    "  stage TEXT NOT NULL DEFAULT '',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  owner TEXT NOT NULL DEFAULT '',"
    "  lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    "  created_ms BIGINT NOT NULL,"
    "  started_ms BIGINT NOT NULL DEFAULT 0,"
    "  finished_ms BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_state_created ON jobs(state, created_ms, id);"
    "CREATE INDEX jobs_created ON jobs(created_ms);"
    "CREATE INDEX jobs_trainee ON jobs(trainee_id, state);"
    "CREATE INDEX jobs_workspace ON jobs(workspace_id, created_ms);"
    "CREATE TABLE reports("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL,"
    "  trainee_id TEXT NOT NULL DEFAULT '',"
    "  job_id TEXT NOT NULL DEFAULT '',"
    "  json_blob TEXT NOT NULL DEFAULT '',"
    "  html_blob TEXT NOT NULL DEFAULT '',"
    "  summary_json TEXT,"
    "  created_ms BIGINT NOT NULL);"
    "CREATE INDEX reports_workspace ON reports(workspace_id, created_ms);"
    "CREATE INDEX reports_trainee ON reports(trainee_id, created_ms);",
    /* 2: checksums of the objects, and what a failed check found (issue 12). Rows from before
     * keep '' = unknown. */
    "ALTER TABLE datasets ADD COLUMN sha256 TEXT NOT NULL DEFAULT '',"
    "  ADD COLUMN corrupt TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE trainees ADD COLUMN blob_sha256 TEXT NOT NULL DEFAULT '',"
    "  ADD COLUMN blob_bytes BIGINT NOT NULL DEFAULT 0,"
    "  ADD COLUMN corrupt TEXT NOT NULL DEFAULT '';",
    /* 3: sign-in backoff (store version 4), shared by every API replica. until_ms is when the
     * key went quiet: the end of its block, or its last failure if that started none. */
    "CREATE TABLE login_backoff("
    "  key TEXT PRIMARY KEY,"
    "  failures INTEGER NOT NULL,"
    "  until_ms BIGINT NOT NULL);"
    "CREATE INDEX login_backoff_until ON login_backoff(until_ms);",
    /* 4: user names unique with ASCII case folded, as user_by_name finds them (store version 5):
     * the check in the API alone let two case variants created at once both in. lower() under
     * the C collation folds ASCII only, whatever the database's locale, as SQLite's does.
     * pg_migrate refuses to run it over existing case variants, naming them. */
    "CREATE UNIQUE INDEX users_name_folded ON users (lower(name COLLATE \"C\"));",
    /* 5: checksums of the report objects (store version 5), and what a failed check found. */
    "ALTER TABLE reports ADD COLUMN json_sha256 TEXT NOT NULL DEFAULT '',"
    "  ADD COLUMN json_bytes BIGINT NOT NULL DEFAULT 0,"
    "  ADD COLUMN html_sha256 TEXT NOT NULL DEFAULT '',"
    "  ADD COLUMN html_bytes BIGINT NOT NULL DEFAULT 0,"
    "  ADD COLUMN corrupt TEXT NOT NULL DEFAULT '';",
};

/* The migration that makes user names unique with case folded. */
enum { PG_MIGRATION_USERS_FOLDED = 4 };

enum { PG_SCHEMA_VERSION = sizeof migrations / sizeof migrations[0] };

/* ---------------------------------------------------------------- connections */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's messages end in a newline and may span lines; one line for logs and replies. */
static void one_line(char *dst, size_t cap, const char *msg) {
  size_t n = 0;
  int space = 0;
  for (const char *p = msg ? msg : ""; *p && n + 1 < cap; p++) {
    if (*p == '\n' || *p == '\r' || *p == '\t') {
      space = n > 0;
      continue;
    }
    if (space && n + 2 < cap)
      dst[n++] = ' ';
    space = 0;
    dst[n++] = *p;
  }
  dst[n] = '\0';
}

/* The server's NOTICEs ("relation already exists, skipping") are not for our stderr. */
static void pg_quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* A new session with statement_timeout set. EUNAVAIL "store: PostgreSQL unavailable: ..." when the
 * server cannot be reached or refuses us. */
static cohort_status pg_connect(pg_store *s, PGconn **out) {
  char connect_s[16], timeout[16], why[256];
  /* Ours first: what the URL says wins (libpq takes the last value of a repeated key). */
  const char *keys[] = {"connect_timeout", "tcp_user_timeout", "application_name", "dbname", NULL};
  const char *vals[] = {connect_s, timeout, "cohort", s->url, NULL};
  PGconn *c;
  PGresult *r;
  /* libpq's connect_timeout is whole seconds and treats anything under 2 as 2. */
  snprintf(connect_s, sizeof connect_s, "%d", s->timeout_ms < 2000 ? 2 : (s->timeout_ms + 999) / 1000);
  snprintf(timeout, sizeof timeout, "%d", s->timeout_ms);
  *out = NULL;
  if (!(c = PQconnectdbParams(keys, vals, 1)))
    return co_nomem();
  if (PQstatus(c) != CONNECTION_OK) {
    one_line(why, sizeof why, PQerrorMessage(c));
    PQfinish(c);
    return co_error(COHORT_EUNAVAIL, "store: PostgreSQL unavailable: %s", why);
  }
  PQsetNoticeProcessor(c, pg_quiet, NULL);
  const char *params[] = {timeout};
  const Oid types[] = {PG_TEXT};
  r = PQexecParams(c, "SELECT set_config('statement_timeout', $1, false)", 1, types, params, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    one_line(why, sizeof why, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return co_error(COHORT_EUNAVAIL, "store: PostgreSQL unavailable: statement_timeout: %s", why);
  }
  PQclear(r);
  *out = c;
  return COHORT_OK;
}

/* One operation's hold on a pooled connection. */
typedef struct pg_cx {
  pg_store *s;
  pg_slot *slot;
  PGconn *c;
  int reused;          /* opened before this operation: it may have died since */
  int sent;            /* statements that succeeded on it in this operation */
  char state[6];       /* SQLSTATE of the last failed statement */
  char constraint[64]; /* and the constraint it names, if any */
  int64_t changed;     /* rows the last statement changed */
} pg_cx;

/* Opens a connection into cx's slot (whose old one, if any, is gone). */
static cohort_status pg_fill(pg_cx *cx) {
  pg_store *s = cx->s;
  PGconn *c = NULL;
  cohort_status rc;
  pthread_mutex_lock(&s->mu);
  if (mono_ms() < s->retry_ms) { /* down a moment ago: do not wait for it again */
    rc = co_error(COHORT_EUNAVAIL, "%s", s->down);
    pthread_mutex_unlock(&s->mu);
    return rc;
  }
  pthread_mutex_unlock(&s->mu);
  rc = pg_connect(s, &c);
  pthread_mutex_lock(&s->mu);
  if (rc == COHORT_OK) {
    cx->slot->conn = cx->c = c;
    cx->slot->gen = s->gen;
    s->retry_ms = 0;
  } else if (rc == COHORT_EUNAVAIL) {
    co_strlcpy(s->down, cohort_errmsg(), sizeof s->down);
    s->retry_ms = mono_ms() + PG_RETRY_MS;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Gives cx's slot back; a connection that broke or is stuck in a transaction is closed, and a
 * broken one ages the pool. */
static void pg_put(pg_cx *cx) {
  pg_store *s = cx->s;
  PGconn *drop = NULL;
  if (!cx->slot)
    return;
  pthread_mutex_lock(&s->mu);
  if (cx->slot->conn) {
    if (PQstatus(cx->slot->conn) != CONNECTION_OK) {
      drop = cx->slot->conn;
      s->gen++;
    } else if (PQtransactionStatus(cx->slot->conn) != PQTRANS_IDLE)
      drop = cx->slot->conn;
    if (drop)
      cx->slot->conn = NULL;
  }
  cx->slot->busy = 0;
  pthread_cond_signal(&s->freed);
  pthread_mutex_unlock(&s->mu);
  PQfinish(drop);
  cx->slot = NULL;
  cx->c = NULL;
}

/* Takes a slot, waiting up to timeout_ms for one, and makes sure it has a connection. */
static cohort_status pg_get(pg_store *s, pg_cx *cx) {
  pg_slot *pick = NULL;
  PGconn *stale = NULL;
  struct timespec until = co_deadline_after(CLOCK_MONOTONIC, s->timeout_ms);
  int64_t deadline = mono_ms() + s->timeout_ms;
  cohort_status rc;
  memset(cx, 0, sizeof *cx);
  cx->s = s;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    pg_slot *empty = NULL;
    for (int i = 0; i < s->n && !pick; i++) {
      pg_slot *sl = &s->slots[i];
      if (sl->busy)
        continue;
      if (sl->conn && sl->gen == s->gen)
        pick = sl; /* an open connection first */
      else if (!empty)
        empty = sl;
    }
    if (!pick)
      pick = empty;
    if (pick)
      break;
    if (pthread_cond_timedwait(&s->freed, &s->mu, &until) == ETIMEDOUT && mono_ms() >= deadline) {
      pthread_mutex_unlock(&s->mu);
      return co_error(COHORT_EUNAVAIL,
                      "store: PostgreSQL unavailable: all %d connections stayed busy for %d ms"
                      " (store_pool_size, store_timeout_ms)",
                      s->n, s->timeout_ms);
    }
  }
  pick->busy = 1;
  if (pick->conn && pick->gen != s->gen) { /* opened before a connection broke */
    stale = pick->conn;
    pick->conn = NULL;
  }
  cx->slot = pick;
  cx->c = pick->conn;
  cx->reused = pick->conn != NULL;
  pthread_mutex_unlock(&s->mu);
  PQfinish(stale);
  if (cx->c)
    return COHORT_OK;
  if ((rc = pg_fill(cx)) != COHORT_OK)
    pg_put(cx);
  return rc;
}

/* ---------------------------------------------------------------- statements */

typedef struct pg_params {
  int n;
  Oid types[PG_MAX_PARAMS];
  const char *vals[PG_MAX_PARAMS];
  char num[PG_MAX_PARAMS][32];
} pg_params;

/* One parameter per letter of fmt: s text (NULL binds ""), n text or NULL, a text[] literal,
 * i int, l int64_t, d double. Text is not copied: it must outlive the statement. */
static cohort_status pg_vparams(pg_params *p, const char *what, const char *fmt, va_list ap) {
  p->n = 0;
  for (int i = 0; fmt[i]; i++) {
    const char *t;
    if (i >= PG_MAX_PARAMS)
      return co_error(COHORT_EINVAL, "store %s: more than %d parameters", what, PG_MAX_PARAMS);
    switch (fmt[i]) {
    case 's':
    case 'n':
    case 'a':
      t = va_arg(ap, const char *);
      p->types[i] = fmt[i] == 'a' ? PG_TEXT_ARRAY : PG_TEXT;
      p->vals[i] = t ? t : fmt[i] == 'n' ? NULL : fmt[i] == 'a' ? "{}" : "";
      break;
    case 'i':
      p->types[i] = PG_INT4;
      snprintf(p->num[i], sizeof p->num[i], "%d", va_arg(ap, int));
      p->vals[i] = p->num[i];
      break;
    case 'l':
      p->types[i] = PG_INT8;
      snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)va_arg(ap, int64_t));
      p->vals[i] = p->num[i];
      break;
    case 'd':
      p->types[i] = PG_FLOAT8;
      snprintf(p->num[i], sizeof p->num[i], "%.17g", va_arg(ap, double));
      p->vals[i] = p->num[i];
      break;
    default:
      return co_error(COHORT_EINVAL, "store %s: bad parameter letter '%c'", what, fmt[i]);
    }
    p->n = i + 1;
  }
  return COHORT_OK;
}

/* Replaces cx's broken connection with a new one (the pool ages: its siblings are suspect too). */
static cohort_status pg_reconnect(pg_cx *cx) {
  pg_store *s = cx->s;
  PGconn *old;
  pthread_mutex_lock(&s->mu);
  old = cx->slot->conn;
  cx->slot->conn = NULL;
  cx->c = NULL;
  s->gen++;
  pthread_mutex_unlock(&s->mu);
  PQfinish(old);
  cx->reused = 0;
  return pg_fill(cx);
}

/* Runs one statement. On success *res (when res is not NULL) holds its result, to PQclear. On
 * failure: EUNAVAIL "store: PostgreSQL unavailable: ..." when the connection is gone, else EIO
 * "store <what>: <server message>" with cx->state / cx->constraint set for the caller to turn a
 * constraint into ESTATE or ENOTFOUND. A pooled connection that turns out dead on an operation's
 * first statement is replaced and the statement sent once more: nothing ran on the dead one (a
 * server restart ends idle sessions), and the caller should not see a restart that is over. */
static cohort_status pg_vrun(pg_cx *cx, const char *what, PGresult **res, const char *sql, const char *fmt,
                             va_list ap) {
  pg_params p;
  char why[400];
  cohort_status rc;
  if (res)
    *res = NULL;
  cx->state[0] = cx->constraint[0] = '\0';
  cx->changed = 0;
  if ((rc = pg_vparams(&p, what, fmt, ap)) != COHORT_OK)
    return rc;
  for (int attempt = 0;; attempt++) {
    PGresult *r = PQexecParams(cx->c, sql, p.n, p.types, p.vals, NULL, NULL, 0);
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
      const char *n = PQcmdTuples(r);
      cx->changed = n && *n ? strtoll(n, NULL, 10) : 0;
      cx->sent++;
      if (res)
        *res = r;
      else
        PQclear(r);
      return COHORT_OK;
    }
    if (PQstatus(cx->c) == CONNECTION_BAD) {
      PQclear(r);
      if (attempt == 0 && cx->reused && cx->sent == 0) {
        if ((rc = pg_reconnect(cx)) != COHORT_OK)
          return rc;
        continue;
      }
      one_line(why, sizeof why, PQerrorMessage(cx->c));
      return co_error(COHORT_EUNAVAIL, "store: PostgreSQL unavailable: %s", why);
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    co_strlcpy(cx->state, state ? state : "", sizeof cx->state);
    co_strlcpy(cx->constraint, constraint ? constraint : "", sizeof cx->constraint);
    one_line(why, sizeof why, primary ? primary : PQerrorMessage(cx->c));
    PQclear(r);
    /* 53100 disk_full, 53200 out_of_memory, 53400 configuration_limit_exceeded (e.g. temp_file_limit):
     * the server is out of room, which the client hears as 507, not as an internal error. */
    if (strcmp(cx->state, "53100") == 0 || strcmp(cx->state, "53400") == 0)
      return co_error(COHORT_ENOSPACE, "store %s: PostgreSQL is out of disk space: %s; ask its administrator",
                      what, why);
    if (strcmp(cx->state, "XX001") == 0 || strcmp(cx->state, "XX002") == 0) /* data / index corrupted */
      return co_error(COHORT_ECORRUPT, "store %s: PostgreSQL reports corruption: %s", what, why);
    return co_error(COHORT_EIO, "store %s: %s", what, why);
  }
}

static cohort_status pg_run(pg_cx *cx, const char *what, PGresult **res, const char *sql, const char *fmt,
                            ...) {
  va_list ap;
  va_start(ap, fmt);
  cohort_status rc = pg_vrun(cx, what, res, sql, fmt, ap);
  va_end(ap);
  return rc;
}

static int pg_is_unique(const pg_cx *cx) {
  return strcmp(cx->state, "23505") == 0;
}
static int pg_is_foreign_key(const pg_cx *cx) {
  return strcmp(cx->state, "23503") == 0;
}

/* One statement on a connection of its own. cx (may be NULL) keeps the outcome: changed rows,
 * SQLSTATE and constraint. */
static cohort_status pg_do(pg_store *s, const char *what, pg_cx *out, const char *sql, const char *fmt, ...) {
  pg_cx cx;
  va_list ap;
  cohort_status rc = pg_get(s, &cx);
  if (rc == COHORT_OK) {
    va_start(ap, fmt);
    rc = pg_vrun(&cx, what, NULL, sql, fmt, ap);
    va_end(ap);
    pg_put(&cx);
  }
  if (out)
    *out = cx;
  return rc;
}

/* Turns "no row changed" after an UPDATE or DELETE into ENOTFOUND. */
static cohort_status pg_changed(const pg_cx *cx, cohort_status rc, const char *thing, const char *key) {
  if (rc == COHORT_OK && cx->changed == 0)
    return co_error(COHORT_ENOTFOUND, "%s '%s' not found", thing, key ? key : "");
  return rc;
}

static cohort_status pg_begin(pg_cx *cx, const char *what) {
  return pg_run(cx, what, NULL, "BEGIN", "");
}

/* Commits when rc is OK, else rolls back; returns rc, or the commit's failure. */
static cohort_status pg_end(pg_cx *cx, const char *what, cohort_status rc) {
  if (rc == COHORT_OK && (rc = pg_run(cx, what, NULL, "COMMIT", "")) == COHORT_OK)
    return rc;
  if (PQstatus(cx->c) == CONNECTION_OK && PQtransactionStatus(cx->c) != PQTRANS_IDLE)
    PQclear(PQexec(cx->c, "ROLLBACK")); /* failing that, pg_put drops the connection */
  return rc;
}

/* ---------------------------------------------------------------- columns and rows */

typedef cohort_status (*pg_row_fn)(const PGresult *r, int row, void *walk);

static void col_text(const PGresult *r, int row, int col, char *dst, size_t cap) {
  co_strlcpy(dst, PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col), cap);
}
static int64_t col_int(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}
static double col_double(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0.0 : strtod(PQgetvalue(r, row, col), NULL);
}
/* An owned copy of a nullable text column. */
static cohort_status col_json(const PGresult *r, int row, int col, char **out) {
  *out = NULL;
  if (PQgetisnull(r, row, col))
    return COHORT_OK;
  if (!(*out = co_strdup(PQgetvalue(r, row, col))))
    return co_nomem();
  return COHORT_OK;
}

/* One query: every row goes to row(r, i, ctx), after the connection is back in the pool. */
static cohort_status pg_query(pg_store *s, const char *what, pg_row_fn row, void *ctx, const char *sql,
                              const char *fmt, ...) {
  pg_cx cx;
  PGresult *r = NULL;
  va_list ap;
  cohort_status rc = pg_get(s, &cx);
  if (rc != COHORT_OK)
    return rc;
  va_start(ap, fmt);
  rc = pg_vrun(&cx, what, &r, sql, fmt, ap);
  va_end(ap);
  pg_put(&cx);
  for (int i = 0, n = r ? PQntuples(r) : 0; rc == COHORT_OK && i < n; i++)
    rc = row(r, i, ctx);
  PQclear(r);
  return rc;
}

/* One query for one row, read by read(r, 0, out); ENOTFOUND "<thing> '<key>' not found". */
static cohort_status pg_query_one(pg_store *s, const char *what, const char *thing, const char *key,
                                  pg_row_fn read, void *out, const char *sql, const char *fmt, ...) {
  pg_cx cx;
  PGresult *r = NULL;
  va_list ap;
  cohort_status rc = pg_get(s, &cx);
  if (rc != COHORT_OK)
    return rc;
  va_start(ap, fmt);
  rc = pg_vrun(&cx, what, &r, sql, fmt, ap);
  va_end(ap);
  pg_put(&cx);
  if (rc == COHORT_OK && PQntuples(r) == 0)
    rc = co_error(COHORT_ENOTFOUND, "%s '%s' not found", thing, key ? key : "");
  if (rc == COHORT_OK)
    rc = read(r, 0, out);
  PQclear(r);
  return rc;
}

/* Sets *found to whether sql (one text parameter) returns a row. */
static cohort_status pg_exists(pg_store *s, const char *what, const char *sql, const char *key, int *found) {
  pg_cx cx;
  PGresult *r = NULL;
  cohort_status rc = pg_get(s, &cx);
  if (rc != COHORT_OK)
    return rc;
  rc = pg_run(&cx, what, &r, sql, "s", key);
  pg_put(&cx);
  if (rc == COHORT_OK)
    *found = PQntuples(r) > 0;
  PQclear(r);
  return rc;
}

/* After a foreign-key failure: names the parent row that is missing. */
static cohort_status pg_missing_parent(pg_store *s, const char *what, const char *workspace_id,
                                       const char *user_id) {
  int found = 1;
  cohort_status rc;
  if (workspace_id) {
    if ((rc = pg_exists(s, what, "SELECT 1 FROM workspaces WHERE id = $1", workspace_id, &found)) !=
        COHORT_OK)
      return rc;
    if (!found)
      return co_error(COHORT_ENOTFOUND, "workspace '%s' not found", workspace_id);
  }
  if (user_id) {
    if ((rc = pg_exists(s, what, "SELECT 1 FROM users WHERE id = $1", user_id, &found)) != COHORT_OK)
      return rc;
    if (!found)
      return co_error(COHORT_ENOTFOUND, "user '%s' not found", user_id);
  }
  return co_error(COHORT_ENOTFOUND, "store %s: a referenced row is missing", what);
}

/* Appends a fixed SQL fragment (never a value) to sql; the buffers are sized for the longest. */
static void pg_append(char *sql, size_t cap, const char *frag) {
  size_t len = strlen(sql);
  snprintf(sql + len, cap - len, "%s", frag);
}

/* Appends " WHERE cond" or " AND cond". */
static void pg_where(char *sql, size_t cap, int *nconds, const char *cond) {
  pg_append(sql, cap, (*nconds)++ ? " AND " : " WHERE ");
  pg_append(sql, cap, cond);
}

#define USER_COLS "id, name, pwhash, is_admin, created_ms"
#define WORKSPACE_COLS "id, name, created_ms"
#define MEMBER_SELECT                                                                                        \
  "SELECT m.workspace_id, m.user_id, u.name, w.name, m.role FROM members m"                                  \
  " JOIN users u ON u.id = m.user_id JOIN workspaces w ON w.id = m.workspace_id"
#define TOKEN_COLS "id, user_id, name, hash, created_ms, expires_ms, last_used_ms"
#define SESSION_COLS "hash, user_id, csrf, created_ms, expires_ms"
#define DATASET_COLS                                                                                         \
  "id, workspace_id, name, blob_key, bytes, n_rows, n_columns, schema_json, created_ms, sha256, corrupt"
#define TRAINEE_COLS                                                                                         \
  "id, workspace_id, name, dataset_id, version, blob_key, info_json, created_ms, updated_ms, blob_sha256,"   \
  " corrupt, blob_bytes"
#define JOB_COLS                                                                                             \
  "id, workspace_id, trainee_id, kind, state, params_json, result_json, error, progress, stage, attempts,"   \
  " cancel_requested, owner, lease_until_ms, created_ms, started_ms, finished_ms"
#define REPORT_COLS                                                                                          \
  "id, workspace_id, trainee_id, job_id, json_blob, html_blob, summary_json, created_ms, json_sha256,"       \
  " json_bytes, html_sha256, html_bytes, corrupt"

static cohort_status read_user(const PGresult *r, int i, void *out) {
  co_user *u = out;
  memset(u, 0, sizeof *u);
  col_text(r, i, 0, u->id, sizeof u->id);
  col_text(r, i, 1, u->name, sizeof u->name);
  col_text(r, i, 2, u->pwhash, sizeof u->pwhash);
  u->is_admin = (int)col_int(r, i, 3);
  u->created_ms = col_int(r, i, 4);
  return COHORT_OK;
}

static cohort_status read_workspace(const PGresult *r, int i, void *out) {
  co_workspace *w = out;
  memset(w, 0, sizeof *w);
  col_text(r, i, 0, w->id, sizeof w->id);
  col_text(r, i, 1, w->name, sizeof w->name);
  w->created_ms = col_int(r, i, 2);
  return COHORT_OK;
}

static cohort_status read_member(const PGresult *r, int i, void *out) {
  co_member *m = out;
  memset(m, 0, sizeof *m);
  col_text(r, i, 0, m->workspace_id, sizeof m->workspace_id);
  col_text(r, i, 1, m->user_id, sizeof m->user_id);
  col_text(r, i, 2, m->user_name, sizeof m->user_name);
  col_text(r, i, 3, m->workspace_name, sizeof m->workspace_name);
  m->role = (co_role)col_int(r, i, 4);
  return COHORT_OK;
}

static cohort_status read_token(const PGresult *r, int i, void *out) {
  co_token *t = out;
  memset(t, 0, sizeof *t);
  col_text(r, i, 0, t->id, sizeof t->id);
  col_text(r, i, 1, t->user_id, sizeof t->user_id);
  col_text(r, i, 2, t->name, sizeof t->name);
  col_text(r, i, 3, t->hash, sizeof t->hash);
  t->created_ms = col_int(r, i, 4);
  t->expires_ms = col_int(r, i, 5);
  t->last_used_ms = col_int(r, i, 6);
  return COHORT_OK;
}

static cohort_status read_session(const PGresult *r, int i, void *out) {
  co_session *se = out;
  memset(se, 0, sizeof *se);
  col_text(r, i, 0, se->hash, sizeof se->hash);
  col_text(r, i, 1, se->user_id, sizeof se->user_id);
  col_text(r, i, 2, se->csrf, sizeof se->csrf);
  se->created_ms = col_int(r, i, 3);
  se->expires_ms = col_int(r, i, 4);
  return COHORT_OK;
}

/* The readers of records with owned fields leave nothing owned behind when they fail. */
static cohort_status read_dataset(const PGresult *r, int i, void *out) {
  co_dataset *d = out;
  memset(d, 0, sizeof *d);
  col_text(r, i, 0, d->id, sizeof d->id);
  col_text(r, i, 1, d->workspace_id, sizeof d->workspace_id);
  col_text(r, i, 2, d->name, sizeof d->name);
  col_text(r, i, 3, d->blob, sizeof d->blob);
  d->bytes = col_int(r, i, 4);
  d->rows = col_int(r, i, 5);
  d->columns = col_int(r, i, 6);
  d->created_ms = col_int(r, i, 8);
  col_text(r, i, 9, d->sha256, sizeof d->sha256);
  col_text(r, i, 10, d->corrupt, sizeof d->corrupt);
  return col_json(r, i, 7, &d->schema_json);
}

static cohort_status read_trainee(const PGresult *r, int i, void *out) {
  co_trainee *t = out;
  memset(t, 0, sizeof *t);
  col_text(r, i, 0, t->id, sizeof t->id);
  col_text(r, i, 1, t->workspace_id, sizeof t->workspace_id);
  col_text(r, i, 2, t->name, sizeof t->name);
  col_text(r, i, 3, t->dataset_id, sizeof t->dataset_id);
  t->version = col_int(r, i, 4);
  col_text(r, i, 5, t->blob, sizeof t->blob);
  t->created_ms = col_int(r, i, 7);
  t->updated_ms = col_int(r, i, 8);
  col_text(r, i, 9, t->blob_sha256, sizeof t->blob_sha256);
  col_text(r, i, 10, t->corrupt, sizeof t->corrupt);
  t->blob_bytes = col_int(r, i, 11);
  return col_json(r, i, 6, &t->info_json);
}

static cohort_status read_job(const PGresult *r, int i, void *out) {
  co_job *j = out;
  memset(j, 0, sizeof *j);
  col_text(r, i, 0, j->id, sizeof j->id);
  col_text(r, i, 1, j->workspace_id, sizeof j->workspace_id);
  col_text(r, i, 2, j->trainee_id, sizeof j->trainee_id);
  col_text(r, i, 3, j->kind, sizeof j->kind);
  j->state = (co_job_state)col_int(r, i, 4);
  col_text(r, i, 7, j->error, sizeof j->error);
  j->progress = col_double(r, i, 8);
  col_text(r, i, 9, j->stage, sizeof j->stage);
  j->attempts = (int)col_int(r, i, 10);
  j->cancel_requested = (int)col_int(r, i, 11);
  col_text(r, i, 12, j->owner, sizeof j->owner);
  j->lease_until_ms = col_int(r, i, 13);
  j->created_ms = col_int(r, i, 14);
  j->started_ms = col_int(r, i, 15);
  j->finished_ms = col_int(r, i, 16);
  if (col_json(r, i, 5, &j->params_json) != COHORT_OK || col_json(r, i, 6, &j->result_json) != COHORT_OK) {
    co_job_clear(j);
    return co_nomem();
  }
  return COHORT_OK;
}

static cohort_status read_report(const PGresult *r, int i, void *out) {
  co_report *rp = out;
  memset(rp, 0, sizeof *rp);
  col_text(r, i, 0, rp->id, sizeof rp->id);
  col_text(r, i, 1, rp->workspace_id, sizeof rp->workspace_id);
  col_text(r, i, 2, rp->trainee_id, sizeof rp->trainee_id);
  col_text(r, i, 3, rp->job_id, sizeof rp->job_id);
  col_text(r, i, 4, rp->json_blob, sizeof rp->json_blob);
  col_text(r, i, 5, rp->html_blob, sizeof rp->html_blob);
  rp->created_ms = col_int(r, i, 7);
  col_text(r, i, 8, rp->json_sha256, sizeof rp->json_sha256);
  rp->json_bytes = col_int(r, i, 9);
  col_text(r, i, 10, rp->html_sha256, sizeof rp->html_sha256);
  rp->html_bytes = col_int(r, i, 11);
  col_text(r, i, 12, rp->corrupt, sizeof rp->corrupt);
  return col_json(r, i, 6, &rp->summary_json);
}

/* Per-type adapters from pg_query to the caller's callback. A callback's non-zero return is
 * handed back as is. */
#define PG_WALK(type, rec, reader, clear)                                                                    \
  typedef struct type##_walk {                                                                               \
    co_##type##_fn fn;                                                                                       \
    void *ctx;                                                                                               \
  } type##_walk;                                                                                             \
  static cohort_status type##_row(const PGresult *r, int i, void *walk) {                                    \
    type##_walk *w = walk;                                                                                   \
    rec v;                                                                                                   \
    cohort_status rc = reader(r, i, &v);                                                                     \
    if (rc == COHORT_OK)                                                                                     \
      rc = (cohort_status)w->fn(w->ctx, &v);                                                                 \
    clear;                                                                                                   \
    return rc;                                                                                               \
  }
PG_WALK(user, co_user, read_user, (void)0)
PG_WALK(member, co_member, read_member, (void)0)
PG_WALK(token, co_token, read_token, (void)0)
PG_WALK(dataset, co_dataset, read_dataset, co_dataset_clear(&v))
PG_WALK(trainee, co_trainee, read_trainee, co_trainee_clear(&v))
PG_WALK(job, co_job, read_job, co_job_clear(&v))
PG_WALK(report, co_report, read_report, co_report_clear(&v))

/* ---------------------------------------------------------------- users */

static cohort_status pg_user_create(co_store *cs, const co_user *u) {
  pg_cx cx;
  cohort_status rc =
      pg_do(pg(cs), "user_create", &cx, "INSERT INTO users(" USER_COLS ") VALUES ($1, $2, $3, $4, $5)",
            "sssil", u->id, u->name, u->pwhash, u->is_admin != 0, u->created_ms);
  if (pg_is_unique(&cx))
    rc = strcmp(cx.constraint, "users_pkey") == 0
             ? co_error(COHORT_ESTATE, "user id '%s' is taken", u->id)
             : co_error(COHORT_ESTATE, "user name '%s' is taken", u->name);
  return rc;
}

static cohort_status pg_user_get(co_store *cs, const char *id, co_user *out) {
  return pg_query_one(pg(cs), "user_get", "user", id, read_user, out,
                      "SELECT " USER_COLS " FROM users WHERE id = $1", "s", id);
}

static cohort_status pg_user_by_name(co_store *cs, const char *name, co_user *out) {
  return pg_query_one(pg(cs), "user_get", "user name", name, read_user, out,
                      "SELECT " USER_COLS
                      " FROM users WHERE lower(name COLLATE \"C\") = lower($1::text COLLATE "
                      "\"C\") ORDER BY name = $1::text DESC, created_ms LIMIT 1",
                      "s", name);
}

static cohort_status pg_user_set_password(co_store *cs, const char *id, const char *pwhash) {
  pg_cx cx;
  cohort_status rc =
      pg_do(pg(cs), "user_set_password", &cx, "UPDATE users SET pwhash = $1 WHERE id = $2", "ss", pwhash, id);
  return pg_changed(&cx, rc, "user", id);
}

static cohort_status pg_user_list(co_store *cs, co_user_fn fn, void *ctx) {
  user_walk w = {fn, ctx};
  /* COLLATE "C": byte order, as SQLite sorts, whatever the database's locale. */
  return pg_query(pg(cs), "user_list", user_row, &w,
                  "SELECT " USER_COLS " FROM users ORDER BY name COLLATE \"C\"", "");
}

static cohort_status read_count(const PGresult *r, int i, void *out) {
  *(int64_t *)out = col_int(r, i, 0);
  return COHORT_OK;
}

static cohort_status pg_user_count(co_store *cs, int64_t *out) {
  return pg_query_one(pg(cs), "user_count", "users", "", read_count, out, "SELECT COUNT(*) FROM users", "");
}

static cohort_status read_two_counts(const PGresult *r, int i, void *out) {
  ((int64_t *)out)[0] = col_int(r, i, 0);
  ((int64_t *)out)[1] = col_int(r, i, 1);
  return COHORT_OK;
}

/* One statement, so one transaction: the sessions (but the kept one) and, if asked, the tokens. */
static cohort_status pg_user_revoke(co_store *cs, const char *user_id, const char *keep_session_hash,
                                    int tokens, int64_t *sessions, int64_t *ntokens) {
  int64_t n[2] = {0, 0};
  cohort_status rc = pg_query_one(
      pg(cs), "user_revoke", "user", user_id, read_two_counts, n,
      "WITH s AS (DELETE FROM sessions WHERE user_id = $1 AND ($2::text IS NULL OR hash <> $2) RETURNING 1),"
      " t AS (DELETE FROM tokens WHERE user_id = $1 AND $3 <> 0 RETURNING 1)"
      " SELECT (SELECT COUNT(*) FROM s), (SELECT COUNT(*) FROM t)",
      "sni", user_id, keep_session_hash, tokens);
  if (rc == COHORT_OK) {
    if (sessions)
      *sessions = n[0];
    if (ntokens)
      *ntokens = n[1];
  }
  return rc;
}

/* ---------------------------------------------------------------- sign-in backoff */

/* The failure count after this one ($2 free_failures, $3 max_ms, $4 now_ms; b is the stored
 * row): a key quiet for longer than max_ms starts again from 1. */
#define PG_LOGIN_FAILS "(CASE WHEN $4 - b.until_ms > $3 THEN 1 ELSE b.failures + 1 END)"
enum { LOGIN_PURGE_ROWS = 32 }; /* stale rows deleted per failure, at most */

/* The count and the block come from one upsert: INSERT ... ON CONFLICT takes the row lock and
 * computes from the row as it is then, so failures arriving at once on several replicas each
 * add one (READ COMMITTED re-reads the newest row version on conflict). */
static cohort_status pg_login_fail(co_store *cs, const char *key, int free_failures, int64_t max_ms,
                                   int64_t now_ms, int64_t *until_ms) {
  pg_store *s = pg(cs);
  int64_t until = 0;
  /* Stale rows first, a bounded batch, skipping rows another replica holds; not in the upsert's
   * statement, which must not touch its own row twice. */
  cohort_status rc = pg_do(s, "login_fail", NULL,
                           "DELETE FROM login_backoff WHERE key IN (SELECT key FROM login_backoff"
                           " WHERE until_ms < $1 ORDER BY until_ms LIMIT $2 FOR UPDATE SKIP LOCKED)",
                           "li", now_ms - max_ms, (int)LOGIN_PURGE_ROWS);
  if (rc != COHORT_OK)
    return rc;
  /* The block doubles from 1 s per failure past the free ones (the shift is capped before it
   * could overflow) and never shortens one already running. */
  rc = pg_query_one(s, "login_fail", "login key", key, read_count, &until,
                    "INSERT INTO login_backoff AS b (key, failures, until_ms)"
                    " VALUES ($1, 1, $4 + CASE WHEN 1 > $2 THEN LEAST($3, 1000) ELSE 0 END)"
                    " ON CONFLICT (key) DO UPDATE SET failures = " PG_LOGIN_FAILS ","
                    " until_ms = GREATEST(b.until_ms, $4 + CASE WHEN " PG_LOGIN_FAILS " > $2"
                    "   THEN LEAST($3, 1000::bigint << LEAST(" PG_LOGIN_FAILS " - $2 - 1, 30)) ELSE 0 END)"
                    " RETURNING until_ms",
                    "sill", key, free_failures, max_ms, now_ms);
  if (rc == COHORT_OK && until_ms)
    *until_ms = until;
  return rc;
}

static cohort_status pg_login_blocked(co_store *cs, const char *key, int64_t now_ms, int64_t *left_ms) {
  *left_ms = 0;
  cohort_status rc = pg_query_one(pg(cs), "login_blocked", "login key", key, read_count, left_ms,
                                  "SELECT until_ms - $2 FROM login_backoff WHERE key = $1 AND until_ms > $2",
                                  "sl", key, now_ms);
  return rc == COHORT_ENOTFOUND ? COHORT_OK : rc;
}

static cohort_status pg_login_clear(co_store *cs, const char *key) {
  return pg_do(pg(cs), "login_clear", NULL, "DELETE FROM login_backoff WHERE key = $1", "s", key);
}

/* ---------------------------------------------------------------- workspaces and members */

static cohort_status pg_workspace_create(co_store *cs, const co_workspace *w) {
  pg_cx cx;
  cohort_status rc =
      pg_do(pg(cs), "workspace_create", &cx, "INSERT INTO workspaces(" WORKSPACE_COLS ") VALUES ($1, $2, $3)",
            "ssl", w->id, w->name, w->created_ms);
  if (pg_is_unique(&cx))
    rc = co_error(COHORT_ESTATE, "workspace id '%s' is taken", w->id);
  return rc;
}

static cohort_status pg_workspace_get(co_store *cs, const char *id, co_workspace *out) {
  return pg_query_one(pg(cs), "workspace_get", "workspace", id, read_workspace, out,
                      "SELECT " WORKSPACE_COLS " FROM workspaces WHERE id = $1", "s", id);
}

static cohort_status pg_workspace_delete(co_store *cs, const char *id) {
  pg_cx cx;
  /* Members go with it: ON DELETE CASCADE. */
  cohort_status rc = pg_do(pg(cs), "workspace_delete", &cx, "DELETE FROM workspaces WHERE id = $1", "s", id);
  return pg_changed(&cx, rc, "workspace", id);
}

static cohort_status pg_member_set(co_store *cs, const char *workspace_id, const char *user_id,
                                   co_role role) {
  pg_store *s = pg(cs);
  pg_cx cx;
  cohort_status rc;
  if ((int)role < CO_ROLE_NONE || (int)role > CO_ROLE_OWNER)
    return co_error(COHORT_EINVAL, "role %d is not a role", (int)role);
  if (role == CO_ROLE_NONE) {
    rc = pg_do(s, "member_set", &cx, "DELETE FROM members WHERE workspace_id = $1 AND user_id = $2", "ss",
               workspace_id, user_id);
    if (rc == COHORT_OK && cx.changed == 0)
      rc = co_error(COHORT_ENOTFOUND, "user '%s' is not a member of workspace '%s'", user_id, workspace_id);
    return rc;
  }
  rc = pg_do(s, "member_set", &cx,
             "INSERT INTO members(workspace_id, user_id, role) VALUES ($1, $2, $3)"
             " ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
             "ssi", workspace_id, user_id, (int)role);
  if (pg_is_foreign_key(&cx))
    rc = pg_missing_parent(s, "member_set", workspace_id, user_id);
  return rc;
}

static cohort_status pg_member_get(co_store *cs, const char *workspace_id, const char *user_id,
                                   co_member *out) {
  cohort_status rc = pg_query_one(pg(cs), "member_get", "member", user_id, read_member, out,
                                  MEMBER_SELECT " WHERE m.workspace_id = $1 AND m.user_id = $2", "ss",
                                  workspace_id, user_id);
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "user '%s' is not a member of workspace '%s'", user_id, workspace_id);
  return rc;
}

static cohort_status pg_member_list_workspace(co_store *cs, const char *workspace_id, co_member_fn fn,
                                              void *ctx) {
  member_walk w = {fn, ctx};
  return pg_query(pg(cs), "member_list", member_row, &w,
                  MEMBER_SELECT " WHERE m.workspace_id = $1 ORDER BY u.name COLLATE \"C\"", "s",
                  workspace_id);
}

static cohort_status pg_member_list_user(co_store *cs, const char *user_id, co_member_fn fn, void *ctx) {
  member_walk w = {fn, ctx};
  return pg_query(pg(cs), "member_list", member_row, &w,
                  MEMBER_SELECT " WHERE m.user_id = $1 ORDER BY w.name COLLATE \"C\", w.id COLLATE \"C\"",
                  "s", user_id);
}

/* ---------------------------------------------------------------- tokens */

static cohort_status pg_token_create(co_store *cs, const co_token *t) {
  pg_store *s = pg(cs);
  pg_cx cx;
  cohort_status rc =
      pg_do(s, "token_create", &cx, "INSERT INTO tokens(" TOKEN_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
            "sssslll", t->id, t->user_id, t->name, t->hash, t->created_ms, t->expires_ms, t->last_used_ms);
  if (pg_is_unique(&cx))
    rc = strcmp(cx.constraint, "tokens_pkey") == 0 ? co_error(COHORT_ESTATE, "token id '%s' is taken", t->id)
                                                   : co_error(COHORT_ESTATE, "token hash is taken");
  else if (pg_is_foreign_key(&cx))
    rc = pg_missing_parent(s, "token_create", NULL, t->user_id);
  return rc;
}

static cohort_status pg_token_by_hash(co_store *cs, const char *hash, co_token *out) {
  cohort_status rc = pg_query_one(pg(cs), "token_by_hash", "token", "", read_token, out,
                                  "SELECT " TOKEN_COLS " FROM tokens WHERE hash = $1", "s", hash);
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "token not found"); /* the hash stays out of messages and logs */
  return rc;
}

static cohort_status pg_token_touch(co_store *cs, const char *id, int64_t now_ms) {
  pg_cx cx;
  cohort_status rc = pg_do(pg(cs), "token_touch", &cx, "UPDATE tokens SET last_used_ms = $1 WHERE id = $2",
                           "ls", now_ms, id);
  return pg_changed(&cx, rc, "token", id);
}

/* user_id NULL lists every user's tokens. */
static cohort_status pg_token_list(co_store *cs, const char *user_id, co_token_fn fn, void *ctx) {
  token_walk w = {fn, ctx};
  char sql[256] = "SELECT " TOKEN_COLS " FROM tokens";
  int nconds = 0;
  if (user_id)
    pg_where(sql, sizeof sql, &nconds, "user_id = $1");
  pg_append(sql, sizeof sql, " ORDER BY created_ms, id COLLATE \"C\"");
  return pg_query(pg(cs), "token_list", token_row, &w, sql, "n", user_id);
}

/* user_id NULL deletes whoever's token it is; otherwise a token of someone else is not found. */
static cohort_status pg_token_delete(co_store *cs, const char *user_id, const char *id) {
  pg_cx cx;
  cohort_status rc =
      pg_do(pg(cs), "token_delete", &cx,
            "DELETE FROM tokens WHERE id = $1 AND ($2::text IS NULL OR user_id = $2)", "sn", id, user_id);
  return pg_changed(&cx, rc, "token", id);
}

/* ---------------------------------------------------------------- sessions */

static cohort_status pg_session_create(co_store *cs, const co_session *se) {
  pg_store *s = pg(cs);
  pg_cx cx;
  cohort_status rc =
      pg_do(s, "session_create", &cx, "INSERT INTO sessions(" SESSION_COLS ") VALUES ($1, $2, $3, $4, $5)",
            "sssll", se->hash, se->user_id, se->csrf, se->created_ms, se->expires_ms);
  if (pg_is_unique(&cx))
    rc = co_error(COHORT_ESTATE, "session hash is taken");
  else if (pg_is_foreign_key(&cx))
    rc = pg_missing_parent(s, "session_create", NULL, se->user_id);
  return rc;
}

static cohort_status pg_session_get(co_store *cs, const char *hash, co_session *out) {
  cohort_status rc = pg_query_one(pg(cs), "session_get", "session", "", read_session, out,
                                  "SELECT " SESSION_COLS " FROM sessions WHERE hash = $1 AND expires_ms > $2",
                                  "sl", hash, co_now_ms());
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "session not found or expired");
  return rc;
}

static cohort_status pg_session_delete(co_store *cs, const char *hash) {
  pg_cx cx;
  cohort_status rc = pg_do(pg(cs), "session_delete", &cx, "DELETE FROM sessions WHERE hash = $1", "s", hash);
  if (rc == COHORT_OK && cx.changed == 0)
    rc = co_error(COHORT_ENOTFOUND, "session not found");
  return rc;
}

static cohort_status pg_session_purge(co_store *cs, int64_t now_ms) {
  return pg_do(pg(cs), "session_purge", NULL, "DELETE FROM sessions WHERE expires_ms <= $1", "l", now_ms);
}

/* ---------------------------------------------------------------- datasets */

static cohort_status pg_dataset_create(co_store *cs, const co_dataset *d) {
  pg_cx cx;
  cohort_status rc =
      pg_do(pg(cs), "dataset_create", &cx,
            "INSERT INTO datasets(" DATASET_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            "sssslllnlss", d->id, d->workspace_id, d->name, d->blob, d->bytes, d->rows, d->columns,
            d->schema_json, d->created_ms, d->sha256, d->corrupt);
  if (pg_is_unique(&cx))
    rc = co_error(COHORT_ESTATE, "dataset id '%s' is taken", d->id);
  return rc;
}

static cohort_status pg_dataset_get(co_store *cs, const char *id, co_dataset *out) {
  co_dataset d; /* out is written only on success */
  cohort_status rc = pg_query_one(pg(cs), "dataset_get", "dataset", id, read_dataset, &d,
                                  "SELECT " DATASET_COLS " FROM datasets WHERE id = $1", "s", id);
  if (rc == COHORT_OK)
    *out = d;
  return rc;
}

/* workspace_id NULL lists every workspace's. Newest first, as the UI shows them. */
static cohort_status pg_dataset_list(co_store *cs, const char *workspace_id, co_dataset_fn fn, void *ctx) {
  dataset_walk w = {fn, ctx};
  char sql[512] = "SELECT " DATASET_COLS " FROM datasets";
  int nconds = 0;
  if (workspace_id)
    pg_where(sql, sizeof sql, &nconds, "workspace_id = $1");
  pg_append(sql, sizeof sql, " ORDER BY created_ms DESC, id COLLATE \"C\" DESC");
  return pg_query(pg(cs), "dataset_list", dataset_row, &w, sql, "n", workspace_id);
}

static cohort_status pg_dataset_delete(co_store *cs, const char *id) {
  pg_cx cx;
  /* One statement: the trainees made from it (they keep their own rows) stop naming it in the
   * same transaction; changed counts the deleted dataset. */
  cohort_status rc = pg_do(pg(cs), "dataset_delete", &cx,
                           "WITH t AS (UPDATE trainees SET dataset_id = '' WHERE dataset_id = $1)"
                           " DELETE FROM datasets WHERE id = $1",
                           "s", id);
  return pg_changed(&cx, rc, "dataset", id);
}

/* ---------------------------------------------------------------- trainees */

static cohort_status pg_trainee_create(co_store *cs, const co_trainee *t) {
  pg_cx cx;
  cohort_status rc = pg_do(
      pg(cs), "trainee_create", &cx,
      "INSERT INTO trainees(" TRAINEE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      "sssslsnllssl", t->id, t->workspace_id, t->name, t->dataset_id, t->version, t->blob, t->info_json,
      t->created_ms, t->updated_ms, t->blob_sha256, t->corrupt, t->blob_bytes);
  if (pg_is_unique(&cx))
    rc = co_error(COHORT_ESTATE, "trainee id '%s' is taken", t->id);
  return rc;
}

static cohort_status pg_trainee_get(co_store *cs, const char *id, co_trainee *out) {
  co_trainee t; /* out is written only on success */
  cohort_status rc = pg_query_one(pg(cs), "trainee_get", "trainee", id, read_trainee, &t,
                                  "SELECT " TRAINEE_COLS " FROM trainees WHERE id = $1", "s", id);
  if (rc == COHORT_OK)
    *out = t;
  return rc;
}

static cohort_status pg_trainee_list(co_store *cs, const char *workspace_id, co_trainee_fn fn, void *ctx) {
  trainee_walk w = {fn, ctx};
  char sql[512] = "SELECT " TRAINEE_COLS " FROM trainees";
  int nconds = 0;
  if (workspace_id)
    pg_where(sql, sizeof sql, &nconds, "workspace_id = $1");
  pg_append(sql, sizeof sql, " ORDER BY created_ms DESC, id COLLATE \"C\" DESC");
  return pg_query(pg(cs), "trainee_list", trainee_row, &w, sql, "n", workspace_id);
}

static cohort_status pg_trainee_commit(co_store *cs, const char *id, int64_t expect_version,
                                       int64_t new_version, const char *blob, const char *blob_sha256,
                                       int64_t blob_bytes, const char *info_json, const co_fence *fence,
                                       int64_t now_ms) {
  pg_store *s = pg(cs);
  pg_cx cx;
  int64_t version = 0;
  cohort_status rc;
  /* Versions only move forward, so a stale writer can never match again by accident. */
  if (new_version <= expect_version)
    return co_error(COHORT_EINVAL, "trainee '%s': new version %lld must be greater than %lld", id,
                    (long long)new_version, (long long)expect_version);
  /* The compare-and-swap is this one statement: a concurrent commit holds the row until it ends,
   * and then this UPDATE re-reads the row and no longer matches. The fence's job row is locked
   * FOR SHARE, so a claim that takes the job over either committed before (and the row no longer
   * matches) or waits until this commit is done. */
  rc = pg_do(s, "trainee_commit", &cx,
             "WITH fence AS (SELECT 1 FROM jobs WHERE id = $7 AND owner = $8 AND attempts = $9 AND state = 1"
             " FOR SHARE)"
             " UPDATE trainees SET version = $1, blob_key = $2, info_json = $3, updated_ms = $4,"
             " blob_sha256 = $10, blob_bytes = $11, corrupt = ''"
             " WHERE id = $5 AND version = $6 AND ($7 = '' OR EXISTS (SELECT 1 FROM fence))",
             "lsnlslssisl", new_version, blob, info_json, now_ms, id, expect_version,
             fence ? fence->job_id : "", fence ? fence->owner : "", fence ? fence->attempt : 0, blob_sha256,
             blob_bytes);
  if (rc != COHORT_OK || cx.changed == 1)
    return rc;
  /* Nothing changed: say why. */
  rc = pg_query_one(s, "trainee_commit", "trainee", id, read_count, &version,
                    "SELECT version FROM trainees WHERE id = $1", "s", id);
  if (rc == COHORT_OK && version != expect_version)
    rc = co_error(COHORT_ESTATE, "trainee '%s' changed: version is %lld, expected %lld", id,
                  (long long)version, (long long)expect_version);
  else if (rc == COHORT_OK)
    rc = co_error(COHORT_ESTATE, "job '%s' attempt %d no longer holds its lease: a newer attempt took over",
                  fence ? fence->job_id : "", fence ? fence->attempt : 0);
  return rc;
}

static cohort_status pg_trainee_delete(co_store *cs, const char *id) {
  pg_cx cx;
  cohort_status rc = pg_do(pg(cs), "trainee_delete", &cx, "DELETE FROM trainees WHERE id = $1", "s", id);
  return pg_changed(&cx, rc, "trainee", id);
}

/* ---------------------------------------------------------------- object checks */

static cohort_status pg_mark_corrupt(co_store *cs, const char *kind, const char *id, const char *blob,
                                     const char *reason, int *changed) {
  const char *col, *table = co_store_object_table(kind, &col);
  char sql[256];
  pg_cx cx;
  if (changed)
    *changed = 0;
  if (!table)
    return co_error(COHORT_EINVAL, "store mark_corrupt: kind '%s' is not dataset, trainee or report",
                    kind ? kind : "");
  /* Only a move between clean and corrupt counts (and is written): a second failed read of the
   * same object is not a new finding. */
  snprintf(sql, sizeof sql, "UPDATE %s SET corrupt = $1 WHERE id = $2 AND %s AND (corrupt = '') <> ($1 = '')",
           table, col ? "blob_key = $3" : "(json_blob = $3 OR html_blob = $3)");
  cohort_status rc = pg_do(pg(cs), "mark_corrupt", &cx, sql, "sss", reason ? reason : "", id, blob);
  if (rc == COHORT_OK && changed)
    *changed = cx.changed > 0;
  return rc;
}

static cohort_status pg_set_checksum(co_store *cs, const char *kind, const char *id, const char *blob,
                                     const char *sha256, int64_t bytes) {
  const char *col, *table = co_store_object_table(kind, &col);
  char sql[512];
  if (!table)
    return co_error(COHORT_EINVAL, "store set_checksum: kind '%s' is not dataset, trainee or report",
                    kind ? kind : "");
  if (!col) /* a report: whichever of its two objects blob is */
    snprintf(sql, sizeof sql, "%s",
             "UPDATE reports SET"
             " json_sha256 = CASE WHEN json_blob = $3 AND json_sha256 = '' THEN $1 ELSE json_sha256 END,"
             " json_bytes = CASE WHEN json_blob = $3 AND json_sha256 = '' THEN $4 ELSE json_bytes END,"
             " html_sha256 = CASE WHEN html_blob = $3 AND html_sha256 = '' THEN $1 ELSE html_sha256 END,"
             " html_bytes = CASE WHEN html_blob = $3 AND html_sha256 = '' THEN $4 ELSE html_bytes END"
             " WHERE id = $2");
  else
    snprintf(sql, sizeof sql, "UPDATE %s SET %s = $1, %s = $4 WHERE id = $2 AND blob_key = $3 AND %s = ''",
             table, col, strcmp(table, "datasets") == 0 ? "bytes" : "blob_bytes", col);
  return pg_do(pg(cs), "set_checksum", NULL, sql, "sssl", sha256, id, blob, bytes);
}

/* PostgreSQL checks its own pages (data checksums, amcheck for a DBA): here, only that it answers. */
static cohort_status pg_integrity_check(co_store *cs, int full, void (*fn)(void *ctx, const char *line),
                                        void *ctx, int64_t *problems) {
  (void)full, (void)fn, (void)ctx;
  *problems = 0;
  return cs->ops->ping(cs);
}

/* ---------------------------------------------------------------- jobs */

static cohort_status pg_job_load(pg_store *s, const char *what, const char *id, co_job *out) {
  co_job j; /* out is written only on success */
  cohort_status rc =
      pg_query_one(s, what, "job", id, read_job, &j, "SELECT " JOB_COLS " FROM jobs WHERE id = $1", "s", id);
  if (rc == COHORT_OK)
    *out = j;
  return rc;
}

typedef struct job_holder {
  co_job_state state;
  char owner[CO_ID_MAX];
  int attempts;
} job_holder;

static cohort_status read_holder(const PGresult *r, int i, void *out) {
  job_holder *h = out;
  h->state = (co_job_state)col_int(r, i, 0);
  col_text(r, i, 1, h->owner, sizeof h->owner);
  h->attempts = (int)col_int(r, i, 2);
  return COHORT_OK;
}

/* Why an update guarded by "this attempt holds it and it is running" changed nothing. */
static cohort_status job_not_held(pg_store *s, const char *what, const co_fence *f) {
  job_holder h;
  cohort_status rc = pg_query_one(s, what, "job", f->job_id, read_holder, &h,
                                  "SELECT state, owner, attempts FROM jobs WHERE id = $1", "s", f->job_id);
  if (rc == COHORT_OK)
    rc = co_error(COHORT_ESTATE, "job '%s' is not held by '%s' attempt %d (it is %s, owner '%s' attempt %d)",
                  f->job_id, f->owner ? f->owner : "", f->attempt, co_job_state_name(h.state), h.owner,
                  h.attempts);
  return rc;
}

static cohort_status pg_job_create(co_store *cs, const co_job *j) {
  pg_cx cx;
  cohort_status rc;
  if (j->state != CO_JOB_QUEUED)
    return co_error(COHORT_EINVAL, "job '%s': a new job must be queued, not %s", j->id,
                    co_job_state_name(j->state));
  /* Only what a new job has: progress, lease and the rest start from the schema's defaults. */
  rc = pg_do(pg(cs), "job_create", &cx,
             "INSERT INTO jobs(id, workspace_id, trainee_id, kind, state, params_json, created_ms)"
             " VALUES ($1, $2, $3, $4, 0, $5, $6)",
             "ssssnl", j->id, j->workspace_id, j->trainee_id, j->kind, j->params_json, j->created_ms);
  if (pg_is_unique(&cx))
    rc = co_error(COHORT_ESTATE, "job id '%s' is taken", j->id);
  return rc;
}

static cohort_status pg_job_get(co_store *cs, const char *id, co_job *out) {
  return pg_job_load(pg(cs), "job_get", id, out);
}

static cohort_status pg_job_list(co_store *cs, const co_job_filter *f, co_job_fn fn, void *ctx) {
  static const co_job_filter any = {NULL, NULL, -1, 0};
  job_walk w = {fn, ctx};
  char sql[768] = "SELECT " JOB_COLS " FROM jobs";
  int nconds = 0;
  if (!f)
    f = &any;
  /* Only the conditions asked for; the parameters not named are sent and ignored (typed). */
  if (f->workspace_id)
    pg_where(sql, sizeof sql, &nconds, "workspace_id = $1");
  if (f->trainee_id)
    pg_where(sql, sizeof sql, &nconds, "trainee_id = $2");
  if (f->state >= 0)
    pg_where(sql, sizeof sql, &nconds, "state = $3");
  pg_append(sql, sizeof sql, " ORDER BY created_ms DESC, id COLLATE \"C\" DESC");
  if (f->limit > 0)
    pg_append(sql, sizeof sql, " LIMIT $4");
  return pg_query(pg(cs), "job_list", job_row, &w, sql, "nnii", f->workspace_id, f->trainee_id, f->state,
                  f->limit);
}

/* Appends id to a text[] literal ("{}" to start) as a quoted element. 0, or -1 if it is full. */
static int array_add(char *arr, size_t cap, const char *id) {
  size_t n = strlen(arr);
  char el[2 * CO_ID_MAX + 4];
  size_t k = 0;
  el[k++] = '"';
  for (const char *p = id; *p && k + 3 < sizeof el; p++) {
    if (*p == '"' || *p == '\\')
      el[k++] = '\\';
    el[k++] = *p;
  }
  el[k++] = '"';
  el[k] = '\0';
  if (n < 2 || n + k + 2 > cap)
    return -1;
  /* arr ends in '}': replace it with [","] element '}'. */
  snprintf(arr + n - 1, cap - (n - 1), "%s%s}", n > 2 ? "," : "", el);
  return 0;
}

/* The claim, in one transaction:
 *  1. jobs whose lease ended after max_attempts attempts become FAILED (only rows no other
 *     claimer holds: SKIP LOCKED, so two claimers never wait on each other's rows);
 *  2. the oldest runnable job is taken with FOR UPDATE SKIP LOCKED: two claimers never pick the
 *     same row, and neither waits for the other;
 *  3. one writer per trainee. Row locks alone cannot give it: two claimers can pick two
 *     different queued jobs of one trainee at once, each seeing (in its snapshot) no running job
 *     of that trainee. So a candidate with a trainee is taken only under a transaction-scoped
 *     advisory lock on the trainee (pg_try_advisory_xact_lock: never waits, so no deadlock), and
 *     under that lock a new statement (a new snapshot, which sees every claim committed before
 *     the lock was free: a claim holds it until it commits) checks again that no other job of the
 *     trainee runs under a live lease. A candidate that fails either test is skipped for the
 *     rest of this claim, and the next oldest is tried, up to PG_CLAIM_ROUNDS. We chose this over
 *     locking the trainee's job rows because queued siblings are exactly the rows SKIP LOCKED
 *     would skip, and over one global claim lock because claims of different trainees should
 *     not queue behind each other. hashtext collisions only make a claim skip a job this time.
 *  4. the job becomes RUNNING under owner's lease; the row comes back with RETURNING. */
static cohort_status pg_job_claim(co_store *cs, const char *owner, int64_t now_ms, int64_t lease_ms,
                                  int max_attempts, const char *only_id, co_job *out) {
  pg_store *s = pg(cs);
  pg_cx cx;
  PGresult *r = NULL;
  char id[CO_ID_MAX], trainee[CO_ID_MAX];
  char skip[PG_CLAIM_ROUNDS * (2 * CO_ID_MAX + 4) + 8] = "{}";
  co_job j;
  int loaded = 0;
  cohort_status rc;
  if (!owner || !*owner || lease_ms <= 0 || now_ms > INT64_MAX - lease_ms || max_attempts < 1)
    return co_error(COHORT_EINVAL, "job_claim: needs an owner, a positive lease and at least one attempt");
  if ((rc = pg_get(s, &cx)) != COHORT_OK)
    return rc;
  if ((rc = pg_begin(&cx, "job_claim")) != COHORT_OK)
    goto release;
  rc = pg_run(
      &cx, "job_claim", NULL,
      "UPDATE jobs SET state = 3, finished_ms = $1,"
      " error = 'gave up after ' || attempts || ' attempts: each one''s worker stopped before it finished'"
      " WHERE id IN (SELECT id FROM jobs WHERE state = 1 AND lease_until_ms < $1 AND attempts >= $2"
      "              FOR UPDATE SKIP LOCKED)",
      "li", now_ms, max_attempts);
  for (int round = 0; rc == COHORT_OK; round++) {
    int ok;
    if (round == PG_CLAIM_ROUNDS) {
      rc = COHORT_ENOTFOUND;
      break;
    }
    /* A lease has ended when lease_until_ms < now_ms and is live otherwise, so a lease ending
     * exactly at now_ms still blocks its trainee: two writers never overlap. */
    rc = pg_run(&cx, "job_claim", &r,
                "SELECT j.id, j.trainee_id FROM jobs j"
                " WHERE (j.state = 0 OR (j.state = 1 AND j.lease_until_ms < $1 AND j.attempts < $2))"
                "   AND (j.trainee_id = '' OR (j.trainee_id <> ALL($3) AND NOT EXISTS (SELECT 1 FROM jobs o"
                "        WHERE o.trainee_id = j.trainee_id AND o.id <> j.id"
                "          AND o.state = 1 AND o.lease_until_ms >= $1)))"
                "   AND ($4::text IS NULL OR j.id = $4)"
                " ORDER BY j.created_ms, j.id COLLATE \"C\" LIMIT 1 FOR UPDATE SKIP LOCKED",
                "lian", now_ms, max_attempts, skip, only_id);
    if (rc != COHORT_OK)
      break;
    if (PQntuples(r) == 0) {
      PQclear(r);
      rc = COHORT_ENOTFOUND;
      break;
    }
    col_text(r, 0, 0, id, sizeof id);
    col_text(r, 0, 1, trainee, sizeof trainee);
    PQclear(r);
    r = NULL;
    if (!trainee[0])
      break;
    rc = pg_run(&cx, "job_claim", &r, "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", "is",
                (int)PG_LOCK_TRAINEE_NS, trainee);
    ok = rc == COHORT_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    r = NULL;
    if (rc == COHORT_OK && ok) {
      rc = pg_run(
          &cx, "job_claim", &r,
          "SELECT 1 FROM jobs WHERE trainee_id = $1 AND id <> $2 AND state = 1 AND lease_until_ms >= $3"
          " LIMIT 1",
          "ssl", trainee, id, now_ms);
      ok = rc == COHORT_OK && PQntuples(r) == 0;
      PQclear(r);
      r = NULL;
    }
    if (rc != COHORT_OK || ok)
      break;
    if (array_add(skip, sizeof skip, trainee) < 0) {
      rc = COHORT_ENOTFOUND;
      break;
    }
  }
  if (rc != COHORT_OK)
    goto out;
  /* A new attempt starts over; cancel_requested is kept so a reclaimed job still stops. */
  rc = pg_run(&cx, "job_claim", &r,
              "UPDATE jobs SET state = 1, owner = $1, lease_until_ms = $2, started_ms = $3,"
              " attempts = attempts + 1, progress = 0, stage = '' WHERE id = $4 RETURNING " JOB_COLS,
              "slls", owner, now_ms + lease_ms, now_ms, id);
  if (rc == COHORT_OK && PQntuples(r) != 1)
    rc = co_error(COHORT_EIO, "store job_claim: job '%s' vanished while locked", id);
  if (rc == COHORT_OK && (rc = read_job(r, 0, &j)) == COHORT_OK)
    loaded = 1;
  PQclear(r);
out:
  if (rc == COHORT_ENOTFOUND) { /* nothing to run, but jobs given up on stay given up */
    if ((rc = pg_end(&cx, "job_claim", COHORT_OK)) == COHORT_OK)
      rc = co_error(COHORT_ENOTFOUND, "no runnable job");
  } else
    rc = pg_end(&cx, "job_claim", rc);
  if (rc == COHORT_OK)
    *out = j;
  else if (loaded)
    co_job_clear(&j); /* read back, then the commit failed */
release:
  pg_put(&cx);
  return rc;
}

static cohort_status pg_job_progress(co_store *cs, const co_fence *f, double progress, const char *stage,
                                     int64_t lease_until_ms) {
  pg_store *s = pg(cs);
  pg_cx cx;
  if (!f || !f->job_id || !f->owner)
    return co_error(COHORT_EINVAL, "store job_progress: no fence");
  cohort_status rc = pg_do(s, "job_progress", &cx,
                           "UPDATE jobs SET progress = $1, stage = $2, lease_until_ms = $3"
                           " WHERE id = $4 AND owner = $5 AND attempts = $6 AND state = 1",
                           "dslssi", progress, stage, lease_until_ms, f->job_id, f->owner, f->attempt);
  if (rc == COHORT_OK && cx.changed == 0)
    rc = job_not_held(s, "job_progress", f);
  return rc;
}

static cohort_status pg_job_finish(co_store *cs, const co_fence *f, co_job_state state,
                                   const char *result_json, const char *error, int64_t now_ms) {
  pg_store *s = pg(cs);
  pg_cx cx;
  cohort_status rc;
  if (!f || !f->job_id || !f->owner)
    return co_error(COHORT_EINVAL, "store job_finish: no fence");
  if (state != CO_JOB_SUCCEEDED && state != CO_JOB_FAILED && state != CO_JOB_CANCELLED)
    return co_error(COHORT_EINVAL, "job '%s': %s is not a final state", f->job_id, co_job_state_name(state));
  rc = pg_do(s, "job_finish", &cx,
             "UPDATE jobs SET state = $1, result_json = $2, error = $3, finished_ms = $4,"
             " progress = CASE WHEN $1 = 2 THEN 1.0 ELSE progress END"
             " WHERE id = $5 AND owner = $6 AND attempts = $7 AND state = 1",
             "inslssi", (int)state, result_json, error, now_ms, f->job_id, f->owner, f->attempt);
  if (rc == COHORT_OK && cx.changed == 0)
    rc = job_not_held(s, "job_finish", f);
  return rc;
}

static cohort_status pg_job_cancel(co_store *cs, const char *id, int64_t now_ms) {
  pg_store *s = pg(cs);
  pg_cx cx;
  PGresult *r = NULL;
  co_job_state state;
  cohort_status rc = pg_get(s, &cx);
  if (rc != COHORT_OK)
    return rc;
  if ((rc = pg_begin(&cx, "job_cancel")) != COHORT_OK)
    goto release;
  /* FOR UPDATE: a claim or finish in between waits, so the state read is the one changed. */
  rc = pg_run(&cx, "job_cancel", &r, "SELECT state FROM jobs WHERE id = $1 FOR UPDATE", "s", id);
  if (rc == COHORT_OK && PQntuples(r) == 0)
    rc = co_error(COHORT_ENOTFOUND, "job '%s' not found", id);
  if (rc != COHORT_OK)
    goto out;
  state = (co_job_state)col_int(r, 0, 0);
  if (state == CO_JOB_QUEUED)
    rc = pg_run(&cx, "job_cancel", NULL, "UPDATE jobs SET state = 4, finished_ms = $1 WHERE id = $2", "ls",
                now_ms, id);
  else if (state == CO_JOB_RUNNING)
    rc = pg_run(&cx, "job_cancel", NULL, "UPDATE jobs SET cancel_requested = 1 WHERE id = $1", "s", id);
  else
    rc = co_error(COHORT_ESTATE, "job '%s' already finished", id);
out:
  PQclear(r);
  rc = pg_end(&cx, "job_cancel", rc);
release:
  pg_put(&cx);
  return rc;
}

static cohort_status pg_job_requeue_owner(co_store *cs, const char *owner, int64_t *n) {
  pg_cx cx;
  cohort_status rc = pg_do(
      pg(cs), "job_requeue_owner", &cx,
      "UPDATE jobs SET state = 0, owner = '', lease_until_ms = 0 WHERE state = 1 AND owner = $1", "s", owner);
  if (rc == COHORT_OK && n)
    *n = cx.changed;
  return rc;
}

static cohort_status count_row(const PGresult *r, int i, void *out) {
  int64_t *counts = out;
  int64_t state = col_int(r, i, 0);
  if (state >= 0 && state < 5)
    counts[state] = col_int(r, i, 1);
  return COHORT_OK;
}

static cohort_status pg_job_counts(co_store *cs, int64_t out[5]) {
  int64_t counts[5] = {0};
  cohort_status rc = pg_query(pg(cs), "job_counts", count_row, counts,
                              "SELECT state, COUNT(*) FROM jobs GROUP BY state", "");
  if (rc == COHORT_OK)
    memcpy(out, counts, sizeof counts);
  return rc;
}

/* ---------------------------------------------------------------- reports */

static cohort_status pg_report_create(co_store *cs, const co_report *r) {
  pg_cx cx;
  cohort_status rc = pg_do(pg(cs), "report_create", &cx,
                           "INSERT INTO reports(" REPORT_COLS ")"
                           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                           "ssssssnlslsls", r->id, r->workspace_id, r->trainee_id, r->job_id, r->json_blob,
                           r->html_blob, r->summary_json, r->created_ms, r->json_sha256, r->json_bytes,
                           r->html_sha256, r->html_bytes, r->corrupt);
  if (pg_is_unique(&cx))
    rc = co_error(COHORT_ESTATE, "report id '%s' is taken", r->id);
  return rc;
}

static cohort_status pg_report_get(co_store *cs, const char *id, co_report *out) {
  co_report r; /* out is written only on success */
  cohort_status rc = pg_query_one(pg(cs), "report_get", "report", id, read_report, &r,
                                  "SELECT " REPORT_COLS " FROM reports WHERE id = $1", "s", id);
  if (rc == COHORT_OK)
    *out = r;
  return rc;
}

/* workspace_id and trainee_id: NULL = any. */
static cohort_status pg_report_list(co_store *cs, const char *workspace_id, const char *trainee_id,
                                    co_report_fn fn, void *ctx) {
  report_walk w = {fn, ctx};
  char sql[512] = "SELECT " REPORT_COLS " FROM reports";
  int nconds = 0;
  if (workspace_id)
    pg_where(sql, sizeof sql, &nconds, "workspace_id = $1");
  if (trainee_id)
    pg_where(sql, sizeof sql, &nconds, "trainee_id = $2");
  pg_append(sql, sizeof sql, " ORDER BY created_ms DESC, id COLLATE \"C\" DESC");
  return pg_query(pg(cs), "report_list", report_row, &w, sql, "nn", workspace_id, trainee_id);
}

static cohort_status pg_report_delete(co_store *cs, const char *id) {
  pg_cx cx;
  cohort_status rc = pg_do(pg(cs), "report_delete", &cx, "DELETE FROM reports WHERE id = $1", "s", id);
  return pg_changed(&cx, rc, "report", id);
}

/* ---------------------------------------------------------------- bootstrap, ping, open, close */

/* Under an advisory lock held to the end of the transaction: a second process starting at the
 * same moment waits, then (READ COMMITTED: a new snapshot per statement) sees the first one's
 * users and changes nothing. */
static cohort_status pg_bootstrap(co_store *cs, const co_user *admin, const co_workspace *ws, int *created) {
  pg_store *s = pg(cs);
  pg_cx cx;
  PGresult *r = NULL;
  cohort_status rc;
  *created = 0;
  if ((rc = pg_get(s, &cx)) != COHORT_OK)
    return rc;
  if ((rc = pg_begin(&cx, "bootstrap")) != COHORT_OK)
    goto release;
  if ((rc = pg_run(&cx, "bootstrap", NULL, "SELECT pg_advisory_xact_lock($1)", "l", PG_LOCK_BOOTSTRAP)) !=
          COHORT_OK ||
      (rc = pg_run(&cx, "bootstrap", &r, "SELECT 1 FROM users LIMIT 1", "")) != COHORT_OK)
    goto out;
  if (PQntuples(r) > 0)
    goto out; /* bootstrapped already */
  if ((rc = pg_run(&cx, "bootstrap", NULL, "INSERT INTO users(" USER_COLS ") VALUES ($1, $2, $3, $4, $5)",
                   "sssil", admin->id, admin->name, admin->pwhash, admin->is_admin != 0,
                   admin->created_ms)) != COHORT_OK ||
      (rc = pg_run(&cx, "bootstrap", NULL, "INSERT INTO workspaces(" WORKSPACE_COLS ") VALUES ($1, $2, $3)",
                   "ssl", ws->id, ws->name, ws->created_ms)) != COHORT_OK ||
      (rc = pg_run(&cx, "bootstrap", NULL,
                   "INSERT INTO members(workspace_id, user_id, role) VALUES ($1, $2, $3)", "ssi", ws->id,
                   admin->id, (int)CO_ROLE_OWNER)) != COHORT_OK)
    goto out;
  *created = 1;
out:
  PQclear(r);
  rc = pg_end(&cx, "bootstrap", rc);
  if (rc != COHORT_OK)
    *created = 0;
release:
  pg_put(&cx);
  return rc;
}

static cohort_status pg_ping(co_store *cs) {
  return pg_do(pg(cs), "ping", NULL, "SELECT 1", "");
}

static void pg_close(co_store *cs) {
  pg_store *s = pg(cs);
  if (!s)
    return;
  for (int i = 0; s->slots && i < s->n; i++)
    PQfinish(s->slots[i].conn);
  co_free(s->slots);
  pthread_cond_destroy(&s->freed);
  pthread_mutex_destroy(&s->mu);
  if (s->url) {
    memset(s->url, 0, strlen(s->url)); /* it may carry a password */
    co_free(s->url);
  }
  co_free(s);
}

static const co_store_ops pg_ops = {
    .version = CO_STORE_VERSION,
    .name = "postgres",
    .close = pg_close,
    .user_create = pg_user_create,
    .user_get = pg_user_get,
    .user_by_name = pg_user_by_name,
    .user_set_password = pg_user_set_password,
    .user_list = pg_user_list,
    .user_count = pg_user_count,
    .workspace_create = pg_workspace_create,
    .workspace_get = pg_workspace_get,
    .workspace_delete = pg_workspace_delete,
    .member_set = pg_member_set,
    .member_get = pg_member_get,
    .member_list_workspace = pg_member_list_workspace,
    .member_list_user = pg_member_list_user,
    .token_create = pg_token_create,
    .token_by_hash = pg_token_by_hash,
    .token_touch = pg_token_touch,
    .token_list = pg_token_list,
    .token_delete = pg_token_delete,
    .session_create = pg_session_create,
    .session_get = pg_session_get,
    .session_delete = pg_session_delete,
    .session_purge = pg_session_purge,
    .dataset_create = pg_dataset_create,
    .dataset_get = pg_dataset_get,
    .dataset_list = pg_dataset_list,
    .dataset_delete = pg_dataset_delete,
    .trainee_create = pg_trainee_create,
    .trainee_get = pg_trainee_get,
    .trainee_list = pg_trainee_list,
    .trainee_commit = pg_trainee_commit,
    .trainee_delete = pg_trainee_delete,
    .job_create = pg_job_create,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .job_claim = pg_job_claim,
    .job_progress = pg_job_progress,
    .job_finish = pg_job_finish,
    .job_cancel = pg_job_cancel,
    .job_requeue_owner = pg_job_requeue_owner,
    .job_counts = pg_job_counts,
    .report_create = pg_report_create,
    .report_get = pg_report_get,
    .report_list = pg_report_list,
    .report_delete = pg_report_delete,
    .bootstrap = pg_bootstrap,
    .ping = pg_ping,
    .user_revoke = pg_user_revoke,
    .mark_corrupt = pg_mark_corrupt,
    .set_checksum = pg_set_checksum,
    .integrity_check = pg_integrity_check,
    .login_fail = pg_login_fail,
    .login_blocked = pg_login_blocked,
    .login_clear = pg_login_clear,
};

/* Before the unique index on lower(name): user names that differ only in case (made before the
 * index) would make it fail with a bare unique violation. Renaming someone's sign-in name behind
 * their back is not ours to do, so the start is refused, naming them, with what to do. */
static cohort_status pg_check_folded_names(pg_store *s, pg_cx *cx) {
  PGresult *r = NULL;
  char list[600] = "";
  size_t n = 0;
  cohort_status rc = pg_run(cx, "migrate", &r,
                            "SELECT name, id FROM users WHERE lower(name COLLATE \"C\") IN"
                            " (SELECT lower(name COLLATE \"C\") FROM users GROUP BY 1 HAVING COUNT(*) > 1)"
                            " ORDER BY lower(name COLLATE \"C\"), created_ms, id COLLATE \"C\"",
                            "");
  if (rc != COHORT_OK)
    return rc;
  int found = PQntuples(r);
  for (int i = 0; i < found && i < 8 && n < sizeof list; i++)
    n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s' (%s)", n ? ", " : "", PQgetvalue(r, i, 0),
                          PQgetvalue(r, i, 1));
  if (found)
    rc = co_error(COHORT_ESTATE,
                  "store %s: user names must be unique with case ignored, and %d users share a name that "
                  "way: %s%s. Rename all but one of each (UPDATE users SET name = 'NEW' WHERE id = 'ID'), "
                  "then start again (docs/server.md, Names)",
                  s->label, found, list, found > 8 ? ", ..." : "");
  PQclear(r);
  return rc;
}

/* Brings the schema to PG_SCHEMA_VERSION in one transaction under PG_LOCK_MIGRATE, so processes
 * starting together migrate once; refuses a database newer than this build. */
static cohort_status pg_migrate(pg_store *s) {
  pg_cx cx;
  PGresult *r = NULL;
  int64_t have;
  cohort_status rc = pg_get(s, &cx);
  if (rc != COHORT_OK)
    return rc;
  if ((rc = pg_begin(&cx, "migrate")) != COHORT_OK)
    goto release;
  if ((rc = pg_run(&cx, "migrate", NULL, "SELECT pg_advisory_xact_lock($1)", "l", PG_LOCK_MIGRATE)) !=
          COHORT_OK ||
      (rc = pg_run(&cx, "migrate", NULL,
                   "CREATE TABLE IF NOT EXISTS schema_migrations("
                   " version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
                   "")) != COHORT_OK ||
      (rc = pg_run(&cx, "migrate", &r, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "")) !=
          COHORT_OK)
    goto out;
  have = col_int(r, 0, 0);
  if (have > PG_SCHEMA_VERSION) {
    rc = co_error(COHORT_ESTATE,
                  "store %s has schema version %lld, newer than this cohort knows (%d): upgrade cohort",
                  s->label, (long long)have, (int)PG_SCHEMA_VERSION);
    goto out;
  }
  for (int64_t v = have + 1; v <= PG_SCHEMA_VERSION; v++) {
    if (v == PG_MIGRATION_USERS_FOLDED && (rc = pg_check_folded_names(s, &cx)) != COHORT_OK)
      goto out;
    /* Fixed text of several statements, no values: the simple protocol runs it whole. */
    PGresult *m = PQexec(cx.c, migrations[v - 1]);
    if (PQresultStatus(m) != PGRES_COMMAND_OK) {
      char why[256];
      one_line(why, sizeof why, PQerrorMessage(cx.c));
      PQclear(m);
      rc = co_error(COHORT_EIO, "store %s: migration %lld: %s", s->label, (long long)v, why);
      goto out;
    }
    PQclear(m);
    if ((rc = pg_run(&cx, "migrate", NULL,
                     "INSERT INTO schema_migrations(version, applied_ms) VALUES ($1, $2)", "ll", v,
                     co_now_ms())) != COHORT_OK)
      goto out;
  }
out:
  PQclear(r);
  rc = pg_end(&cx, "migrate", rc);
release:
  pg_put(&cx);
  return rc;
}

/* libpq's parse errors quote the URL, or the token that failed, which may be the password: a
 * quoted part is kept only when it is a bare word (a parameter name), and a message that still
 * holds the URL's password is replaced. */
static void pg_scrub(char *msg, size_t cap, const char *url) {
  char out[256], pw[128] = "";
  size_t n = 0;
  const char *p = strstr(url, "://");
  if (p) { /* userinfo: scheme://user:password@host..., up to the last '@' before the path */
    p += 3;
    size_t alen = strcspn(p, "/?");
    const char *at = NULL, *colon = NULL;
    for (const char *q = p; q < p + alen; q++)
      if (*q == '@')
        at = q;
    if (at && (colon = memchr(p, ':', (size_t)(at - p))) && (size_t)(at - colon - 1) < sizeof pw) {
      memcpy(pw, colon + 1, (size_t)(at - colon - 1));
      pw[at - colon - 1] = '\0';
    }
  }
  for (p = msg; *p && n + 12 < sizeof out;) {
    const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
    if (end) {
      int word = end > p + 1; /* a bare word, or one character: "]", "=" */
      for (const char *q = p + 1; q < end && end > p + 2; q++)
        if (!isalnum((unsigned char)*q) && *q != '_')
          word = 0;
      size_t len = word ? (size_t)(end - p) + 1 : 10;
      if (n + len + 1 >= sizeof out)
        break;
      memcpy(out + n, word ? p : "\"(hidden)\"", len);
      n += len;
      p = end + 1;
      continue;
    }
    out[n++] = *p++;
  }
  out[n] = '\0';
  if (pw[0] && strstr(out, pw))
    co_strlcpy(out, "the message would show the password", sizeof out);
  co_strlcpy(msg, out, cap);
}

/* "postgres://user@host:port/db" from the parsed URL: what messages may show (no password). */
static cohort_status pg_label(const char *url, char *label, size_t cap) {
  char *err = NULL;
  const char *user = "", *host = "", *port = "", *db = "";
  PQconninfoOption *opts = PQconninfoParse(url, &err);
  if (!opts) {
    char why[200];
    one_line(why, sizeof why, err ? err : "out of memory");
    PQfreemem(err);
    pg_scrub(why, sizeof why, url);
    return co_error(COHORT_EINVAL, "store: not a valid PostgreSQL URL: %s", why);
  }
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val)
      continue;
    if (!strcmp(o->keyword, "user"))
      user = o->val;
    else if (!strcmp(o->keyword, "host"))
      host = o->val;
    else if (!strcmp(o->keyword, "port"))
      port = o->val;
    else if (!strcmp(o->keyword, "dbname"))
      db = o->val;
  }
  snprintf(label, cap, "postgres://%s%s%s%s%s/%s", user, *user ? "@" : "", host, *port ? ":" : "", port, db);
  PQconninfoFree(opts);
  return COHORT_OK;
}

cohort_status co_store_postgres_open(const char *url, const co_store_pg_options *opt, co_store **out) {
  pg_store *s;
  pthread_condattr_t ca;
  char label[256];
  cohort_status rc;
  if (!url || !*url || !out)
    return co_error(COHORT_EINVAL, "store: no PostgreSQL URL");
  if ((rc = pg_label(url, label, sizeof label)) != COHORT_OK)
    return rc;
  if (!(s = co_calloc(1, sizeof *s)))
    return co_nomem();
  s->base.ops = &pg_ops;
  co_strlcpy(s->label, label, sizeof s->label);
  s->n = opt && opt->pool_size > 0 ? opt->pool_size : 8;
  s->timeout_ms = opt && opt->timeout_ms > 0 ? opt->timeout_ms : 10000;
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the pool's wait must not jump with the clock */
  pthread_cond_init(&s->freed, &ca);
  pthread_condattr_destroy(&ca);
  if (!(s->url = co_strdup(url)) || !(s->slots = co_calloc((size_t)s->n, sizeof *s->slots))) {
    rc = co_nomem();
    goto fail;
  }
  if ((rc = pg_migrate(s)) != COHORT_OK)
    goto fail;
  *out = &s->base;
  return COHORT_OK;
fail:
  pg_close(&s->base);
  return rc;
}
