/* api_auth.c: sign-in, the caller, API tokens, users (admin) and workspaces with members. */
#include "api.h"
#include "auth.h"
#include "co_base.h"
#include "util.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

static int append_member(void *ctx, const co_member *m) {
  json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s}", "workspace", m->workspace_id, "workspace_name",
                                       m->workspace_name, "user", m->user_id, "user_name", m->user_name, "role",
                                       co_role_name(m->role)));
  return 0;
}

static int count_owners(void *ctx, const co_member *m) {
  *(int *)ctx += m->role == CO_ROLE_OWNER;
  return 0;
}

static json_t *user_json(co_req *r, const co_user *u) {
  json_t *ws = json_array();
  r->p->store->ops->member_list_user(r->p->store, u->id, append_member, ws);
  return json_pack("{s:s, s:s, s:b, s:I, s:o}", "id", u->id, "name", u->name, "admin", u->is_admin, "created_ms",
                   (json_int_t)u->created_ms, "workspaces", ws);
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy[CO_HASH_MAX];
static void make_dummy(void) {
  char pw[33];
  co_random_hex(pw, sizeof pw, 16);
  if (co_password_hash(pw, dummy) != COHORT_OK)
    dummy[0] = '\0';
}

/* POST /v1/auth/login {"username","password"} -> session cookie + CSRF token. */
void api_login(co_req *r) {
  co_store *s = r->p->store;
  const char *name = NULL, *password = NULL;
  if (api_str(r, "username", 1, &name) || api_str(r, "password", 1, &password))
    return;
  co_user u;
  cohort_status st = s->ops->user_by_name(s, name, &u);
  /* Verify even for unknown users so timing does not tell which names exist. */
  pthread_once(&dummy_once, make_dummy);
  int ok = co_password_verify(st == COHORT_OK ? u.pwhash : dummy, password);
  if (st != COHORT_OK && st != COHORT_ENOTFOUND) {
    co_reply_status(r, st, NULL);
    return;
  }
  if (st != COHORT_OK || !ok) {
    co_reply_error(r, 401, "unauthenticated", "password", "wrong user name or password");
    return;
  }
  co_session se;
  char cookie[80], header[256];
  if ((st = co_session_issue(s, u.id, (int64_t)r->p->cfg.session_hours * 3600000, &se, cookie, sizeof cookie)) !=
      COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  snprintf(header, sizeof header, "cohort_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", cookie,
           r->p->cfg.session_hours * 3600, r->p->cfg.secure_cookies ? "; Secure" : "");
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

/* PUT /v1/me/password {"current","password"} */
void api_change_password(co_req *r) {
  const char *cur = NULL, *pw = NULL;
  char hash[CO_HASH_MAX];
  if (api_str(r, "current", 1, &cur) || api_str(r, "password", 1, &pw))
    return;
  if (!co_password_verify(r->user.pwhash, cur)) {
    co_reply_error(r, 403, "forbidden", "current", "current password is wrong");
    return;
  }
  cohort_status st = co_password_check(pw);
  if (st == COHORT_OK)
    st = co_password_hash(pw, hash);
  if (st == COHORT_OK)
    st = r->p->store->ops->user_set_password(r->p->store, r->user.id, hash);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "password");
    return;
  }
  co_reply_json(r, 200, json_pack("{s:b}", "changed", 1));
}

/* ---------------------------------------------------------------- tokens */

static int append_token(void *ctx, const co_token *t) {
  json_array_append_new(ctx, json_pack("{s:s, s:s, s:I, s:o, s:o}", "id", t->id, "name", t->name, "created_ms",
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

/* POST /v1/tokens {"name", "ttl_days"} -> the secret, once. */
void api_tokens_create(co_req *r) {
  const char *name = NULL;
  int64_t days = 0;
  if (api_str(r, "name", 1, &name) || api_int(r, "ttl_days", 0, 0, 3650, &days))
    return;
  if (api_check_name(r, "name", name))
    return;
  co_token t;
  char secret[80];
  cohort_status st = co_token_issue(r->p->store, r->user.id, name, days * 86400000, &t, secret, sizeof secret);
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
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->params[0]));
}

/* ---------------------------------------------------------------- users (administrators) */

static int append_user(void *ctx, const co_user *u) {
  json_array_append_new(ctx, json_pack("{s:s, s:s, s:b, s:I}", "id", u->id, "name", u->name, "admin", u->is_admin,
                                       "created_ms", (json_int_t)u->created_ms));
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
  if (api_check_name(r, "name", name))
    return;
  co_user u = {0};
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
  if (api_str(r, "name", 1, &name) || api_check_name(r, "name", name))
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
  co_reply_json(r, 201, json_pack("{s:s, s:s, s:s, s:I}", "id", w.id, "name", w.name, "role", "owner", "created_ms",
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
  co_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", w.id, "name", w.name, "role",
                                  co_role_name(r->role), "created_ms", (json_int_t)w.created_ms, "members", members));
}

static int count_any(void *ctx, const void *rec) {
  (void)rec;
  ++*(int *)ctx;
  return 0;
}
static int count_dataset(void *ctx, const co_dataset *d) { return count_any(ctx, d); }
static int count_trainee(void *ctx, const co_trainee *t) { return count_any(ctx, t); }
static int count_report(void *ctx, const co_report *rep) { return count_any(ctx, rep); }

/* Only an empty workspace goes: its datasets, trainees and reports are deleted one by one first,
 * so nothing is left without an owner. */
void api_workspace_delete(co_req *r) {
  co_store *s = r->p->store;
  int datasets = 0, trainees = 0, reports = 0;
  s->ops->dataset_list(s, r->workspace_id, count_dataset, &datasets);
  s->ops->trainee_list(s, r->workspace_id, count_trainee, &trainees);
  s->ops->report_list(s, r->workspace_id, NULL, count_report, &reports);
  if (datasets || trainees || reports) {
    co_reply_error(r, 409, "conflict", NULL,
                   "workspace '%s' is not empty: delete its %d datasets, %d trainees and %d reports first",
                   r->workspace_id, datasets, trainees, reports);
    return;
  }
  cohort_status st = s->ops->workspace_delete(s, r->workspace_id);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->workspace_id));
}

/* PUT /v1/workspaces/{id}/members/{user name} {"role": "viewer"|"editor"|"owner"|"none"} */
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
  cohort_status st = r->p->store->ops->user_by_name(r->p->store, r->params[1], &u);
  if (st == COHORT_ENOTFOUND) {
    co_reply_error(r, 404, "not_found", NULL, "user '%s' not found", r->params[1]);
    return;
  }
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  /* A workspace keeps at least one owner. */
  co_member cur;
  int owners = 0;
  if (role != CO_ROLE_OWNER && r->p->store->ops->member_get(r->p->store, r->workspace_id, u.id, &cur) == COHORT_OK &&
      cur.role == CO_ROLE_OWNER) {
    r->p->store->ops->member_list_workspace(r->p->store, r->workspace_id, count_owners, &owners);
    if (owners <= 1) {
      co_reply_error(r, 409, "conflict", "role", "'%s' is the workspace's last owner: make someone else owner first",
                     u.name);
      return;
    }
  }
  if ((st = r->p->store->ops->member_set(r->p->store, r->workspace_id, u.id, role)) != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s, s:s, s:s}", "workspace", r->workspace_id, "user", u.name, "role",
                                  co_role_name(role)));
}
