/* The auth cache (authcache.h) over a real SQLite store, with a thin counting layer between them
 * so each test sees which lookups reached the store: hits make no store call, failures are never
 * kept, a flush or the TTL ends an entry, expiry is checked on every hit, an insert that raced
 * with a flush is refused, the table stays within its bound, and many threads at once agree
 * (run it under TSan: make test-tsan builds it too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "auth.h"
#include "authcache.h"
#include "backends.h"
#include "co_base.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OK(call)                                                                                             \
  do {                                                                                                       \
    cohort_status st_ = (call);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s: %s (%s)", #call, cohort_strerror(st_), cohort_errmsg());                                 \
  } while (0)

/* ---------------------------------------------------------------- a store that counts its reads */

typedef struct counting {
  co_store base;
  co_store_ops ops;
  co_store *inner;
  co_authcache *flush_on_read; /* set: flush this cache right after each read (a racing change) */
  pthread_mutex_t mu;
  int reads;
} counting;

static counting *C(co_store *s) {
  return (counting *)s;
}

static void counted(co_store *s) {
  pthread_mutex_lock(&C(s)->mu);
  C(s)->reads++;
  pthread_mutex_unlock(&C(s)->mu);
  co_authcache_flush(C(s)->flush_on_read);
}

static cohort_status c_token_by_hash(co_store *s, const char *hash, co_token *out) {
  cohort_status st = C(s)->inner->ops->token_by_hash(C(s)->inner, hash, out);
  counted(s);
  return st;
}
static cohort_status c_user_get(co_store *s, const char *id, co_user *out) {
  counted(s);
  return C(s)->inner->ops->user_get(C(s)->inner, id, out);
}
static cohort_status c_token_touch(co_store *s, const char *id, int64_t now_ms) {
  return C(s)->inner->ops->token_touch(C(s)->inner, id, now_ms);
}
static cohort_status c_session_get(co_store *s, const char *hash, co_session *out) {
  cohort_status st = C(s)->inner->ops->session_get(C(s)->inner, hash, out);
  counted(s);
  return st;
}
static cohort_status c_member_get(co_store *s, const char *ws, const char *user, co_member *out) {
  cohort_status st = C(s)->inner->ops->member_get(C(s)->inner, ws, user, out);
  counted(s);
  return st;
}
static cohort_status c_workspace_get(co_store *s, const char *id, co_workspace *out) {
  cohort_status st = C(s)->inner->ops->workspace_get(C(s)->inner, id, out);
  counted(s);
  return st;
}
static cohort_status c_trainee_get(co_store *s, const char *id, co_trainee *out) {
  cohort_status st = C(s)->inner->ops->trainee_get(C(s)->inner, id, out);
  counted(s);
  return st;
}

static int reads(counting *c) {
  pthread_mutex_lock(&c->mu);
  int n = c->reads;
  pthread_mutex_unlock(&c->mu);
  return n;
}

static char tmpdir[256];

typedef struct fixture {
  counting cs;
  co_store *raw; /* behind the cache's back: what another process would do */
  co_store *s;   /* through the counter */
  co_authcache *cache;
} fixture;

static co_user make_user(const char *id, const char *name) {
  co_user u = {0};
  co_strlcpy(u.id, id, sizeof u.id);
  co_strlcpy(u.name, name, sizeof u.name);
  co_strlcpy(u.pwhash, "$argon2id$stand-in", sizeof u.pwhash);
  u.created_ms = 1;
  return u;
}

static void add_token(co_store *s, const char *id, const char *user, const char *secret, int64_t expires_ms) {
  co_token t = {0};
  co_strlcpy(t.id, id, sizeof t.id);
  co_strlcpy(t.user_id, user, sizeof t.user_id);
  co_strlcpy(t.name, id, sizeof t.name);
  co_secret_hash(secret, t.hash);
  t.created_ms = co_now_ms();
  t.expires_ms = expires_ms;
  t.last_used_ms = t.created_ms; /* no touch write in these tests unless asked */
  OK(s->ops->token_create(s, &t));
}

static int setup(void **state) {
  static int n;
  fixture *f = calloc(1, sizeof *f);
  char path[512];
  snprintf(path, sizeof path, "%s/cache-%d.db", tmpdir, n++);
  OK(co_store_sqlite_open(path, &f->raw));
  f->cs.inner = f->raw;
  f->cs.ops.version = CO_STORE_VERSION;
  f->cs.ops.name = "counting";
  f->cs.ops.token_by_hash = c_token_by_hash;
  f->cs.ops.user_get = c_user_get;
  f->cs.ops.token_touch = c_token_touch;
  f->cs.ops.session_get = c_session_get;
  f->cs.ops.member_get = c_member_get;
  f->cs.ops.workspace_get = c_workspace_get;
  f->cs.ops.trainee_get = c_trainee_get;
  f->cs.base.ops = &f->cs.ops;
  pthread_mutex_init(&f->cs.mu, NULL);
  f->s = &f->cs.base;
  co_user a = make_user("us_a", "alice"), b = make_user("us_b", "bob");
  OK(f->raw->ops->user_create(f->raw, &a));
  OK(f->raw->ops->user_create(f->raw, &b));
  co_workspace w = {"ws_1", "team", 1};
  OK(f->raw->ops->workspace_create(f->raw, &w));
  OK(f->raw->ops->member_set(f->raw, "ws_1", "us_a", CO_ROLE_EDITOR));
  OK(co_authcache_create(60000, 64, &f->cache));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  co_authcache_destroy(f->cache);
  f->raw->ops->close(f->raw);
  pthread_mutex_destroy(&f->cs.mu);
  free(f);
  return 0;
}

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* ---------------------------------------------------------------- tests */

static void test_token_hit_and_flush(void **state) {
  fixture *f = *state;
  co_user u;
  add_token(f->raw, "tk_1", "us_a", "secret-1", 0);
  OK(co_authcache_token(f->cache, f->s, "secret-1", &u));
  assert_string_equal(u.name, "alice");
  int before = reads(&f->cs);
  assert_int_equal(before, 2); /* token, then user */
  for (int i = 0; i < 5; i++) {
    memset(&u, 0, sizeof u);
    OK(co_authcache_token(f->cache, f->s, "secret-1", &u));
    assert_string_equal(u.id, "us_a");
    assert_string_equal(u.pwhash, "$argon2id$stand-in");
  }
  assert_int_equal(reads(&f->cs), before);
  int64_t hits, misses;
  co_authcache_stats(f->cache, &hits, &misses);
  assert_int_equal(hits, 5);
  assert_int_equal(misses, 1);

  /* Deleted behind the cache's back (another process): still answered until the TTL or a flush. */
  OK(f->raw->ops->token_delete(f->raw, "us_a", "tk_1"));
  OK(co_authcache_token(f->cache, f->s, "secret-1", &u));
  co_authcache_flush(f->cache);
  assert_int_equal(co_authcache_token(f->cache, f->s, "secret-1", &u), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "unknown API token"));
}

static void test_failures_are_not_kept(void **state) {
  fixture *f = *state;
  co_user u;
  for (int i = 0; i < 3; i++)
    assert_int_equal(co_authcache_token(f->cache, f->s, "secret-later", &u), COHORT_EINVAL);
  assert_int_equal(reads(&f->cs), 3); /* each refusal asked the store again */
  add_token(f->raw, "tk_l", "us_b", "secret-later", 0);
  OK(co_authcache_token(f->cache, f->s, "secret-later", &u));
  assert_string_equal(u.name, "bob");

  co_role role;
  for (int i = 0; i < 2; i++)
    assert_int_equal(co_authcache_member(f->cache, f->s, "ws_1", "us_b", CO_ROLE_VIEWER, &role),
                     COHORT_ENOTFOUND);
  OK(f->raw->ops->member_set(f->raw, "ws_1", "us_b", CO_ROLE_VIEWER));
  OK(co_authcache_member(f->cache, f->s, "ws_1", "us_b", CO_ROLE_VIEWER, &role));
  assert_int_equal(role, CO_ROLE_VIEWER);
  /* A grant made elsewhere counts at once: a kept role too low for the request is asked again. */
  OK(f->raw->ops->member_set(f->raw, "ws_1", "us_b", CO_ROLE_EDITOR));
  OK(co_authcache_member(f->cache, f->s, "ws_1", "us_b", CO_ROLE_VIEWER, &role));
  assert_int_equal(role, CO_ROLE_VIEWER); /* enough for a viewer's request: the kept answer */
  OK(co_authcache_member(f->cache, f->s, "ws_1", "us_b", CO_ROLE_EDITOR, &role));
  assert_int_equal(role, CO_ROLE_EDITOR);
  OK(co_authcache_member(f->cache, f->s, "ws_1", "us_b", CO_ROLE_VIEWER, &role));
  assert_int_equal(role, CO_ROLE_EDITOR); /* the fresh answer replaced the old one */
  assert_int_equal(co_authcache_workspace(f->cache, f->s, "ws_none"), COHORT_ENOTFOUND);
  OK(co_authcache_workspace(f->cache, f->s, "ws_1"));
  int n = reads(&f->cs);
  OK(co_authcache_workspace(f->cache, f->s, "ws_1"));
  assert_int_equal(co_authcache_workspace(f->cache, f->s, "ws_none"), COHORT_ENOTFOUND);
  assert_int_equal(reads(&f->cs), n + 1);
}

static void test_ttl_ends_entries(void **state) {
  fixture *f = *state;
  co_authcache *c;
  co_user u;
  co_role role;
  OK(co_authcache_create(200, 64, &c));
  add_token(f->raw, "tk_t", "us_a", "secret-t", 0);
  OK(co_authcache_token(c, f->s, "secret-t", &u));
  OK(co_authcache_member(c, f->s, "ws_1", "us_a", CO_ROLE_VIEWER, &role));
  OK(f->raw->ops->token_delete(f->raw, "us_a", "tk_t"));
  OK(f->raw->ops->member_set(f->raw, "ws_1", "us_a", CO_ROLE_NONE));
  OK(co_authcache_token(c, f->s, "secret-t", &u)); /* within the TTL: the cached answer */
  sleep_ms(250);
  assert_int_equal(co_authcache_token(c, f->s, "secret-t", &u), COHORT_EINVAL);
  assert_int_equal(co_authcache_member(c, f->s, "ws_1", "us_a", CO_ROLE_VIEWER, &role), COHORT_ENOTFOUND);
  co_authcache_destroy(c);
}

static void test_expiry_checked_on_hits(void **state) {
  fixture *f = *state;
  co_user u;
  add_token(f->raw, "tk_e", "us_a", "secret-e", co_now_ms() + 300);
  OK(co_authcache_token(f->cache, f->s, "secret-e", &u));
  int n = reads(&f->cs);
  sleep_ms(350);
  assert_int_equal(co_authcache_token(f->cache, f->s, "secret-e", &u), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "expired"));
  assert_int_equal(reads(&f->cs), n); /* refused from the cached record, by its own clock */

  co_session se = {0}, got;
  co_secret_hash("cookie-1", se.hash);
  co_strlcpy(se.user_id, "us_b", sizeof se.user_id);
  co_strlcpy(se.csrf, "csrf-1", sizeof se.csrf);
  se.created_ms = co_now_ms();
  se.expires_ms = se.created_ms + 300;
  OK(f->raw->ops->session_create(f->raw, &se));
  OK(co_authcache_session(f->cache, f->s, "cookie-1", &got, &u));
  assert_string_equal(got.csrf, "csrf-1");
  assert_string_equal(u.name, "bob");
  OK(co_authcache_session(f->cache, f->s, "cookie-1", &got, &u));
  sleep_ms(350);
  assert_int_equal(co_authcache_session(f->cache, f->s, "cookie-1", &got, &u), COHORT_EINVAL);
}

static void test_trainee_record_and_drop(void **state) {
  fixture *f = *state;
  co_trainee t = {0}, got;
  co_strlcpy(t.id, "tr_1", sizeof t.id);
  co_strlcpy(t.workspace_id, "ws_1", sizeof t.workspace_id);
  co_strlcpy(t.name, "p", sizeof t.name);
  t.created_ms = t.updated_ms = 1;
  OK(f->raw->ops->trainee_create(f->raw, &t));
  OK(f->raw->ops->trainee_commit(f->raw, "tr_1", 0, 1, "trainees/tr_1/v1", "", 0, "{\"cases\":3}", NULL, 2));
  OK(co_authcache_trainee(f->cache, f->s, "tr_1", &got));
  assert_int_equal(got.version, 1);
  assert_null(got.info_json);
  OK(f->raw->ops->trainee_commit(f->raw, "tr_1", 1, 2, "trainees/tr_1/v2", "", 0, "{\"cases\":4}", NULL, 3));
  OK(co_authcache_trainee(f->cache, f->s, "tr_1", &got));
  assert_int_equal(got.version, 1); /* another process's commit: seen within the TTL */
  co_authcache_drop_trainee(f->cache, "tr_1");
  OK(co_authcache_trainee(f->cache, f->s, "tr_1", &got));
  assert_int_equal(got.version, 2);
  assert_string_equal(got.blob, "trainees/tr_1/v2");
  OK(f->raw->ops->trainee_delete(f->raw, "tr_1"));
  co_authcache_drop_trainee(f->cache, "tr_1");
  assert_int_equal(co_authcache_trainee(f->cache, f->s, "tr_1", &got), COHORT_ENOTFOUND);
  assert_int_equal(co_authcache_trainee(NULL, f->s, "tr_1", &got), COHORT_ENOTFOUND);
}

/* A change and its flush land while a lookup is reading the store: the lookup's answer is used
 * once but not kept, so the next request reads the changed state. */
static void test_read_racing_a_flush_is_not_kept(void **state) {
  fixture *f = *state;
  co_user u;
  co_role role;
  add_token(f->raw, "tk_r", "us_a", "secret-r", 0);
  f->cs.flush_on_read = f->cache;
  OK(co_authcache_token(f->cache, f->s, "secret-r", &u));
  OK(co_authcache_member(f->cache, f->s, "ws_1", "us_a", CO_ROLE_VIEWER, &role));
  f->cs.flush_on_read = NULL;
  int n = reads(&f->cs);
  OK(co_authcache_token(f->cache, f->s, "secret-r", &u));
  OK(co_authcache_member(f->cache, f->s, "ws_1", "us_a", CO_ROLE_VIEWER, &role));
  assert_int_equal(reads(&f->cs), n + 3); /* token + user, member: all from the store again */
}

static void test_bounded(void **state) {
  fixture *f = *state;
  co_authcache *c;
  char id[32];
  OK(co_authcache_create(60000, 4, &c));
  for (int i = 0; i < 6; i++) {
    co_workspace w = {{0}, "w", 1};
    snprintf(w.id, sizeof w.id, "ws_b%d", i);
    OK(f->raw->ops->workspace_create(f->raw, &w));
    OK(co_authcache_workspace(c, f->s, w.id));
  }
  int n = reads(&f->cs);
  for (int i = 2; i < 6; i++) { /* the four newest stay */
    snprintf(id, sizeof id, "ws_b%d", i);
    OK(co_authcache_workspace(c, f->s, id));
  }
  assert_int_equal(reads(&f->cs), n);
  OK(co_authcache_workspace(c, f->s, "ws_b0")); /* the oldest went first */
  assert_int_equal(reads(&f->cs), n + 1);
  co_authcache_destroy(c);
  assert_int_equal(co_authcache_create(0, 4, &c), COHORT_EINVAL);
  assert_int_equal(co_authcache_create(1000, 0, &c), COHORT_EINVAL);
}

typedef struct hammer {
  fixture *f;
  int id, failures;
} hammer;

static void *hammer_main(void *arg) {
  hammer *h = arg;
  co_user u;
  co_role role;
  co_trainee t;
  for (int i = 0; i < 2000; i++) {
    char secret[32];
    snprintf(secret, sizeof secret, "secret-h%d", (h->id + i) % 4);
    if (co_authcache_token(h->f->cache, h->f->s, secret, &u) != COHORT_OK || strcmp(u.id, "us_a") != 0)
      h->failures++;
    if (co_authcache_member(h->f->cache, h->f->s, "ws_1", "us_a", CO_ROLE_VIEWER, &role) != COHORT_OK ||
        role != CO_ROLE_EDITOR)
      h->failures++;
    if (co_authcache_trainee(h->f->cache, h->f->s, "tr_h", &t) != COHORT_OK || t.version != 1)
      h->failures++;
    if (i % 97 == 0)
      co_authcache_flush(h->f->cache);
    if (i % 89 == 0)
      co_authcache_drop_trainee(h->f->cache, "tr_h");
  }
  return NULL;
}

static void test_threads(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 4; i++) {
    char id[16], secret[32];
    snprintf(id, sizeof id, "tk_h%d", i);
    snprintf(secret, sizeof secret, "secret-h%d", i);
    add_token(f->raw, id, "us_a", secret, 0);
  }
  co_trainee t = {0};
  co_strlcpy(t.id, "tr_h", sizeof t.id);
  co_strlcpy(t.workspace_id, "ws_1", sizeof t.workspace_id);
  OK(f->raw->ops->trainee_create(f->raw, &t));
  OK(f->raw->ops->trainee_commit(f->raw, "tr_h", 0, 1, "trainees/tr_h/v1", "", 0, "{}", NULL, 2));
  pthread_t th[6];
  hammer h[6];
  for (int i = 0; i < 6; i++) {
    h[i] = (hammer){f, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
  }
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(h[i].failures, 0);
  }
  int64_t hits, misses;
  co_authcache_stats(f->cache, &hits, &misses);
  assert_true(hits > misses); /* the cache did its job between the flushes */
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/cohort-test-authcache-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir))
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_token_hit_and_flush, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failures_are_not_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ttl_ends_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expiry_checked_on_hits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trainee_record_and_drop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_racing_a_flush_is_not_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    rc = rc ? rc : 1;
  return rc;
}
