/* backends.h: the backends this build links, for the binary to hand to co_platform_open, and
 * their open functions for tests that want one directly. */
#ifndef COHORT_BACKENDS_H
#define COHORT_BACKENDS_H

#include "platform.h"

extern const co_backends co_backends_builtin;

/* SQLite on path (a missing parent directory is an error), migrations applied in one
 * transaction; WAL journal, busy timeout, foreign keys on. */
cohort_status co_store_sqlite_open(const char *path, co_store **out);
/* The directory backend rooted at dir (created if missing); stale staging files from a previous
 * crash are removed on open. */
cohort_status co_blobs_fs_open(const char *dir, co_blobs **out);
cohort_status co_bus_local_open(co_bus **out);
/* NATS at url (nats://HOST:PORT[,nats://HOST:PORT...]): connects (EUNAVAIL if no server answers),
 * then creates or updates the work queue's stream and consumer unless bus_work_stream is empty;
 * bus_redis, if set, carries large bodies (not contacted until one comes). */
cohort_status co_bus_nats_open(const char *url, const co_config *cfg, co_bus **out);

#endif
