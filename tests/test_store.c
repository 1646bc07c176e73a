/* The store interface (store.h) against a backend: schema migrations, every record's
 * create/read/list/delete with its conflicts and misses, the trainee compare-and-swap, and the job
 * queue's rules (claim order, one running job per trainee, leases, ownership, cancellation,
 * requeue), including concurrent claims from threads sharing a handle and from threads with a
 * handle each. The same tests run on each backend:
 *   test_store            SQLite, in a temporary folder
 *   test_store postgres   PostgreSQL at COHORT_TEST_PG_URL (tests/with-postgres.sh starts one), a
 *                         fresh database per test; plus the PostgreSQL-only tests at the end
 *                         (races between processes, migration under concurrent opens, recovery
 *                         after a server restart).
 * Tests that look behind the store's back do it with the backend's own client (raw_int). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "co_internal.h"
#include "backends.h"
#include "store.h"
#include "util.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- helpers */

/* A fence (store.h) as an argument: job, owner, attempt. */
#define FENCE(job, owner, attempt) (&(co_fence){(job), (owner), (attempt)})

static char tmpdir[256];
static int use_pg;          /* the backend under test: 0 SQLite, 1 PostgreSQL */
static const char *pg_base; /* COHORT_TEST_PG_URL: a database the test role may create others from */

static int make_tmpdir(void **state) {
  snprintf(tmpdir, sizeof tmpdir, "%s/cohort-test-store-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void tmppath(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* A test's store name ("mig.db") as a PostgreSQL database name ("t_mig_db"). */
static void pg_dbname(const char *name, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "t_");
  for (const char *p = name; *p && n + 1 < cap; p++)
    out[n++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_';
  out[n] = '\0';
}

/* pg_base with its database replaced by db. */
static void pg_url(const char *db, char *out, size_t cap) {
  const char *q = strchr(pg_base, '?'), *end = q ? q : pg_base + strlen(pg_base), *slash = end;
  while (slash > pg_base && slash[-1] != '/')
    slash--;
  snprintf(out, cap, "%.*s%s%s", (int)(slash - pg_base), pg_base, db, q ? q : "");
}

static void pg_quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PGconn *pg_raw(const char *url) {
  PGconn *c = PQconnectdb(url);
  if (PQstatus(c) != CONNECTION_OK)
    fail_msg("connect %s: %s", url, PQerrorMessage(c));
  PQsetNoticeProcessor(c, pg_quiet, NULL); /* "database ... does not exist, skipping" */
  return c;
}

static void pg_raw_exec(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(c));
  PQclear(r);
}

/* The first use of a name in this run starts it from an empty database. */
static void pg_fresh(const char *name) {
  static char seen[64][64];
  static int nseen;
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  char db[64], sql[256];
  pg_dbname(name, db, sizeof db);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < nseen; i++)
    if (strcmp(seen[i], db) == 0) {
      pthread_mutex_unlock(&mu);
      return;
    }
  assert_true(nseen < 64);
  co_strlcpy(seen[nseen++], db, sizeof seen[0]);
  PGconn *c = pg_raw(pg_base);
  /* Identifiers cannot be parameters; db is made above from letters, digits and '_'. */
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
  pg_raw_exec(c, sql);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
  pg_raw_exec(c, sql);
  PQfinish(c);
  pthread_mutex_unlock(&mu);
}

/* Opens the store called name on the backend under test, without asserting. */
static cohort_status open_named(const char *name, co_store **s) {
  char path[600];
  if (use_pg) {
    char db[64];
    co_store_pg_options opt = {4, 5000};
    pg_fresh(name);
    pg_dbname(name, db, sizeof db);
    pg_url(db, path, sizeof path);
    return co_store_postgres_open(path, &opt, s);
  }
  tmppath(path, sizeof path, name);
  return co_store_sqlite_open(path, s);
}

static co_store *open_store(const char *name) {
  co_store *s = NULL;
  cohort_status st = open_named(name, &s);
  if (st != COHORT_OK)
    fail_msg("open %s: %s", name, cohort_errmsg());
  assert_non_null(s);
  assert_int_equal(s->ops->version, CO_STORE_VERSION);
  return s;
}

#define OK(call)                                                                                             \
  do {                                                                                                       \
    cohort_status st_ = (call);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s: %s (%s)", #call, cohort_strerror(st_), cohort_errmsg());                                 \
  } while (0)

/* call fails with status, and the message contains text. */
#define FAILS(call, status, text)                                                                            \
  do {                                                                                                       \
    cohort_status st_ = (call);                                                                              \
    if (st_ != (status))                                                                                     \
      fail_msg("%s: got %s (%s), wanted %s", #call, cohort_strerror(st_), cohort_errmsg(), #status);         \
    if (!strstr(cohort_errmsg(), (text)))                                                                    \
      fail_msg("%s: message '%s' lacks '%s'", #call, cohort_errmsg(), (text));                               \
  } while (0)

/* One integer from a raw query on the store's database, to look behind the store's back. */
static int64_t raw_int(const char *name, const char *sql) {
  char path[600];
  int64_t v;
  if (use_pg) {
    char db[64];
    pg_dbname(name, db, sizeof db);
    pg_url(db, path, sizeof path);
    PGconn *c = pg_raw(path);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
      fail_msg("%s: %s", sql, PQerrorMessage(c));
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
  }
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  tmppath(path, sizeof path, name);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void raw_exec(const char *name, const char *sql) {
  char path[600];
  if (use_pg) {
    char db[64];
    pg_dbname(name, db, sizeof db);
    pg_url(db, path, sizeof path);
    PGconn *c = pg_raw(path);
    pg_raw_exec(c, sql);
    PQfinish(c);
    return;
  }
  sqlite3 *db = NULL;
  tmppath(path, sizeof path, name);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* List callbacks that collect ids in order, stopping after stop_after rows (0 = never). */
typedef struct collect {
  char ids[16][CO_ID_MAX];
  int n;
  int stop_after;
  int by_workspace; /* members: collect workspace ids instead of user ids */
} collect;

static int collect_id(collect *c, const char *id) {
  if (c->n < 16)
    co_strlcpy(c->ids[c->n], id, CO_ID_MAX);
  c->n++;
  return c->stop_after && c->n >= c->stop_after ? 42 : 0;
}
static int on_user(void *ctx, const co_user *u) {
  return collect_id(ctx, u->id);
}
static int on_member(void *ctx, const co_member *m) {
  collect *c = ctx;
  return collect_id(c, c->by_workspace ? m->workspace_id : m->user_id);
}
static int on_token(void *ctx, const co_token *t) {
  return collect_id(ctx, t->id);
}
static int on_dataset(void *ctx, const co_dataset *d) {
  return collect_id(ctx, d->id);
}
static int on_trainee(void *ctx, const co_trainee *t) {
  return collect_id(ctx, t->id);
}
static int on_job(void *ctx, const co_job *j) {
  return collect_id(ctx, j->id);
}
static int on_report(void *ctx, const co_report *r) {
  return collect_id(ctx, r->id);
}

static co_user make_user(const char *id, const char *name, int64_t created) {
  co_user u = {0};
  co_strlcpy(u.id, id, sizeof u.id);
  co_strlcpy(u.name, name, sizeof u.name);
  co_strlcpy(u.pwhash, "$argon2id$v=19$fake", sizeof u.pwhash);
  u.created_ms = created;
  return u;
}

static co_workspace make_workspace(const char *id, const char *name) {
  co_workspace w = {0};
  co_strlcpy(w.id, id, sizeof w.id);
  co_strlcpy(w.name, name, sizeof w.name);
  w.created_ms = 1000;
  return w;
}

static co_job make_job(const char *id, const char *ws, const char *trainee, int64_t created) {
  co_job j = {0};
  co_strlcpy(j.id, id, sizeof j.id);
  co_strlcpy(j.workspace_id, ws, sizeof j.workspace_id);
  co_strlcpy(j.trainee_id, trainee, sizeof j.trainee_id);
  co_strlcpy(j.kind, "train", sizeof j.kind);
  j.state = CO_JOB_QUEUED;
  j.params_json = (char *)"{\"k\":1}";
  j.created_ms = created;
  return j;
}

/* Claims and checks which job came out. */
static void claim_expect(co_store *s, const char *owner, int64_t now, int64_t lease, const char *want) {
  co_job j;
  cohort_status st = s->ops->job_claim(s, owner, now, lease, 100, NULL, &j);
  if (!want) {
    if (st != COHORT_ENOTFOUND)
      fail_msg("claim at %lld: wanted nothing, got %s (%s)", (long long)now, st == COHORT_OK ? j.id : "error",
               cohort_errmsg());
    return;
  }
  if (st != COHORT_OK)
    fail_msg("claim at %lld: wanted %s, got %s (%s)", (long long)now, want, cohort_strerror(st),
             cohort_errmsg());
  assert_string_equal(j.id, want);
  assert_int_equal(j.state, CO_JOB_RUNNING);
  assert_string_equal(j.owner, owner);
  assert_int_equal(j.lease_until_ms, now + lease);
  assert_int_equal(j.started_ms, now);
  co_job_clear(&j);
}

static co_job get_job(co_store *s, const char *id) {
  co_job j;
  OK(s->ops->job_get(s, id, &j));
  return j;
}

/* ---------------------------------------------------------------- names and clear */

static void test_names(void **state) {
  for (int i = 0; i < 5; i++)
    assert_int_equal(co_job_state_parse(co_job_state_name((co_job_state)i)), i);
  assert_string_equal(co_job_state_name(CO_JOB_CANCELLED), "cancelled");
  assert_int_equal(co_job_state_parse("done"), -1);
  assert_int_equal(co_job_state_parse(NULL), -1);
  assert_string_equal(co_job_state_name((co_job_state)9), "unknown");
  for (int i = 0; i < 4; i++)
    assert_int_equal(co_role_parse(co_role_name((co_role)i)), i);
  assert_string_equal(co_role_name(CO_ROLE_EDITOR), "editor");
  assert_int_equal(co_role_parse("admin"), CO_ROLE_NONE);
  assert_int_equal(co_role_parse(NULL), CO_ROLE_NONE);

  co_job j = {0};
  j.params_json = co_strdup("{}");
  j.result_json = co_strdup("[]");
  co_job_clear(&j);
  assert_null(j.params_json);
  assert_null(j.result_json);
  co_job_clear(&j); /* twice is harmless */
  co_dataset d = {0};
  d.schema_json = co_strdup("{}");
  co_dataset_clear(&d);
  assert_null(d.schema_json);
  co_trainee t = {0};
  t.info_json = co_strdup("{}");
  co_trainee_clear(&t);
  assert_null(t.info_json);
  co_report r = {0};
  r.summary_json = co_strdup("{}");
  co_report_clear(&r);
  assert_null(r.summary_json);
  co_dataset_clear(NULL);
}

/* ---------------------------------------------------------------- open and migrations */

static void test_open_migrations(void **state) {
  co_store *s = open_store("mig.db");
  co_user u = make_user("us_1", "alice", 1);
  assert_string_equal(s->ops->name, use_pg ? "postgres" : "sqlite");
  OK(s->ops->user_create(s, &u));
  s->ops->close(s);

  int64_t versions = raw_int("mig.db", "SELECT COUNT(*) FROM schema_migrations");
  int64_t top = raw_int("mig.db", "SELECT MAX(version) FROM schema_migrations");
  assert_true(versions >= 1);
  assert_int_equal(versions, top);

  /* Reopening applies nothing and keeps the data. */
  for (int i = 0; i < 2; i++) {
    s = open_store("mig.db");
    co_user got;
    OK(s->ops->user_get(s, "us_1", &got));
    assert_string_equal(got.name, "alice");
    s->ops->close(s);
  }
  assert_int_equal(raw_int("mig.db", "SELECT COUNT(*) FROM schema_migrations"), versions);

  /* A database from a newer cohort is refused, not half-understood. */
  raw_exec("mig.db", "INSERT INTO schema_migrations(version, applied_ms) VALUES (999, 0)");
  static co_store sentinel;
  co_store *before = &sentinel; /* out must stay untouched on failure */
  s = before;
  FAILS(open_named("mig.db", &s), COHORT_ESTATE, "newer than this cohort knows");
  assert_ptr_equal(s, before);
  assert_non_null(strstr(cohort_errmsg(), "999"));

  char path[300];
  if (use_pg) {
    /* Bad URLs and unreachable or unwilling servers: one line naming the store, no password. */
    FAILS(co_store_postgres_open("postgres://a:b@127.0.0.1/x?no_such_option=1", NULL, &s), COHORT_EINVAL,
          "store: not a valid PostgreSQL URL");
    assert_int_equal(co_store_postgres_open("", NULL, &s), COHORT_EINVAL);
    const char *colon = strstr(pg_base, ":cohort@"); /* scripts/pg-server.sh's role and password */
    assert_non_null(colon);
    snprintf(path, sizeof path, "%.*s:sekrit99@%s", (int)(colon - pg_base), pg_base,
             colon + strlen(":cohort@"));
    FAILS(co_store_postgres_open(path, NULL, &s), COHORT_EUNAVAIL, "store: PostgreSQL unavailable: ");
    assert_non_null(strstr(cohort_errmsg(), "password authentication failed"));
    assert_null(strstr(cohort_errmsg(), "sekrit99"));
    FAILS(co_store_postgres_open("postgres://cohort@127.0.0.1:1/cohort", NULL, &s), COHORT_EUNAVAIL,
          "store: PostgreSQL unavailable: ");
    assert_ptr_equal(s, before);
    return;
  }
  /* A missing parent directory is an error, not created. */
  tmppath(path, sizeof path, "no/such/dir/x.db");
  FAILS(co_store_sqlite_open(path, &s), COHORT_EIO, "no/such/dir");
  assert_int_equal(co_store_sqlite_open("", &s), COHORT_EINVAL);

  /* Something that is not a database is reported, not overwritten. */
  tmppath(path, sizeof path, "garbage.db");
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 64; i++)
    fputs("this is not an SQLite database ", f);
  fclose(f);
  FAILS(co_store_sqlite_open(path, &s), COHORT_ECORRUPT, "garbage.db");
  assert_non_null(strstr(cohort_errmsg(), "cohort admin check"));
  assert_ptr_equal(s, before);
}

/* SQLite only: the file's journal mode. */
static void test_open_pragmas(void **state) {
  co_store *s = open_store("pragmas.db");
  /* journal_mode is stored in the file: a second connection sees it. */
  char path[300];
  sqlite3 *db;
  sqlite3_stmt *st;
  tmppath(path, sizeof path, "pragmas.db");
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  s->ops->close(s);
}

/* ---------------------------------------------------------------- users, workspaces, members */

static void test_users(void **state) {
  co_store *s = open_store("users.db");
  co_user a = make_user("us_a", "alice", 10), b = make_user("us_b", "bob", 20), got;
  a.is_admin = 1;
  int64_t n = -1;
  OK(s->ops->user_count(s, &n));
  assert_int_equal(n, 0);
  OK(s->ops->user_create(s, &b));
  OK(s->ops->user_create(s, &a));

  co_user dup = make_user("us_c", "alice", 30);
  FAILS(s->ops->user_create(s, &dup), COHORT_ESTATE, "user name 'alice' is taken");
  dup = make_user("us_a", "carol", 30);
  FAILS(s->ops->user_create(s, &dup), COHORT_ESTATE, "'us_a' is taken");
  /* Case variants are the same name in the store itself (a unique index on lower(name)), not only
   * in the API's check before it, which two sign-ups at once could both pass. */
  dup = make_user("us_c", "ALICE", 30);
  FAILS(s->ops->user_create(s, &dup), COHORT_ESTATE, "user name 'ALICE' is taken");
  dup = make_user("us_c", "Bob", 30);
  FAILS(s->ops->user_create(s, &dup), COHORT_ESTATE, "user name 'Bob' is taken");

  OK(s->ops->user_get(s, "us_a", &got));
  assert_string_equal(got.name, "alice");
  assert_string_equal(got.pwhash, "$argon2id$v=19$fake");
  assert_int_equal(got.is_admin, 1);
  assert_int_equal(got.created_ms, 10);
  OK(s->ops->user_by_name(s, "bob", &got));
  assert_string_equal(got.id, "us_b");
  assert_int_equal(got.is_admin, 0);
  FAILS(s->ops->user_get(s, "us_zz", &got), COHORT_ENOTFOUND, "user 'us_zz' not found");
  FAILS(s->ops->user_by_name(s, "zed", &got), COHORT_ENOTFOUND, "'zed' not found");
  OK(s->ops->user_by_name(s, "BoB", &got)); /* sign-in and look-ups ignore ASCII case */
  assert_string_equal(got.id, "us_b");

  OK(s->ops->user_set_password(s, "us_b", ""));
  OK(s->ops->user_get(s, "us_b", &got));
  assert_string_equal(got.pwhash, "");
  FAILS(s->ops->user_set_password(s, "us_zz", "x"), COHORT_ENOTFOUND, "us_zz");

  /* Bound parameters: a name full of SQL is just a name. */
  co_user evil = make_user("us_e", "x'); DROP TABLE users; --", 40);
  OK(s->ops->user_create(s, &evil));
  OK(s->ops->user_by_name(s, evil.name, &got));
  assert_string_equal(got.id, "us_e");

  collect c = {0};
  OK(s->ops->user_list(s, on_user, &c));
  assert_int_equal(c.n, 3);
  assert_string_equal(c.ids[0], "us_a"); /* by name */
  assert_string_equal(c.ids[1], "us_b");
  OK(s->ops->user_count(s, &n));
  assert_int_equal(n, 3);
  collect stop = {.stop_after = 1};
  assert_int_equal(s->ops->user_list(s, on_user, &stop), 42);
  assert_int_equal(stop.n, 1);
  s->ops->close(s);
}

static void test_workspaces_members(void **state) {
  co_store *s = open_store("members.db");
  co_user a = make_user("us_a", "alice", 1), b = make_user("us_b", "bob", 2);
  co_workspace w1 = make_workspace("ws_1", "Zeta"), w2 = make_workspace("ws_2", "Alpha"), gw;
  co_member m;
  OK(s->ops->user_create(s, &a));
  OK(s->ops->user_create(s, &b));
  OK(s->ops->workspace_create(s, &w1));
  OK(s->ops->workspace_create(s, &w2));
  FAILS(s->ops->workspace_create(s, &w1), COHORT_ESTATE, "'ws_1' is taken");
  OK(s->ops->workspace_get(s, "ws_1", &gw));
  assert_string_equal(gw.name, "Zeta");
  assert_int_equal(gw.created_ms, 1000);
  FAILS(s->ops->workspace_get(s, "ws_9", &gw), COHORT_ENOTFOUND, "workspace 'ws_9' not found");

  OK(s->ops->member_set(s, "ws_1", "us_a", CO_ROLE_OWNER));
  OK(s->ops->member_set(s, "ws_1", "us_b", CO_ROLE_VIEWER));
  OK(s->ops->member_set(s, "ws_2", "us_a", CO_ROLE_VIEWER));
  OK(s->ops->member_get(s, "ws_1", "us_b", &m));
  assert_int_equal(m.role, CO_ROLE_VIEWER);
  assert_string_equal(m.user_name, "bob");
  assert_string_equal(m.workspace_name, "Zeta");
  OK(s->ops->member_set(s, "ws_1", "us_b", CO_ROLE_EDITOR)); /* change, not a second row */
  OK(s->ops->member_get(s, "ws_1", "us_b", &m));
  assert_int_equal(m.role, CO_ROLE_EDITOR);

  FAILS(s->ops->member_set(s, "ws_1", "us_nobody", CO_ROLE_VIEWER), COHORT_ENOTFOUND, "user 'us_nobody'");
  FAILS(s->ops->member_set(s, "ws_nope", "us_a", CO_ROLE_VIEWER), COHORT_ENOTFOUND, "workspace 'ws_nope'");
  assert_int_equal(s->ops->member_set(s, "ws_1", "us_a", (co_role)7), COHORT_EINVAL);
  FAILS(s->ops->member_get(s, "ws_2", "us_b", &m), COHORT_ENOTFOUND, "not a member");

  collect c = {0};
  OK(s->ops->member_list_workspace(s, "ws_1", on_member, &c));
  assert_int_equal(c.n, 2);
  assert_string_equal(c.ids[0], "us_a");
  assert_string_equal(c.ids[1], "us_b");
  collect byuser = {.by_workspace = 1};
  OK(s->ops->member_list_user(s, "us_a", on_member, &byuser));
  assert_int_equal(byuser.n, 2);
  assert_string_equal(byuser.ids[0], "ws_2"); /* by workspace name: Alpha before Zeta */
  assert_string_equal(byuser.ids[1], "ws_1");

  /* NONE removes; removing again is a miss. */
  OK(s->ops->member_set(s, "ws_2", "us_a", CO_ROLE_NONE));
  FAILS(s->ops->member_get(s, "ws_2", "us_a", &m), COHORT_ENOTFOUND, "not a member");
  FAILS(s->ops->member_set(s, "ws_2", "us_a", CO_ROLE_NONE), COHORT_ENOTFOUND, "not a member");

  /* Deleting a workspace takes its members with it. */
  OK(s->ops->workspace_delete(s, "ws_1"));
  FAILS(s->ops->workspace_delete(s, "ws_1"), COHORT_ENOTFOUND, "ws_1");
  FAILS(s->ops->member_get(s, "ws_1", "us_a", &m), COHORT_ENOTFOUND, "not a member");
  collect none = {.by_workspace = 1};
  OK(s->ops->member_list_user(s, "us_a", on_member, &none));
  assert_int_equal(none.n, 0);
  s->ops->close(s);
  assert_int_equal(raw_int("members.db", "SELECT COUNT(*) FROM members"), 0);
}

/* ---------------------------------------------------------------- tokens and sessions */

static void test_tokens_sessions(void **state) {
  co_store *s = open_store("auth.db");
  co_user a = make_user("us_a", "alice", 1), b = make_user("us_b", "bob", 2);
  OK(s->ops->user_create(s, &a));
  OK(s->ops->user_create(s, &b));

  co_token t1 = {0}, t2, got;
  co_strlcpy(t1.id, "tk_1", sizeof t1.id);
  co_strlcpy(t1.user_id, "us_a", sizeof t1.user_id);
  co_strlcpy(t1.name, "ci", sizeof t1.name);
  co_secret_hash("secret-1", t1.hash);
  t1.created_ms = 100;
  t1.expires_ms = 5000;
  OK(s->ops->token_create(s, &t1));
  t2 = t1;
  co_strlcpy(t2.id, "tk_2", sizeof t2.id);
  FAILS(s->ops->token_create(s, &t2), COHORT_ESTATE, "token hash is taken");
  co_secret_hash("secret-2", t2.hash);
  t2.created_ms = 200;
  OK(s->ops->token_create(s, &t2));
  co_token t3 = t1;
  co_strlcpy(t3.id, "tk_3", sizeof t3.id);
  co_strlcpy(t3.user_id, "us_ghost", sizeof t3.user_id);
  co_secret_hash("secret-3", t3.hash);
  FAILS(s->ops->token_create(s, &t3), COHORT_ENOTFOUND, "user 'us_ghost' not found");

  char h[65];
  co_secret_hash("secret-1", h);
  OK(s->ops->token_by_hash(s, h, &got));
  assert_string_equal(got.id, "tk_1");
  assert_string_equal(got.name, "ci");
  assert_int_equal(got.expires_ms, 5000);
  assert_int_equal(got.last_used_ms, 0);
  co_secret_hash("wrong", h);
  FAILS(s->ops->token_by_hash(s, h, &got), COHORT_ENOTFOUND, "token not found");
  assert_null(strstr(cohort_errmsg(), h));

  OK(s->ops->token_touch(s, "tk_1", 777));
  OK(s->ops->token_by_hash(s, t1.hash, &got));
  assert_int_equal(got.last_used_ms, 777);
  FAILS(s->ops->token_touch(s, "tk_9", 1), COHORT_ENOTFOUND, "token 'tk_9' not found");

  collect c = {0};
  OK(s->ops->token_list(s, "us_a", on_token, &c));
  assert_int_equal(c.n, 2);
  assert_string_equal(c.ids[0], "tk_1");
  collect cb = {0};
  OK(s->ops->token_list(s, "us_b", on_token, &cb));
  assert_int_equal(cb.n, 0);

  /* Someone else's token is not found; the owner's goes. */
  FAILS(s->ops->token_delete(s, "us_b", "tk_1"), COHORT_ENOTFOUND, "token 'tk_1' not found");
  OK(s->ops->token_delete(s, "us_a", "tk_1"));
  FAILS(s->ops->token_by_hash(s, t1.hash, &got), COHORT_ENOTFOUND, "token");

  /* Sessions: live, expired, purged. */
  int64_t now = co_now_ms();
  co_session live = {0}, old = {0}, gs;
  co_secret_hash("cookie-live", live.hash);
  co_strlcpy(live.user_id, "us_a", sizeof live.user_id);
  co_strlcpy(live.csrf, "csrf-1", sizeof live.csrf);
  live.created_ms = now;
  live.expires_ms = now + 3600 * 1000;
  OK(s->ops->session_create(s, &live));
  FAILS(s->ops->session_create(s, &live), COHORT_ESTATE, "session");
  old = live;
  co_secret_hash("cookie-old", old.hash);
  old.expires_ms = now - 1;
  OK(s->ops->session_create(s, &old));
  co_session orphan = live;
  co_secret_hash("cookie-orphan", orphan.hash);
  co_strlcpy(orphan.user_id, "us_ghost", sizeof orphan.user_id);
  FAILS(s->ops->session_create(s, &orphan), COHORT_ENOTFOUND, "us_ghost");

  OK(s->ops->session_get(s, live.hash, &gs));
  assert_string_equal(gs.user_id, "us_a");
  assert_string_equal(gs.csrf, "csrf-1");
  assert_int_equal(gs.expires_ms, live.expires_ms);
  FAILS(s->ops->session_get(s, old.hash, &gs), COHORT_ENOTFOUND, "session");
  assert_int_equal(raw_int("auth.db", "SELECT COUNT(*) FROM sessions"), 2);
  OK(s->ops->session_purge(s, now));
  assert_int_equal(raw_int("auth.db", "SELECT COUNT(*) FROM sessions"), 1);
  OK(s->ops->session_delete(s, live.hash));
  FAILS(s->ops->session_get(s, live.hash, &gs), COHORT_ENOTFOUND, "session");
  FAILS(s->ops->session_delete(s, live.hash), COHORT_ENOTFOUND, "session");
  s->ops->close(s);
}

/* user_revoke (issue 12): a password change ends the user's other sessions and, unless kept,
 * their tokens; another user's are untouched. */
static void test_user_revoke(void **state) {
  co_store *s = open_store("revoke.db");
  co_user a = make_user("us_a", "alice", 1), b = make_user("us_b", "bob", 2);
  OK(s->ops->user_create(s, &a));
  OK(s->ops->user_create(s, &b));
  int64_t now = co_now_ms();
  const char *owners[] = {"us_a", "us_a", "us_a", "us_b"};
  co_session se[4];
  co_token tk[4];
  for (int i = 0; i < 4; i++) {
    char secret[32];
    memset(&se[i], 0, sizeof se[i]);
    snprintf(secret, sizeof secret, "cookie-%d", i);
    co_secret_hash(secret, se[i].hash);
    co_strlcpy(se[i].user_id, owners[i], sizeof se[i].user_id);
    co_strlcpy(se[i].csrf, "c", sizeof se[i].csrf);
    se[i].created_ms = now;
    se[i].expires_ms = now + 3600 * 1000;
    OK(s->ops->session_create(s, &se[i]));
    memset(&tk[i], 0, sizeof tk[i]);
    snprintf(tk[i].id, sizeof tk[i].id, "tk_%d", i);
    co_strlcpy(tk[i].user_id, owners[i], sizeof tk[i].user_id);
    co_strlcpy(tk[i].name, "t", sizeof tk[i].name);
    snprintf(secret, sizeof secret, "token-%d", i);
    co_secret_hash(secret, tk[i].hash);
    tk[i].created_ms = now;
    OK(s->ops->token_create(s, &tk[i]));
  }
  int64_t ns = -1, nt = -1;
  co_session gs;
  co_token gt;
  OK(s->ops->user_revoke(s, "us_a", se[0].hash, 0, &ns, &nt));
  assert_int_equal(ns, 2);
  assert_int_equal(nt, 0);
  OK(s->ops->session_get(s, se[0].hash, &gs));
  FAILS(s->ops->session_get(s, se[1].hash, &gs), COHORT_ENOTFOUND, "session");
  OK(s->ops->token_by_hash(s, tk[1].hash, &gt));
  OK(s->ops->user_revoke(s, "us_a", NULL, 1, &ns, &nt));
  assert_int_equal(ns, 1);
  assert_int_equal(nt, 3);
  FAILS(s->ops->session_get(s, se[0].hash, &gs), COHORT_ENOTFOUND, "session");
  FAILS(s->ops->token_by_hash(s, tk[2].hash, &gt), COHORT_ENOTFOUND, "token");
  OK(s->ops->session_get(s, se[3].hash, &gs));
  OK(s->ops->token_by_hash(s, tk[3].hash, &gt));
  OK(s->ops->user_revoke(s, "us_ghost", NULL, 1, NULL, NULL));
  s->ops->close(s);
  (void)state;
}

/* ---------------------------------------------------------------- sign-in backoff */

static int64_t blocked(co_store *s, const char *key, int64_t now) {
  int64_t left = -1;
  OK(s->ops->login_blocked(s, key, now, &left));
  return left;
}

static int64_t fail_at(co_store *s, const char *key, int free_failures, int64_t max_ms, int64_t now) {
  int64_t until = -1;
  OK(s->ops->login_fail(s, key, free_failures, max_ms, now, &until));
  return until;
}

/* The rule of store.h: free failures, then 1 s, 2 s, 4 s ... capped; a success or a quiet
 * max_ms after the block starts the count again; keys are independent. */
static void test_login_backoff(void **state) {
  co_store *s = open_store("login.db");
  const int64_t max = 4000, t = 1000000;
  assert_int_equal(blocked(s, "user:alice", t), 0); /* unknown */
  for (int i = 0; i < 3; i++)
    assert_int_equal(fail_at(s, "user:alice", 3, max, t), t); /* free */
  assert_int_equal(blocked(s, "user:alice", t), 0);
  assert_int_equal(fail_at(s, "user:alice", 3, max, t), t + 1000);
  assert_int_equal(blocked(s, "user:alice", t), 1000);
  assert_int_equal(blocked(s, "user:alice", t + 999), 1);
  assert_int_equal(blocked(s, "user:alice", t + 1000), 0);
  assert_int_equal(blocked(s, "client:127.0.0.1", t), 0);
  assert_int_equal(fail_at(s, "user:alice", 3, max, t + 1000), t + 3000); /* 2 s */
  assert_int_equal(fail_at(s, "user:alice", 3, max, t + 3000), t + 7000); /* 4 s = max */
  assert_int_equal(fail_at(s, "user:alice", 3, max, t + 7000), t + 11000);
  /* A failure that races a running block (two replicas) never shortens it. */
  assert_int_equal(fail_at(s, "user:alice", 3, max, t + 1), t + 11000);
  assert_int_equal(blocked(s, "user:alice", t + 10000), 1000);
  /* Quiet for longer than max after the block: the count starts again (free). */
  assert_int_equal(fail_at(s, "user:alice", 3, max, t + 11000 + max + 1), t + 11000 + max + 1);
  assert_int_equal(blocked(s, "user:alice", t + 11000 + max + 1), 0);
  /* A success clears it; clearing an unknown key is fine. */
  for (int i = 0; i < 4; i++)
    fail_at(s, "user:bob", 3, max, t);
  assert_int_equal(blocked(s, "user:bob", t), 1000);
  OK(s->ops->login_clear(s, "user:bob"));
  OK(s->ops->login_clear(s, "user:nobody"));
  assert_int_equal(blocked(s, "user:bob", t), 0);
  assert_int_equal(fail_at(s, "user:bob", 3, max, t), t);
  /* Many failures with a long maximum: the doubling is capped, never overflows. */
  const int64_t day = 86400000;
  for (int i = 0; i < 70; i++)
    fail_at(s, "user:carol", 1, day, t);
  assert_int_equal(blocked(s, "user:carol", t), day);
  /* A key with odd bytes is just a key. */
  assert_int_equal(fail_at(s, "user:o'brien; --", 1, max, t), t);
  assert_int_equal(fail_at(s, "user:o'brien; --", 1, max, t), t + 1000);
  s->ops->close(s);
  (void)state;
}

/* Old rows go: each failure deletes at most 32 rows quiet for longer than max_ms. */
static void test_login_backoff_expiry(void **state) {
  co_store *s = open_store("login_expiry.db");
  const int64_t max = 4000, t = 1000000;
  char key[32];
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "client:10.0.0.%d", i);
    fail_at(s, key, 3, max, t);
  }
  fail_at(s, "user:fresh", 3, max, t + max); /* quiet for exactly max: kept */
  assert_int_equal(raw_int("login_expiry.db", "SELECT COUNT(*) FROM login_backoff"), 41);
  fail_at(s, "user:late", 3, max, t + max + 1);
  assert_int_equal(raw_int("login_expiry.db", "SELECT COUNT(*) FROM login_backoff"), 41 - 32 + 1);
  fail_at(s, "user:later", 3, max, t + max + 2);
  assert_int_equal(raw_int("login_expiry.db", "SELECT COUNT(*) FROM login_backoff"), 3);
  assert_int_equal(raw_int("login_expiry.db", "SELECT COUNT(*) FROM login_backoff WHERE key LIKE 'client:%'"),
                   0);
  /* An expired key that fails again starts from 1 whether or not its row was purged. */
  for (int i = 0; i < 4; i++)
    fail_at(s, "user:fresh", 3, max, t + 3 * max);
  assert_int_equal(blocked(s, "user:fresh", t + 3 * max), 1000);
  s->ops->close(s);
  (void)state;
}

/* Failures recorded at once through two handles (two processes on one store) all count: 2 x 50
 * failures with 99 free ones leave the key blocked by the 100th. */
enum { LOGIN_RACE = 50 };

typedef struct login_racer {
  const char *db;
  pthread_barrier_t *go;
  cohort_status err;
  char errmsg[256];
} login_racer;

static void *login_race(void *arg) {
  login_racer *lr = arg;
  co_store *s = NULL;
  cohort_status st = open_named(lr->db, &s);
  pthread_barrier_wait(lr->go);
  for (int i = 0; st == COHORT_OK && i < LOGIN_RACE; i++)
    st = s->ops->login_fail(s, "user:raced", 2 * LOGIN_RACE - 1, 60000, 5000000, NULL);
  if (st != COHORT_OK) {
    lr->err = st;
    co_strlcpy(lr->errmsg, cohort_errmsg(), sizeof lr->errmsg);
  }
  if (s)
    s->ops->close(s);
  return NULL;
}

static void test_login_backoff_concurrent(void **state) {
  co_store *s = open_store("login_race.db");
  pthread_t th[2];
  pthread_barrier_t go;
  login_racer lr[2];
  memset(lr, 0, sizeof lr);
  pthread_barrier_init(&go, NULL, 2);
  for (int t = 0; t < 2; t++) {
    lr[t].db = "login_race.db";
    lr[t].go = &go;
    assert_int_equal(pthread_create(&th[t], NULL, login_race, &lr[t]), 0);
  }
  for (int t = 0; t < 2; t++)
    assert_int_equal(pthread_join(th[t], NULL), 0);
  pthread_barrier_destroy(&go);
  for (int t = 0; t < 2; t++)
    if (lr[t].err != COHORT_OK)
      fail_msg("racer %d: %s (%s)", t, cohort_strerror(lr[t].err), lr[t].errmsg);
  assert_int_equal(raw_int("login_race.db", "SELECT failures FROM login_backoff WHERE key = 'user:raced'"),
                   2 * LOGIN_RACE);
  assert_int_equal(blocked(s, "user:raced", 5000000), 1000);
  s->ops->close(s);
  (void)state;
}

/* ---------------------------------------------------------------- datasets, trainees, reports */

static void test_datasets(void **state) {
  co_store *s = open_store("data.db");
  co_dataset d = {0}, got;
  co_strlcpy(d.id, "ds_1", sizeof d.id);
  co_strlcpy(d.workspace_id, "ws_1", sizeof d.workspace_id);
  co_strlcpy(d.name, "adult.csv", sizeof d.name);
  co_strlcpy(d.blob, "datasets/ds_1.csv", sizeof d.blob);
  d.bytes = 4000000000LL; /* past 32 bits */
  d.rows = 32561;
  d.columns = 15;
  d.schema_json = (char *)"{\"features\":[{\"name\":\"age\"}]}";
  d.created_ms = 100;
  OK(s->ops->dataset_create(s, &d));
  FAILS(s->ops->dataset_create(s, &d), COHORT_ESTATE, "dataset id 'ds_1' is taken");
  co_dataset d2 = d;
  co_strlcpy(d2.id, "ds_2", sizeof d2.id);
  d2.schema_json = NULL;
  d2.created_ms = 200;
  OK(s->ops->dataset_create(s, &d2));
  co_dataset d3 = d2;
  co_strlcpy(d3.id, "ds_3", sizeof d3.id);
  co_strlcpy(d3.workspace_id, "ws_2", sizeof d3.workspace_id);
  OK(s->ops->dataset_create(s, &d3));

  OK(s->ops->dataset_get(s, "ds_1", &got));
  assert_string_equal(got.name, "adult.csv");
  assert_string_equal(got.blob, "datasets/ds_1.csv");
  assert_int_equal(got.bytes, 4000000000LL);
  assert_int_equal(got.rows, 32561);
  assert_int_equal(got.columns, 15);
  assert_int_equal(got.created_ms, 100);
  assert_non_null(got.schema_json);
  assert_ptr_not_equal(got.schema_json, d.schema_json); /* an owned copy */
  assert_string_equal(got.schema_json, d.schema_json);
  co_dataset_clear(&got);
  OK(s->ops->dataset_get(s, "ds_2", &got));
  assert_null(got.schema_json); /* NULL stays NULL */
  co_dataset_clear(&got);

  /* Out of memory while copying the JSON: ENOMEM, out untouched, nothing leaked. */
  memset(&got, 0x5a, sizeof got);
  co_alloc_fail_after(1);
  cohort_status st = s->ops->dataset_get(s, "ds_1", &got);
  co_alloc_fail_after(0);
  assert_int_equal(st, COHORT_ENOMEM);
  assert_int_equal((unsigned char)got.id[0], 0x5a);

  collect c = {0};
  OK(s->ops->dataset_list(s, "ws_1", on_dataset, &c));
  assert_int_equal(c.n, 2);
  assert_string_equal(c.ids[0], "ds_2"); /* newest first */
  assert_string_equal(c.ids[1], "ds_1");
  collect all = {0};
  OK(s->ops->dataset_list(s, NULL, on_dataset, &all));
  assert_int_equal(all.n, 3);
  collect stop = {.stop_after = 1};
  assert_int_equal(s->ops->dataset_list(s, NULL, on_dataset, &stop), 42);

  /* Trainees made from a deleted dataset keep their rows but stop naming it (store version 5). */
  co_trainee t1 = {0}, t2 = {0}, gt;
  co_strlcpy(t1.id, "tr_1", sizeof t1.id);
  co_strlcpy(t1.workspace_id, "ws_1", sizeof t1.workspace_id);
  co_strlcpy(t1.name, "from ds_1", sizeof t1.name);
  co_strlcpy(t1.dataset_id, "ds_1", sizeof t1.dataset_id);
  t2 = t1;
  co_strlcpy(t2.id, "tr_2", sizeof t2.id);
  co_strlcpy(t2.dataset_id, "ds_2", sizeof t2.dataset_id);
  OK(s->ops->trainee_create(s, &t1));
  OK(s->ops->trainee_create(s, &t2));

  OK(s->ops->dataset_delete(s, "ds_1"));
  FAILS(s->ops->dataset_get(s, "ds_1", &got), COHORT_ENOTFOUND, "dataset 'ds_1' not found");
  FAILS(s->ops->dataset_delete(s, "ds_1"), COHORT_ENOTFOUND, "dataset 'ds_1' not found");
  OK(s->ops->trainee_get(s, "tr_1", &gt));
  assert_string_equal(gt.dataset_id, "");
  co_trainee_clear(&gt);
  OK(s->ops->trainee_get(s, "tr_2", &gt));
  assert_string_equal(gt.dataset_id, "ds_2");
  co_trainee_clear(&gt);
  s->ops->close(s);
}

/* Checksums and corrupt marks (issue 12): kept with the record, marked and cleared only while the
 * record still names the object, and each move between clean and corrupt reported once. */
static void test_checksums(void **state) {
  co_store *s = open_store("sums.db");
  const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  co_dataset d = {0}, got;
  co_strlcpy(d.id, "ds_1", sizeof d.id);
  co_strlcpy(d.workspace_id, "ws_1", sizeof d.workspace_id);
  co_strlcpy(d.name, "d", sizeof d.name);
  co_strlcpy(d.blob, "datasets/ds_1.csv", sizeof d.blob);
  co_strlcpy(d.sha256, sum, sizeof d.sha256);
  d.bytes = 4;
  OK(s->ops->dataset_create(s, &d));
  co_dataset old = d; /* from before checksums */
  co_strlcpy(old.id, "ds_old", sizeof old.id);
  co_strlcpy(old.blob, "datasets/ds_old.csv", sizeof old.blob);
  old.sha256[0] = '\0';
  OK(s->ops->dataset_create(s, &old));
  OK(s->ops->dataset_get(s, "ds_1", &got));
  assert_string_equal(got.sha256, sum);
  assert_string_equal(got.corrupt, "");
  co_dataset_clear(&got);

  int changed = -1;
  OK(s->ops->mark_corrupt(s, "dataset", "ds_1", "datasets/other.csv", "bad", &changed));
  assert_int_equal(changed, 0); /* the record names another object */
  OK(s->ops->mark_corrupt(s, "dataset", "ds_1", "datasets/ds_1.csv", "size 2, expected 4", &changed));
  assert_int_equal(changed, 1);
  OK(s->ops->mark_corrupt(s, "dataset", "ds_1", "datasets/ds_1.csv", "size 2, expected 4", &changed));
  assert_int_equal(changed, 0); /* found again: not a new finding */
  OK(s->ops->dataset_get(s, "ds_1", &got));
  assert_string_equal(got.corrupt, "size 2, expected 4");
  co_dataset_clear(&got);
  OK(s->ops->mark_corrupt(s, "dataset", "ds_1", "datasets/ds_1.csv", "", &changed));
  assert_int_equal(changed, 1); /* restored */
  OK(s->ops->dataset_get(s, "ds_1", &got));
  assert_string_equal(got.corrupt, "");
  co_dataset_clear(&got);
  OK(s->ops->mark_corrupt(s, "dataset", "ds_9", "x", "bad", &changed));
  assert_int_equal(changed, 0);
  FAILS(s->ops->mark_corrupt(s, "workspace", "ds_1", "x", "bad", NULL), COHORT_EINVAL, "kind 'workspace'");

  /* Adopting a checksum: only for a record without one. */
  OK(s->ops->set_checksum(s, "dataset", "ds_old", "datasets/ds_old.csv", sum, 7));
  OK(s->ops->dataset_get(s, "ds_old", &got));
  assert_string_equal(got.sha256, sum);
  assert_int_equal(got.bytes, 7);
  co_dataset_clear(&got);
  OK(s->ops->set_checksum(s, "dataset", "ds_1", "datasets/ds_1.csv", "00", 1));
  OK(s->ops->dataset_get(s, "ds_1", &got));
  assert_string_equal(got.sha256, sum);
  assert_int_equal(got.bytes, 4);
  co_dataset_clear(&got);

  co_trainee t = {0}, tg;
  co_strlcpy(t.id, "tr_1", sizeof t.id);
  co_strlcpy(t.workspace_id, "ws_1", sizeof t.workspace_id);
  co_strlcpy(t.name, "t", sizeof t.name);
  OK(s->ops->trainee_create(s, &t));
  OK(s->ops->trainee_commit(s, "tr_1", 0, 1, "trainees/tr_1/v1.cohort", sum, 5000000000LL, NULL, NULL, 10));
  OK(s->ops->trainee_get(s, "tr_1", &tg));
  assert_string_equal(tg.blob_sha256, sum);
  assert_int_equal(tg.blob_bytes, 5000000000LL);
  co_trainee_clear(&tg);
  OK(s->ops->mark_corrupt(s, "trainee", "tr_1", "trainees/tr_1/v1.cohort", "checksum", &changed));
  assert_int_equal(changed, 1);
  OK(s->ops->trainee_get(s, "tr_1", &tg));
  assert_string_equal(tg.corrupt, "checksum");
  co_trainee_clear(&tg);
  /* A new version is a new object: the mark goes, and a late finding on the old one is ignored. */
  OK(s->ops->trainee_commit(s, "tr_1", 1, 2, "trainees/tr_1/v2.cohort", "", 0, NULL, NULL, 20));
  OK(s->ops->mark_corrupt(s, "trainee", "tr_1", "trainees/tr_1/v1.cohort", "late", &changed));
  assert_int_equal(changed, 0);
  OK(s->ops->trainee_get(s, "tr_1", &tg));
  assert_string_equal(tg.corrupt, "");
  assert_string_equal(tg.blob_sha256, "");
  co_trainee_clear(&tg);
  OK(s->ops->set_checksum(s, "trainee", "tr_1", "trainees/tr_1/v2.cohort", sum, 9));
  OK(s->ops->trainee_get(s, "tr_1", &tg));
  assert_string_equal(tg.blob_sha256, sum);
  assert_int_equal(tg.blob_bytes, 9);
  co_trainee_clear(&tg);
  /* A copy (cohort admin migrate) keeps checksum, size and mark. */
  OK(s->ops->mark_corrupt(s, "trainee", "tr_1", "trainees/tr_1/v2.cohort", "bad", NULL));
  OK(s->ops->trainee_get(s, "tr_1", &tg));
  co_strlcpy(tg.id, "tr_2", sizeof tg.id);
  OK(s->ops->trainee_create(s, &tg));
  co_trainee_clear(&tg);
  OK(s->ops->trainee_get(s, "tr_2", &tg));
  assert_string_equal(tg.blob_sha256, sum);
  assert_int_equal(tg.blob_bytes, 9);
  assert_string_equal(tg.corrupt, "bad");
  co_trainee_clear(&tg);
  s->ops->close(s);
}

/* The database's own check (issue 12): clean on a sound store; a damaged SQLite file is refused
 * at open with a message that says what to do, and the full check lists what is wrong. */
static void count_line(void *ctx, const char *line) {
  (*(int *)ctx)++;
  assert_non_null(line);
}

static void test_integrity_check(void **state) {
  co_store *s = open_store("check.db");
  int64_t problems = -1;
  int lines = 0;
  for (int i = 0; i < 400; i++) { /* a few dozen pages of rows and index entries */
    char id[32], name[64];
    snprintf(id, sizeof id, "us_%d", i);
    snprintf(name, sizeof name, "user-%d-with-a-longer-name-to-fill-pages", i);
    co_user u = make_user(id, name, i);
    OK(s->ops->user_create(s, &u));
  }
  OK(s->ops->integrity_check(s, 0, count_line, &lines, &problems));
  assert_int_equal(problems, 0);
  OK(s->ops->integrity_check(s, 1, count_line, &lines, &problems));
  assert_int_equal(problems, 0);
  assert_int_equal(lines, 0);
  s->ops->close(s);
  if (use_pg)
    return;
  char path[300];
  tmppath(path, sizeof path, "check.db");
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  assert_true(size > 64 * 1024);
  unsigned char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(i * 131 + 7);
  assert_int_equal(fseek(f, size / 2 / 4096 * 4096, SEEK_SET), 0);
  assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
  fclose(f);
  static co_store sentinel;
  s = &sentinel;
  FAILS(co_store_sqlite_open(path, &s), COHORT_ECORRUPT, "the database is damaged");
  assert_non_null(strstr(cohort_errmsg(), "restore it from a backup"));
  assert_non_null(strstr(cohort_errmsg(), "cohort admin check"));
  assert_null(strchr(cohort_errmsg(), '\n'));
  assert_ptr_equal(s, &sentinel);
  FAILS(co_store_sqlite_open_check(path, "full", &s), COHORT_ECORRUPT, "the database is damaged");
  /* What `cohort admin check` does: open without the check, then run the full one. */
  OK(co_store_sqlite_open_check(path, "off", &s));
  lines = 0;
  OK(s->ops->integrity_check(s, 1, count_line, &lines, &problems));
  assert_true(problems > 0);
  assert_int_equal(lines, problems);
  s->ops->close(s);
}

static void test_trainees(void **state) {
  co_store *s = open_store("trainees.db");
  co_dataset d = {0};
  co_strlcpy(d.id, "ds_1", sizeof d.id);
  co_strlcpy(d.workspace_id, "ws_1", sizeof d.workspace_id);
  co_strlcpy(d.name, "d", sizeof d.name);
  OK(s->ops->dataset_create(s, &d));

  co_trainee t = {0}, got;
  co_strlcpy(t.id, "tr_1", sizeof t.id);
  co_strlcpy(t.workspace_id, "ws_1", sizeof t.workspace_id);
  co_strlcpy(t.name, "income", sizeof t.name);
  co_strlcpy(t.dataset_id, "ds_1", sizeof t.dataset_id);
  t.created_ms = t.updated_ms = 50;
  OK(s->ops->trainee_create(s, &t));
  FAILS(s->ops->trainee_create(s, &t), COHORT_ESTATE, "trainee id 'tr_1' is taken");
  co_trainee t2 = t;
  co_strlcpy(t2.id, "tr_2", sizeof t2.id);
  co_strlcpy(t2.dataset_id, "", sizeof t2.dataset_id);
  t2.info_json = (char *)"{\"cases\":3}";
  t2.created_ms = 60;
  OK(s->ops->trainee_create(s, &t2));

  OK(s->ops->trainee_get(s, "tr_1", &got));
  assert_int_equal(got.version, 0);
  assert_string_equal(got.blob, "");
  assert_null(got.info_json);
  assert_string_equal(got.dataset_id, "ds_1");
  co_trainee_clear(&got);

  /* Compare-and-swap: the first writer wins, the stale one is told what happened. */
  OK(s->ops->trainee_commit(s, "tr_1", 0, 1, "trainees/tr_1/v1.cohort", "", 0, "{\"cases\":100}", NULL, 70));
  FAILS(s->ops->trainee_commit(s, "tr_1", 0, 1, "trainees/tr_1/v1b.cohort", "", 0, "{}", NULL, 71),
        COHORT_ESTATE, "trainee 'tr_1' changed: version is 1, expected 0");
  OK(s->ops->trainee_commit(s, "tr_1", 1, 2, "trainees/tr_1/v2.cohort", "", 0, NULL, NULL, 80));
  FAILS(s->ops->trainee_commit(s, "tr_9", 0, 1, "x", "", 0, NULL, NULL, 80), COHORT_ENOTFOUND,
        "trainee 'tr_9' not found");
  assert_int_equal(s->ops->trainee_commit(s, "tr_1", 2, 2, "x", "", 0, NULL, NULL, 80), COHORT_EINVAL);
  OK(s->ops->trainee_get(s, "tr_1", &got));
  assert_int_equal(got.version, 2);
  assert_string_equal(got.blob, "trainees/tr_1/v2.cohort");
  assert_null(got.info_json);
  assert_int_equal(got.updated_ms, 80);
  assert_int_equal(got.created_ms, 50);
  co_trainee_clear(&got);
  OK(s->ops->trainee_commit(s, "tr_1", 2, 3, "trainees/tr_1/v3.cohort", "", 0, "{\"cases\":7}", NULL, 90));
  OK(s->ops->trainee_get(s, "tr_1", &got));
  assert_string_equal(got.info_json, "{\"cases\":7}");
  co_trainee_clear(&got);

  /* Fenced commits: only the attempt that holds the job's lease may commit. */
  co_job fj = make_job("jb_f", "ws_1", "tr_1", 95), claimed;
  OK(s->ops->job_create(s, &fj));
  OK(s->ops->job_claim(s, "w1", 1000, 100, 5, NULL, &claimed)); /* attempt 1, lease until 1100 */
  co_job_clear(&claimed);
  co_fence first = {"jb_f", "w1", 1}, second = {"jb_f", "w2", 2}, stranger = {"jb_f", "w9", 1};
  FAILS(s->ops->trainee_commit(s, "tr_1", 3, 4, "trainees/tr_1/v4x.cohort", "", 0, NULL, &stranger, 1001),
        COHORT_ESTATE, "no longer holds its lease");
  OK(s->ops->job_claim(s, "w2", 1101, 100, 5, NULL, &claimed)); /* w1 paused past its lease: attempt 2 */
  assert_int_equal(claimed.attempts, 2);
  co_job_clear(&claimed);
  FAILS(s->ops->trainee_commit(s, "tr_1", 3, 4, "trainees/tr_1/v4a.cohort", "", 0, NULL, &first, 1102),
        COHORT_ESTATE, "job 'jb_f' attempt 1 no longer holds its lease");
  OK(s->ops->trainee_commit(s, "tr_1", 3, 4, "trainees/tr_1/v4b.cohort", "", 0, NULL, &second, 1103));
  OK(s->ops->job_finish(s, FENCE("jb_f", "w2", 2), CO_JOB_SUCCEEDED, NULL, NULL, 1104));
  FAILS(s->ops->trainee_commit(s, "tr_1", 4, 5, "trainees/tr_1/v5.cohort", "", 0, NULL, &second, 1105),
        COHORT_ESTATE, "no longer holds its lease");
  OK(s->ops->trainee_get(s, "tr_1", &got));
  assert_int_equal(got.version, 4);
  assert_string_equal(got.blob, "trainees/tr_1/v4b.cohort");
  co_trainee_clear(&got);

  /* A trainee outlives the dataset it came from (it has its own rows), and stops naming it. */
  OK(s->ops->dataset_delete(s, "ds_1"));
  OK(s->ops->trainee_get(s, "tr_1", &got));
  assert_int_equal(got.version, 4);
  assert_string_equal(got.dataset_id, "");
  co_trainee_clear(&got);

  collect c = {0};
  OK(s->ops->trainee_list(s, "ws_1", on_trainee, &c));
  assert_int_equal(c.n, 2);
  assert_string_equal(c.ids[0], "tr_2");
  collect other = {0};
  OK(s->ops->trainee_list(s, "ws_2", on_trainee, &other));
  assert_int_equal(other.n, 0);

  OK(s->ops->trainee_delete(s, "tr_2"));
  FAILS(s->ops->trainee_get(s, "tr_2", &got), COHORT_ENOTFOUND, "trainee 'tr_2' not found");
  FAILS(s->ops->trainee_delete(s, "tr_2"), COHORT_ENOTFOUND, "tr_2");
  s->ops->close(s);
}

static void test_reports(void **state) {
  co_store *s = open_store("reports.db");
  co_report r = {0}, got;
  co_strlcpy(r.id, "rp_1", sizeof r.id);
  co_strlcpy(r.workspace_id, "ws_1", sizeof r.workspace_id);
  co_strlcpy(r.trainee_id, "tr_1", sizeof r.trainee_id);
  co_strlcpy(r.job_id, "jb_1", sizeof r.job_id);
  co_strlcpy(r.json_blob, "reports/rp_1.json", sizeof r.json_blob);
  co_strlcpy(r.html_blob, "reports/rp_1.html", sizeof r.html_blob);
  r.summary_json = (char *)"{\"accuracy\":0.85}";
  r.created_ms = 10;
  co_strlcpy(r.json_sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
             sizeof r.json_sha256);
  co_strlcpy(r.html_sha256, "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
             sizeof r.html_sha256);
  r.json_bytes = 4000000001LL; /* past 32 bits */
  r.html_bytes = 12;
  OK(s->ops->report_create(s, &r));
  FAILS(s->ops->report_create(s, &r), COHORT_ESTATE, "report id 'rp_1' is taken");
  co_report r2 = r;
  co_strlcpy(r2.id, "rp_2", sizeof r2.id);
  co_strlcpy(r2.trainee_id, "tr_2", sizeof r2.trainee_id);
  r2.summary_json = NULL;
  r2.created_ms = 20;
  OK(s->ops->report_create(s, &r2));
  co_report r3 = r2;
  co_strlcpy(r3.id, "rp_3", sizeof r3.id);
  co_strlcpy(r3.workspace_id, "ws_2", sizeof r3.workspace_id);
  r3.created_ms = 30;
  OK(s->ops->report_create(s, &r3));

  OK(s->ops->report_get(s, "rp_1", &got));
  assert_string_equal(got.job_id, "jb_1");
  assert_string_equal(got.html_blob, "reports/rp_1.html");
  assert_string_equal(got.summary_json, "{\"accuracy\":0.85}");
  assert_string_equal(got.json_sha256, r.json_sha256);
  assert_string_equal(got.html_sha256, r.html_sha256);
  assert_int_equal(got.json_bytes, 4000000001LL);
  assert_int_equal(got.html_bytes, 12);
  assert_string_equal(got.corrupt, "");
  co_report_clear(&got);
  OK(s->ops->report_get(s, "rp_2", &got));
  assert_null(got.summary_json);
  co_report_clear(&got);

  /* Corrupt marks on either object of a report, once per move; not for an object it does not name. */
  int changed = -1;
  OK(s->ops->mark_corrupt(s, "report", "rp_1", "reports/rp_1.html", "its SHA-256 differs", &changed));
  assert_int_equal(changed, 1);
  OK(s->ops->mark_corrupt(s, "report", "rp_1", "reports/rp_1.json", "again", &changed));
  assert_int_equal(changed, 0);
  OK(s->ops->mark_corrupt(s, "report", "rp_1", "reports/other.json", "", &changed));
  assert_int_equal(changed, 0);
  OK(s->ops->report_get(s, "rp_1", &got));
  assert_string_equal(got.corrupt, "its SHA-256 differs");
  co_report_clear(&got);
  OK(s->ops->mark_corrupt(s, "report", "rp_1", "reports/rp_1.json", "", &changed));
  assert_int_equal(changed, 1);
  /* Adopting a checksum fills only the object named, only where none is recorded. */
  r2.json_sha256[0] = r2.html_sha256[0] = '\0';
  r2.json_bytes = r2.html_bytes = 0;
  co_strlcpy(r2.id, "rp_4", sizeof r2.id);
  OK(s->ops->report_create(s, &r2));
  OK(s->ops->set_checksum(s, "report", "rp_4", "reports/rp_1.html", r.html_sha256, 12));
  OK(s->ops->set_checksum(s, "report", "rp_1", "reports/rp_1.html", "00", 1)); /* has one: kept */
  OK(s->ops->report_get(s, "rp_4", &got));
  assert_string_equal(got.json_sha256, "");
  assert_string_equal(got.html_sha256, r.html_sha256);
  assert_int_equal(got.html_bytes, 12);
  co_report_clear(&got);
  OK(s->ops->report_get(s, "rp_1", &got));
  assert_string_equal(got.html_sha256, r.html_sha256);
  co_report_clear(&got);
  OK(s->ops->report_delete(s, "rp_4"));

  collect c = {0};
  OK(s->ops->report_list(s, "ws_1", NULL, on_report, &c));
  assert_int_equal(c.n, 2);
  assert_string_equal(c.ids[0], "rp_2");
  collect bt = {0};
  OK(s->ops->report_list(s, "ws_1", "tr_1", on_report, &bt));
  assert_int_equal(bt.n, 1);
  assert_string_equal(bt.ids[0], "rp_1");
  collect tr2 = {0};
  OK(s->ops->report_list(s, NULL, "tr_2", on_report, &tr2));
  assert_int_equal(tr2.n, 2);
  assert_string_equal(tr2.ids[0], "rp_3");
  collect all = {0};
  OK(s->ops->report_list(s, NULL, NULL, on_report, &all));
  assert_int_equal(all.n, 3);

  OK(s->ops->report_delete(s, "rp_1"));
  FAILS(s->ops->report_get(s, "rp_1", &got), COHORT_ENOTFOUND, "report 'rp_1' not found");
  FAILS(s->ops->report_delete(s, "rp_1"), COHORT_ENOTFOUND, "rp_1");
  s->ops->close(s);
}

/* ---------------------------------------------------------------- job queue */

static void test_job_basics(void **state) {
  co_store *s = open_store("jobs_basic.db");
  co_job j = make_job("jb_1", "ws_1", "tr_1", 100), got;
  OK(s->ops->job_create(s, &j));
  FAILS(s->ops->job_create(s, &j), COHORT_ESTATE, "job id 'jb_1' is taken");
  co_job bad = make_job("jb_x", "ws_1", "", 1);
  bad.state = CO_JOB_RUNNING;
  assert_int_equal(s->ops->job_create(s, &bad), COHORT_EINVAL);

  got = get_job(s, "jb_1");
  assert_int_equal(got.state, CO_JOB_QUEUED);
  assert_string_equal(got.kind, "train");
  assert_string_equal(got.trainee_id, "tr_1");
  assert_string_equal(got.params_json, "{\"k\":1}");
  assert_null(got.result_json);
  assert_int_equal(got.attempts, 0);
  assert_int_equal(got.created_ms, 100);
  assert_string_equal(got.owner, "");
  co_job_clear(&got);
  FAILS(s->ops->job_get(s, "jb_9", &got), COHORT_ENOTFOUND, "job 'jb_9' not found");

  claim_expect(s, "w1", 1000, 500, "jb_1");
  OK(s->ops->job_progress(s, FENCE("jb_1", "w1", 1), 0.5, "analyze", 2000));
  got = get_job(s, "jb_1");
  assert_true(got.progress == 0.5);
  assert_string_equal(got.stage, "analyze");
  assert_int_equal(got.lease_until_ms, 2000);
  assert_int_equal(got.attempts, 1);
  co_job_clear(&got);

  FAILS(s->ops->job_progress(s, FENCE("jb_1", "w2", 1), 0.6, "x", 3000), COHORT_ESTATE,
        "not held by 'w2' attempt 1");
  FAILS(s->ops->job_finish(s, FENCE("jb_1", "w2", 1), CO_JOB_SUCCEEDED, "{}", NULL, 1500), COHORT_ESTATE,
        "not held");
  FAILS(s->ops->job_progress(s, FENCE("jb_9", "w1", 1), 0.6, "x", 3000), COHORT_ENOTFOUND, "jb_9");
  assert_int_equal(s->ops->job_finish(s, FENCE("jb_1", "w1", 1), CO_JOB_RUNNING, NULL, NULL, 1500),
                   COHORT_EINVAL);

  /* The owner's name alone is not enough: another attempt of it (say attempt 2 after a pause,
   * under the same instance name) is refused, as the attempt before it would be. */
  FAILS(s->ops->job_progress(s, FENCE("jb_1", "w1", 2), 0.6, "x", 3000), COHORT_ESTATE,
        "not held by 'w1' attempt 2 (it is running, owner 'w1' attempt 1)");
  FAILS(s->ops->job_finish(s, FENCE("jb_1", "w1", 0), CO_JOB_SUCCEEDED, NULL, NULL, 1500), COHORT_ESTATE,
        "attempt 0");
  assert_int_equal(s->ops->job_progress(s, NULL, 0.1, "x", 1), COHORT_EINVAL);
  OK(s->ops->job_finish(s, FENCE("jb_1", "w1", 1), CO_JOB_SUCCEEDED, "{\"ok\":true}", NULL, 1600));
  got = get_job(s, "jb_1");
  assert_int_equal(got.state, CO_JOB_SUCCEEDED);
  assert_string_equal(got.result_json, "{\"ok\":true}");
  assert_int_equal(got.finished_ms, 1600);
  assert_true(got.progress == 1.0);
  co_job_clear(&got);
  /* Finished: the holder cannot report again. */
  FAILS(s->ops->job_finish(s, FENCE("jb_1", "w1", 1), CO_JOB_FAILED, NULL, "late", 1700), COHORT_ESTATE,
        "succeeded");
  FAILS(s->ops->job_progress(s, FENCE("jb_1", "w1", 1), 0.1, "x", 1700), COHORT_ESTATE, "not held");

  /* Failure keeps the error text. */
  co_job f = make_job("jb_2", "ws_1", "", 200);
  OK(s->ops->job_create(s, &f));
  claim_expect(s, "w1", 2000, 100, "jb_2");
  OK(s->ops->job_finish(s, FENCE("jb_2", "w1", 1), CO_JOB_FAILED, NULL, "column 'x' missing", 2050));
  got = get_job(s, "jb_2");
  assert_int_equal(got.state, CO_JOB_FAILED);
  assert_string_equal(got.error, "column 'x' missing");
  assert_null(got.result_json);
  co_job_clear(&got);
  claim_expect(s, "w1", 3000, 100, NULL);
  s->ops->close(s);
}

static void test_job_claim_rules(void **state) {
  co_store *s = open_store("jobs_rules.db");
  /* Created out of id order; equal times fall back to id. */
  co_job jobs[] = {
      make_job("jb_c", "ws_1", "tr_A", 30), make_job("jb_a", "ws_1", "tr_A", 10),
      make_job("jb_b", "ws_1", "", 20),     make_job("jb_e", "ws_1", "tr_B", 40),
      make_job("jb_d", "ws_1", "tr_B", 40),
  };
  for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
    OK(s->ops->job_create(s, &jobs[i]));

  claim_expect(s, "w1", 1000, 100, "jb_a");
  claim_expect(s, "w1", 1000, 100000, "jb_b"); /* long lease: stays out of the way below */
  /* jb_c waits: tr_A already has jb_a running under a live lease. */
  claim_expect(s, "w1", 1000, 100, "jb_d");
  claim_expect(s, "w1", 1000, 100, NULL); /* jb_c and jb_e blocked */

  /* Finishing jb_a frees tr_A. */
  OK(s->ops->job_finish(s, FENCE("jb_a", "w1", 1), CO_JOB_SUCCEEDED, NULL, NULL, 1010));
  claim_expect(s, "w2", 1020, 100, "jb_c");

  /* jb_d's lease (until 1100) is live at 1100 and ended at 1101: then it is claimable again, by
   * another owner, before the younger jb_e of the same trainee, and the old owner is locked out. */
  claim_expect(s, "w2", 1100, 100, NULL);
  co_job j;
  OK(s->ops->job_claim(s, "w3", 1101, 100, 100, NULL, &j));
  assert_string_equal(j.id, "jb_d");
  assert_int_equal(j.attempts, 2);
  assert_int_equal(j.started_ms, 1101);
  assert_true(j.progress == 0.0);
  co_job_clear(&j);
  FAILS(s->ops->job_progress(s, FENCE("jb_d", "w1", 1), 0.9, "late", 5000), COHORT_ESTATE, "owner 'w3'");
  FAILS(s->ops->job_finish(s, FENCE("jb_d", "w1", 1), CO_JOB_SUCCEEDED, NULL, NULL, 1102), COHORT_ESTATE,
        "not held");
  OK(s->ops->job_progress(s, FENCE("jb_d", "w3", 2), 0.2, "train", 1300));
  /* jb_c (lease until 1120) expired too, and jb_e still waits for jb_d. */
  claim_expect(s, "w4", 1200, 100, "jb_c");
  claim_expect(s, "w4", 1200, 100, NULL);
  OK(s->ops->job_finish(s, FENCE("jb_d", "w3", 2), CO_JOB_SUCCEEDED, NULL, NULL, 1210));
  claim_expect(s, "w4", 1220, 100, "jb_e");

  int64_t counts[5];
  OK(s->ops->job_counts(s, counts));
  assert_int_equal(counts[CO_JOB_QUEUED], 0);
  assert_int_equal(counts[CO_JOB_RUNNING], 3); /* jb_b, jb_c, jb_e */
  assert_int_equal(counts[CO_JOB_SUCCEEDED], 2);
  assert_int_equal(counts[CO_JOB_FAILED], 0);
  assert_int_equal(counts[CO_JOB_CANCELLED], 0);
  assert_int_equal(s->ops->job_claim(s, "", 1, 1, 1, NULL, &j), COHORT_EINVAL);
  assert_int_equal(s->ops->job_claim(s, "w", 1, 0, 1, NULL, &j), COHORT_EINVAL);

  /* A named job, as a work-queue delivery names it: that one or nothing, under the same rules. */
  co_job n1 = make_job("jb_n1", "ws_1", "", 2000), n2 = make_job("jb_n2", "ws_1", "", 2001);
  OK(s->ops->job_create(s, &n1));
  OK(s->ops->job_create(s, &n2));
  OK(s->ops->job_claim(s, "w5", 2100, 100, 100, "jb_n2", &j));
  assert_string_equal(j.id, "jb_n2"); /* not the older jb_n1 */
  co_job_clear(&j);
  assert_int_equal(s->ops->job_claim(s, "w6", 2100, 100, 100, "jb_n2", &j), COHORT_ENOTFOUND); /* held */
  assert_int_equal(s->ops->job_claim(s, "w6", 2100, 100, 100, "jb_a", &j), COHORT_ENOTFOUND);  /* finished */
  assert_int_equal(s->ops->job_claim(s, "w6", 2100, 100, 100, "jb_none", &j), COHORT_ENOTFOUND);
  OK(s->ops->job_claim(s, "w6", 2100, 100, 100, "jb_n1", &j));
  assert_string_equal(j.id, "jb_n1");
  co_job_clear(&j);
  s->ops->close(s);
}

static void test_job_cancel_requeue(void **state) {
  co_store *s = open_store("jobs_cancel.db");
  co_job q = make_job("jb_q", "ws_1", "", 10), r = make_job("jb_r", "ws_1", "tr_1", 20), got;
  OK(s->ops->job_create(s, &q));
  OK(s->ops->job_create(s, &r));

  /* Queued: cancelled at once, and never claimed. */
  OK(s->ops->job_cancel(s, "jb_q", 500));
  got = get_job(s, "jb_q");
  assert_int_equal(got.state, CO_JOB_CANCELLED);
  assert_int_equal(got.finished_ms, 500);
  co_job_clear(&got);
  FAILS(s->ops->job_cancel(s, "jb_q", 501), COHORT_ESTATE, "job 'jb_q' already finished");

  /* Running: only flagged, the worker decides; the flag survives a reclaim. */
  claim_expect(s, "w1", 1000, 100, "jb_r");
  OK(s->ops->job_cancel(s, "jb_r", 1001));
  got = get_job(s, "jb_r");
  assert_int_equal(got.state, CO_JOB_RUNNING);
  assert_int_equal(got.cancel_requested, 1);
  assert_int_equal(got.finished_ms, 0);
  co_job_clear(&got);
  co_job j;
  OK(s->ops->job_claim(s, "w2", 2000, 100, 100, NULL, &j));
  assert_string_equal(j.id, "jb_r");
  assert_int_equal(j.cancel_requested, 1);
  co_job_clear(&j);
  OK(s->ops->job_finish(s, FENCE("jb_r", "w2", 2), CO_JOB_CANCELLED, NULL, "cancelled", 2010));
  FAILS(s->ops->job_cancel(s, "jb_r", 2020), COHORT_ESTATE, "already finished");
  FAILS(s->ops->job_cancel(s, "jb_none", 2020), COHORT_ENOTFOUND, "job 'jb_none' not found");

  /* Requeue: only this owner's running jobs go back. */
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "jb_%d", i);
    co_job k = make_job(id, "ws_1", "", 100 + i);
    OK(s->ops->job_create(s, &k));
  }
  claim_expect(s, "proc1", 3000, 1000000, "jb_0");
  claim_expect(s, "proc2", 3000, 1000000, "jb_1");
  claim_expect(s, "proc1", 3000, 1000000, "jb_2");
  int64_t n = -1;
  OK(s->ops->job_requeue_owner(s, "proc1", &n));
  assert_int_equal(n, 2);
  got = get_job(s, "jb_0");
  assert_int_equal(got.state, CO_JOB_QUEUED);
  assert_string_equal(got.owner, "");
  assert_int_equal(got.attempts, 1);
  co_job_clear(&got);
  got = get_job(s, "jb_1");
  assert_int_equal(got.state, CO_JOB_RUNNING);
  co_job_clear(&got);
  OK(s->ops->job_requeue_owner(s, "proc1", &n));
  assert_int_equal(n, 0);
  claim_expect(s, "proc3", 3001, 100, "jb_0");
  claim_expect(s, "proc3", 3001, 100, "jb_2");

  int64_t counts[5];
  OK(s->ops->job_counts(s, counts));
  assert_int_equal(counts[CO_JOB_RUNNING], 3);
  assert_int_equal(counts[CO_JOB_CANCELLED], 2);
  s->ops->close(s);
}

/* Issue 9: progress and outcome are fenced by attempt, not only by owner. A worker paused past its
 * lease whose job was claimed again under the same instance name (another of its threads, or the
 * restarted pod) must not renew the new attempt's lease, report its progress, or finish it. */
static void test_job_fence_same_owner(void **state) {
  co_store *s = open_store("jobs_fence.db");
  co_job q = make_job("jb_p", "ws_1", "tr_1", 10), j, got;
  OK(s->ops->job_create(s, &q));
  OK(s->ops->job_claim(s, "pod-0", 1000, 100, 5, NULL, &j)); /* attempt 1; then paused */
  assert_int_equal(j.attempts, 1);
  co_job_clear(&j);
  OK(s->ops->job_claim(s, "pod-0", 1101, 100, 5, NULL, &j)); /* the same name takes it over */
  assert_int_equal(j.attempts, 2);
  co_job_clear(&j);
  /* The paused attempt comes back. */
  FAILS(s->ops->job_progress(s, FENCE("jb_p", "pod-0", 1), 0.9, "late", 99999), COHORT_ESTATE,
        "not held by 'pod-0' attempt 1 (it is running, owner 'pod-0' attempt 2)");
  FAILS(s->ops->job_finish(s, FENCE("jb_p", "pod-0", 1), CO_JOB_FAILED, NULL, "stale", 1102), COHORT_ESTATE,
        "attempt 1");
  got = get_job(s, "jb_p");
  assert_int_equal(got.state, CO_JOB_RUNNING);
  assert_int_equal(got.lease_until_ms, 1201); /* not renewed to 99999 by the stale attempt */
  assert_string_equal(got.error, "");
  co_job_clear(&got);
  OK(s->ops->job_progress(s, FENCE("jb_p", "pod-0", 2), 0.5, "train", 1300));
  OK(s->ops->job_finish(s, FENCE("jb_p", "pod-0", 2), CO_JOB_SUCCEEDED, "{}", NULL, 1250));
  got = get_job(s, "jb_p");
  assert_int_equal(got.state, CO_JOB_SUCCEEDED);
  co_job_clear(&got);
  s->ops->close(s);
}

/* Store version 5 adds a unique index on lower(user name). A database from before it that holds
 * case variants is refused at start, naming them, instead of failing with a bare constraint error
 * or renaming someone's sign-in name; once the operator renames one, it starts and migrates. */
static void test_user_names_folded_migration(void **state) {
  co_store *s = open_store("folded.db");
  co_user a = make_user("us_1", "Bob", 1), b = make_user("us_2", "carol", 2);
  OK(s->ops->user_create(s, &a));
  OK(s->ops->user_create(s, &b));
  s->ops->close(s);
  /* Back to schema 3, as an older cohort left it, with a case variant the old API let in. */
  raw_exec("folded.db",
           "DROP INDEX users_name_folded;"
           "ALTER TABLE reports DROP COLUMN json_sha256;"
           "ALTER TABLE reports DROP COLUMN json_bytes;"
           "ALTER TABLE reports DROP COLUMN html_sha256;"
           "ALTER TABLE reports DROP COLUMN html_bytes;"
           "ALTER TABLE reports DROP COLUMN corrupt;"
           "DELETE FROM schema_migrations WHERE version >= 4;"
           "INSERT INTO users(id, name, pwhash, is_admin, created_ms) VALUES ('us_3', 'bob', '', 0, 3);");
  FAILS(open_named("folded.db", &s), COHORT_ESTATE,
        "2 users share a name that way: 'Bob' (us_1), 'bob' (us_3)");
  assert_non_null(strstr(cohort_errmsg(), "UPDATE users SET name"));
  assert_int_equal(raw_int("folded.db", "SELECT MAX(version) FROM schema_migrations"),
                   3); /* nothing applied */
  raw_exec("folded.db", "UPDATE users SET name = 'bob-2' WHERE id = 'us_3'");
  s = open_store("folded.db");
  assert_int_equal(raw_int("folded.db", "SELECT MAX(version) FROM schema_migrations"), 5);
  co_user c = make_user("us_4", "CAROL", 4);
  FAILS(s->ops->user_create(s, &c), COHORT_ESTATE, "user name 'CAROL' is taken");
  s->ops->close(s);
}

static void test_job_list(void **state) {
  co_store *s = open_store("jobs_list.db");
  const char *spec[][3] = {{"jb_1", "ws_1", "tr_1"},
                           {"jb_2", "ws_1", "tr_2"},
                           {"jb_3", "ws_2", "tr_1"},
                           {"jb_4", "ws_1", "tr_1"},
                           {"jb_5", "ws_1", ""}};
  for (int i = 0; i < 5; i++) {
    co_job j = make_job(spec[i][0], spec[i][1], spec[i][2], 100 * (i + 1));
    OK(s->ops->job_create(s, &j));
  }
  claim_expect(s, "w", 1000, 100, "jb_1");

  collect c = {0};
  OK(s->ops->job_list(s, NULL, on_job, &c));
  assert_int_equal(c.n, 5);
  assert_string_equal(c.ids[0], "jb_5"); /* newest first */
  assert_string_equal(c.ids[4], "jb_1");

  co_job_filter f = {"ws_1", NULL, -1, 0};
  collect ws = {0};
  OK(s->ops->job_list(s, &f, on_job, &ws));
  assert_int_equal(ws.n, 4);
  f = (co_job_filter){"ws_1", "tr_1", -1, 0};
  collect wt = {0};
  OK(s->ops->job_list(s, &f, on_job, &wt));
  assert_int_equal(wt.n, 2);
  assert_string_equal(wt.ids[0], "jb_4");
  assert_string_equal(wt.ids[1], "jb_1");
  f = (co_job_filter){NULL, "tr_1", CO_JOB_QUEUED, 0};
  collect tq = {0};
  OK(s->ops->job_list(s, &f, on_job, &tq));
  assert_int_equal(tq.n, 2);
  assert_string_equal(tq.ids[0], "jb_4");
  assert_string_equal(tq.ids[1], "jb_3");
  f = (co_job_filter){NULL, NULL, CO_JOB_RUNNING, 0};
  collect run = {0};
  OK(s->ops->job_list(s, &f, on_job, &run));
  assert_int_equal(run.n, 1);
  assert_string_equal(run.ids[0], "jb_1");
  f = (co_job_filter){NULL, NULL, -1, 2};
  collect lim = {0};
  OK(s->ops->job_list(s, &f, on_job, &lim));
  assert_int_equal(lim.n, 2);
  assert_string_equal(lim.ids[1], "jb_4");
  f = (co_job_filter){"ws_9", NULL, -1, 0};
  collect none = {0};
  OK(s->ops->job_list(s, &f, on_job, &none));
  assert_int_equal(none.n, 0);
  collect stop = {.stop_after = 2};
  assert_int_equal(s->ops->job_list(s, NULL, on_job, &stop), 42);
  assert_int_equal(stop.n, 2);
  s->ops->close(s);
}

/* ---------------------------------------------------------------- concurrent claims */

enum { NJOBS = 200 };

typedef struct claimer {
  co_store *s;    /* shared handle, or NULL to open one's own */
  const char *db; /* file name when opening one's own */
  char owner[16];
  int claimed[NJOBS]; /* times this thread got job i */
  int total;
  cohort_status err; /* first unexpected failure */
  char errmsg[256];
} claimer;

static void *claim_loop(void *arg) {
  claimer *c = arg;
  co_store *s = c->s;
  if (!s) {
    if ((c->err = open_named(c->db, &s)) != COHORT_OK) {
      co_strlcpy(c->errmsg, cohort_errmsg(), sizeof c->errmsg);
      return NULL;
    }
  }
  for (;;) {
    co_job j;
    cohort_status st = s->ops->job_claim(s, c->owner, co_now_ms(), 600000, 100, NULL, &j);
    if (st == COHORT_ENOTFOUND)
      break;
    if (st != COHORT_OK) {
      c->err = st;
      co_strlcpy(c->errmsg, cohort_errmsg(), sizeof c->errmsg);
      break;
    }
    int idx = atoi(j.id + 3);
    if (idx >= 0 && idx < NJOBS)
      c->claimed[idx]++;
    c->total++;
    /* Some writes between claims, as a worker would do. */
    st = s->ops->job_finish(s, FENCE(j.id, c->owner, j.attempts), CO_JOB_SUCCEEDED, "{}", NULL, co_now_ms());
    co_job_clear(&j);
    if (st != COHORT_OK) {
      c->err = st;
      co_strlcpy(c->errmsg, cohort_errmsg(), sizeof c->errmsg);
      break;
    }
  }
  if (!c->s)
    s->ops->close(s);
  return NULL;
}

static void run_claimers(const char *db, int shared) {
  co_store *s = open_store(db);
  for (int i = 0; i < NJOBS; i++) {
    char id[16];
    snprintf(id, sizeof id, "jb_%03d", i);
    /* Most share one of 7 trainees, so the one-writer rule runs too. A thread can see nothing
     * runnable only while the other holds a job, so the other drains the rest. */
    char trainee[16];
    snprintf(trainee, sizeof trainee, "tr_%d", i % 7);
    co_job j = make_job(id, "ws_1", i % 4 ? trainee : "", 1000 + i % 50);
    OK(s->ops->job_create(s, &j));
  }
  claimer c[2];
  pthread_t th[2];
  memset(c, 0, sizeof c);
  for (int t = 0; t < 2; t++) {
    c[t].s = shared ? s : NULL;
    c[t].db = db;
    snprintf(c[t].owner, sizeof c[t].owner, "worker%d", t);
    assert_int_equal(pthread_create(&th[t], NULL, claim_loop, &c[t]), 0);
  }
  for (int t = 0; t < 2; t++)
    assert_int_equal(pthread_join(th[t], NULL), 0);
  for (int t = 0; t < 2; t++)
    if (c[t].err != COHORT_OK)
      fail_msg("%s: %s (%s)", c[t].owner, cohort_strerror(c[t].err), c[t].errmsg);
  for (int i = 0; i < NJOBS; i++)
    if (c[0].claimed[i] + c[1].claimed[i] != 1)
      fail_msg("job %d claimed %d + %d times", i, c[0].claimed[i], c[1].claimed[i]);
  assert_int_equal(c[0].total + c[1].total, NJOBS);
  int64_t counts[5];
  OK(s->ops->job_counts(s, counts));
  assert_int_equal(counts[CO_JOB_SUCCEEDED], NJOBS);
  s->ops->close(s);
}

static void test_concurrent_claim_shared(void **state) {
  run_claimers("claim_shared.db", 1);
}

/* Two connections: on SQLite BEGIN IMMEDIATE and the busy timeout do the serializing; on
 * PostgreSQL row locks and the trainee's advisory lock. */
static void test_concurrent_claim_two_handles(void **state) {
  run_claimers("claim_two.db", 0);
}

/* Bootstrap happens once however many processes try; later calls change nothing. */
static void test_bootstrap_once(void **state) {
  co_store *s = open_store("bootstrap.db"), *s2 = open_store("bootstrap.db");
  co_user a = {.id = "usr_a", .name = "admin", .is_admin = 1, .created_ms = 1}, b = a;
  co_workspace w = {.id = "ws_a", .name = "default", .created_ms = 1}, w2 = w;
  int created = -1;
  co_strlcpy(b.id, "usr_b", sizeof b.id);
  co_strlcpy(w2.id, "ws_b", sizeof w2.id);
  OK(s->ops->ping(s));
  OK(s->ops->bootstrap(s, &a, &w, &created));
  assert_int_equal(created, 1);
  OK(s2->ops->bootstrap(s2, &b, &w2, &created));
  assert_int_equal(created, 0);
  int64_t users = 0;
  OK(s->ops->user_count(s, &users));
  assert_int_equal(users, 1);
  co_member m;
  OK(s->ops->member_get(s, "ws_a", "usr_a", &m));
  assert_int_equal(m.role, CO_ROLE_OWNER);
  FAILS(s->ops->workspace_get(s, "ws_b", &(co_workspace){0}), COHORT_ENOTFOUND, "ws_b");
  s2->ops->close(s2);
  s->ops->close(s);
}

/* A job whose worker keeps dying is given up after max_attempts claims, with a reason. */
static void test_job_max_attempts(void **state) {
  co_store *s = open_store("jobs_attempts.db");
  co_job q = make_job("jb_x", "ws_1", "tr_1", 10), got;
  OK(s->ops->job_create(s, &q));
  co_job j;
  OK(s->ops->job_claim(s, "w1", 1000, 100, 2, NULL, &j)); /* attempt 1; its worker dies */
  co_job_clear(&j);
  OK(s->ops->job_claim(s, "w2", 1101, 100, 2, NULL, &j)); /* attempt 2, after the lease ended */
  assert_int_equal(j.attempts, 2);
  co_job_clear(&j);
  /* The second lease is live at 1201: nothing to do, and the job is untouched. */
  assert_int_equal(s->ops->job_claim(s, "w3", 1200, 100, 2, NULL, &j), COHORT_ENOTFOUND);
  got = get_job(s, "jb_x");
  assert_int_equal(got.state, CO_JOB_RUNNING);
  co_job_clear(&got);
  /* Ended again: not a third attempt but a failure that says why. */
  assert_int_equal(s->ops->job_claim(s, "w3", 1202, 100, 2, NULL, &j), COHORT_ENOTFOUND);
  got = get_job(s, "jb_x");
  assert_int_equal(got.state, CO_JOB_FAILED);
  assert_int_equal(got.attempts, 2);
  assert_int_equal(got.finished_ms, 1202);
  assert_non_null(strstr(got.error, "gave up after 2 attempts"));
  co_job_clear(&got);
  /* The late worker cannot revive it. */
  FAILS(s->ops->job_finish(s, FENCE("jb_x", "w2", 2), CO_JOB_SUCCEEDED, NULL, NULL, 1300), COHORT_ESTATE,
        "jb_x");
  s->ops->close(s);
}

/* ---------------------------------------------------------------- PostgreSQL only
 * What several processes on one server need: each thread below has its own handle (its own
 * connections), as a process would, and they start together at a barrier. */

enum { NRACERS = 4 };

typedef struct racer {
  const char *db;
  pthread_barrier_t *go;
  int index;
  co_store *s; /* opened by the thread, or given */
  cohort_status err;
  char errmsg[256];
  int created;
} racer;

static void racer_fail(racer *r, cohort_status st) {
  r->err = st;
  co_strlcpy(r->errmsg, cohort_errmsg(), sizeof r->errmsg);
}

static void *bootstrap_racer(void *arg) {
  racer *r = arg;
  co_user a = {.is_admin = 1, .created_ms = 1};
  co_workspace w = {.created_ms = 1};
  snprintf(a.id, sizeof a.id, "usr_%d", r->index);
  snprintf(a.name, sizeof a.name, "admin%d", r->index);
  snprintf(w.id, sizeof w.id, "ws_%d", r->index);
  co_strlcpy(w.name, "default", sizeof w.name);
  pthread_barrier_wait(r->go);
  cohort_status st = r->s->ops->bootstrap(r->s, &a, &w, &r->created);
  if (st != COHORT_OK)
    racer_fail(r, st);
  return NULL;
}

/* Replicas starting together: exactly one bootstraps, the others see it done. */
static void test_pg_bootstrap_race(void **state) {
  racer r[NRACERS];
  pthread_t th[NRACERS];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, NRACERS);
  memset(r, 0, sizeof r);
  for (int round = 0; round < 3; round++) {
    char db[32];
    snprintf(db, sizeof db, "boot_race_%d", round);
    for (int t = 0; t < NRACERS; t++) {
      r[t] = (racer){.db = db, .go = &go, .index = t, .created = -1, .s = open_store(db)};
      assert_int_equal(pthread_create(&th[t], NULL, bootstrap_racer, &r[t]), 0);
    }
    int created = 0;
    for (int t = 0; t < NRACERS; t++) {
      assert_int_equal(pthread_join(th[t], NULL), 0);
      if (r[t].err != COHORT_OK)
        fail_msg("bootstrap %d: %s (%s)", t, cohort_strerror(r[t].err), r[t].errmsg);
      assert_true(r[t].created == 0 || r[t].created == 1);
      created += r[t].created;
    }
    assert_int_equal(created, 1);
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM users"), 1);
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM workspaces"), 1);
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM members WHERE role = 3"), 1);
    for (int t = 0; t < NRACERS; t++)
      r[t].s->ops->close(r[t].s);
  }
  pthread_barrier_destroy(&go);
}

enum { NJOBS50 = 50, NTRAINEES50 = 5 };

typedef struct claim_race {
  pthread_barrier_t go;
  int claimed[NJOBS50];     /* times job i was claimed, over all handles (atomic adds) */
  int running[NTRAINEES50]; /* jobs of trainee t held right now (atomic) */
  int overlap;              /* a trainee had two jobs held at once */
  int done;                 /* jobs finished */
} claim_race;

typedef struct claim_racer {
  racer r;
  claim_race *race;
  char owner[16];
} claim_racer;

static void *claim50_loop(void *arg) {
  claim_racer *c = arg;
  co_store *s = c->r.s;
  int64_t deadline = co_now_ms() + 60000;
  pthread_barrier_wait(&c->race->go);
  while (__atomic_load_n(&c->race->done, __ATOMIC_SEQ_CST) < NJOBS50 && co_now_ms() < deadline) {
    co_job j;
    cohort_status st = s->ops->job_claim(s, c->owner, co_now_ms(), 600000, 3, NULL, &j);
    if (st == COHORT_ENOTFOUND) { /* the rest is held by others, or blocked behind their trainee */
      nanosleep(&(struct timespec){0, 1000000}, NULL);
      continue;
    }
    if (st != COHORT_OK) {
      racer_fail(&c->r, st);
      return NULL;
    }
    int idx = atoi(j.id + 3), tr = j.trainee_id[0] ? j.trainee_id[3] - '0' : -1;
    if (idx >= 0 && idx < NJOBS50)
      __atomic_add_fetch(&c->race->claimed[idx], 1, __ATOMIC_SEQ_CST);
    /* One writer per trainee: nobody else may hold a job of it until this one is finished. The
     * count drops before the finish, while the job is still running in the store. */
    if (tr >= 0 && __atomic_add_fetch(&c->race->running[tr], 1, __ATOMIC_SEQ_CST) > 1)
      __atomic_store_n(&c->race->overlap, 1, __ATOMIC_SEQ_CST);
    nanosleep(&(struct timespec){0, 2000000}, NULL); /* the work */
    if (tr >= 0)
      __atomic_sub_fetch(&c->race->running[tr], 1, __ATOMIC_SEQ_CST);
    st = s->ops->job_finish(s, FENCE(j.id, c->owner, j.attempts), CO_JOB_SUCCEEDED, "{}", NULL, co_now_ms());
    co_job_clear(&j);
    if (st != COHORT_OK) {
      racer_fail(&c->r, st);
      return NULL;
    }
    __atomic_add_fetch(&c->race->done, 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

/* 50 jobs, 4 handles claiming at once: each job runs exactly once, never two of one trainee at
 * a time. */
static void test_pg_claim_50_by_4(void **state) {
  static claim_race race;
  claim_racer c[NRACERS];
  pthread_t th[NRACERS];
  co_store *s = open_store("claim50.db");
  memset(&race, 0, sizeof race);
  memset(c, 0, sizeof c);
  for (int i = 0; i < NJOBS50; i++) {
    char id[16], trainee[16];
    snprintf(id, sizeof id, "jb_%03d", i);
    snprintf(trainee, sizeof trainee, "tr_%d", i % NTRAINEES50);
    co_job j = make_job(id, "ws_1", i % 3 ? trainee : "", 1000 + i);
    OK(s->ops->job_create(s, &j));
  }
  pthread_barrier_init(&race.go, NULL, NRACERS);
  for (int t = 0; t < NRACERS; t++) {
    c[t].race = &race;
    c[t].r.s = open_store("claim50.db");
    snprintf(c[t].owner, sizeof c[t].owner, "proc%d", t);
    assert_int_equal(pthread_create(&th[t], NULL, claim50_loop, &c[t]), 0);
  }
  int busy = 0;
  for (int t = 0; t < NRACERS; t++) {
    assert_int_equal(pthread_join(th[t], NULL), 0);
    if (c[t].r.err != COHORT_OK)
      fail_msg("%s: %s (%s)", c[t].owner, cohort_strerror(c[t].r.err), c[t].r.errmsg);
    c[t].r.s->ops->close(c[t].r.s);
  }
  pthread_barrier_destroy(&race.go);
  for (int i = 0; i < NJOBS50; i++)
    if (race.claimed[i] != 1)
      fail_msg("job %d claimed %d times", i, race.claimed[i]);
  assert_int_equal(race.overlap, 0);
  int64_t counts[5];
  OK(s->ops->job_counts(s, counts));
  assert_int_equal(counts[CO_JOB_SUCCEEDED], NJOBS50);
  /* Several handles did the work (not one that drained the queue before the others started). */
  for (int t = 0; t < NRACERS; t++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM jobs WHERE owner = 'proc%d'", t);
    busy += raw_int("claim50.db", sql) > 0;
  }
  assert_true(busy >= 2);
  s->ops->close(s);
}

static void *claim_once(void *arg) {
  claim_racer *c = arg;
  co_job j;
  pthread_barrier_wait(&c->race->go);
  cohort_status st = c->r.s->ops->job_claim(c->r.s, c->owner, co_now_ms(), 600000, 3, NULL, &j);
  if (st == COHORT_OK) {
    c->r.created = 1; /* won */
    co_job_clear(&j);
  } else if (st != COHORT_ENOTFOUND)
    racer_fail(&c->r, st);
  return NULL;
}

/* The sharp case of one writer per trainee: handles claim at the same instant from a queue that
 * holds only jobs of one trainee. Each sees no running job of it in its snapshot, and SKIP LOCKED
 * lets each pick a different row; exactly one may win. */
static void test_pg_claim_one_writer(void **state) {
  static claim_race race;
  claim_racer c[NRACERS];
  pthread_t th[NRACERS];
  co_store *s = open_store("one_writer.db");
  memset(&race, 0, sizeof race);
  memset(c, 0, sizeof c);
  pthread_barrier_init(&race.go, NULL, NRACERS);
  for (int t = 0; t < NRACERS; t++) {
    c[t].race = &race;
    c[t].r.s = open_store("one_writer.db");
    snprintf(c[t].owner, sizeof c[t].owner, "proc%d", t);
  }
  for (int round = 0; round < 25; round++) {
    char trainee[16], winner[16] = "";
    snprintf(trainee, sizeof trainee, "tr_%d", round);
    for (int k = 0; k < NRACERS; k++) {
      char id[24];
      snprintf(id, sizeof id, "jb_%d_%d", round, k);
      co_job j = make_job(id, "ws_1", trainee, 1000 + round * 10 + k);
      OK(s->ops->job_create(s, &j));
    }
    for (int t = 0; t < NRACERS; t++) {
      c[t].r.created = 0;
      assert_int_equal(pthread_create(&th[t], NULL, claim_once, &c[t]), 0);
    }
    int wins = 0;
    for (int t = 0; t < NRACERS; t++) {
      assert_int_equal(pthread_join(th[t], NULL), 0);
      if (c[t].r.err != COHORT_OK)
        fail_msg("%s: %s (%s)", c[t].owner, cohort_strerror(c[t].r.err), c[t].r.errmsg);
      if (c[t].r.created)
        co_strlcpy(winner, c[t].owner, sizeof winner);
      wins += c[t].r.created;
    }
    if (wins != 1)
      fail_msg("round %d: %d handles hold a job of %s at once", round, wins, trainee);
    /* Clear the round: its jobs leave the queue (cancel the queued, finish the running one). */
    co_job_filter f = {NULL, trainee, -1, 0};
    collect ids = {0};
    OK(s->ops->job_list(s, &f, on_job, &ids));
    for (int k = 0; k < ids.n; k++) {
      co_job j = get_job(s, ids.ids[k]);
      if (j.state == CO_JOB_RUNNING)
        OK(s->ops->job_finish(s, FENCE(j.id, winner, j.attempts), CO_JOB_SUCCEEDED, NULL, NULL, co_now_ms()));
      else
        OK(s->ops->job_cancel(s, j.id, co_now_ms()));
      co_job_clear(&j);
    }
  }
  for (int t = 0; t < NRACERS; t++)
    c[t].r.s->ops->close(c[t].r.s);
  pthread_barrier_destroy(&race.go);
  s->ops->close(s);
}

static void *open_racer(void *arg) {
  racer *r = arg;
  pthread_barrier_wait(r->go);
  cohort_status st = open_named(r->db, &r->s);
  if (st != COHORT_OK)
    racer_fail(r, st);
  return NULL;
}

/* Processes starting at once on an empty database: all open, and each migration ran once. */
static void test_pg_concurrent_migrations(void **state) {
  enum { N = 6 };
  racer r[N];
  pthread_t th[N];
  pthread_barrier_t go;
  pg_fresh("mig_race.db"); /* created here, not by the racers */
  pthread_barrier_init(&go, NULL, N);
  memset(r, 0, sizeof r);
  for (int t = 0; t < N; t++) {
    r[t] = (racer){.db = "mig_race.db", .go = &go, .index = t};
    assert_int_equal(pthread_create(&th[t], NULL, open_racer, &r[t]), 0);
  }
  for (int t = 0; t < N; t++) {
    assert_int_equal(pthread_join(th[t], NULL), 0);
    if (r[t].err != COHORT_OK)
      fail_msg("open %d: %s (%s)", t, cohort_strerror(r[t].err), r[t].errmsg);
  }
  pthread_barrier_destroy(&go);
  int64_t rows = raw_int("mig_race.db", "SELECT COUNT(*) FROM schema_migrations");
  assert_true(rows >= 1);
  assert_int_equal(raw_int("mig_race.db", "SELECT COUNT(DISTINCT version) FROM schema_migrations"), rows);
  assert_int_equal(raw_int("mig_race.db", "SELECT MAX(version) FROM schema_migrations"), rows);
  /* And every handle works on the result. */
  for (int t = 0; t < N; t++) {
    int64_t n = -1;
    OK(r[t].s->ops->user_count(r[t].s, &n));
    assert_int_equal(n, 0);
    r[t].s->ops->close(r[t].s);
  }
}

static void pg_server(const char *verb) {
  const char *ctl = getenv("COHORT_TEST_PG_CTL"), *dir = getenv("COHORT_TEST_PG_DIR"),
             *port = getenv("COHORT_TEST_PG_PORT");
  char cmd[1024];
  if (!ctl || !dir || !port)
    fail_msg("COHORT_TEST_PG_CTL, _DIR and _PORT are unset: run under tests/with-postgres.sh");
  snprintf(cmd, sizeof cmd, "'%s' %s '%s' %s >/dev/null", ctl, verb, dir, strcmp(verb, "start") ? "" : port);
  if (system(cmd) != 0)
    fail_msg("%s failed", cmd);
}

static void *count_users(void *arg) {
  racer *r = arg;
  pthread_barrier_wait(r->go);
  for (int i = 0; i < 5 && r->err == COHORT_OK; i++) {
    int64_t n;
    cohort_status st = r->s->ops->user_count(r->s, &n);
    if (st != COHORT_OK)
      racer_fail(r, st);
  }
  return NULL;
}

/* NRACERS threads on one handle at once: every call succeeds (the pool opens NRACERS sessions). */
static void all_succeed(co_store *s) {
  racer r[NRACERS];
  pthread_t th[NRACERS];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, NRACERS);
  memset(r, 0, sizeof r);
  for (int t = 0; t < NRACERS; t++) {
    r[t] = (racer){.go = &go, .s = s};
    assert_int_equal(pthread_create(&th[t], NULL, count_users, &r[t]), 0);
  }
  for (int t = 0; t < NRACERS; t++)
    assert_int_equal(pthread_join(th[t], NULL), 0);
  pthread_barrier_destroy(&go);
  for (int t = 0; t < NRACERS; t++)
    if (r[t].err != COHORT_OK)
      fail_msg("thread %d: %s (%s)", t, cohort_strerror(r[t].err), r[t].errmsg);
}

/* The server goes away under an open handle: calls fail at once with the "unavailable" EIO the
 * HTTP layer turns into 503, and the same handle works again once it is back. */
static void test_pg_recovery(void **state) {
  co_store *s = open_store("recovery.db");
  co_user u = make_user("us_1", "alice", 1), got;
  OK(s->ops->user_create(s, &u));
  all_succeed(s); /* several pooled sessions, all about to go stale */

  pg_server("stop");
  FAILS(s->ops->user_get(s, "us_1", &got), COHORT_EUNAVAIL, "store: PostgreSQL unavailable: ");
  assert_ptr_equal(strstr(cohort_errmsg(), "store: PostgreSQL unavailable: "), cohort_errmsg());
  for (int i = 0; i < 20; i++) { /* fail fast: no call waits for a timeout */
    int64_t t0 = co_now_ms();
    FAILS(s->ops->ping(s), COHORT_EUNAVAIL, "store: PostgreSQL unavailable: ");
    assert_true(co_now_ms() - t0 < 1000);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
  }
  co_job j = make_job("jb_1", "ws_1", "", 1);
  FAILS(s->ops->job_create(s, &j), COHORT_EUNAVAIL, "store: PostgreSQL unavailable: ");

  pg_server("start");
  cohort_status st = COHORT_EIO;
  for (int64_t until = co_now_ms() + 20000; co_now_ms() < until;) {
    if ((st = s->ops->ping(s)) == COHORT_OK)
      break;
    nanosleep(&(struct timespec){0, 100000000}, NULL);
  }
  if (st != COHORT_OK)
    fail_msg("no recovery within 20 s: %s", cohort_errmsg());
  all_succeed(s); /* no stale session left to fail a call */
  OK(s->ops->user_get(s, "us_1", &got));
  assert_string_equal(got.name, "alice");
  OK(s->ops->job_create(s, &j));
  claim_expect(s, "w1", 1000, 100, "jb_1");
  s->ops->close(s);
}

/* A statement that outlives store_timeout_ms is cancelled by the server, and the session stays
 * usable. */
static void test_pg_statement_timeout(void **state) {
  co_store *s = NULL;
  char url[600], db[64];
  co_store_pg_options opt = {1, 300};
  pg_fresh("timeout.db");
  pg_dbname("timeout.db", db, sizeof db);
  pg_url(db, url, sizeof url);
  OK(co_store_postgres_open(url, &opt, &s));
  /* Another session holds the users table: the store's insert waits on it, then times out. */
  PGconn *c = pg_raw(url);
  pg_raw_exec(c, "BEGIN");
  pg_raw_exec(c, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
  co_user u = make_user("us_1", "alice", 1);
  int64_t t0 = co_now_ms();
  FAILS(s->ops->user_create(s, &u), COHORT_EIO, "statement timeout");
  assert_true(co_now_ms() - t0 < 3000);
  pg_raw_exec(c, "ROLLBACK");
  PQfinish(c);
  OK(s->ops->user_create(s, &u));
  s->ops->close(s);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_open_migrations),
      cmocka_unit_test(test_open_pragmas),
      cmocka_unit_test(test_users),
      cmocka_unit_test(test_workspaces_members),
      cmocka_unit_test(test_tokens_sessions),
      cmocka_unit_test(test_user_revoke),
      cmocka_unit_test(test_login_backoff),
      cmocka_unit_test(test_login_backoff_expiry),
      cmocka_unit_test(test_login_backoff_concurrent),
      cmocka_unit_test(test_datasets),
      cmocka_unit_test(test_trainees),
      cmocka_unit_test(test_checksums),
      cmocka_unit_test(test_integrity_check),
      cmocka_unit_test(test_reports),
      cmocka_unit_test(test_job_basics),
      cmocka_unit_test(test_job_claim_rules),
      cmocka_unit_test(test_job_cancel_requeue),
      cmocka_unit_test(test_job_fence_same_owner),
      cmocka_unit_test(test_user_names_folded_migration),
      cmocka_unit_test(test_job_list),
      cmocka_unit_test(test_concurrent_claim_shared),
      cmocka_unit_test(test_concurrent_claim_two_handles),
      cmocka_unit_test(test_bootstrap_once),
      cmocka_unit_test(test_job_max_attempts),
  };
  const struct CMUnitTest pg_tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_open_migrations),
      cmocka_unit_test(test_users),
      cmocka_unit_test(test_workspaces_members),
      cmocka_unit_test(test_tokens_sessions),
      cmocka_unit_test(test_login_backoff),
      cmocka_unit_test(test_login_backoff_expiry),
      cmocka_unit_test(test_login_backoff_concurrent),
      cmocka_unit_test(test_datasets),
      cmocka_unit_test(test_trainees),
      cmocka_unit_test(test_checksums),
      cmocka_unit_test(test_integrity_check),
      cmocka_unit_test(test_reports),
      cmocka_unit_test(test_job_basics),
      cmocka_unit_test(test_job_claim_rules),
      cmocka_unit_test(test_job_cancel_requeue),
      cmocka_unit_test(test_job_fence_same_owner),
      cmocka_unit_test(test_user_names_folded_migration),
      cmocka_unit_test(test_job_list),
      cmocka_unit_test(test_concurrent_claim_shared),
      cmocka_unit_test(test_concurrent_claim_two_handles),
      cmocka_unit_test(test_bootstrap_once),
      cmocka_unit_test(test_job_max_attempts),
      cmocka_unit_test(test_pg_bootstrap_race),
      cmocka_unit_test(test_pg_claim_50_by_4),
      cmocka_unit_test(test_pg_claim_one_writer),
      cmocka_unit_test(test_pg_concurrent_migrations),
      cmocka_unit_test(test_pg_statement_timeout),
      cmocka_unit_test(test_pg_recovery), /* last: it restarts the server */
  };
  const char *backend = argc > 1 ? argv[1] : getenv("COHORT_TEST_STORE");
  if (!backend || strcmp(backend, "sqlite") == 0)
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
  if (strcmp(backend, "postgres") != 0) {
    fprintf(stderr, "test_store: unknown backend '%s' (sqlite or postgres)\n", backend);
    return 2;
  }
  use_pg = 1;
  if (!(pg_base = getenv("COHORT_TEST_PG_URL"))) {
    fprintf(stderr,
            "test_store postgres: COHORT_TEST_PG_URL is unset: run it under tests/with-postgres.sh\n");
    return 2;
  }
  return cmocka_run_group_tests_name("test_store_postgres", pg_tests, make_tmpdir, remove_tmpdir);
}
