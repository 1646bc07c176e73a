/* store_sqlite.c: the store (store.h) on one SQLite database in WAL mode.
 *
 * One connection per store, opened FULLMUTEX. Each operation holds the connection's own recursive
 * mutex (sqlite3_db_mutex) from its first statement to its last, for two reasons: a transaction
 * belongs to the connection, not the thread, so two threads must never interleave statements
 * inside BEGIN ... COMMIT; and sqlite3_errmsg() must still describe our failure when we read it.
 * BEGIN IMMEDIATE transactions then serialize the multi-statement operations against other
 * processes that open the same file (the write lock is taken up front, under the busy timeout).
 * List callbacks run with the mutex held: they may call the store again on the same thread but
 * must not wait for another thread that does.
 *
 * Every value is a bound parameter; SQL text is only ever assembled from fixed fragments. */
#include "store.h"

#include "backends.h"
#include "co_base.h"
#include "log.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Prepared statements of the one-statement reads (sq_query, sq_query_one), kept across calls:
 * parsing the SQL again cost more than running it on the request path. Under the connection's
 * mutex, like everything else on it. */
enum { SQ_CACHE_MAX = 48 };
typedef struct sq_cached {
  char *sql; /* owned copy: some statements are assembled in buffers */
  sqlite3_stmt *st;
} sq_cached;

typedef struct sq_store {
  co_store base; /* first: the core sees only this */
  sqlite3 *db;
  sq_cached cache[SQ_CACHE_MAX];
  int ncache;
} sq_store;

static sq_store *sq(co_store *s) {
  return (sq_store *)s;
}

/* ---------------------------------------------------------------- schema
 * Applied in order, each once, all pending ones in one transaction. Never edit a shipped entry:
 * append a new one. */
static const char *const migrations[] = {
    /* 1: the initial schema. Resource tables keep workspace_id/dataset_id as plain text: what
     * happens to a workspace's datasets and blobs on deletion is the core's decision, and a
     * trainee outlives the dataset it was trained from. */
    "CREATE TABLE users("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pwhash TEXT NOT NULL DEFAULT '',"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE workspaces("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
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
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_used_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tokens_user ON tokens(user_id, created_ms);"
    "CREATE TABLE sessions("
    "  hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL);"
    "CREATE INDEX sessions_expires ON sessions(expires_ms);"
    "CREATE TABLE datasets("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  blob_key TEXT NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  n_columns INTEGER NOT NULL,"
    "  schema_json TEXT,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX datasets_workspace ON datasets(workspace_id, created_ms);"
    "CREATE TABLE trainees("
    "  id TEXT PRIMARY KEY,"
    "  workspace_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  dataset_id TEXT NOT NULL DEFAULT '',"
    "  version INTEGER NOT NULL DEFAULT 0,"
    "  blob_key TEXT NOT NULL DEFAULT '',"
    "  info_json TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
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
    "  progress REAL NOT NULL DEFAULT 0,"
    "  stage TEXT NOT NULL DEFAULT '',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  owner TEXT NOT NULL DEFAULT '',"
    "  lease_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0);"
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
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX reports_workspace ON reports(workspace_id, created_ms);"
    "CREATE INDEX reports_trainee ON reports(trainee_id, created_ms);",
    /* 2: checksums of the objects, and what a failed check found (issue 12). Rows from before
     * keep '' = unknown. */
    "ALTER TABLE datasets ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE datasets ADD COLUMN corrupt TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE trainees ADD COLUMN blob_sha256 TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE trainees ADD COLUMN blob_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE trainees ADD COLUMN corrupt TEXT NOT NULL DEFAULT '';",
    /* 3: sign-in backoff (store version 4), shared by every process on the file. until_ms is
     * when the key went quiet: the end of its block, or its last failure if that started none. */
    "CREATE TABLE login_backoff("
    "  key TEXT PRIMARY KEY,"
    "  failures INTEGER NOT NULL,"
    "  until_ms INTEGER NOT NULL);"
    "CREATE INDEX login_backoff_until ON login_backoff(until_ms);",
    /* 4: user names unique with ASCII case folded, as user_by_name finds them (store version 5);
     * the check in the API alone let two case variants created at once both in. lower() folds
     * ASCII only, as PostgreSQL's does under the C collation. sq_migrate refuses to run it over
     * existing case variants, naming them (docs/server.md, Names). */
    "CREATE UNIQUE INDEX users_name_folded ON users(lower(name));",
    /* 5: checksums of the report objects (store version 5), and what a failed check found. */
    "ALTER TABLE reports ADD COLUMN json_sha256 TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE reports ADD COLUMN json_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE reports ADD COLUMN html_sha256 TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE reports ADD COLUMN html_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE reports ADD COLUMN corrupt TEXT NOT NULL DEFAULT '';",
};

/* The migration that makes user names unique with case folded. */
enum { SQ_MIGRATION_USERS_FOLDED = 4 };

enum { SQ_SCHEMA_VERSION = sizeof migrations / sizeof migrations[0] };

/* ---------------------------------------------------------------- statement helpers */

static void sq_lock(sq_store *s) {
  sqlite3_mutex_enter(sqlite3_db_mutex(s->db));
}
static void sq_unlock(sq_store *s) {
  sqlite3_mutex_leave(sqlite3_db_mutex(s->db));
}

/* EIO with SQLite's own words; call it before finalizing the statement that failed. */
static cohort_status sq_fail(sq_store *s, const char *what) {
  int code = sqlite3_errcode(s->db), err = sqlite3_system_errno(s->db);
  /* The disk, a quota or a file-size limit is full: 507 for the client, not 500. SQLite says
   * SQLITE_FULL for ENOSPC only; EDQUOT and EFBIG come as I/O errors with that errno. */
  if (code == SQLITE_FULL || ((code & 0xff) == SQLITE_IOERR && co_io_status(err) == COHORT_ENOSPACE))
    return co_error(COHORT_ENOSPACE,
                    "store %s: %s: the disk holding the database is full; free space (deleting datasets, "
                    "trainees or reports works on a full disk)",
                    what, sqlite3_errmsg(s->db));
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB)
    return co_error(COHORT_ECORRUPT,
                    "store %s: %s: run `cohort admin check` (see docs/server.md, Corruption)", what,
                    sqlite3_errmsg(s->db));
  return co_error(COHORT_EIO, "store %s: %s", what, sqlite3_errmsg(s->db));
}

/* Binds one argument per letter of fmt to parameters 1, 2, ...: s text (NULL binds ""), n text
 * or NULL, i int, l int64_t, d double. Text is bound SQLITE_STATIC: every caller steps and
 * finalizes the statement before its arguments go out of scope. */
static cohort_status sq_vbind(sq_store *s, sqlite3_stmt *st, const char *what, const char *fmt, va_list ap) {
  for (int i = 0; fmt[i]; i++) {
    int col = i + 1, rc;
    const char *t;
    switch (fmt[i]) {
    case 's':
      t = va_arg(ap, const char *);
      rc = sqlite3_bind_text(st, col, t ? t : "", -1, SQLITE_STATIC);
      break;
    case 'n':
      t = va_arg(ap, const char *);
      rc = t ? sqlite3_bind_text(st, col, t, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
      break;
    case 'i':
      rc = sqlite3_bind_int(st, col, va_arg(ap, int));
      break;
    case 'l':
      rc = sqlite3_bind_int64(st, col, va_arg(ap, int64_t));
      break;
    case 'd':
      rc = sqlite3_bind_double(st, col, va_arg(ap, double));
      break;
    default:
      return co_error(COHORT_EINVAL, "store %s: bad bind letter '%c'", what, fmt[i]);
    }
    if (rc != SQLITE_OK)
      return sq_fail(s, what);
  }
  return COHORT_OK;
}

/* Prepares sql and binds the arguments. *st is set (possibly NULL) even on failure: the caller
 * always finalizes it. */
static cohort_status sq_vprepare(sq_store *s, sqlite3_stmt **st, const char *what, const char *sql,
                                 const char *fmt, va_list ap) {
  *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
    return sq_fail(s, what);
  return sq_vbind(s, *st, what, fmt, ap);
}

/* sq_vprepare from the statement cache, the lock held; sq_release gives it back. A list callback
 * may run the same query again on this thread while the statement still steps: that one is
 * prepared afresh (and finalized by sq_release). */
static cohort_status sq_vprepare_cached(sq_store *s, sqlite3_stmt **st, const char *what, const char *sql,
                                        const char *fmt, va_list ap) {
  *st = NULL;
  int i;
  for (i = 0; i < s->ncache; i++)
    if (strcmp(s->cache[i].sql, sql) == 0)
      break;
  if (i < s->ncache && !sqlite3_stmt_busy(s->cache[i].st)) {
    *st = s->cache[i].st;
  } else {
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
      return sq_fail(s, what);
    if (i == s->ncache && s->ncache < SQ_CACHE_MAX && (s->cache[i].sql = co_strdup(sql)) != NULL) {
      s->cache[i].st = *st;
      s->ncache++;
    }
  }
  return sq_vbind(s, *st, what, fmt, ap);
}

/* Back to the cache (reset, bindings cleared: they point at the caller's strings), or finalized. */
static void sq_release(sq_store *s, sqlite3_stmt *st) {
  for (int i = 0; i < s->ncache; i++)
    if (s->cache[i].st == st) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return;
    }
  sqlite3_finalize(st);
}

static cohort_status sq_prepare(sq_store *s, sqlite3_stmt **st, const char *what, const char *sql,
                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cohort_status rc = sq_vprepare(s, st, what, sql, fmt, ap);
  va_end(ap);
  return rc;
}

/* Runs one statement that returns no rows. On failure the message is set (EIO) and, when code is
 * not NULL, *code holds SQLite's extended code so the caller can turn a constraint into ESTATE or
 * ENOTFOUND. */
static cohort_status sq_run(sq_store *s, const char *what, int *code, const char *sql, const char *fmt, ...) {
  sqlite3_stmt *st = NULL;
  cohort_status rc;
  int src = SQLITE_OK;
  va_list ap;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    rc = sq_fail(s, what);
    goto out;
  }
  va_start(ap, fmt);
  rc = sq_vbind(s, st, what, fmt, ap);
  va_end(ap);
  if (rc != COHORT_OK)
    goto out;
  src = sqlite3_step(st);
  if (src != SQLITE_DONE && src != SQLITE_ROW)
    rc = sq_fail(s, what);
out:
  if (code)
    *code = src;
  sqlite3_finalize(st);
  return rc;
}

/* Steps st to its one row: OK with the row ready, ENOTFOUND "<thing> '<key>' not found", or EIO. */
static cohort_status sq_row(sq_store *s, sqlite3_stmt *st, const char *what, const char *thing,
                            const char *key) {
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    return COHORT_OK;
  if (src == SQLITE_DONE)
    return co_error(COHORT_ENOTFOUND, "%s '%s' not found", thing, key ? key : "");
  return sq_fail(s, what);
}

/* Turns "no row changed" after an UPDATE or DELETE into ENOTFOUND. */
static cohort_status sq_changed(sq_store *s, cohort_status rc, const char *thing, const char *key) {
  if (rc == COHORT_OK && sqlite3_changes(s->db) == 0)
    return co_error(COHORT_ENOTFOUND, "%s '%s' not found", thing, key ? key : "");
  return rc;
}

static cohort_status sq_begin(sq_store *s, const char *what) {
  return sq_run(s, what, NULL, "BEGIN IMMEDIATE", "");
}

/* Commits when rc is OK, else rolls back; returns rc, or the commit's failure. */
static cohort_status sq_end(sq_store *s, const char *what, cohort_status rc) {
  if (rc == COHORT_OK) {
    rc = sq_run(s, what, NULL, "COMMIT", "");
    if (rc == COHORT_OK)
      return rc;
  }
  /* SQLite may already have rolled back on its own (e.g. a full disk). */
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Sets *found to whether sql (one text parameter) returns a row. */
static cohort_status sq_exists(sq_store *s, const char *what, const char *sql, const char *key, int *found) {
  sqlite3_stmt *st = NULL;
  int src;
  cohort_status rc = sq_prepare(s, &st, what, sql, "s", key);
  if (rc != COHORT_OK)
    goto out;
  src = sqlite3_step(st);
  if (src == SQLITE_ROW || src == SQLITE_DONE)
    *found = src == SQLITE_ROW;
  else
    rc = sq_fail(s, what);
out:
  sqlite3_finalize(st);
  return rc;
}

/* After a foreign-key failure: names the parent row that is missing. */
static cohort_status sq_missing_parent(sq_store *s, const char *what, const char *workspace_id,
                                       const char *user_id) {
  int found = 1;
  cohort_status rc;
  if (workspace_id) {
    rc = sq_exists(s, what, "SELECT 1 FROM workspaces WHERE id = ?", workspace_id, &found);
    if (rc != COHORT_OK)
      return rc;
    if (!found)
      return co_error(COHORT_ENOTFOUND, "workspace '%s' not found", workspace_id);
  }
  if (user_id) {
    rc = sq_exists(s, what, "SELECT 1 FROM users WHERE id = ?", user_id, &found);
    if (rc != COHORT_OK)
      return rc;
    if (!found)
      return co_error(COHORT_ENOTFOUND, "user '%s' not found", user_id);
  }
  return co_error(COHORT_ENOTFOUND, "store %s: a referenced row is missing", what);
}

static int sq_is_unique(int code) {
  return code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE;
}

/* Walks the rows of st, handing each to row(); stops at the first non-OK return. */
typedef cohort_status (*sq_row_fn)(sqlite3_stmt *st, void *walk);

static cohort_status sq_walk(sq_store *s, sqlite3_stmt *st, const char *what, sq_row_fn row, void *walk) {
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    cohort_status rc = row(st, walk);
    if (rc != COHORT_OK)
      return rc;
  }
  return src == SQLITE_DONE ? COHORT_OK : sq_fail(s, what);
}

/* One locked query: every row goes to row(st, ctx) (see sq_walk). */
static cohort_status sq_query(sq_store *s, const char *what, sq_row_fn row, void *ctx, const char *sql,
                              const char *fmt, ...) {
  sqlite3_stmt *st = NULL;
  va_list ap;
  sq_lock(s);
  va_start(ap, fmt);
  cohort_status rc = sq_vprepare_cached(s, &st, what, sql, fmt, ap);
  va_end(ap);
  if (rc == COHORT_OK)
    rc = sq_walk(s, st, what, row, ctx);
  if (st)
    sq_release(s, st);
  sq_unlock(s);
  return rc;
}

/* One locked query for one row, read by read(st, out); ENOTFOUND "<thing> '<key>' not found". */
static cohort_status sq_query_one(sq_store *s, const char *what, const char *thing, const char *key,
                                  sq_row_fn read, void *out, const char *sql, const char *fmt, ...) {
  sqlite3_stmt *st = NULL;
  va_list ap;
  sq_lock(s);
  va_start(ap, fmt);
  cohort_status rc = sq_vprepare_cached(s, &st, what, sql, fmt, ap);
  va_end(ap);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, what, thing, key);
  if (rc == COHORT_OK)
    rc = read(st, out);
  if (st)
    sq_release(s, st);
  sq_unlock(s);
  return rc;
}

/* Appends a fixed SQL fragment (never a value) to sql; the buffers are sized for the longest. */
static void sq_append(char *sql, size_t cap, const char *frag) {
  size_t len = strlen(sql);
  snprintf(sql + len, cap - len, "%s", frag);
}

/* Appends " WHERE cond" or " AND cond". */
static void sq_where(char *sql, size_t cap, int *nconds, const char *cond) {
  sq_append(sql, cap, (*nconds)++ ? " AND " : " WHERE ");
  sq_append(sql, cap, cond);
}

/* ---------------------------------------------------------------- columns and rows */

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, i);
  co_strlcpy(dst, t ? (const char *)t : "", cap);
}

/* An owned copy of a nullable text column. */
static cohort_status col_json(sqlite3_stmt *st, int i, char **out) {
  const unsigned char *t;
  *out = NULL;
  if (sqlite3_column_type(st, i) == SQLITE_NULL)
    return COHORT_OK;
  t = sqlite3_column_text(st, i);
  if (!t || !(*out = co_strdup((const char *)t)))
    return co_nomem();
  return COHORT_OK;
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

static cohort_status read_user(sqlite3_stmt *st, void *out) {
  co_user *u = out;
  memset(u, 0, sizeof *u);
  col_text(st, 0, u->id, sizeof u->id);
  col_text(st, 1, u->name, sizeof u->name);
  col_text(st, 2, u->pwhash, sizeof u->pwhash);
  u->is_admin = sqlite3_column_int(st, 3);
  u->created_ms = sqlite3_column_int64(st, 4);
  return COHORT_OK;
}

static cohort_status read_workspace(sqlite3_stmt *st, void *out) {
  co_workspace *w = out;
  memset(w, 0, sizeof *w);
  col_text(st, 0, w->id, sizeof w->id);
  col_text(st, 1, w->name, sizeof w->name);
  w->created_ms = sqlite3_column_int64(st, 2);
  return COHORT_OK;
}

static cohort_status read_member(sqlite3_stmt *st, void *out) {
  co_member *m = out;
  memset(m, 0, sizeof *m);
  col_text(st, 0, m->workspace_id, sizeof m->workspace_id);
  col_text(st, 1, m->user_id, sizeof m->user_id);
  col_text(st, 2, m->user_name, sizeof m->user_name);
  col_text(st, 3, m->workspace_name, sizeof m->workspace_name);
  m->role = (co_role)sqlite3_column_int(st, 4);
  return COHORT_OK;
}

static cohort_status read_token(sqlite3_stmt *st, void *out) {
  co_token *t = out;
  memset(t, 0, sizeof *t);
  col_text(st, 0, t->id, sizeof t->id);
  col_text(st, 1, t->user_id, sizeof t->user_id);
  col_text(st, 2, t->name, sizeof t->name);
  col_text(st, 3, t->hash, sizeof t->hash);
  t->created_ms = sqlite3_column_int64(st, 4);
  t->expires_ms = sqlite3_column_int64(st, 5);
  t->last_used_ms = sqlite3_column_int64(st, 6);
  return COHORT_OK;
}

static cohort_status read_session(sqlite3_stmt *st, void *out) {
  co_session *se = out;
  memset(se, 0, sizeof *se);
  col_text(st, 0, se->hash, sizeof se->hash);
  col_text(st, 1, se->user_id, sizeof se->user_id);
  col_text(st, 2, se->csrf, sizeof se->csrf);
  se->created_ms = sqlite3_column_int64(st, 3);
  se->expires_ms = sqlite3_column_int64(st, 4);
  return COHORT_OK;
}

/* The readers of records with owned fields leave nothing owned behind when they fail. */
static cohort_status read_dataset(sqlite3_stmt *st, void *out) {
  co_dataset *d = out;
  memset(d, 0, sizeof *d);
  col_text(st, 0, d->id, sizeof d->id);
  col_text(st, 1, d->workspace_id, sizeof d->workspace_id);
  col_text(st, 2, d->name, sizeof d->name);
  col_text(st, 3, d->blob, sizeof d->blob);
  d->bytes = sqlite3_column_int64(st, 4);
  d->rows = sqlite3_column_int64(st, 5);
  d->columns = sqlite3_column_int64(st, 6);
  d->created_ms = sqlite3_column_int64(st, 8);
  col_text(st, 9, d->sha256, sizeof d->sha256);
  col_text(st, 10, d->corrupt, sizeof d->corrupt);
  return col_json(st, 7, &d->schema_json);
}

static cohort_status read_trainee(sqlite3_stmt *st, void *out) {
  co_trainee *t = out;
  memset(t, 0, sizeof *t);
  col_text(st, 0, t->id, sizeof t->id);
  col_text(st, 1, t->workspace_id, sizeof t->workspace_id);
  col_text(st, 2, t->name, sizeof t->name);
  col_text(st, 3, t->dataset_id, sizeof t->dataset_id);
  t->version = sqlite3_column_int64(st, 4);
  col_text(st, 5, t->blob, sizeof t->blob);
  t->created_ms = sqlite3_column_int64(st, 7);
  t->updated_ms = sqlite3_column_int64(st, 8);
  col_text(st, 9, t->blob_sha256, sizeof t->blob_sha256);
  col_text(st, 10, t->corrupt, sizeof t->corrupt);
  t->blob_bytes = sqlite3_column_int64(st, 11);
  return col_json(st, 6, &t->info_json);
}

static cohort_status read_job(sqlite3_stmt *st, void *out) {
  co_job *j = out;
  memset(j, 0, sizeof *j);
  col_text(st, 0, j->id, sizeof j->id);
  col_text(st, 1, j->workspace_id, sizeof j->workspace_id);
  col_text(st, 2, j->trainee_id, sizeof j->trainee_id);
  col_text(st, 3, j->kind, sizeof j->kind);
  j->state = (co_job_state)sqlite3_column_int(st, 4);
  col_text(st, 7, j->error, sizeof j->error);
  j->progress = sqlite3_column_double(st, 8);
  col_text(st, 9, j->stage, sizeof j->stage);
  j->attempts = sqlite3_column_int(st, 10);
  j->cancel_requested = sqlite3_column_int(st, 11);
  col_text(st, 12, j->owner, sizeof j->owner);
  j->lease_until_ms = sqlite3_column_int64(st, 13);
  j->created_ms = sqlite3_column_int64(st, 14);
  j->started_ms = sqlite3_column_int64(st, 15);
  j->finished_ms = sqlite3_column_int64(st, 16);
  if (col_json(st, 5, &j->params_json) != COHORT_OK || col_json(st, 6, &j->result_json) != COHORT_OK) {
    co_job_clear(j);
    return co_nomem();
  }
  return COHORT_OK;
}

static cohort_status read_report(sqlite3_stmt *st, void *out) {
  co_report *r = out;
  memset(r, 0, sizeof *r);
  col_text(st, 0, r->id, sizeof r->id);
  col_text(st, 1, r->workspace_id, sizeof r->workspace_id);
  col_text(st, 2, r->trainee_id, sizeof r->trainee_id);
  col_text(st, 3, r->job_id, sizeof r->job_id);
  col_text(st, 4, r->json_blob, sizeof r->json_blob);
  col_text(st, 5, r->html_blob, sizeof r->html_blob);
  r->created_ms = sqlite3_column_int64(st, 7);
  col_text(st, 8, r->json_sha256, sizeof r->json_sha256);
  r->json_bytes = sqlite3_column_int64(st, 9);
  col_text(st, 10, r->html_sha256, sizeof r->html_sha256);
  r->html_bytes = sqlite3_column_int64(st, 11);
  col_text(st, 12, r->corrupt, sizeof r->corrupt);
  return col_json(st, 6, &r->summary_json);
}

/* Per-type adapters from sq_walk to the caller's callback. A callback's non-zero return is
 * handed back as is. */
typedef struct user_walk {
  co_user_fn fn;
  void *ctx;
} user_walk;
static cohort_status user_row(sqlite3_stmt *st, void *walk) {
  user_walk *w = walk;
  co_user u;
  read_user(st, &u);
  return (cohort_status)w->fn(w->ctx, &u);
}

typedef struct member_walk {
  co_member_fn fn;
  void *ctx;
} member_walk;
static cohort_status member_row(sqlite3_stmt *st, void *walk) {
  member_walk *w = walk;
  co_member m;
  read_member(st, &m);
  return (cohort_status)w->fn(w->ctx, &m);
}

typedef struct token_walk {
  co_token_fn fn;
  void *ctx;
} token_walk;
static cohort_status token_row(sqlite3_stmt *st, void *walk) {
  token_walk *w = walk;
  co_token t;
  read_token(st, &t);
  return (cohort_status)w->fn(w->ctx, &t);
}

typedef struct dataset_walk {
  co_dataset_fn fn;
  void *ctx;
} dataset_walk;
static cohort_status dataset_row(sqlite3_stmt *st, void *walk) {
  dataset_walk *w = walk;
  co_dataset d;
  cohort_status rc = read_dataset(st, &d);
  if (rc == COHORT_OK)
    rc = (cohort_status)w->fn(w->ctx, &d);
  co_dataset_clear(&d);
  return rc;
}

typedef struct trainee_walk {
  co_trainee_fn fn;
  void *ctx;
} trainee_walk;
static cohort_status trainee_row(sqlite3_stmt *st, void *walk) {
  trainee_walk *w = walk;
  co_trainee t;
  cohort_status rc = read_trainee(st, &t);
  if (rc == COHORT_OK)
    rc = (cohort_status)w->fn(w->ctx, &t);
  co_trainee_clear(&t);
  return rc;
}

typedef struct job_walk {
  co_job_fn fn;
  void *ctx;
} job_walk;
static cohort_status job_row(sqlite3_stmt *st, void *walk) {
  job_walk *w = walk;
  co_job j;
  cohort_status rc = read_job(st, &j);
  if (rc == COHORT_OK)
    rc = (cohort_status)w->fn(w->ctx, &j);
  co_job_clear(&j);
  return rc;
}

typedef struct report_walk {
  co_report_fn fn;
  void *ctx;
} report_walk;
static cohort_status report_row(sqlite3_stmt *st, void *walk) {
  report_walk *w = walk;
  co_report r;
  cohort_status rc = read_report(st, &r);
  if (rc == COHORT_OK)
    rc = (cohort_status)w->fn(w->ctx, &r);
  co_report_clear(&r);
  return rc;
}

/* ---------------------------------------------------------------- users */

static cohort_status sq_user_create(co_store *cs, const co_user *u) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "user_create", &code, "INSERT INTO users(" USER_COLS ") VALUES (?, ?, ?, ?, ?)", "sssil",
              u->id, u->name, u->pwhash, u->is_admin != 0, u->created_ms);
  if (code == SQLITE_CONSTRAINT_UNIQUE)
    rc = co_error(COHORT_ESTATE, "user name '%s' is taken", u->name);
  else if (code == SQLITE_CONSTRAINT_PRIMARYKEY)
    rc = co_error(COHORT_ESTATE, "user id '%s' is taken", u->id);
  sq_unlock(s);
  return rc;
}

static cohort_status user_select(sq_store *s, const char *sql, const char *key, const char *thing,
                                 co_user *out) {
  return sq_query_one(s, "user_get", thing, key, read_user, out, sql, "s", key);
}

static cohort_status sq_user_get(co_store *cs, const char *id, co_user *out) {
  return user_select(sq(cs), "SELECT " USER_COLS " FROM users WHERE id = ?", id, "user", out);
}

static cohort_status sq_user_by_name(co_store *cs, const char *name, co_user *out) {
  /* ASCII case folded, as PostgreSQL's lower() under the C collation does; an exact match first. */
  return user_select(sq(cs),
                     "SELECT " USER_COLS " FROM users WHERE lower(name) = lower(?1) ORDER BY name = ?1 DESC, "
                     "created_ms LIMIT 1",
                     name, "user name", out);
}

static cohort_status sq_user_set_password(co_store *cs, const char *id, const char *pwhash) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "user_set_password", NULL, "UPDATE users SET pwhash = ? WHERE id = ?", "ss", pwhash, id);
  rc = sq_changed(s, rc, "user", id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_user_list(co_store *cs, co_user_fn fn, void *ctx) {
  sq_store *s = sq(cs);
  user_walk w = {fn, ctx};
  return sq_query(s, "user_list", user_row, &w, "SELECT " USER_COLS " FROM users ORDER BY name", "");
}

static cohort_status sq_user_count(co_store *cs, int64_t *out) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  cohort_status rc;
  sq_lock(s);
  rc = sq_prepare(s, &st, "user_count", "SELECT COUNT(*) FROM users", "");
  if (rc == COHORT_OK)
    rc = sq_row(s, st, "user_count", "users", "");
  if (rc == COHORT_OK)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- workspaces and members */

static cohort_status sq_workspace_create(co_store *cs, const co_workspace *w) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "workspace_create", &code, "INSERT INTO workspaces(" WORKSPACE_COLS ") VALUES (?, ?, ?)",
              "ssl", w->id, w->name, w->created_ms);
  if (sq_is_unique(code))
    rc = co_error(COHORT_ESTATE, "workspace id '%s' is taken", w->id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_workspace_get(co_store *cs, const char *id, co_workspace *out) {
  sq_store *s = sq(cs);
  return sq_query_one(s, "workspace_get", "workspace", id, read_workspace, out,
                      "SELECT " WORKSPACE_COLS " FROM workspaces WHERE id = ?", "s", id);
}

static cohort_status sq_workspace_delete(co_store *cs, const char *id) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  /* Members go with it: ON DELETE CASCADE (foreign_keys is on). */
  rc = sq_run(s, "workspace_delete", NULL, "DELETE FROM workspaces WHERE id = ?", "s", id);
  rc = sq_changed(s, rc, "workspace", id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_member_set(co_store *cs, const char *workspace_id, const char *user_id,
                                   co_role role) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  if ((int)role < CO_ROLE_NONE || (int)role > CO_ROLE_OWNER)
    return co_error(COHORT_EINVAL, "role %d is not a role", (int)role);
  sq_lock(s);
  if (role == CO_ROLE_NONE) {
    rc = sq_run(s, "member_set", NULL, "DELETE FROM members WHERE workspace_id = ? AND user_id = ?", "ss",
                workspace_id, user_id);
    if (rc == COHORT_OK && sqlite3_changes(s->db) == 0)
      rc = co_error(COHORT_ENOTFOUND, "user '%s' is not a member of workspace '%s'", user_id, workspace_id);
    goto out;
  }
  rc = sq_run(s, "member_set", &code,
              "INSERT INTO members(workspace_id, user_id, role) VALUES (?, ?, ?)"
              " ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
              "ssi", workspace_id, user_id, (int)role);
  if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
    rc = sq_missing_parent(s, "member_set", workspace_id, user_id);
out:
  sq_unlock(s);
  return rc;
}

static cohort_status sq_member_get(co_store *cs, const char *workspace_id, const char *user_id,
                                   co_member *out) {
  sq_store *s = sq(cs);
  cohort_status rc =
      sq_query_one(s, "member_get", "member", user_id, read_member, out,
                   MEMBER_SELECT " WHERE m.workspace_id = ? AND m.user_id = ?", "ss", workspace_id, user_id);
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "user '%s' is not a member of workspace '%s'", user_id, workspace_id);
  return rc;
}

static cohort_status member_list(sq_store *s, const char *sql, const char *key, co_member_fn fn, void *ctx) {
  member_walk w = {fn, ctx};
  return sq_query(s, "member_list", member_row, &w, sql, "s", key);
}

static cohort_status sq_member_list_workspace(co_store *cs, const char *workspace_id, co_member_fn fn,
                                              void *ctx) {
  return member_list(sq(cs), MEMBER_SELECT " WHERE m.workspace_id = ? ORDER BY u.name", workspace_id, fn,
                     ctx);
}

static cohort_status sq_member_list_user(co_store *cs, const char *user_id, co_member_fn fn, void *ctx) {
  return member_list(sq(cs), MEMBER_SELECT " WHERE m.user_id = ? ORDER BY w.name, w.id", user_id, fn, ctx);
}

/* ---------------------------------------------------------------- tokens */

static cohort_status sq_token_create(co_store *cs, const co_token *t) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "token_create", &code, "INSERT INTO tokens(" TOKEN_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)",
              "sssslll", t->id, t->user_id, t->name, t->hash, t->created_ms, t->expires_ms, t->last_used_ms);
  if (code == SQLITE_CONSTRAINT_UNIQUE)
    rc = co_error(COHORT_ESTATE, "token hash is taken");
  else if (code == SQLITE_CONSTRAINT_PRIMARYKEY)
    rc = co_error(COHORT_ESTATE, "token id '%s' is taken", t->id);
  else if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
    rc = sq_missing_parent(s, "token_create", NULL, t->user_id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_token_by_hash(co_store *cs, const char *hash, co_token *out) {
  sq_store *s = sq(cs);
  cohort_status rc = sq_query_one(s, "token_by_hash", "token", "", read_token, out,
                                  "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?", "s", hash);
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "token not found"); /* the hash stays out of messages and logs */
  return rc;
}

static cohort_status sq_token_touch(co_store *cs, const char *id, int64_t now_ms) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "token_touch", NULL, "UPDATE tokens SET last_used_ms = ? WHERE id = ?", "ls", now_ms, id);
  rc = sq_changed(s, rc, "token", id);
  sq_unlock(s);
  return rc;
}

/* user_id NULL lists every user's tokens. */
static cohort_status sq_token_list(co_store *cs, const char *user_id, co_token_fn fn, void *ctx) {
  sq_store *s = sq(cs);
  token_walk w = {fn, ctx};
  char sql[256] = "SELECT " TOKEN_COLS " FROM tokens";
  int nconds = 0;
  if (user_id)
    sq_where(sql, sizeof sql, &nconds, "user_id = ?1");
  sq_append(sql, sizeof sql, " ORDER BY created_ms, id LIMIT ?2");
  return sq_query(s, "token_list", token_row, &w, sql, "ni", user_id, -1);
}

/* user_id NULL deletes whoever's token it is; otherwise a token of someone else is not found. */
static cohort_status sq_token_delete(co_store *cs, const char *user_id, const char *id) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "token_delete", NULL, "DELETE FROM tokens WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
              "sn", id, user_id);
  rc = sq_changed(s, rc, "token", id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_user_revoke(co_store *cs, const char *user_id, const char *keep_session_hash,
                                    int tokens, int64_t *sessions, int64_t *ntokens) {
  sq_store *s = sq(cs);
  int64_t ns = 0, nt = 0;
  cohort_status rc;
  sq_lock(s);
  rc = sq_begin(s, "user_revoke");
  if (rc != COHORT_OK)
    goto unlock;
  rc =
      sq_run(s, "user_revoke", NULL, "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR hash <> ?2)",
             "sn", user_id, keep_session_hash);
  if (rc == COHORT_OK)
    ns = sqlite3_changes(s->db);
  if (rc == COHORT_OK && tokens) {
    rc = sq_run(s, "user_revoke", NULL, "DELETE FROM tokens WHERE user_id = ?", "s", user_id);
    if (rc == COHORT_OK)
      nt = sqlite3_changes(s->db);
  }
  rc = sq_end(s, "user_revoke", rc);
  if (rc == COHORT_OK) {
    if (sessions)
      *sessions = ns;
    if (ntokens)
      *ntokens = nt;
  }
unlock:
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- sign-in backoff */

/* The failure count after this one (?2 free_failures, ?3 max_ms, ?4 now_ms; bare columns are the
 * stored row): a key quiet for longer than max_ms starts again from 1. */
#define SQ_LOGIN_FAILS "(CASE WHEN ?4 - until_ms > ?3 THEN 1 ELSE failures + 1 END)"
enum { LOGIN_PURGE_ROWS = 32 }; /* stale rows deleted per failure, at most */

static cohort_status sq_login_fail(co_store *cs, const char *key, int free_failures, int64_t max_ms,
                                   int64_t now_ms, int64_t *until_ms) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  cohort_status rc;
  sq_lock(s);
  if ((rc = sq_begin(s, "login_fail")) != COHORT_OK)
    goto unlock;
  rc = sq_run(s, "login_fail", NULL,
              "DELETE FROM login_backoff WHERE key IN (SELECT key FROM login_backoff WHERE until_ms < ?"
              " ORDER BY until_ms LIMIT ?)",
              "li", now_ms - max_ms, (int)LOGIN_PURGE_ROWS);
  /* The block doubles from 1 s per failure past the free ones (the shift is capped before it
   * could overflow) and never shortens one already running. */
  if (rc == COHORT_OK)
    rc = sq_prepare(s, &st, "login_fail",
                    "INSERT INTO login_backoff(key, failures, until_ms)"
                    " VALUES (?1, 1, ?4 + CASE WHEN 1 > ?2 THEN min(?3, 1000) ELSE 0 END)"
                    " ON CONFLICT(key) DO UPDATE SET failures = " SQ_LOGIN_FAILS ","
                    " until_ms = max(until_ms, ?4 + CASE WHEN " SQ_LOGIN_FAILS " > ?2"
                    "   THEN min(?3, 1000 << min(" SQ_LOGIN_FAILS " - ?2 - 1, 30)) ELSE 0 END)"
                    " RETURNING until_ms",
                    "sill", key, free_failures, max_ms, now_ms);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, "login_fail", "login key", key);
  if (rc == COHORT_OK && until_ms)
    *until_ms = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  rc = sq_end(s, "login_fail", rc);
unlock:
  sq_unlock(s);
  return rc;
}

static cohort_status read_left(sqlite3_stmt *st, void *out) {
  *(int64_t *)out = sqlite3_column_int64(st, 0);
  return COHORT_OK;
}

static cohort_status sq_login_blocked(co_store *cs, const char *key, int64_t now_ms, int64_t *left_ms) {
  *left_ms = 0;
  cohort_status rc = sq_query_one(sq(cs), "login_blocked", "login key", key, read_left, left_ms,
                                  "SELECT until_ms - ?2 FROM login_backoff WHERE key = ?1 AND until_ms > ?2",
                                  "sl", key, now_ms);
  return rc == COHORT_ENOTFOUND ? COHORT_OK : rc;
}

static cohort_status sq_login_clear(co_store *cs, const char *key) {
  sq_store *s = sq(cs);
  sq_lock(s);
  cohort_status rc = sq_run(s, "login_clear", NULL, "DELETE FROM login_backoff WHERE key = ?", "s", key);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- sessions */

static cohort_status sq_session_create(co_store *cs, const co_session *se) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "session_create", &code, "INSERT INTO sessions(" SESSION_COLS ") VALUES (?, ?, ?, ?, ?)",
              "sssll", se->hash, se->user_id, se->csrf, se->created_ms, se->expires_ms);
  if (sq_is_unique(code))
    rc = co_error(COHORT_ESTATE, "session hash is taken");
  else if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
    rc = sq_missing_parent(s, "session_create", NULL, se->user_id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_session_get(co_store *cs, const char *hash, co_session *out) {
  cohort_status rc = sq_query_one(sq(cs), "session_get", "session", "", read_session, out,
                                  "SELECT " SESSION_COLS " FROM sessions WHERE hash = ? AND expires_ms > ?",
                                  "sl", hash, co_now_ms());
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "session not found or expired");
  return rc;
}

static cohort_status sq_session_delete(co_store *cs, const char *hash) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "session_delete", NULL, "DELETE FROM sessions WHERE hash = ?", "s", hash);
  if (rc == COHORT_OK && sqlite3_changes(s->db) == 0)
    rc = co_error(COHORT_ENOTFOUND, "session not found");
  sq_unlock(s);
  return rc;
}

static cohort_status sq_session_purge(co_store *cs, int64_t now_ms) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "session_purge", NULL, "DELETE FROM sessions WHERE expires_ms <= ?", "l", now_ms);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- datasets */

static cohort_status sq_dataset_create(co_store *cs, const co_dataset *d) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "dataset_create", &code,
              "INSERT INTO datasets(" DATASET_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              "sssslllnlss", d->id, d->workspace_id, d->name, d->blob, d->bytes, d->rows, d->columns,
              d->schema_json, d->created_ms, d->sha256, d->corrupt);
  if (sq_is_unique(code))
    rc = co_error(COHORT_ESTATE, "dataset id '%s' is taken", d->id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_dataset_get(co_store *cs, const char *id, co_dataset *out) {
  sq_store *s = sq(cs);
  co_dataset d; /* out is written only on success */
  cohort_status rc = sq_query_one(s, "dataset_get", "dataset", id, read_dataset, &d,
                                  "SELECT " DATASET_COLS " FROM datasets WHERE id = ?", "s", id);
  if (rc == COHORT_OK)
    *out = d;
  return rc;
}

/* workspace_id NULL lists every workspace's. Newest first, as the UI shows them. */
static cohort_status sq_dataset_list(co_store *cs, const char *workspace_id, co_dataset_fn fn, void *ctx) {
  sq_store *s = sq(cs);
  dataset_walk w = {fn, ctx};
  char sql[512] = "SELECT " DATASET_COLS " FROM datasets";
  int nconds = 0;
  if (workspace_id)
    sq_where(sql, sizeof sql, &nconds, "workspace_id = ?1");
  sq_append(sql, sizeof sql, " ORDER BY created_ms DESC, id DESC LIMIT ?2");
  return sq_query(s, "dataset_list", dataset_row, &w, sql, "ni", workspace_id, -1);
}

static cohort_status sq_dataset_delete(co_store *cs, const char *id) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  if ((rc = sq_begin(s, "dataset_delete")) != COHORT_OK)
    goto unlock;
  rc = sq_run(s, "dataset_delete", NULL, "DELETE FROM datasets WHERE id = ?", "s", id);
  rc = sq_changed(s, rc, "dataset", id);
  if (rc == COHORT_OK) /* the trainees made from it keep their own rows */
    rc = sq_run(s, "dataset_delete", NULL, "UPDATE trainees SET dataset_id = '' WHERE dataset_id = ?", "s",
                id);
  rc = sq_end(s, "dataset_delete", rc);
unlock:
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- trainees */

static cohort_status sq_trainee_create(co_store *cs, const co_trainee *t) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "trainee_create", &code,
              "INSERT INTO trainees(" TRAINEE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              "sssslsnllssl", t->id, t->workspace_id, t->name, t->dataset_id, t->version, t->blob,
              t->info_json, t->created_ms, t->updated_ms, t->blob_sha256, t->corrupt, t->blob_bytes);
  if (sq_is_unique(code))
    rc = co_error(COHORT_ESTATE, "trainee id '%s' is taken", t->id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_trainee_get(co_store *cs, const char *id, co_trainee *out) {
  sq_store *s = sq(cs);
  co_trainee t; /* out is written only on success */
  cohort_status rc = sq_query_one(s, "trainee_get", "trainee", id, read_trainee, &t,
                                  "SELECT " TRAINEE_COLS " FROM trainees WHERE id = ?", "s", id);
  if (rc == COHORT_OK)
    *out = t;
  return rc;
}

static cohort_status sq_trainee_list(co_store *cs, const char *workspace_id, co_trainee_fn fn, void *ctx) {
  sq_store *s = sq(cs);
  trainee_walk w = {fn, ctx};
  char sql[512] = "SELECT " TRAINEE_COLS " FROM trainees";
  int nconds = 0;
  if (workspace_id)
    sq_where(sql, sizeof sql, &nconds, "workspace_id = ?1");
  sq_append(sql, sizeof sql, " ORDER BY created_ms DESC, id DESC LIMIT ?2");
  return sq_query(s, "trainee_list", trainee_row, &w, sql, "ni", workspace_id, -1);
}

static cohort_status sq_trainee_commit(co_store *cs, const char *id, int64_t expect_version,
                                       int64_t new_version, const char *blob, const char *blob_sha256,
                                       int64_t blob_bytes, const char *info_json, const co_fence *fence,
                                       int64_t now_ms) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  int64_t version;
  cohort_status rc;
  /* Versions only move forward, so a stale writer can never match again by accident. */
  if (new_version <= expect_version)
    return co_error(COHORT_EINVAL, "trainee '%s': new version %lld must be greater than %lld", id,
                    (long long)new_version, (long long)expect_version);
  sq_lock(s);
  rc = sq_begin(s, "trainee_commit");
  if (rc != COHORT_OK)
    goto unlock;
  rc = sq_prepare(s, &st, "trainee_commit", "SELECT version FROM trainees WHERE id = ?", "s", id);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, "trainee_commit", "trainee", id);
  if (rc != COHORT_OK)
    goto out;
  version = sqlite3_column_int64(st, 0);
  if (version != expect_version) {
    rc = co_error(COHORT_ESTATE, "trainee '%s' changed: version is %lld, expected %lld", id,
                  (long long)version, (long long)expect_version);
    goto out;
  }
  if (fence) {
    int held = 0;
    sqlite3_finalize(st);
    st = NULL;
    rc = sq_prepare(s, &st, "trainee_commit",
                    "SELECT 1 FROM jobs WHERE id = ? AND owner = ? AND attempts = ? AND state = 1", "ssi",
                    fence->job_id, fence->owner, fence->attempt);
    if (rc == COHORT_OK && (rc = sq_row(s, st, "trainee_commit", "job", fence->job_id)) == COHORT_OK)
      held = 1;
    if (rc == COHORT_ENOTFOUND || (rc == COHORT_OK && !held))
      rc = co_error(COHORT_ESTATE, "job '%s' attempt %d no longer holds its lease: a newer attempt took over",
                    fence->job_id, fence->attempt);
    if (rc != COHORT_OK)
      goto out;
  }
  rc = sq_run(s, "trainee_commit", NULL,
              "UPDATE trainees SET version = ?, blob_key = ?, info_json = ?, updated_ms = ?, blob_sha256 = ?,"
              " blob_bytes = ?, corrupt = '' WHERE id = ?",
              "lsnlsls", new_version, blob, info_json, now_ms, blob_sha256, blob_bytes, id);
out:
  sqlite3_finalize(st);
  rc = sq_end(s, "trainee_commit", rc);
unlock:
  sq_unlock(s);
  return rc;
}

static cohort_status sq_trainee_delete(co_store *cs, const char *id) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "trainee_delete", NULL, "DELETE FROM trainees WHERE id = ?", "s", id);
  rc = sq_changed(s, rc, "trainee", id);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- object checks */

static cohort_status sq_mark_corrupt(co_store *cs, const char *kind, const char *id, const char *blob,
                                     const char *reason, int *changed) {
  sq_store *s = sq(cs);
  const char *col, *table = co_store_object_table(kind, &col);
  char sql[256];
  cohort_status rc;
  if (changed)
    *changed = 0;
  if (!table)
    return co_error(COHORT_EINVAL, "store mark_corrupt: kind '%s' is not dataset, trainee or report",
                    kind ? kind : "");
  /* Only a move between clean and corrupt counts (and is written): a second failed read of the
   * same object is not a new finding. */
  snprintf(sql, sizeof sql, "UPDATE %s SET corrupt = ?1 WHERE id = ?2 AND %s AND (corrupt = '') <> (?1 = '')",
           table, col ? "blob_key = ?3" : "(json_blob = ?3 OR html_blob = ?3)");
  sq_lock(s);
  rc = sq_run(s, "mark_corrupt", NULL, sql, "sss", reason ? reason : "", id, blob);
  if (rc == COHORT_OK && changed)
    *changed = sqlite3_changes(s->db) > 0;
  sq_unlock(s);
  return rc;
}

static cohort_status sq_set_checksum(co_store *cs, const char *kind, const char *id, const char *blob,
                                     const char *sha256, int64_t bytes) {
  sq_store *s = sq(cs);
  const char *col, *table = co_store_object_table(kind, &col);
  char sql[512];
  cohort_status rc;
  if (!table)
    return co_error(COHORT_EINVAL, "store set_checksum: kind '%s' is not dataset, trainee or report",
                    kind ? kind : "");
  if (!col) /* a report: whichever of its two objects blob is */
    snprintf(sql, sizeof sql, "%s",
             "UPDATE reports SET"
             " json_sha256 = CASE WHEN json_blob = ?3 AND json_sha256 = '' THEN ?1 ELSE json_sha256 END,"
             " json_bytes = CASE WHEN json_blob = ?3 AND json_sha256 = '' THEN ?4 ELSE json_bytes END,"
             " html_sha256 = CASE WHEN html_blob = ?3 AND html_sha256 = '' THEN ?1 ELSE html_sha256 END,"
             " html_bytes = CASE WHEN html_blob = ?3 AND html_sha256 = '' THEN ?4 ELSE html_bytes END"
             " WHERE id = ?2");
  else
    snprintf(sql, sizeof sql, "UPDATE %s SET %s = ?1, %s = ?4 WHERE id = ?2 AND blob_key = ?3 AND %s = ''",
             table, col, strcmp(table, "datasets") == 0 ? "bytes" : "blob_bytes", col);
  sq_lock(s);
  rc = sq_run(s, "set_checksum", NULL, sql, "sssl", sha256, id, blob, bytes);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- jobs */

/* Reads job id into *out; the caller holds the lock. */
static cohort_status job_load(sq_store *s, const char *what, const char *id, co_job *out) {
  sqlite3_stmt *st = NULL;
  co_job j;
  cohort_status rc = sq_prepare(s, &st, what, "SELECT " JOB_COLS " FROM jobs WHERE id = ?", "s", id);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, what, "job", id);
  if (rc == COHORT_OK)
    rc = read_job(st, &j);
  if (rc == COHORT_OK)
    *out = j;
  sqlite3_finalize(st);
  return rc;
}

/* Why an update guarded by "this attempt holds it and it is running" changed nothing. */
static cohort_status job_not_held(sq_store *s, const char *what, const co_fence *f) {
  sqlite3_stmt *st = NULL;
  cohort_status rc =
      sq_prepare(s, &st, what, "SELECT state, owner, attempts FROM jobs WHERE id = ?", "s", f->job_id);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, what, "job", f->job_id);
  if (rc == COHORT_OK) {
    const unsigned char *holder = sqlite3_column_text(st, 1);
    rc = co_error(COHORT_ESTATE, "job '%s' is not held by '%s' attempt %d (it is %s, owner '%s' attempt %d)",
                  f->job_id, f->owner ? f->owner : "", f->attempt,
                  co_job_state_name((co_job_state)sqlite3_column_int(st, 0)),
                  holder ? (const char *)holder : "", sqlite3_column_int(st, 2));
  }
  sqlite3_finalize(st);
  return rc;
}

static cohort_status sq_job_create(co_store *cs, const co_job *j) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  if (j->state != CO_JOB_QUEUED)
    return co_error(COHORT_EINVAL, "job '%s': a new job must be queued, not %s", j->id,
                    co_job_state_name(j->state));
  /* Only what a new job has: progress, lease and the rest start from the schema's defaults. */
  sq_lock(s);
  rc = sq_run(s, "job_create", &code,
              "INSERT INTO jobs(id, workspace_id, trainee_id, kind, state, params_json, created_ms)"
              " VALUES (?, ?, ?, ?, 0, ?, ?)",
              "ssssnl", j->id, j->workspace_id, j->trainee_id, j->kind, j->params_json, j->created_ms);
  if (sq_is_unique(code))
    rc = co_error(COHORT_ESTATE, "job id '%s' is taken", j->id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_get(co_store *cs, const char *id, co_job *out) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = job_load(s, "job_get", id, out);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_list(co_store *cs, const co_job_filter *f, co_job_fn fn, void *ctx) {
  static const co_job_filter any = {NULL, NULL, -1, 0};
  sq_store *s = sq(cs);
  job_walk w = {fn, ctx};
  char sql[768] = "SELECT " JOB_COLS " FROM jobs";
  int nconds = 0;
  if (!f)
    f = &any;
  /* Only the conditions asked for, so SQLite can pick the matching index. */
  if (f->workspace_id)
    sq_where(sql, sizeof sql, &nconds, "workspace_id = ?1");
  if (f->trainee_id)
    sq_where(sql, sizeof sql, &nconds, "trainee_id = ?2");
  if (f->state >= 0)
    sq_where(sql, sizeof sql, &nconds, "state = ?3");
  sq_append(sql, sizeof sql, " ORDER BY created_ms DESC, id DESC LIMIT ?4");
  return sq_query(s, "job_list", job_row, &w, sql, "nnii", f->workspace_id, f->trainee_id, f->state,
                  f->limit > 0 ? f->limit : -1);
}

static cohort_status sq_job_claim(co_store *cs, const char *owner, int64_t now_ms, int64_t lease_ms,
                                  int max_attempts, const char *only_id, co_job *out) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  char id[CO_ID_MAX];
  co_job j;
  int loaded = 0;
  cohort_status rc;
  if (!owner || !*owner || lease_ms <= 0 || now_ms > INT64_MAX - lease_ms || max_attempts < 1)
    return co_error(COHORT_EINVAL, "job_claim: needs an owner, a positive lease and at least one attempt");
  sq_lock(s);
  rc = sq_begin(s, "job_claim");
  if (rc != COHORT_OK)
    goto unlock;
  /* Jobs whose worker stopped max_attempts times are not run again: they may be what stops it. */
  rc = sq_run(
      s, "job_claim", NULL,
      "UPDATE jobs SET state = 3, finished_ms = ?1,"
      " error = 'gave up after ' || attempts || ' attempts: each one''s worker stopped before it finished'"
      " WHERE state = 1 AND lease_until_ms < ?1 AND attempts >= ?2",
      "li", now_ms, max_attempts);
  if (rc != COHORT_OK)
    goto out;
  /* A lease has ended when lease_until_ms < now_ms ("ended before now_ms") and is live otherwise,
   * so a lease ending exactly at now_ms still blocks its trainee: two writers never overlap. */
  rc = sq_prepare(s, &st, "job_claim",
                  "SELECT j.id FROM jobs j"
                  " WHERE (j.state = 0 OR (j.state = 1 AND j.lease_until_ms < ?1))"
                  "   AND (j.trainee_id = '' OR NOT EXISTS (SELECT 1 FROM jobs r"
                  "        WHERE r.trainee_id = j.trainee_id AND r.id <> j.id"
                  "          AND r.state = 1 AND r.lease_until_ms >= ?1))"
                  "   AND (?2 IS NULL OR j.id = ?2)"
                  " ORDER BY j.created_ms, j.id LIMIT 1",
                  "ln", now_ms, only_id);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, "job_claim", "job", "");
  if (rc == COHORT_ENOTFOUND)
    rc = co_error(COHORT_ENOTFOUND, "no runnable job");
  if (rc != COHORT_OK)
    goto out;
  col_text(st, 0, id, sizeof id);
  /* A new attempt starts over; cancel_requested is kept so a reclaimed job still stops. */
  rc = sq_run(
      s, "job_claim", NULL,
      "UPDATE jobs SET state = 1, owner = ?, lease_until_ms = ?, started_ms = ?, attempts = attempts + 1,"
      " progress = 0, stage = '' WHERE id = ?",
      "slls", owner, now_ms + lease_ms, now_ms, id);
  if (rc == COHORT_OK && (rc = job_load(s, "job_claim", id, &j)) == COHORT_OK)
    loaded = 1;
out:
  sqlite3_finalize(st);
  if (rc == COHORT_ENOTFOUND) { /* nothing to run, but jobs given up on stay given up */
    if ((rc = sq_end(s, "job_claim", COHORT_OK)) == COHORT_OK)
      rc = co_error(COHORT_ENOTFOUND, "no runnable job");
  } else
    rc = sq_end(s, "job_claim", rc);
  if (rc == COHORT_OK)
    *out = j;
  else if (loaded)
    co_job_clear(&j); /* read back, then the commit failed */
unlock:
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_progress(co_store *cs, const co_fence *f, double progress, const char *stage,
                                     int64_t lease_until_ms) {
  sq_store *s = sq(cs);
  cohort_status rc;
  if (!f || !f->job_id || !f->owner)
    return co_error(COHORT_EINVAL, "store job_progress: no fence");
  sq_lock(s);
  rc = sq_run(s, "job_progress", NULL,
              "UPDATE jobs SET progress = ?, stage = ?, lease_until_ms = ?"
              " WHERE id = ? AND owner = ? AND attempts = ? AND state = 1",
              "dslssi", progress, stage, lease_until_ms, f->job_id, f->owner, f->attempt);
  if (rc == COHORT_OK && sqlite3_changes(s->db) == 0)
    rc = job_not_held(s, "job_progress", f);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_finish(co_store *cs, const co_fence *f, co_job_state state,
                                   const char *result_json, const char *error, int64_t now_ms) {
  sq_store *s = sq(cs);
  cohort_status rc;
  if (!f || !f->job_id || !f->owner)
    return co_error(COHORT_EINVAL, "store job_finish: no fence");
  if (state != CO_JOB_SUCCEEDED && state != CO_JOB_FAILED && state != CO_JOB_CANCELLED)
    return co_error(COHORT_EINVAL, "job '%s': %s is not a final state", f->job_id, co_job_state_name(state));
  sq_lock(s);
  rc = sq_run(s, "job_finish", NULL,
              "UPDATE jobs SET state = ?1, result_json = ?2, error = ?3, finished_ms = ?4,"
              " progress = CASE WHEN ?1 = 2 THEN 1.0 ELSE progress END"
              " WHERE id = ?5 AND owner = ?6 AND attempts = ?7 AND state = 1",
              "inslssi", (int)state, result_json, error, now_ms, f->job_id, f->owner, f->attempt);
  if (rc == COHORT_OK && sqlite3_changes(s->db) == 0)
    rc = job_not_held(s, "job_finish", f);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_cancel(co_store *cs, const char *id, int64_t now_ms) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  co_job_state state;
  cohort_status rc;
  sq_lock(s);
  rc = sq_begin(s, "job_cancel");
  if (rc != COHORT_OK)
    goto unlock;
  rc = sq_prepare(s, &st, "job_cancel", "SELECT state FROM jobs WHERE id = ?", "s", id);
  if (rc == COHORT_OK)
    rc = sq_row(s, st, "job_cancel", "job", id);
  if (rc != COHORT_OK)
    goto out;
  state = (co_job_state)sqlite3_column_int(st, 0);
  if (state == CO_JOB_QUEUED)
    rc = sq_run(s, "job_cancel", NULL, "UPDATE jobs SET state = 4, finished_ms = ? WHERE id = ?", "ls",
                now_ms, id);
  else if (state == CO_JOB_RUNNING)
    rc = sq_run(s, "job_cancel", NULL, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", "s", id);
  else
    rc = co_error(COHORT_ESTATE, "job '%s' already finished", id);
out:
  sqlite3_finalize(st);
  rc = sq_end(s, "job_cancel", rc);
unlock:
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_requeue_owner(co_store *cs, const char *owner, int64_t *n) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "job_requeue_owner", NULL,
              "UPDATE jobs SET state = 0, owner = '', lease_until_ms = 0 WHERE state = 1 AND owner = ?", "s",
              owner);
  if (rc == COHORT_OK && n)
    *n = sqlite3_changes(s->db);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_job_counts(co_store *cs, int64_t out[5]) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  int64_t counts[5] = {0};
  int src;
  cohort_status rc;
  sq_lock(s);
  rc = sq_prepare(s, &st, "job_counts", "SELECT state, COUNT(*) FROM jobs GROUP BY state", "");
  if (rc != COHORT_OK)
    goto out;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    int state = sqlite3_column_int(st, 0);
    if (state >= 0 && state < 5)
      counts[state] = sqlite3_column_int64(st, 1);
  }
  if (src != SQLITE_DONE)
    rc = sq_fail(s, "job_counts");
  else
    memcpy(out, counts, sizeof counts);
out:
  sqlite3_finalize(st);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- reports */

static cohort_status sq_report_create(co_store *cs, const co_report *r) {
  sq_store *s = sq(cs);
  int code;
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "report_create", &code,
              "INSERT INTO reports(" REPORT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              "ssssssnlslsls", r->id, r->workspace_id, r->trainee_id, r->job_id, r->json_blob, r->html_blob,
              r->summary_json, r->created_ms, r->json_sha256, r->json_bytes, r->html_sha256, r->html_bytes,
              r->corrupt);
  if (sq_is_unique(code))
    rc = co_error(COHORT_ESTATE, "report id '%s' is taken", r->id);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_report_get(co_store *cs, const char *id, co_report *out) {
  sq_store *s = sq(cs);
  co_report r; /* out is written only on success */
  cohort_status rc = sq_query_one(s, "report_get", "report", id, read_report, &r,
                                  "SELECT " REPORT_COLS " FROM reports WHERE id = ?", "s", id);
  if (rc == COHORT_OK)
    *out = r;
  return rc;
}

/* workspace_id and trainee_id: NULL = any. */
static cohort_status sq_report_list(co_store *cs, const char *workspace_id, const char *trainee_id,
                                    co_report_fn fn, void *ctx) {
  sq_store *s = sq(cs);
  report_walk w = {fn, ctx};
  char sql[512] = "SELECT " REPORT_COLS " FROM reports";
  int nconds = 0;
  if (workspace_id)
    sq_where(sql, sizeof sql, &nconds, "workspace_id = ?1");
  if (trainee_id)
    sq_where(sql, sizeof sql, &nconds, "trainee_id = ?2");
  sq_append(sql, sizeof sql, " ORDER BY created_ms DESC, id DESC LIMIT ?3");
  return sq_query(s, "report_list", report_row, &w, sql, "nni", workspace_id, trainee_id, -1);
}

static cohort_status sq_report_delete(co_store *cs, const char *id) {
  sq_store *s = sq(cs);
  cohort_status rc;
  sq_lock(s);
  rc = sq_run(s, "report_delete", NULL, "DELETE FROM reports WHERE id = ?", "s", id);
  rc = sq_changed(s, rc, "report", id);
  sq_unlock(s);
  return rc;
}

/* ---------------------------------------------------------------- open and close */

static void sq_close(co_store *cs) {
  sq_store *s = sq(cs);
  if (!s)
    return;
  for (int i = 0; i < s->ncache; i++) {
    sqlite3_finalize(s->cache[i].st);
    co_free(s->cache[i].sql);
  }
  sqlite3_close_v2(s->db); /* every other statement is finalized by the call that made it */
  co_free(s);
}

static cohort_status sq_bootstrap(co_store *cs, const co_user *admin, const co_workspace *ws, int *created) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  cohort_status rc;
  *created = 0;
  sq_lock(s);
  if ((rc = sq_begin(s, "bootstrap")) != COHORT_OK)
    goto unlock;
  rc = sq_prepare(s, &st, "bootstrap", "SELECT 1 FROM users LIMIT 1", "");
  if (rc == COHORT_OK && (rc = sq_row(s, st, "bootstrap", "users", "")) == COHORT_OK)
    goto out; /* bootstrapped already */
  if (rc != COHORT_ENOTFOUND)
    goto out;
  if ((rc = sq_run(s, "bootstrap", NULL, "INSERT INTO users(" USER_COLS ") VALUES (?, ?, ?, ?, ?)", "sssil",
                   admin->id, admin->name, admin->pwhash, admin->is_admin != 0, admin->created_ms)) !=
          COHORT_OK ||
      (rc = sq_run(s, "bootstrap", NULL, "INSERT INTO workspaces(" WORKSPACE_COLS ") VALUES (?, ?, ?)", "ssl",
                   ws->id, ws->name, ws->created_ms)) != COHORT_OK ||
      (rc = sq_run(s, "bootstrap", NULL, "INSERT INTO members(workspace_id, user_id, role) VALUES (?, ?, ?)",
                   "ssi", ws->id, admin->id, (int)CO_ROLE_OWNER)) != COHORT_OK)
    goto out;
  *created = 1;
out:
  sqlite3_finalize(st);
  rc = sq_end(s, "bootstrap", rc);
  if (rc != COHORT_OK)
    *created = 0;
unlock:
  sq_unlock(s);
  return rc;
}

static cohort_status sq_ping(co_store *cs) {
  sq_store *s = sq(cs);
  sqlite3_stmt *st = NULL;
  cohort_status rc;
  sq_lock(s);
  rc = sq_prepare(s, &st, "ping", "SELECT 1", "");
  if (rc == COHORT_OK)
    rc = sq_row(s, st, "ping", "ping", "");
  sqlite3_finalize(st);
  sq_unlock(s);
  return rc;
}

/* Runs PRAGMA quick_check or integrity_check; every line other than "ok" is a problem. Holds the
 * connection's mutex: the check is one read transaction, consistent with concurrent writers (WAL). */
static cohort_status sq_check(sq_store *s, int full, void (*fn)(void *ctx, const char *line), void *ctx,
                              int64_t *problems) {
  sqlite3_stmt *st = NULL;
  cohort_status rc;
  int src;
  *problems = 0;
  sq_lock(s);
  rc = sq_prepare(s, &st, "integrity_check", full ? "PRAGMA integrity_check(100)" : "PRAGMA quick_check(100)",
                  "");
  while (rc == COHORT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    const char *line = (const char *)sqlite3_column_text(st, 0);
    if (line && strcmp(line, "ok") == 0)
      continue;
    (*problems)++;
    if (fn)
      fn(ctx, line ? line : "(no text)");
  }
  if (rc == COHORT_OK && src != SQLITE_DONE)
    rc = sq_fail(s, "integrity_check");
  if (rc == COHORT_ECORRUPT) { /* so damaged that the check stopped: that is its finding */
    (*problems)++;
    if (fn)
      fn(ctx, sqlite3_errmsg(s->db));
    rc = COHORT_OK;
  }
  sqlite3_finalize(st);
  sq_unlock(s);
  return rc;
}

static cohort_status sq_integrity_check(co_store *cs, int full, void (*fn)(void *ctx, const char *line),
                                        void *ctx, int64_t *problems) {
  return sq_check(sq(cs), full, fn, ctx, problems);
}

static const co_store_ops sq_ops = {
    .version = CO_STORE_VERSION,
    .name = "sqlite",
    .close = sq_close,
    .user_create = sq_user_create,
    .user_get = sq_user_get,
    .user_by_name = sq_user_by_name,
    .user_set_password = sq_user_set_password,
    .user_list = sq_user_list,
    .user_count = sq_user_count,
    .workspace_create = sq_workspace_create,
    .workspace_get = sq_workspace_get,
    .workspace_delete = sq_workspace_delete,
    .member_set = sq_member_set,
    .member_get = sq_member_get,
    .member_list_workspace = sq_member_list_workspace,
    .member_list_user = sq_member_list_user,
    .token_create = sq_token_create,
    .token_by_hash = sq_token_by_hash,
    .token_touch = sq_token_touch,
    .token_list = sq_token_list,
    .token_delete = sq_token_delete,
    .session_create = sq_session_create,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .session_purge = sq_session_purge,
    .dataset_create = sq_dataset_create,
    .dataset_get = sq_dataset_get,
    .dataset_list = sq_dataset_list,
    .dataset_delete = sq_dataset_delete,
    .trainee_create = sq_trainee_create,
    .trainee_get = sq_trainee_get,
    .trainee_list = sq_trainee_list,
    .trainee_commit = sq_trainee_commit,
    .trainee_delete = sq_trainee_delete,
    .job_create = sq_job_create,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_claim = sq_job_claim,
    .job_progress = sq_job_progress,
    .job_finish = sq_job_finish,
    .job_cancel = sq_job_cancel,
    .job_requeue_owner = sq_job_requeue_owner,
    .job_counts = sq_job_counts,
    .report_create = sq_report_create,
    .report_get = sq_report_get,
    .report_list = sq_report_list,
    .report_delete = sq_report_delete,
    .bootstrap = sq_bootstrap,
    .ping = sq_ping,
    .user_revoke = sq_user_revoke,
    .mark_corrupt = sq_mark_corrupt,
    .set_checksum = sq_set_checksum,
    .integrity_check = sq_integrity_check,
    .login_fail = sq_login_fail,
    .login_blocked = sq_login_blocked,
    .login_clear = sq_login_clear,
};

/* Runs a PRAGMA and checks the value it reports back (SQLite ignores what it cannot do). */
static cohort_status sq_pragma(sq_store *s, const char *what, const char *sql, const char *want) {
  sqlite3_stmt *st = NULL;
  const unsigned char *got;
  cohort_status rc = sq_prepare(s, &st, what, sql, "");
  if (rc != COHORT_OK)
    goto out;
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = co_error(COHORT_EIO, "store %s: %s: %s", what, sql, sqlite3_errmsg(s->db));
    goto out;
  }
  got = sqlite3_column_text(st, 0);
  if (!got || strcasecmp((const char *)got, want) != 0)
    rc = co_error(COHORT_EIO, "store %s: %s gave '%s', not '%s'", what, sql, got ? (const char *)got : "",
                  want);
out:
  sqlite3_finalize(st);
  return rc;
}

/* Before the unique index on lower(name): user names that differ only in case (made before the
 * index, when two sign-ups raced past the API's check) would make it fail with SQLite's bare
 * "UNIQUE constraint failed". Renaming someone's sign-in name behind their back is not ours to
 * do, so the start is refused, naming them (at most a few), with what the operator does. */
static cohort_status sq_check_folded_names(sq_store *s, const char *what) {
  sqlite3_stmt *st = NULL;
  char list[600] = "";
  size_t n = 0;
  int found = 0;
  cohort_status rc = sq_prepare(s, &st, what,
                                "SELECT name, id FROM users WHERE lower(name) IN"
                                " (SELECT lower(name) FROM users GROUP BY lower(name) HAVING COUNT(*) > 1)"
                                " ORDER BY lower(name), created_ms, id",
                                "");
  if (rc != COHORT_OK)
    return rc;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (found++ < 8 && n < sizeof list)
      n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s' (%s)", n ? ", " : "",
                            (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1));
  }
  if (src != SQLITE_DONE)
    rc = co_error(COHORT_EIO, "store %s: %s", what, sqlite3_errmsg(s->db));
  else if (found)
    rc = co_error(COHORT_ESTATE,
                  "store %s: user names must be unique with case ignored, and %d users share a name that "
                  "way: %s%s. Rename all but one of each (UPDATE users SET name = 'NEW' WHERE id = 'ID', "
                  "with the server stopped), then start again (docs/server.md, Names)",
                  what, found, list, found > 8 ? ", ..." : "");
  sqlite3_finalize(st);
  return rc;
}

/* Brings the schema to SQ_SCHEMA_VERSION in one transaction; refuses a newer database. The write
 * lock is taken first so two processes opening a new file do not both migrate it. */
static cohort_status sq_migrate(sq_store *s, const char *what) {
  sqlite3_stmt *st = NULL;
  int64_t have;
  cohort_status rc = sq_begin(s, what);
  if (rc != COHORT_OK)
    return rc;
  rc = sq_run(s, what, NULL,
              "CREATE TABLE IF NOT EXISTS schema_migrations("
              " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
              "");
  if (rc != COHORT_OK)
    goto out;
  rc = sq_prepare(s, &st, what, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "");
  if (rc == COHORT_OK)
    rc = sq_row(s, st, what, "schema version", "");
  if (rc != COHORT_OK)
    goto out;
  have = sqlite3_column_int64(st, 0);
  if (have > SQ_SCHEMA_VERSION) {
    rc = co_error(COHORT_ESTATE,
                  "store %s has schema version %lld, newer than this cohort knows (%d): upgrade cohort", what,
                  (long long)have, (int)SQ_SCHEMA_VERSION);
    goto out;
  }
  for (int64_t v = have + 1; v <= SQ_SCHEMA_VERSION; v++) {
    if (v == SQ_MIGRATION_USERS_FOLDED && (rc = sq_check_folded_names(s, what)) != COHORT_OK)
      goto out;
    if (sqlite3_exec(s->db, migrations[v - 1], NULL, NULL, NULL) != SQLITE_OK) {
      rc = co_error(COHORT_EIO, "store %s: migration %lld: %s", what, (long long)v, sqlite3_errmsg(s->db));
      goto out;
    }
    rc = sq_run(s, what, NULL, "INSERT INTO schema_migrations(version, applied_ms) VALUES (?, ?)", "ll", v,
                co_now_ms());
    if (rc != COHORT_OK)
      goto out;
  }
out:
  sqlite3_finalize(st);
  return sq_end(s, what, rc);
}

/* The first problem quick_check found, kept for the refusal message. */
static void first_line(void *ctx, const char *line) {
  char *first = ctx;
  if (first[0])
    return;
  co_strlcpy(first, line, 200);
  for (char *c = first; *c; c++) /* one line in the log */
    if (*c == '\n')
      *c = ' ';
}

/* The refusal to start on a damaged database: what was found, and what to do. */
static cohort_status refuse_damaged(const char *path, const char *found) {
  return co_error(
      COHORT_ECORRUPT,
      "store '%s': the database is damaged (%s); cohort will not start on it. Stop every cohort "
      "process on it, copy the file aside, then restore it from a backup, or salvage what is "
      "readable with `sqlite3 OLD.db .recover | sqlite3 NEW.db` and point store = sqlite:NEW.db at "
      "the copy; `cohort admin check` lists every problem (docs/server.md, Corruption)",
      path, found);
}

cohort_status co_store_sqlite_open(const char *path, co_store **out) {
  return co_store_sqlite_open_check(path, "quick", out);
}

cohort_status co_store_sqlite_open_check(const char *path, const char *check, co_store **out) {
  sq_store *s;
  char found[200] = "";
  int64_t problems = 0;
  char what[300]; /* the path, quoted, for every message from here on */
  cohort_status rc;
  int src;
  if (!path || !*path || !out)
    return co_error(COHORT_EINVAL, "store: no database path");
  if (!(s = co_calloc(1, sizeof *s)))
    return co_nomem();
  s->base.ops = &sq_ops;
  snprintf(what, sizeof what, "'%s'", path);
  src =
      sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (src != SQLITE_OK) {
    rc = co_error(COHORT_EIO, "store '%s': %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
    goto out;
  }
  /* The per-operation lock is the connection's mutex, which exists only in serialized mode. */
  if (!sqlite3_db_mutex(s->db)) {
    rc = co_error(COHORT_EIO, "store '%s': libsqlite3 is built without thread support", path);
    goto out;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, 5000);
  /* FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on power loss, and a claimed
   * job or a committed trainee version must not come back. */
  if ((rc = sq_pragma(s, what, "PRAGMA journal_mode=WAL", strcmp(path, ":memory:") ? "wal" : "memory")) ||
      (rc = sq_run(s, what, NULL, "PRAGMA synchronous=FULL", "")) ||
      (rc = sq_pragma(s, what, "PRAGMA synchronous", "2")) ||
      (rc = sq_run(s, what, NULL, "PRAGMA foreign_keys=ON", "")) ||
      (rc = sq_pragma(s, what, "PRAGMA foreign_keys", "1")))
    goto out;
  /* At every start, before anything is written: PRAGMA quick_check walks every page of every
   * b-tree (O(N) in the file's size) but skips integrity_check's look-up of every row in each of its
   * indexes, which is random I/O. Measured here on a 758 MB database (1M job rows, 4 indexes, a
   * loaded 2-core machine): quick_check 4.3 s with the file in the page cache (46 s cold),
   * integrity_check 114 s (98 s cold); both found the 8 KB of garbage of issue 12's test. So
   * quick_check at start, the full one in `cohort admin check`; store_check = full | off changes
   * it (docs/server.md, Corruption). */
  if (check && strcmp(check, "off") != 0) {
    int full = strcmp(check, "full") == 0;
    uint64_t t0 = co_mono_ns();
    char ms[32];
    rc = sq_check(s, full, first_line, found, &problems);
    snprintf(ms, sizeof ms, "%.0f", (double)(co_mono_ns() - t0) / 1e6);
    co_log(CO_LOG_INFO, "store checked", "check", full ? "integrity_check" : "quick_check", "ms", ms,
           "problems", problems ? "yes" : "none", NULL);
    if (rc == COHORT_OK && problems > 0)
      rc = refuse_damaged(path, found);
    if (rc != COHORT_OK)
      goto out;
  }
  if ((rc = sq_migrate(s, what)) != COHORT_OK) {
    if (rc == COHORT_ECORRUPT)
      rc = refuse_damaged(path, sqlite3_errmsg(s->db));
    goto out;
  }
  *out = &s->base;
  return COHORT_OK;
out:
  sqlite3_close_v2(s->db);
  co_free(s);
  return rc;
}
