/* backends.h: the backends this build links, for the binary to hand to co_platform_open, and
 * their open functions for tests that want one directly. */
#ifndef COHORT_BACKENDS_H
#define COHORT_BACKENDS_H

#include "platform.h"

extern const co_backends co_backends_builtin;

/* SQLite on path (a missing parent directory is an error), migrations applied in one
 * transaction; WAL journal, busy timeout, foreign keys on. */
cohort_status co_store_sqlite_open(const char *path, co_store **out);
/* check: the integrity check run before the store is used: "quick" (PRAGMA quick_check, the
 * default), "full" (integrity_check) or "off". A damaged database is ECORRUPT with a message that
 * says what to do. */
cohort_status co_store_sqlite_open_check(const char *path, const char *check, co_store **out);

/* PostgreSQL tuning; 0 in a field takes its default. */
typedef struct co_store_pg_options {
  int pool_size;  /* connections open at most (default 8) */
  int timeout_ms; /* statement_timeout, connect and TCP timeouts, and the longest wait for a free
                     connection (default 10000) */
} co_store_pg_options;
/* PostgreSQL at url, a libpq connection URI (postgres:// or postgresql://; PG* variables and
 * the password file apply as libpq has them); migrations applied once under an advisory lock.
 * Fails with EIO "store: PostgreSQL unavailable: ..." when the server cannot be reached, ESTATE
 * when its schema is newer than this build. */
cohort_status co_store_postgres_open(const char *url, const co_store_pg_options *opt, co_store **out);
/* The directory backend rooted at dir (created if missing); stale staging files from a previous
 * crash are removed on open. */
cohort_status co_blobs_fs_open(const char *dir, co_blobs **out);
cohort_status co_bus_local_open(co_bus **out);
/* mkdir -p with mode 0700: every missing directory of path. */
cohort_status co_mkdirs(const char *path);
/* NATS at url (nats://HOST:PORT[,nats://HOST:PORT...]): connects (EUNAVAIL if no server answers),
 * then creates or updates the work queue's stream and consumer unless bus_work_stream is empty;
 * bus_redis, if set, carries large bodies (not contacted until one comes). */
cohort_status co_bus_nats_open(const char *url, const co_config *cfg, co_bus **out);

#endif
