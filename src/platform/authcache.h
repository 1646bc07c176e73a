/* authcache.h: what a request's authentication and authorization read from the store (a token or
 * session and its user, a membership, a workspace's existence, a trainee's record), kept for a
 * short time so that a request on PostgreSQL makes no round trip for them.
 *
 * Rules:
 *  - only successful lookups are kept; a miss, a refusal or a store failure goes to the store
 *    again on the next request, and so does a kept role too low for the request: the cache may
 *    delay a revocation, never a grant;
 *  - an entry lives ttl_ms from the moment its store read began, then is read again: a change made
 *    by another process (revocation, password change, membership removal, trainee deletion or a
 *    new version) takes effect here within ttl_ms;
 *  - a change made by this process calls co_authcache_flush or co_authcache_drop_trainee after
 *    the store write and before the reply, so it takes effect on this process's next request; an
 *    insert whose store read began before a flush is refused (a generation count), so a read that
 *    raced with the change cannot put the old state back;
 *  - token and session expiry is checked on every request, hit or miss;
 *  - at most max_entries entries; when full, the oldest insert makes room (FIFO);
 *  - safe from many threads (one mutex; a hit copies one entry out).
 * Every lookup takes a NULL cache, which means straight to the store. */
#ifndef COHORT_AUTHCACHE_H
#define COHORT_AUTHCACHE_H

#include "store.h"

typedef struct co_authcache co_authcache;

/* ttl_ms > 0, max_entries >= 1. */
cohort_status co_authcache_create(int64_t ttl_ms, size_t max_entries, co_authcache **out);
void co_authcache_destroy(co_authcache *c); /* NULL is fine */

/* After a change to users, passwords, tokens, sessions, memberships or workspaces: drops all. */
void co_authcache_flush(co_authcache *c);
/* After a trainee's deletion or a new committed version: drops its record. */
void co_authcache_drop_trainee(co_authcache *c, const char *trainee_id);

/* Counters for /metrics and tests: lookups answered from the cache, and those that went to the store. */
void co_authcache_stats(co_authcache *c, int64_t *hits, int64_t *misses);

/* co_token_resolve through the cache. */
cohort_status co_authcache_token(co_authcache *c, co_store *s, const char *secret, co_user *user);
/* co_session_resolve through the cache. */
cohort_status co_authcache_session(co_authcache *c, co_store *s, const char *cookie, co_session *se,
                                   co_user *user);
/* The role of user_id in workspace_id: ENOTFOUND when not a member. A kept role below min is
 * read again from the store, so a grant made on another replica counts at once (only a
 * revocation may take ttl_ms). */
cohort_status co_authcache_member(co_authcache *c, co_store *s, const char *workspace_id, const char *user_id,
                                  co_role min, co_role *role);
/* Whether workspace_id exists: OK or ENOTFOUND. */
cohort_status co_authcache_workspace(co_authcache *c, co_store *s, const char *workspace_id);
/* The trainee's record without info_json (always NULL here): id, workspace, name, dataset,
 * version and blob, which is what a question to the trainee needs. The caller clears *out. */
cohort_status co_authcache_trainee(co_authcache *c, co_store *s, const char *id, co_trainee *out);

#endif
