/* api_auth.c: sign-in, the caller, API tokens, users (admin) and workspaces with members. */
#include "api.h"
#include "auth.h"
#include "co_base.h"
#include "util.h"

#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int append_member(void *ctx, const co_member *m) {
  json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s}", "workspace", m->workspace_id,
                                       "workspace_name", m->workspace_name, "user", m->user_id, "user_name",
                                       m->user_name, "role", co_role_name(m->role)));
  return 0;
}

static int count_owners(void *ctx, const co_member *m) {
  *(int *)ctx += m->role == CO_ROLE_OWNER;
  return 0;
}

static json_t *user_json(co_req *r, const co_user *u) {
  json_t *ws = json_array();
  r->p->store->ops->member_list_user(r->p->store, u->id, append_member, ws);
  return json_pack("{s:s, s:s, s:b, s:I, s:o}", "id", u->id, "name", u->name, "admin", u->is_admin,
                   "created_ms", (json_int_t)u->created_ms, "workspaces", ws);
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy[CO_HASH_MAX];
static void make_dummy(void) {
  char pw[33];
  co_random_hex(pw, sizeof pw, 16);
  if (co_password_hash(pw, dummy) != COHORT_OK)
    dummy[0] = '\0';
}

/* ---------------------------------------------------------------- sign-in throttling */

/* "client:<address>" (see trusted_proxies): IPv6 clients by their /64, which one host can fill
 * with addresses. */
static void client_key(co_req *r, char *out, size_t cap) {
  char addr[64];
  co_ipaddr_format(&r->client, 1, addr, sizeof addr);
  snprintf(out, cap, "client:%s", addr);
}

static void reply_retry(co_req *r, int64_t ms, const char *code, const char *msg) {
  char secs[24];
  int64_t s = (ms + 999) / 1000;
  snprintf(secs, sizeof secs, "%lld", (long long)(s < 1 ? 1 : s));
  co_reply_header(r, "Retry-After", secs);
  co_reply_error(r, 429, code, NULL, "%s; try again in %s s", msg, secs);
}

/* In-flight sign-ins whose password checks run (or wait for a slot) off the HTTP threads. */
static int login_inflight_max(const co_config *c) {
  return c->login_concurrency * 4 + 4;
}

/* Enters the password gate on an HTTP thread without waiting (PUT /v1/me/password); 0 after
 * replying 429. */
static int pwgate_enter_now(co_req *r) {
  if (co_pwgate_enter(r->p->cfg.login_concurrency, 0, 0))
    return 1;
  reply_retry(r, 1000, "busy", "too many password checks at once");
  return 0;
}

/* "user:<name>", ASCII case folded: sign-in finds a user whatever the case of the name (as the
 * store's lower() does), so "ADMIN" and "admin" must share one count. */
static void account_key(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "user:%.140s", name);
  for (char *c = out + 5; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
}

/* The backoff state is in the store, shared by every process on it (N API replicas must not give
 * N times the guesses). 1 if neither the account nor the client (ckey NULL: not asked) is in
 * backoff; otherwise 0 after replying 429, or the store's failure (503 while it is down). */
static int login_allowed(co_req *r, const char *ukey, const char *ckey) {
  co_store *s = r->p->store;
  int64_t now = co_now_ms(), a = 0, b = 0;
  cohort_status st = s->ops->login_blocked(s, ukey, now, &a);
  if (st == COHORT_OK && ckey)
    st = s->ops->login_blocked(s, ckey, now, &b);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return 0;
  }
  if (a == 0 && b == 0)
    return 1;
  reply_retry(r, a > b ? a : b, "too_many_attempts", "too many failed sign-ins");
  return 0;
}

/* Counts a failure against the account and (ckey not NULL) the client. 1 = counted; 0 after
 * replying the store's failure: a guess that cannot be counted is not answered. */
static int login_failed(co_req *r, const char *ukey, const char *ckey) {
  const co_config *c = &r->p->cfg;
  co_store *s = r->p->store;
  int64_t now = co_now_ms(), max_ms = (int64_t)c->login_backoff_max_s * 1000;
  cohort_status st = s->ops->login_fail(s, ukey, c->login_free_failures, max_ms, now, NULL);
  if (st == COHORT_OK && ckey)
    st = s->ops->login_fail(s, ckey, c->login_free_failures, max_ms, now, NULL);
  if (st == COHORT_OK)
    return 1;
  co_reply_status(r, st, NULL);
  return 0;
}

/* Forgets the account's failures after a correct password; 0 after replying the store's failure. */
static int login_succeeded(co_req *r, const char *ukey) {
  cohort_status st = r->p->store->ops->login_clear(r->p->store, ukey);
  if (st == COHORT_OK)
    return 1;
  co_reply_status(r, st, NULL);
  return 0;
}

/* The password check of a sign-in, on a thread of its own (co_defer; no store calls here):
 * waits up to login_wait_ms for one of login_concurrency slots. The user, looked up by the
 * handler, is in r->user (a public route does not otherwise use it) and r->defer_st says
 * whether it was found. defer_ok: 1 match, 0 no match, -1 no slot. */
static void login_work(co_req *r) {
  const co_config *c = &r->p->cfg;
  const char *password = json_string_value(json_object_get(r->json, "password"));
  r->defer_ok = -1;
  if (!co_pwgate_enter(c->login_concurrency, login_inflight_max(c), c->login_wait_ms))
    return;
  /* Verify even for unknown users so timing does not tell which names exist. */
  pthread_once(&dummy_once, make_dummy);
  r->defer_ok = co_password_verify(r->defer_st == COHORT_OK ? r->user.pwhash : dummy, password);
  co_pwgate_leave();
}

static void login_done(co_req *r);

/* Login CSRF: a page on another site must not sign its visitor in to the attacker's account.
 * Browsers say where a request comes from: Sec-Fetch-Site (unforgeable by pages) must be
 * same-origin or none (typed or bookmarked); without it (older browsers), an Origin must name
 * the Host (or X-Forwarded-Host behind a proxy). Clients that send neither are not browsers. */
static int login_origin_ok(co_req *r) {
  const char *site = co_header(r, "Sec-Fetch-Site"), *origin = co_header(r, "Origin");
  if (site)
    return strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0;
  if (!origin)
    return 1;
  const char *sep = strstr(origin, "://");
  if (!sep)
    return 0; /* "null" from sandboxed frames and file: pages */
  const char *host = co_header(r, "Host"), *fwd = co_header(r, "X-Forwarded-Host");
  return (host && strcasecmp(sep + 3, host) == 0) || (fwd && strcasecmp(sep + 3, fwd) == 0);
}

/* POST /v1/auth/login {"username","password"} -> session cookie + CSRF token. Throttled: backoff
 * per account and per client after failures (checked first, so a blocked guess costs nothing),
 * and a bounded number of password checks at once, run off the HTTP threads so /healthz and
 * everything else never queue behind them. */
void api_login(co_req *r) {
  const char *name = NULL, *password = NULL;
  char ukey[CO_LOGIN_KEY_MAX], ckey[CO_LOGIN_KEY_MAX];
  if (api_str(r, "username", 1, &name) || api_str(r, "password", 1, &password))
    return;
  if (!login_origin_ok(r)) {
    const char *origin = co_header(r, "Origin"), *site = co_header(r, "Sec-Fetch-Site");
    co_reply_error(r, 403, "cross_origin", "Origin",
                   "sign-in from another site is refused (Origin '%.100s', Sec-Fetch-Site '%.32s')",
                   origin ? origin : "", site ? site : "");
    return;
  }
  account_key(name, ukey, sizeof ukey);
  client_key(r, ckey, sizeof ckey);
  if (!login_allowed(r, ukey, ckey))
    return;
  co_store *s = r->p->store;
  r->defer_st = s->ops->user_by_name(s, name, &r->user);
  if (r->defer_st != COHORT_OK && r->defer_st != COHORT_ENOTFOUND) {
    co_reply_status(r, r->defer_st, NULL);
    return;
  }
  if (co_defer(r, login_inflight_max(&r->p->cfg), login_work, login_done) != 0)
    reply_retry(r, 1000, "busy", "too many sign-ins at once");
}

static void login_done(co_req *r) {
  co_store *s = r->p->store;
  const char *name = json_string_value(json_object_get(r->json, "username"));
  char ukey[CO_LOGIN_KEY_MAX], ckey[CO_LOGIN_KEY_MAX];
  account_key(name, ukey, sizeof ukey);
  client_key(r, ckey, sizeof ckey);
  cohort_status st = r->defer_st;
  co_user u = r->user;
  memset(&r->user, 0, sizeof r->user);
  if (r->defer_ok < 0) {
    reply_retry(r, 1000, "busy", "too many sign-ins at once");
    return;
  }
  if (st != COHORT_OK || !r->defer_ok) {
    if (login_failed(r, ukey, ckey))
      co_reply_error(r, 401, "unauthenticated", "password", "wrong user name or password");
    return;
  }
  /* Only the account's count: a success must not let one client reset its own guess count. */
  if (!login_succeeded(r, ukey))
    return;
  co_session se;
  char cookie[80], header[256];
  if ((st = co_session_issue(s, u.id, (int64_t)r->p->cfg.session_hours * 3600000, &se, cookie,
                             sizeof cookie)) != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  snprintf(header, sizeof header, "cohort_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
           cookie, r->p->cfg.session_hours * 3600, r->p->cfg.secure_cookies ? "; Secure" : "");
  sodium_memzero(cookie, sizeof cookie);
  co_reply_header(r, "Set-Cookie", header);
  sodium_memzero(header, sizeof header);
  json_t *body = user_json(r, &u);
  json_object_set_new(body, "csrf_token", json_string(se.csrf));
  co_reply_json(r, 200, body);
}

void api_logout(co_req *r) {
  if (r->via_session)
    r->p->store->ops->session_delete(r->p->store, r->session.hash);
  co_platform_auth_changed(r->p); /* after every write that narrows access, even a failed one */
  co_reply_header(r, "Set-Cookie", "cohort_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  co_reply_json(r, 200, json_pack("{s:b}", "signed_out", 1));
}

/* GET /v1/me: who is calling, their workspaces and roles (and the CSRF token for the UI). */
void api_me(co_req *r) {
  json_t *body = user_json(r, &r->user);
  if (r->via_session)
    json_object_set_new(body, "csrf_token", json_string(r->session.csrf));
  co_reply_json(r, 200, body);
}

/* PUT /v1/me/password {"current","password","keep_tokens"}: the user's other sessions end and
 * their API tokens are revoked (unless keep_tokens): whoever knew the old password may hold them. */
void api_change_password(co_req *r) {
  const char *cur = NULL, *pw = NULL;
  char hash[CO_HASH_MAX], ukey[CO_LOGIN_KEY_MAX];
  int keep_tokens = 0;
  int64_t nsessions = 0, ntokens = 0;
  if (api_str(r, "current", 1, &cur) || api_str(r, "password", 1, &pw) ||
      api_bool(r, "keep_tokens", 0, &keep_tokens))
    return;
  /* The current password is a sign-in by another door: the same gate and account backoff. */
  account_key(r->user.name, ukey, sizeof ukey);
  if (!login_allowed(r, ukey, NULL) || !pwgate_enter_now(r))
    return;
  if (!co_password_verify(r->user.pwhash, cur)) {
    co_pwgate_leave();
    if (login_failed(r, ukey, NULL))
      co_reply_error(r, 403, "forbidden", "current", "current password is wrong");
    return;
  }
  cohort_status st = co_password_check(pw);
  if (st == COHORT_OK)
    st = co_password_hash(pw, hash);
  co_pwgate_leave();
  /* The current password was right: the account's count starts again (before any change, so a
   * store failure here leaves everything as it was). */
  if (!login_succeeded(r, ukey))
    return;
  if (st == COHORT_OK)
    st = r->p->store->ops->user_set_password(r->p->store, r->user.id, hash);
  co_platform_auth_changed(r->p);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "password");
    return;
  }
  st = r->p->store->ops->user_revoke(r->p->store, r->user.id, r->via_session ? r->session.hash : NULL,
                                     !keep_tokens, &nsessions, &ntokens);
  co_platform_auth_changed(r->p);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200,
                json_pack("{s:b, s:I, s:I}", "changed", 1, "sessions_ended", (json_int_t)nsessions,
                          "tokens_revoked", (json_int_t)ntokens));
}

/* ---------------------------------------------------------------- tokens */

static int append_token(void *ctx, const co_token *t) {
  json_array_append_new(ctx,
                        json_pack("{s:s, s:s, s:I, s:o, s:o}", "id", t->id, "name", t->name, "created_ms",
                                  (json_int_t)t->created_ms, "expires_ms",
                                  t->expires_ms ? json_integer(t->expires_ms) : json_null(), "last_used_ms",
                                  t->last_used_ms ? json_integer(t->last_used_ms) : json_null()));
  return 0;
}

void api_tokens_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->token_list(r->p->store, r->user.id, append_token, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "tokens", a));
}

/* POST /v1/tokens {"name", "ttl_days"} -> the secret, once. ttl_days defaults to the
 * token_ttl_days setting; 0 asks for a token that never expires. */
void api_tokens_create(co_req *r) {
  const char *name = NULL;
  int64_t days = 0;
  if (api_str(r, "name", 1, &name) || api_int(r, "ttl_days", r->p->cfg.token_ttl_days, 0, 3650, &days))
    return;
  if (api_check_name(r, "name", &name))
    return;
  co_token t;
  char secret[80];
  cohort_status st =
      co_token_issue(r->p->store, r->user.id, name, days * 86400000, &t, secret, sizeof secret);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "name");
    return;
  }
  json_t *a = json_array();
  append_token(a, &t);
  json_t *body = json_incref(json_array_get(a, 0));
  json_decref(a);
  json_object_set_new(body, "token", json_string(secret));
  sodium_memzero(secret, sizeof secret);
  co_reply_json(r, 201, body);
}

void api_tokens_delete(co_req *r) {
  cohort_status st = r->p->store->ops->token_delete(r->p->store, r->user.id, r->params[0]);
  co_platform_auth_changed(r->p);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->params[0]));
}

/* ---------------------------------------------------------------- users (administrators) */

static int append_user(void *ctx, const co_user *u) {
  json_array_append_new(ctx, json_pack("{s:s, s:s, s:b, s:I}", "id", u->id, "name", u->name, "admin",
                                       u->is_admin, "created_ms", (json_int_t)u->created_ms));
  return 0;
}

void api_users_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->user_list(r->p->store, append_user, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "users", a));
}

/* POST /v1/users {"name","password","admin"} */
void api_users_create(co_req *r) {
  const char *name = NULL, *pw = NULL;
  int admin = 0;
  if (api_str(r, "name", 1, &name) || api_str(r, "password", 1, &pw) || api_bool(r, "admin", 0, &admin))
    return;
  if (api_check_name(r, "name", &name))
    return;
  co_user u = {0};
  /* "ADMIN" beside "admin" would be a look-alike: names are unique with ASCII case ignored. The
   * store's own unique index still catches a race between two exact duplicates. */
  if (r->p->store->ops->user_by_name(r->p->store, name, &u) == COHORT_OK) {
    co_reply_error(r, 409, "conflict", "name", "name: user '%s' exists already (user names ignore case)",
                   u.name);
    return;
  }
  memset(&u, 0, sizeof u);
  co_id_new("usr", u.id, sizeof u.id);
  co_strlcpy(u.name, name, sizeof u.name);
  u.is_admin = admin;
  u.created_ms = co_now_ms();
  cohort_status st = co_password_check(pw);
  if (st == COHORT_OK)
    st = co_password_hash(pw, u.pwhash);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "password");
    return;
  }
  if ((st = r->p->store->ops->user_create(r->p->store, &u)) != COHORT_OK) {
    co_reply_status(r, st, "name");
    return;
  }
  json_t *a = json_array();
  append_user(a, &u);
  json_t *body = json_incref(json_array_get(a, 0));
  json_decref(a);
  co_reply_json(r, 201, body);
}

/* ---------------------------------------------------------------- workspaces */

void api_workspaces_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->member_list_user(r->p->store, r->user.id, append_member, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "workspaces", a));
}

/* POST /v1/workspaces {"name"}: the creator becomes its owner. */
void api_workspaces_create(co_req *r) {
  const char *name = NULL;
  if (api_str(r, "name", 1, &name) || api_check_name(r, "name", &name))
    return;
  co_workspace w = {0};
  co_id_new("ws", w.id, sizeof w.id);
  co_strlcpy(w.name, name, sizeof w.name);
  w.created_ms = co_now_ms();
  co_store *s = r->p->store;
  cohort_status st = s->ops->workspace_create(s, &w);
  if (st == COHORT_OK)
    st = s->ops->member_set(s, w.id, r->user.id, CO_ROLE_OWNER);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "name");
    return;
  }
  co_reply_json(r, 201,
                json_pack("{s:s, s:s, s:s, s:I}", "id", w.id, "name", w.name, "role", "owner", "created_ms",
                          (json_int_t)w.created_ms));
}

void api_workspace_get(co_req *r) {
  co_workspace w;
  json_t *members = json_array();
  cohort_status st = r->p->store->ops->workspace_get(r->p->store, r->workspace_id, &w);
  if (st == COHORT_OK)
    st = r->p->store->ops->member_list_workspace(r->p->store, w.id, append_member, members);
  if (st != COHORT_OK) {
    json_decref(members);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200,
                json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", w.id, "name", w.name, "role",
                          co_role_name(r->role), "created_ms", (json_int_t)w.created_ms, "members", members));
}

static int count_any(void *ctx, const void *rec) {
  (void)rec;
  ++*(int *)ctx;
  return 0;
}
static int count_dataset(void *ctx, const co_dataset *d) {
  return count_any(ctx, d);
}
static int count_trainee(void *ctx, const co_trainee *t) {
  return count_any(ctx, t);
}
static int count_report(void *ctx, const co_report *rep) {
  return count_any(ctx, rep);
}

static int count_job(void *ctx, const co_job *j) {
  return count_any(ctx, j);
}

/* Only an empty workspace goes: its datasets, trainees and reports are deleted one by one first
 * (each delete has its own rules: docs/server.md, Deleting), so nothing is left without an owner,
 * and no job of it may still be queued or running (an evaluation reads datasets, not a trainee,
 * and would outlive them). */
void api_workspace_delete(co_req *r) {
  co_store *s = r->p->store;
  int datasets = 0, trainees = 0, reports = 0, jobs = 0;
  s->ops->dataset_list(s, r->workspace_id, count_dataset, &datasets);
  s->ops->trainee_list(s, r->workspace_id, count_trainee, &trainees);
  s->ops->report_list(s, r->workspace_id, NULL, count_report, &reports);
  for (int state = CO_JOB_QUEUED; state <= CO_JOB_RUNNING; state++) {
    co_job_filter f = {r->workspace_id, NULL, state, 0};
    s->ops->job_list(s, &f, count_job, &jobs);
  }
  if (datasets || trainees || reports) {
    co_reply_error(r, 409, "conflict", NULL,
                   "workspace '%s' is not empty: delete its %d datasets, %d trainees and %d reports first",
                   r->workspace_id, datasets, trainees, reports);
    return;
  }
  if (jobs) {
    co_reply_error(r, 409, "in_use", NULL,
                   "workspace '%s' has %d jobs queued or running: cancel them or wait for them to finish",
                   r->workspace_id, jobs);
    return;
  }
  cohort_status st = s->ops->workspace_delete(s, r->workspace_id);
  co_platform_auth_changed(r->p);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->workspace_id));
}

/* The workspaces a user belongs to, as ids (at most SHARE_MAX: enough for a person). */
enum { SHARE_MAX = 1024 };
typedef struct ws_ids {
  size_t n;
  char (*id)[CO_ID_MAX];
} ws_ids;

static int collect_ws(void *ctx, const co_member *m) {
  ws_ids *w = ctx;
  if (w->n < SHARE_MAX)
    co_strlcpy(w->id[w->n++], m->workspace_id, CO_ID_MAX);
  return 0;
}

/* Whether users a and b are members of one workspace. */
static int share_workspace(co_store *s, const char *a, const char *b) {
  ws_ids wa = {0, co_calloc(SHARE_MAX, CO_ID_MAX)}, wb = {0, co_calloc(SHARE_MAX, CO_ID_MAX)};
  int found = 0;
  if (wa.id && wb.id && s->ops->member_list_user(s, a, collect_ws, &wa) == COHORT_OK &&
      s->ops->member_list_user(s, b, collect_ws, &wb) == COHORT_OK)
    for (size_t i = 0; i < wa.n && !found; i++)
      for (size_t j = 0; j < wb.n && !found; j++)
        found = strcmp(wa.id[i], wb.id[j]) == 0;
  co_free(wa.id);
  co_free(wb.id);
  return found;
}

/* The user a member change names: by id (usr_...) or by name. An administrator may name anyone. Others
 * must not learn who has an account, so they reach a user by id (which only its owner can hand
 * out: consent to be added) or by the name of someone they already share a workspace with; every
 * other name gets the same 404 whether or not it exists. */
static cohort_status member_target(co_req *r, const char *who, co_user *u) {
  co_store *s = r->p->store;
  cohort_status st = strncmp(who, "usr_", 4) == 0 ? s->ops->user_get(s, who, u) : COHORT_ENOTFOUND;
  if (st == COHORT_ENOTFOUND)
    st = s->ops->user_by_name(s, who, u);
  else
    return st; /* found by id, or the store failed */
  if (r->user.is_admin)
    return st;
  if (st == COHORT_ENOTFOUND) { /* the same look-ups as for a stranger: no timing tells them apart */
    share_workspace(s, r->user.id, "");
    return st;
  }
  return st != COHORT_OK || share_workspace(s, r->user.id, u->id) ? st : COHORT_ENOTFOUND;
}

/* PUT /v1/workspaces/{id}/members/{user id or name} {"role": "viewer"|"editor"|"owner"|"none"} */
void api_member_set(co_req *r) {
  const char *role_name = NULL;
  co_user u;
  if (api_str(r, "role", 1, &role_name))
    return;
  co_role role = co_role_parse(role_name);
  if (role == CO_ROLE_NONE && strcmp(role_name, "none") != 0) {
    co_reply_error(r, 400, "invalid", "role", "role: must be viewer, editor, owner or none");
    return;
  }
  cohort_status st = member_target(r, r->params[1], &u);
  if (st == COHORT_ENOTFOUND) {
    if (r->user.is_admin)
      co_reply_error(r, 404, "not_found", NULL, "user '%s' not found", r->params[1]);
    else
      co_reply_error(
          r, 404, "not_found", NULL,
          "user '%s' not found among the people you share a workspace with: add a new colleague by "
          "their user id (they see it with cohort whoami or GET /v1/me), or ask an administrator",
          r->params[1]);
    return;
  }
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  /* A workspace keeps at least one owner. */
  co_member cur;
  int owners = 0;
  if (role != CO_ROLE_OWNER &&
      r->p->store->ops->member_get(r->p->store, r->workspace_id, u.id, &cur) == COHORT_OK &&
      cur.role == CO_ROLE_OWNER) {
    r->p->store->ops->member_list_workspace(r->p->store, r->workspace_id, count_owners, &owners);
    if (owners <= 1) {
      co_reply_error(r, 409, "conflict", "role",
                     "'%s' is the workspace's last owner: make someone else owner first", u.name);
      return;
    }
  }
  st = r->p->store->ops->member_set(r->p->store, r->workspace_id, u.id, role);
  co_platform_auth_changed(r->p);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(
      r, 200,
      json_pack("{s:s, s:s, s:s}", "workspace", r->workspace_id, "user", u.name, "role", co_role_name(role)));
}
