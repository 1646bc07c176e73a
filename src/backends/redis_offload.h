/* redis_offload.h: message bodies too large for a NATS message, parked in Redis under a random
 * key with a TTL while the NATS message carries only the key (the claim-check pattern). Redis is
 * reached lazily: opening never connects, so a bus opens while Redis is down and only large
 * bodies fail (EUNAVAIL) until it is back. Thread-safe: a small pool of connections. */
#ifndef COHORT_REDIS_OFFLOAD_H
#define COHORT_REDIS_OFFLOAD_H

#include "cohort/cohort.h"

#include <stddef.h>

typedef struct co_offload co_offload;

/* Keys look like "cohort:bus:" + 32 hex characters. */
#define CO_OFFLOAD_KEY_MAX 48

/* url: redis://[:PASSWORD@]HOST[:PORT][/DB]. timeout_ms bounds connecting and each command. */
cohort_status co_offload_open(const char *url, int timeout_ms, int ttl_s, co_offload **out);
void co_offload_close(co_offload *o);
/* Stores len bytes under a new random key (SET ... PX ttl), written to key. */
cohort_status co_offload_put(co_offload *o, const void *data, size_t len, char key[CO_OFFLOAD_KEY_MAX]);
/* Reads key's body into *data (co_malloc'd, NUL-terminated, caller frees); take also deletes it
 * in the same command (GETDEL: one reader). ENOTFOUND when it expired or was taken. */
cohort_status co_offload_get(co_offload *o, const char *key, int take, char **data, size_t *len);
/* Best effort: drops a body nobody will read (e.g. a request that found no server). A failure
 * sets the thread's error message: call it before reporting the caller's own error. */
void co_offload_del(co_offload *o, const char *key);
/* PING: OK when Redis answers, EUNAVAIL naming it otherwise. */
cohort_status co_offload_ping(co_offload *o);

#endif
