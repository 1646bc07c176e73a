/* auth.h: passwords (Argon2id via libsodium), API tokens and sessions. Secrets are random,
 * shown once, stored only as hashes, compared in constant time, and wiped after use. */
#ifndef COHORT_AUTH_H
#define COHORT_AUTH_H

#include "store.h"

/* Argon2id with libsodium's interactive limits: ~50 ms and 64 MiB per hash on this class of machine. */
cohort_status co_password_hash(const char *password, char out[CO_HASH_MAX]);
int co_password_verify(const char *pwhash, const char *password); /* 1 = match */
/* Rejects passwords shorter than 8 or longer than 256 bytes. */
cohort_status co_password_check(const char *password);

/* A new API token for user_id: *secret (cap >= 64) receives "cohort_" + 48 hex characters, shown
 * once; the store keeps its hash. */
cohort_status co_token_issue(co_store *s, const char *user_id, const char *name, int64_t ttl_ms,
                             co_token *out, char *secret, size_t cap);
/* The user a token secret belongs to (EINVAL if unknown or expired). */
cohort_status co_token_resolve(co_store *s, const char *secret, co_user *user);
/* The same from the secret's hash (co_secret_hash), also returning the token's record. Marks the
 * token used when its last use is older than CO_TOKEN_TOUCH_MS (tok->last_used_ms then says now). */
cohort_status co_token_lookup(co_store *s, const char *hash, co_token *tok, co_user *user);
enum { CO_TOKEN_TOUCH_MS = 60000 };

/* A new browser session: *cookie (cap >= 65) receives its secret value. */
cohort_status co_session_issue(co_store *s, const char *user_id, int64_t ttl_ms, co_session *out,
                               char *cookie, size_t cap);
cohort_status co_session_resolve(co_store *s, const char *cookie, co_session *se, co_user *user);
/* The same from the cookie's hash (co_secret_hash). */
cohort_status co_session_lookup(co_store *s, const char *hash, co_session *se, co_user *user);

/* Constant-time comparison of two NUL-terminated strings. */
int co_secret_equal(const char *a, const char *b);

/* Sign-in throttling.
 *
 * The password gate bounds Argon2id work (64 MiB and ~50 ms each): at most `running` checks at
 * once and at most `waiting` more callers waiting up to wait_ms for a slot; 1 = entered (call
 * co_pwgate_leave), 0 = busy (answer 429 with Retry-After). Keeping running + waiting below the
 * HTTP thread count is what keeps /healthz answering during a storm of sign-ins. */
int co_pwgate_enter(int running, int waiting, int64_t wait_ms);
void co_pwgate_leave(void);

/* Failure backoff per account and per client lives in the store (login_fail, login_blocked,
 * login_clear in store.h), so every process on one store sees every failure. */

#endif
