#include "auth.h"
#include "co_base.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

cohort_status co_password_check(const char *password) {
  size_t n = password ? strlen(password) : 0;
  if (n < 8)
    return co_error(COHORT_EINVAL, "password: must be at least 8 characters");
  if (n > 256)
    return co_error(COHORT_EINVAL, "password: must be at most 256 characters");
  return COHORT_OK;
}

cohort_status co_password_hash(const char *password, char out[CO_HASH_MAX]) {
  if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return co_error(COHORT_ENOMEM, "password hashing ran out of memory");
  return COHORT_OK;
}

int co_password_verify(const char *pwhash, const char *password) {
  if (!pwhash[0])
    return 0;
  return crypto_pwhash_str_verify(pwhash, password, strlen(password)) == 0;
}

int co_secret_equal(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na != nb)
    return 0;
  return sodium_memcmp(a, b, na) == 0;
}

cohort_status co_token_issue(co_store *s, const char *user_id, const char *name, int64_t ttl_ms,
                             co_token *out, char *secret, size_t cap) {
  char hex[49];
  memset(out, 0, sizeof *out);
  if (cap < 64)
    return co_error(COHORT_EINVAL, "token buffer too small");
  co_random_hex(hex, sizeof hex, 24);
  snprintf(secret, cap, "cohort_%s", hex);
  sodium_memzero(hex, sizeof hex);
  co_id_new("tok", out->id, sizeof out->id);
  co_strlcpy(out->user_id, user_id, sizeof out->user_id);
  co_strlcpy(out->name, name, sizeof out->name);
  co_secret_hash(secret, out->hash);
  out->created_ms = co_now_ms();
  out->expires_ms = ttl_ms > 0 ? out->created_ms + ttl_ms : 0;
  cohort_status st = s->ops->token_create(s, out);
  if (st != COHORT_OK)
    sodium_memzero(secret, cap);
  return st;
}

cohort_status co_token_resolve(co_store *s, const char *secret, co_user *user) {
  co_token tok;
  char hash[65];
  co_secret_hash(secret, hash);
  return co_token_lookup(s, hash, &tok, user);
}

cohort_status co_token_lookup(co_store *s, const char *hash, co_token *tok, co_user *user) {
  cohort_status st = s->ops->token_by_hash(s, hash, tok);
  if (st == COHORT_ENOTFOUND)
    return co_error(COHORT_EINVAL, "unknown API token");
  if (st != COHORT_OK)
    return st;
  int64_t now = co_now_ms();
  if (tok->expires_ms && tok->expires_ms <= now)
    return co_error(COHORT_EINVAL, "API token '%s' expired", tok->name);
  if ((st = s->ops->user_get(s, tok->user_id, user)) != COHORT_OK)
    return st == COHORT_ENOTFOUND ? co_error(COHORT_EINVAL, "API token of a deleted user") : st;
  /* Last use is informational: a minute's precision saves a write per request. */
  if (now - tok->last_used_ms > CO_TOKEN_TOUCH_MS) {
    s->ops->token_touch(s, tok->id, now);
    tok->last_used_ms = now;
  }
  return COHORT_OK;
}

cohort_status co_session_issue(co_store *s, const char *user_id, int64_t ttl_ms, co_session *out,
                               char *cookie, size_t cap) {
  memset(out, 0, sizeof *out);
  if (cap < 65)
    return co_error(COHORT_EINVAL, "cookie buffer too small");
  co_random_hex(cookie, cap, 32);
  co_secret_hash(cookie, out->hash);
  co_strlcpy(out->user_id, user_id, sizeof out->user_id);
  co_random_hex(out->csrf, sizeof out->csrf, 24);
  out->created_ms = co_now_ms();
  out->expires_ms = out->created_ms + ttl_ms;
  return s->ops->session_create(s, out);
}

cohort_status co_session_resolve(co_store *s, const char *cookie, co_session *se, co_user *user) {
  char hash[65];
  co_secret_hash(cookie, hash);
  return co_session_lookup(s, hash, se, user);
}

cohort_status co_session_lookup(co_store *s, const char *hash, co_session *se, co_user *user) {
  cohort_status st = s->ops->session_get(s, hash, se);
  if (st == COHORT_ENOTFOUND)
    return co_error(COHORT_EINVAL, "session expired or signed out");
  if (st != COHORT_OK)
    return st;
  st = s->ops->user_get(s, se->user_id, user);
  return st == COHORT_ENOTFOUND ? co_error(COHORT_EINVAL, "session of a deleted user") : st;
}

/* ---------------------------------------------------------------- sign-in throttling */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_running, gate_waiting;

int co_pwgate_enter(int running, int waiting, int64_t wait_ms) {
  int entered = 0;
  pthread_mutex_lock(&gate_mu);
  if (gate_running < running) {
    gate_running++;
    entered = 1;
  } else if (gate_waiting < waiting && wait_ms > 0) {
    struct timespec until = co_deadline_after(CLOCK_REALTIME, wait_ms);
    gate_waiting++;
    int rc = 0;
    while (gate_running >= running && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &until);
    gate_waiting--;
    if (gate_running < running) {
      gate_running++;
      entered = 1;
    }
  }
  pthread_mutex_unlock(&gate_mu);
  return entered;
}

void co_pwgate_leave(void) {
  pthread_mutex_lock(&gate_mu);
  gate_running--;
  pthread_cond_signal(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
}
